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

    /// One unit per process: edr.target starts edr-sensor, edr-detect and edr-respond, each
    /// under the identity, capabilities, seccomp and namespaces its unit promises, meeting on
    /// sockets systemd made that admit one peer of one uid.
    @Test func theUnitsRunOneHardenedProcessEach() throws {
        let deb = try PackageTests.deb()
        let c = try Container()
        try FileManager.default.copyItem(atPath: deb, toPath: c.root + "/root/edr.deb")
        let install = try c.run("DEBIAN_FRONTEND=noninteractive dpkg -i /root/edr.deb")
        try #require(install.status == 0, "\(install.output)")
        #expect(try c.run("systemctl is-enabled edr.target").output.trimmingCharacters(in: .whitespacesAndNewlines) == "disabled")
        func trimmed(_ command: String) throws -> String { try c.run(command).output.trimmingCharacters(in: .whitespacesAndNewlines) }
        let detectUID = try trimmed("id -u edr-detect"), respondUID = try trimmed("id -u edr-respond")

        // Response on in dry-run mode, so that edr-respond runs; a local critical rule.
        let marker = AttackTests.unique("edrunits")
        let toml = try String(contentsOfFile: c.root + "/etc/edr/edr.toml", encoding: .utf8)
            .replacingOccurrences(of: "[response]\nenabled = false", with: "[response]\nenabled = true\ndry_run = true")
            .replacingOccurrences(of: "# textfile_dir = ", with: "textfile_dir = ")
        try FileManager.default.createDirectory(atPath: c.root + "/var/lib/prometheus/node-exporter", withIntermediateDirectories: true)
        try toml.write(toFile: c.root + "/etc/edr/edr.toml", atomically: true, encoding: .utf8)
        chmod(c.root + "/etc/edr/edr.toml", 0o644)
        try AgentTests.markerRule(marker, level: "critical").write(toFile: c.root + "/etc/edr/rules/sigma/marker.yml", atomically: true, encoding: .utf8)
        chmod(c.root + "/etc/edr/rules/sigma/marker.yml", 0o644)

        let start = try c.run("systemctl enable --now edr.target 2>&1")
        #expect(start.status == 0, "\(start.output)")
        try wait("edr status to report the three units ready") { try c.run("edr status >/dev/null").status == 0 }
        let json = try c.run("edr status --json").output
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
        #expect(doc["mode"] as? String == "units")
        let kids = try #require(doc["children"] as? [[String: Any]])
        func child(_ name: String) throws -> [String: Any] { try #require(kids.first { $0["name"] as? String == name }, "\(json)") }
        let sensor = try child("edr-sensor"), detect = try child("edr-detect"), respond = try child("edr-respond")
        #expect(sensor["uid"] as? Int == 0)
        #expect(sensor["cap_eff"] as? String == "CAP_DAC_READ_SEARCH,CAP_SYS_PTRACE,CAP_PERFMON,CAP_BPF")
        #expect(String(detect["uid"] as? Int ?? -1) == detectUID && detect["cap_eff"] as? String == "none")
        #expect(String(respond["uid"] as? Int ?? -1) == respondUID && respond["cap_eff"] as? String == "CAP_KILL")
        for k in [sensor, detect, respond] {
            // seccomp mode 2 with systemd's filter and the process's own allowlist stacked.
            #expect(k["seccomp"] as? Int == 2 && k["no_new_privs"] as? Int == 1, "\(k)")
            #expect((k["seccomp_filters"] as? Int ?? 0) >= 2, "\(k)")
            #expect(k["own_network_namespace"] as? Bool == true, "\(k)")
        }
        // Metrics for node_exporter's textfile collector (edr-metrics.timer).
        try wait("edr.prom from edr-metrics.timer") {
            let prom = (try? String(contentsOfFile: c.root + "/var/lib/prometheus/node-exporter/edr.prom", encoding: .utf8)) ?? ""
            return prom.contains("edr_child_up{child=\"edr-detect\"} 1") && prom.contains("edr_child_up{child=\"edr-sensor\"} 1")
                && prom.contains("edr_events_total ")
        }

        // The sockets: made by systemd, owned by the one account that may connect, mode 0600.
        #expect(try trimmed("stat -c '%U %a %F' /run/edr/sensor.sock") == "edr-detect 600 socket")
        #expect(try trimmed("stat -c '%U %a %F' /run/edr/detect.sock") == "edr-respond 600 socket")
        #expect(try trimmed("stat -c '%U %a %F' /run/edr/detect-control.sock") == "root 600 socket")
        #expect(try trimmed("systemctl show -p ActiveState edr-sensor.socket edr-detect.socket edr-detect-control.socket | sort -u") == "ActiveState=active")

        // An exec on the host alerts inside; the dry-run responder answers the critical alert.
        let first = try runProgram("/bin/echo", [marker, "one"])
        try wait("the first alert") { alerts(c, containing: marker).contains { $0.path("process", "pid") as? Int == Int(first) } }
        try wait("the responder's dry-run outcome") {
            try c.run("grep '\"edr-response\"' /var/log/edr/alerts.ndjson | grep -q '\"pid\":\(first)'").status == 0
        }

        // Another account cannot reach the sensor's socket; root reaching the detector's
        // responder socket (not the responder's uid) is refused and reported.
        let stranger = try c.run(
            "setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect('/run/edr/sensor.sock')\" 2>&1"
        )
        #expect(stranger.status != 0 && stranger.output.contains("PermissionError"), "\(stranger.output)")
        let intruder = try c.run(
            "/usr/bin/python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('/run/edr/detect.sock'); s.settimeout(10); print('closed' if s.recv(1) == b'' else 'open')\""
        )
        #expect(intruder.output.contains("closed"), "\(intruder.output)")
        try wait("the refused-peer alert") { try c.run("grep -q edr-health-peer-refused /var/log/edr/alerts.ndjson").status == 0 }

        // The detector killed: systemd restarts it, the exec during the outage still alerts,
        // and the kill is an edr-health alert (ExecStopPost).
        let old = try trimmed("systemctl show -p MainPID --value edr-detect.service")
        #expect(try c.run("systemctl kill -s KILL edr-detect.service").status == 0)
        let during = try runProgram("/bin/echo", [marker, "during"])
        try wait("the detector's restart") {
            let now = try trimmed("systemctl show -p MainPID --value edr-detect.service")
            let active = try trimmed("systemctl is-active edr-detect.service")
            return now != old && now != "0" && active == "active"
        }
        try wait("the alert for the exec during the outage") { alerts(c, containing: marker).contains { $0.path("process", "pid") as? Int == Int(during) } }
        #expect(alerts(c, containing: marker).filter { $0.path("process", "pid") as? Int == Int(during) }.count == 1, "exactly once")
        #expect(try trimmed("grep -c '\"edr-health-child-killed\"' /var/log/edr/alerts.ndjson") == "1")
        #expect(Int(try trimmed("systemctl show -p NRestarts --value edr-detect.service")) ?? 0 >= 1)

        // Rotation: logrotate's way (rename, then the reload hands the detector a new file).
        #expect(try c.run("mv /var/log/edr/alerts.ndjson /var/log/edr/alerts.ndjson.1 && systemctl reload edr-detect.service").status == 0)
        let after = try runProgram("/bin/echo", [marker, "after"])
        try wait("the alert in the new file") { alerts(c, containing: marker).contains { $0.path("process", "pid") as? Int == Int(after) } }

        // A clean stop: every unit inactive with Result=success, no process left.
        #expect(try c.run("systemctl stop edr.target").status == 0)
        // systemctl waits for the target's own stop job; the services' stop jobs (PartOf=) run
        // in the same transaction and may still be finishing (ExecStopPost=).
        try wait("the three services to stop") {
            try c.run("systemctl show -p ActiveState --value edr-sensor.service edr-detect.service edr-respond.service").output
                .split(separator: "\n").allSatisfy { $0 == "inactive" || $0 == "failed" }
        }
        let stopped = try c.run("systemctl show -p ActiveState -p Result edr-sensor.service edr-detect.service edr-respond.service").output
        let lines = stopped.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("ActiveState=") } == Array(repeating: "ActiveState=inactive", count: 3), "\(stopped)")
        #expect(lines.filter { $0.hasPrefix("Result=") } == Array(repeating: "Result=success", count: 3), "\(stopped)")
        #expect(try c.run("pgrep -x edr-sensor || pgrep -x edr-detect || pgrep -x edr-respond").status != 0, "no process survives the stop")
        #expect(try c.run("edr status >/dev/null").status == 3)
    }

    /// The host's logs under the units: with [logs] enabled, edr.target starts edr-logs.service
    /// (its own user, the groups systemd-journal and adm only, no capability, both seccomp
    /// layers, own network namespace), which follows the container's journal through
    /// `journalctl -o export` and hands each entry to edr-detect over edr-detect-logs.socket: a
    /// `logger` line inside alerts as SigmaHQ's syslog rule. Its positions live in its
    /// StateDirectory=, saved once acknowledged: a line logged while it is stopped alerts after
    /// its restart, and none is repeated. A detector restart is survived the same way.
    @Test func theLogReaderUnitFollowsTheJournal() throws {
        let deb = try PackageTests.deb()
        let corpusRule = repoRoot.deletingLastPathComponent()
            .appendingPathComponent("shared/corpora/sigmahq/rules/linux/builtin/syslog/lnx_syslog_security_tools_disabling_syslog.yml").path
        let rule = try String(contentsOfFile: corpusRule, encoding: .utf8)
        let c = try Container()
        try FileManager.default.copyItem(atPath: deb, toPath: c.root + "/root/edr.deb")
        let install = try c.run("DEBIAN_FRONTEND=noninteractive dpkg -i /root/edr.deb")
        try #require(install.status == 0, "\(install.output)")
        func trimmed(_ command: String) throws -> String { try c.run(command).output.trimmingCharacters(in: .whitespacesAndNewlines) }
        let logsUID = try trimmed("id -u edr-logs")
        #expect(Int(logsUID).map { $0 < 1000 && $0 > 0 } == true, "a system user: \(logsUID)")
        // Installed, edr-logs' user is in no group but its own (the unit adds the log groups).
        let logsGID = try trimmed("id -g edr-logs")
        #expect(try trimmed("id -G edr-logs") == logsGID)

        // Off by default: edr.target skips edr-logs.service (ExecCondition=).
        #expect(try c.run("systemctl start edr.target").status == 0)
        try wait("edr status to report the units ready") { try c.run("edr status >/dev/null").status == 0 }
        #expect(try c.run("systemctl show -p ActiveState -p Result edr-logs.service").output.contains("ActiveState=inactive"))
        #expect(try c.run("edr status --json").output.contains("\"edr-logs\"") == false)
        #expect(try c.run("systemctl stop edr.target").status == 0)
        // A unit its condition skipped (edr-logs, and edr-respond with response off) ended
        // nothing: no health alert (ExecStopPost= sees SERVICE_RESULT=exec-condition).
        let skipped = try c.run("grep '\"edr-health' /var/log/edr/alerts.ndjson").output
        #expect(skipped.isEmpty, "\(skipped)")

        // On, the journal only: an alert then proves the journal path.
        let toml = try String(contentsOfFile: c.root + "/etc/edr/edr.toml", encoding: .utf8)
            .replacingOccurrences(of: "[logs]\n", with: "[logs]\nfiles = []\n")
            .replacingOccurrences(of: "enabled = false\nuser = \"edr-logs\"", with: "enabled = true\nuser = \"edr-logs\"")
        #expect(toml.contains("enabled = true\nuser = \"edr-logs\""), "the packaged [logs] section changed: \(toml)")
        try toml.write(toFile: c.root + "/etc/edr/edr.toml", atomically: true, encoding: .utf8)
        chmod(c.root + "/etc/edr/edr.toml", 0o644)
        try rule.write(toFile: c.root + "/etc/edr/rules/sigma/lnx_syslog_security_tools_disabling_syslog.yml", atomically: true, encoding: .utf8)
        chmod(c.root + "/etc/edr/rules/sigma/lnx_syslog_security_tools_disabling_syslog.yml", 0o644)

        // The container's artefact, not the unit's: nspawn mounts a boot id of its own over
        // /proc/sys/kernel/random/boot_id, which journald stamps on every entry; the fresh
        // procfs that ProtectKernelTunables=, ProtectControlGroups= and ProtectProc= mount in
        // the unit shows the kernel's real one, and `journalctl --follow`, which follows the
        // current boot only, then sees no new entry at all. On a host both ids are the same.
        let shipped = try trimmed("systemctl show -p ProtectKernelTunables -p ProtectControlGroups -p ProtectProc edr-logs.service | sort | tr '\\n' ' '")
        #expect(shipped == "ProtectControlGroups=yes ProtectKernelTunables=yes ProtectProc=invisible", "\(shipped)")
        #expect(
            try c.run(
                "mkdir -p /etc/systemd/system/edr-logs.service.d && printf '[Service]\\nProtectKernelTunables=no\\nProtectControlGroups=no\\nProtectProc=default\\n' > /etc/systemd/system/edr-logs.service.d/nspawn-boot-id.conf && systemctl daemon-reload"
            ).status == 0)

        let start = try c.run("systemctl enable --now edr.target 2>&1")
        #expect(start.status == 0, "\(start.output)")
        try wait("edr status to report edr-logs ready") {
            try c.run("edr status >/dev/null").status == 0 && c.run("edr status --json").output.contains("\"edr-logs\"")
        }
        let json = try c.run("edr status --json").output
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
        let kids = try #require(doc["children"] as? [[String: Any]])
        let logs = try #require(kids.first { $0["name"] as? String == "edr-logs" }, "\(json)")
        #expect(String(logs["uid"] as? Int ?? -1) == logsUID && logs["cap_eff"] as? String == "none", "\(logs)")
        #expect(logs["seccomp"] as? Int == 2 && logs["no_new_privs"] as? Int == 1, "\(logs)")
        #expect((logs["seccomp_filters"] as? Int ?? 0) >= 2, "\(logs)")
        #expect(logs["own_network_namespace"] as? Bool == true, "\(logs)")
        #expect((logs["ready_line"] as? String ?? "").contains("journal=following"), "\(logs)")
        // Groups: its own, systemd-journal and adm, nothing else; no capability even bounded.
        let pid = try trimmed("systemctl show -p MainPID --value edr-logs.service")
        let status = try c.run("cat /proc/\(pid)/status").output
        func field(_ name: String) -> String {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? "?"
        }
        let expectedGroups = Set(try ["adm", "systemd-journal"].map { try trimmed("getent group \($0) | cut -d: -f3") })
        // (systemd lists the primary group among the supplementary ones too.)
        #expect(Set(field("Groups").split(separator: " ").map(String.init)).subtracting([logsGID]) == expectedGroups, "\(status)")
        #expect(field("Gid").split(separator: "\t").first.map(String.init) == logsGID, "\(status)")
        #expect(field("CapEff") == "0000000000000000" && field("CapBnd") == "0000000000000000", "\(status)")
        // journalctl, its child, runs as the same user under the same bounds.
        let journalctl = try trimmed("pgrep -P \(pid) -x journalctl")
        let journalctlUID = try trimmed("stat -c %u /proc/\(journalctl)")
        #expect(!journalctl.isEmpty && journalctlUID == logsUID, "journalctl \(journalctl) runs as \(journalctlUID)")
        #expect(try trimmed("stat -c '%U %a %F' /run/edr/detect-logs.sock") == "edr-logs 600 socket")
        #expect(try trimmed("stat -c '%U %a' /var/lib/edr/logs") == "edr-logs 700")

        func logAlerts(_ marker: String) -> [[String: Any]] {
            alerts(c, containing: marker).filter { $0.path("rule", "id") as? String == "49f5dfc1-f92e-4d34-96fa-feba3f6acf36" }
        }
        let m1 = AttackTests.unique("edrjournal")
        #expect(try c.run("logger -t firewalld 'stopping iptables \(m1)'").status == 0)
        try wait("the syslog rule's alert from the journal") { !logAlerts(m1).isEmpty }
        let first = try #require(logAlerts(m1).first)
        #expect(first.path("edr", "event", "LogOrigin") as? String == "journal", "\(first)")
        #expect(first.path("edr", "event", "SyslogIdentifier") as? String == "firewalld", "\(first)")
        // The acknowledged cursor is saved (within 200 ms of the acknowledgement).
        try wait("the saved cursor") { try c.run("grep -aq 'cursor s=' /var/lib/edr/logs/logs.state").status == 0 }

        // Stopped, a line is logged; restarted, edr-logs resumes after the saved cursor.
        #expect(try c.run("systemctl stop edr-logs.service").status == 0)
        let m2 = AttackTests.unique("edrjournal")
        #expect(try c.run("logger -t firewalld 'stopping iptables \(m2)'").status == 0)
        #expect(try c.run("systemctl start edr-logs.service").status == 0)
        try wait("the alert for the line logged while edr-logs was stopped") { !logAlerts(m2).isEmpty }
        usleep(1_000_000)  // its acknowledgement saved: a line in flight at a kill may come twice

        // The detector killed: edr-logs' connection ends, it exits cleanly and reconnects to
        // the restarted detector; a line logged meanwhile alerts.
        #expect(try c.run("systemctl kill -s KILL edr-detect.service").status == 0)
        let m3 = AttackTests.unique("edrjournal")
        #expect(try c.run("logger -t firewalld 'stopping iptables \(m3)'").status == 0)
        try wait("the alert for the line logged during the detector's restart") { !logAlerts(m3).isEmpty }
        usleep(1_500_000)
        #expect(logAlerts(m1).count == 1 && logAlerts(m2).count == 1 && logAlerts(m3).count == 1, "each line alerts once")
        // edr-logs' own restarts were clean ends, not health alerts.
        let health = try c.run("grep '\"edr-health' /var/log/edr/alerts.ndjson | grep 'edr-logs'").output
        #expect(health.isEmpty, "no health alert names edr-logs: \(health)")

        #expect(try c.run("systemctl stop edr.target").status == 0)
        try wait("edr-logs to stop") { try trimmed("systemctl show -p ActiveState --value edr-logs.service") == "inactive" }
        #expect(try trimmed("systemctl show -p Result --value edr-logs.service") == "success")
        #expect(try c.run("pgrep -x edr-logs || pgrep -x journalctl -u edr-logs").status != 0, "no process survives the stop")
    }
}
