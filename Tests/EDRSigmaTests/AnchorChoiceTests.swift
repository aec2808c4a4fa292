import EDRCore
@testable import EDRSigma
import Testing

/// Which literal makes a rule a candidate (its anchor): of a conjunction's parts, one whose
/// literals are at least four bytes long and shared by the fewest rules of the unit, so an
/// executable's name that many rules test (and many events carry) does not make every one of
/// those rules a candidate; shorter literals still give way to longer ones.
struct AnchorChoiceTests {
    private let windows = "product: windows\n    category: process_creation"

    private func rule(_ title: String, _ n: Int, image: String, command: String) -> String {
        ruleYAML(
            "selection:\n    Image|endswith: '\(image)'\n    CommandLine|contains: '\(command)'\ncondition: selection",
            id: "00000000-0000-0000-0000-\(String(format: "%012d", n))", title: title, logsource: windows)
    }

    /// The fields of the literals that anchor the rule titled `title`.
    private func anchorFields(_ e: SigmaEngine, _ title: String) -> Set<String> {
        guard let g = e.rules.firstIndex(where: { $0.title == title }),
            let u = e.units.first(where: { $0.ruleGlobal.contains(Int32(g)) }),
            let r = u.ruleGlobal.firstIndex(of: Int32(g))
        else { return [] }
        var out = Set<String>()
        for a in u.atoms.indices where u.isAnchor[a] {
            let rules = u.anchorRules[Int(u.anchorRuleStart[a])..<Int(u.anchorRuleStart[a + 1])]
            if rules.contains(Int32(r)) { out.insert(u.fieldNames[Int(u.atoms[a].field)]) }
        }
        return out
    }

    @Test func aLiteralManyRulesShareIsNotTheAnchor() {
        var docs = (1...4).map { rule("common \($0)", $0, image: #"\cmd.exe"#, command: "alpha\($0)beta") }
        docs.append(rule("ping through cmd", 10, image: #"\cmd.exe"#, command: " ping "))
        docs.append(rule("short command literal", 11, image: #"\cmd.exe"#, command: "/c"))
        docs.append(rule("rare tool", 12, image: #"\rare-tool.exe"#, command: "abcdef"))
        let e = engine(docs.joined(separator: "\n---\n"))
        #expect(e.rules.count == 7)
        // Five rules share `\cmd.exe`; the command-line literal is the rule's own.
        #expect(anchorFields(e, "ping through cmd") == ["CommandLine"])
        #expect(anchorFields(e, "common 2") == ["CommandLine"])
        // A two-byte literal is no anchor while a longer one is there, shared or not.
        #expect(anchorFields(e, "short command literal") == ["Image"])
        // Neither literal shared: the longer one.
        #expect(anchorFields(e, "rare tool") == ["Image"])

        // The choice changes which rules are tried, never what matches.
        let ls = LogSource(product: "windows", category: "process_creation")
        func titles(_ image: String, _ command: String) -> [String] {
            e.evaluate(Event(logsource: ls, timestamp: 0, fields: [("Image", .string(image)), ("CommandLine", .string(command))]))
                .map(\.rule.title).sorted()
        }
        #expect(titles(#"C:\Windows\System32\CMD.EXE"#, "cmd /C PING 10.0.0.1") == ["ping through cmd", "short command literal"])
        #expect(titles(#"C:\Windows\System32\cmd.exe"#, "cmd /k alpha3BETA") == ["common 3"])
        #expect(titles(#"C:\tools\rare-tool.exe"#, "rare-tool ABCDEFG") == ["rare tool"])
        #expect(titles(#"C:\tools\other.exe"#, "other /c ping alpha1beta abcdef").isEmpty)
    }
}
