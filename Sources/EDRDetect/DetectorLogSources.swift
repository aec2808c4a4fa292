import EDRCore

/// The logsources this platform's sensor produces; rules for others load as inert.
public enum DetectorLogSources {
    public static let collected: [LogSource] = [
        LogSource(product: "linux", category: "process_creation"),
    ] + TelemetryNormalizer.logSources
}
