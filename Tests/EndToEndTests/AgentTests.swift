import Testing
import Foundation
import EDRCore
import EDRSystem
import CLinux

/// The real agent: real eBPF programs on this kernel, real confined processes, real alerts.
@Suite("End to end", .serialized, .enabled(if: runningAsRoot, "the agent loads eBPF and changes uids: run as root"))
struct AgentTests {
    static func markerRule(_ marker: String, level: String, field: String = "CommandLine") -> String {
        """
        title: E2E marker \(marker)
        id: 00000000-0000-4000-8000-\(String(marker.suffix(12)))
        status: test
        logsource:
            product: linux
            category: process_creation
        detection:
            selection:
                \(field)|contains: '\(marker)'
            condition: selection
        level: \(level)
        """
    }

    @Test func execAlertsConfinementAndRestart() throws {
        let marker = "edrmark" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased()
        let agent = try AgentHarness(extraRules: ["marker.yml": Self.markerRule(marker, level: "high")])
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")

        // 1. whoami as root → the team rule fires with the right process, parent and user.
        let whoamiPID = try runProgram("/usr/bin/whoami", [])
        let alert = try #require(
            agent.waitForAlert { a in (a.path("process", "pid") as? Int) == Int(whoamiPID) },
            "no whoami alert:\n\(agent.output)")
        #expect(alert.path("rule", "name") as? String == "Identity Discovery As Root")
        #expect(alert.path("rule", "ruleset") as? String == "sigma")
        #expect(alert.path("event", "kind") as? String == "alert")
        #expect(alert.path("process", "executable") as? String == "/usr/bin/whoami")
        #expect(alert.path("process", "command_line") as? String == "/usr/bin/whoami")
        #expect(alert.path("process", "parent", "pid") as? Int == Int(getpid()))
        let myExe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #expect(alert.path("process", "parent", "executable") as? String == myExe)
        #expect(alert.path("user", "name") as? String == "root")
        #expect(alert.path("user", "id") as? String == "0")
        #expect(alert.path("host", "name") as? String != nil)
        #expect(alert.path("agent", "name") as? String == "edr")

        // 2. Over 1 KiB of arguments, from another working directory, survive intact.
        let args = [marker] + (0..<80).map { "argument-number-\($0)-padding" }
        let longPID = try runProgram("/bin/echo", args, cwd: "/usr/share")
        let long = try #require(agent.waitForAlert { a in (a.path("process", "pid") as? Int) == Int(longPID) }, "no long-args alert")
        let cmd = try #require(long.path("process", "command_line") as? String)
        #expect(cmd == "/bin/echo " + args.joined(separator: " "))
        #expect(cmd.utf8.count > 1024)
        #expect((long.path("process", "args") as? [String])?.count == 82)  // argv[0] + 81
        #expect(long.path("process", "working_directory") as? String == "/usr/share")
        #expect(long.path("rule", "name") as? String == "E2E marker \(marker)")
        #expect(long.path("edr", "event", "Truncated") == nil, "nothing was cut")
        // Past 8 KiB of argv the kernel side cuts, and the alert says so.
        let huge = [marker] + (0..<400).map { "argument-\($0)-" + String(repeating: "x", count: 20) }
        let hugePID = try runProgram("/bin/echo", huge)
        let cut = try #require(agent.waitForAlert { a in (a.path("process", "pid") as? Int) == Int(hugePID) }, "no alert for the 12 KiB exec")
        #expect(cut.path("edr", "event", "Truncated") as? [String] == ["CommandLine"])
        #expect(((cut.path("process", "command_line") as? String)?.utf8.count ?? 0) < 8192 + 16)

