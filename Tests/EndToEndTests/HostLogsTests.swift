import Foundation
import Testing
import EDRCore
import EDRSystem

let hostLogToolsPresent = ([String])(["/usr/sbin/rsyslogd", "/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/logger", "/usr/bin/ssh-keygen"])
    .allSatisfy { access($0, X_OK) == 0 }

/// The host's logs as Sigma sources, end to end: a private rsyslogd (its own configuration,
/// listening on /dev/log, which this machine otherwise lacks) writes Debian-style
/// /var/log/syslog and auth.log files (root:adm 0640) under a temporary directory; the real
/// agent follows them with edr-logs (a dynamic uid whose only supplementary groups are adm
/// and systemd-journal);
/// `logger`, a private sshd on 127.0.0.1 and a CRON-tagged line make SigmaHQ's linux
/// syslog, sshd and cron rules fire; restarts of the agent and of edr-logs alone neither lose
/// nor repeat a line.
/// posix_spawn with an empty signal mask: a test thread blocks SIGTERM and others, which a
/// spawned daemon would otherwise inherit (and never stop on SIGTERM).
func spawnUnblocked(_ path: String, _ args: [String]) throws -> pid_t {
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let argv = ([path] + args).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    let rc = posix_spawn(&pid, path, nil, &attr, argv, environ)
    guard rc == 0 else { throw EDRError("posix_spawn \(path): \(rc)") }
    return pid
}

/// Runs a program with posix_spawn and reaps it with waitpid (no Foundation Process: here its
/// child monitoring missed the exit of ssh and logger once sshd ran, and the test hung).
@discardableResult
func runReaped(_ path: String, _ args: [String], timeout: Double = 20) throws -> Int32 {
    let pid = try spawnUnblocked(path, args)
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return (status >> 8) & 0xff }
        if r < 0 { return -1 }
        if Date() > deadline { kill(pid, SIGKILL); waitpid(pid, &status, 0); throw EDRError("\(path) still running after \(Int(timeout)) s") }
        usleep(20_000)
    }
}

@Suite(
    "Host logs as Sigma sources", .serialized,
    .enabled(if: runningAsRoot && hostLogToolsPresent, "needs root, rsyslog, openssh-server (make deps)"))
final class HostLogsTests {
    let dir: URL
    var rsyslog: pid_t = 0
    var sshd: pid_t = 0
    var createdDevLog = false

    static let syslogRule = "49f5dfc1-f92e-4d34-96fa-feba3f6acf36"  // Disabling Security Tools - Builtin
    static let sshdRule = "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc"  // Suspicious OpenSSH Daemon Error
    static let cronRule = "af202fd3-7bff-4212-a25a-fb34606cfcbe"  // Modifying Crontab

