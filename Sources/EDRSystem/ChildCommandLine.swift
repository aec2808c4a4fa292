import EDRCore
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// The rule trees the detector reads, each directory (or a file's directory) held as an
/// O_PATH descriptor: the detector reads beneath it as /proc/self/fd/N/… and Landlock lets it
/// read nothing else. Opened by the supervisor (`edr run`) or by edr-detect itself before it
/// confines itself (its systemd unit).
public struct RuleTrees {
    public var sigma: [String] = []
    public var yara: [String] = []
    public var ioc: [String] = []
    /// Descriptors as opened here, with their paths.
    public var directories: [(fd: Int32, path: String)] = []
    /// The descriptor numbers the detector will see (`childFD(index, opened)`).
    public var childFDs: [Int32] = []
    /// "/proc/self/fd/N/.=PATH" pairs: logs name the real paths.
    public var pathNames: [String] = []

    /// Opens every configured rule path's directory once. `childFD` gives the number the
    /// detector will see for the index-th directory opened here as `opened`.
    public static func open(_ c: AgentConfig, childFD: (Int, Int32) -> Int32) throws -> RuleTrees {
        var t = RuleTrees()
        func ref(_ path: String) throws -> String {
            var st = stat()
            guard stat(path, &st) == 0 else { throw SystemError("stat", detail: path) }
            let isDir = (st.st_mode & S_IFMT) == S_IFDIR
            let dir = isDir ? path : directoryName(of: path)
            let index: Int
            if let i = t.directories.firstIndex(where: { $0.path == dir }) {
                index = i
            } else {
                let fd = Glibc.open(dir, Int32(EDR_O_PATH) | O_DIRECTORY | O_CLOEXEC)
                guard fd >= 0 else { throw SystemError("open", detail: dir) }
                t.directories.append((fd, dir))
                t.childFDs.append(childFD(t.directories.count - 1, fd))
                index = t.directories.count - 1
            }
            // "/." so that directory walkers (fts) step through the descriptor's magic link.
            let base = "/proc/self/fd/\(t.childFDs[index])"
            return isDir ? base + "/." : base + "/" + String(path.split(separator: "/").last ?? "")
        }
        t.sigma = try c.sigma.rules.map(ref)
        t.yara = try c.yara.rules.map(ref)
        t.ioc = try c.ioc.rules.map(ref)
        t.pathNames = zip(t.childFDs, t.directories).flatMap { fd, d in
            ["/proc/self/fd/\(fd)/.=\(d.path)", "/proc/self/fd/\(fd)=\(d.path)"]
        }
        return t
    }

    /// Every file the configuration names for the detector, checked like the executables:
    /// writable by root alone.
    public static func checkTrusted(_ c: AgentConfig) throws {
        for p in c.sigma.rules { try TrustedFiles.check(p, what: "[sigma] rules") }
        for p in c.yara.rules { try TrustedFiles.check(p, what: "[yara] rules") }
        for p in c.ioc.rules { try TrustedFiles.check(p, what: "[ioc] rules") }
    }
}

/// The arguments of each child, from the configuration: one place for `edr run` and for the
/// children started by their own systemd units.
public enum ChildCommandLine {
    public static func scans(_ c: AgentConfig) -> Bool { !c.yara.rules.isEmpty || !c.ioc.rules.isEmpty }

    public static func sensor(_ c: AgentConfig, bpfObject: String, agentPIDs: [Int32]) -> [String] {
        [
            "--bpf-object", bpfObject,
            "--ring-buffer-mib", String(c.sensor.ringBufferMiB), "--replay-buffer-mib", String(c.sensor.replayBufferMiB),
            "--stats-interval-seconds", String(c.sensor.statsIntervalSeconds), "--max-batch-delay-ms", String(c.sensor.maxBatchDelayMs),
            "--agent-pids", ChildArguments.join(agentPIDs.map(String.init)),
            "--log-level", c.agent.logLevel
        ] + (scans(c) ? ["--pass-executables", "true"] : [])
    }

