import EDRCore
@testable import EDRDetect
import EDRSigma
import Foundation
import Testing

/// The alert line written straight into bytes: numbers, sub-strings and split command lines
/// without intermediate Strings, a rule's block written once and reused, all of it still the
/// JSON a parser reads back.
struct AlertWriterTests {
    private func parse(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func numbersSubstringsAndSplitCommandLinesAreExactJSON() throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("min", Int64.min)
        w.field("max", Int64.max)
        w.field("zero", 0)
        w.field("big", UInt64.max)  // past Int64: still its digits
        w.field("neg", -42)
        let path = "C:\\Users\\bob\\\"odd\"\tname.exe"
        w.key("name"); w.string(path.split(separator: "\\").last!)
        w.key("args")
        let n = w.spaceSeparated("  tool  -x \"a b\"\u{1}  tail ")
        w.field("args_count", n)
        w.field(dynamic: "key \"with\" quotes", "v")
        w.endObject()
        let o = try parse(w.bytes)
        #expect(o["min"] as? Int64 == Int64.min)
        #expect(o["max"] as? Int64 == Int64.max)
        #expect(o["zero"] as? Int == 0)
        #expect((o["big"] as? NSNumber)?.uint64Value == UInt64.max)
        #expect(o["neg"] as? Int == -42)
        #expect(o["name"] as? String == "\"odd\"\tname.exe")
        #expect(o["args"] as? [String] == ["tool", "-x", "\"a", "b\"\u{1}", "tail"])
        #expect(o["args_count"] as? Int == 5)
        #expect(o["key \"with\" quotes"] as? String == "v")
        #expect(String(decoding: w.bytes, as: UTF8.self).contains("\"min\":-9223372036854775808,"))
    }

