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
    }
}
