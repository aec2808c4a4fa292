import Testing
import Foundation

struct DeadlineExceeded: Error, CustomStringConvertible {
    let description: String
}

/// Runs a program to completion with stdout and stderr in a file (no pipe that a lingering
/// grandchild could hold open) and a deadline: past it the program is killed and this throws,
/// so a hung command fails its test instead of stalling the suite.
func runWithDeadline(_ path: String, _ args: [String], timeout: Double) throws -> (status: Int32, output: String) {
    let out = NSTemporaryDirectory() + "edr-run-" + UUID().uuidString
    FileManager.default.createFile(atPath: out, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: out) }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    defer { try? handle.close() }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.standardOutput = handle
    p.standardError = handle
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let partial = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        throw DeadlineExceeded(description: "\(path) \(args.joined(separator: " ")) still running after \(Int(timeout)) s; output so far:\n\(partial)")
    }
    p.waitUntilExit()
    return (p.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
}

/// The `edr` command line, run as a user would.
@Suite("edr command line")
struct CLITests {
    func edr(_ args: [String], timeout: Double = 120) throws -> (status: Int32, output: String) {
        try runWithDeadline(binDirectory + "/edr", args, timeout: timeout)
    }

    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "edr-cli-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func versionAndHelp() throws {
        let v = try edr(["version"])
        #expect(v.status == 0 && v.output.hasPrefix("edr "), "\(v.output)")
        let h = try edr(["--help"])
        #expect(h.status == 0)
        for sub in ["run", "validate", "replay", "version", "doctor"] { #expect(h.output.contains(sub)) }
    }

    /// `edr doctor` loads and attaches the real BPF object (then drops it) and reports every
    /// hook; a configuration the supervisor would refuse is a failed check and exit status 1.
    @Test func doctorListsEveryHookAndFailsOnARootDetector() throws {
        let repo = repoRoot.path
        let ok = try edr(["doctor", "--config", repo + "/config/edr.toml", "--json"])
        #expect(ok.status == 0, "\(ok.output)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(ok.output.utf8)) as? [String: Any], "\(ok.output)")
        #expect(doc["ok"] as? Bool == true)
        let hooks = try #require(doc["hooks"] as? [[String: Any]])
        let names = Set(hooks.compactMap { $0["program"] as? String })
        for program in ["edr_exec", "edr_exit", "edr_fork", "edr_sys_enter", "edr_sys_exit"] {
            #expect(names.contains(program), "\(program) not listed: \(names)")
        }
        // This kernel (tp_btf and raw_tp available) attaches every hook.
        #expect(hooks.allSatisfy { $0["attached"] as? Bool == true }, "\(hooks)")
        let checks = try #require(doc["checks"] as? [[String: Any]])
        #expect(checks.contains { $0["name"] as? String == "seccomp" && $0["level"] as? String == "ok" })

        let dir = try tempDir()
        try "[detect]\nuser = \"root\"\n".write(toFile: dir + "/edr.toml", atomically: true, encoding: .utf8)
        let bad = try edr(["doctor", "--config", dir + "/edr.toml"])
        #expect(bad.status == 1, "\(bad.output)")
        #expect(bad.output.contains("FAIL") && bad.output.contains("[detect] user") && bad.output.contains("the agent cannot run"))
    }

    @Test func validateChecksSigmaYaraAndIOC() throws {
        let repo = repoRoot.path
        let good = try edr(["validate", "--rules", repo + "/rules/sigma", "--yara", repo + "/rules/yara", "--ioc", repo + "/rules/ioc"])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("YARA: 1 of 1 files compiled"))

