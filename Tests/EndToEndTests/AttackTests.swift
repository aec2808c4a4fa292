import Testing
import Foundation
import EDRCore
import EDRSystem

/// The privilege boundary tried as an attacker on the host would: a stranger, a process that
/// shares a child's uid, a flood of critical alerts, a child killed by its own filter, a
/// crash loop, a checkout under a 0700 directory. Real agent, real kernel, real processes.
@Suite("Attacks on the boundary", .serialized, .enabled(if: runningAsRoot, "the agent loads eBPF and changes uids: run as root"))
struct AttackTests {
    static func unique(_ prefix: String) -> String {
        prefix + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased()
    }

    /// Runs a Python snippet as `uid` (system Python, no capabilities) and returns what it
    /// printed as "key=value" lines. The snippet gets `pids` (a dict) and helpers for the
    /// calls an attacker makes.
    static func runAs(uid: UInt32, pids: [String: Int32], _ body: String, timeout: Double = 30) throws -> [String: String] {
        let prelude = """
            import ctypes, errno, os, signal, sys
            libc = ctypes.CDLL(None, use_errno=True)
            pids = {\(pids.map { "'\($0.key)': \($0.value)" }.joined(separator: ", "))}
            def result(name, fn):
                try:
                    r = fn()
                    print(f"{name}=ok" if r in (None, 0) or (isinstance(r, int) and r >= 0) else f"{name}=errno {ctypes.get_errno()}")
                except OSError as e:
                    print(f"{name}=errno {e.errno}")
            def ptrace_attach(pid):
                r = libc.ptrace(16, pid, None, None)
                if r == 0:
                    os.waitpid(pid, 0x40000000)
                    libc.ptrace(17, pid, None, None)
                return r
            def open_ro(path):
                fd = os.open(path, os.O_RDONLY)
                os.close(fd)

            """
        let text = try runWithDeadline(
            "/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "/usr/bin/python3", "-c", prelude + body],
            timeout: timeout
        ).output
        var r: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if let eq = line.firstIndex(of: "=") { r[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
        }
        r["_output"] = text
        return r
    }

    static func uid(of pid: Int32) throws -> UInt32 {
        try #require(try ProcStatus.read(pid: pid).uids.first)
    }

    /// Waits until the supervisor has a child of this name other than `old`.
    static func replacement(of old: Int32, _ name: String, in agent: AgentHarness, timeout: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let p = agent.childPID(name), p != old { return p }
            usleep(20_000)
        }
        return nil
    }

