import Testing
import EDRCore
@testable import EDRSigma

/// A rule that can never be true on a logsource's events (by its field domain) loads as
/// inert with the reason; a rule with one impossible selection among others stays live and
/// names it; negations and modifiers are never judged impossible.
struct FieldDomainTests {
    static let ls = LogSource(product: "linux", service: "auditd")
    static let options: SigmaOptions = {
        var o = SigmaOptions(collectedLogSources: [ls])
        o.fieldDomains = [
            SigmaFieldDomain(
                logsource: ls,
                values: ["type": .init(allowed: ["EXECVE", "PATH"], why: "not built")],
                absent: ["key": "no keys"])
        ]
        return o
    }()

    static func status(_ detection: String) -> SigmaRuleDiagnostic {
        engine(ruleYAML(detection, logsource: "product: linux\n    service: auditd"), options: options).diagnostics[0]
    }

    @Test(arguments: [
        ("sel:\n    type: SERVICE_STOP\ncondition: sel", "type 'service_stop': not built"),
        ("sel:\n    key: susp\ncondition: sel", "field 'key': no keys"),
        ("a:\n    type: TTY\nb:\n    key|contains: x\ncondition: a or b", "type 'tty': not built; field 'key': no keys"),
        ("a:\n    type: EXECVE\nb:\n    key: x\ncondition: a and b", "field 'key': no keys")
    ])
    func impossibleRulesAreInert(_ c: (String, String)) {
        let d = Self.status(c.0)
        #expect(d.status == .inert(reason: "never true on product=linux service=auditd events: " + c.1))
    }

    @Test(
        arguments: [
            ("sel:\n    type: execve\ncondition: sel", []),
            ("sel:\n    type|startswith: SERV\ncondition: sel", []),
            ("sel:\n    type: TTY\ncondition: not sel", []),
            ("sel:\n    key: null\ncondition: sel", []),
            ("a:\n    type: TTY\nb:\n    type: PATH\n    name: /etc/x\ncondition: 1 of a or b", ["type 'tty': not built"]),
            ("sel:\n    a0: ls\ncondition: sel", [])
        ] as [(String, [String])])
    func possibleRulesLoad(_ c: (String, [String])) {
        let d = Self.status(c.0)
        #expect(d.status == .loaded && d.neverTrue == c.1)
    }

    @Test func otherLogsourcesAreNotJudged() {
        let d = engine(ruleYAML("sel:\n    type: TTY\ncondition: sel"), options: SigmaOptions()).diagnostics[0]
        #expect(d.status == .loaded)
    }
}

/// With per-kind field schemas: a field no kind of event holds makes a test impossible, and
/// the values of the discriminating field a rule can be true on are known.
struct FieldDomainSchemaTests {
    /// A record type's key (the per-type unit's lookup): ASCII case folded, up to 16 bytes,
    /// no NUL; a substring's storage (not a native string of its own) packs the same.
    @Test func kindKeysFoldCaseAndRefuseWhatNoTypeIsNamed() throws {
        func key(_ s: String) -> [UInt64]? { KindKey(s).map { [$0.lo, $0.hi] } }
        #expect(key("EXECVE") != nil && key("EXECVE") == key("execve") && key("ExecVe") == key("EXECVE"))
        #expect(key("EXECVE") != key("EXECV") && key("PATH") != key("CWD"))
        #expect(key("ABCDEFGHIJKLMNOP") == key("abcdefghijklmnop"))  // 16 bytes: both words
        #expect(key("abcdefghijklmnop") != key("abcdefghijklmnoq"))
        #expect(key("abcdefghijklmnopq") == nil)  // 17 bytes
        #expect(key("EXEC\u{0}VE") == nil)
        #expect(key("") == [0, 0])
        let line = "type=PROCTITLE msg=audit"
        let sub = line[line.index(line.startIndex, offsetBy: 5)..<line.index(line.startIndex, offsetBy: 14)]
        #expect(key(String(sub)) == key("proctitle"))
        #expect(key("TÉST") == key("TÉST") && key("TÉST") != key("tést"))  // non-ASCII bytes as they are
    }

    static let ls = LogSource(product: "linux", service: "auditd")
    static let domain = SigmaFieldDomain(
        logsource: ls, values: ["type": .init(allowed: ["EXECVE", "CWD"], why: "not built")],
        schema: ("type", ["EXECVE": ["type", "a#"], "CWD": ["type", "cwd"]]))
    static func load(_ detection: String) -> SigmaEngine {
        var o = SigmaOptions(collectedLogSources: [ls])
        o.fieldDomains = [domain]
        return engine(ruleYAML(detection, logsource: "product: linux\n    service: auditd"), options: o)
    }

    @Test func fieldsNoRecordHoldsAreNeverTrue() {
        #expect(
            Self.load("sel:\n    tty: pts1\ncondition: sel").diagnostics[0].status
                == .inert(reason: "never true on product=linux service=auditd events: field 'tty': not in any record built (CWD, EXECVE)"))
        #expect(Self.load("sel:\n    a12|startswith: x\ncondition: sel").diagnostics[0].status == .loaded)
        #expect(Self.load("sel:\n    ax: x\ncondition: sel").diagnostics[0].status != .loaded)
    }

    @Test(
        arguments: [
            ("sel:\n    a1|startswith: --cpu\ncondition: sel", ["execve"]),
            ("sel:\n    type: CWD\ncondition: sel", ["cwd"]),
            ("sel:\n    a1: x\nc:\n    cwd: /\ncondition: sel or c", ["execve", "cwd"]),
            ("sel:\n    - x\ncondition: sel", ["execve", "cwd"])
        ] as [(String, Set<String>)])
    func possibleKinds(_ c: (String, Set<String>)) {
        #expect(Self.load(c.0).possibleValues[Self.ls]?["type"] == c.1)
    }
}
