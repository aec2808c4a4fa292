import Testing
import Foundation
import CLinux
@testable import EDRCore
@testable import EDRSupervisor
@testable import EDRRespond
import EDRDetect

let isRoot = getuid() == 0
let binDir: String = ProcessInfo.processInfo.environment["EDR_BIN_DIR"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug").path

@Suite("Confinement")
struct ConfinementTests {
    /// The detector's final allowlist, installed in a child process: forbidden calls fail.
    @Test func detectorAllowlistDeniesForbiddenCalls() async {
        await #expect(processExitsWith: .success) {
            prctlNoNewPrivs()
            let f = try! SeccompFilter.allowlist(role: .detector)
            try! f.loadForAllThreads()
            let outcomes = ConfinementProbe.run()
            exit(outcomes.allSatisfy(\.denied) && outcomes.count == 8 ? 0 : 1)
        }
    }

    @Test func responderAllowlistKeepsKillButNotExec() async {
        await #expect(processExitsWith: .success) {
            prctlNoNewPrivs()
            let f = try! SeccompFilter.allowlist(role: .responder)
            try! f.loadForAllThreads()
            let outcomes = ConfinementProbe.run(canKill: true)
            // kill(own pid, 0) is allowed for the responder.
            exit(outcomes.allSatisfy(\.denied) && edr_raw_kill(getpid(), 0) == 0 ? 0 : 1)
        }
    }

    /// The real edr-detect binary, spawned the way `edr run` spawns it, proves its own sandbox.
    @Test(.enabled(if: isRoot, "needs root to change uid"))
    func spawnedDetectorIsConfinedFromItsFirstInstruction() throws {
        var pipeFDs: [Int32] = [0, 0]
        #expect(pipe(&pipeFDs) == 0)
        let nobody = try resolveUser("nobody")
        var spec = ChildSpec(name: "edr-detect", executable: binDir + "/edr-detect", arguments: ["--probe-confinement"],
                             uid: nobody.uid, gid: nobody.gid, capabilities: [], seccompRole: .detector, fds: [])
        spec.stdoutFD = pipeFDs[1]
        let pid = try Spawner.spawn(spec)
        close(pipeFDs[1])
        let output = String(decoding: try readAll(fd: pipeFDs[0]), as: UTF8.self)
        close(pipeFDs[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status == 0, "probe output:\n\(output)")
        for call in ["execve(", "execveat(", "socket(AF_INET)", "socket(AF_INET6)", "ptrace", "bpf", "mount", "kill"] {
            #expect(output.contains(call), "missing \(call)")
        }
        #expect(!output.contains("ALLOWED"), "\(output)")
    }

    @Test(.enabled(if: isRoot, "needs root to change uid"))
    func spawnHelperAppliesIdentityCapabilitiesAndFilter() throws {
        // A plain program spawned as the responder would be: uid nobody, CAP_KILL only.
        let nobody = try resolveUser("nobody")
        var pipeFDs: [Int32] = [0, 0]
        #expect(pipe(&pipeFDs) == 0)
        var spec = ChildSpec(name: "cat", executable: "/bin/cat", arguments: ["/proc/self/status"],
                             uid: nobody.uid, gid: nobody.gid, capabilities: [.kill], seccompRole: .responder, fds: [])
        spec.stdoutFD = pipeFDs[1]
        let pid = try Spawner.spawn(spec)
        close(pipeFDs[1])
        let status = ProcStatus(text: String(decoding: try readAll(fd: pipeFDs[0]), as: UTF8.self))
        close(pipeFDs[0])
        waitpid(pid, nil, 0)
        #expect(status.uids == [nobody.uid, nobody.uid, nobody.uid, nobody.uid])
        #expect(status.capEff == Capability.kill.bit)
        #expect(status.capPrm == Capability.kill.bit)
        #expect(status.capAmb == Capability.kill.bit)
        #expect(status.capBnd == Capability.kill.bit)
        #expect(status.noNewPrivs == 1)
        #expect(status.seccomp == 2)
    }

    @Test(.enabled(if: isRoot, "needs root"))
    func spawnFailureNamesTheStage() {
        let spec = ChildSpec(name: "missing", executable: "/nonexistent/binary", arguments: [], uid: 65534, gid: 65534,
                             capabilities: [], seccompRole: .detector, fds: [])
        #expect { try Spawner.spawn(spec) } throws: { e in "\(e)".contains("execve") }
    }

    /// Why the sensor holds CAP_SYS_PTRACE, proven: root with only CAP_BPF and CAP_PERFMON cannot
    /// read the executable link of a process holding more capabilities (this test process, root
    /// with a full set); with CAP_SYS_PTRACE added it can.
    @Test(.enabled(if: isRoot, "needs root"))
    func sensorNeedsPtraceToReadOtherProcessesExecutables() throws {
        func readlinkInit(_ caps: [Capability]) throws -> Int32 {
            let spec = ChildSpec(name: "readlink", executable: "/usr/bin/readlink", arguments: ["/proc/\(getpid())/exe"],
                                 uid: 0, gid: 0, capabilities: caps, seccompRole: .sensor, fds: [])
            var spawned = spec
            spawned.stdoutFD = open("/dev/null", O_WRONLY)
            let pid = try Spawner.spawn(spawned)
            close(spawned.stdoutFD)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return status
        }
        #expect(try readlinkInit([.bpf, .perfmon]) != 0)
        #expect(try readlinkInit(Supervisor.sensorCapabilities) == 0)
        #expect(Supervisor.sensorCapabilities.count == 3)
        #expect(capabilityNames(Capability.mask([.bpf, .perfmon, .sysPtrace])) == "CAP_SYS_PTRACE,CAP_PERFMON,CAP_BPF")
        #expect(capabilityNames(1 << 40) == "CAP_CHECKPOINT_RESTORE")
    }
}

