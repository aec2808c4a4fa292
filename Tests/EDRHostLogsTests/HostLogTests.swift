import EDRCore
import EDRDetect
import EDRSigma
import Foundation
import Testing
@testable import EDRHostLogs

@Suite("Host logs: parser, record, positions, followers")
struct HostLogTests {
    static let now = 1_796_182_884.0  // 2026-12-02T03:41:24Z

    @Test func traditionalLine() throws {
        let e = try HostLogParser.parse(
            line: "Dec  2 03:41:20 vm sshd[4242]: Invalid user x from 127.0.0.1 port 5555",
            origin: "/var/log/auth.log", now: Self.now)
        #expect(e.identifier == "sshd" && e.pid == 4242 && e.host == "vm")
        #expect(e.message == "Invalid user x from 127.0.0.1 port 5555")
        #expect(e.timestamp == Self.now - 4)
        #expect(HostLogServices.services(for: e) == ["sshd", "auth", "syslog"])
    }

    @Test func rfc3339LineAndYearRollover() throws {
        let e = try HostLogParser.parse(line: "2026-12-02T03:41:24.500000+01:00 host CRON[7]: (root) REPLACE (root)", origin: "/var/log/syslog")
        #expect(e.identifier == "CRON" && e.pid == 7 && e.message == "(root) REPLACE (root)")
        #expect(e.timestamp == Self.now - 3600 + 0.5)
        #expect(HostLogServices.services(for: e) == ["cron", "auth", "syslog"])
        // A December line read in January belongs to the year before.
        let jan = try HostLogParser.parse(line: "Dec 31 23:59:59 h kernel: x", origin: "f", now: Self.now + 40 * 86400)
        #expect(jan.timestamp == HostLogParser.unixSeconds(year: 2026, month: 12, day: 31, hour: 23, minute: 59, second: 59))
        #expect(jan.pid == nil && jan.identifier == "kernel")
    }

    @Test(arguments: [
        ("", "line"), ("Foo  2 03:41:20 vm sshd: x", "timestamp"), ("Dec  2 03:41 vm", "timestamp"),
        ("Dec  2 03:4x:20 vm sshd: x", "timestamp"), ("2026-13-02T03:41:24Z vm a: b", "timestamp"),
        ("2026-12-02T03:41:24 vm a: b", "timestamp"), ("Dec  2 03:41:20  ", "host"),
        ("Dec  2 03:41:20 vm no colon here", "tag"), ("Dec  2 03:41:20 vm sshd[abc]: x", "pid"),
        ("Dec  2 03:41:20 vm two words: x", "tag"), ("Dec  2 03:41:20 vm sshd[-1]: x", "pid"),
        ("2026-12-02T03:41:24+0x:00 vm a: b", "timestamp"), ("\u{0}\u{FF}", "timestamp")
    ])
    func malformedLinesNameTheField(line: String, field: String) {
        #expect(throws: HostLogError.self) { try HostLogParser.parse(line: line, origin: "f", now: Self.now) }
        do {
            _ = try HostLogParser.parse(line: line, origin: "f", now: Self.now)
        } catch {
            #expect(error.field == field, "\(line): \(error)")
        }
    }

    @Test func journalEntries() throws {
        func rec(_ f: [(String, String)]) -> LogRecord { LogRecord(source: .journal, fields: f.map { ($0.0, Array($0.1.utf8)) }) }
        let e = try HostLogParser.parse(
            rec([
                ("MESSAGE", "pam_unix(sudo:session): session opened"), ("SYSLOG_IDENTIFIER", "sudo"),
                ("_PID", "12"), ("SYSLOG_FACILITY", "10"), ("__REALTIME_TIMESTAMP", "1796182884000000"),
                ("_HOSTNAME", "h"), ("PRIORITY", "6")
            ]))
        #expect(e.identifier == "sudo" && e.pid == 12 && e.facility == 10 && e.timestamp == Self.now && e.origin == "journal")
        #expect(HostLogServices.services(for: e) == ["sudo", "auth", "syslog"])
        // The facility decides auth when the journal says it.
        let cron = try HostLogParser.parse(rec([("MESSAGE", "x"), ("SYSLOG_IDENTIFIER", "CRON"), ("SYSLOG_FACILITY", "9")]))
        #expect(HostLogServices.services(for: cron) == ["cron", "syslog"])
        for (fields, field) in [
            ([("SYSLOG_IDENTIFIER", "a")], "MESSAGE"), ([("MESSAGE", "m"), ("_PID", "x")], "_PID"),
            ([("MESSAGE", "m"), ("__REALTIME_TIMESTAMP", "-1")], "__REALTIME_TIMESTAMP"),
            ([("MESSAGE", "m"), ("SYSLOG_FACILITY", "99")], "SYSLOG_FACILITY"),
            ([("MESSAGE", "m"), ("PRIORITY", "p")], "PRIORITY")
        ] {
            #expect { try HostLogParser.parse(rec(fields)) } throws: { ($0 as? HostLogError)?.field == field }
        }
        #expect { try HostLogParser.parse(LogRecord(source: .file, fields: [])) } throws: { ($0 as? HostLogError)?.field == "_LINE" }
    }

