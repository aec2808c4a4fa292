import EDRCore
@testable import EDRSigma
import Testing

let threeSelections = """
    selection_a:
        A: 'x'
    selection_b:
        B: 'x'
    filter_c:
        C: 'x'
    _hidden:
        D: 'x'
    """

@Test(
    "condition grammar",
    arguments: [
        // (condition, A, B, C, D, expected)
        ("selection_a", true, false, false, false, true),
        ("selection_a and selection_b", true, false, false, false, false),
        ("selection_a or selection_b", false, true, false, false, true),
        ("not selection_a", false, false, false, false, true),
        ("selection_a and not filter_c", true, false, true, false, false),
        // precedence: not > and > or
        ("selection_a or selection_b and filter_c", true, false, false, false, true),
        ("selection_a or selection_b and filter_c", false, true, false, false, false),
        ("(selection_a or selection_b) and filter_c", true, false, false, false, false),
        ("not selection_a and selection_b", false, true, false, false, true),
        ("not (selection_a and selection_b)", true, true, false, false, false),
        ("not not selection_a", true, false, false, false, true),
        // x of
        ("1 of selection_*", false, true, false, false, true),
        ("any of selection_*", false, false, false, false, false),
        ("all of selection_*", true, false, false, false, false),
        ("all of selection_*", true, true, false, false, true),
        ("1 of selection_* and not 1 of filter_*", true, false, true, false, false),
        ("1 of *_a", true, false, false, false, true),
        ("1 of sel*_b", false, true, false, false, true),
        // them skips identifiers starting with _
        ("1 of them", false, false, false, true, false),
        ("all of them", true, true, true, false, true),
        ("1 of them", false, false, true, false, true),
        ("_hidden", false, false, false, true, true),
        ("all of _h*", false, false, false, true, true),
        // keywords are case-insensitive operators
        ("selection_a AND NOT filter_c", true, false, false, false, true)
    ])
func condition(_ cond: String, _ a: Bool, _ b: Bool, _ c: Bool, _ d: Bool, _ expect: Bool) {
    var fields: [(String, FieldValue)] = []
    if a { fields.append(("A", "x")) }
    if b { fields.append(("B", "x")) }
    if c { fields.append(("C", "x")) }
    if d { fields.append(("D", "x")) }
    #expect(matches(threeSelections + "\ncondition: \(cond)", fields) == expect)
}

@Test func conditionListIsOred() {
    let det = threeSelections + "\ncondition:\n    - selection_a\n    - selection_b"
    #expect(matches(det, [("B", "x")]) == true)
    #expect(matches(det, [("C", "x")]) == false)
}

@Test func listOfMapsIsOred() {
    let det = "selection:\n    - Image|endswith: '/example'\n    - Description|contains: 'Test executable'\ncondition: selection"
    #expect(matches(det, [("Image", "/bin/example")]) == true)
    #expect(matches(det, [("Description", "a test Executable")]) == true)
    #expect(matches(det, [("Image", "/bin/x")]) == false)
}

@Test(
    "bad conditions are rejected",
    arguments: [
        ("selection_a and", "ends unexpectedly"),
        ("selection_z", "undefined search identifier"),
        ("1 of nomatch*", "matches no search identifier"),
        ("(selection_a", "missing ')'"),
        ("selection_a | count() > 5", "aggregation"),
        ("selection_a near selection_b", "near"),
        ("selection_a selection_b", "unexpected token"),
        ("selection_*", "needs '1 of'")
    ])
func badCondition(_ cond: String, _ reason: String) {
    let r = rejection(threeSelections + "\ncondition: \(cond)")
    #expect(r?.contains(reason) == true, "reason was: \(r ?? "nil")")
}

@Test func specExampleDocuments() {
    // From the rules specification: EventLog Security AND EventID in (517, 1102).
    let det = "selection:\n    EventLog: Security\n    EventID:\n        - 517\n        - 1102\ncondition: selection"
    #expect(matches(det, [("EventLog", "Security"), ("EventID", 1102)]) == true)
    #expect(matches(det, [("EventLog", "Security"), ("EventID", 4624)]) == false)
    let det2 = """
        selection:
            EventLog: Security
            EventID: 4769
            TicketOptions: '0x40810000'
            TicketEncryption: '0x17'
        condition: selection
        """
    #expect(matches(det2, [("EventLog", "security"), ("EventID", "4769"), ("TicketOptions", "0x40810000"), ("TicketEncryption", "0x17")]) == true)
    #expect(matches(det2, [("EventLog", "security"), ("EventID", "4769"), ("TicketOptions", "0x40810000"), ("TicketEncryption", "0x18")]) == false)
    // null as its own selection.
    let det3 = "selection:\n    EventID: 4738\nfilter:\n    PasswordLastSet: null\ncondition: selection and not filter"
    #expect(matches(det3, [("EventID", 4738), ("PasswordLastSet", "x")]) == true)
    #expect(matches(det3, [("EventID", 4738)]) == false)
    let det4 = """
        selection_main:
            FieldA: 'something'
        selection_empty1:
            FieldB: ''
        selection_empty2:
            FieldB: null
        condition: selection_main and 1 of selection_empty*
        """
    #expect(matches(det4, [("FieldA", "something"), ("FieldB", "")]) == true)
    #expect(matches(det4, [("FieldA", "something")]) == true)
    #expect(matches(det4, [("FieldA", "something"), ("FieldB", "x")]) == false)
}
