import Testing
import Foundation

/// The package under a real systemd: systemd 252 as PID 1 in systemd-nspawn over an overlay of
/// this host's root (scripts/nspawn.sh). The package is installed with dpkg, edr.service runs
/// with its hardening, and the agent inside sees the host's execs (one kernel).
@Suite("Under systemd", .serialized, .enabled(if: runningAsRoot, "boots a container: run as root"))
struct SystemdTests {
    static let script = repoRoot.appendingPathComponent("scripts/nspawn.sh").path

    final class Container {
        let dir = "/tmp/edr-nspawn-" + UUID().uuidString.prefix(8)
        var root: String { dir + "/root" }

        init() throws {
            let up = try runWithDeadline(SystemdTests.script, ["up", dir], timeout: 180)
            guard up.status == 0 else { throw EDRTestError("the container did not boot:\n\(up.output)") }
        }

        /// A command inside the container (its systemd's namespaces).
        @discardableResult
        func run(_ command: String, timeout: Double = 120) throws -> (status: Int32, output: String) {
            try runWithDeadline(SystemdTests.script, ["run", dir, "/bin/sh", "-c", command], timeout: timeout)
        }

        deinit { _ = try? runWithDeadline(SystemdTests.script, ["down", dir], timeout: 60) }
    }

    struct EDRTestError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    func wait(_ what: String, timeout: Double = 60, _ check: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try check() { return }
            usleep(200_000)
        }
        Issue.record("timed out after \(Int(timeout)) s waiting for \(what)")
    }

    func alerts(_ c: Container, containing marker: String) -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: c.root + "/var/log/edr/alerts.ndjson") else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap {
            guard $0.contains(marker) else { return nil }
            return try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0.path("rule", "ruleset") as? String == "sigma" }
    }

    @Test func thePackageRunsAsAHardenedServiceUnderSystemd() throws {
        let deb = try PackageTests.deb()
        let c = try Container()
        try FileManager.default.copyItem(atPath: deb, toPath: c.root + "/root/edr.deb")
        let install = try c.run("DEBIAN_FRONTEND=noninteractive dpkg -i /root/edr.deb")
        try #require(install.status == 0, "\(install.output)")
        // Installing enables and starts nothing (Debian convention).
        #expect(try c.run("systemctl is-enabled edr.service").output.trimmingCharacters(in: .whitespacesAndNewlines) == "disabled")
        #expect(try c.run("systemctl is-active edr.service").output.trimmingCharacters(in: .whitespacesAndNewlines) == "inactive")
        let detectUID = try c.run("id -u edr-detect").output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(detectUID).map { $0 < 1000 && $0 > 0 } == true, "a system user: \(detectUID)")

        // A local rule beside the packaged ones, as an administrator would add it.
        let marker = AttackTests.unique("edrunit")
        try AgentTests.markerRule(marker, level: "high").write(toFile: c.root + "/etc/edr/rules/sigma/marker.yml", atomically: true, encoding: .utf8)
        chmod(c.root + "/etc/edr/rules/sigma/marker.yml", 0o644)

        #expect(try c.run("systemctl start edr.service").status == 0)
        try wait("edr status to report every process ready") { try c.run("edr status >/dev/null").status == 0 }
        let json = try c.run("edr status --json").output
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
        let kids = try #require(doc["children"] as? [[String: Any]])
        let detect = try #require(kids.first { $0["name"] as? String == "edr-detect" })
        #expect(String(detect["uid"] as? Int ?? -1) == detectUID)
        #expect(detect["cap_eff"] as? String == "none" && detect["seccomp"] as? Int == 2 && detect["no_new_privs"] as? Int == 1)
        #expect(detect["own_network_namespace"] as? Bool == true)
        let sensor = try #require(kids.first { $0["name"] as? String == "edr-sensor" })
        #expect(sensor["cap_eff"] as? String == "CAP_DAC_READ_SEARCH,CAP_SYS_PTRACE,CAP_PERFMON,CAP_BPF")
        // The unit's own bounds hold for the supervisor.
        let unit = try c.run("systemctl show edr.service -p NoNewPrivileges -p PrivateNetwork -p ProtectSystem -p MainPID").output
        #expect(unit.contains("NoNewPrivileges=yes") && unit.contains("PrivateNetwork=yes") && unit.contains("ProtectSystem=strict"), "\(unit)")

        // An exec on the host (one kernel) alerts inside.
        let first = try runProgram("/bin/echo", [marker, "one"])
        try wait("the first alert") { alerts(c, containing: marker).contains { $0.path("process", "pid") as? Int == Int(first) } }

        // The detector killed: replaced, and an exec during the outage is not lost.
        let old = try c.run("pgrep -x edr-detect").output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try c.run("kill -9 \(old)").status == 0)
        let during = try runProgram("/bin/echo", [marker, "during"])
        try wait("the detector's replacement") {
            let now = try c.run("pgrep -x edr-detect").output.trimmingCharacters(in: .whitespacesAndNewlines)
            return !now.isEmpty && now != old
        }
        try wait("the alert for the exec during the outage") { alerts(c, containing: marker).contains { $0.path("process", "pid") as? Int == Int(during) } }
        let health = try c.run("grep -c edr-health-child-killed /var/log/edr/alerts.ndjson").output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(health == "1")

        // systemctl reload: rules reloaded and the alert file reopened.
        #expect(try c.run("systemctl reload edr.service").status == 0)
        try wait("the reopen") { try c.run("journalctl -u edr.service --no-pager | grep -q 'alert file reopened'").status == 0 }
        // Log lines reach the journal with their priority.
        #expect(try c.run("journalctl -u edr.service -p warning --no-pager | grep -q 'killed by signal 9'").status == 0)

        // A clean stop.
        #expect(try c.run("systemctl stop edr.service").status == 0)
        let stopped = try c.run("systemctl show edr.service -p ActiveState -p Result -p ExecMainStatus").output
        #expect(stopped.contains("ActiveState=inactive") && stopped.contains("Result=success") && stopped.contains("ExecMainStatus=0"), "\(stopped)")
        #expect(try c.run("pgrep -x edr-sensor || pgrep -x edr-detect").status != 0, "no child survives the stop")

        // Remove keeps the configuration, purge removes it.
        #expect(try c.run("DEBIAN_FRONTEND=noninteractive dpkg -r edr").status == 0)
        #expect(FileManager.default.fileExists(atPath: c.root + "/etc/edr/edr.toml"))
        #expect(!FileManager.default.fileExists(atPath: c.root + "/usr/lib/edr/edr"))
        #expect(try c.run("DEBIAN_FRONTEND=noninteractive dpkg -P edr").status == 0)
        #expect(!FileManager.default.fileExists(atPath: c.root + "/etc/edr"))
        #expect(!FileManager.default.fileExists(atPath: c.root + "/var/log/edr"))
    }
}
