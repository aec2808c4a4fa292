import Logging

/// Operational log: one line per message on standard error, prefixed with the process name.
/// Alerts never go here; they have their own stream.
public enum Log {
    public enum Level: Int, Sendable, Comparable {
        case debug = 0, info, warning, error
        public init?(name: String) {
            switch name {
            case "debug": self = .debug
            case "info": self = .info
            case "warning": self = .warning
            case "error": self = .error
            default: return nil
            }
        }
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var label: String { ["debug", "info", "warning", "error"][rawValue] }
    }

    nonisolated(unsafe) private static var component = "edr"
    nonisolated(unsafe) private static var minimum = Level.info

    /// Descriptor paths shown as the paths they were opened from ("/proc/self/fd/6" →
    /// "/etc/edr/rules"): a child reads its rules through descriptors, a reader wants names.
    nonisolated(unsafe) public static var pathNames: [(descriptorPath: String, name: String)] = []

    /// `text` with descriptor paths replaced by the names they stand for.
    public static func displayPaths(_ text: String) -> String {
        var t = text
        for (d, n) in pathNames {
            var out = ""
            var rest = Substring(t)
            while let r = rest.range(of: d) {
                out += rest[..<r.lowerBound] + n
                rest = rest[r.upperBound...]
            }
            t = out + rest
        }
        return t
    }

    /// Standard error is the journal (systemd's JOURNAL_STREAM names its device and inode):
    /// lines carry a syslog priority prefix ("<3>" error … "<7>" debug) and no timestamp of
    /// their own (the journal stamps them).
    nonisolated(unsafe) public private(set) static var toJournal = false

    /// Set once at process start, before any thread is spawned. Installs the agent's line
    /// format as swift-log's handler (the first call only: swift-log allows one bootstrap per
    /// process), so every `Logger` in the process — ours and any library's — writes the same
    /// lines to standard error.
    public static func setup(component: String, level: Level) {
        Self.component = component
        Self.minimum = level
        Self.toJournal = stderrIsJournal()
        if !bootstrapped {
            bootstrapped = true
            LoggingSystem.bootstrap { label in AgentLogHandler(label: label) }
        }
        logger = Logger(label: component)
        logger.logLevel = level.swiftLog
    }

    nonisolated(unsafe) private static var bootstrapped = false
    nonisolated(unsafe) private static var logger: Logger = {
        var l = Logger(label: "edr") { label in AgentLogHandler(label: label) }
        l.logLevel = .info
        return l
    }()

    static func stderrIsJournal() -> Bool {
        guard let v = Platform.environment("JOURNAL_STREAM") else { return false }
        let parts = v.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        guard let stderr = Platform.standardErrorIdentity() else { return false }
        return stderr.device == dev && stderr.inode == ino
    }

    /// sd-daemon(3) priority of a level.
    static func priority(_ level: Level) -> Int { [7, 6, 4, 3][level.rawValue] }

    // The level is compared here first: a message below it is never built (autoclosure).
    public static func debug(_ message: @autoclosure () -> String) {
        if minimum <= .debug { logger.debug("\(message())") }
    }
    public static func info(_ message: @autoclosure () -> String) {
        if minimum <= .info { logger.info("\(message())") }
    }
    public static func warning(_ message: @autoclosure () -> String) {
        if minimum <= .warning { logger.warning("\(message())") }
    }
    public static func error(_ message: @autoclosure () -> String) {
        if minimum <= .error { logger.error("\(message())") }
    }

    /// One line as the agent writes it: "<timestamp> component[pid] level: text", or on the
    /// journal "<priority>component[pid] level: text" (the journal stamps it).
    static func line(_ level: Level, component: String, _ text: String) -> String {
        let text = pathNames.isEmpty ? text : displayPaths(text)
        if toJournal {
            return "<\(priority(level))>\(component)[\(Platform.processID)] \(level.label): \(text)\n"
        }
        let now = Platform.realtime()
        return "\(formatTimestamp(seconds: now.seconds, nanos: now.nanos, fractionDigits: 3)) \(component)[\(Platform.processID)] \(level.label): \(text)\n"
    }
}

