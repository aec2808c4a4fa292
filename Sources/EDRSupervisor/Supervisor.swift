import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// `edr run`: owns the sockets and the alert file, spawns the three children confined,
/// restarts one that dies (backoff, crash-loop limit), and stops everything on SIGTERM/SIGINT.
public final class Supervisor {
    public struct Options: Sendable {
        public var config: AgentConfig
        public var binDirectory: String
        public var printAlerts: Bool
        public init(config: AgentConfig, binDirectory: String, printAlerts: Bool) {
            self.config = config
            self.binDirectory = binDirectory
            self.printAlerts = printAlerts
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

    final class Child {
        let role: String
        var spec: ChildSpec
        var pid: pid_t = 0
        var statusRead: Int32 = -1
        var statusBuffer: [UInt8] = []
        var ready: String?
        var restarts: [UInt64] = []
        var consecutiveFailures = 0
        var restartAt: UInt64?
        var startedAt: UInt64 = 0

        init(role: String, spec: ChildSpec) {
            self.role = role
            self.spec = spec
        }
    }

    private let options: Options
    private var children: [Child] = []
    private var sensorListener: Int32 = -1
    private var respondListener: Int32 = -1
    private var alertFD: Int32 = -1
    private var summaryPrinted = false
    private var startTime: UInt64 = 0

    nonisolated(unsafe) static var stopSignal: sig_atomic_t = 0
    nonisolated(unsafe) static var childSignal: sig_atomic_t = 0
    nonisolated(unsafe) static var hangupSignal: sig_atomic_t = 0
    /// Self-pipe: each handler writes a byte, so the loop can sleep until something happens
    /// (no periodic wake-up while the agent runs undisturbed) without missing a signal that
    /// arrives just before it blocks.
    nonisolated(unsafe) static var wakeWrite: Int32 = -1
    private var wakeRead: Int32 = -1

    public init(options: Options) {
        self.options = options
    }

    public var sensorSocketPath: String { options.config.supervisor.runtimeDir + "/sensor.sock" }
    public var respondSocketPath: String { options.config.supervisor.runtimeDir + "/respond.sock" }

    /// Runs until SIGTERM/SIGINT (returns 0) or a crash loop (returns 1).
    public func run() throws -> Int32 {
        guard geteuid() == 0 else { throw EDRError("edr run must start as root: it loads eBPF programs and drops each child to its own privileges") }
        let c = options.config
        let detectUser = try resolveUser(c.detect.user)
        guard detectUser.uid != 0 else { throw EDRError("[detect] user must not be root (it parses untrusted data)") }
        let respondUser = try resolveUser(c.response.user)
        guard respondUser.uid != 0 else { throw EDRError("[response] user must not be root (it keeps CAP_KILL only)") }

        try makeDirectory(c.supervisor.runtimeDir, mode: 0o755)
        sensorListener = try UnixSocket.listen(path: sensorSocketPath, mode: 0o600, owner: (detectUser.uid, detectUser.gid))
        if c.response.enabled {
            respondListener = try UnixSocket.listen(path: respondSocketPath, mode: 0o600, owner: (detectUser.uid, detectUser.gid))
        }
        alertFD = try openAlertOutput(c.alerts.path)

        let scans = !c.yara.rules.isEmpty || !c.ioc.rules.isEmpty
        let bpfObject = c.sensor.bpfObject.isEmpty ? options.binDirectory + "/edr.bpf.o" : c.sensor.bpfObject
        let logLevel = c.agent.logLevel
        let me = String(getpid())

        var sensor = ChildSpec(
            name: "edr-sensor", executable: options.binDirectory + "/edr-sensor",
            arguments: ["--bpf-object", bpfObject, "--detector-uid", String(detectUser.uid),
                        "--ring-buffer-mib", String(c.sensor.ringBufferMiB), "--replay-buffer-mib", String(c.sensor.replayBufferMiB),
                        "--stats-interval-seconds", String(c.sensor.statsIntervalSeconds), "--max-batch-delay-ms", String(c.sensor.maxBatchDelayMs), "--agent-pids", me,
                        "--log-level", logLevel] + (scans ? ["--pass-executables", "true"] : []),
            uid: 0, gid: 0, capabilities: scans ? Self.sensorScanCapabilities : Self.sensorCapabilities,
            seccompRole: .sensor, fds: [sensorListener])
        sensor.stdoutFD = 2
        var detect = ChildSpec(
            name: "edr-detect", executable: options.binDirectory + "/edr-detect",
            arguments: ["--sensor-socket", sensorSocketPath, "--rules", ChildArguments.join(c.sigma.rules),
                        "--respond-socket", c.response.enabled ? respondSocketPath : "", "--min-level", c.response.minLevel,
                        "--host-name", c.agent.hostName, "--log-level", logLevel,
                        "--yara-rules", ChildArguments.join(c.yara.rules), "--ioc-rules", ChildArguments.join(c.ioc.rules),
                        "--yara-max-file-mib", String(c.yara.maxFileMiB), "--yara-timeout-seconds", String(c.yara.scanTimeoutSeconds),
                        "--yara-cache-entries", String(c.yara.cacheEntries), "--yara-cache-ttl-seconds", String(c.yara.cacheTTLSeconds),
                        "--yara-allowlist", ChildArguments.join(c.yara.allowlist), "--watch-rules", String(c.detect.watchRules),
                        "--exclude-paths", ChildArguments.join(c.detect.excludePaths)] + (options.printAlerts ? ["--print-alerts"] : []),
            uid: detectUser.uid, gid: detectUser.gid, capabilities: [], seccompRole: .detector, fds: [alertFD])
        detect.stdoutFD = options.printAlerts ? 1 : 2
        let levels = ["informational", "low", "medium", "high", "critical"]
        var respond = ChildSpec(
            name: "edr-respond", executable: options.binDirectory + "/edr-respond",
            arguments: ["--detector-uid", String(detectUser.uid), "--enabled", String(c.response.enabled),
                        "--min-level", String(levels.firstIndex(of: c.response.minLevel) ?? 4), "--agent-pids", me,
                        "--log-level", logLevel],
            uid: respondUser.uid, gid: respondUser.gid, capabilities: Self.responderCapabilities, seccompRole: .responder,
            fds: [respondListener])
        respond.stdoutFD = 2

        for exe in [sensor.executable, detect.executable, respond.executable] where access(exe, X_OK) != 0 {
            throw EDRError("\(exe) is missing or not executable (build with `make build`)")
        }
        children = [Child(role: "sensor", spec: sensor), Child(role: "detect", spec: detect)]
        if c.response.enabled { children.append(Child(role: "respond", spec: respond)) }

        installSignalHandlers()
        startTime = monotonicNanos()
        for child in children { try start(child) }
        let code = loop()
        shutdown()
        return code
    }

    private func start(_ child: Child) throws {
        var fds = [Int32](repeating: -1, count: 2)
        guard pipe(&fds) == 0 else { throw SystemError("pipe") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var spec = child.spec
        spec.fds = [fds[1]] + spec.fds
        let pid: pid_t
        do {
            pid = try Spawner.spawn(spec)
        } catch {
            close(fds[0]); close(fds[1])
            throw error
        }
        close(fds[1])
        if child.statusRead >= 0 { close(child.statusRead) }
        child.statusRead = fds[0]
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        child.pid = pid
        child.ready = nil
        child.statusBuffer = []
        child.startedAt = monotonicNanos()
        Log.info("started \(spec.name) pid \(pid) (uid \(spec.uid), capabilities \(capabilityNames(Capability.mask(spec.capabilities))))")
    }

    private func loop() -> Int32 {
        while Self.stopSignal == 0 {
            var pfds = children.map { pollfd(fd: $0.statusRead, events: Int16(POLLIN), revents: 0) }
            pfds.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            // Sleep until a child reports, a signal arrives, or a restart or the summary is due.
            var timeout: Int32 = -1
            let before = monotonicNanos()
            for child in children {
                if let at = child.restartAt { timeout = min(timeout < 0 ? Int32.max : timeout, Int32(clamping: at > before ? (at - before) / 1_000_000 + 1 : 0)) }
            }
            if !summaryPrinted || wakeRead < 0 { timeout = timeout < 0 ? 100 : min(timeout, 100) }
            _ = poll(&pfds, nfds_t(pfds.count), timeout)
            if pfds[pfds.count - 1].revents & Int16(POLLIN) != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drain, drain.count) > 0 {}
            }
            for (i, child) in children.enumerated() where pfds[i].revents & Int16(POLLIN | POLLHUP) != 0 {
                readStatus(child)
            }
            if let code = reap() { return code }
            if Self.hangupSignal != 0 {
                Self.hangupSignal = 0
                // Reload: the detector rebuilds every detector set it has.
                for child in children where child.role == "detect" && child.pid > 0 { kill(child.pid, SIGHUP) }
                Log.info("SIGHUP: asked edr-detect to reload its rules")
            }
            let now = monotonicNanos()
            for child in children {
                if let at = child.restartAt, now >= at {
                    child.restartAt = nil
                    do {
                        try start(child)
                    } catch {
                        Log.error("restarting \(child.spec.name): \(error)")
                        scheduleRestart(child, reason: "spawn failed")
                    }
                }
                // A child that stayed up 30 s is healthy again: reset its backoff.
                if child.pid > 0 && child.consecutiveFailures > 0 && now &- child.startedAt > 30_000_000_000 && now > child.startedAt {
                    child.consecutiveFailures = 0
                }
            }
            if !summaryPrinted && (children.allSatisfy { $0.ready != nil } || now - startTime > 60_000_000_000) {
                printSummary()
            }
        }
        Log.info("received signal \(Self.stopSignal); stopping")
        return 0
    }

