import EDRCore
@testable import EDRSigma
import Foundation
import Testing

@Test func metadataIsKept() {
    let yaml = """
        title: Curl to pipe
        id: 11111111-2222-3333-4444-555555555555
        status: test
        description: d
        author: me
        references:
            - https://example.com
        tags:
            - attack.execution
            - attack.t1059.004
        logsource:
            product: linux
            category: process_creation
        detection:
            selection:
                CommandLine|contains: '| sh'
            condition: selection
        falsepositives:
            - installers
        level: critical
        """
    let e = engine(yaml)
    let m = e.evaluate(ev([("CommandLine", "curl x | sh")]))
    #expect(m.count == 1)
    let r = m[0].rule
    #expect(r.id == "11111111-2222-3333-4444-555555555555")
    #expect(r.title == "Curl to pipe")
    #expect(r.level == .critical)
    #expect(r.status == "test")
    #expect(r.tags == ["attack.execution", "attack.t1059.004"])
    #expect(r.attackTechniques == ["T1059.004"])
    #expect(r.references == ["https://example.com"])
    #expect(r.falsepositives == ["installers"])
    #expect(r.logsource == procLS)
    #expect(r.path == "test.yml")
}

@Test func logsourceRouting() {
    let rules = [
        ruleYAML("sel:\n    A: x\ncondition: sel", id: "r-proc", logsource: "product: linux\n    category: process_creation"),
        ruleYAML("sel:\n    A: x\ncondition: sel", id: "r-linux", logsource: "product: linux"),
        ruleYAML("sel:\n    A: x\ncondition: sel", id: "r-file", logsource: "product: linux\n    category: file_event"),
        ruleYAML("sel:\n    A: x\ncondition: sel", id: "r-win", logsource: "product: windows\n    category: process_creation"),
        ruleYAML("sel:\n    A: x\ncondition: sel", id: "r-auditd", logsource: "product: linux\n    service: auditd")
    ].joined(separator: "\n---\n")
    let e = engine(rules)
    #expect(e.loadedCount == 5)
    func ids(_ ls: LogSource) -> Set<String> { Set(e.evaluate(ev([("A", "x")], ls: ls)).compactMap(\.rule.id)) }
    #expect(ids(procLS) == ["r-proc", "r-linux"])
    #expect(ids(LogSource(product: "linux", category: "file_event")) == ["r-file", "r-linux"])
    #expect(ids(LogSource(product: "linux", service: "auditd")) == ["r-auditd", "r-linux"])
    #expect(ids(LogSource(product: "windows", category: "process_creation")) == ["r-win"])
    #expect(ids(LogSource(category: "process_creation")) == [])
}

