// edr-detect: its own unprivileged uid, no capabilities, NoNewPrivs, not dumpable, own network
// and IPC namespaces, Landlock (read-only beneath the rule directories it was handed), and a
// seccomp allowlist that kills the process on anything else. Everything that parses untrusted
// data (kernel records, /proc text, rules, executables) runs here and nowhere else.
import EDRCore
import EDRConfinement
import EDRSystem
import EDRDetect
import EDRSigma
#if canImport(Glibc)
import Glibc
#endif

// First, before any input is read and while the process has one thread: confinement. Under
// its systemd unit (`edr-detect --config FILE`) it first reads the configuration, checks and
// opens its rule directories, connects to the sensor's socket and takes its own sockets.
let args: ChildArguments
var unitPeers: UnitPeers?
do {
    if let unit = try UnitStart.fromCommandLine() {
        (args, unitPeers) = try unitArguments(unit)
    } else {
        args = try ChildArguments(Array(CommandLine.arguments.dropFirst()), flags: ["print-alerts", "unconfined"])
    }
} catch {
    reportStatus("FATAL \(error)")
    Log.error("\(error)")
    exit(64)
}
Log.setup(component: "edr-detect", level: Log.Level(name: args.values["log-level"] ?? "info") ?? .info)
let probe = args.values["probe"].flatMap(ConfinementProbe.init(rawValue:))
if args.values["probe"] != nil && probe == nil { Log.error("unknown probe \(args.values["probe"]!)"); exit(64) }
// Read while the file system is open to us: alerts' host.os.* and event.id's random half.
let osRelease = OSRelease.local()
AlertID.prepare()
let readBeneath = args.strings("read-fds").compactMap { Int32($0) }
if !(probe != nil && args.flags.contains("unconfined")) {
    do {
        try SelfConfinement.makeUndumpable()
        ConfinementSummary.landlockABI = try SelfConfinement.restrictFilesystem(
            readBeneath: readBeneath.map { ($0, SelfConfinement.isDirectory($0)) })
        RegexJIT.enabled = false
        let filter = try SeccompFilter.allowlist(role: .detector, accepts: unitPeers != nil)
        try filter.loadForAllThreads()
        filter.release()
    } catch {
        reportStatus("FATAL cannot confine edr-detect: \(error)")
        Log.error("cannot confine edr-detect: \(error)")
        exit(70)
    }
}
if let probe {
    let result = probe.perform(scratch: args.values["scratch"] ?? "/tmp", target: Int32(args.values["target"] ?? "1") ?? 1)
    print(ConfinementProbe.report(probe, result))
    exit(0)
}