extension Log.Level {
    var swiftLog: Logger.Level {
        switch self {
        case .debug: .debug
        case .info: .info
        case .warning: .warning
        case .error: .error
        }
    }

    init(_ level: Logger.Level) {
        switch level {
        case .trace, .debug: self = .debug
        case .info, .notice: self = .info
        case .warning: self = .warning
        case .error, .critical: self = .error
        }
    }
}

/// swift-log's handler for the agent: the line format above, written to standard error in one
/// call. Metadata, if a library attaches any, follows the text as key=value pairs.
public struct AgentLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var text = "\(event.message)"
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if !all.isEmpty {
            text += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        Platform.writeStandardError(Array(Log.line(Log.Level(event.level), component: label, text).utf8))
    }
}

/// RFC 3339 UTC timestamp, e.g. 2026-11-29T01:02:03.456Z. Built in bytes: it is on the hot path.
public func formatTimestamp(seconds: Int64, nanos: Int, fractionDigits: Int = 6) -> String {
    let digits = min(max(fractionDigits, 0), 9)
    return String(unsafeUninitializedCapacity: 21 + digits) { out in
        writeTimestamp(out.baseAddress!, seconds: seconds, nanos: nanos, fractionDigits: digits)
    }
}

/// Writes an RFC 3339 UTC timestamp's bytes at `out`: 21 + `fractionDigits` (0…9) of them,
/// the count returned.
func writeTimestamp(_ out: UnsafeMutablePointer<UInt8>, seconds: Int64, nanos: Int, fractionDigits digits: Int) -> Int {
    let tm = CivilTime(unixSeconds: seconds)
    var i = 0
    func put(_ v: Int, _ width: Int) {
        var v = v
        var k = width - 1
        while k >= 0 {
            out[i + k] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
            v /= 10
            k -= 1
        }
        i += width
    }
    func sep(_ c: Unicode.Scalar) { out[i] = UInt8(ascii: c); i += 1 }
    put(tm.year, 4); sep("-")
    put(tm.month, 2); sep("-")
    put(tm.day, 2); sep("T")
    put(tm.hour, 2); sep(":")
    put(tm.minute, 2); sep(":")
    put(tm.second, 2)
    if digits > 0 {
        sep(".")
        var frac = max(0, min(nanos, 999_999_999))
        for _ in 0..<(9 - digits) { frac /= 10 }
        put(frac, digits)
    }
    sep("Z")
    return i
}

/// UTC calendar fields of a Unix time (proleptic Gregorian; days-to-civil after H. Hinnant's
/// public-domain algorithm), without the C library's gmtime.
struct CivilTime {
    var year, month, day, hour, minute, second: Int

    init(unixSeconds: Int64) {
        let s = Int(unixSeconds)
        var days = s / 86_400
        var rest = s % 86_400
        if rest < 0 { rest += 86_400; days -= 1 }
        hour = rest / 3600
        minute = rest % 3600 / 60
        second = rest % 60
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }
}

public func formatTimestamp(epochSeconds: Double) -> String {
    let s = epochSeconds.rounded(.down)
    return formatTimestamp(seconds: Int64(s), nanos: Int((epochSeconds - s) * 1e9))
}

/// Seconds since the Unix epoch, now.
public func wallClockNow() -> Double {
    let now = Platform.realtime()
    return Double(now.seconds) + Double(now.nanos) / 1e9
}

/// Nanoseconds since boot, the clock BPF programs stamp records with (bpf_ktime_get_boot_ns).
public func bootClockNanos() -> UInt64 { Platform.bootClockNanos() }

public func monotonicNanos() -> UInt64 { Platform.monotonicNanos() }
