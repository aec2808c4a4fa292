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
    let started = monotonicNanos()
    let store = try DetectorStore(sources: DetectorSources(
        sigma: args.strings("rules"), yara: args.strings("yara-rules"), ioc: args.strings("ioc-rules"),
        sigmaOptions: SigmaOptions(collectedLogSources: DetectorLogSources.collected)))
    let engine = store.current.sigma
    let rejected = engine.diagnostics.filter { if case .rejected = $0.status { return true } else { return false } }
    let inert = engine.diagnostics.filter { if case .inert = $0.status { return true } else { return false } }
    for d in rejected.prefix(20) {
        if case .rejected(let why) = d.status { Log.warning("rule rejected: \(d.path) \(d.ruleID ?? "") — \(why)") }
    }
    Log.info("sigma: \(engine.loadedCount) rules loaded, \(rejected.count) rejected, \(inert.count) inert, in \((monotonicNanos() - started) / 1_000_000) ms")
    let yaraCount = store.current.yara?.ruleCount ?? 0
    let iocCounts = store.current.ioc?.counts.description ?? "none"

    let context = AlertContext.local(hostNameOverride: args.values["host-name"] ?? "")
    let sink = AlertSink(fd: ChildFD.primary, consoleFD: args.flags.contains("print-alerts") ? 1 : nil)
    let respond = args.values["respond-socket"].flatMap { $0.isEmpty ? nil : $0 }
    let minLevel = SigmaLevel(name: args.values["min-level"] ?? "critical") ?? .critical
    var options = Detector.Options(
        sensorSocket: try args.string("sensor-socket"), respondSocket: respond, responseMinLevel: minLevel,
        context: context, machineID: context.hostID)
    options.excludedPathPrefixes = args.strings("exclude-paths")
    let detector = Detector(store: store, sink: sink, options: options, onReady: {
        reportStatus("READY detector rules=\(engine.loadedCount) rejected=\(rejected.count) inert=\(inert.count) yara=\(yaraCount) ioc=\(iocCounts)")
    })
    if store.current.yara != nil || store.current.ioc != nil {
        let scanner = try ExecutableScanner(store: store, options: .init(
            maxFileBytes: Int64(try args.int("yara-max-file-mib")) << 20, timeoutSeconds: try args.int("yara-timeout-seconds"),
            cacheEntries: try args.int("yara-cache-entries"), cacheTTLSeconds: Double(try args.int("yara-cache-ttl-seconds")),
            allowlist: args.strings("yara-allowlist")), context: context) { [detector] line, readable, level, process in
                detector.emit(line: line, readable: readable)
                detector.respond(process, level: level, ruleID: "", ruleName: readable)
            }
        detector.scanner = scanner
        store.onSwap = { kind, snapshot in
            if kind == .yara {
                try? scanner.rebuildWorker(snapshot.yara)
                detector.requestForgetExecutables()
            }
        }
    }
    if args.values["watch-rules"] != "false" {
        RuleWatcher(store: store).start()
    }
    try detector.run()
} catch {
    Log.error("\(error)")
    exit(1)
}
