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
    /// log services from the host's logs.
    @Test func validateCoverageOfTheLinuxCorpus() throws {
        let rules = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux").path
        try #require(FileManager.default.fileExists(atPath: rules), "SigmaHQ corpus missing at \(rules)")
        let text = try edr(["validate", "--rules", rules, "--coverage"])
        #expect(text.status == 0, "\(text.output)")
        #expect(text.output.contains("  linux/auditd                   48 live (4 partially), 5 inert\n"), "\(text.output)")
        // The host's logs (edr-logs) feed syslog, sshd, cron, vsftpd, clamav and guacamole: the
        // five inert rules left are auditd ones, each with its reason.
        #expect(text.output.contains("210 rules: 205 live (4 partially), 5 inert, 0 rejected\n"), "\(text.output)")
        #expect(text.output.contains("  linux/sshd                     1 live, 0 inert\n"), "\(text.output)")
        #expect(!text.output.contains("INERT    linux/sshd"))
        #expect(text.output.contains("lnx_auditd_susp_c2_commands.yml [f7158a64-6204-4d6d-868a-6e6378b467e0] Suspicious C2 Activities\n         never true on product=linux service=auditd events: field 'key'"))
        #expect(text.output.contains("live; can never be true: type 'tty'"))

        let json = try edr(["validate", "--rules", rules, "--coverage", "--json"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let auditd = try #require((doc["logsources"] as? [String: Any])?["linux/auditd"] as? [String: Int])
        #expect(auditd == ["live": 44, "partial": 4, "inert": 5])
        let entries = try #require(doc["rules"] as? [[String: Any]])
        #expect(entries.count == 210)
        let mknod = entries.first { $0["id"] as? String == "710bdbce-495d-491d-9a8f-7d0d88d2b41e" }
        #expect(mknod?["status"] as? String == "inert" && (mknod?["reason"] as? String)?.contains("SYSCALL 'mknod'") == true)
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
            ##"{"System":{"Provider_attributes":{"Name":"Microsoft-Windows-PowerShell"},"EventID":{"#text":4104},"Channel":"Microsoft-Windows-PowerShell/Operational"},"EventData":{"ScriptBlockText":"Invoke-Mimikatz sekurlsa::logonpasswords","ScriptBlockId":"x","Path":""}}"##,
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: d + "/win.ndjson", atomically: true, encoding: .utf8)
        let r = try edr(["replay", "--rules", rules, "--format", "text", d + "/win.ndjson"])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("line 2: invalid JSON"), "\(r.output)")
        #expect(r.output.contains("HH.EXE Execution — pid=6012"), "\(r.output)")
        #expect(r.output.contains("Potential Invoke-Mimikatz PowerShell Script"), "\(r.output)")
    }

    @Test func runRejectsUnknownConfigKeysByName() throws {
        let d = try tempDir()
        try "[alerts]\npaht = \"/tmp/x\"\n".write(toFile: d + "/edr.toml", atomically: true, encoding: .utf8)
        let r = try edr(["run", "--config", d + "/edr.toml"])
        #expect(r.status != 0)
        #expect(r.output.contains("unknown key 'alerts.paht'"), "\(r.output)")
    }
}