        // 3. Confinement, read from /proc/PID/status of each child.
        let sensor = try #require(agent.childPID("edr-sensor"))
        let detect = try #require(agent.childPID("edr-detect"))
        let s = try ProcStatus.read(pid: sensor)
        #expect(s.uids.first == 0)
        #expect(s.capEff == Capability.mask([.bpf, .perfmon, .sysPtrace]))
        #expect(s.capBnd == s.capEff)
        #expect(s.seccomp == 2 && s.noNewPrivs == 1)
        let d = try ProcStatus.read(pid: detect)
        #expect(d.uids.count == 4 && Set(d.uids).count == 1)
        let detectUID = try #require(d.uids.first)
        #expect((61184...65519).contains(detectUID), "a dynamic uid of its own, not nobody: \(detectUID)")
        #expect(d.gids == [detectUID, detectUID, detectUID, detectUID])
        #expect(ownerOf("/proc/\(detect)/mem") == 0, "not dumpable: its /proc entries belong to root")
        #expect(
            namespaceLink(pid: detect, "net") != namespaceLink(pid: getpid(), "net") && namespaceLink(pid: detect, "ipc") != namespaceLink(pid: getpid(), "ipc")
        )
        #expect(namespaceLink(pid: sensor, "net") == namespaceLink(pid: getpid(), "net"))
        #expect(agent.output.contains("landlock_abi=\(landlockABI())"), "the start-up summary names the Landlock ABI")
        #expect(d.capEff == 0 && d.capPrm == 0 && d.capBnd == 0 && d.capAmb == 0)
        #expect(d.noNewPrivs == 1)
        #expect(d.seccomp == 2)
        #expect(d.seccompFilters == 2, "pre-exec filter plus the detector's own allowlist")
        #expect(s.seccompFilters == 2, "pre-exec filter plus the sensor's own allowlist")

        // 4. kill -9 edr-detect: it comes back, and the next exec still alerts. An exec while
        //    no detector runs is not lost: the sensor replays what was never acknowledged.
        kill(detect, SIGKILL)
        let duringOutage = try runProgram("/bin/echo", [marker, "during-outage"])
        var newDetect: Int32?
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let p = agent.childPID("edr-detect"), p != detect { newDetect = p; break }
            usleep(20_000)
        }
        try #require(newDetect != nil, "edr-detect was not restarted:\n\(agent.output)")
        #expect(agent.output.contains("edr-detect pid \(detect) killed by signal 9"))
        #expect(agent.waitFor("edr-detect pid \(newDetect ?? 0) ready again"), "\(agent.output)")
        #expect(
            agent.waitForAlert { a in (a.path("process", "pid") as? Int) == Int(duringOutage) } != nil,
            "the exec during the detector's outage was lost:\n\(agent.output)")
        let again = try runProgram("/usr/bin/whoami", [])
        #expect(agent.waitForAlert { a in (a.path("process", "pid") as? Int) == Int(again) } != nil, "no alert after restart:\n\(agent.output)")
        let restarted = try ProcStatus.read(pid: newDetect ?? 0)
        #expect(restarted.capEff == 0 && restarted.seccomp == 2 && restarted.noNewPrivs == 1)
        #expect(restarted.uids.first == detectUID, "the replacement runs under the same identity")
        // The kill was reported in the alert stream.
        let died = agent.alerts(ruleset: "edr-health").first { $0.path("process", "pid") as? Int == Int(detect) }
        #expect(died?.path("rule", "id") as? String == "edr-health-child-killed", "\(agent.alerts(ruleset: "edr-health"))")

        // 5. Clean stop on SIGTERM: exit 0, and every child it had is gone (checked by pid:
        //    looking children up by parent after the supervisor exited would find nothing).
        let childrenBefore = agent.childPIDs()
        #expect(childrenBefore.count == 2 && childrenBefore.contains(sensor) && childrenBefore.contains(newDetect ?? 0))
        #expect(agent.stop() == 0)
        for pid in childrenBefore { #expect(!isAlive(pid), "child \(pid) survived the supervisor") }
        #expect(agent.output.contains("stopped"))
    }

    /// While records flow the sensor sleeps a batch delay (here up to a second) instead of
    /// waiting on the ring; a flood must still be drained as it comes, not when the delay ends.
    /// A paced file storm (10,000 files a second: 20,000 records, past the rate that makes the
    /// delay its full second) runs throughout, and 600 execs with 7 KB of arguments each (4.5
    /// MiB) come on top of it: with a 2 MiB ring, a sensor that slept its second would drop
    /// records of every kind. Every exec must alert. (A sensor that does not watch the ring
    /// while it batches often escapes here, woken by the detector's reads instead: the wake-up
    /// protocol itself is checked in `RingWakeupTests`.)
    @Test func aFloodIsDrainedAsItComesWhateverTheBatchDelay() throws {
        let marker = "edrflood" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased()
        let agent = try AgentHarness(
            extraRules: ["marker.yml": Self.markerRule(marker, level: "low")],
            extraConfig: "ring_buffer_mib = 2\nmax_batch_delay_ms = 1000")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let first = try runProgram("/bin/true", [marker, "first"])
        try #require(agent.waitForAlert { a in (a.path("process", "pid") as? Int) == Int(first) } != nil, "\(agent.output)")

        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var errors: [String] = []
            var stop = false
            var files = 0
        }
        let shared = Shared()
        let scratch = "/tmp/edr-flood-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let storm = DispatchGroup()
        DispatchQueue.global().async(group: storm) {
            let t0 = monotonicNanos()
            var i = 0
            while !shared.lock.withLock({ shared.stop }) {
                // 10,000 a second: ahead of schedule, wait.
                let due = t0 + UInt64(i) * 100_000
                let now = monotonicNanos()
                if due > now { usleep(UInt32((due - now) / 1000)) }
                let path = "\(scratch)/f\(i % 64)"
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                if fd < 0 {
                    shared.lock.withLock { shared.errors.append("open \(path): \(errno)") }
                    return
                }
                _ = write(fd, "x", 1)
                close(fd)
                unlink(path)
                i += 1
            }
            shared.lock.withLock { shared.files = i }
        }
        usleep(300_000)

        // Two spawners, 300 execs each with 7 KB of arguments: ≈ 4.5 MiB of exec records.
        let padding = (0..<70).map { "pad\($0)-" + String(repeating: "y", count: 95) }
        let perThread = 300
        let group = DispatchGroup()
        let started = Date()
        for t in 0..<2 {
            DispatchQueue.global().async(group: group) {
                for i in 0..<perThread {
                    do {
                        let pid = try spawnChild("/bin/true", ["\(marker)-flood-\(t)-\(i)"] + padding)
                        var status: Int32 = 0
                        waitpid(pid, &status, 0)
                    } catch {
                        shared.lock.withLock { shared.errors.append("\(error)") }
                    }
                }
            }
        }
        group.wait()
        let floodSeconds = Date().timeIntervalSince(started)
        usleep(300_000)
        shared.lock.withLock { shared.stop = true }
        storm.wait()
        #expect(shared.errors.isEmpty, "\(shared.errors.prefix(3))")
        #expect(shared.files > 3000, "the file storm made only \(shared.files) files")

        var flooded = 0
        let deadline = Date().addingTimeInterval(30)
        repeat {
            flooded = agent.alerts().filter { (($0.path("process", "command_line") as? String) ?? "").contains("\(marker)-flood-") }.count
            if flooded == 2 * perThread { break }
            usleep(200_000)
        } while Date() < deadline
        #expect(
            flooded == 2 * perThread,
            "\(flooded) of \(2 * perThread) execs alerted (flood took \(floodSeconds) s, \(shared.files) files); the sensor slept while the ring filled:\n\(agent.output.suffix(3000))"
        )
    }

    @Test func responderKillsAboveThresholdOnly() throws {
        let killMarker = "edrkill" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased()
        let keepMarker = "edrkeep" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased()
        let agent = try AgentHarness(
            extraRules: [
                "kill.yml": Self.markerRule(killMarker, level: "critical"),
                "keep.yml": Self.markerRule(keepMarker, level: "medium")
            ], response: true, minLevel: "high")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let respond = try #require(agent.childPID("edr-respond"))
        let detect = try #require(agent.childPID("edr-detect"))
        let r = try ProcStatus.read(pid: respond)
        #expect(Set(r.uids).count == 1 && (61184...65519).contains(r.uids[0]))
        #expect(r.uids[0] != (try ProcStatus.read(pid: detect)).uids[0], "responder and detector have identities of their own")
        #expect(r.capEff == Capability.kill.bit && r.capBnd == Capability.kill.bit)
        #expect(r.noNewPrivs == 1 && r.seccomp == 2)

        // The medium match first: requests are answered in order, so once the critical one's
        // outcome is in, a request for the medium one would have been answered before it.
        let spared = try spawnChild("/bin/sh", ["-c", "sleep 30; : \(keepMarker)"])
        #expect(agent.waitForAlert { a in (a.path("process", "pid") as? Int) == Int(spared) } != nil)
        let doomed = try spawnChild("/bin/sh", ["-c", "sleep 30; : \(killMarker)"])
        defer { kill(doomed, SIGKILL); waitpid(doomed, nil, 0) }
        let deadline = Date().addingTimeInterval(10)
        while isAlive(doomed) && Date() < deadline { usleep(20_000) }
        #expect(!isAlive(doomed), "the critical match was not killed:\n\(agent.output)")
        var status: Int32 = 0
        #expect(waitpid(doomed, &status, WNOHANG) == doomed)
        #expect(status & 0x7f == SIGKILL, "killed by SIGKILL")
        // The kill is its own event in the alert stream.
        let outcome = agent.waitForAlert { a in a.path("rule", "ruleset") as? String == "edr-response" && a.path("process", "pid") as? Int == Int(doomed) }
        #expect(outcome?.path("event", "action") as? String == "process-killed")
        #expect(outcome?.path("edr", "response", "outcome") as? String == "killed")
        #expect(outcome?.path("process", "executable") as? String == "/usr/bin/dash" || outcome?.path("process", "executable") as? String == "/usr/bin/bash")
        // The medium match asked for nothing: no outcome for it, and it lives.
        #expect(!agent.alerts(ruleset: "edr-response").contains { $0.path("process", "pid") as? Int == Int(spared) })
        #expect(isAlive(spared), "a medium alert must not kill")
        kill(spared, SIGKILL)
        waitpid(spared, nil, 0)
        #expect(agent.output.contains("killed pid \(doomed)"))
    }
}

/// Owner uid of a path (a non-dumpable process's /proc entries belong to root).
func ownerOf(_ path: String) -> uid_t? {
    var st = stat()
    return stat(path, &st) == 0 ? st.st_uid : nil
}

func landlockABI() -> Int { Int(edr_landlock_abi()) }
