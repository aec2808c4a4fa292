import CLinux
import EDRCore
import EDRConfinement
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// `edr run`: opens, as root, everything the children need (their executables, the BPF object,
/// rule directories, the user table, the alert file) and hands it down as descriptors; spawns
/// the three children confined, each under an identity of its own; wires them together with
/// socketpairs (nothing has a name to connect to); notices a child that dies, stops, hangs or
/// is killed by its seccomp filter, replaces it and reports it in the alert stream; and stops
/// everything on SIGTERM/SIGINT.
public final class Supervisor {
    public struct Options: Sendable {
        public var config: AgentConfig
        public var binDirectory: String
        public var printAlerts: Bool
        /// The configuration file, checked like the rules (writable by root alone).
        public var configPath: String?
        /// A confinement probe the first edr-detect runs (EDR_DETECT_PROBE; tests only): the
        /// supervisor must notice the kill and report it.
        public var detectorProbe: String?
        public init(config: AgentConfig, binDirectory: String, printAlerts: Bool, configPath: String? = nil) {
            self.config = config
            self.binDirectory = binDirectory
            self.printAlerts = printAlerts
            self.configPath = configPath
        }
    }

    /// Capabilities of edr-sensor, and why each is needed:
    /// - CAP_BPF: create maps and load programs.
    /// - CAP_PERFMON: load and attach tracing programs (tp_btf/raw_tp) that read kernel memory.
    /// - CAP_SYS_PTRACE: read /proc/PID/exe and /proc/PID/cwd of every process for the start-up
    ///   snapshot (ptrace_may_access); without it the links of other users' and of more
    ///   privileged processes are unreadable (EACCES).
    /// - CAP_DAC_READ_SEARCH: open the executed file (through /proc/PID/exe) for YARA and
    ///   hashing even when its mode does not let root's uid read it; the descriptor goes to
    ///   the detector, which never gains the right to open it itself. Only when [yara] or
    ///   [ioc] rules are configured.
    public static let sensorCapabilities: [Capability] = [.bpf, .perfmon, .sysPtrace]
    public static let sensorScanCapabilities: [Capability] = [.bpf, .perfmon, .sysPtrace, .dacReadSearch]
    public static let responderCapabilities: [Capability] = [.kill]
    /// Namespaces of their own for the children that need no network and no System V IPC.
    public static let isolatedNamespaces: Int32 = Int32(EDR_CLONE_NEWNET | EDR_CLONE_NEWIPC)

    enum Role: String { case sensor, detect, respond, logs }

    final class Child {
        let role: Role
        var spec: ChildSpec
        var pid: pid_t = 0
        var control: Int32 = -1
        var statusBuffer: [UInt8] = []
        var ready: String?
        var everReady = false
        var restarts: [UInt64] = []
        var consecutiveFailures = 0
        var restartAt: UInt64?
        var startedAt: UInt64 = 0
        var lastHeard: UInt64 = 0
        var crashLoopReported = false
        var totalRestarts = 0
        var stats: [String: String] = [:]
        /// Why the supervisor killed it, if it did (stopped, hung): the reap then says so.
        var killedBecause: String?

        init(role: Role, spec: ChildSpec) {
            self.role = role
            self.spec = spec
        }
    }

    private let options: Options
    private var children: [Child] = []
    private var alertFD: Int32 = -1
    private var kmsgFD: Int32 = -1
    private var held: [Int32] = []
    private var summaryPrinted = false
    private var startTime: UInt64 = 0
    private var host = HealthAlert.Host(name: "", id: "")
    /// The metrics registry edr.prom is rendered from (counters keep growing across restarts).
    private let metrics = AgentMetrics()
    private var limiter = HealthAlertLimiter()
    private var probePending: String?

    nonisolated(unsafe) static var stopSignal: sig_atomic_t = 0
    nonisolated(unsafe) static var childSignal: sig_atomic_t = 0
    nonisolated(unsafe) static var hangupSignal: sig_atomic_t = 0
    /// Self-pipe: each handler writes a byte, so the loop can sleep until something happens
    /// without missing a signal that arrives just before it blocks.
    nonisolated(unsafe) static var wakeWrite: Int32 = -1
    private var wakeRead: Int32 = -1

