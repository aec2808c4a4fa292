// edr-sensor: root with CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE only. Loads the BPF
// programs, drains the ring buffer, frames records for edr-detect. Parses nothing. Once its
// programs are loaded and attached it confines itself to an allowlist: no exec, no io_uring,
// no socket of any kind (its one connection is handed over by the supervisor).
import EDRCore
import EDRSensorLinux
#if canImport(Glibc)
import Glibc
#endif

do {
    try SelfConfinement.makeUndumpable()
    let args = try ChildArguments(Array(CommandLine.arguments.dropFirst()))
    Log.setup(component: "edr-sensor", level: Log.Level(name: args.values["log-level"] ?? "info") ?? .info)
    let programs = try BPFPrograms(objectPath: try args.string("bpf-object"),
                                   ringBufferBytes: UInt32(try args.int("ring-buffer-mib")) << 20)
    try programs.addAgentPID(getpid())
    for pid in args.strings("agent-pids") { if let p = Int32(pid) { try programs.addAgentPID(p) } }
    for h in programs.hooks { Log.info("hook \(h)") }
    var options = Sensor.Options(
        replayBufferBytes: try args.int("replay-buffer-mib") << 20,
        statsIntervalNanos: UInt64(try args.int("stats-interval-seconds")) * 1_000_000_000)
    options.maxBatchDelayMs = Int32(try args.int("max-batch-delay-ms"))
    options.passExecutables = args.values["pass-executables"] == "true"
    let sensor = try Sensor(programs: programs, options: options)
    // Everything privileged that needs more than reading is done: from here on the allowlist.
    let filter = try SeccompFilter.allowlist(role: .sensor)
    try filter.loadForAllThreads()
    filter.release()
    let hooks = programs.hooks.map { "\($0.program):\($0.attached ? "attached" : "missing")" }.joined(separator: ",")
    reportStatus("READY sensor hooks=\(hooks)")
    for h in programs.hooks where !h.attached { reportStatus("HOOK-MISSING \(h)") }
    try sensor.run()
} catch {
    reportStatus("FATAL \(error)")
    Log.error("\(error)")
    exit(1)
}