    private func readStatus(_ child: Child) {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(child.statusRead, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            child.statusBuffer.append(contentsOf: buf[0..<n])
            while let nl = child.statusBuffer.firstIndex(of: 0x0A) {
                let line = String(decoding: child.statusBuffer[..<nl], as: UTF8.self).filter { !$0.isNewline && $0.asciiValue.map { $0 >= 0x20 } ?? true }
                child.statusBuffer.removeFirst(nl + 1)
                if line.hasPrefix("READY ") {
                    let wasReady = summaryPrinted
                    child.ready = String(line.dropFirst(6).prefix(2000))
                    if wasReady { Log.info("\(child.spec.name) pid \(child.pid) ready again: \(child.ready!)") }
                } else {
                    Log.info("\(child.spec.name): \(line.prefix(2000))")
                }
            }
        }
    }

    /// Collects dead children; schedules restarts. Returns an exit code on a crash loop.
    private func reap() -> Int32? {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return nil }
            guard let child = children.first(where: { $0.pid == pid }) else { continue }
            child.pid = 0
            let why: String
            if status & 0x7f == 0 {
                why = "exited with status \((status >> 8) & 0xff)"
            } else {
                let sig = status & 0x7f
                why = "killed by signal \(sig) (\(String(cString: strsignal(sig))))"
            }
            Log.error("\(child.spec.name) pid \(pid) \(why)")
            if Self.stopSignal != 0 { continue }
            let now = monotonicNanos()
            let window = UInt64(options.config.supervisor.crashLoopWindowSeconds) * 1_000_000_000
            child.restarts = child.restarts.filter { now - $0 < window } + [now]
            if child.restarts.count > options.config.supervisor.crashLoopRestarts {
                Log.error("\(child.spec.name) died \(child.restarts.count) times within \(options.config.supervisor.crashLoopWindowSeconds) s: crash loop, giving up and stopping the agent")
                return 1
            }
            scheduleRestart(child, reason: why)
        }
    }

    private func scheduleRestart(_ child: Child, reason: String) {
        let s = options.config.supervisor
        let delay = min(s.maxRestartDelayMs, s.restartDelayMs << min(child.consecutiveFailures, 16))
        child.consecutiveFailures += 1
        child.restartAt = monotonicNanos() + UInt64(delay) * 1_000_000
        Log.warning("restarting \(child.spec.name) in \(delay) ms (\(reason); restart \(child.restarts.count) of at most \(s.crashLoopRestarts) in \(s.crashLoopWindowSeconds) s)")
    }

    private func printSummary() {
        summaryPrinted = true
        var lines = ["edr \(AgentVersion.version) running (supervisor pid \(getpid()))"]
        for child in children {
            var line = "  \(child.role.padding(8)) pid \(child.pid)"
            if let st = try? ProcStatus.read(pid: child.pid) {
                line += "  uid \(st.uids.first ?? 0)  CapEff \(capabilityNames(st.capEff))  NoNewPrivs \(st.noNewPrivs)  Seccomp \(st.seccomp)"
            }
            lines.append(line)
            lines.append("           \(child.ready ?? "not ready")")
        }
        lines.append("  alerts → \(options.config.alerts.path == "-" ? "standard output" : options.config.alerts.path)")
        lines.append("  response \(options.config.response.enabled ? "enabled at \(options.config.response.minLevel) and above" : "disabled")")
        lines.append("edr: ready")
        let text = lines.joined(separator: "\n") + "\n"
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
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
        unlink(sensorSocketPath)
        if respondListener >= 0 { unlink(respondSocketPath) }
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
        signal(SIGTERM) { sig in Supervisor.stopSignal = sig; Supervisor.wake() }
        signal(SIGINT) { sig in Supervisor.stopSignal = sig; Supervisor.wake() }
        signal(SIGCHLD) { _ in Supervisor.childSignal = 1; Supervisor.wake() }
        signal(SIGHUP) { _ in Supervisor.hangupSignal = 1; Supervisor.wake() }
        signal(SIGPIPE, SIG_IGN)
    }

    /// Async-signal-safe: one byte into the self-pipe.
    static func wake() {
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
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
            _ = chmod(current, mode) // not subject to the umask
        } else if errno != EEXIST {
            throw SystemError("mkdir", detail: current)
        }
    }
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