    public static func detector(_ c: AgentConfig, rules: RuleTrees, host: HealthAlert.Host, passwdFD: Int32, printAlerts: Bool) -> [String] {
        [
            "--rules", ChildArguments.join(rules.sigma), "--respond", String(c.response.enabled), "--min-level", c.response.minLevel,
            "--host-name", host.name, "--host-id", host.id, "--log-level", c.agent.logLevel,
            "--yara-rules", ChildArguments.join(rules.yara), "--ioc-rules", ChildArguments.join(rules.ioc),
            "--yara-max-file-mib", String(c.yara.maxFileMiB), "--yara-timeout-seconds", String(c.yara.scanTimeoutSeconds),
            "--yara-cache-entries", String(c.yara.cacheEntries), "--yara-cache-ttl-seconds", String(c.yara.cacheTTLSeconds),
            "--yara-allowlist", ChildArguments.join(c.yara.allowlist), "--watch-rules", String(c.detect.watchRules),
            "--exclude-paths", ChildArguments.join(c.detect.excludePaths), "--passwd-fd", String(passwdFD),
            "--environment", ChildArguments.join(c.telemetry.environment),
            "--read-fds", ChildArguments.join(rules.childFDs.map(String.init)),
            "--path-names", ChildArguments.join(rules.pathNames)
        ] + (printAlerts ? ["--print-alerts"] : [])
    }

    public static let levels = ["informational", "low", "medium", "high", "critical"]

    /// edr-logs: the files to follow, whether to read the journal.
    public static func logs(_ c: AgentConfig) -> [String] {
        ["--files", ChildArguments.join(c.logs.files), "--journal", String(c.logs.journal), "--log-level", c.agent.logLevel]
    }

    public static func responder(_ c: AgentConfig, protectedUIDs: [UInt32], agentPIDs: [Int32], protectedExecutables extra: [String] = []) -> [String] {
        [
            "--enabled", String(c.response.enabled),
            "--min-level", String(levels.firstIndex(of: c.response.minLevel) ?? 4),
            "--agent-pids", ChildArguments.join(agentPIDs.map(String.init)),
            "--dry-run", String(c.response.dryRun), "--max-kills-per-minute", String(c.response.maxKillsPerMinute),
            "--protected-executables", ChildArguments.join(c.response.protectedExecutables + extra),
            "--protected-uids", ChildArguments.join(protectedUIDs.map(String.init)),
            "--log-level", c.agent.logLevel
        ]
    }
}

/// What a child started by its own systemd unit (`edr-<role> --config FILE`) does before it
/// confines itself: load and check the configuration, take systemd's sockets and connect to
/// its notification socket (which becomes the control channel).
public struct UnitStart {
    public var config: AgentConfig
    public var configPath: String
    public var listenFDs: [String: Int32]
    /// The directory of this executable (the BPF object lies beside the binaries).
    public var binDirectory: String

    /// nil when the process was not started as `<exe> --config FILE` (it was spawned by `edr run`).
    public static func fromCommandLine() throws -> UnitStart? {
        let args = Array(CommandLine.arguments.dropFirst())
        guard args.first == "--config" else { return nil }
        guard args.count == 2 else { throw EDRError("usage: \(CommandLine.arguments[0]) --config FILE (started by its systemd unit)") }
        let path = args[1]
        try TrustedFiles.check(path, what: "configuration file")
        let env = processEnvironment()
        let config: AgentConfig
        do { config = try AgentConfig.load(file: path, environment: env) } catch { throw EDRError("\(error)") }
        let fds = try Systemd.listenFDs()
        if let notify = try Systemd.connectNotifySocket() {
            ChildFD.control = notify
            ChildFD.controlIsSystemd = true
        } else {
            ChildFD.control = -1
        }
        var exe = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &exe, exe.count - 1)
        let bin = n > 0 ? directoryName(of: String(decoding: exe[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)) : "/usr/lib/edr"
        return UnitStart(config: config, configPath: path, listenFDs: fds, binDirectory: bin)
    }

    /// The socket systemd passed under `name` (FileDescriptorName=), or an error naming the unit.
    public func listener(_ name: String, unit: String) throws -> Int32 {
        guard let fd = listenFDs[name] else {
            throw EDRError("no socket named \"\(name)\" from systemd: start this process through \(unit) (socket activation), not by hand")
        }
        return fd
    }

    /// The uid of a configured user, which a systemd-mode peer must have.
    public static func uid(of user: String, key: String) throws -> UInt32 {
        guard !user.isEmpty else { throw EDRError("\(key) must name the unit's user under systemd (the package sets it)") }
        return try resolveUser(user).uid
    }
}
