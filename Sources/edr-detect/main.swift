// edr-detect: an unprivileged uid, no capabilities, NoNewPrivs, seccomp. Everything that
// parses untrusted data (kernel records, /proc text, rules) runs here and nowhere else.
import EDRCore
import EDRDetect
import EDRSigma
#if canImport(Glibc)
import Glibc
#endif

// First: the final seccomp allowlist, on every thread, before any input is read.
do {
    _ = edr_no_new_privs()
    let filter = try SeccompFilter.allowlist(role: .detector)
    try filter.loadForAllThreads()
    filter.release()
} catch {
    Log.error("cannot confine edr-detect: \(error)")
    exit(70)
}

func edr_no_new_privs() -> Int32 { prctlNoNewPrivs() }

do {
    let args = try ChildArguments(Array(CommandLine.arguments.dropFirst()), flags: ["print-alerts", "probe-confinement"])
    Log.setup(component: "edr-detect", level: Log.Level(name: args.values["log-level"] ?? "info") ?? .info)
    if args.flags.contains("probe-confinement") {
        let outcomes = ConfinementProbe.run()
        print(ConfinementProbe.report(outcomes))
        exit(outcomes.allSatisfy(\.denied) ? 0 : 1)
    }
    let rules = args.strings("rules")
    let started = monotonicNanos()
    let engine = try SigmaEngine.load(paths: rules, options: SigmaOptions(collectedLogSources: DetectorLogSources.collected))
    let rejected = engine.diagnostics.filter { if case .rejected = $0.status { return true } else { return false } }
    let inert = engine.diagnostics.filter { if case .inert = $0.status { return true } else { return false } }
    for d in rejected.prefix(20) {
        if case .rejected(let why) = d.status { Log.warning("rule rejected: \(d.path) \(d.ruleID ?? "") — \(why)") }
    }
    Log.info("sigma: \(engine.loadedCount) rules loaded, \(rejected.count) rejected, \(inert.count) inert, in \((monotonicNanos() - started) / 1_000_000) ms")

    let context = AlertContext.local(hostNameOverride: args.values["host-name"] ?? "")
    let sink = AlertSink(fd: ChildFD.primary, consoleFD: args.flags.contains("print-alerts") ? 1 : nil)
    let respond = args.values["respond-socket"].flatMap { $0.isEmpty ? nil : $0 }
    let minLevel = SigmaLevel(name: args.values["min-level"] ?? "critical") ?? .critical
    let detector = Detector(engine: engine, sink: sink, options: .init(
        sensorSocket: try args.string("sensor-socket"), respondSocket: respond, responseMinLevel: minLevel,
        context: context, machineID: context.hostID), onReady: {
            reportStatus("READY detector rules=\(engine.loadedCount) rejected=\(rejected.count) inert=\(inert.count)")
        })
    try detector.run()
} catch {
    Log.error("\(error)")
    exit(1)
}
