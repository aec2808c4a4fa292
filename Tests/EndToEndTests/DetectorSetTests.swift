import Testing
import Foundation
import EDRCore
import EDRSystem

/// YARA, IOC and hot reload with the real agent.
@Suite("YARA, IOC and reload", .serialized, .enabled(if: runningAsRoot, "the agent loads eBPF and changes uids: run as root"))
struct DetectorSetTests {
    static func token() -> String { String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased() }

    static func yaraRule(_ name: String, _ marker: String) -> String {
        """
        rule \(name) : e2e
        {
            meta:
                description = "end-to-end marker \(marker)"
                severity = "high"
                author = "EDR team"
            strings:
                $m = "\(marker)"
            condition:
                $m
        }
        """
    }

    static func sha256(_ path: String) throws -> String {
        let r = try runWithDeadline("/usr/bin/sha256sum", [path], timeout: 60)
        try #require(r.status == 0, "sha256sum \(path): \(r.output)")
        return String(r.output.prefix(64))
    }

    func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
    }

    func makeDir(_ path: String, mode: mode_t = 0o755) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, mode)
    }

    /// A copy of /bin/sleep carrying a marker, in a root-only directory the detector cannot enter.
    func markedBinary(in dir: String, marker: String, from original: String = "/bin/sleep") throws -> String {
        try makeDir(dir, mode: 0o700)
        let path = dir + "/marked-" + (original as NSString).lastPathComponent
        var bytes = try Data(contentsOf: URL(fileURLWithPath: original))
        bytes.append(Data(("\n" + marker + "\n").utf8))
        try bytes.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o700)
        return path
    }

    @Test func yaraAndHashOnARootOnlyExecutableWhileTheDetectorStaysUnprivileged() throws {
        let marker = "EDR-YARA-MARKER-" + Self.token()
        var binary = "", digest = ""
        let agent = try AgentHarness(
            extraConfig: """
                [yara]
                rules = ["yara"]
                [ioc]
                rules = ["ioc"]
                """.replacingOccurrences(of: "\"yara\"", with: "\"__DIR__/yara\"").replacingOccurrences(of: "\"ioc\"", with: "\"__DIR__/ioc\""),
            prepare: { dir in
                try makeDir(dir.path + "/yara")
                try write(Self.yaraRule("edr_e2e_marker", marker), to: dir.path + "/yara/marker.yar")
                binary = try markedBinary(in: dir.path + "/root-only", marker: marker)
                digest = try Self.sha256(binary)
                try makeDir(dir.path + "/ioc")
                try write("# e2e\n\(digest);e2e marked binary\n", to: dir.path + "/ioc/hashes.txt")
            })
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        #expect(agent.output.contains("yara=1"), "\(agent.output)")

        let pid = try spawnChild(binary, ["2"])
        // Replace the file at the same path right after exec: what ran is what gets scanned.
        let replacement = binary + ".new"
        try Data("#!/bin/sh\nexit 0\n".utf8).write(to: URL(fileURLWithPath: replacement))
        rename(replacement, binary)

        let yara = try #require(
            agent.waitForAlert(timeout: 20) { a in
                (a.path("rule", "ruleset") as? String) == "yara" && (a.path("process", "pid") as? Int) == Int(pid)
            }, "no YARA alert:\n\(agent.output)")
        #expect(yara.path("rule", "name") as? String == "edr_e2e_marker")
        #expect(yara.path("file", "path") as? String == binary)
        #expect(yara.path("file", "hash", "sha256") as? String == digest)
        #expect(yara.path("log", "level") as? String == "high")
        #expect((yara.path("edr", "yara", "meta") as? [String: Any])?["description"] as? String == "end-to-end marker \(marker)")

        let ioc = try #require(
            agent.waitForAlert(timeout: 20) { a in
                (a.path("rule", "ruleset") as? String) == "ioc" && (a.path("edr", "ioc", "value") as? String) == digest
            }, "no hash IOC alert:\n\(agent.output)")
        #expect(ioc.path("threat", "indicator", "type") as? String == "file")
        #expect(ioc.path("threat", "indicator", "description") as? String == "e2e marked binary")
        #expect(ioc.path("process", "pid") as? Int == Int(pid))

        // The scan happened in the unprivileged detector.
        let detect = try #require(agent.childPID("edr-detect"))
        let st = try ProcStatus.read(pid: detect)
        #expect(st.uids.allSatisfy { $0 != 0 } && st.capEff == 0 && st.seccomp == 2)
        #expect(access(binary, R_OK) == 0)  // root can; nobody cannot enter the 0700 directory
        waitpid(pid, nil, 0)
    }

    /// One-shot executables: a marked copy of /bin/true in a root-only directory lives about a
    /// millisecond, gone before the sensor can open /proc/PID/exe. The sensor opens the path the
    /// kernel recorded and passes it because its identity is the one that ran: every exec is
    /// scanned and alerts.
    @Test func oneShotExecutablesAreScanned() throws {
        let marker = "EDR-YARA-ONESHOT-" + Self.token()
        var binary = ""
        let agent = try AgentHarness(
            extraConfig: """
                [yara]
                rules = ["__DIR__/yara"]
                """,
            prepare: { dir in
                try makeDir(dir.path + "/yara")
                try write(Self.yaraRule("edr_e2e_oneshot", marker), to: dir.path + "/yara/marker.yar")
                binary = try markedBinary(in: dir.path + "/root-only", marker: marker, from: "/bin/true")
            })
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        var pids: [Int32] = []
        for _ in 0..<10 {
            pids.append(try runProgram(binary, []))
            usleep(200_000)
        }
        for pid in pids {
            #expect(
                agent.waitForAlert(timeout: 20) { a in
                    (a.path("rule", "ruleset") as? String) == "yara" && (a.path("process", "pid") as? Int) == Int(pid)
                } != nil, "no YARA alert for the one-shot exec of pid \(pid):\n\(agent.output.suffix(3000))")
        }
    }

    /// Scripts: an exec of a `#!` script runs its interpreter, and scanning only the
    /// interpreter (dash, clean) is how a marked script used to slip past. A marked script in a
    /// root-only directory, listed by SHA-256, run directly (execve of the script itself): the
    /// YARA and the hash alerts name the script as the scanned file and the interpreter as the
    /// process, and the process_creation event carries ScriptPath for Sigma. Run as a 1 ms
    /// process ten times (gone before the sensor looks), every exec is scanned; an unmarked
    /// script beside it, run first, raises nothing.
    @Test func scriptsAreScannedAndNamedBesideTheirInterpreter() throws {
        let marker = "EDR-YARA-SCRIPT-" + Self.token()
        let t = Self.token()
        var script = "", clean = "", digest = ""
        let agent = try AgentHarness(
            extraRules: [
                "script.yml": """
                title: e2e script path \(t)
                id: 6f0e7c55-0000-4000-8000-\(t)
                status: test
                level: medium
                logsource: {product: linux, category: process_creation}
                detection:
                  selection:
                    ScriptPath|endswith: '/marked-\(t).sh'
                  condition: selection
                """
            ],
            extraConfig: """
                [yara]
                rules = ["__DIR__/yara"]
                [ioc]
                rules = ["__DIR__/ioc"]
                """,
            prepare: { dir in
                try makeDir(dir.path + "/yara")
                try write(Self.yaraRule("edr_e2e_script", marker), to: dir.path + "/yara/marker.yar")
                try makeDir(dir.path + "/root-only", mode: 0o700)
                script = dir.path + "/root-only/marked-\(t).sh"
                clean = dir.path + "/root-only/clean-\(t).sh"
                try Data("#!/bin/sh\n# \(marker)\nexit 0\n".utf8).write(to: URL(fileURLWithPath: script))
                try Data("#!/bin/sh\n# nothing to see \(t)\nexit 0\n".utf8).write(to: URL(fileURLWithPath: clean))
                chmod(script, 0o700)
                chmod(clean, 0o700)
                digest = try Self.sha256(script)
                try makeDir(dir.path + "/ioc")
                try write("# e2e\n\(digest);e2e marked script\n", to: dir.path + "/ioc/hashes.txt")
            })
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        let interpreter = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path

        let cleanPID = try runProgram(clean, [])
        var pids: [Int32] = []
        for _ in 0..<10 {
            pids.append(try runProgram(script, []))
            usleep(200_000)
        }
        for pid in pids {
            let yara = try #require(
                agent.waitForAlert(timeout: 20) { a in
                    (a.path("rule", "ruleset") as? String) == "yara" && (a.path("process", "pid") as? Int) == Int(pid)
                }, "no YARA alert for the script exec of pid \(pid):\n\(agent.output.suffix(3000))")
            #expect(yara.path("rule", "name") as? String == "edr_e2e_script")
            #expect(yara.path("file", "path") as? String == script)
            #expect(yara.path("file", "hash", "sha256") as? String == digest)
            #expect(yara.path("process", "executable") as? String == interpreter)
            #expect(yara.path("edr", "event", "ScriptPath") as? String == script)
            let ioc = try #require(
                agent.waitForAlert(timeout: 20) { a in
                    (a.path("rule", "ruleset") as? String) == "ioc" && (a.path("edr", "ioc", "value") as? String) == digest
                        && (a.path("process", "pid") as? Int) == Int(pid)
                }, "no hash IOC alert for the script exec of pid \(pid):\n\(agent.output.suffix(3000))")
            #expect(ioc.path("file", "path") as? String == script)
            #expect(ioc.path("threat", "indicator", "description") as? String == "e2e marked script")
            #expect(ioc.path("process", "executable") as? String == interpreter)
        }
        let sigma = try #require(
            agent.waitForAlert(timeout: 20) { a in
                (a.path("rule", "name") as? String) == "e2e script path \(t)" && (a.path("process", "pid") as? Int) == Int(pids[0])
            }, "no Sigma alert on ScriptPath:\n\(agent.output.suffix(3000))")
        #expect(sigma.path("process", "executable") as? String == interpreter)
        #expect(sigma.path("edr", "event", "Image") as? String == interpreter)
        #expect(sigma.path("edr", "event", "ScriptPath") as? String == script)
        // The clean script ran before every marked one; its verdict came first and was clean.
        #expect(
            !agent.alerts().contains { a in
                ["yara", "ioc"].contains(a.path("rule", "ruleset") as? String ?? "")
                    && ((a.path("file", "path") as? String) == clean || (a.path("process", "pid") as? Int) == Int(cleanPID))
            }, "the unmarked script raised a YARA or IOC alert")
    }

    /// The script's file is found among the files the kernel releases at exec: an exec that
    /// first closes twenty close-on-exec regular files (each the last reference, so each is
    /// queued beside the script) still has the script scanned and named, not one of those files.
    /// Past the kernel's walk (forty files) the record says only the name execve was given: the
    /// event still names the script for Sigma.
    @Test func scriptsAreFoundBehindCloseOnExecFiles() throws {
        let marker = "EDR-YARA-CLOEXEC-" + Self.token()
        let t = Self.token()
        var script = ""
        let agent = try AgentHarness(
            extraRules: [
                "script.yml": """
                title: e2e script behind files \(t)
                id: 6f0e7c55-0000-4000-8001-\(t)
                status: test
                level: medium
                logsource: {product: linux, category: process_creation}
                detection:
                  selection:
                    ScriptPath|endswith: '/cloexec-\(t).sh'
                  condition: selection
                """
            ],
            extraConfig: """
                [yara]
                rules = ["__DIR__/yara"]
                """,
            prepare: { dir in
                try makeDir(dir.path + "/yara")
                try write(Self.yaraRule("edr_e2e_cloexec", marker), to: dir.path + "/yara/marker.yar")
                try makeDir(dir.path + "/root-only", mode: 0o700)
                script = dir.path + "/root-only/cloexec-\(t).sh"
                try Data("#!/bin/sh\n# \(marker)\nexit 0\n".utf8).write(to: URL(fileURLWithPath: script))
                chmod(script, 0o700)
            })
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        // The python process execs the script itself (os.execv): same pid.
        func run(closing n: Int) throws -> Int32 {
            try runProgram(
                "/usr/bin/python3",
                [
                    "-c",
                    """
                    import os, sys
                    fds = [os.open("/etc/hostname", os.O_RDONLY | os.O_CLOEXEC) for _ in range(\(n))]
                    os.execv(sys.argv[1], [sys.argv[1]])
                    """, script
                ])
        }
        let pid = try run(closing: 20)
        let yara = try #require(
            agent.waitForAlert(timeout: 20) { a in
                (a.path("rule", "ruleset") as? String) == "yara" && (a.path("process", "pid") as? Int) == Int(pid)
            }, "no YARA alert for the script exec'd behind 20 close-on-exec files:\n\(agent.output.suffix(3000))")
        #expect(yara.path("file", "path") as? String == script)
        #expect(yara.path("edr", "event", "ScriptPath") as? String == script)

        let far = try run(closing: 40)
        let sigma = try #require(
            agent.waitForAlert(timeout: 20) { a in
                (a.path("rule", "name") as? String) == "e2e script behind files \(t)" && (a.path("process", "pid") as? Int) == Int(far)
            }, "the script exec'd behind 40 close-on-exec files is not named:\n\(agent.output.suffix(3000))")
        #expect(sigma.path("edr", "event", "ScriptPath") as? String == script)
    }

    /// The second exec of a file the sensor passed moments ago carries no descriptor (the
    /// kernel's record names the inode; the sensor does not open it again) and still alerts,
    /// from the detector's verdict cache.
    @Test func aRepeatedExecOfAKnownFileAlertsWithoutANewDescriptor() throws {
        let marker = "EDR-YARA-REPEAT-" + Self.token()
        var binary = ""
        let agent = try AgentHarness(
            extraConfig: """
                [agent]
                log_level = "debug"
                [yara]
                rules = ["__DIR__/yara"]
                """,
            prepare: { dir in
                try makeDir(dir.path + "/yara")
                try write(Self.yaraRule("edr_e2e_repeat", marker), to: dir.path + "/yara/marker.yar")
                binary = try markedBinary(in: dir.path + "/root-only", marker: marker)
            })
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        var pids: [Int32] = []
        var scans: [[String: Any]] = []
        for _ in 0..<2 {
            let pid = try spawnChild(binary, ["1"])
            pids.append(pid)
            let alert = try #require(
                agent.waitForAlert(timeout: 20) { a in
                    (a.path("rule", "ruleset") as? String) == "yara" && (a.path("process", "pid") as? Int) == Int(pid)
                }, "no YARA alert for exec of pid \(pid):\n\(agent.output)")
            scans.append(alert.path("edr", "file", "scan") as? [String: Any] ?? [:])
        }
        for p in pids { waitpid(p, nil, 0) }
        // Each alert says how its verdict came: the first from the file the sensor passed, the
        // second from the cache, with no descriptor (the kernel's identity alone). Host-wide
        // counters cannot say this on a busy machine: other processes exec too.
        #expect(scans[0]["verdict"] as? String == "scanned" && scans[0]["descriptor"] as? Bool == true, "\(scans[0])")
        #expect(scans[1]["verdict"] as? String == "cached" && scans[1]["descriptor"] as? Bool == false, "\(scans[1])")
    }

    @Test func ipAndDomainIndicatorsOnNetworkEvents() throws {
        let domain = "e2e-\(Self.token()).example"
        let agent = try AgentHarness(
            extraConfig: "[ioc]\nrules = [\"__DIR__/ioc\"]",
            prepare: { dir in
                try makeDir(dir.path + "/ioc")
                try write("127.0.0.66;e2e bad address\n", to: dir.path + "/ioc/ips.txt")
                try write("\(domain);e2e bad domain\n", to: dir.path + "/ioc/domains.txt")
            })
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")

        // A refused TCP connect to a listed loopback address.
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(9).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.66")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        close(s)
        let ip = try #require(
            agent.waitForAlert(timeout: 30) { a in (a.path("edr", "ioc", "value") as? String) == "127.0.0.66" },
            "no IP IOC alert:\n\(agent.output)")
        #expect(ip.path("threat", "indicator", "type") as? String == "ipv4-addr")
        #expect(ip.path("threat", "indicator", "description") as? String == "e2e bad address")
        #expect(ip.path("edr", "event", "DestinationIp") as? String == "127.0.0.66" && ip.path("edr", "event", "DestinationPort") as? Int == 9)
        #expect(ip.path("process", "pid") as? Int == Int(getpid()))

        // A DNS query for a name under the listed domain, sent to port 53 on loopback.
        var q: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in ("www." + domain).split(separator: ".") { q.append(UInt8(label.utf8.count)); q += Array(label.utf8) }
        q += [0, 0, 1, 0, 1]
        let u = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var dst = sockaddr_in()
        dst.sin_family = sa_family_t(AF_INET)
        dst.sin_port = UInt16(53).bigEndian
        dst.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = q.withUnsafeBytes { b in
            withUnsafePointer(to: &dst) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(u, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        close(u)
        let dns = try #require(
            agent.waitForAlert(timeout: 30) { a in (a.path("edr", "ioc", "value") as? String) == domain },
            "no domain IOC alert:\n\(agent.output)")
        #expect(dns.path("threat", "indicator", "type") as? String == "domain-name")
        #expect(dns.path("threat", "indicator", "description") as? String == "e2e bad domain")
        #expect(dns.path("edr", "event", "QueryName") as? String == "www." + domain)
    }

    /// Seconds from now until `attempt` (run now and then once a second, each returning what
    /// identifies it) is answered by an alert `answers` says is for one of the attempts, however
    /// late that alert comes; nil if none within `limit` (a generous deadline: how fast a
    /// reload takes effect is a benchmark figure, not an assertion).
    func secondsUntilAnswered<ID: Hashable>(
        _ agent: AgentHarness, limit: Double, attempt: () throws -> ID,
        answers: ([String: Any]) -> ID?
    ) rethrows -> Double? {
        let start = Date()
        var tried = Set<ID>()
        var lastAttempt = Date.distantPast
        while Date().timeIntervalSince(start) < limit {
            if Date().timeIntervalSince(lastAttempt) >= 1 {
                tried.insert(try attempt())
                lastAttempt = Date()
            }
            if agent.alerts().contains(where: { a in answers(a).map { tried.contains($0) } ?? false }) {
                return Date().timeIntervalSince(start)
            }
            usleep(50_000)
        }
        return nil
    }

    /// Runs `echo marker` until the alert for one of those runs arrives.
    func secondsUntilAlert(_ agent: AgentHarness, marker: String, limit: Double = 60) throws -> Double? {
        try secondsUntilAnswered(
            agent, limit: limit, attempt: { Int(try runProgram("/bin/echo", [marker])) },
            answers: { a in
                (a.path("process", "command_line") as? String)?.contains(marker) == true ? a.path("process", "pid") as? Int : nil
            })
    }

    @Test func editedRulesFireWithoutRestartAndBrokenOnesKeepTheLiveSet() throws {
        let first = "edrreload" + Self.token(), second = "edrreload" + Self.token()
        let agent = try AgentHarness(extraRules: ["first.yml": AgentTests.markerRule(first, level: "low")])
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        let detectBefore = agent.childPID("edr-detect")
        #expect(try secondsUntilAlert(agent, marker: first) != nil, "the first rule never fired:\n\(agent.output)")

        // A new rule file: fires without a restart.
        try write(AgentTests.markerRule(second, level: "low"), to: agent.rulesDir.path + "/second.yml")
        // Timing is a benchmark figure (docs/benchmarks.md), not an assertion: only that it fires.
        let took = try secondsUntilAlert(agent, marker: second)
        #expect(took != nil, "the new rule never fired:\n\(agent.output)")
        print("sigma reload: new rule fired \(took ?? -1) s after the file was written")
        #expect(agent.childPID("edr-detect") == detectBefore, "the detector must not restart to reload")

        // A broken file: reported with its path, and the live rules keep firing.
        try write("title: broken\nlogsource: [unclosed\n", to: agent.rulesDir.path + "/broken.yml")
        #expect(agent.waitFor("sigma reload failed", timeout: 10), "\(agent.output)")
        #expect(agent.output.contains("broken.yml"))
        #expect(try secondsUntilAlert(agent, marker: second) != nil, "live rules stopped firing")
        #expect(try secondsUntilAlert(agent, marker: first) != nil, "the first rule stopped firing")
    }

    @Test func yaraAndIOCFilesReloadAndBrokenOnesKeepTheLiveSet() throws {
        let markerA = "EDR-YARA-A-" + Self.token(), markerB = "EDR-YARA-B-" + Self.token()
        var binA = "", binB = ""
        let agent = try AgentHarness(
            extraConfig: "[yara]\nrules = [\"__DIR__/yara\"]\n[ioc]\nrules = [\"__DIR__/ioc\"]",
            prepare: { dir in
                try makeDir(dir.path + "/yara")
                try write(Self.yaraRule("edr_e2e_a", markerA), to: dir.path + "/yara/a.yar")
                binA = try markedBinary(in: dir.path + "/root-a", marker: markerA)
                binB = try markedBinary(in: dir.path + "/root-b", marker: markerB)
                try makeDir(dir.path + "/ioc")
                try write("127.0.0.70;first\n", to: dir.path + "/ioc/ips.txt")
            })
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        let yaraDir = agent.dir.path + "/yara", iocDir = agent.dir.path + "/ioc"

        var children: [pid_t] = []
        defer { for c in children { waitpid(c, nil, 0) } }
        /// Runs the marked binary (a 0.3 s sleep) until one of those runs gets the rule's alert.
        func yaraAlert(_ bin: String, rule: String, limit: Double = 60) throws -> Double? {
            try secondsUntilAnswered(
                agent, limit: limit,
                attempt: { () throws -> Int in
                    let pid = try spawnChild(bin, ["0.3"])
                    children.append(pid)
                    return Int(pid)
                }, answers: { a in (a.path("rule", "name") as? String) == rule ? a.path("process", "pid") as? Int : nil })
        }
        var port: UInt16 = 20000
        func connectTo(_ ip: String) -> Int {
            // A new port each time: identical repeats are aggregated, not reported again; and
            // the port tells this attempt's alert from an earlier one for the same address.
            port += 1
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = inet_addr(ip)
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(s)
            return Int(port)
        }
        /// Connects to `ip` (a new port each time) until one of those connections gets the indicator's alert.
        func iocAlert(_ ip: String, limit: Double = 60) -> Double? {
            secondsUntilAnswered(
                agent, limit: limit, attempt: { connectTo(ip) },
                answers: { a in
                    (a.path("edr", "ioc", "value") as? String) == ip ? a.path("edr", "event", "DestinationPort") as? Int : nil
                })
        }

        #expect(try yaraAlert(binA, rule: "edr_e2e_a") != nil, "\(agent.output)")
        // A new YARA file fires without a restart.
        try write(Self.yaraRule("edr_e2e_b", markerB), to: yaraDir + "/b.yar")
        let tookYara = try yaraAlert(binB, rule: "edr_e2e_b")
        #expect(tookYara != nil, "the new YARA rule never fired:\n\(agent.output)")
        print("yara reload: new rule fired \(tookYara ?? -1) s after the file was written")
        // A broken YARA file is reported with file and line; the live rules keep firing.
        try write("rule broken {\n  strings: $a = \"x\"\n  condition: $b\n}\n", to: yaraDir + "/broken.yar")
        #expect(agent.waitFor("yara reload failed", timeout: 10), "\(agent.output)")
        #expect(agent.output.contains("broken.yar:"))
        #expect(try yaraAlert(binA, rule: "edr_e2e_a") != nil, "live YARA rules stopped firing")

        // IOC: a new address fires without a restart; a malformed line keeps the live set.
        #expect(iocAlert("127.0.0.70") != nil, "\(agent.output)")
        try write("127.0.0.70;first\n127.0.0.71;second\n", to: iocDir + "/ips.txt")
        let tookIOC = iocAlert("127.0.0.71")
        #expect(tookIOC != nil, "the new indicator never fired:\n\(agent.output)")
        print("ioc reload: new indicator fired \(tookIOC ?? -1) s after the file was written")
        try write("127.0.0.70;first\n127.0.0.71;second\n300.1.2.3;not an address\n", to: iocDir + "/ips.txt")
        #expect(agent.waitFor("ioc reload failed", timeout: 10), "\(agent.output)")
        #expect(agent.output.contains("ips.txt:3"), "\(agent.output)")
        #expect(iocAlert("127.0.0.71") != nil, "live indicators stopped firing")
        #expect(iocAlert("127.0.0.70") != nil, "the first indicator stopped firing")
    }
}