    /// Socket inodes an agent process holds, and the named or listening ones among them
    /// (from /proc/PID/net/unix of the process's own network namespace).
    static func namedSockets(of pids: [Int32]) -> (held: Int, named: [String]) {
        var held = 0
        var named: [String] = []
        for pid in pids {
            let fdDir = "/proc/\(pid)/fd"
            var inodes = Set<String>()
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdDir)) ?? [] {
                if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDir + "/" + fd), link.hasPrefix("socket:[") {
                    inodes.insert(String(link.dropFirst(8).dropLast()))
                }
            }
            held += inodes.count
            for line in ((try? String(contentsOfFile: "/proc/\(pid)/net/unix", encoding: .utf8)) ?? "").split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count >= 7, inodes.contains(String(f[6])) else { continue }
                let flags = UInt32(f[3], radix: 16) ?? 0
                if f.count >= 8 || flags & 0x10000 != 0 { named.append("pid \(pid): \(line)") }
            }
        }
        return (held, named)
    }

    @Test func nothingToConnectToAndNoStrangerCanTouchAChild() throws {
        let agent = try AgentHarness(response: true, minLevel: "critical")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let sensor = try #require(agent.childPID("edr-sensor"))
        let detect = try #require(agent.childPID("edr-detect"))
        let respond = try #require(agent.childPID("edr-respond"))

        // No socket of the agent has a name (path or abstract) or listens: there is nothing
        // for anyone to connect to. Each child holds its control channel at least.
        let sockets = Self.namedSockets(of: [agent.process.processIdentifier, sensor, detect, respond])
        #expect(sockets.held >= 6, "the agent's processes hold their socketpairs")
        #expect(sockets.named.isEmpty, "named or listening sockets: \(sockets.named)")

        // A stranger (a uid of its own, no capabilities) can neither signal, trace nor read any child.
        let stranger: UInt32 = 4242
        let r = try Self.runAs(
            uid: stranger, pids: ["sensor": sensor, "detect": detect, "respond": respond],
            """
            for name, pid in pids.items():
                result(f"{name}.stop", lambda: os.kill(pid, signal.SIGSTOP))
                result(f"{name}.ptrace", lambda: ptrace_attach(pid))
                result(f"{name}.mem", lambda: open_ro(f"/proc/{pid}/mem"))
                result(f"{name}.environ", lambda: open_ro(f"/proc/{pid}/environ"))
            """)
        for name in ["sensor", "detect", "respond"] {
            #expect(r["\(name).stop"] == "errno \(EPERM)", "\(r["_output"] ?? "")")
            #expect(r["\(name).ptrace"] == "errno \(EPERM)", "\(r["_output"] ?? "")")
            #expect(r["\(name).mem"] == "errno \(EACCES)", "\(r["_output"] ?? "")")
            #expect(r["\(name).environ"] == "errno \(EACCES)", "\(r["_output"] ?? "")")
        }
        #expect(agent.childPID("edr-detect") == detect && agent.childPID("edr-sensor") == sensor && agent.childPID("edr-respond") == respond)
        #expect(agent.alerts(ruleset: "edr-health").isEmpty, "\(agent.alerts(ruleset: "edr-health"))")
    }

    @Test func aProcessSharingTheDetectorsUidIsContainedAndItsStopIsNoticed() throws {
        let marker = Self.unique("edrstop")
        let agent = try AgentHarness(extraRules: ["m.yml": AgentTests.markerRule(marker, level: "high")], response: true)
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let sensor = try #require(agent.childPID("edr-sensor"))
        let detect = try #require(agent.childPID("edr-detect"))
        let respond = try #require(agent.childPID("edr-respond"))
        let detectUID = try Self.uid(of: detect)

        // Same uid as the detector: still no ptrace (not dumpable), no memory, no other child.
        let r = try Self.runAs(
            uid: detectUID, pids: ["sensor": sensor, "detect": detect, "respond": respond],
            """
            result("detect.ptrace", lambda: ptrace_attach(pids['detect']))
            result("detect.mem", lambda: open_ro(f"/proc/{pids['detect']}/mem"))
            result("respond.stop", lambda: os.kill(pids['respond'], signal.SIGSTOP))
            result("sensor.stop", lambda: os.kill(pids['sensor'], signal.SIGSTOP))
            result("detect.stop", lambda: os.kill(pids['detect'], signal.SIGSTOP))
            """)
        #expect(r["detect.ptrace"] == "errno \(EPERM)", "\(r["_output"] ?? "")")
        #expect(r["detect.mem"] == "errno \(EACCES)", "\(r["_output"] ?? "")")
        #expect(r["respond.stop"] == "errno \(EPERM)", "\(r["_output"] ?? "")")
        #expect(r["sensor.stop"] == "errno \(EPERM)", "\(r["_output"] ?? "")")
        // …but it can stop the detector: the supervisor notices, replaces and reports it.
        #expect(r["detect.stop"] == "ok", "\(r["_output"] ?? "")")
        let next = try #require(Self.replacement(of: detect, "edr-detect", in: agent), "a stopped detector was not replaced:\n\(agent.output)")
        let report = agent.waitForAlert { $0.path("rule", "id") as? String == "edr-health-child-stopped" }
        #expect(report?.path("process", "pid") as? Int == Int(detect))
        #expect(report?.path("edr", "health", "child") as? String == "edr-detect")
        #expect(!isAlive(detect))
        // Detection goes on with the replacement, including what ran while it was stopped.
        #expect(agent.waitFor("edr-detect pid \(next) ready again"), "\(agent.output)")
        let pid = try runProgram("/bin/echo", [marker])
        #expect(agent.waitForAlert { $0.path("process", "pid") as? Int == Int(pid) } != nil, "no alert after the replacement:\n\(agent.output)")

        // The same from the responder's uid: its own process only, and that is noticed too.
        let respondUID = try Self.uid(of: respond)
        #expect(respondUID != detectUID)
        let q = try Self.runAs(
            uid: respondUID, pids: ["detect": next, "respond": respond],
            """
            result("respond.ptrace", lambda: ptrace_attach(pids['respond']))
            result("respond.mem", lambda: open_ro(f"/proc/{pids['respond']}/mem"))
            result("detect.stop", lambda: os.kill(pids['detect'], signal.SIGSTOP))
            result("respond.stop", lambda: os.kill(pids['respond'], signal.SIGSTOP))
            """)
        #expect(q["respond.ptrace"] == "errno \(EPERM)", "\(q["_output"] ?? "")")
        #expect(q["respond.mem"] == "errno \(EACCES)", "\(q["_output"] ?? "")")
        #expect(q["detect.stop"] == "errno \(EPERM)", "\(q["_output"] ?? "")")
        #expect(q["respond.stop"] == "ok", "\(q["_output"] ?? "")")
        let nextRespond = try #require(Self.replacement(of: respond, "edr-respond", in: agent), "a stopped responder was not replaced:\n\(agent.output)")
        #expect(
            agent.waitForAlert { $0.path("rule", "id") as? String == "edr-health-child-stopped" && $0.path("process", "pid") as? Int == Int(respond) } != nil)
        #expect(agent.waitFor("edr-respond pid \(nextRespond) ready again"), "\(agent.output)")
    }

    /// A child that stops answering without the kernel telling its parent (here: held in a
    /// ptrace stop by root) is found by its missing heartbeats and replaced.
    @Test func aHungChildIsReplacedWithinSeconds() throws {
        let agent = try AgentHarness()
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let detect = try #require(agent.childPID("edr-detect"))
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = [
            "-c",
            """
            import ctypes, time
            libc = ctypes.CDLL(None, use_errno=True)
            assert libc.ptrace(0x4206, \(detect), None, None) == 0, ctypes.get_errno()   # PTRACE_SEIZE
            assert libc.ptrace(0x4207, \(detect), None, None) == 0, ctypes.get_errno()   # PTRACE_INTERRUPT
            time.sleep(10)
            """
        ]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        let started = Date()
        let next = try #require(Self.replacement(of: detect, "edr-detect", in: agent, timeout: 30), "a hung detector was not replaced:\n\(agent.output)")
        let waited = Date().timeIntervalSince(started)
        let report = agent.waitForAlert { $0.path("rule", "id") as? String == "edr-health-child-hung" }
        #expect(report?.path("process", "pid") as? Int == Int(detect), "\(agent.alerts(ruleset: "edr-health"))")
        #expect(agent.output.contains("edr-detect pid \(detect) hung: no heartbeat"))
        #expect(agent.waitFor("edr-detect pid \(next) ready again"), "\(agent.output)")
        print("hung detector replaced after \(String(format: "%.1f", waited)) s")
    }

    /// The detector killed by its own seccomp filter: the supervisor names the call in an
    /// alert and a fresh detector takes over.
    @Test func aSeccompKillIsReportedWithTheSyscall() throws {
        let marker = Self.unique("edrsys")
        let agent = try AgentHarness(
            extraRules: ["m.yml": AgentTests.markerRule(marker, level: "high")],
            environment: ["EDR_DETECT_PROBE": "execve"])
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let report = try #require(agent.waitForAlert { $0.path("rule", "id") as? String == "edr-health-seccomp-kill" }, "\(agent.output)")
        #expect(report.path("edr", "health", "syscall") as? String == "execve")
        #expect(report.path("edr", "health", "syscall_nr") as? Int == 59 || report.path("edr", "health", "syscall_nr") as? Int == 221)
        #expect(report.path("log", "level") as? String == "critical")
        #expect(agent.output.contains("killed by its seccomp filter for calling execve"))
        let pid = try runProgram("/bin/echo", [marker])
        #expect(agent.waitForAlert { $0.path("process", "pid") as? Int == Int(pid) } != nil, "\(agent.output)")
    }

    /// Killing the detector again and again never makes the agent give up: it backs off,
    /// reports the crash loop and comes back.
    @Test func aCrashLoopNeverStopsTheAgent() throws {
        let marker = Self.unique("edrloop")
        let agent = try AgentHarness(
            extraRules: ["m.yml": AgentTests.markerRule(marker, level: "high")],
            supervisorConfig: "crash_loop_restarts = 3\nmax_restart_delay_ms = 1500")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        var victim = try #require(agent.childPID("edr-detect"))
        for round in 0..<5 {
            kill(victim, SIGKILL)
            victim = try #require(Self.replacement(of: victim, "edr-detect", in: agent), "round \(round): not restarted:\n\(agent.output)")
        }
        #expect(agent.process.isRunning, "the supervisor gave up:\n\(agent.output)")
        #expect(agent.waitForAlert { $0.path("rule", "id") as? String == "edr-health-crash-loop" } != nil)
        #expect(agent.alerts(ruleset: "edr-health").filter { $0.path("rule", "id") as? String == "edr-health-child-killed" }.count == 5)
        #expect(agent.waitFor("edr-detect pid \(victim) ready again"), "\(agent.output)")
        let pid = try runProgram("/bin/echo", [marker])
        #expect(agent.waitForAlert { $0.path("process", "pid") as? Int == Int(pid) } != nil, "\(agent.output)")
    }

    /// The deadlock that blinded the agent: 2,000 critical alerts with response on. Every
    /// request gets its outcome in the alert stream and detection keeps flowing.
    @Test func aFloodOfCriticalAlertsNeverStallsDetection() throws {
        let flood = Self.unique("edrflood")
        let after = Self.unique("edrafter")
        let agent = try AgentHarness(
            extraRules: [
                "flood.yml": AgentTests.markerRule(flood, level: "critical"),
                "after.yml": AgentTests.markerRule(after, level: "high")
            ],
            response: true, minLevel: "critical")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        // The shell's own command line must not match (it would be killed): split the marker.
        let split = flood.prefix(5) + "''" + flood.dropFirst(5)
        let loop = Process()
        loop.executableURL = URL(fileURLWithPath: "/bin/sh")
        loop.arguments = ["-c", "i=0; while [ $i -lt 2000 ]; do /bin/true \(split); i=$((i+1)); done"]
        try loop.run()
        let deadline = Date().addingTimeInterval(120)
        while loop.isRunning && Date() < deadline { usleep(50_000) }
        #expect(!loop.isRunning, "the exec loop did not finish")
        #expect(loop.terminationStatus == 0)

        let laterStart = Date()
        let later = try runProgram("/bin/echo", [after])
        #expect(
            agent.waitForAlert(timeout: 30) { $0.path("process", "pid") as? Int == Int(later) } != nil,
            "detection stalled behind the responder:\n\(agent.output.suffix(3000))")
        print("the exec after the flood alerted within \(String(format: "%.0f", Date().timeIntervalSince(laterStart) * 1000)) ms (polling every 50 ms)")
        var outcomes: [[String: Any]] = []
        let until = Date().addingTimeInterval(60)
        repeat {
            outcomes = agent.alerts(ruleset: "edr-response")
            if outcomes.count >= 2000 { break }
            usleep(200_000)
        } while Date() < until
        let floodAlerts = agent.alerts(ruleset: "sigma").filter { ($0.path("rule", "name") as? String)?.hasSuffix(flood) == true }
        #expect(floodAlerts.count == 2000)
        #expect(outcomes.count == 2000, "outcomes: \(outcomes.count)")
        let ids = Set(outcomes.compactMap { $0.path("edr", "response", "request_id") as? Int })
        #expect(ids.count == outcomes.count)
        let kinds = Dictionary(grouping: outcomes) { $0.path("edr", "response", "outcome") as? String ?? "?" }.mapValues(\.count)
        #expect(Set(kinds.keys).isSubset(of: ["killed", "target-gone", "refused"]), "\(kinds)")
        print("2,000 critical alerts → outcomes \(kinds)")
    }

    @Test func protectedExecutablesAndDryRunKillNothing() throws {
        let marker = Self.unique("edrprot")
        let agent = try AgentHarness(
            extraRules: ["m.yml": AgentTests.markerRule(marker, level: "critical")], response: true,
            responseConfig: "protected_executables = [\"/usr/bin/dash\"]")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let dash = try spawnChild("/usr/bin/dash", ["-c", "sleep 30; : \(marker)"])
        defer { kill(dash, SIGKILL); waitpid(dash, nil, 0) }
        let bash = try spawnChild("/bin/bash", ["-c", "sleep 30; : \(marker)"])
        defer { kill(bash, SIGKILL); waitpid(bash, nil, 0) }
        let refused = agent.waitForAlert { $0.path("rule", "ruleset") as? String == "edr-response" && $0.path("process", "pid") as? Int == Int(dash) }
        #expect(refused?.path("edr", "response", "outcome") as? String == "refused")
        #expect(refused?.path("edr", "response", "reason") as? String == "/usr/bin/dash is a protected executable")
        let killed = agent.waitForAlert { $0.path("rule", "ruleset") as? String == "edr-response" && $0.path("process", "pid") as? Int == Int(bash) }
        #expect(killed?.path("edr", "response", "outcome") as? String == "killed")
        #expect(isAlive(dash))
        #expect(!isAlive(bash))
        _ = agent.stop()

        let dry = try AgentHarness(
            extraRules: ["m.yml": AgentTests.markerRule(marker, level: "critical")], response: true,
            responseConfig: "dry_run = true")
        defer { _ = dry.stop() }
        try #require(dry.waitFor("edr: ready"), "agent did not become ready:\n\(dry.output)")
        let spared = try spawnChild("/bin/bash", ["-c", "sleep 30; : \(marker)"])
        defer { kill(spared, SIGKILL); waitpid(spared, nil, 0) }
        let would = dry.waitForAlert { $0.path("rule", "ruleset") as? String == "edr-response" && $0.path("process", "pid") as? Int == Int(spared) }
        #expect(would?.path("edr", "response", "outcome") as? String == "dry-run")
        #expect(would?.path("edr", "response", "dry_run") as? String == "true")
        #expect(isAlive(spared))
    }

    /// A checkout under a directory only root may enter (root's home is one): the children
    /// are started and read their rules by descriptor, so nothing above needs opening up.
    @Test func theAgentRunsFromUnderA0700Directory() throws {
        let base = "/tmp/edr-0700-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: base + "/checkout/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        chmod(base, 0o700)
        for name in ["edr", "edr-sensor", "edr-detect", "edr-respond", "edr.bpf.o"] {
            try FileManager.default.copyItem(atPath: binDirectory + "/" + name, toPath: base + "/checkout/bin/" + name)
        }
        let marker = Self.unique("edrhome")
        let agent = try AgentHarness(
            extraRules: ["m.yml": AgentTests.markerRule(marker, level: "high")],
            bin: base + "/checkout/bin", base: base + "/checkout")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let pid = try runProgram("/bin/echo", [marker])
        #expect(agent.waitForAlert { $0.path("process", "pid") as? Int == Int(pid) } != nil, "\(agent.output)")
    }

    /// A rule file anyone may edit is refused at start, by name, before anything runs.
    @Test func aWorldWritableRuleFileIsRefused() throws {
        let agent = try AgentHarness(extraRules: ["open.yml": AgentTests.markerRule(Self.unique("edropen"), level: "high")]) { dir in
            chmod(dir.appendingPathComponent("rules/open.yml").path, 0o666)
        }
        defer { _ = agent.stop() }
        #expect(!agent.waitFor("edr: ready", timeout: 30))
        #expect(
            agent.output.contains("[sigma] rules \(agent.rulesDir.path)/open.yml (for \(agent.rulesDir.path)) is writable by every user (mode 666)"),
            "\(agent.output)")
        #expect(agent.stop() != 0)
    }
}
