import TOMLKit

/// The agent's configuration: built-in defaults, then a TOML file, then `EDR__SECTION__KEY`
/// environment variables (each value parsed as TOML). A key the agent does not know is an
/// error that names it, wherever it came from.
public struct AgentConfig: Sendable, Equatable {
    public struct Agent: Sendable, Equatable {
        /// host.name in alerts; empty means the kernel's host name.
        public var hostName = ""
        public var logLevel = "info"
    }
    public struct Sensor: Sendable, Equatable {
        public var ringBufferMiB = 16
        /// Path of the compiled BPF object; empty means next to the executables.
        public var bpfObject = ""
        /// Frames kept until the detector acknowledges them, replayed after it restarts.
        public var replayBufferMiB = 64
        public var statsIntervalSeconds = 10
        /// Longest a record waits in the ring buffer while records keep coming. The first
        /// record after a quiet spell wakes the sensor at once; under load the sensor drains in
        /// batches whose delay grows with the rate and reaches this at 5,000 records/s, because
        /// on this class of machine each wake-up costs 20–50 µs of CPU. Larger: less CPU under
        /// load, later alerts under load.
        public var maxBatchDelayMs = 60
    }
    public struct Detect: Sendable, Equatable {
        /// The user edr-detect runs as (name or numeric uid). Empty: an unused uid picked at
        /// start from 61184–65519 (as systemd's DynamicUser does), never one another process
        /// has. A named user must be one no other process runs as (not root, not nobody).
        public var user = ""
        /// Rebuild a detector when its rule files change (inotify, polling as fallback).
        public var watchRules = true
        /// File events under these path prefixes are dropped.
        public var excludePaths: [String] = []
    }
    public struct Telemetry: Sendable, Equatable {
        /// Environment variables at exec that become process_creation fields (`Environment`,
        /// `Env.NAME`); no other variable leaves the detector. Exact, case-sensitive names.
        public var environment = ["LD_PRELOAD", "LD_LIBRARY_PATH"]
    }
    public struct Yara: Sendable, Equatable {
        public var rules: [String] = []
        public var maxFileMiB = 64
        public var scanTimeoutSeconds = 10
        public var cacheEntries = 10_000
        public var cacheTTLSeconds = 6 * 3600
        /// Executables under these prefixes are neither scanned nor hashed.
        public var allowlist: [String] = []
    }
    public struct IOC: Sendable, Equatable {
        /// Directories holding domains.txt, ips.txt, hashes.txt, paths_regex.txt.
        public var rules: [String] = []
    }
    public struct Sigma: Sendable, Equatable {
        public var rules: [String] = []
    }
    public struct Alerts: Sendable, Equatable {
        /// NDJSON alert file; "-" writes to standard output.
        public var path = "/var/log/edr/alerts.ndjson"
        /// Rotate the file at this size (0: never; leave rotation to logrotate, which sends
        /// SIGHUP so that the supervisor reopens the file).
        public var maxSizeMiB = 0
        /// Rotated files kept by the size-based rotation: path.1 … path.N.
        public var keep = 5
    }
    public struct Response: Sendable, Equatable {
        public var enabled = false
        public var minLevel = "critical"
        /// The user edr-respond runs as; it keeps CAP_KILL only. Empty: an unused uid, as for
        /// [detect] user.
        public var user = ""
        /// Report what would be killed; kill nothing.
        public var dryRun = false
        /// Kills within any 60 s; further requests are refused and reported.
        public var maxKillsPerMinute = 100
        /// Executables never killed: exact paths, or prefixes ending in "/".
        public var protectedExecutables = AgentConfig.defaultProtectedExecutables
        /// Users (names or uids) whose processes are never killed.
        public var protectedUsers: [String] = []
    }
    public struct Metrics: Sendable, Equatable {
        /// node_exporter's textfile-collector directory: the supervisor writes edr.prom there
        /// every 2 s (no agent process listens on a network socket). Empty: off.
        public var textfileDir = ""
    }
    public struct Supervisor: Sendable, Equatable {
        /// edr.pid (for logrotate's SIGHUP) and status.json (`edr status`); named sockets of
        /// the systemd units.
        public var runtimeDir = "/run/edr"
        public var restartDelayMs = 100
        public var maxRestartDelayMs = 5000
        /// A child that dies this many times within the window is not restarted again.
        public var crashLoopRestarts = 5
        public var crashLoopWindowSeconds = 60
    }