        let bad = try tempDir()
        try "rule r { strings: $a = \"x\" condition: $missing }\n".write(toFile: bad + "/bad.yar", atomically: true, encoding: .utf8)
        try "10.0.0.1;fine\nnot-an-ip;broken\n".write(toFile: bad + "/ips.txt", atomically: true, encoding: .utf8)
        let yara = try edr(["validate", "--yara", bad])
        #expect(yara.status == 1 && yara.output.contains(bad + "/bad.yar:1"), "\(yara.output)")
        let ioc = try edr(["validate", "--ioc", bad])
        #expect(ioc.status == 1 && ioc.output.contains(bad + "/ips.txt:2"), "\(ioc.output)")
    }

    /// `edr validate --coverage` on SigmaHQ's Linux rules: each rule live or inert and why, and
    /// counts per logsource; the auditd rules are live from our own events but for five, the
    /// log services from the host's logs, but only with [logs] enabled: under the built-in
    /// defaults (logs off) those seven are counted apart, with the reason.
    @Test func validateCoverageOfTheLinuxCorpus() throws {
        let rules = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux").path
        try #require(FileManager.default.fileExists(atPath: rules), "SigmaHQ corpus missing at \(rules)")
        let text = try edr(["validate", "--rules", rules, "--coverage"])
        #expect(text.status == 0, "\(text.output)")
        #expect(text.output.contains("  linux/auditd                   48 live (4 partially), 5 inert\n"), "\(text.output)")
        // [logs] enabled = false (the default): the log services' rules are not live.
        #expect(text.output.contains("210 rules: 198 live (4 partially), 7 live only with [logs] enabled, 5 inert, 0 rejected\n"), "\(text.output)")
        #expect(text.output.contains("  linux/sshd                     0 live, 1 live only with [logs] enabled, 0 inert\n"), "\(text.output)")
        #expect(text.output.contains("  linux/syslog                   0 live, 2 live only with [logs] enabled, 0 inert\n"), "\(text.output)")
        #expect(text.output.contains("LOGS-OFF linux/sshd"), "\(text.output)")
        #expect(text.output.contains("live only with [logs] enabled (service sshd is read from the host's logs by edr-logs"), "\(text.output)")
        #expect(!text.output.contains("INERT    linux/sshd"))
        #expect(
            text.output.contains(
                "lnx_auditd_susp_c2_commands.yml [f7158a64-6204-4d6d-868a-6e6378b467e0] Suspicious C2 Activities\n         never true on product=linux service=auditd events: field 'key'"
            ))
        #expect(text.output.contains("live; can never be true: type 'tty'"))

        // With the configuration in force enabling [logs], the host's logs feed syslog, sshd,
        // cron, vsftpd, clamav and guacamole: the five inert rules left are auditd ones.
        let d = try tempDir()
        try "[logs]\nenabled = true\n".write(toFile: d + "/logs.toml", atomically: true, encoding: .utf8)
        let on = try edr(["validate", "--rules", rules, "--coverage", "--config", d + "/logs.toml"])
        #expect(on.output.contains("210 rules: 205 live (4 partially), 5 inert, 0 rejected\n"), "\(on.output)")
        #expect(on.output.contains("  linux/sshd                     1 live, 0 inert\n"), "\(on.output)")
        #expect(!on.output.contains("LOGS-OFF"), "\(on.output)")
        // A bad configuration names the key.
        try "[logs]\nenabled = \"maybe\"\n".write(toFile: d + "/bad.toml", atomically: true, encoding: .utf8)
        let bad = try edr(["validate", "--rules", rules, "--coverage", "--config", d + "/bad.toml"])
        #expect(bad.status != 0 && bad.output.contains("logs.enabled"), "\(bad.output)")

        let json = try edr(["validate", "--rules", rules, "--coverage", "--json"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let auditd = try #require((doc["logsources"] as? [String: Any])?["linux/auditd"] as? [String: Int])
        #expect(auditd == ["live": 44, "partial": 4, "inert": 5])
        #expect(doc["logs_enabled"] as? Bool == false)
        #expect(doc["totals"] as? [String: Int] == ["rules": 210, "live": 194, "partial": 4, "logs-off": 7, "inert": 5], "\(doc["totals"] ?? "")")
        #expect((doc["logsources"] as? [String: Any])?["linux/syslog"] as? [String: Int] == ["logs-off": 2])
        let entries = try #require(doc["rules"] as? [[String: Any]])
        #expect(entries.count == 210)
        let mknod = entries.first { $0["id"] as? String == "710bdbce-495d-491d-9a8f-7d0d88d2b41e" }
        #expect(mknod?["status"] as? String == "inert" && (mknod?["reason"] as? String)?.contains("SYSCALL 'mknod'") == true)
        let jsonOn = try edr(["validate", "--rules", rules, "--coverage", "--json", "--config", d + "/logs.toml"])
        let docOn = try #require(try JSONSerialization.jsonObject(with: Data(jsonOn.output.utf8)) as? [String: Any])
        #expect(docOn["logs_enabled"] as? Bool == true)
        #expect(docOn["totals"] as? [String: Int] == ["rules": 210, "live": 201, "partial": 4, "inert": 5], "\(docOn["totals"] ?? "")")
    }

    /// `edr replay` on Windows event JSON (two exporters' shapes), the agent's own shape and a
    /// broken line: alerts from SigmaHQ's rules, the bad line named by number, exit status 1.
    @Test func replayReadsWindowsEventJSON() throws {
        let rules = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/windows").path
        try #require(FileManager.default.fileExists(atPath: rules), "SigmaHQ corpus missing at \(rules)")
        let d = try tempDir()
        let lines = [
            ##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T12:00:00Z"}}},"EventData":{"ProcessId":6012,"Image":"C:\\Windows\\hh.exe","CommandLine":"hh.exe C:\\Users\\Public\\invoice.chm"}}}"##,
            ##"{"System":{"EventID":"##,
            ##"{"logsource":{"product":"linux","category":"process_creation"},"event":{"Image":"/usr/bin/true"}}"##,
            ##"{"System":{"Provider_attributes":{"Name":"Microsoft-Windows-PowerShell"},"EventID":{"#text":4104},"Channel":"Microsoft-Windows-PowerShell/Operational"},"EventData":{"ScriptBlockText":"Invoke-Mimikatz sekurlsa::logonpasswords","ScriptBlockId":"x","Path":""}}"##
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: d + "/win.ndjson", atomically: true, encoding: .utf8)
        let r = try edr(["replay", "--rules", rules, "--format", "text", d + "/win.ndjson"])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("line 2: invalid JSON"), "\(r.output)")
        #expect(r.output.contains("HH.EXE Execution — pid=6012"), "\(r.output)")
        #expect(r.output.contains("Potential Invoke-Mimikatz PowerShell Script"), "\(r.output)")
    }

    /// `edr replay` of a recorded exec (the process_creation event as the agent's alert holds it
    /// under edr.event) builds the auditd records the live detector builds, so SigmaHQ's
    /// `service: auditd` rules alert in replay as they do live; a record of another category
    /// builds none.
    @Test func replayBuildsAuditdRecordsFromAnExec() throws {
        let rule = repoRoot.deletingLastPathComponent()
            .appendingPathComponent("shared/corpora/sigmahq/rules/linux/auditd/lnx_auditd_system_info_discovery.yml").path
        try #require(FileManager.default.fileExists(atPath: rule), "SigmaHQ corpus missing at \(rule)")
        let d = try tempDir()
        let lines = [
            ##"{"@timestamp":"2027-01-15T08:00:00.500Z","logsource":{"product":"linux","category":"process_creation"},"event":{"UtcTime":"2027-01-15 08:00:00.500","ProcessGuid":"{3d1219c7-0000-0000-0001-918a000033a2}","ProcessId":13218,"Image":"/usr/bin/uname","CommandLine":"uname -a","CurrentDirectory":"/root","User":"root","LogonId":0,"ParentProcessId":13124,"ParentImage":"/usr/bin/bash","ParentCommandLine":"bash"}}"##,
            ##"{"logsource":{"product":"linux","category":"network_connection"},"event":{"Image":"/usr/bin/uname","CommandLine":"uname -a"}}"##
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: d + "/exec.ndjson", atomically: true, encoding: .utf8)
        let r = try edr(["replay", "--rules", rule, d + "/exec.ndjson"])
        #expect(r.status == 0, "\(r.output)")
        let alerts = r.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(alerts.count == 1, "one alert, from the exec's EXECVE record: \(r.output)")
        let a = try #require(alerts.first)
        #expect(a.path("rule", "name") as? String == "System Information Discovery - Auditd", "\(a)")
        #expect(a.path("edr", "logsource", "service") as? String == "auditd", "\(a)")
        #expect(
            a.path("edr", "event", "type") as? String == "EXECVE" && a.path("edr", "event", "a0") as? String == "uname"
                && a.path("edr", "event", "a1") as? String == "-a", "\(a)")
        #expect(a.path("event", "sequence") as? Int == 1, "\(a)")
    }

    /// edr-logs as edr-logs.service starts it (`--config FILE`): a configuration the unit cannot
    /// work with stops it at once with the key named, before it connects anywhere.
    @Test func theLogReaderUnitNamesTheKeyOfABadConfiguration() throws {
        let d = try tempDir()
        chmod(d, 0o755)
        func logs(_ toml: String, stateDirectory: String? = d) throws -> (status: Int32, output: String) {
            try toml.write(toFile: d + "/edr.toml", atomically: true, encoding: .utf8)
            chmod(d + "/edr.toml", 0o644)
            var env = ["PATH=/usr/bin:/bin"]
            if let stateDirectory { env.append("STATE_DIRECTORY=" + stateDirectory) }
            return try runWithDeadline("/usr/bin/env", ["-i"] + env + [binDirectory + "/edr-logs", "--config", d + "/edr.toml"], timeout: 30)
        }
        let off = try logs("[logs]\nenabled = false\n")
        #expect(off.status == 64 && off.output.contains("[logs] enabled is false"), "\(off.output)")
        let noUser = try logs("[logs]\nenabled = true\n")
        #expect(noUser.status == 64 && noUser.output.contains("[logs] user must name the unit's user"), "\(noUser.output)")
        let wrongUser = try logs("[logs]\nenabled = true\nuser = \"nobody\"\n")
        #expect(wrongUser.status == 64 && wrongUser.output.contains("[logs] user is \"nobody\" (uid 65534), but edr-logs runs as uid 0"), "\(wrongUser.output)")
        let badType = try logs("[logs]\nenabled = 1\n")
        #expect(badType.status == 64 && badType.output.contains("logs.enabled"), "\(badType.output)")
    }

    @Test func runRejectsUnknownConfigKeysByName() throws {
        let d = try tempDir()
        try "[alerts]\npaht = \"/tmp/x\"\n".write(toFile: d + "/edr.toml", atomically: true, encoding: .utf8)
        let r = try edr(["run", "--config", d + "/edr.toml"])
        #expect(r.status != 0)
        #expect(r.output.contains("unknown key 'alerts.paht'"), "\(r.output)")
    }
}