    /// A child not ready this long after its start is reported (and replaced if it is silent).
    static let startupLimitNanos: UInt64 = 120_000_000_000
    /// The summary says "not ready" if a child is not ready by then.
    static let summaryLimitNanos: UInt64 = 30_000_000_000

    public init(options: Options) {
        self.options = options
        self.probePending = options.detectorProbe
    }

    /// Runs until SIGTERM/SIGINT (returns 0), or returns 1 when the sensor cannot run at all.
    public func run() throws -> Int32 {
        guard geteuid() == 0 else { throw EDRError("edr run must start as root: it loads eBPF programs and drops each child to its own privileges") }
        let c = options.config
        let bin = options.binDirectory
        metrics.bootstrapMetricsSystem()

        // 1. Everything that steers the agent must be writable by root alone.
        let bpfObject = c.sensor.bpfObject.isEmpty ? bin + "/edr.bpf.o" : c.sensor.bpfObject
        if let path = options.configPath { try TrustedFiles.check(path, what: "configuration file") }
        try RuleTrees.checkTrusted(c)
        for exe in ["edr-sensor", "edr-detect", "edr-respond"] + (c.logs.enabled ? ["edr-logs"] : []) {
            guard access(bin + "/" + exe, X_OK) == 0 else { throw EDRError("\(bin)/\(exe) is missing or not executable (build with `make build`)") }
            try TrustedFiles.check(bin + "/" + exe, what: "executable")
        }
        try TrustedFiles.check(bpfObject, what: "BPF object")

        // 2. Identities of their own.
        let dynamic = try ChildIdentity.allocate(count: 3)
        let detectUser = try ChildIdentity.resolve(c.detect.user, key: "[detect] user", dynamic: dynamic[0])
        let respondUser = try ChildIdentity.resolve(c.response.user, key: "[response] user", dynamic: dynamic[1])
        guard detectUser.uid != respondUser.uid else { throw EDRError("[detect] user and [response] user must differ (uid \(detectUser.uid))") }
        let logsUser = try ChildIdentity.resolve(c.logs.user, key: "[logs] user", dynamic: dynamic[2])
        if c.logs.enabled {
            guard logsUser.uid != detectUser.uid && logsUser.uid != respondUser.uid else {
                throw EDRError("[logs] user must differ from [detect] user and [response] user (uid \(logsUser.uid))")
            }
        }
        let protectedUIDs = try c.response.protectedUsers.map { try resolveUser($0).uid }

        // 3. Descriptors, opened as root.
        host = .local(nameOverride: c.agent.hostName)
        alertFD = try openAlertOutput(c.alerts.path)
        let exeFD = { (name: String) throws -> Int32 in try self.hold(open(bin + "/" + name, EDR_O_PATH | O_CLOEXEC), "open", bin + "/" + name) }
        let bpfFD = try hold(open(bpfObject, O_RDONLY | O_CLOEXEC), "open", bpfObject)
        let passwdFD = try hold(open("/etc/passwd", O_RDONLY | O_CLOEXEC), "open", "/etc/passwd")
        let procFD = try hold(open("/proc", EDR_O_PATH | O_DIRECTORY | O_CLOEXEC), "open", "/proc")
        // Rule trees: the detector sees them as descriptors 6… (control 3, alerts 4, passwd 5).
        let rules = try RuleTrees.open(c) { index, _ in Int32(6 + index) }
        held += rules.directories.map(\.fd)
        let scans = ChildCommandLine.scans(c)

        var sensor = ChildSpec(
            name: "edr-sensor", executable: bin + "/edr-sensor",
            arguments: ChildCommandLine.sensor(c, bpfObject: "/proc/self/fd/4", agentPIDs: [getpid()]),
            uid: 0, gid: 0, capabilities: scans ? Self.sensorScanCapabilities : Self.sensorCapabilities,
            seccompRole: .sensor, fds: [bpfFD])
        sensor.stdoutFD = 2
        sensor.execFD = try exeFD("edr-sensor")
        var detect = ChildSpec(
            name: "edr-detect", executable: bin + "/edr-detect",
            arguments: ChildCommandLine.detector(c, rules: rules, host: host, passwdFD: 5, printAlerts: options.printAlerts),
            uid: detectUser.uid, gid: detectUser.gid, capabilities: [], seccompRole: .detector,
            fds: [alertFD, passwdFD] + rules.directories.map(\.fd))
        detect.stdoutFD = options.printAlerts ? 1 : 2
        detect.execFD = try exeFD("edr-detect")
        detect.unshareFlags = Self.isolatedNamespaces
        var respond = ChildSpec(
            name: "edr-respond", executable: bin + "/edr-respond",
            arguments: ChildCommandLine.responder(c, protectedUIDs: protectedUIDs, agentPIDs: [getpid()]),
            uid: respondUser.uid, gid: respondUser.gid, capabilities: Self.responderCapabilities, seccompRole: .responder,
            fds: [procFD])
        respond.stdoutFD = 2
        respond.execFD = try exeFD("edr-respond")
        respond.unshareFlags = Self.isolatedNamespaces

        children = [Child(role: .sensor, spec: sensor), Child(role: .detect, spec: detect)]
        if c.response.enabled { children.append(Child(role: .respond, spec: respond)) }
        if c.logs.enabled {
            var logs = try HostLogsChild.spec(c, bin: bin, uid: logsUser.uid, gid: logsUser.gid)
            logs.execFD = try exeFD("edr-logs")
            held += logs.fds
            children.append(Child(role: .logs, spec: logs))
            Log.info(
                "identities: edr-logs \(logsUser.name), supplementary groups \(logs.groups.isEmpty ? "none" : logs.groups.map(String.init).joined(separator: ","))"
            )
        }
        Log.info("identities: edr-detect \(detectUser.name), edr-respond \(c.response.enabled ? respondUser.name : "not started")")

        kmsgFD = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if kmsgFD >= 0 { lseek(kmsgFD, 0, SEEK_END) } else { Log.warning("cannot read /dev/kmsg: seccomp kills will be reported without the syscall's name") }

        try makeDirectory(c.supervisor.runtimeDir, mode: 0o755)
        writeAtomically(pidPath, Array("\(getpid())\n".utf8))
        startWall = wallClockNow()

        installSignalHandlers()
        startTime = monotonicNanos()
        for child in children { try start(child) }
        let code = loop()
        shutdown()
        return code
    }

