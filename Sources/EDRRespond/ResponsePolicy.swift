import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// What the responder itself reads about a target from /proc before it acts: nothing here
/// comes from the detector's request.
public struct TargetFacts: Sendable, Equatable {
    public var startTicks: UInt64
    public var ppid: Int32
    /// Real and effective uid.
    public var uid: UInt32
    public var euid: UInt32
    /// PF_KTHREAD in /proc/PID/stat's flags.
    public var isKernelThread: Bool
    /// NSpid: the pid in each pid namespace, outermost first; the last one is 1 for the init
    /// of a container's pid namespace.
    public var namespacePIDs: [Int32]
    /// /proc/PID/exe when the responder may read it (same uid, or the link is readable).
    public var executable: String?

    public init(
        startTicks: UInt64, ppid: Int32, uid: UInt32, euid: UInt32, isKernelThread: Bool,
        namespacePIDs: [Int32], executable: String?
    ) {
        self.startTicks = startTicks
        self.ppid = ppid
        self.uid = uid
        self.euid = euid
        self.isKernelThread = isKernelThread
        self.namespacePIDs = namespacePIDs
        self.executable = executable
    }

    static let pfKthread: UInt64 = 0x0020_0000

    /// Reads /proc/PID/stat and /proc/PID/status (world-readable) and tries /proc/PID/exe.
    /// nil when the process is gone.
    public static func read(pid: Int32) -> TargetFacts? {
        guard let stat = try? readTextFile("/proc/\(pid)/stat"), let status = try? readTextFile("/proc/\(pid)/status"),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let rest = stat[stat.index(after: close)...].split(separator: " ")
        guard rest.count > 19, let start = UInt64(rest[19]), let ppid = Int32(rest[1]), let flags = UInt64(rest[6]) else { return nil }
        let st = ProcStatus(text: status)
        var nspids: [Int32] = []
        for line in status.split(separator: "\n") where line.hasPrefix("NSpid:") {
            nspids = line.dropFirst(6).split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { Int32($0) }
        }
        var buf = [CChar](repeating: 0, count: 4097)
        let n = readlink("/proc/\(pid)/exe", &buf, 4096)
        let exe: String? = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
        return TargetFacts(
            startTicks: start, ppid: ppid, uid: st.uids.first ?? .max, euid: st.uids.dropFirst().first ?? .max,
            isKernelThread: flags & pfKthread != 0, namespacePIDs: nspids, executable: exe)
    }
}

/// Whether a request may be acted on. The responder re-checks everything the detector
/// claims: a compromised detector can ask, but cannot make the responder kill what policy
/// protects, kill faster than the rate limit, or hit a recycled pid.
public struct ResponsePolicy: Sendable {
    public var enabled: Bool
    /// 0 informational … 4 critical.
    public var minLevel: UInt8
    /// Processes never killed: the supervisor, the agent's children, the responder.
    public var protectedPIDs: Set<Int32>
    /// The supervisor's pid: its children are the agent's own processes.
    public var supervisorPID: Int32
    /// Executables never killed: exact paths, or prefixes ending in "/".
    public var protectedExecutables: [String] = []
    /// Users whose processes are never killed (uids; real or effective).
    public var protectedUIDs: Set<UInt32> = []
    /// Report what would be killed, kill nothing.
    public var dryRun = false
    /// Kills allowed within any 60 s; the rest are refused and reported.
    public var maxKillsPerMinute = 100

    public init(enabled: Bool, minLevel: UInt8, protectedPIDs: Set<Int32>, supervisorPID: Int32) {
        self.enabled = enabled
        self.minLevel = minLevel
        self.protectedPIDs = protectedPIDs
        self.supervisorPID = supervisorPID
    }

    public enum Decision: Equatable, Sendable {
        case act
        /// Policy says no: the reason goes into the outcome event.
        case refuse(String)
        /// The pid no longer names the process that matched.
        case gone(String)
    }

    func isProtected(executable: String) -> Bool {
        protectedExecutables.contains { $0.hasSuffix("/") ? executable.hasPrefix($0) : executable == $0 }
    }

    /// `target` is what the responder read from /proc (nil: the process is gone);
    /// `recentKills` how many kills it made within the last 60 s.
    public func decide(_ r: ResponseRequest, target: TargetFacts?, recentKills: Int = 0) -> Decision {
        guard enabled else { return .refuse("response is disabled ([response] enabled = false)") }
        guard r.level >= minLevel else { return .refuse("level \(r.level) is below min_level \(minLevel)") }
        guard r.pid > 1 else { return .refuse("pid \(r.pid) is never killed") }
        guard !protectedPIDs.contains(r.pid) else { return .refuse("pid \(r.pid) is the agent's own process") }
        guard let t = target else { return .gone("process \(r.pid) is gone") }
        guard t.startTicks == r.startTicks else { return .gone("pid \(r.pid) was reused (start time differs)") }
        if t.ppid == supervisorPID { return .refuse("pid \(r.pid) is a child of the agent's supervisor") }
        if t.isKernelThread { return .refuse("pid \(r.pid) is a kernel thread") }
        if t.namespacePIDs.count > 1, t.namespacePIDs.last == 1 { return .refuse("pid \(r.pid) is the init of a pid namespace (a container)") }
        if protectedUIDs.contains(t.uid) || protectedUIDs.contains(t.euid) { return .refuse("pid \(r.pid) runs as protected uid \(t.uid)") }
        // The kernel's record of what was executed (carried by the request) and, where the
        // responder may read it, the process's own /proc/PID/exe.
        for exe in [t.executable, r.executable.isEmpty ? nil : r.executable].compactMap({ $0 }) where isProtected(executable: exe) {
            return .refuse("\(exe) is a protected executable")
        }
        if recentKills >= maxKillsPerMinute {
            return .refuse("rate limit: \(recentKills) kills in the last minute (max_kills_per_minute = \(maxKillsPerMinute))")
        }
        return .act
    }
}
