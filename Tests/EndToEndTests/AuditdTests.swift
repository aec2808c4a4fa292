import Testing
import Foundation
import EDRCore

/// SigmaHQ's auditd rules on the real agent, with no auditd running: the rules are read from
/// the corpus (../shared/corpora/sigmahq from the repo root), real commands are staged as root,
/// and each must raise its rule from the auditd records the detector builds from the sensor's
/// events (EXECVE, SYSCALL, PATH), with the process it is about.
@Suite("auditd rules end to end", .serialized, .enabled(if: runningAsRoot, "the agent loads eBPF: run as root"))
struct AuditdTests {
    static let python = "/usr/bin/python3.11"

    /// Runs Python code as a child; returns its pid.
    @discardableResult
    static func py(_ code: String, _ args: [String] = []) throws -> Int32 {
        try runProgram(python, ["-c", code] + args)
    }

    /// Execs `path` with `argv` as a shell would (argv[0] the bare name: EXECVE's a0, which
    /// the rules compare); the pid is the process that execs.
    static func exec(_ path: String, _ argv: [String]) throws -> Int32 {
        try runProgram(python, ["-c", "import os, sys; os.execv(sys.argv[1], sys.argv[2:])", path] + argv)
    }

    @Test func sigmaHQAuditdRulesFireOnStagedActivity() throws {
        let corpus = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux/auditd")
        try #require(FileManager.default.fileExists(atPath: corpus.path), "SigmaHQ corpus missing at \(corpus.path)")
        var rules: [String: String] = [:]
        let files = try FileManager.default.subpathsOfDirectory(atPath: corpus.path).filter { $0.hasSuffix(".yml") }
        for f in files {
            rules["sigmahq-auditd-" + f.replacingOccurrences(of: "/", with: "-")] = try String(contentsOf: corpus.appendingPathComponent(f), encoding: .utf8)
        }
        #expect(rules.count == 53)
        let agent = try AgentHarness(extraRules: rules)
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")

        let work = "/tmp/edr-auditd-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        try Data("payload".utf8).write(to: URL(fileURLWithPath: "\(work)/pad"))

        // (rule id, title, pid of the process that did it)
        var expected: [(id: String, title: String, pid: Int32)] = []
        // EXECVE a0/a1: an immutable-bit removal (tmpfs may refuse it: the exec is what counts).
        expected.append(
            (
                "a5b977d6-8a81-4475-91b9-49dbfcd941f7", "Remove Immutable File Attribute - Auditd",
                try Self.exec("/usr/bin/chattr", ["chattr", "-i", "\(work)/pad"])
            ))
        // SYSCALL comm + exe: insmod is a link to kmod (the module does not exist: nothing loads).
        expected.append(
            (
                "106d7cbd-80ff-4985-b682-a7043e5acb72", "Loading of Kernel Module via Insmod",
                try Self.exec("/usr/sbin/insmod", ["insmod", "\(work)/none.ko"])
            ))
        // EXECVE keywords (truncate and -s anywhere in the record).
        expected.append(
            (
                "c52a914f-3d8b-4b2a-bb75-b3991e75f8ba", "Binary Padding - Linux",
                try Self.exec("/usr/bin/truncate", ["truncate", "-s", "+64", "\(work)/pad"])
            ))
        // SYSCALL comm.
        expected.append(
            (
                "2dad0cba-c62a-4a4f-949f-5f6ecd619769", "Split A File Into Pieces - Linux",
                try Self.exec("/usr/bin/split", ["split", "-b", "8", "\(work)/pad", "\(work)/piece"])
            ))
        // EXECVE a1 by regular expression: a hidden file.
        expected.append(
            (
                "d08722cd-3d09-449a-80b4-83ea2d9d4616", "Hidden Files and Directories",
                try Self.exec("/usr/bin/touch", ["touch", "\(work)/.hidden"])
            ))
        // EXECVE a0|contains systemctl, a1|contains reload (a unit that does not exist).
        expected.append(
            (
                "2625cc59-0634-40d0-821e-cb67382a3dd7", "Service Reload or Start - Linux",
                try Self.exec("/usr/bin/systemctl", ["systemctl", "reload", "edr-e2e-none.service"])
            ))
        // SYSCALL execve with euid 33 (www-data): a webshell's command.
        try Self.py(
            """
            import os, sys
            pid = os.fork()
            if pid == 0:
                os.setgid(33); os.setuid(33)
                os.execv("/usr/bin/true", ["true"])
            os.waitpid(pid, 0)
            print(pid)
            """)
        // (The exec is the forked child's, not the interpreter's: matched below by its record.)
        // PATH nametype CREATE under a user's systemd directory.
        expected.append(
            (
                "1bac86ba-41aa-4f62-9d6b-405eac99b485", "Systemd Service Creation",
                try Self.py(
                    """
                    import os, sys
                    d = sys.argv[1] + "/home/u/.config/systemd/user"
                    os.makedirs(d)
                    open(d + "/e2e.service", "w").write("[Service]\\n")
                    """, [work])
            ))
        // syslog(2) clear, by an unprivileged uid: refused (EPERM), so the host's kernel log is
        // untouched, but the call is made and the sensor's syslog hook reports it.
        expected.append(
            (
                "eca5e022-d368-4043-98e5-9736fb01f72f", "Clear or Disable Kernel Ring Buffer Logs via Syslog Syscall",
                try Self.py(
                    """
                    import ctypes, os
                    os.setgid(65534); os.setuid(65534)
                    libc = ctypes.CDLL(None, use_errno=True)
                    libc.klogctl(5, None, 0)
                    """)
            ))

        for e in expected {
            let alert = agent.waitForAlert(timeout: 30) { a in
                (a.path("rule", "id") as? String) == e.id && (a.path("process", "pid") as? Int) == Int(e.pid)
            }
            #expect(alert != nil, "\(e.title) did not fire for pid \(e.pid); alerts: \(agent.alerts().compactMap { $0.path("rule", "name") as? String })")
            if let alert {
                #expect(alert.path("rule", "name") as? String == e.title)
                #expect(alert.path("edr", "logsource", "service") as? String == "auditd")
            }
        }
        let web = agent.waitForAlert(timeout: 30) { a in
            (a.path("rule", "id") as? String) == "c0d3734d-330f-4a03-aae2-65dacc6a8222"
                && (a.path("edr", "event", "exe") as? String) == "/usr/bin/true"
        }
        #expect(web?.path("edr", "event", "euid") as? Int == 33, "Webshell Remote Command Execution did not fire for the uid-33 exec")
        // The syslog call was refused, and the record says so as auditd would.
        let klog = agent.alerts().first { ($0.path("rule", "id") as? String) == "eca5e022-d368-4043-98e5-9736fb01f72f" }
        #expect(klog?.path("edr", "event", "success") as? String == "no" && klog?.path("edr", "event", "a0") as? String == "5")
    }
}
