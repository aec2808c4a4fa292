import EDRCore
import EDRSystem

/// What the detector knows about one process. A class, so the cache, events in flight and
/// the scan worker share one copy: every exec and fork stores one, and copying a dozen
/// strings per record cost more than the rest of the record. Immutable except for the exit
/// time, which only the detector loop writes.
public final class ProcessEntry: @unchecked Sendable, Equatable, CustomStringConvertible {
    public let pid: Int32
    public let ppid: Int32
    public let startTicks: UInt64
    public let image: String
    /// argv, NUL-separated as the kernel holds it; split into `args` only when an alert needs it.
    private let argv: Argv
    public let commandLine: String
    public let cwd: String
    public let uid: UInt32
    public let user: String
    public let loginuid: UInt32
    public let guid: String
    public let parentGuid: String?
    public let cgroupID: UInt64
    /// Monotonic time it exited, if it has.
    public internal(set) var exitedAtNanos: UInt64?

    enum Argv: Equatable {
        case list([String])
        case nulSeparated([UInt8])
    }

    public convenience init(
        pid: Int32, ppid: Int32, startTicks: UInt64, image: String, args: [String], commandLine: String,
        cwd: String, uid: UInt32, user: String, loginuid: UInt32, guid: String, parentGuid: String?,
        cgroupID: UInt64, exitedAtNanos: UInt64?
    ) {
        self.init(
            pid: pid, ppid: ppid, startTicks: startTicks, image: image, argv: .list(args), commandLine: commandLine,
            cwd: cwd, uid: uid, user: user, loginuid: loginuid, guid: guid, parentGuid: parentGuid,
            cgroupID: cgroupID, exitedAtNanos: exitedAtNanos)
    }

    init(
        pid: Int32, ppid: Int32, startTicks: UInt64, image: String, argv: Argv, commandLine: String,
        cwd: String, uid: UInt32, user: String, loginuid: UInt32, guid: String, parentGuid: String?,
        cgroupID: UInt64, exitedAtNanos: UInt64?
    ) {
        self.pid = pid
        self.ppid = ppid
        self.startTicks = startTicks
        self.image = image
        self.argv = argv
        self.commandLine = commandLine
        self.cwd = cwd
        self.uid = uid
        self.user = user
        self.loginuid = loginuid
        self.guid = guid
        self.parentGuid = parentGuid
        self.cgroupID = cgroupID
        self.exitedAtNanos = exitedAtNanos
    }

    /// The same process seen by a fork: the child runs the parent's image until it execs.
    func forked(pid: Int32, ppid: Int32, startTicks: UInt64, uid: UInt32, user: String, loginuid: UInt32, guid: String) -> ProcessEntry {
        ProcessEntry(
            pid: pid, ppid: ppid, startTicks: startTicks, image: image, argv: argv, commandLine: commandLine,
            cwd: cwd, uid: uid, user: user, loginuid: loginuid, guid: guid, parentGuid: self.guid,
            cgroupID: cgroupID, exitedAtNanos: nil)
    }

    public var args: [String] {
        switch argv {
        case .list(let a): return a
        case .nulSeparated(let bytes):
            return KernelRecordDecoder.splitArgs(bytes[...])
        }
    }

    public static func == (a: ProcessEntry, b: ProcessEntry) -> Bool {
        a.pid == b.pid && a.ppid == b.ppid && a.startTicks == b.startTicks && a.image == b.image && a.args == b.args
            && a.commandLine == b.commandLine && a.cwd == b.cwd && a.uid == b.uid && a.user == b.user
            && a.loginuid == b.loginuid && a.guid == b.guid && a.parentGuid == b.parentGuid && a.cgroupID == b.cgroupID
            && a.exitedAtNanos == b.exitedAtNanos
    }

    public var description: String { "process \(pid) (\(image)) started \(startTicks)" }
}

/// pid → process, bounded. Exited processes stay a little while, because their children's
/// events can still arrive and name them as parent.
public struct ProcessCache: Sendable {
    public let capacity: Int
    public let exitedRetentionNanos: UInt64
    private var entries: [PIDKey: ProcessEntry] = [:]
    public private(set) var evictions: UInt64 = 0

