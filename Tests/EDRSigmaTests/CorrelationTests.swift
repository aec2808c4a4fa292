import EDRCore
@testable import EDRSigma
import Testing

let secLS = LogSource(product: "windows", service: "security")

let baseRules = """
    title: Single failed login
    id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
    name: failed_login
    logsource:
        product: windows
        service: security
    detection:
        selection:
            EventID:
                - 529
                - 4625
        condition: selection
    ---
    title: Successful login
    id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
    name: successful_login
    logsource:
        product: windows
        service: security
    detection:
        selection:
            EventID:
                - 528
                - 4624
        condition: selection
    """

func login(_ id: Int64, user: String, t: Double, host: String = "h1") -> Event {
    ev([("EventID", .int(id)), ("User", .string(user)), ("Computer", .string(host))], ls: secLS, t: t)
}

@Test func specExampleChain() {
    // The specification's example: many failed logins followed by a successful one.
    let yaml = """
        title: Correlation - Multiple Failed Logins Followed by Successful Login
        id: b180ead8-d58f-40b2-ae54-c8940995b9b6
        correlation:
            type: temporal_ordered
            rules:
                - multiple_failed_login
                - successful_login
            group-by:
                - User
            timespan: 10m
        level: high
        ---
        title: Multiple failed logons
        id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
        name: multiple_failed_login
        correlation:
            type: event_count
            rules:
                - failed_login
            group-by:
                - User
            timespan: 10m
            condition:
                gte: 10
        ---
        """ + "\n" + baseRules
    let e = engine(yaml)
    #expect(e.loadedCount == 4, "\(e.diagnostics.map(\.status))")
    var fired: [SigmaMatch] = []
    for i in 0..<9 { fired += e.evaluate(login(4625, user: "bob", t: Double(i))) }
    fired += e.evaluate(login(4624, user: "bob", t: 20))
    #expect(fired.isEmpty, "too early: \(fired.map(\.rule.title))")
    fired += e.evaluate(login(4625, user: "bob", t: 30))  // 10th failure
    fired += e.evaluate(login(4624, user: "alice", t: 31))  // other user
    #expect(fired.isEmpty, "intermediate correlation and base rules are not standalone alerts")
    let last = e.evaluate(login(4624, user: "bob", t: 40))
    #expect(last.count == 1)
    #expect(last.first?.rule.id == "b180ead8-d58f-40b2-ae54-c8940995b9b6")
    #expect(last.first?.correlation?.type == "temporal_ordered")
    #expect(last.first?.correlation?.group.first?.value == "bob")
}

@Test func eventCountSlidingWindow() {
    let yaml = """
        title: Many failures
        id: corr-1
        correlation:
            type: event_count
            rules: [failed_login]
            group-by: [User]
            timespan: 1m
            condition:
                gte: 3
            generate: true
        ---
        """ + "\n" + baseRules
    let e = engine(yaml)
    var n = 0
    // Spread over more than a minute: never 3 within 60 s.
    for t in [0.0, 40, 80, 120, 160] { n += e.evaluate(login(4625, user: "bob", t: t)).filter { $0.correlation != nil }.count }
    #expect(n == 0)
    // generate: true → base rule matches are reported too.
    #expect(e.evaluate(login(4625, user: "carol", t: 200)).count == 1)
    var fired = 0
    for t in [201.0, 202] { fired += e.evaluate(login(4625, user: "carol", t: t)).filter { $0.correlation != nil }.count }
    #expect(fired == 1)
    // Group by user: other users don't count.
    #expect(e.evaluate(login(4625, user: "dave", t: 203)).filter { $0.correlation != nil }.isEmpty)
}

@Test func valueCountAndRange() {
    let yaml = """
        title: Spray
        id: corr-2
        correlation:
            type: value_count
            rules: [failed_login]
            group-by: [Computer]
            timespan: 5m
            condition:
                field: User
                gte: 3
        ---
        """ + "\n" + baseRules
    let e = engine(yaml)
    var fired: [SigmaMatch] = []
    for (i, u) in ["a", "a", "b", "b", "c"].enumerated() { fired += e.evaluate(login(4625, user: u, t: Double(i))) }
    #expect(fired.count == 1)
    #expect(fired.first?.correlation?.value == 3)
}

@Test func temporalUnorderedWithAliases() {
    let yaml = """
        title: Both within 10 s
        id: corr-3
        correlation:
            type: temporal
            rules: [failed_login, successful_login]
            group-by: [account]
            timespan: 10s
            aliases:
                account:
                    failed_login: User
                    successful_login: TargetUser
        ---
        """ + "\n" + baseRules
    let e = engine(yaml)
    #expect(e.evaluate(ev([("EventID", 4624), ("TargetUser", "bob")], ls: secLS, t: 0)).isEmpty)
    #expect(e.evaluate(login(4625, user: "alice", t: 1)).isEmpty)
    let m = e.evaluate(login(4625, user: "bob", t: 2))
    #expect(m.count == 1 && m[0].rule.id == "corr-3")
    // Outside the window: no match.
    #expect(e.evaluate(ev([("EventID", 4624), ("TargetUser", "zed")], ls: secLS, t: 100)).isEmpty)
    #expect(e.evaluate(login(4625, user: "zed", t: 120)).isEmpty)
}

