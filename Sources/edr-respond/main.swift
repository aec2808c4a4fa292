// edr-respond: its own uid holding CAP_KILL and nothing else, NoNewPrivs, not dumpable, own
// network and IPC namespaces, Landlock (read-only /proc), seccomp allowlist that kills on
// anything else. It acts on the detector's requests only after re-checking them itself.
import EDRCore
import EDRRespond
#if canImport(Glibc)
import Glibc
#endif

/// Descriptor of /proc (O_PATH), opened by the supervisor: the only tree this process reads.
let procFD: Int32 = 4

Log.setup(component: "edr-respond", level: .info)
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
    let args = try ChildArguments(Array(CommandLine.arguments.dropFirst()))
    Log.setup(component: "edr-respond", level: Log.Level(name: args.values["log-level"] ?? "info") ?? .info)
    let supervisor = getppid()
    let protected = Set(args.strings("agent-pids").compactMap { Int32($0) } + [getpid(), supervisor, 1])
    var policy = ResponsePolicy(enabled: args.values["enabled"] == "true", minLevel: UInt8(try args.int("min-level")),
                                protectedPIDs: protected, supervisorPID: supervisor)
    policy.dryRun = args.values["dry-run"] == "true"
    policy.maxKillsPerMinute = try args.int("max-kills-per-minute")
    policy.protectedExecutables = args.strings("protected-executables")
    policy.protectedUIDs = Set(args.strings("protected-uids").compactMap { UInt32($0) })
    let responder = Responder(policy: policy)
    reportStatus("READY responder enabled=\(policy.enabled) min_level=\(policy.minLevel) dry_run=\(policy.dryRun) max_kills_per_minute=\(policy.maxKillsPerMinute) landlock_abi=\(ConfinementSummary.landlockABI)")
    try responder.run()
} catch {
    Log.error("\(error)")
    exit(1)
}