    init() throws {
        dir = URL(fileURLWithPath: "/tmp/edr-hostlogs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("log"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("spool"), withIntermediateDirectories: true)
        chmod(dir.path, 0o755)
        chmod(dir.appendingPathComponent("log").path, 0o755)
    }

    deinit {
        for pid in [sshd, rsyslog] where pid > 0 { kill(pid, SIGKILL); waitpid(pid, nil, 0) }
        if createdDevLog { unlink("/dev/log") }
        try? FileManager.default.removeItem(at: dir)
    }

    var syslogPath: String { dir.appendingPathComponent("log/syslog").path }
    var authPath: String { dir.appendingPathComponent("log/auth.log").path }

    /// rsyslogd as Debian configures it (syslog without auth, auth.log with auth and authpriv,
    /// files root:adm 0640), auth.log in the traditional format and syslog in RFC 3339.
    func startRsyslog() throws {
        try #require(access("/dev/log", F_OK) != 0, "/dev/log exists: another syslog daemon runs; this test brings its own")
        let conf = dir.appendingPathComponent("rsyslog.conf")
        try """
        global(workDirectory="\(dir.path)/spool")
        module(load="imuxsock")
        $FileOwner root
        $FileGroup adm
        $FileCreateMode 0640
        $DirCreateMode 0755
        $Umask 0022
        *.*;auth,authpriv.none \(syslogPath)
        auth,authpriv.* \(authPath);RSYSLOG_TraditionalFileFormat
        """.write(to: conf, atomically: true, encoding: .utf8)
        rsyslog = try spawnUnblocked("/usr/sbin/rsyslogd", ["-n", "-f", conf.path, "-i", dir.appendingPathComponent("rsyslogd.pid").path])
        createdDevLog = true
        let deadline = Date().addingTimeInterval(10)
        while access("/dev/log", F_OK) != 0 && Date() < deadline { usleep(50_000) }
        try #require(access("/dev/log", F_OK) == 0, "rsyslogd did not create /dev/log")
        // Both files exist before the agent starts (as on a host), so edr-logs starts at their end.
        try logger("CRON", "edr-test start")
        try logger("sshd", "edr-test start", priority: "auth.info")
        let fileDeadline = Date().addingTimeInterval(10)
        while (access(syslogPath, F_OK) != 0 || access(authPath, F_OK) != 0) && Date() < fileDeadline { usleep(50_000) }
    }

    func logger(_ tag: String, _ message: String, priority: String = "user.notice") throws {
        #expect(try runReaped("/usr/bin/logger", ["-t", tag, "-p", priority, message]) == 0, "logger")
    }

    func agent() throws -> AgentHarness {
        let corpus = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux/builtin")
        var rules: [String: String] = [:]
        for sub in ["syslog", "sshd", "cron"] {
            let d = corpus.appendingPathComponent(sub)
            for f in try FileManager.default.contentsOfDirectory(atPath: d.path) where f.hasSuffix(".yml") {
                rules["sigmahq-\(f)"] = try String(contentsOf: d.appendingPathComponent(f), encoding: .utf8)
            }
        }
        let h = try AgentHarness(
            extraRules: rules,
            extraConfig: """
                [logs]
                enabled = true
                journal = false
                files = ["\(authPath)", "\(syslogPath)"]
                state_dir = "\(dir.path)/state"
                """)
        guard h.waitFor("edr: ready", timeout: 90) else {
            _ = h.stop()
            Issue.record("agent not ready:\n\(h.output)")
            throw EDRError("agent not ready")
        }
        return h
    }

    static func count(_ h: AgentHarness, rule: String, marker: String) -> Int {
        h.alerts().filter {
            $0.path("rule", "id") as? String == rule && ($0.path("edr", "event", "Message") as? String)?.contains(marker) == true
        }.count
    }

    func waitCount(_ h: AgentHarness, rule: String, marker: String, atLeast n: Int, timeout: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if Self.count(h, rule: rule, marker: marker) >= n { return true }
            usleep(100_000)
        }
        return false
    }

