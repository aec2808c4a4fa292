import EDRCore

/// What the detector knows about one process.
public struct ProcessEntry: Sendable, Equatable {
    public var pid: Int32
    public var ppid: Int32
    public var startTicks: UInt64
    public var image: String
    public var args: [String]
    public var commandLine: String
    public var cwd: String
    public var uid: UInt32
    public var user: String
    public var loginuid: UInt32
    public var guid: String
    public var parentGuid: String?
    public var cgroupID: UInt64
    /// Monotonic time it exited, if it has.
    public var exitedAtNanos: UInt64?
}

/// pid → process, bounded. Exited processes stay a little while, because their children's
/// events can still arrive and name them as parent.
public struct ProcessCache: Sendable {
    public let capacity: Int
    public let exitedRetentionNanos: UInt64
    private var entries: [Int32: ProcessEntry] = [:]
    public private(set) var evictions: UInt64 = 0

    public init(capacity: Int = 65536, exitedRetentionNanos: UInt64 = 30_000_000_000) {
        self.capacity = capacity
        self.exitedRetentionNanos = exitedRetentionNanos
    }

    public var count: Int { entries.count }

    /// The process with this pid, if it is the one that started at `startTicks` (when given).
    public func lookup(pid: Int32, startTicks: UInt64? = nil) -> ProcessEntry? {
        guard let e = entries[pid] else { return nil }
        if let startTicks, e.startTicks != startTicks { return nil }
        return e
    }

    public mutating func upsert(_ e: ProcessEntry, now: UInt64) {
        if entries[e.pid] == nil && entries.count >= capacity { evict(now: now) }
        entries[e.pid] = e
    }

    public mutating func markExited(pid: Int32, startTicks: UInt64, now: UInt64) {
        if var e = entries[pid], e.startTicks == startTicks {
            e.exitedAtNanos = now
            entries[pid] = e
        }
    }

    /// Drops exited processes past retention; if still full, the oldest-started tenth.
    public mutating func evict(now: UInt64) {
        let before = entries.count
        entries = entries.filter { _, e in
            guard let t = e.exitedAtNanos else { return true }
            return now &- t < exitedRetentionNanos
        }
        if entries.count >= capacity {
            let victims = entries.values.sorted { $0.startTicks < $1.startTicks }.prefix(max(1, capacity / 10))
            for v in victims { entries[v.pid] = nil }
        }
        evictions += UInt64(before - entries.count)
    }
}

/// uid → user name from /etc/passwd (world-readable), re-read at most every 30 s on a miss.
public struct UserNames: Sendable {
    private var names: [UInt32: String] = [:]
    private var loadedAt: UInt64 = 0
    private let path: String

    public init(path: String = "/etc/passwd") {
        self.path = path
        reload()
    }

    public mutating func name(_ uid: UInt32) -> String {
        if let n = names[uid] { return n }
        if monotonicNanos() &- loadedAt > 30_000_000_000 {
            reload()
            if let n = names[uid] { return n }
        }
        return String(uid)
    }

    private mutating func reload() {
        loadedAt = monotonicNanos()
        guard let text = try? readTextFile(path) else { return }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count >= 3, let uid = UInt32(f[2]), names[uid] == nil { names[uid] = String(f[0]) }
        }
    }
}

/// Sysmon-style ProcessGuid: host id, start time and pid, stable for the life of the process
/// and the same whether the process was seen at exec or in the start-up /proc snapshot.
public struct ProcessGuidFactory: Sendable {
    let host: String

    public init(machineID: String) {
        let hex = machineID.filter { $0.isHexDigit }.lowercased()
        host = String((hex + "00000000").prefix(8))
    }

    public func guid(pid: Int32, startTicks: UInt64) -> String {
        // {hhhhhhhh-tttt-tttt-tttt-ttttpppppppp}: host, start ticks, pid; built in bytes (hot path).
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: UInt8(ascii: "-"), count: 38)
        out[0] = UInt8(ascii: "{")
        out[37] = UInt8(ascii: "}")
        var digits = [UInt8](repeating: 0, count: 32)
        let h = Array(host.utf8)
        for i in 0..<8 { digits[i] = h[i] }
        for i in 0..<16 { digits[8 + i] = hex[Int((startTicks >> UInt64(60 - 4 * i)) & 0xF)] }
        let p = UInt32(bitPattern: pid)
        for i in 0..<8 { digits[24 + i] = hex[Int((p >> UInt32(28 - 4 * i)) & 0xF)] }
        var d = 0
        for (start, count) in [(1, 8), (10, 4), (15, 4), (20, 4), (25, 12)] {
            for i in 0..<count { out[start + i] = digits[d]; d += 1 }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
