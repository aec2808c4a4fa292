import EDRCore
import EDRSigma
import EDRWindowsEvents

/// The logsources each platform's sensor produces; rules for others load as inert.
public enum DetectorLogSources {
    public enum Platform: String, Sendable, CaseIterable { case linux, windows }

    public static let linux: [LogSource] =
        [
            LogSource(product: "linux", category: "process_creation")
        ] + TelemetryNormalizer.logSources + [AuditdRecords.logSource] + HostLogServices.logSources

    /// What the events of each collected logsource can hold (rules that can never be true on
    /// them load as inert, with the reason).
    public static func fieldDomains(on platform: Platform) -> [SigmaFieldDomain] {
        platform == .linux ? [AuditdRecords.fieldDomain] : []
    }

    /// The engine options for rules run on `platform`'s events.
    public static func sigmaOptions(on platform: Platform = current) -> SigmaOptions {
        var o = SigmaOptions(collectedLogSources: collected(on: platform))
        o.fieldDomains = fieldDomains(on: platform)
        return o
    }

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