    @Test func sigmaHQRulesFireOnTheHostsLogsAndRestartsNeitherLoseNorRepeat() throws {
        try startRsyslog()
        let m1 = "m1-\(UUID().uuidString.prefix(8))"
        let h1 = try agent()
        #expect(h1.output.contains("edr-logs"), "edr-logs started")

        // syslog: a program says it stops iptables.
        try logger("firewalld", "stopping iptables \(m1)")
        #expect(waitCount(h1, rule: Self.syslogRule, marker: m1, atLeast: 1), "syslog rule:\n\(h1.output)")
        // cron: crontab replaced (cron's own wording; no cron daemon runs here, so logger tags it CRON).
        try logger("CRON", "(root) REPLACE (root) \(m1)", priority: "cron.info")
        #expect(waitCount(h1, rule: Self.cronRule, marker: m1, atLeast: 1), "cron rule")

        // sshd: a failed login against a private sshd whose user name carries one of the
        // rule's keywords (sshd logs it as "Invalid user …" to auth.log).
        let port = try freeLoopbackPort()
        let key = dir.appendingPathComponent("hostkey").path
        try #require(try runReaped("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key], timeout: 30) == 0)
        let sshdConfig = dir.appendingPathComponent("sshd_config")
        try """
        Port \(port)
        ListenAddress 127.0.0.1
        HostKey \(key)
        PidFile \(dir.path)/sshd.pid
        UsePAM no
        SyslogFacility AUTH
        LogLevel INFO
        """.write(to: sshdConfig, atomically: true, encoding: .utf8)
        mkdir("/run/sshd", 0o755)
        sshd = try spawnUnblocked("/usr/sbin/sshd", ["-D", "-f", sshdConfig.path])
        usleep(500_000)
        let user = "Corrupted MAC on input \(m1)"
        _ = try runReaped(
            "/usr/bin/ssh",
            [
                "-p", "\(port)", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-l", user, "127.0.0.1", "true"
            ])
        let sshdFired = waitCount(h1, rule: Self.sshdRule, marker: m1, atLeast: 1)
        let authText = (try? String(contentsOfFile: authPath, encoding: .utf8)) ?? ""
        #expect(sshdFired, "sshd rule; auth.log:\n\(authText)")
        let sshdAlert = h1.alerts().first { $0.path("rule", "id") as? String == Self.sshdRule }
        #expect(sshdAlert?.path("edr", "logsource", "service") as? String == "sshd")
        #expect(sshdAlert?.path("rule", "name") as? String == "Suspicious OpenSSH Daemon Error")

        // edr-logs alone killed (no chance to save): replaced; a line after it comes once,
        // and nothing before it comes again.
        let m2 = "m2-\(UUID().uuidString.prefix(8))"
        usleep(600_000)  // positions are saved within 200 ms of the acknowledgement
        let logsPID = try #require(h1.childPID("edr-logs"))
        kill(logsPID, SIGKILL)
        try logger("firewalld", "stopping iptables \(m2)")
        #expect(waitCount(h1, rule: Self.syslogRule, marker: m2, atLeast: 1, timeout: 20), "line after edr-logs restart")
        usleep(1_500_000)
        #expect(Self.count(h1, rule: Self.syslogRule, marker: m2) == 1)
        let before = (
            Self.count(h1, rule: Self.syslogRule, marker: m1), Self.count(h1, rule: Self.cronRule, marker: m1),
            Self.count(h1, rule: Self.sshdRule, marker: m1)
        )
        #expect(before.0 == 1 && before.1 == 1 && before.2 >= 1, "\(before)")

        // The whole agent stopped; lines written while it is down are read at its next start.
        usleep(600_000)
        #expect(h1.stop() == 0)
        let m3 = "m3-\(UUID().uuidString.prefix(8))"
        try logger("firewalld", "stopping iptables \(m3)")
        try logger("CRON", "(root) REPLACE (root) \(m3)", priority: "cron.info")
        let h2 = try agent()
        defer { _ = h2.stop() }
        #expect(waitCount(h2, rule: Self.syslogRule, marker: m3, atLeast: 1), "syslog line written while the agent was down")
        #expect(waitCount(h2, rule: Self.cronRule, marker: m3, atLeast: 1), "cron line written while the agent was down")
        usleep(1_500_000)
        #expect(Self.count(h2, rule: Self.syslogRule, marker: m3) == 1)
        #expect(Self.count(h2, rule: Self.cronRule, marker: m3) == 1)
        for m in [m1, m2] {
            for rule in [Self.syslogRule, Self.cronRule, Self.sshdRule] {
                #expect(Self.count(h2, rule: rule, marker: m) == 0, "\(rule) \(m) repeated after the restart")
            }
        }
        // Who read the files: edr-logs' uid, not root, with adm as its only supplementary group.
        let pid = try #require(h2.childPID("edr-logs"))
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = { (k: String) in status.split(separator: "\n").first { $0.hasPrefix(k) }.map(String.init) ?? "" }
        let uidLine = line("Uid:"), capLine = line("CapEff:")
        #expect(!uidLine.contains("\t0\t"), "\(uidLine)")
        let groups = line("Groups:").dropFirst(7).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }
        let gid = line("Gid:").dropFirst(4).split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Int($0) }.first
        // [logs] groups default: systemd-journal (when the host has it) and adm, nothing else.
        let journalGroup = getgrnam("systemd-journal").map { [Int($0.pointee.gr_gid)] } ?? []
        #expect(Set(groups) == Set([4] + journalGroup + (gid.map { [$0] } ?? [])), "own gid, adm, systemd-journal only: \(line("Groups:"))")
        #expect(capLine.hasSuffix("0000000000000000"), "\(capLine)")
        #expect(line("NoNewPrivs:").hasSuffix("1") && line("Seccomp:").hasSuffix("2"))
    }
}
