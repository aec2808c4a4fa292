import Testing
import Foundation
import EDRCore

/// Operating the agent as a fleet would: rotation by the real logrotate under load, size-based
/// rotation, `edr status`, metrics served by the real node_exporter, journald priorities.
@Suite("Operations", .serialized, .enabled(if: runningAsRoot, "the agent loads eBPF and changes uids: run as root"))
struct OperationsTests {
    /// Runs `/bin/true MARKER-n` for n in 0..<count at about `rate` per second (Python's
    /// posix_spawn loop, paced); returns when done.
    static func execs(marker: String, count: Int, rate: Int) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [
            "-c",
            """
            import os, time
            t0 = time.monotonic()
            for n in range(\(count)):
                pid = os.posix_spawn("/bin/true", ["/bin/true", "\(marker)-%d" % n], {})
                os.waitpid(pid, 0)
                ahead = t0 + (n + 1) / \(rate) - time.monotonic()
                if ahead > 0: time.sleep(ahead)
            """
        ]
        try p.run()
        return p
    }

    /// The n of every alert for `marker` in the given files (a missing file counts as empty).
    static func markerAlerts(_ marker: String, in files: [String]) -> [Int] {
        var out: [Int] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else { continue }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let a = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    a.path("rule", "ruleset") as? String == "sigma",
                    let cmd = a.path("process", "command_line") as? String,
                    let r = cmd.range(of: marker + "-"), let n = Int(cmd[r.upperBound...])
                else { continue }
                out.append(n)
            }
        }
        return out
    }

    /// The alerts of `files` read as one snapshot: a rotation between reading the live file and
    /// reading `.1` would show the same lines twice (or none), so the read is repeated until no
    /// file changed (inode, size) while it was read.
    static func markerAlertsSettled(_ marker: String, in files: [String]) -> [Int] {
        func shape() -> [String] {
            files.map { f in
                var st = stat()
                return stat(f, &st) == 0 ? "\(st.st_ino):\(st.st_size)" : "-"
            }
        }
        for _ in 0..<50 {
            let before = shape()
            let out = markerAlerts(marker, in: files)
            if shape() == before { return out }
            usleep(100_000)
        }
        return markerAlerts(marker, in: files)
    }

    /// One HTTP GET on loopback (Python's urllib: Foundation here has no networking).
    static func httpGet(_ url: String) -> String {
        let script = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
        guard let r = try? runWithDeadline("/usr/bin/python3", ["-c", script, url], timeout: 10), r.status == 0 else { return "" }
        return r.output
    }

    static func wait(_ p: Process, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { p.terminate(); return false }
        return p.terminationStatus == 0
    }

    @Test func logrotateUnderLoadLosesAndDuplicatesNothing() throws {
        let marker = AttackTests.unique("edrrot")
        let agent = try AgentHarness(extraRules: ["m.yml": AgentTests.markerRule(marker, level: "low")])
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let pidFile = agent.runtimeDir + "/edr.pid"
        #expect(
            (try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == String(agent.process.processIdentifier))
        // The Debian logrotate file's shape, aimed at this agent's files.
        let conf = agent.dir.appendingPathComponent("logrotate.conf").path
        try """
        \(agent.alertsPath) {
            rotate 10
            missingok
            create 0640 root root
            postrotate
                kill -HUP "$(cat \(pidFile))"
            endscript
        }
        """.write(toFile: conf, atomically: true, encoding: .utf8)
        chmod(conf, 0o644)
        let state = agent.dir.appendingPathComponent("logrotate.state").path

        let count = 4000
        let load = try Self.execs(marker: marker, count: count, rate: 1000)
        for _ in 0..<2 {
            usleep(1_200_000)
            let lr = Process()
            lr.executableURL = URL(fileURLWithPath: "/usr/sbin/logrotate")
            lr.arguments = ["-f", "-s", state, conf]
            try lr.run()
            #expect(Self.wait(lr, timeout: 30), "logrotate failed")
        }
        #expect(Self.wait(load, timeout: 60), "the exec load did not finish")
        let files = [agent.alertsPath, agent.alertsPath + ".1", agent.alertsPath + ".2"]
        var seen: [Int] = []
        let deadline = Date().addingTimeInterval(60)
        repeat {
            seen = Self.markerAlerts(marker, in: files)
            if seen.count >= count { break }
            usleep(200_000)
        } while Date() < deadline
        #expect(seen.count == count, "alerts across the rotation: \(seen.count) of \(count)")
        #expect(Set(seen).count == seen.count, "duplicated alerts: \(seen.count - Set(seen).count)")
        #expect(Set(seen) == Set(0..<count))
        // Each file got part of the load: the rotations happened under it.
        for f in files { #expect(!Self.markerAlerts(marker, in: [f]).isEmpty, "\(f) holds none of the load") }
        #expect(agent.output.components(separatedBy: "alert file reopened").count - 1 == 2, "\(agent.output.suffix(2000))")
    }

    @Test func sizeBasedRotationKeepsTheConfiguredCount() throws {
        let marker = AttackTests.unique("edrsize")
        let agent = try AgentHarness(
            extraRules: ["m.yml": AgentTests.markerRule(marker, level: "low")],
            alertsConfig: "max_size_mib = 1\nkeep = 2")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let count = 4000  // ≈ 1.1 KiB each: about four files' worth
        let load = try Self.execs(marker: marker, count: count, rate: 1000)
        #expect(Self.wait(load, timeout: 60))
        let deadline = Date().addingTimeInterval(60)
        var newest = 0
        repeat {
            newest = Self.markerAlerts(marker, in: [agent.alertsPath]).max() ?? 0
            if newest == count - 1 { break }
            usleep(200_000)
        } while Date() < deadline
        #expect(newest == count - 1, "the last exec's alert is in the live file")
        #expect(FileManager.default.fileExists(atPath: agent.alertsPath + ".1"))
        #expect(FileManager.default.fileExists(atPath: agent.alertsPath + ".2"))
        #expect(!FileManager.default.fileExists(atPath: agent.alertsPath + ".3"), "keep = 2")
        let kept = Self.markerAlertsSettled(marker, in: [agent.alertsPath, agent.alertsPath + ".1", agent.alertsPath + ".2"])
        #expect(Set(kept).count == kept.count, "no alert twice")
        // What is kept is the newest, contiguous run of alerts.
        if let low = kept.min() { #expect(Set(kept) == Set(low..<count)) }
        var st = stat()
        // Checked about once a second: a file exceeds the limit by at most what a second of alerts adds.
        #expect(stat(agent.alertsPath + ".1", &st) == 0 && st.st_size >= 1 << 20 && st.st_size < 3 << 20, "\(st.st_size) bytes")
    }

    @Test func statusAndMetricsDescribeTheRunningAgent() throws {
        let metrics = "/tmp/edr-prom-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: metrics, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: metrics) }
        let agent = try AgentHarness(response: true, extraConfig: "[metrics]\ntextfile_dir = \"\(metrics)\"")
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let detect = try #require(agent.childPID("edr-detect"))
        let detectUID = try AttackTests.uid(of: detect)

        func status(_ args: [String] = []) throws -> (Int32, String) {
            let r = try runWithDeadline(binDirectory + "/edr", ["status", "--config", agent.configPath] + args, timeout: 30)
            return (r.status, r.output)
        }
        // The status file is written every 2 s: wait for one that has the detector's counters.
        var doc: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(20)
        repeat {
            let (code, text) = try status(["--json"])
            if code == 0, let d = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                let kids = d["children"] as? [[String: Any]], kids.contains(where: { ($0["stats"] as? [String: Any])?["sigma_rules"] != nil })
            {
                doc = d
                break
            }
            usleep(300_000)
        } while Date() < deadline
        let kids = try #require(doc["children"] as? [[String: Any]], "no status document")
        #expect(kids.map { $0["name"] as? String } == ["edr-sensor", "edr-detect", "edr-respond"])
        let d = try #require(kids.first { $0["name"] as? String == "edr-detect" })
        #expect(d["pid"] as? Int == Int(detect))
        #expect(d["uid"] as? Int == Int(detectUID))
        #expect(d["cap_eff"] as? String == "none")
        #expect(d["seccomp"] as? Int == 2 && d["seccomp_filters"] as? Int == 2 && d["no_new_privs"] as? Int == 1)
        #expect(d["own_network_namespace"] as? Bool == true)
        #expect((d["stats"] as? [String: Any])?["sigma_rules"] as? Int == 5)
        #expect(kids.first { $0["name"] as? String == "edr-sensor" }?["own_network_namespace"] as? Bool == false)
        let (code, text) = try status()
        #expect(code == 0)
        #expect(text.contains("edr-detect   pid \(detect)  uid \(detectUID)  ready"), "\(text)")
        #expect(text.contains("loss: kernel ring-full 0"), "\(text)")

        // node_exporter's textfile collector serves the metrics on loopback.
        let port = try freeLoopbackPort()
        let exporter = Process()
        exporter.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus-node-exporter")
        exporter.arguments = [
            "--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults", "--collector.textfile",
            "--collector.textfile.directory=\(metrics)"
        ]
        exporter.standardOutput = FileHandle.nullDevice
        exporter.standardError = FileHandle.nullDevice
        try exporter.run()
        defer { exporter.terminate(); exporter.waitUntilExit() }
        var scraped = ""
        let until = Date().addingTimeInterval(20)
        repeat {
            scraped = Self.httpGet("http://127.0.0.1:\(port)/metrics")
            if scraped.contains("edr_child_up") { break }
            usleep(200_000)
        } while Date() < until
        #expect(scraped.contains("edr_up 1"), "\(scraped.prefix(2000))")
        for child in ["edr-sensor", "edr-detect", "edr-respond"] {
            #expect(scraped.contains("edr_child_up{child=\"\(child)\"} 1"))
            #expect(scraped.contains("edr_child_restarts_total{child=\"\(child)\"} 0"))
        }
        #expect(scraped.contains("edr_sigma_rules_loaded 5"))
        #expect(scraped.contains("edr_kernel_records_lost_ring_full_total "))
        #expect(scraped.contains("\nnode_textfile_scrape_error 0\n"), "node_exporter could not read edr.prom")

        // A restart shows in both.
        kill(detect, SIGKILL)
        let next = try #require(AttackTests.replacement(of: detect, "edr-detect", in: agent))
        #expect(agent.waitFor("edr-detect pid \(next) ready again"))
        let after = Date().addingTimeInterval(20)
        var restarts = 0
        repeat {
            let m = (try? String(contentsOfFile: metrics + "/edr.prom", encoding: .utf8)) ?? ""
            if m.contains("edr_child_restarts_total{child=\"edr-detect\"} 1") { restarts = 1; break }
            usleep(200_000)
        } while Date() < after
        #expect(restarts == 1)
        #expect(agent.stop() == 0)
        let (stopped, _) = try status()
        #expect(stopped == 3, "edr status after the agent stopped")
        #expect((try? String(contentsOfFile: metrics + "/edr.prom", encoding: .utf8))?.contains("edr_up 0") == true)
    }

    @Test func logLinesCarryJournalPrioritiesUnderJournald() throws {
        let agent = try AgentHarness(journal: true)
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready"), "agent did not become ready:\n\(agent.output)")
        let out = agent.output
        #expect(out.contains("<6>edr["), "\(out.prefix(1500))")
        #expect(out.contains("<6>edr-detect["), "\(out.prefix(3000))")
        #expect(out.contains("<6>edr-sensor["))
        // No line of the log has its own timestamp: the journal stamps them.
        for line in out.split(separator: "\n") where line.hasPrefix("<") {
            #expect(!line.contains("Z edr"), "\(line)")
        }
    }
}
