import EDRCore
@testable import EDRSigma
import Testing

/// The spec's escape table (sigma-rules-specification.md, "Escape Character"), values written as
/// in a single-quoted YAML string.
@Test(
    "escaping and wildcards",
    arguments: [
        // plain backslash, single or double
        (#"'C:\Windows\x'"#, #"C:\Windows\x"#, true),
        (#"'C:\\Windows\\x'"#, #"C:\Windows\x"#, true),
        // escaped wildcards are literal
        (#"'a\*b'"#, "a*b", true),
        (#"'a\*b'"#, "axxb", false),
        (#"'a\?b'"#, "a?b", true),
        (#"'a\?b'"#, "axb", false),
        // backslash before a wildcard: \\* is a backslash followed by a wildcard
        (#"'a\\*'"#, #"a\anything"#, true),
        (#"'a\\*'"#, "a", false),
        // three backslashes: backslash and literal star
        (#"'a\\\*'"#, #"a\*"#, true),
        (#"'a\\\*'"#, #"a\x"#, false),
        // four backslashes: two plain backslashes
        (#"'a\\\\b'"#, #"a\\b"#, true),
        (#"'a\\\\b'"#, #"a\b"#, false),
        // three backslashes (not before a wildcard) also mean two
        (#"'a\\\b'"#, #"a\\b"#, true),
        // wildcards
        ("'prog?.exe'", "progA.exe", true),
        ("'prog?.exe'", "progAB.exe", false),
        ("'prog?.exe'", "prog\u{00E9}.exe", true),
        ("'antivirus_V*.exe'", "antivirus_V21.2.1.exe", true),
        ("'antivirus_V*.exe'", "antivirus_X.exe", false),
        ("'*something'", "xx something", true),
        ("'something*'", "somethingelse", true),
        ("'*some*thing*'", "a some b thing c", true),
        ("'*some*thing*'", "a thing some", false),
        ("'*'", "", true)
    ])
func escaping(_ value: String, _ field: String, _ expect: Bool) {
    #expect(matches("selection:\n    F: \(value)\ncondition: selection", [("F", .string(field))]) == expect)
}

@Test func keywordSearches() {
    let det = "keywords:\n    - 'event::clear'\n    - 'event::drop'\ncondition: keywords"
    #expect(matches(det, [("A", "x"), ("B", "mimikatz EVENT::Drop")]) == true)
    #expect(matches(det, [("A", "x"), ("B", "event:clear")]) == false)
    let all = "keywords_cmdlet:\n    '|all':\n        - 'OabVirtualDirectory'\n        - ' -ExternalUrl '\ncondition: keywords_cmdlet"
    #expect(matches(all, [("CommandLine", "Set-OabVirtualDirectory -ExternalUrl http://x")]) == true)
    #expect(matches(all, [("A", "Set-OabVirtualDirectory"), ("B", "x -ExternalUrl y")]) == true)
    #expect(matches(all, [("A", "Set-OabVirtualDirectory")]) == false)
    // keywords never match across two fields' text
    #expect(matches("keywords:\n    - 'ab'\ncondition: keywords", [("A", "xa"), ("B", "bx")]) == false)
    // keyword with regex
    #expect(matches("keywords:\n    '|re': 'ev[a-z]l'\ncondition: keywords", [("A", "x"), ("B", "an evil")]) == true)
}