    private func hold(_ fd: Int32, _ call: String, _ path: String) throws -> Int32 {
        guard fd >= 0 else { throw SystemError(call, detail: path) }
        held.append(fd)
        return fd
    }

    private func child(_ role: Role) -> Child? { children.first { $0.role == role } }

    private func start(_ child: Child) throws {
        let (mine, theirs) = try ControlChannel.controlPair()
        var spec = child.spec
        spec.fds = [theirs] + spec.fds
        if child.role == .detect, let probe = probePending {
            probePending = nil
            spec.arguments += ["--probe", probe, "--target", "1"]
        }
        let pid: pid_t
        do {
            pid = try Spawner.spawn(spec)
        } catch {
            close(mine); close(theirs)
            throw error
        }
        close(theirs)
        if child.control >= 0 { close(child.control) }
        child.control = mine
        _ = fcntl(mine, F_SETFL, O_NONBLOCK)
        if child.startedAt != 0 { child.totalRestarts += 1 }
        child.pid = pid
        child.ready = nil
        child.statusBuffer = []
        child.startedAt = monotonicNanos()
        child.lastHeard = child.startedAt
        child.killedBecause = nil
        Log.info("started \(spec.name) pid \(pid) (uid \(spec.uid), capabilities \(capabilityNames(Capability.mask(spec.capabilities))))")
        // Wire it to each running peer with a fresh socketpair.
        switch child.role {
        case .sensor:
            if let d = self.child(.detect), d.pid > 0 { connect(sensor: child, detect: d) }
        case .detect:
            if let s = self.child(.sensor), s.pid > 0 { connect(sensor: s, detect: child) }
            if let r = self.child(.respond), r.pid > 0 { connect(detect: child, respond: r) }
            if let l = self.child(.logs), l.pid > 0 { connect(logs: l, detect: child) }
        case .respond:
            if let d = self.child(.detect), d.pid > 0 { connect(detect: d, respond: child) }
        case .logs:
            if let d = self.child(.detect), d.pid > 0 { connect(logs: child, detect: d) }
        }
    }