@Suite("Response")
struct ResponseTests {
    let policy = ResponsePolicy(enabled: true, minLevel: 3, protectedPIDs: [99], supervisorPID: 42)

    @Test func policyRefusesWhatItProtects() {
        func req(_ pid: Int32, _ level: UInt8) -> ResponseRequest { ResponseRequest(pid: pid, startTicks: 1, level: level, ruleID: "r", ruleName: "n") }
        #expect(policy.decide(req(1000, 4), parentOf: { _ in 7 }) == .act)
        #expect(policy.decide(req(1000, 2), parentOf: { _ in 7 }) != .act)      // below min level
        #expect(policy.decide(req(1, 4), parentOf: { _ in 0 }) != .act)         // init
        #expect(policy.decide(req(99, 4), parentOf: { _ in 7 }) != .act)        // the agent itself
        #expect(policy.decide(req(1000, 4), parentOf: { _ in 42 }) != .act)     // a child of the supervisor
        var off = policy
        off.enabled = false
        #expect(off.decide(req(1000, 4), parentOf: { _ in 7 }) != .act)
    }

    @Test func killsTheRealProcessOnlyWhenStartTimeMatches() throws {
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["60"]
        try sleeper.run()
        let pid = sleeper.processIdentifier
        let start = try #require(procStartTicks(pid: pid))
        let responder = Responder(listener: -1, detectorUID: 0, policy: ResponsePolicy(enabled: true, minLevel: 0, protectedPIDs: [], supervisorPID: -5))

        let wrong = responder.handle(ResponseRequest(pid: pid, startTicks: start + 1, level: 4, ruleID: "r", ruleName: "n"))
        #expect(wrong.outcome == .gone)
        #expect(kill(pid, 0) == 0, "a reused pid must not be killed")

        let right = responder.handle(ResponseRequest(pid: pid, startTicks: start, level: 4, ruleID: "r", ruleName: "n"))
        #expect(right.outcome == .killed)
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGKILL)
    }
}
