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

    /// Set once at process start, before any thread is spawned.
    public static func setup(component: String, level: Level) {
        Self.component = component
        Self.minimum = level
        Self.toJournal = stderrIsJournal()
    }

    static func stderrIsJournal() -> Bool {
        guard let v = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: v).split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        return fstat(2, &st) == 0 && UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// sd-daemon(3) priority of a level.
    static func priority(_ level: Level) -> Int { [7, 6, 4, 3][level.rawValue] }

    public static func debug(_ message: @autoclosure () -> String) { write(.debug, message) }
    public static func info(_ message: @autoclosure () -> String) { write(.info, message) }
    public static func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    public static func error(_ message: @autoclosure () -> String) { write(.error, message) }

    private static func write(_ level: Level, _ message: () -> String) {
        guard level >= minimum else { return }
        let text = pathNames.isEmpty ? message() : displayPaths(message())
        let line: String
        if toJournal {
            line = "<\(priority(level))>\(component)[\(getpid())] \(level.label): \(text)\n"
        } else {
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            line = "\(formatTimestamp(seconds: Int64(ts.tv_sec), nanos: Int(ts.tv_nsec), fractionDigits: 3)) \(component)[\(getpid())] \(level.label): \(text)\n"
        }
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// RFC 3339 UTC timestamp, e.g. 2026-11-29T01:02:03.456Z. Built in bytes: it is on the hot path.
public func formatTimestamp(seconds: Int64, nanos: Int, fractionDigits: Int = 6) -> String {
    var t = time_t(seconds)
    var tm = tm()
    gmtime_r(&t, &tm)
    let digits = min(max(fractionDigits, 0), 9)
    return String(unsafeUninitializedCapacity: 21 + digits) { out in
        var i = 0
        func put(_ v: Int, _ width: Int) {
            var v = v
            var k = width - 1
            while k >= 0 {
                out[i + k] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                k -= 1
            }
            i += width
        }
        func sep(_ c: Unicode.Scalar) { out[i] = UInt8(ascii: c); i += 1 }
        put(Int(tm.tm_year) + 1900, 4); sep("-")
        put(Int(tm.tm_mon) + 1, 2); sep("-")
        put(Int(tm.tm_mday), 2); sep("T")
        put(Int(tm.tm_hour), 2); sep(":")
        put(Int(tm.tm_min), 2); sep(":")
        put(Int(tm.tm_sec), 2)
        if digits > 0 {
            sep(".")
            var frac = max(0, min(nanos, 999_999_999))
            for _ in 0..<(9 - digits) { frac /= 10 }
            put(frac, digits)
        }
        sep("Z")
        return i
    }
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