    /// The host's logs as Sigma sources (`product: linux, service: syslog, sshd, cron, sudo,
    /// auth, vsftpd, clamav, guacamole`), read by edr-logs (docs/security.md).
    public struct Logs: Sendable, Equatable {
        public var enabled = false
        /// Read the systemd journal (`journalctl -o export --follow`) when one exists.
        public var journal = true
        /// Syslog-style files followed by inode and offset (rotation by rename is followed).
        public var files = ["/var/log/auth.log", "/var/log/syslog"]
        /// Where the reader's positions are kept (journal cursor, inode and offset per file):
        /// the supervisor opens logs.state there as root and hands it to the reader.
        public var stateDir = "/var/lib/edr"
        /// The user edr-logs runs as. Empty: a dynamic uid, as for [detect] user.
        public var user = ""
        /// Supplementary groups edr-logs gets (and no other): systemd-journal reads the
        /// journal, adm reads /var/log/auth.log and /var/log/syslog on Debian. Groups that do
        /// not exist on the host are left out.
        public var groups = ["systemd-journal", "adm"]
    }

    public static let defaultProtectedExecutables = [
        "/usr/sbin/sshd", "/usr/lib/systemd/", "/lib/systemd/", "/usr/bin/systemd", "/sbin/init", "/usr/sbin/init",
        "/usr/bin/dbus-daemon"
    ]

    public var agent = Agent()
    public var sensor = Sensor()
    public var detect = Detect()
    public var telemetry = Telemetry()
    public var sigma = Sigma()
    public var yara = Yara()
    public var ioc = IOC()
    public var alerts = Alerts()
    public var response = Response()
    public var supervisor = Supervisor()
    public var metrics = Metrics()
    public var logs = Logs()

    public init() {}
}

