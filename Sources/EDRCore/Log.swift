#if canImport(Glibc)
import Glibc
#endif

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

    /// Set once at process start, before any thread is spawned.
    public static func setup(component: String, level: Level) {
        Self.component = component
        Self.minimum = level
    }

    public static func debug(_ message: @autoclosure () -> String) { write(.debug, message) }
    public static func info(_ message: @autoclosure () -> String) { write(.info, message) }
    public static func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    public static func error(_ message: @autoclosure () -> String) { write(.error, message) }

    private static func write(_ level: Level, _ message: () -> String) {
        guard level >= minimum else { return }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let line = "\(formatTimestamp(seconds: Int64(ts.tv_sec), nanos: Int(ts.tv_nsec), fractionDigits: 3)) \(component)[\(getpid())] \(level.label): \(message())\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// RFC 3339 UTC timestamp, e.g. 2026-11-29T01:02:03.456Z.
public func formatTimestamp(seconds: Int64, nanos: Int, fractionDigits: Int = 6) -> String {
    var t = time_t(seconds)
    var tm = tm()
    gmtime_r(&t, &tm)
    func pad(_ v: Int32, _ n: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, n - s.count)) + s
    }
    var frac = String(nanos)
    frac = String(repeating: "0", count: 9 - frac.count) + frac
    return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(frac.prefix(fractionDigits))Z"
}

public func formatTimestamp(epochSeconds: Double) -> String {
    let s = epochSeconds.rounded(.down)
    return formatTimestamp(seconds: Int64(s), nanos: Int((epochSeconds - s) * 1e9))
}

/// Seconds since the Unix epoch, now.
public func wallClockNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Nanoseconds since boot, the clock BPF programs stamp records with (bpf_ktime_get_boot_ns).
public func bootClockNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_BOOTTIME, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
