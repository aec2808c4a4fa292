// edr-sensor: root with CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE only. Loads the BPF
// programs, drains the ring buffer, frames records for edr-detect. Parses nothing. Once its
// programs are loaded and attached it confines itself to an allowlist: no exec, no io_uring,
// no socket of its own (its one connection is handed over by the supervisor, or, under its
// systemd unit, accepted on the socket of edr-sensor.socket from the detector's uid alone).
//
//   edr-sensor --key value …     spawned by `edr run`
//   edr-sensor --config FILE     started by edr-sensor.service
import EDRCore
import EDRConfinement
import EDRSystem
import EDRSensorLinux
#if canImport(Glibc)
import Glibc
#endif

do {
    try SelfConfinement.makeUndumpable()
    let unit = try UnitStart.fromCommandLine()
    let args: ChildArguments
    var peers: any PeerSource = SupervisorPeers()
    if let unit {
        let c = unit.config
        let bpfObject = c.sensor.bpfObject.isEmpty ? unit.binDirectory + "/edr.bpf.o" : c.sensor.bpfObject
        try TrustedFiles.check(bpfObject, what: "BPF object")
        args = try ChildArguments(ChildCommandLine.sensor(c, bpfObject: bpfObject, agentPIDs: []))
        // The detector connects; only its uid is admitted, one connection at a time.
        let detectUID = try UnitStart.uid(of: c.detect.user, key: "[detect] user")
        let listener = SinglePeerListener(
            listener: try unit.listener("sensor", unit: "edr-sensor.socket"),
            expectedUID: detectUID, name: "sensor.sock")
        peers = try UnitPeers(initial: [], listeners: [.init(role: "detector", listener: listener)])
    } else {
        args = try ChildArguments(Array(CommandLine.arguments.dropFirst()))
    }
    Log.setup(component: "edr-sensor", level: Log.Level(name: args.values["log-level"] ?? "info") ?? .info)
    let programs = try BPFPrograms(
        objectPath: try args.string("bpf-object"),
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
    sensor.peers = peers
    // Everything privileged that needs more than reading is done: from here on the allowlist.
    let filter = try SeccompFilter.allowlist(role: .sensor, accepts: unit != nil)
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