/// A configuration value, independent of the TOML library.
public indirect enum ConfigValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([ConfigValue])
    case table([(String, ConfigValue)])

    public static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.table(let x), .table(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: return false
        }
    }

    var typeName: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "a boolean"
        case .array: return "an array"
        case .table: return "a table"
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension AgentConfig {
    private typealias Setter = @Sendable (inout AgentConfig, ConfigValue, String) throws(ConfigError) -> Void

    /// Every key the agent knows: section → key → how to set it.
    private static let schema: [String: [String: Setter]] = [
        "agent": [
            "host_name": { c, v, w throws(ConfigError) in c.agent.hostName = try string(v, w) },
            "log_level": { c, v, w throws(ConfigError) in
                let s = try string(v, w)
                guard ["debug", "info", "warning", "error"].contains(s) else {
                    throw ConfigError("\(w): log_level must be debug, info, warning or error, not \"\(s)\"")
                }
                c.agent.logLevel = s
            }
        ],
        "sensor": [
            "ring_buffer_mib": { c, v, w throws(ConfigError) in
                let n = try int(v, w, range: 1...1024)
                guard n & (n - 1) == 0 else { throw ConfigError("\(w): ring_buffer_mib must be a power of two, not \(n)") }
                c.sensor.ringBufferMiB = n
            },
            "bpf_object": { c, v, w throws(ConfigError) in c.sensor.bpfObject = try string(v, w) },
            "replay_buffer_mib": { c, v, w throws(ConfigError) in c.sensor.replayBufferMiB = try int(v, w, range: 1...4096) },
            "stats_interval_seconds": { c, v, w throws(ConfigError) in c.sensor.statsIntervalSeconds = try int(v, w, range: 1...3600) },
            "max_batch_delay_ms": { c, v, w throws(ConfigError) in c.sensor.maxBatchDelayMs = try int(v, w, range: 1...1000) }
        ],
        "detect": [
            "user": { c, v, w throws(ConfigError) in c.detect.user = try string(v, w) },
            "watch_rules": { c, v, w throws(ConfigError) in c.detect.watchRules = try bool(v, w) },
            "exclude_paths": { c, v, w throws(ConfigError) in c.detect.excludePaths = try strings(v, w) }
        ],
        "telemetry": [
            "environment": { c, v, w throws(ConfigError) in
                let names = try strings(v, w)
                for (i, n) in names.enumerated() {
                    guard !n.isEmpty, !n.contains("="), !n.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                        throw ConfigError("\(w)[\(i)]: \"\(n)\" is not an environment variable name (empty, or contains \"=\" or a control character)")
                    }
                }
                c.telemetry.environment = names
            }
        ],
        "yara": [
            "rules": { c, v, w throws(ConfigError) in c.yara.rules = try strings(v, w) },
            "max_file_mib": { c, v, w throws(ConfigError) in c.yara.maxFileMiB = try int(v, w, range: 1...4096) },
            "scan_timeout_seconds": { c, v, w throws(ConfigError) in c.yara.scanTimeoutSeconds = try int(v, w, range: 1...3600) },
            "cache_entries": { c, v, w throws(ConfigError) in c.yara.cacheEntries = try int(v, w, range: 1...10_000_000) },
            "cache_ttl_seconds": { c, v, w throws(ConfigError) in c.yara.cacheTTLSeconds = try int(v, w, range: 1...30 * 86400) },
            "allowlist": { c, v, w throws(ConfigError) in c.yara.allowlist = try strings(v, w) }
        ],
        "ioc": [
            "rules": { c, v, w throws(ConfigError) in c.ioc.rules = try strings(v, w) }
        ],
        "sigma": [
            "rules": { c, v, w throws(ConfigError) in c.sigma.rules = try strings(v, w) }
        ],
        "alerts": [
            "path": { c, v, w throws(ConfigError) in c.alerts.path = try string(v, w) },
            "max_size_mib": { c, v, w throws(ConfigError) in c.alerts.maxSizeMiB = try int(v, w, range: 0...1_000_000) },
            "keep": { c, v, w throws(ConfigError) in c.alerts.keep = try int(v, w, range: 1...1000) }
        ],
        "response": [
            "enabled": { c, v, w throws(ConfigError) in c.response.enabled = try bool(v, w) },
            "min_level": { c, v, w throws(ConfigError) in
                let s = try string(v, w).lowercased()
                guard ["informational", "low", "medium", "high", "critical"].contains(s) else {
                    throw ConfigError("\(w): min_level must be informational, low, medium, high or critical, not \"\(s)\"")
                }
                c.response.minLevel = s
            },
            "user": { c, v, w throws(ConfigError) in c.response.user = try string(v, w) },
            "dry_run": { c, v, w throws(ConfigError) in c.response.dryRun = try bool(v, w) },
            "max_kills_per_minute": { c, v, w throws(ConfigError) in c.response.maxKillsPerMinute = try int(v, w, range: 0...100_000) },
            "protected_executables": { c, v, w throws(ConfigError) in
                let list = try strings(v, w)
                for (i, p) in list.enumerated() where !p.hasPrefix("/") {
                    throw ConfigError("\(w)[\(i)]: \"\(p)\" is not an absolute path")
                }
                c.response.protectedExecutables = list
            },
            "protected_users": { c, v, w throws(ConfigError) in c.response.protectedUsers = try strings(v, w) }
        ],
        "logs": [
            "enabled": { c, v, w throws(ConfigError) in c.logs.enabled = try bool(v, w) },
            "journal": { c, v, w throws(ConfigError) in c.logs.journal = try bool(v, w) },
            "files": { c, v, w throws(ConfigError) in
                let list = try strings(v, w)
                for (i, p) in list.enumerated() where !p.hasPrefix("/") {
                    throw ConfigError("\(w)[\(i)]: \"\(p)\" must be an absolute path")
                }
                c.logs.files = list
            },
            "state_dir": { c, v, w throws(ConfigError) in
                let s = try string(v, w)
                guard s.hasPrefix("/") else { throw ConfigError("\(w): \"\(s)\" must be an absolute path") }
                c.logs.stateDir = s
            },
            "user": { c, v, w throws(ConfigError) in c.logs.user = try string(v, w) },
            "groups": { c, v, w throws(ConfigError) in c.logs.groups = try strings(v, w) }
        ],
        "metrics": [
            "textfile_dir": { c, v, w throws(ConfigError) in c.metrics.textfileDir = try string(v, w) }
        ],
        "supervisor": [
            "runtime_dir": { c, v, w throws(ConfigError) in c.supervisor.runtimeDir = try string(v, w) },
            "restart_delay_ms": { c, v, w throws(ConfigError) in c.supervisor.restartDelayMs = try int(v, w, range: 0...60000) },
            "max_restart_delay_ms": { c, v, w throws(ConfigError) in c.supervisor.maxRestartDelayMs = try int(v, w, range: 0...600_000) },
            "crash_loop_restarts": { c, v, w throws(ConfigError) in c.supervisor.crashLoopRestarts = try int(v, w, range: 1...1000) },
            "crash_loop_window_seconds": { c, v, w throws(ConfigError) in c.supervisor.crashLoopWindowSeconds = try int(v, w, range: 1...86400) }
        ]
    ]

    /// Loads defaults, then `file` (if any), then the environment. Relative paths in the file
    /// (rule directories, alert path) are taken relative to the file's directory.
    public static func load(file: String?, environment: [String: String]) throws(ConfigError) -> AgentConfig {
        var config = AgentConfig()
        if let file {
            let text: String
            do { text = try readTextFile(file) } catch { throw ConfigError("\(file): cannot read: \(error)") }
            try config.apply(toml: text, origin: file)
            config.resolvePaths(relativeTo: directoryName(of: file))
        }
        try config.applyEnvironment(environment)
        return config
    }

    /// Applies a TOML document; `origin` names it in errors.
    public mutating func apply(toml text: String, origin: String) throws(ConfigError) {
        let root: ConfigValue
        do {
            root = Self.convert(try TOMLTable(string: text))
        } catch let e as TOMLParseError {
            throw ConfigError("\(origin):\(e.source.begin.line):\(e.source.begin.column): \(e.description)")
        } catch {
            throw ConfigError("\(origin): \(error)")
        }
        guard case .table(let sections) = root else { return }
        for (section, body) in sections {
            guard let keys = Self.schema[section] else {
                throw ConfigError("\(origin): unknown section [\(section)] (known: \(Self.schema.keys.sorted().joined(separator: ", ")))")
            }
            guard case .table(let entries) = body else {
                throw ConfigError("\(origin): \(section) must be a table")
            }
            for (key, value) in entries {
                guard let set = keys[key] else {
                    throw ConfigError("\(origin): unknown key '\(section).\(key)' (known in [\(section)]: \(keys.keys.sorted().joined(separator: ", ")))")
                }
                try set(&self, value, "\(origin): \(section).\(key)")
            }
        }
    }

    /// Applies `EDR__SECTION__KEY=value` variables; other variables are ignored.
    public mutating func applyEnvironment(_ environment: [String: String]) throws(ConfigError) {
        for (name, raw) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("EDR__") {
            let parts = name.dropFirst(5).components(separatedBy: "__")
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ConfigError("environment variable \(name): expected EDR__SECTION__KEY")
            }
            let section = parts[0].lowercased(), key = parts[1].lowercased()
            guard let keys = Self.schema[section], let set = keys[key] else {
                throw ConfigError("environment variable \(name): unknown key '\(section).\(key)'")
            }
            let value: ConfigValue
            if let parsed = try? TOMLTable(string: "v = \(raw)"), let v = parsed["v"] {
                value = Self.convert(v)
            } else {
                // A bare word is taken as a string, so EDR__ALERTS__PATH=/tmp/a works unquoted.
                value = .string(raw)
            }
            try set(&self, value, "environment variable \(name)")
        }
    }

    mutating func resolvePaths(relativeTo dir: String) {
        func resolve(_ p: String) -> String {
            p.isEmpty || p.hasPrefix("/") || p == "-" ? p : dir + "/" + p
        }
        sigma.rules = sigma.rules.map(resolve)
        yara.rules = yara.rules.map(resolve)
        ioc.rules = ioc.rules.map(resolve)
        alerts.path = resolve(alerts.path)
        if !metrics.textfileDir.isEmpty { metrics.textfileDir = resolve(metrics.textfileDir) }
        supervisor.runtimeDir = resolve(supervisor.runtimeDir)
        if !sensor.bpfObject.isEmpty { sensor.bpfObject = resolve(sensor.bpfObject) }
    }

    private static func convert(_ v: any TOMLValueConvertible) -> ConfigValue {
        switch v.type {
        case .string: return .string(v.string ?? "")
        case .int: return .int(v.int ?? 0)
        case .double: return .double(v.double ?? 0)
        case .bool: return .bool(v.bool ?? false)
        case .array: return .array((v.array.map { Array($0) } ?? []).map { convert($0) })
        case .table:
            guard let t = v.table else { return .table([]) }
            return .table(t.keys.map { ($0, convert(t[$0]!)) })
        default: return .string(v.debugDescription)
        }
    }

    private static func string(_ v: ConfigValue, _ w: String) throws(ConfigError) -> String {
        guard case .string(let s) = v else { throw ConfigError("\(w) must be a string, not \(v.typeName)") }
        return s
    }
    private static func bool(_ v: ConfigValue, _ w: String) throws(ConfigError) -> Bool {
        guard case .bool(let b) = v else { throw ConfigError("\(w) must be true or false, not \(v.typeName)") }
        return b
    }
    private static func int(_ v: ConfigValue, _ w: String, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard case .int(let n) = v else { throw ConfigError("\(w) must be an integer, not \(v.typeName)") }
        guard range.contains(n) else { throw ConfigError("\(w) must be between \(range.lowerBound) and \(range.upperBound), not \(n)") }
        return n
    }
    private static func strings(_ v: ConfigValue, _ w: String) throws(ConfigError) -> [String] {
        guard case .array(let items) = v else { throw ConfigError("\(w) must be an array of strings, not \(v.typeName)") }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let s) = item else { throw ConfigError("\(w)[\(i)] must be a string, not \(item.typeName)") }
            out.append(s)
        }
        return out
    }
}

/// Reads a whole file as UTF-8.
public func readTextFile(_ path: String) throws -> String {
    let bytes = try readFile(path)
    return String(decoding: bytes, as: UTF8.self)
}

/// Reads a whole file.
public func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
    try Platform.readFile(path, limit: limit)
}

public func directoryName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let d = String(path[..<slash])
    return d.isEmpty ? "/" : d
}