do {
    Log.pathNames = args.strings("path-names").compactMap { pair in
        guard let eq = pair.firstIndex(of: "=") else { return nil }
        return (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
    }
    if let fd = Int32(args.values["passwd-fd"] ?? "") { SystemFiles.passwdFD = fd }
    let started = monotonicNanos()
    let store = try DetectorStore(
        sources: DetectorSources(
            sigma: args.strings("rules"), yara: args.strings("yara-rules"), ioc: args.strings("ioc-rules"),
            sigmaOptions: DetectorLogSources.sigmaOptions()))
    let engine = store.current.sigma
    let rejected = engine.diagnostics.filter { if case .rejected = $0.status { return true } else { return false } }
    let inert = engine.diagnostics.filter { if case .inert = $0.status { return true } else { return false } }
    for d in rejected.prefix(20) {
        if case .rejected(let why) = d.status { Log.warning("rule rejected: \(d.path) \(d.ruleID ?? "") — \(why)") }
    }
    Log.info("sigma: \(engine.loadedCount) rules loaded, \(rejected.count) rejected, \(inert.count) inert, in \((monotonicNanos() - started) / 1_000_000) ms")
    let yaraCount = store.current.yara?.ruleCount ?? 0
    let iocCounts = store.current.ioc?.counts.description ?? "none"

    let context = AlertContext.local(
        hostNameOverride: args.values["host-name"] ?? "", hostID: args.values["host-id"],
        os: osRelease)
    let sink = AlertSink(fd: ChildFD.primary, consoleFD: args.flags.contains("print-alerts") ? 1 : nil)
    let minLevel = SigmaLevel(name: args.values["min-level"] ?? "critical") ?? .critical
    var options = Detector.Options(
        respondEnabled: args.values["respond"] == "true", responseMinLevel: minLevel,
        context: context, machineID: context.hostID)
    options.excludedPathPrefixes = args.strings("exclude-paths")
    if args.values["environment"] != nil { options.environmentNames = args.strings("environment") }
    let abi = ConfinementSummary.landlockABI
    let detector = Detector(
        store: store, sink: sink, options: options,
        onReady: {
            reportStatus(
                "READY detector rules=\(engine.loadedCount) rejected=\(rejected.count) inert=\(inert.count) yara=\(yaraCount) ioc=\(iocCounts) landlock_abi=\(abi)"
            )
        })
    if let unitPeers {
        unitPeers.onRefusal = { r in
            Log.warning("\(r)")
            detector.reportRefusedPeer(r)
        }
        detector.peers = unitPeers
    }
    if store.current.yara != nil || store.current.ioc != nil {
        let scanner = try ExecutableScanner(
            store: store,
            options: .init(
                maxFileBytes: Int64(try args.int("yara-max-file-mib")) << 20, timeoutSeconds: try args.int("yara-timeout-seconds"),
                cacheEntries: try args.int("yara-cache-entries"), cacheTTLSeconds: Double(try args.int("yara-cache-ttl-seconds")),
                allowlist: args.strings("yara-allowlist")), context: context
        ) { [detector] line, readable, level, process in
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

/// Under edr-detect.service: the arguments `edr run` would have passed, from the
/// configuration; the rule directories opened here (O_PATH) before Landlock; the sensor's
/// socket connected (the only connection it ever makes); the socket units' listeners for the
/// responder (its uid alone), for edr-logs (its uid alone, with [logs] enabled) and for
/// `edr reopen-alerts` (root, one descriptor per client).
func unitArguments(_ unit: UnitStart) throws -> (ChildArguments, UnitPeers) {
    let c = unit.config
    try RuleTrees.checkTrusted(c)
    let rules = try RuleTrees.open(c) { _, fd in fd }
    let passwd = open("/etc/passwd", O_RDONLY | O_CLOEXEC)
    guard passwd >= 0 else { throw SystemError("open", detail: "/etc/passwd") }
    // The alert stream is standard output: StandardOutput=append:<path> (opened by systemd as root).
    ChildFD.primary = 1
    var st = stat()
    if fstat(1, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
        Log.warning("standard output is not a file: alerts go wherever it leads (the unit sets StandardOutput=append:/var/log/edr/alerts.ndjson)")
    }
    let sensorPath = c.supervisor.runtimeDir + "/sensor.sock"
    let sensor = try UnixSocket.connect(path: sensorPath)
    var listeners: [UnitPeers.Listener] = [
        .init(
            role: "control",
            listener: SinglePeerListener(
                listener: try unit.listener("control", unit: "edr-detect-control.socket"),
                expectedUID: 0, name: "detect-control.sock"), handoff: true)
    ]
    if c.response.enabled {
        let respondUID = try UnitStart.uid(of: c.response.user, key: "[response] user")
        listeners.append(
            .init(
                role: "respond",
                listener: SinglePeerListener(
                    listener: try unit.listener("respond", unit: "edr-detect.socket"), expectedUID: respondUID, name: "detect.sock")))
    }
    if c.logs.enabled {
        // edr-logs.service connects here (edr-detect-logs.socket, owned by [logs] user).
        let logsUID = try UnitStart.uid(of: c.logs.user, key: "[logs] user")
        listeners.append(
            .init(
                role: "logs",
                listener: SinglePeerListener(
                    listener: try unit.listener("logs", unit: "edr-detect-logs.socket"), expectedUID: logsUID, name: "detect-logs.sock")))
    } else if let unused = unit.listenFDs["logs"] {
        close(unused)
    }
    let peers = try UnitPeers(initial: [.init(role: "sensor", fd: sensor)], listeners: listeners)
    let host = HealthAlert.Host.local(nameOverride: c.agent.hostName)
    let args = try ChildArguments(
        ChildCommandLine.detector(c, rules: rules, host: host, passwdFD: passwd, printAlerts: false),
        flags: ["print-alerts"])
    return (args, peers)
}
