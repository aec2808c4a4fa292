// edr-respond: its own uid holding CAP_KILL and nothing else, NoNewPrivs, not dumpable, own
// network and IPC namespaces, Landlock (read-only /proc), seccomp allowlist that kills on
// anything else. It acts on the detector's requests only after re-checking them itself.
import EDRCore
import EDRConfinement
import EDRSystem
import EDRRespond
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// Descriptor of /proc (O_PATH), opened by the supervisor: the only tree this process reads.
/// Under edr-respond.service it opens /proc itself and connects to the detector's socket
/// (`edr-respond --config FILE`) before it confines itself.
var procFD: Int32 = 4

Log.setup(component: "edr-respond", level: .info)
var unitArgs: ChildArguments?
var unitPeers: UnitPeers?
do {
    if let unit = try UnitStart.fromCommandLine() {
        let c = unit.config
        procFD = open("/proc", EDR_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard procFD >= 0 else { throw SystemError("open", detail: "/proc") }
        let protectedUIDs = try c.response.protectedUsers.map { try resolveUser($0).uid }
        // The agent's own executables are never targets (their pids change with each restart).
        let own = ["edr", "edr-sensor", "edr-detect", "edr-respond", "edr-logs"].map { unit.binDirectory + "/" + $0 }
        unitArgs = try ChildArguments(ChildCommandLine.responder(c, protectedUIDs: protectedUIDs, agentPIDs: [], protectedExecutables: own))
        let detector = try UnixSocket.connect(path: c.supervisor.runtimeDir + "/detect.sock")
        unitPeers = try UnitPeers(initial: [.init(role: "detector", fd: detector)], listeners: [])
    }
} catch {
    reportStatus("FATAL \(error)")
    Log.error("\(error)")
    exit(64)
}

do {
    try SelfConfinement.makeUndumpable()
    let abi = try SelfConfinement.restrictFilesystem(readBeneath: [(procFD, true)], scopeSignals: false)
    let filter = try SeccompFilter.allowlist(role: .responder)
    try filter.loadForAllThreads()
    filter.release()
    close(procFD)
    ConfinementSummary.landlockABI = abi
} catch {
    reportStatus("FATAL cannot confine edr-respond: \(error)")
    Log.error("cannot confine edr-respond: \(error)")
    exit(70)
}

do {
    let args = try unitArgs ?? ChildArguments(Array(CommandLine.arguments.dropFirst()))
    Log.setup(component: "edr-respond", level: Log.Level(name: args.values["log-level"] ?? "info") ?? .info)
    let supervisor = getppid()
    var protected = Set(args.strings("agent-pids").compactMap { Int32($0) } + [getpid(), supervisor, 1])
    if let unitPeers, let peer = try? UnixSocket.peerCredentials(unitPeers.initialFD("detector")) { protected.insert(peer.pid) }
    var policy = ResponsePolicy(
        enabled: args.values["enabled"] == "true", minLevel: UInt8(try args.int("min-level")),
        protectedPIDs: protected, supervisorPID: supervisor)
    policy.dryRun = args.values["dry-run"] == "true"
    policy.maxKillsPerMinute = try args.int("max-kills-per-minute")
    policy.protectedExecutables = args.strings("protected-executables")
    policy.protectedUIDs = Set(args.strings("protected-uids").compactMap { UInt32($0) })
    let responder = Responder(policy: policy)
    if let unitPeers { responder.peers = unitPeers }
    reportStatus(
        "READY responder enabled=\(policy.enabled) min_level=\(policy.minLevel) dry_run=\(policy.dryRun) max_kills_per_minute=\(policy.maxKillsPerMinute) landlock_abi=\(ConfinementSummary.landlockABI)"
    )
    try responder.run()
} catch {
    Log.error("\(error)")
    exit(1)
}
