import Foundation
import EDRCore
import EDRSystem

let runningAsRoot = getuid() == 0
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let binDirectory: String = ProcessInfo.processInfo.environment["EDR_BIN_DIR"] ?? repoRoot.appendingPathComponent(".build/debug").path

/// A real `edr run` in a temporary directory, with its own rules, alert file and sockets.
final class AgentHarness: @unchecked Sendable {
    let dir: URL
    let process = Process()
    let alertsPath: String
    private let lock = NSLock()
    private var log = ""
    private var alertOffset = 0

    var rulesDir: URL { dir.appendingPathComponent("rules") }
    var configPath: String { dir.appendingPathComponent("edr.toml").path }
    var runtimeDir: String { dir.appendingPathComponent("run").path }

    init(
        extraRules: [String: String] = [:], response: Bool = false, minLevel: String = "critical",
        extraConfig: String = "", responseConfig: String = "", supervisorConfig: String = "", alertsConfig: String = "",
        bin: String = binDirectory, base: String = "/tmp", environment: [String: String] = [:], journal: Bool = false,
        prepare: ((URL) throws -> Void)? = nil
    ) throws {
        dir = URL(fileURLWithPath: base).appendingPathComponent("edr-e2e-\(UUID().uuidString.prefix(8))")
        let rules = dir.appendingPathComponent("rules")
        try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
        for (name, text) in extraRules { try text.write(to: rules.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        // The detector reads the rules through a descriptor the supervisor opened: the
        // directory must be readable by others, but nothing above it needs to be.
        chmod(dir.path, 0o755)
        chmod(rules.path, 0o755)
        for name in extraRules.keys { chmod(rules.appendingPathComponent(name).path, 0o644) }
        alertsPath = dir.appendingPathComponent("alerts/alerts.ndjson").path
        try prepare?(dir)
        let config = """
            [sigma]
            rules = ["\(repoRoot.appendingPathComponent("rules/sigma").path)", "\(rules.path)"]
            [alerts]
            path = "\(alertsPath)"
            \(alertsConfig)
            [supervisor]
            runtime_dir = "\(dir.appendingPathComponent("run").path)"
            \(supervisorConfig)
            [response]
            enabled = \(response)
            min_level = "\(minLevel)"
            \(responseConfig)
            [sensor]
            stats_interval_seconds = 1
            \(extraConfig)
            """
        let configPath = dir.appendingPathComponent("edr.toml")
        let resolved = config.replacingOccurrences(of: "__DIR__", with: dir.path)
        try resolved.write(to: configPath, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: bin + "/edr")
        process.arguments = ["run", "--config", configPath.path]
        let pipe = Pipe()
        var env = environment
        if journal {
            // As systemd does when standard error is the journal: JOURNAL_STREAM names it.
            var st = stat()
            fstat(pipe.fileHandleForWriting.fileDescriptor, &st)
            env["JOURNAL_STREAM"] = "\(st.st_dev):\(st.st_ino)"
        }
        if !env.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        process.standardError = pipe
        process.standardOutput = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let data = h.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock(); self.log += String(decoding: data, as: UTF8.self); self.lock.unlock()
        }
        try process.run()
    }

    var output: String { lock.lock(); defer { lock.unlock() }; return log }

    /// Waits for `text` in the agent's output; false at once when the agent exited or (for
    /// "edr: ready") said it is not ready, so an agent that cannot start fails fast.
    func waitFor(_ text: String, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let out = output
            if out.contains(text) { return true }
            if text == "edr: ready" && out.contains("edr: not ready") { return false }
            if !process.isRunning { return output.contains(text) }
            usleep(50_000)
        }
        return false
    }

    /// Alerts written so far, parsed.
    func alerts() -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: alertsPath) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Waits for an alert satisfying `match`.
    func waitForAlert(timeout: Double = 15, _ match: ([String: Any]) -> Bool) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let a = alerts().first(where: match) { return a }
            usleep(50_000)
        }
        return nil
    }

    /// Every child of the supervisor, by pid (while it runs).
    func childPIDs() -> [Int32] {
        let me = process.processIdentifier
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { e in
            guard let pid = Int32(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
                parseStatPPid(stat) == me
            else { return nil }
            return pid
        }
    }

    /// Alerts of the agent's own rulesets (edr-health, edr-response).
    func alerts(ruleset: String) -> [[String: Any]] {
        alerts().filter { $0.path("rule", "ruleset") as? String == ruleset }
    }

    /// Children of the supervisor by executable name.
    func childPID(_ name: String) -> Int32? {
        let me = process.processIdentifier
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for e in entries {
            guard let pid = Int32(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
                parseStatPPid(stat) == me, let comm = try? String(contentsOfFile: "/proc/\(e)/comm", encoding: .utf8)
            else { continue }
            if comm.trimmingCharacters(in: .whitespacesAndNewlines) == name && isAlive(pid) { return pid }
        }
        return nil
    }

    func stop() -> Int32 {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: dir)
    }
}

/// Runs a program and waits for it.
@discardableResult
func runProgram(_ path: String, _ args: [String], cwd: String? = nil) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return p.processIdentifier
}

extension Dictionary where Key == String, Value == Any {
    func path(_ keys: String...) -> Any? {
        var cur: Any? = self
        for k in keys { cur = (cur as? [String: Any])?[k] }
        return cur
    }
}

/// Running and not a zombie (a killed child stays a zombie until its parent reaps it).
func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// Starts a program with posix_spawn; the caller waits for it with waitpid.
func spawnChild(_ path: String, _ args: [String]) throws -> pid_t {
    var pid: pid_t = 0
    let argv = ([path] + args).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    let rc = posix_spawn(&pid, path, nil, nil, argv, environ)
    guard rc == 0 else { throw EDRError("posix_spawn \(path): \(rc)") }
    return pid
}

/// A loopback TCP port no one listens on now (the kernel's pick for port 0). Tests that start
/// servers of their own run in parallel: a port derived from the pid would be the same for all.
func freeLoopbackPort() throws -> Int {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard s >= 0 else { throw EDRError("socket: \(errno)") }
    defer { close(s) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) == 0 && getsockname(s, $0, &len) == 0 }
    }
    guard bound else { throw EDRError("bind 127.0.0.1:0: \(errno)") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
