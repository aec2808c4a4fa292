import EDRCore
import EDRWindowsEvents

/// The logsources each platform's sensor produces; rules for others load as inert.
public enum DetectorLogSources {
    public enum Platform: String, Sendable, CaseIterable { case linux, windows }

    public static let linux: [LogSource] = [
        LogSource(product: "linux", category: "process_creation"),
    ] + TelemetryNormalizer.logSources + HostLogServices.logSources

    /// What the ETW decoder (EDRWindowsEvents) produces.
    public static let windows: [LogSource] = WindowsLogSources.etw

    public static func collected(on platform: Platform) -> [LogSource] {
        switch platform {
        case .linux: return linux
        case .windows: return windows
        }
    }

    /// The platform this build runs on.
    public static var current: Platform { EDRCore.Platform.isWindows ? .windows : .linux }

    public static var collected: [LogSource] { collected(on: current) }
}
