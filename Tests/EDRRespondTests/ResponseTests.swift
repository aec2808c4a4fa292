import EDRCore
import EDRSystem
import Foundation
import Testing
@testable import EDRRespond

/// A process to aim at, started by Foundation (which also reaps it: wait with
/// `waitUntilExit()`, never `waitpid`).
private func startSleeper() throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sleep")
    p.arguments = ["30"]
    try p.run()
    return p
}

/// Kills and reaps a sleeper a test left running.
private func stop(_ p: Process) {
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
}

@Suite("Response")
struct ResponseTests {
    var policy: ResponsePolicy {
        var p = ResponsePolicy(enabled: true, minLevel: 3, protectedPIDs: [99], supervisorPID: 42)
        p.protectedExecutables = ["/usr/sbin/sshd", "/usr/lib/systemd/"]
        p.protectedUIDs = [123]
        p.maxKillsPerMinute = 5
        return p
    }

    func req(_ pid: Int32, _ level: UInt8 = 4, start: UInt64 = 777, exe: String = "/tmp/evil") -> ResponseRequest {
        ResponseRequest(pid: pid, startTicks: start, level: level, ruleID: "r", ruleName: "n", executable: exe)
    }

    func facts(
        start: UInt64 = 777, ppid: Int32 = 7, uid: UInt32 = 1000, euid: UInt32 = 1001, kthread: Bool = false,
        ns: [Int32] = [1000], exe: String? = "/tmp/evil"
    ) -> TargetFacts {
        TargetFacts(startTicks: start, ppid: ppid, uid: uid, euid: euid, isKernelThread: kthread, namespacePIDs: ns, executable: exe)
    }