    /// RFC 8259's escaping, one byte at a time: what the writer's eight-byte checks and run
    /// copies must produce.
    private func naiveJSONString(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for b in bytes {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += Array("\\n".utf8)
            case 0x0D: out += Array("\\r".utf8)
            case 0x09: out += Array("\\t".utf8)
            case 0..<0x20, 0x7F: out += Array(String(format: "\\u%04x", Int(b)).utf8)
            default: out.append(b)
            }
        }
        return out + [0x22]
    }

    /// Every byte that needs escaping (and the bytes next to the classes' edges that do not:
    /// space, `!`, `#`, `[`, `]`, `~`, 0x80, 0xFF) at every position of values 0 to 40 bytes
    /// long, alone and twice, in a writer that starts with room for 64 bytes and grows: the
    /// same bytes as the naive escaper, and JSON that parses back to the value.
    @Test func stringsAreEscapedWhereverTheByteThatNeedsItSits() throws {
        let special: [UInt8] = Array(0..<0x20) + [0x22, 0x5C, 0x7F]
        let plain: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7E, 0x80, 0xFF]
        var checked = 0
        for length in 0...40 {
            for b in special + plain {
                for pos in 0..<max(length, 1) {
                    var value = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
                    if length > 0 { value[pos] = b }
                    if length > 3 { value[(pos + 3) % length] = b }
                    var w = JSONWriter(capacity: 1)
                    w.beginArray()
                    w.string(String(decoding: value, as: UTF8.self))
                    w.string(String(decoding: value, as: UTF8.self)[...])
                    w.endArray()
                    // Valid UTF-8 only reaches the writer as a String: compare with what the
                    // String holds (0x80/0xFF alone are repaired to U+FFFD).
                    let held = Array(String(decoding: value, as: UTF8.self).utf8)
                    let want = [0x5B] + naiveJSONString(held) + [0x2C] + naiveJSONString(held) + [0x5D]
                    #expect(w.bytes == want, "byte \(b) at \(pos) of \(length)")
                    let back = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String])
                    #expect(back == [String(decoding: held, as: UTF8.self), String(decoding: held, as: UTF8.self)])
                    checked += 1
                }
            }
        }
        #expect(checked > 25_000)
    }

    /// Keys, numbers, nested objects and arrays written into a writer that grows many times:
    /// the commas where they belong and the line ends with its newline.
    @Test func aGrowingWriterKeepsEveryPieceAndItsCommas() throws {
        var w = JSONWriter(capacity: 1)
        w.beginObject()
        for i in 0..<500 {
            w.key("k"); w.beginObject()
            w.field("i", i)
            w.field("s", String(repeating: "x\"", count: i % 7))
            w.key("a"); w.beginArray(); w.int(i); w.bool(i % 2 == 0); w.null(); w.double(Double(i) / 4); w.endArray()
            w.endObject()
        }
        w.key("tail"); w.uuid((high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210))
        w.endObject()
        let line = w.line
        #expect(line.last == 0x0A && line.dropLast() == w.bytes[...])
        let o = try parse(w.bytes)
        #expect(o["tail"] as? String == "01234567-89ab-cdef-fedc-ba9876543210")
        // Duplicate keys: the parser keeps one; count them in the text instead.
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text.components(separatedBy: "\"k\":{\"i\":").count == 501)
        #expect(text.contains("\"k\":{\"i\":499,\"s\":\"x\\\"x\\\"\",\"a\":[499,false,null,124.75]}"))
        #expect(w.memberBytes == Array(w.bytes.dropFirst().dropLast()))
    }

    /// A timestamp written in place is the string `formatTimestamp` makes: before 1970, on a
    /// leap day, at a second's last microsecond, and around now.
    @Test func timestampsWrittenInPlaceAreTheFormattedOnes() throws {
        let now = wallClockNow()
        let epochs: [Double] = [0, -1.5, 951_782_400.25, 1_709_164_799.999999, 4_102_444_800, now, now + 0.000_001]
        for e in epochs {
            var w = JSONWriter(capacity: 1)
            w.beginArray(); w.timestamp(epochSeconds: e); w.int(1); w.endArray()
            #expect(String(decoding: w.bytes, as: UTF8.self) == "[\"\(formatTimestamp(epochSeconds: e))\",1]", "\(e)")
        }
        #expect(formatTimestamp(epochSeconds: 951_782_400.25) == "2000-02-29T00:00:00.250000Z")
    }

    /// process.name and file.directory from a path, split at its last separator byte: `/`, and
    /// `\` only on Windows; names around non-ASCII bytes kept whole.
    @Test func namesAndDirectoriesSplitAtTheLastSeparator() {
        let cases: [(path: String, windows: Bool, name: String, directory: String?)] = [
            ("/usr/bin/true", false, "true", "/usr/bin"),
            ("/true", false, "true", "/"),
            ("/", false, "", "/"),
            ("true", false, "true", nil),
            ("", false, "", nil),
            ("/tmp/a\\b", false, "a\\b", "/tmp"),
            ("/tmp/dir/", false, "", "/tmp/dir"),
            ("/é/ñame", false, "ñame", "/é"),
            ("/tmp/x\u{301}/y", false, "y", "/tmp/x\u{301}"),
            ("C:\\Windows\\System32\\cmd.exe", true, "cmd.exe", "C:\\Windows\\System32"),
            ("C:/tools\\é.exe", true, "é.exe", "C:/tools"),
            ("\\\\server\\share", true, "share", "\\\\server")
        ]
        for c in cases {
            #expect(String(AlertEncoder.baseName(c.path, windows: c.windows)) == c.name, "\(c.path)")
            #expect(AlertEncoder.directory(c.path, windows: c.windows).map(String.init) == c.directory, "\(c.path)")
        }
    }

    private func rule(_ description: String, tags: [String] = ["attack.t1059.004"]) -> SigmaRuleInfo {
        SigmaRuleInfo(
            id: "0f9f3d32-2a4f-4b4b-9e0a-6f3c0c0a1b2c", title: "Cached rule", description: description, level: .high,
            author: "Alice (Org, Inc), Bob", tags: tags, references: ["https://example.org/r"],
            logsource: LogSource(product: "linux", category: "process_creation"), path: "/rules/cached.yml")
    }

    @Test func aRuleBlockIsWrittenOnceAndRewrittenWhenTheRuleChanges() throws {
        let context = AlertContext(hostName: "h", hostID: "id")
        let event = Event(
            logsource: LogSource(product: "linux", category: "process_creation"), timestamp: 1_800_000_000,
            fields: [("Image", "/usr/bin/id"), ("CommandLine", "id -u"), ("ProcessId", 7)])
        for _ in 0..<3 {
            let o = try parse(AlertEncoder.sigma(event: event, rule: rule("first"), sequence: 1, context: context))
            let r = try #require(o["rule"] as? [String: Any])
            #expect(r["description"] as? String == "first")
            #expect(r["author"] as? [String] == ["Alice (Org, Inc)", "Bob"])
            #expect(r["uuid"] as? String == "0f9f3d32-2a4f-4b4b-9e0a-6f3c0c0a1b2c")
            #expect((o["threat"] as? [String: Any]).flatMap { ($0["technique"] as? [String: Any])?["id"] as? [String] } == ["T1059.004"])
            #expect((o["process"] as? [String: Any])?["args"] as? [String] == ["id", "-u"])
        }
        #expect(context.ruleBlocks.encoded == 1, "three alerts of one rule, one block")
        // The same file and title after a reload with another description and tags: the new ones.
        let o = try parse(AlertEncoder.sigma(event: event, rule: rule("second", tags: ["attack.t1003"]), sequence: 2, context: context))
        #expect((o["rule"] as? [String: Any])?["description"] as? String == "second")
        #expect(o["tags"] as? [String] == ["attack.t1003"])
        #expect((o["threat"] as? [String: Any]).flatMap { ($0["technique"] as? [String: Any])?["id"] as? [String] } == ["T1003"])
        // The same rule on another category's event: that category.
        var dns = event
        dns.logsource = LogSource(product: "linux", category: "dns_query")
        let d = try parse(AlertEncoder.sigma(event: dns, rule: rule("second", tags: ["attack.t1003"]), sequence: 3, context: context))
        #expect((d["rule"] as? [String: Any])?["category"] as? String == "dns_query")
        #expect(context.ruleBlocks.encoded == 3)
        // One loaded rule's matches share its storage: found by identity, no new block. A copy
        // changed afterwards (the storage it shared is copied on the write) is a rule of its own.
        let loaded = rule("fourth")
        for _ in 0..<3 { _ = AlertEncoder.sigma(event: event, rule: loaded, sequence: 4, context: context) }
        #expect(context.ruleBlocks.encoded == 4)
        var changed = loaded
        changed.description = "fifth"
        #expect(changed.identity != loaded.identity)
        let c = try parse(AlertEncoder.sigma(event: event, rule: changed, sequence: 5, context: context))
        #expect((c["rule"] as? [String: Any])?["description"] as? String == "fifth")
        let l = try parse(AlertEncoder.sigma(event: event, rule: loaded, sequence: 6, context: context))
        #expect((l["rule"] as? [String: Any])?["description"] as? String == "fourth")
        #expect(context.ruleBlocks.encoded == 5)
    }
}