    /// The sensor's end is non-blocking (it never waits on the detector; its allowlist has no
    /// F_SETFL); the detector's end blocks.
    private func connect(sensor: Child, detect: Child) {
        connect(sensor, as: "detector", nonBlocking: true, detect, as: "sensor", nonBlocking: false)
    }

    /// The detector's end is non-blocking: detection never waits on the responder.
    private func connect(detect: Child, respond: Child) {
        connect(respond, as: "detector", nonBlocking: false, detect, as: "respond", nonBlocking: true)
    }

    /// The detector's end is non-blocking: detection never waits on the log reader.
    private func connect(logs: Child, detect: Child) {
        connect(logs, as: "detector", nonBlocking: false, detect, as: "logs", nonBlocking: true)
    }

    /// A fresh socketpair between two running children: `a` gets one end as its connection
    /// to `aPeer`, `b` the other as its connection to `bPeer`.
    private func connect(_ a: Child, as aPeer: String, nonBlocking aNB: Bool, _ b: Child, as bPeer: String, nonBlocking bNB: Bool) {
        do {
            let (x, y) = try ControlChannel.streamPair()
            defer { close(x); close(y) }
            if aNB { _ = fcntl(x, F_SETFL, O_NONBLOCK) }
            if bNB { _ = fcntl(y, F_SETFL, O_NONBLOCK) }
            try ControlChannel.sendPeer(x, role: aPeer, over: a.control)
            try ControlChannel.sendPeer(y, role: bPeer, over: b.control)
        } catch {
            Log.error("connecting \(a.spec.name) and \(b.spec.name): \(error)")
        }
    }