    @Test func policyRefusesWhatItProtects() {
        let p = policy
        #expect(p.decide(req(1000), target: facts()) == .act)
        #expect(p.decide(req(1000, 2), target: facts()) == .refuse("level 2 is below min_level 3"))
        #expect(p.decide(req(1), target: facts()) == .refuse("pid 1 is never killed"))
        #expect(p.decide(req(99), target: facts()) == .refuse("pid 99 is the agent's own process"))
        #expect(p.decide(req(1000), target: facts(ppid: 42)) == .refuse("pid 1000 is a child of the agent's supervisor"))
        #expect(p.decide(req(1000), target: facts(kthread: true)) == .refuse("pid 1000 is a kernel thread"))
        #expect(p.decide(req(1000), target: facts(ns: [1000, 1])) == .refuse("pid 1000 is the init of a pid namespace (a container)"))
        #expect(p.decide(req(1000), target: facts(ns: [1000, 57])) == .act)
        #expect(p.decide(req(1000), target: facts(uid: 123)) == .refuse("pid 1000 runs as protected uid 123"))
        #expect(p.decide(req(1000), target: facts(euid: 123)) != .act)
        // Protected by the kernel's record in the request, or by what /proc says.
        #expect(p.decide(req(1000, exe: "/usr/sbin/sshd"), target: facts(exe: nil)) == .refuse("/usr/sbin/sshd is a protected executable"))
        #expect(
            p.decide(req(1000), target: facts(exe: "/usr/lib/systemd/systemd-journald"))
                == .refuse("/usr/lib/systemd/systemd-journald is a protected executable"))
        #expect(p.decide(req(1000, exe: "/usr/sbin/sshd-evil"), target: facts(exe: nil)) == .act)
        // Recycled pid, vanished process.
        #expect(p.decide(req(1000, start: 778), target: facts()) == .gone("pid 1000 was reused (start time differs)"))
        #expect(p.decide(req(1000), target: nil) == .gone("process 1000 is gone"))
        // Rate limit.
        #expect(p.decide(req(1000), target: facts(), recentKills: 4) == .act)
        #expect(p.decide(req(1000), target: facts(), recentKills: 5) == .refuse("rate limit: 5 kills in the last minute (max_kills_per_minute = 5)"))
        var off = p
        off.enabled = false
        #expect(off.decide(req(1000), target: facts()) == .refuse("response is disabled ([response] enabled = false)"))
    }

    // kill(0) and kill(-1) would signal a process group or every process: never a target.
    @Test(arguments: [0, 1, -1, -42] as [Int32])
    func pidsThatAreNotOneProcessAreRefused(pid: Int32) {
        #expect(policy.decide(req(pid), target: facts()) == .refuse("pid \(pid) is never killed"))
    }

    /// Exact paths protect that path alone; a prefix ending in "/" protects everything beneath
    /// it and nothing beside it.
    @Test(arguments: [
        ("/usr/sbin/sshd", true), ("/usr/sbin/sshd2", false), ("/usr/sbin/sshd/x", false), ("/usr/sbin", false),
        ("/usr/lib/systemd/systemd", true), ("/usr/lib/systemd/deep/er/tool", true),
        ("/usr/lib/systemd", false), ("/usr/lib/systemd-evil", false), ("/usr/lib/systemdx/y", false),
        ("/opt/agent", true), ("/opt/agent/bin/tool", false)
    ])
    func protectedExecutablesByPathOrPrefix(executable: String, protected: Bool) {
        var p = policy
        p.protectedExecutables = ["/usr/sbin/sshd", "/usr/lib/systemd/", "/opt/agent"]
        let refusal = ResponsePolicy.Decision.refuse("\(executable) is a protected executable")
        // Whichever says so: the kernel's record in the request, or /proc.
        #expect((p.decide(req(1000, exe: executable), target: facts(exe: nil)) == refusal) == protected)
        #expect((p.decide(req(1000, exe: ""), target: facts(exe: executable)) == refusal) == protected)
        #expect((p.decide(req(1000, exe: "/tmp/evil"), target: facts(exe: executable)) == refusal) == protected)
        if !protected {
            #expect(p.decide(req(1000, exe: executable), target: facts(exe: executable)) == .act)
        }
    }

    @Test func withNoExecutableKnownOnlyTheOtherChecksApply() {
        #expect(policy.decide(req(1000, exe: ""), target: facts(exe: nil)) == .act)
    }

    /// A kernel thread is never killed, whatever else is true of it: root, no executable, no
    /// protected path.
    @Test func kernelThreadsAreRefusedWhateverElseTheyLookLike() {
        var p = policy
        p.protectedExecutables = []
        p.protectedUIDs = []
        let kthread = facts(ppid: 2, uid: 0, euid: 0, kthread: true, ns: [1000], exe: nil)
        #expect(p.decide(req(1000, exe: ""), target: kthread) == .refuse("pid 1000 is a kernel thread"))
        #expect(p.decide(req(1000, exe: "/tmp/evil"), target: kthread) == .refuse("pid 1000 is a kernel thread"))
        #expect(p.decide(req(1000, exe: ""), target: facts(ppid: 2, uid: 0, euid: 0, exe: nil)) == .act)
    }

    @Test func theRateLimitCountsOnlyAfterEveryProtection() {
        var p = policy
        p.maxKillsPerMinute = 0
        #expect(
            p.decide(req(1000), target: facts(), recentKills: 0)
                == .refuse("rate limit: 0 kills in the last minute (max_kills_per_minute = 0)"))
        p.maxKillsPerMinute = 5
        // A protected or vanished target is reported as such, not as rate-limited.
        #expect(p.decide(req(1000), target: facts(uid: 123), recentKills: 50) == .refuse("pid 1000 runs as protected uid 123"))
        #expect(
            p.decide(req(1000, exe: "/usr/sbin/sshd"), target: facts(), recentKills: 50)
                == .refuse("/usr/sbin/sshd is a protected executable"))
        #expect(p.decide(req(1000), target: nil, recentKills: 50) == .gone("process 1000 is gone"))
        #expect(
            p.decide(req(1000), target: facts(), recentKills: 50)
                == .refuse("rate limit: 50 kills in the last minute (max_kills_per_minute = 5)"))
    }

    @Test func targetFactsComeFromProc() throws {
        let sleeper = try startSleeper()
        defer { stop(sleeper) }
        let pid = sleeper.processIdentifier
        let f = try #require(TargetFacts.read(pid: pid))
        #expect(f.startTicks == procStartTicks(pid: pid))
        #expect(f.ppid == getpid())
        #expect(f.uid == getuid() && f.euid == geteuid())
        #expect(!f.isKernelThread)
        #expect(f.namespacePIDs.last == pid)
        #expect(f.executable == "/usr/bin/sleep")
        // kthreadd (pid 2) is a kernel thread.
        #expect(TargetFacts.read(pid: 2)?.isKernelThread == true)
        #expect(TargetFacts.read(pid: 1)?.isKernelThread == false)
    }

    @Test func killsTheRealProcessOnlyWhenStartTimeMatches() throws {
        let sleeper = try startSleeper()
        defer { stop(sleeper) }
        let pid = sleeper.processIdentifier
        let start = try #require(procStartTicks(pid: pid))
        var p = ResponsePolicy(enabled: true, minLevel: 0, protectedPIDs: [], supervisorPID: -5)
        p.protectedExecutables = []
        let responder = Responder(policy: p)

        let wrong = responder.handle(ResponseRequest(pid: pid, startTicks: start + 1, level: 4, ruleID: "r", ruleName: "n", requestID: 9))
        #expect(wrong.outcome == .gone)
        #expect(wrong.requestID == 9 && wrong.ruleID == "r" && wrong.ruleName == "n")
        #expect(isRunning(pid), "a reused pid must not be killed")

        let right = responder.handle(ResponseRequest(pid: pid, startTicks: start, level: 4, ruleID: "r", ruleName: "n", requestID: 10))
        #expect(right.outcome == .killed)
        #expect(right.uid == getuid())
        #expect(right.executable == "/usr/bin/sleep")
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGKILL)
    }

    @Test func dryRunAndProtectedExecutablesKillNothing() throws {
        let sleeper = try startSleeper()
        defer { stop(sleeper) }
        let pid = sleeper.processIdentifier
        let start = try #require(procStartTicks(pid: pid))
        var p = ResponsePolicy(enabled: true, minLevel: 0, protectedPIDs: [], supervisorPID: -5)
        p.dryRun = true
        let dry = Responder(policy: p).handle(ResponseRequest(pid: pid, startTicks: start, level: 4, ruleID: "r", ruleName: "n"))
        #expect(dry.outcome == .wouldKill && dry.dryRun)
        p.dryRun = false
        p.protectedExecutables = ["/usr/bin/sleep"]
        let prot = Responder(policy: p).handle(ResponseRequest(pid: pid, startTicks: start, level: 4, ruleID: "r", ruleName: "n", executable: "/tmp/lie"))
        #expect(prot.outcome == .refused && prot.message == "/usr/bin/sleep is a protected executable")
        usleep(20_000)
        #expect(isRunning(pid))
    }

    @Test func rateLimitRefusesAndReports() throws {
        var p = ResponsePolicy(enabled: true, minLevel: 0, protectedPIDs: [], supervisorPID: -5)
        p.maxKillsPerMinute = 2
        let responder = Responder(policy: p)
        var outcomes: [ResponseResult.Outcome] = []
        for _ in 0..<3 {
            let sleeper = try startSleeper()
            defer { stop(sleeper) }
            let pid = sleeper.processIdentifier
            let start = try #require(procStartTicks(pid: pid))
            outcomes.append(responder.handle(ResponseRequest(pid: pid, startTicks: start, level: 4, ruleID: "r", ruleName: "n")).outcome)
        }
        #expect(outcomes == [.killed, .killed, .refused])
        #expect(responder.killed == 2 && responder.refused == 1)
    }

    @Test func outcomesRoundTripOnTheWire() throws {
        let r = ResponseResult(
            pid: 42, outcome: .wouldKill, message: "m", requestID: 77, dryRun: true, uid: 1000,
            ruleID: "id", ruleName: "name", executable: "/bin/x")
        #expect(try ResponseResult(frame: r.frame()) == r)
        var bad = r.frame()
        bad.payload[12] = 99
        #expect(throws: WireError.self) { try ResponseResult(frame: bad) }
        let q = ResponseRequest(pid: 5, startTicks: 6, level: 3, ruleID: "a", ruleName: "b", executable: "/c", requestID: 8)
        #expect(try ResponseRequest(frame: q.frame()) == q)
    }
}

private func isRunning(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}
