// edr-respond: a non-root uid holding CAP_KILL and nothing else, NoNewPrivs, seccomp.
// It acts on the detector's requests only after re-checking policy itself.
import EDRCore
import EDRRespond
#if canImport(Glibc)
import Glibc
#endif

do {
    prctlNoNewPrivs()
    let filter = try SeccompFilter.allowlist(role: .responder)
    try filter.loadForAllThreads()
    filter.release()
} catch {
    Log.error("cannot confine edr-respond: \(error)")
    exit(70)
}

do {
    let args = try ChildArguments(Array(CommandLine.arguments.dropFirst()))
    Log.setup(component: "edr-respond", level: Log.Level(name: args.values["log-level"] ?? "info") ?? .info)
    let supervisor = getppid()
    let protected = Set(args.strings("agent-pids").compactMap { Int32($0) } + [getpid(), supervisor, 1])
    let policy = ResponsePolicy(enabled: args.values["enabled"] == "true", minLevel: UInt8(try args.int("min-level")),
                                protectedPIDs: protected, supervisorPID: supervisor)
    let responder = Responder(listener: ChildFD.primary, detectorUID: UInt32(try args.int("detector-uid")), policy: policy)
    reportStatus("READY responder enabled=\(policy.enabled) min_level=\(policy.minLevel)")
    try responder.run()
} catch {
    Log.error("\(error)")
    exit(1)
}