    private func loop() -> Int32 {
        while Self.stopSignal == 0 {
            var pfds = children.map { pollfd(fd: $0.pid > 0 ? $0.control : -1, events: Int16(POLLIN), revents: 0) }
            pfds.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            // Sleep until a child reports, a signal arrives, a restart is due, or the next
            // liveness check (once a second).
            var timeout: Int32 = 1000
            let before = monotonicNanos()
            for child in children {
                if let at = child.restartAt { timeout = min(timeout, Int32(clamping: at > before ? (at - before) / 1_000_000 + 1 : 0)) }
            }
            _ = poll(&pfds, nfds_t(pfds.count), timeout)
            if pfds[pfds.count - 1].revents & Int16(POLLIN) != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drain, drain.count) > 0 {}
            }
            for (i, child) in children.enumerated() where pfds[i].revents != 0 {
                readStatus(child)
            }
            if let code = reap() { return code }
            if Self.hangupSignal != 0 {
                Self.hangupSignal = 0
                // Reload: the detector rebuilds every detector set it has; the alert file is
                // reopened (logrotate renamed it).
                for child in children where child.role == .detect && child.pid > 0 { kill(child.pid, SIGHUP) }
                Log.info("SIGHUP: asked edr-detect to reload its rules; reopening the alert file")
                reopenAlerts()
            }
            rotateAlertsIfLarge()
            let now = monotonicNanos()
            checkLiveness(now: now)
            if now &- lastStatusWrite >= 2_000_000_000 {
                lastStatusWrite = now
                writeStatus(now: now)
            }
            for child in children {
                if let at = child.restartAt, now >= at {
                    child.restartAt = nil
                    do {
                        try start(child)
                    } catch {
                        Log.error("restarting \(child.spec.name): \(error)")
                        scheduleRestart(child, reason: "spawn failed: \(error)")
                    }
                }
                // A child that stayed up 30 s is healthy again: reset its backoff.
                if child.pid > 0 && child.consecutiveFailures > 0 && now &- child.startedAt > 30_000_000_000 && now > child.startedAt {
                    child.consecutiveFailures = 0
                    child.crashLoopReported = false
                }
            }
            if !summaryPrinted && (children.allSatisfy { $0.ready != nil } || now - startTime > Self.summaryLimitNanos) {
                printSummary()
            }
        }
        Log.info("received signal \(Self.stopSignal); stopping")
        return 0
    }

    /// A child that stopped sending heartbeats (hung, or stopped by a signal the kernel did
    /// not report to us) is killed and replaced.
    private func checkLiveness(now: UInt64) {
        for child in children where child.pid > 0 && child.killedBecause == nil {
            let silent = now &- child.lastHeard
            let limit = child.ready != nil ? ControlChannel.silenceLimitNanos : Self.startupLimitNanos
            if silent > limit {
                let pid = child.pid
                let why = "hung: no heartbeat for \(silent / 1_000_000) ms"
                Log.error("\(child.spec.name) pid \(pid) \(why); killing it")
                kill(pid, SIGKILL)
                // Replaced now, not when it is reaped: a process held by a tracer is reported
                // to us only once the tracer lets go.
                var alert = HealthAlert(
                    ruleID: "edr-health-child-hung", title: "\(child.spec.name) hung", level: "high",
                    action: "child-hung", message: "\(child.spec.name) pid \(pid) \(why); replaced")
                childGone(child, pid: pid, why: why, alert: &alert)
            }
        }
    }

    private func readStatus(_ child: Child) {
        var buf = [UInt8](repeating: 0, count: 8192)
        while child.control >= 0 {
            let n = buf.withUnsafeMutableBytes { read(child.control, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            child.lastHeard = monotonicNanos()
            child.statusBuffer.append(contentsOf: buf[0..<n])
            while let nl = child.statusBuffer.firstIndex(of: 0x0A) {
                let line = String(decoding: child.statusBuffer[..<nl], as: UTF8.self).filter { !$0.isNewline && $0.asciiValue.map { $0 >= 0x20 } ?? true }
                child.statusBuffer.removeFirst(nl + 1)
                if line == "ALIVE" { continue }
                if line.hasPrefix("STATS ") { child.stats = StatusReport.parseStats(line); continue }
                if line.hasPrefix("READY ") {
                    let wasReady = summaryPrinted
                    child.ready = String(line.dropFirst(6).prefix(2000))
                    child.everReady = true
                    if wasReady { Log.info("\(child.spec.name) pid \(child.pid) ready again: \(child.ready!)") }
                } else {
                    Log.info("\(child.spec.name): \(line.prefix(2000))")
                }
            }
        }
    }

    /// Collects dead and stopped children; reports each and schedules restarts. Returns an
    /// exit code only when the sensor could never run.
    private func reap() -> Int32? {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG | WUNTRACED)
            if pid <= 0 { return nil }
            guard let child = children.first(where: { $0.pid == pid }) else { continue }
            if status & 0xff == 0x7f {
                // Stopped (SIGSTOP/SIGTSTP…): blind while stopped, and the sensor buffers. A
                // stopped child is replaced, never waited for.
                let sig = (status >> 8) & 0xff
                child.killedBecause = "stopped by signal \(sig) (\(String(cString: strsignal(sig))))"
                Log.error("\(child.spec.name) pid \(pid) \(child.killedBecause!); killing and replacing it")
                kill(pid, SIGKILL)
                continue
            }
            child.pid = 0
            if child.control >= 0 { readStatus(child); close(child.control); child.control = -1 }
            let why: String
            var alert: HealthAlert
            let sig = status & 0x7f
            if sig == 0 {
                why = "exited with status \((status >> 8) & 0xff)"
                alert = HealthAlert(
                    ruleID: "edr-health-child-died", title: "\(child.spec.name) exited", level: "medium", action: "child-exited",
                    message: "\(child.spec.name) pid \(pid) \(why)")
            } else if sig == SIGSYS {
                let call = seccompViolation(pid: pid)
                why = "killed by its seccomp filter" + (call.map { " for calling \($0.name) (syscall \($0.number))" } ?? "")
                alert = HealthAlert(
                    ruleID: "edr-health-seccomp-kill", title: "\(child.spec.name) killed by its seccomp filter\(call.map { " (\($0.name))" } ?? "")",
                    level: "critical", action: "child-seccomp-violation", message: "\(child.spec.name) pid \(pid) \(why): a compromised or misbehaving child")
                if let call { alert.fields.append(("syscall", call.name)); alert.numbers.append(("syscall_nr", Int64(call.number))) }
            } else if let because = child.killedBecause {
                why = because
                let hung = because.hasPrefix("hung")
                alert = HealthAlert(
                    ruleID: hung ? "edr-health-child-hung" : "edr-health-child-stopped",
                    title: "\(child.spec.name) \(hung ? "hung" : "stopped")", level: "high",
                    action: hung ? "child-hung" : "child-stopped", message: "\(child.spec.name) pid \(pid) \(because); replaced")
            } else {
                why = "killed by signal \(sig) (\(String(cString: strsignal(sig))))"
                alert = HealthAlert(
                    ruleID: "edr-health-child-killed", title: "\(child.spec.name) killed", level: "high", action: "child-killed",
                    message: "\(child.spec.name) pid \(pid) \(why)")
            }
            Log.error("\(child.spec.name) pid \(pid) \(why)")
            if Self.stopSignal != 0 { continue }
            if let code = childGone(child, pid: pid, why: why, alert: &alert) { return code }
        }
    }

    /// A child is gone (or given up on): report it, count it, schedule its replacement.
    /// Returns an exit code only when the sensor could never run.
    @discardableResult
    private func childGone(_ child: Child, pid: pid_t, why: String, alert: inout HealthAlert) -> Int32? {
        child.pid = 0
        if child.control >= 0 { close(child.control); child.control = -1 }
        alert.processName = child.spec.name
        alert.processPID = pid
        alert.fields.append(("child", child.spec.name))
        alert.fields.append(("reason", why))
        writeHealth(alert)
        do {
            let now = monotonicNanos()
            let window = UInt64(options.config.supervisor.crashLoopWindowSeconds) * 1_000_000_000
            child.restarts = child.restarts.filter { now - $0 < window } + [now]
            if child.restarts.count > options.config.supervisor.crashLoopRestarts {
                if child.role == .sensor && !child.everReady {
                    Log.error("edr-sensor never started (\(child.restarts.count) attempts): the agent cannot run")
                    return 1
                }
                if !child.crashLoopReported {
                    child.crashLoopReported = true
                    var a = HealthAlert(
                        ruleID: "edr-health-crash-loop", title: "\(child.spec.name) crash loop", level: "critical", action: "child-crash-loop",
                        message:
                            "\(child.spec.name) died \(child.restarts.count) times within \(options.config.supervisor.crashLoopWindowSeconds) s; restarting it every \(options.config.supervisor.maxRestartDelayMs) ms while the sensor keeps buffering"
                    )
                    a.processName = child.spec.name
                    writeHealth(a)
                }
                Log.error(
                    "\(child.spec.name) died \(child.restarts.count) times within \(options.config.supervisor.crashLoopWindowSeconds) s: crash loop; retrying at the longest delay"
                )
            }
            scheduleRestart(child, reason: why)
        }
        return nil
    }

    /// The syscall the kernel logged (audit type 1326) when it killed `pid` for a seccomp
    /// violation.
    private func seccompViolation(pid: pid_t) -> (name: String, number: Int32)? {
        guard kmsgFD >= 0 else { return nil }
        let deadline = monotonicNanos() + 300_000_000
        var buf = [UInt8](repeating: 0, count: 8192)
        while monotonicNanos() < deadline {
            let n = buf.withUnsafeMutableBytes { read(kmsgFD, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EPIPE { continue }  // overwritten records: read on
                usleep(10_000)
                continue
            }
            let record = String(decoding: buf[0..<n], as: UTF8.self)
            guard record.contains("type=1326"), record.contains(" pid=\(pid) ") else { continue }
            guard let r = record.range(of: " syscall=") else { continue }
            let digits = record[r.upperBound...].prefix(while: { $0.isNumber })
            if let nr = Int32(digits) { return (SyscallName.name(nr), nr) }
        }
        return nil
    }

    private func writeHealth(_ alert: HealthAlert) {
        guard let a = limiter.admit(alert), alertFD >= 0 else { return }
        let bytes = a.encoded(host: host)
        bytes.withUnsafeBytes { _ = write(alertFD, $0.baseAddress, $0.count) }
        if options.printAlerts {
            let line = "[health] \(a.level.uppercased()) \(a.title) — \(a.message)\n"
            line.utf8CString.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count - 1) }
        }
    }

    private func scheduleRestart(_ child: Child, reason: String) {
        let s = options.config.supervisor
        let looping = child.restarts.count > s.crashLoopRestarts
        let delay = looping ? s.maxRestartDelayMs : min(s.maxRestartDelayMs, s.restartDelayMs << min(child.consecutiveFailures, 16))
        child.consecutiveFailures += 1
        child.restartAt = monotonicNanos() + UInt64(delay) * 1_000_000
        Log.warning("restarting \(child.spec.name) in \(delay) ms (\(reason); restart \(child.restarts.count) in \(s.crashLoopWindowSeconds) s)")
    }

    private func printSummary() {
        summaryPrinted = true
        let allReady = children.allSatisfy { $0.ready != nil }
        var lines = ["edr \(AgentVersion.version) running (supervisor pid \(getpid()))"]
        let myNet = namespaceLink(pid: getpid(), "net")
        for child in children {
            var line = "  \(child.role.rawValue.padding(8)) pid \(child.pid)"
            if let st = try? ProcStatus.read(pid: child.pid) {
                line += "  uid \(st.uids.first ?? 0)  CapEff \(capabilityNames(st.capEff))  NoNewPrivs \(st.noNewPrivs)  Seccomp \(st.seccomp)"
                let ownNet = namespaceLink(pid: child.pid, "net") != myNet
                // A non-dumpable process's /proc entries belong to root.
                let dumpable = st.uids.first == 0 ? "n/a" : (procOwner(child.pid) == 0 ? "no" : "yes")
                line += "  netns \(ownNet ? "own" : "host")  dumpable \(dumpable)"
            }
            lines.append(line)
            lines.append("           \(child.ready ?? "not ready")")
        }
        lines.append("  alerts → \(options.config.alerts.path == "-" ? "standard output" : options.config.alerts.path)")
        let r = options.config.response
        lines.append(
            "  response \(r.enabled ? "enabled at \(r.minLevel) and above\(r.dryRun ? " (dry run)" : ""), at most \(r.maxKillsPerMinute) kills per minute" : "disabled")"
        )
        lines.append(allReady ? "edr: ready" : "edr: not ready (see the lines above)")
        let text = lines.joined(separator: "\n") + "\n"
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    private func procOwner(_ pid: pid_t) -> uid_t {
        var st = stat()
        return stat("/proc/\(pid)/mem", &st) == 0 ? st.st_uid : .max
    }

    private func shutdown() {
        for child in children where child.pid > 0 { kill(child.pid, SIGTERM) }
        let deadline = monotonicNanos() + 5_000_000_000
        while children.contains(where: { $0.pid > 0 }) && monotonicNanos() < deadline {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                children.first(where: { $0.pid == pid })?.pid = 0
            } else {
                usleep(20_000)
            }
        }
        for child in children where child.pid > 0 {
            Log.warning("\(child.spec.name) did not stop in 5 s; killing it")
            kill(child.pid, SIGKILL)
            waitpid(child.pid, nil, 0)
        }
        unlink(pidPath)
        unlink(statusPath)
        // A stopped agent says so (edr_up 0) rather than leaving its last figures behind.
        if !options.config.metrics.textfileDir.isEmpty {
            writeAtomically(options.config.metrics.textfileDir + "/edr.prom", AgentMetrics.stopped())
        }
        Log.info("stopped")
    }

    private func installSignalHandlers() {
        // A parent may have started us with signals blocked (some process launchers do).
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGTERM, SIGINT, SIGCHLD, SIGHUP] { sigaddset(&set, sig) }
        sigprocmask(SIG_UNBLOCK, &set, nil)
        var p: [Int32] = [-1, -1]
        if pipe(&p) == 0 {
            for fd in p {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
            wakeRead = p[0]
            Self.wakeWrite = p[1]
        }
        signal(SIGTERM) { sig in
            Supervisor.stopSignal = sig; Supervisor.wake()
        }
        signal(SIGINT) { sig in
            Supervisor.stopSignal = sig; Supervisor.wake()
        }
        signal(SIGCHLD) { _ in
            Supervisor.childSignal = 1; Supervisor.wake()
        }
        signal(SIGHUP) { _ in
            Supervisor.hangupSignal = 1; Supervisor.wake()
        }
        signal(SIGPIPE, SIG_IGN)
    }

    /// Async-signal-safe: one byte into the self-pipe.
    static func wake() {
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
    }

    /// Opens the alert path again and hands the new descriptor to the detector (which puts it
    /// in place of the old one) and to every later start of it.
    private func reopenAlerts() {
        let path = options.config.alerts.path
        guard path != "-" else { return }
        let fd: Int32
        do {
            fd = try openAlertOutput(path)
        } catch {
            Log.error("reopening the alert file: \(error); writing on to the old one")
            return
        }
        let old = alertFD
        alertFD = fd
        if let d = child(.detect) {
            if let i = d.spec.fds.firstIndex(of: old) { d.spec.fds[i] = fd }
            if d.pid > 0 && d.control >= 0 {
                do { try ControlChannel.sendPeer(fd, role: "alerts", over: d.control) } catch { Log.error("handing over the new alert file: \(error)") }
            }
        }
        close(old)
        alertsReopened += 1
    }

    private var alertsReopened = 0
    private var lastStatusWrite: UInt64 = 0
    private var startWall: Double = 0

    private var statusPath: String { options.config.supervisor.runtimeDir + "/status.json" }
    private var pidPath: String { options.config.supervisor.runtimeDir + "/edr.pid" }

    private func writeStatus(now: UInt64) {
        let c = options.config
        let report = StatusReport(
            supervisorPID: getpid(), startedAt: startWall, uptimeSeconds: Double(now &- startTime) / 1e9,
            alertsPath: c.alerts.path, alertsReopened: alertsReopened, responseEnabled: c.response.enabled, dryRun: c.response.dryRun,
            children: children.map {
                .init(
                    name: $0.spec.name, role: $0.role.rawValue, pid: $0.pid, ready: $0.ready,
                    uptimeSeconds: $0.pid > 0 ? Double(now &- $0.startedAt) / 1e9 : 0, restarts: $0.totalRestarts, stats: $0.stats)
            })
        writeAtomically(statusPath, report.json(), mode: 0o640)
        if !c.metrics.textfileDir.isEmpty {
            metrics.update(report)
            writeAtomically(c.metrics.textfileDir + "/edr.prom", metrics.exposition())
        }
    }
    private var lastSizeCheck: UInt64 = 0

    /// Size-based rotation ([alerts] max_size_mib): path → path.1 → … → path.keep, then reopen.
    private func rotateAlertsIfLarge() {
        let a = options.config.alerts
        guard a.maxSizeMiB > 0, a.path != "-" else { return }
        let now = monotonicNanos()
        guard now &- lastSizeCheck >= 500_000_000 else { return }
        lastSizeCheck = now
        var st = stat()
        guard fstat(alertFD, &st) == 0, st.st_size >= Int(a.maxSizeMiB) << 20 else { return }
        unlink(a.path + ".\(a.keep)")
        if a.keep > 1 {
            for i in stride(from: a.keep - 1, through: 1, by: -1) { rename(a.path + ".\(i)", a.path + ".\(i + 1)") }
        }
        guard rename(a.path, a.path + ".1") == 0 else {
            Log.error("rotating \(a.path): \(String(cString: strerror(errno)))")
            return
        }
        Log.info("rotated \(a.path) at \(st.st_size) bytes")
        reopenAlerts()
    }

    private func openAlertOutput(_ path: String) throws -> Int32 {
        if path == "-" { return try syscallRetrying("dup") { dup(1) } }
        try makeDirectory(directoryName(of: path), mode: 0o750)
        return try syscallRetrying("open", detail: path) { open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640) }
    }
}

/// mkdir -p; only directories created here get `mode` (an existing one is left as it is).
func makeDirectory(_ path: String, mode: mode_t) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, mode) == 0 {
            _ = chmod(current, mode)  // not subject to the umask
        } else if errno != EEXIST {
            throw SystemError("mkdir", detail: current)
        }
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