/// `edr-detect --print-alerts` shows each alert as a readable line on a console descriptor; the
/// detector builds that line only when there is one. Both ways the alert file gets the same
/// ECS line.
struct ReadableAlertTests {
    private func run(console: Bool) throws -> (file: String, console: String) {
        let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("rules/sigma").path
        let path = NSTemporaryDirectory() + "readable-\(UUID().uuidString).ndjson"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        defer { close(fd); unlink(path) }
        var pipeFDs: [Int32] = [-1, -1]
        #expect(pipe(&pipeFDs) == 0)
        defer { close(pipeFDs[0]) }
        let store = try DetectorStore(
            sources: DetectorSources(sigma: [rules], yara: [], ioc: [], sigmaOptions: DetectorLogSources.sigmaOptions(on: .linux)))
        let detector = Detector(
            store: store, sink: AlertSink(fd: fd, consoleFD: console ? pipeFDs[1] : nil),
            options: .init(
                respondEnabled: false, responseMinLevel: .critical, context: AlertContext(hostName: "test", hostID: "test"),
                machineID: "0123456789abcdef0123456789abcdef"))
        // whoami run as root: the bundled whoami_as_root rule.
        try detector.ingest(
            Frame(
                type: .kernelRecord, sequence: 1,
                payload: KernelRecordLayout.exec(
                    pid: 4321, ppid: 1, start: 5_000_000_000, parentStart: 1_000_000_000, args: ["whoami"],
                    path: "/usr/bin/whoami", cwd: "/root", comm: "whoami")))
        close(pipeFDs[1])
        var shown: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(pipeFDs[0], &chunk, chunk.count)
            if n <= 0 { break }
            shown += chunk[0..<n]
        }
        return (try String(contentsOfFile: path, encoding: .utf8), String(decoding: shown, as: UTF8.self))
    }

    @Test func aConsoleGetsAReadableLineAndTheFileTheSameAlertEitherWay() throws {
        let shown = try run(console: true)
        let quiet = try run(console: false)
        #expect(shown.file.split(separator: "\n").count == 1 && quiet.file.split(separator: "\n").count == 1)
        for file in [shown.file, quiet.file] {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(file.utf8)) as? [String: Any])
            #expect((o["process"] as? [String: Any])?["pid"] as? Int == 4321)
            #expect((o["rule"] as? [String: Any])?["name"] as? String != nil)
        }
        #expect(shown.console.contains("pid=4321") && shown.console.hasSuffix("\n"), "\(shown.console)")
        #expect(quiet.console.isEmpty)
    }
}