    @Test func recordRoundTripAndMalformedPayloads() throws {
        let r = LogRecord(source: .file, fields: [("_SOURCE", Array("/var/log/syslog".utf8)), ("_LINE", [0, 1, 0xFF])])
        #expect(try LogRecord(payload: r.payload()) == r)
        let p = r.payload()
        // Every truncation is an error naming what is missing, never a trap.
        for n in 0..<p.count {
            #expect(throws: WireError.self) { try LogRecord(payload: Array(p[0..<n])) }
        }
        #expect(throws: WireError.malformedPayload("log record: source 3 at offset 0 is neither 1 (journal) nor 2 (file)")) {
            try LogRecord(payload: [3, 0, 0, 0])
        }
        #expect(throws: WireError.self) { try LogRecord(payload: p + [0]) }
        // Random bytes.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let junk = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? LogRecord(payload: junk)
            _ = try? HostLogParser.parse(line: String(decoding: junk, as: UTF8.self), origin: "f")
        }
        // Frames of type 17 are sequenced.
        var d = FrameDecoder()
        d.feed(r.frame(sequence: 5).encoded() + r.frame(sequence: 7).encoded())
        #expect(try d.next()?.sequence == 5)
        #expect(throws: WireError.sequenceGap(expected: 6, got: 7)) { try d.next() }
    }

    @Test func journalExportFormat() throws {
        var p = JournalExportParser()
        var bytes = Array("__CURSOR=s=1;i=2\nMESSAGE=hello\nSYSLOG_IDENTIFIER=CRON\n_BOOT_ID=x\nMESSAGE_BIN\n".utf8)
        bytes.appendLE(UInt64(3)); bytes += [0x61, 0x0A, 0x62]; bytes += [0x0A, 0x0A]
        bytes += Array("__CURSOR=s=1;i=3\nMESSAGE=second\n\n".utf8)
        var out: [(cursor: String, fields: [(name: String, value: [UInt8])])] = []
        for b in bytes { out += try p.feed([b]) }
        #expect(out.count == 2)
        #expect(out[0].cursor == "s=1;i=2" && out[1].cursor == "s=1;i=3")
        #expect(out[0].fields.map(\.name) == ["MESSAGE", "SYSLOG_IDENTIFIER"])
        var q = JournalExportParser()
        #expect(throws: (any Error).self) { try q.feed(Array("MESSAGE=x\n\n".utf8)) }
    }

    @Test func positionStoreSurvivesATornSlot() throws {
        let path = NSTemporaryDirectory() + "edr-logs-state-\(getpid())"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd); unlink(path) }
        let store = PositionStore(fd: fd)
        #expect(store.load() == LogPositions())
        let a = LogPositions(journalCursor: "s=a;i=1", files: ["/var/log/auth.log": FilePosition(device: 1, inode: 2, offset: 3)])
        var b = a
        b.files["/var/log/syslog x"] = FilePosition(device: 4, inode: 5, offset: 6)
        try store.save(a)
        try store.save(b)
        #expect(PositionStore(fd: fd).load() == b)
        // Tear the newest slot (generation 2 is in slot 0): the older one is used.
        var junk: UInt8 = 0x55
        _ = pwrite(fd, &junk, 1, off_t(PositionStore.headerSize + 3))
        #expect(PositionStore(fd: fd).load() == a)
    }

    @Test func fileFollowerKeepsPositionAcrossRotationAndRestart() throws {
        let dir = NSTemporaryDirectory() + "edr-logs-follow-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/syslog"
        func append(_ s: String, to p: String = path) {
            let h =
                FileHandle(forWritingAtPath: p)
                ?? {
                    FileManager.default.createFile(atPath: p, contents: nil); return FileHandle(forWritingAtPath: p)!
                }()
            h.seekToEndOfFile(); h.write(Data(s.utf8)); h.closeFile()
        }
        append("old history\n")
        let f = FileFollower(path: path)
        f.start(from: nil)
        #expect(f.poll().isEmpty, "a first start begins at the end")
        append("one\ntw")
        var got = f.poll()
        #expect(got.map { String(decoding: $0.line, as: UTF8.self) } == ["one"])
        append("o\n")
        got = f.poll()
        #expect(got.map { String(decoding: $0.line, as: UTF8.self) } == ["two"])
        let afterTwo = got[0].position
        // Rotation: renamed, then a new file; the rest of the old one first.
        append("three\n")
        rename(path, path + ".1")
        append("four\n")
        got = f.poll() + f.poll()
        #expect(got.map { String(decoding: $0.line, as: UTF8.self) } == ["three", "four"])
        // Restart from the position after "two": the rotated file is found by its inode.
        let g = FileFollower(path: path)
        g.start(from: afterTwo)
        got = g.poll() + g.poll()
        #expect(got.map { String(decoding: $0.line, as: UTF8.self) } == ["three", "four"])
        // Restart from the position after "four": nothing again.
        let h = FileFollower(path: path)
        h.start(from: got.last!.position)
        #expect((h.poll() + h.poll()).isEmpty)
    }

    /// SigmaHQ's linux service rules load (not inert) and fire on parsed lines.
    @Test func sigmaHQServiceRulesFire() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux/builtin")
        try #require(FileManager.default.fileExists(atPath: corpus.path), "SigmaHQ corpus missing at \(corpus.path)")
        let engine = try SigmaEngine.load(paths: [corpus.path], options: SigmaOptions(collectedLogSources: DetectorLogSources.collected))
        let inert = engine.diagnostics.filter { if case .inert = $0.status { return true } else { return false } }
        #expect(inert.isEmpty, "\(inert.map(\.path))")
        func ids(_ line: String) throws -> Set<String> {
            let e = try HostLogParser.parse(line: line, origin: "/var/log/syslog", now: Self.now)
            var out = Set<String>()
            for ev in HostLogServices.events(for: e) { for m in engine.evaluate(ev) { out.insert(m.rule.id ?? "") } }
            return out
        }
        #expect(
            try ids("Dec  2 03:41:20 vm sshd[1]: Invalid user Corrupted MAC on input from 127.0.0.1 port 22").contains("e76b413a-83d0-4b94-8e4c-85db4a5b8bdc"))
        #expect(try ids("Dec  2 03:41:20 vm CRON[2]: (root) REPLACE (root)").contains("af202fd3-7bff-4212-a25a-fb34606cfcbe"))
        #expect(try ids("Dec  2 03:41:20 vm root: stopping iptables").contains("49f5dfc1-f92e-4d34-96fa-feba3f6acf36"))
        #expect(try ids("Dec  2 03:41:20 vm clamd[3]: /tmp/x: Win.Trojan.Agent FOUND").contains("36aa86ca-fd9d-4456-814e-d3b1b8e1e0bb"))
        #expect(try ids("Dec  2 03:41:20 vm vsftpd[4]: Input line too long.").count >= 1)
        // The cron keyword is not a syslog rule: REPLACE from another program fires nothing of cron's.
        #expect(try !ids("Dec  2 03:41:20 vm foo: REPLACE").contains("af202fd3-7bff-4212-a25a-fb34606cfcbe"))
        // A product-only rule alerts once per line even though the line is evaluated per service.
        let e = try HostLogParser.parse(
            line: "Dec  2 03:41:20 vm useradd[5]: new user: name=x, UID=0, GID=0, home=/root", origin: "/var/log/auth.log", now: Self.now)
        let events = HostLogServices.events(for: e)
        #expect(events.count == 2)
        #expect(events.allSatisfy { !engine.evaluate($0).filter { $0.rule.id == "0ac15ec3-d24f-4246-aa2a-3077bb1cf90e" }.isEmpty })
    }
}