@Test func temporalOrderedNeedsOrder() {
    let yaml = """
        title: Fail then success
        id: corr-4
        correlation:
            type: temporal_ordered
            rules: [failed_login, successful_login]
            group-by: [User]
            timespan: 1m
        ---
        """ + "\n" + baseRules
    let e = engine(yaml)
    #expect(e.evaluate(login(4624, user: "bob", t: 0)).isEmpty)
    #expect(e.evaluate(login(4625, user: "bob", t: 1)).isEmpty)  // wrong order so far
    #expect(e.evaluate(login(4624, user: "bob", t: 2)).count == 1)
}

@Test func valueSumAndAvg() {
    let yaml = """
        title: Exfil
        id: corr-5
        correlation:
            type: value_sum
            rules: [upload]
            group-by: [User]
            timespan: 1h
            condition:
                field: Bytes
                gt: 1000
        ---
        title: Avg
        id: corr-6
        correlation:
            type: value_avg
            rules: [upload]
            group-by: [User]
            timespan: 1h
            condition:
                field: Bytes
                gte: 600
        ---
        title: upload
        name: upload
        id: up-1
        logsource:
            product: linux
            category: network_connection
        detection:
            sel:
                Initiated: 'true'
            condition: sel
        """
    let e = engine(yaml)
    #expect(e.loadedCount == 3)
    let ls = LogSource(product: "linux", category: "network_connection")
    func up(_ b: Int64, _ t: Double) -> [String] {
        e.evaluate(ev([("Initiated", "true"), ("User", "u"), ("Bytes", .int(b))], ls: ls, t: t)).compactMap(\.rule.id)
    }
    #expect(up(500, 0) == [])
    #expect(up(400, 1) == [])  // sum 900, avg 450
    #expect(up(800, 2) == ["corr-5"])  // sum 1700 > 1000; avg 566 < 600
    #expect(up(1000, 3) == ["corr-6"])  // sum restarted at 1000 (not > 1000); avg 675
}

@Test func boundedStateEvictsOldest() {
    var opts = SigmaOptions()
    opts.correlationMaxGroups = 16
    let yaml = """
        title: Many failures
        id: corr-1
        correlation:
            type: event_count
            rules: [failed_login]
            group-by: [User]
            timespan: 1h
            condition:
                gte: 2
        ---
        """ + "\n" + baseRules
    let e = engine(yaml, options: opts)
    for i in 0..<1000 { _ = e.evaluate(login(4625, user: "user\(i)", t: Double(i))) }
    let st = e.correlationStats
    #expect(st.groups <= 16)
    #expect(st.evictedGroups >= 984)
}

@Test(
    "invalid correlations are rejected",
    arguments: [
        ("title: c\ncorrelation:\n    type: event_count\n    rules: [nope]\n    group-by: [User]\n    timespan: 1m\n    condition: {gte: 2}", "unknown rule"),
        ("title: c\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 1q\n    condition: {gte: 2}", "timespan"),
        ("title: c\ncorrelation:\n    type: value_count\n    rules: [failed_login]\n    timespan: 1m\n    condition: {gte: 2}", "field"),
        ("title: c\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n    timespan: 1m\n    condition: {lt: 2}", "lower bound"),
        ("title: c\ncorrelation:\n    type: nearby\n    rules: [failed_login]\n    timespan: 1m", "unsupported correlation type")
    ])
func invalidCorrelation(_ doc: String, _ reason: String) {
    let e = engine(doc + "\n---\n" + baseRules)
    let d = e.diagnostics.first { $0.kind == .correlation }
    guard case .rejected(let r)? = d?.status else { Issue.record("not rejected: \(String(describing: d?.status))"); return }
    #expect(r.contains(reason), "reason was: \(r)")
}

@Test func valuePercentileFlagsRareValues() {
    let yaml = """
        title: Rare process image for this host
        id: corr-7
        correlation:
            type: value_percentile
            rules: [proc]
            group-by: [Computer]
            timespan: 1d
            condition:
                field: Image
                lte: 5
        ---
        title: proc
        name: proc
        id: proc-1
        logsource:
            product: linux
            category: process_creation
        detection:
            sel:
                Image|startswith: '/'
            condition: sel
        """
    let e = engine(yaml)
    #expect(e.loadedCount == 2)
    var fired: [String] = []
    // The first event is trivially "rare" (100% share > 5%), nothing fires; 40 common ones, then a rare one.
    for i in 0..<40 { fired += e.evaluate(ev([("Image", "/usr/bin/ls"), ("Computer", "h")], t: Double(i))).compactMap(\.rule.id) }
    #expect(fired.isEmpty)
    let rare = e.evaluate(ev([("Image", "/tmp/.x/miner"), ("Computer", "h")], t: 50))
    #expect(rare.map(\.rule.id) == ["corr-7"])
    #expect((rare.first?.correlation?.value ?? 100) < 5)
}

@Test func eventCountEqualsFiresOnce() {
    let yaml = """
        title: exactly three
        id: corr-8
        correlation:
            type: event_count
            rules: [failed_login]
            group-by: [User]
            timespan: 1h
            condition:
                eq: 3
        ---
        """ + "\n" + baseRules
    let e = engine(yaml)
    var n = 0
    for t in 0..<7 { n += e.evaluate(login(4625, user: "u", t: Double(t))).count }
    #expect(n == 2)  // at the 3rd and (after the restart) the 6th event
}