@Test func inertWhenLogsourceNotCollected() {
    let rules = [
        ruleYAML("sel:\n    A: x\ncondition: sel", id: "r-proc"),
        ruleYAML("sel:\n    A: x\ncondition: sel", id: "r-win", logsource: "product: windows\n    category: process_creation")
    ].joined(separator: "\n---\n")
    let e = engine(rules, options: SigmaOptions(collectedLogSources: [procLS, LogSource(product: "linux", category: "file_event")]))
    let win = e.diagnostics.first { $0.ruleID == "r-win" }!
    if case .inert(let reason) = win.status { #expect(reason.contains("windows")) } else { Issue.record("not inert: \(win.status)") }
    #expect(e.diagnostics.first { $0.ruleID == "r-proc" }?.status == .loaded)
    #expect(e.evaluate(ev([("A", "x")], ls: LogSource(product: "windows", category: "process_creation"))).isEmpty)
}

@Test func filtersApplyToNamedRulesAndLogsource() {
    let yaml = [
        ruleYAML("sel:\n    CommandLine|contains: rar\ncondition: sel", id: "rule-1"),
        ruleYAML("sel:\n    CommandLine|contains: rar\ncondition: sel", id: "rule-2"),
        """
        title: Filter admins
        logsource:
            product: linux
            category: process_creation
        filter:
            rules:
                - rule-1
            selection:
                User|startswith: 'adm_'
            condition: selection
        """,
        """
        title: Filter everything of file events
        logsource:
            product: linux
            category: file_event
        filter:
            selection:
                User: 'backup'
            condition: selection
        """,
        ruleYAML("sel:\n    TargetFilename|endswith: .rar\ncondition: sel", id: "rule-3", logsource: "product: linux\n    category: file_event")
    ].joined(separator: "\n---\n")
    let e = engine(yaml)
    #expect(e.diagnostics.filter { $0.kind == .filter && $0.status == .loaded }.count == 2)
    func ids(_ f: [(String, FieldValue)], _ ls: LogSource = procLS) -> Set<String> { Set(e.evaluate(ev(f, ls: ls)).compactMap(\.rule.id)) }
    #expect(ids([("CommandLine", "rar a x"), ("User", "adm_bob")]) == ["rule-2"])
    #expect(ids([("CommandLine", "rar a x"), ("User", "bob")]) == ["rule-1", "rule-2"])
    let fileLS = LogSource(product: "linux", category: "file_event")
    #expect(ids([("TargetFilename", "/x.rar"), ("User", "backup")], fileLS) == [])
    #expect(ids([("TargetFilename", "/x.rar"), ("User", "bob")], fileLS) == ["rule-3"])
}

@Test func malformedInputNeverCrashes() {
    let inputs = [
        "", "---", ":", "[", "{a: [}", "title: x\ndetection: 5", "title: x\nlogsource: []\ndetection: {}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: {A: {B: C}}, condition: sel}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: [], condition: sel}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: {A: x}, condition: 5}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: {A: x}}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: {A: x}, condition: [sel, 3]}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: {'A|re': '['}, condition: sel}",
        "title: x\nlevel: bogus\nlogsource: {product: linux}\ndetection: {sel: {A: x}, condition: sel}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: {A: [[x]]}, condition: sel}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: {A: x}, condition: '((((((((sel'}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: {A: x}, condition: 'not'}",
        "title: x\nlogsource: {product: linux}\ndetection: {sel: true, condition: sel}",
        "title: x\ncorrelation: {type: nope}", "title: x\ncorrelation: {type: event_count, rules: [a], timespan: 5x}",
        "title: x\nfilter: 3\nlogsource: {product: linux}",
        "action: global\ntitle: x",
        String(repeating: "- ", count: 200) + "x",
        "\u{0}\u{1}binary"
    ]
    for (i, text) in inputs.enumerated() {
        let e = SigmaEngine.load(sources: [(name: "bad\(i).yml", yaml: text)])
        #expect(e.loadedCount == 0, "input \(i) loaded")
        for d in e.diagnostics {
            if case .rejected(let r) = d.status { #expect(!r.isEmpty) } else { Issue.record("input \(i): \(d.status)") }
        }
        _ = e.evaluate(ev([("A", "x")]))
    }
}

@Test func yamlAnchorsAndAliasesAreResolved() {
    let e = engine("title: x\nlogsource: {product: linux, category: process_creation}\ndetection: {sel: {A: &a x, B: *a}, condition: sel}")
    #expect(e.loadedCount == 1)
    #expect(e.evaluate(ev([("A", "x"), ("B", "x")])).count == 1)
}

@Test func diagnosticsNameFileAndId() {
    let e = engine(ruleYAML("sel:\n    A|nope: x\ncondition: sel", id: "bad-id"))
    let d = e.diagnostics[0]
    #expect(d.path == "test.yml")
    #expect(d.ruleID == "bad-id")
    #expect(d.title == "test rule")
    #expect(d.status == .rejected(reason: "sel: unknown modifier 'nope' in 'A|nope'"))
}

@Test func multiDocumentYAMLAndEmptyDocuments() {
    let e = engine([ruleYAML("s:\n    A: x\ncondition: s", id: "one"), "", ruleYAML("s:\n    A: y\ncondition: s", id: "two")].joined(separator: "\n---\n"))
    #expect(e.loadedCount == 2)
}

@Test func concurrentEvaluation() async {
    let e = engine(ruleYAML("sel:\n    CommandLine|contains: evil\ncondition: sel"))
    await withTaskGroup(of: Int.self) { g in
        for t in 0..<4 {
            g.addTask {
                var n = 0
                for i in 0..<2000 { n += e.evaluate(ev([("CommandLine", .string(i % 2 == 0 ? "evil \(t)" : "good"))])).count }
                return n
            }
        }
        var total = 0
        for await n in g { total += n }
        #expect(total == 4000)
    }
}

@Test(
    "YAML 1.1 plain scalar resolution",
    arguments: [
        ("4688", "int 4688"), ("-12", "int -12"), ("0x17", "int 23"), ("017", "int 15"), ("1_000", "int 1000"),
        ("1.5", "double 1.5"), ("1e3", "double 1000.0"), ("1.0e+3", "double 1000.0"), (".5", "double 0.5"),
        ("true", "bool true"), ("Off", "bool false"), ("~", "null"), ("null", "null"), ("", "null"),
        ("1.2.3", "string"), ("0x", "string"), ("-", "string"), ("abc", "string"), ("08", "string"), ("12ab", "string")
    ])
func yamlScalars(_ text: String, _ expect: String) {
    let got: String
    switch YAMLLoader.resolvePlain(text) {
    case .int(let i): got = "int \(i)"
    case .double(let d): got = "double \(d)"
    case .bool(let b): got = "bool \(b)"
    case .null: got = "null"
    case .string: got = "string"
    default: got = "other"
    }
    #expect(got == expect)
}

/// Mutated corpus rules (deterministic byte flips, deletions, duplications) must load or be
/// rejected with a reason, and evaluating events against whatever loaded must not crash.
@Test func mutatedRulesNeverCrash() throws {
    let dir = corpusRoot() + "/sigmahq/rules/linux"
    try #require(FileManager.default.fileExists(atPath: dir))
    var files: [String] = []
    let en = FileManager.default.enumerator(atPath: dir)!
    while let f = en.nextObject() as? String { if f.hasSuffix(".yml") { files.append(dir + "/" + f) } }
    files.sort()
    // SIGMA_FUZZ_ROUNDS=n runs n rounds with different seeds (default 1).
    let rounds = Int(ProcessInfo.processInfo.environment["SIGMA_FUZZ_ROUNDS"] ?? "1") ?? 1
    for round in 0..<rounds {
        var rng = SplitMix64(seed: 7 + UInt64(round))
        let alphabet = Array("|*?\\:-[]{}'\"# \n\tabc01%".utf8)
        var sources: [(name: String, yaml: String)] = []
        for (i, f) in files.enumerated() {
            var b = Array(try String(contentsOfFile: f, encoding: .utf8).utf8)
            for _ in 0..<(1 + Int(rng.next() % 4)) where !b.isEmpty {
                let pos = Int(rng.next() % UInt64(b.count))
                switch rng.next() % 3 {
                case 0: b[pos] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                case 1: b.remove(at: pos)
                default: b.insert(contentsOf: b[pos..<min(b.count, pos + 8)], at: pos)
                }
            }
            sources.append((name: "mut\(i).yml", yaml: String(decoding: b, as: UTF8.self)))
        }
        let e = SigmaEngine.load(sources: sources)
        for d in e.diagnostics { if case .rejected(let r) = d.status { #expect(!r.isEmpty) } }
        for ev in SigmaEventMix.events(count: 300) { _ = e.evaluate(ev) }
        print("mutated linux rules (round \(round)): \(e.diagnostics.count) documents, \(e.loadedCount) loaded")
    }
}

/// A backtracking matcher would need on the order of 3000^12 steps here: it never finishes.
/// The match runs on its own thread under a generous deadline (a hang fails the test; how
/// fast it is belongs to the benchmarks, not to a test).
@Test func pathologicalGlobTerminates() throws {
    let det = "sel:\n    F: '*a*a*a*a*a*a*a*a*a*a*a*a*b'\ncondition: sel"
    let result = GlobResult()
    let done = DispatchSemaphore(value: 0)
    Thread {
        result.set(matches(det, [("F", .string(String(repeating: "a", count: 3000)))]))
        done.signal()
    }.start()
    try #require(done.wait(timeout: .now() + 120) == .success, "the glob did not finish within 120 s")
    #expect(result.get() == false)
}

final class GlobResult: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Bool?? = .none
    func set(_ v: Bool?) { lock.lock(); value = .some(v); lock.unlock() }
    func get() -> Bool? { lock.lock(); defer { lock.unlock() }; return value ?? nil }
}

/// Integers are folded for literal tests as their decimal text (written straight into the fold
/// buffer, not through a String): signs, zero and the extremes read as `String(i)` reads.
@Test func integersMatchAsTheirDecimalText() {
    let yaml = """
        title: Integer literals
        logsource:
            product: linux
            category: process_creation
        detection:
            selection:
                - ExitCode|endswith: '-1'
                - ProcessId|startswith: '-922337203685477580'
                - ParentProcessId: '0'
                - LogonId|contains: '18446744'
                - keyword_like|contains: '9223372036854775807'
            condition: selection
        level: low
        """
    let e = engine(yaml)
    #expect(e.evaluate(ev([("ExitCode", .int(-1))])).count == 1)
    #expect(e.evaluate(ev([("ExitCode", .int(1))])).isEmpty)
    #expect(e.evaluate(ev([("ProcessId", .int(Int64.min))])).count == 1)
    #expect(e.evaluate(ev([("ParentProcessId", .int(0))])).count == 1)
    #expect(e.evaluate(ev([("ParentProcessId", .int(10))])).isEmpty)
    #expect(e.evaluate(ev([("LogonId", .int(1_184_467_440))])).count == 1)
    #expect(e.evaluate(ev([("LogonId", .int(1_844_674))])).isEmpty)
    #expect(e.evaluate(ev([("keyword_like", .int(Int64.max))])).count == 1)
}

/// Rules of a broader logsource (`product: linux` alone) compiled into the narrower units they
/// cover: an auditd record is evaluated by one unit, every rule that matches it is reported
/// once, and the broader rules still apply to logsources no narrower unit has.
struct FoldedUnitTests {
    private let product = ruleYAML(
        "keywords:\n    - 'rm -rf /'\ncondition: keywords", id: "00000000-0000-0000-0000-0000000000a1", title: "product rule",
        logsource: "product: linux")
    private let auditd = ruleYAML(
        "selection:\n    type: EXECVE\n    a0: rm\ncondition: selection", id: "00000000-0000-0000-0000-0000000000a2", title: "auditd rule",
        logsource: "product: linux\n    service: auditd")
    private let proc = ruleYAML(
        "selection:\n    CommandLine|contains: 'rm -rf'\ncondition: selection", id: "00000000-0000-0000-0000-0000000000a3",
        title: "process rule")

    private func load(fold: Bool) -> SigmaEngine {
        var o = SigmaOptions()
        o.foldBroaderUnits = fold
        return SigmaEngine.load(sources: [("product.yml", product), ("auditd.yml", auditd), ("proc.yml", proc)], options: o)
    }

    @Test func oneUnitPerEventAndEachRuleOnce() {
        let on = load(fold: true), off = load(fold: false)
        let auditdLS = LogSource(product: "linux", service: "auditd")
        #expect(on.route(auditdLS).count == 1 && off.route(auditdLS).count == 2)
        #expect(on.route(procLS).count == 1 && off.route(procLS).count == 2)
        let cases: [(Event, [String])] = [
            (ev([("type", "EXECVE"), ("a0", "rm"), ("a1", "-rf"), ("a2", "/"), ("a3", "rm -rf /")], ls: auditdLS), ["auditd rule", "product rule"]),
            (ev([("type", "EXECVE"), ("a0", "ls")], ls: auditdLS), []),
            (ev([("CommandLine", "sudo rm -rf /")]), ["process rule", "product rule"]),
            (ev([("CommandLine", "rm -rf tmp")]), ["process rule"]),
            // No unit of its own: the product rule's unit takes it.
            (ev([("message", "about to rm -rf / now")], ls: LogSource(product: "linux", service: "syslog")), ["product rule"]),
            (ev([("message", "rm -rf /")], ls: LogSource(product: "windows", service: "system")), [])
        ]
        for (e, expected) in cases {
            #expect(on.evaluate(e).map(\.rule.title).sorted() == expected, "\(e.logsource) \(e.fields)")
            #expect(off.evaluate(e).map(\.rule.title).sorted() == expected, "\(e.logsource) \(e.fields)")
        }
    }
}