    public init(capacity: Int = 65536, exitedRetentionNanos: UInt64 = 30_000_000_000) {
        self.capacity = capacity
        self.exitedRetentionNanos = exitedRetentionNanos
        entries.reserveCapacity(min(capacity, 8192))
    }

    public var count: Int { entries.count }

    /// The process with this pid, if it is the one that started at `startTicks` (when given).
    public func lookup(pid: Int32, startTicks: UInt64? = nil) -> ProcessEntry? {
        guard let e = entries[PIDKey(pid)] else { return nil }
        if let startTicks, e.startTicks != startTicks { return nil }
        return e
    }

    public mutating func upsert(_ e: ProcessEntry, now: UInt64) {
        if entries[PIDKey(e.pid)] == nil && entries.count >= capacity { evict(now: now) }
        entries[PIDKey(e.pid)] = e
    }

    public mutating func markExited(pid: Int32, startTicks: UInt64, now: UInt64) {
        if let e = entries[PIDKey(pid)], e.startTicks == startTicks {
            e.exitedAtNanos = now
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
            for v in victims { entries[PIDKey(v.pid)] = nil }
        }
        evictions += UInt64(before - entries.count)
    }
}

/// A pid as a dictionary key, hashed by one multiplication: the standard hash (SipHash, about
/// 80 instructions) was paid on each of the nine cache lookups an exec makes. The table's
/// per-process seed is mixed in, so where a pid lands still differs from run to run.
struct PIDKey: Hashable, Sendable {
    let pid: Int32
    init(_ pid: Int32) { self.pid = pid }

    func hash(into hasher: inout Hasher) { hasher.combine(pid) }

    func _rawHashValue(seed: Int) -> Int {
        var x = UInt64(UInt32(bitPattern: pid)) ^ UInt64(UInt(bitPattern: seed))
        x = x &* 0x9E37_79B9_7F4A_7C15
        return Int(bitPattern: UInt(truncatingIfNeeded: x ^ (x >> 31)))
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

    /// The last answer: a burst of records usually comes from one user.
    private var last: (uid: UInt32, name: String)?

    public mutating func name(_ uid: UInt32) -> String {
        if let last, last.uid == uid { return last.name }
        if let n = names[uid] { last = (uid, n); return n }
        if monotonicNanos() &- loadedAt > 30_000_000_000 {
            reload()
            if let n = names[uid] { return n }
        }
        return String(uid)
    }

    private mutating func reload() {
        loadedAt = monotonicNanos()
        guard let text = path == "/etc/passwd" ? SystemFiles.passwd() : try? readTextFile(path) else { return }
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
    let hostBytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    public init(machineID: String) {
        let hex = machineID.filter { $0.isHexDigit }.lowercased()
        host = String((hex + "00000000").prefix(8))
        let b = Array(host.utf8)
        hostBytes = (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7])
    }

    public func guid(pid: Int32, startTicks: UInt64) -> String {
        // {hhhhhhhh-tttt-tttt-tttt-ttttpppppppp}: host, start ticks, pid. One allocation, no
        // per-character calls: it runs for every exec and fork.
        let p = UInt64(UInt32(bitPattern: pid))
        let h = hostBytes
        return String(unsafeUninitializedCapacity: 38) { out in
            @inline(__always) func hex(_ v: UInt64) -> UInt8 { let d = UInt8(truncatingIfNeeded: v & 0xF); return d < 10 ? 48 + d : 87 + d }
            out[0] = 123  // {
            out[1] = h.0; out[2] = h.1; out[3] = h.2; out[4] = h.3; out[5] = h.4; out[6] = h.5; out[7] = h.6; out[8] = h.7
            out[9] = 45; out[14] = 45; out[19] = 45; out[24] = 45  // -
            for k in 0..<4 { out[10 + k] = hex(startTicks >> UInt64(60 - 4 * k)) }
            for k in 0..<4 { out[15 + k] = hex(startTicks >> UInt64(44 - 4 * k)) }
            for k in 0..<4 { out[20 + k] = hex(startTicks >> UInt64(28 - 4 * k)) }
            for k in 0..<4 { out[25 + k] = hex(startTicks >> UInt64(12 - 4 * k)) }
            for k in 0..<8 { out[29 + k] = hex(p >> UInt64(28 - 4 * k)) }
            out[37] = 125  // }
            return 38
        }
    }
}
