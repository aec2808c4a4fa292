import EDRCore
@testable import EDRSigma
import Testing

struct Case: CustomTestStringConvertible, Sendable {
    var det: String
    var fields: [(String, FieldValue)]
    var expect: Bool
    var testDescription: String { "\(det.replacingOccurrences(of: "\n", with: " ⏎ ")) on \(fields.map { "\($0.0)=\($0.1)" }) → \(expect)" }
    init(_ det: String, _ fields: [(String, FieldValue)], _ expect: Bool) { self.det = det; self.fields = fields; self.expect = expect }
}

let cmd = "selection:\n    CommandLine"
func sel(_ rest: String) -> String { "selection:\n    \(rest)\ncondition: selection" }

let modifierCases: [Case] = [
    // plain equality, case-insensitive by default
    Case(sel("Image: '/usr/bin/curl'"), [("Image", "/usr/bin/curl")], true),
    Case(sel("Image: '/usr/bin/curl'"), [("Image", "/USR/BIN/CURL")], true),
    Case(sel("Image: '/usr/bin/curl'"), [("Image", "/usr/bin/curl2")], false),
    Case(sel("Image: '/usr/bin/curl'"), [("Other", "/usr/bin/curl")], false),
    // contains / startswith / endswith
    Case(sel("CommandLine|contains: 'wget '"), [("CommandLine", "sudo WGET http://x")], true),
    Case(sel("CommandLine|contains: 'wget '"), [("CommandLine", "sudo curl http://x")], false),
    Case(sel("CommandLine|startswith: 'sudo'"), [("CommandLine", "Sudo ls")], true),
    Case(sel("CommandLine|startswith: 'sudo'"), [("CommandLine", "ls sudo")], false),
    Case(sel("Image|endswith: '/bash'"), [("Image", "/bin/bash")], true),
    Case(sel("Image|endswith: '/bash'"), [("Image", "/bin/bash5")], false),
    // lists are ORed; all makes them ANDed
    Case(sel("Image|endswith:\n        - '/sh'\n        - '/bash'"), [("Image", "/bin/sh")], true),
    Case(sel("CommandLine|contains|all:\n        - 'curl'\n        - '| sh'"), [("CommandLine", "curl x | sh")], true),
    Case(sel("CommandLine|contains|all:\n        - 'curl'\n        - '| sh'"), [("CommandLine", "curl x > f")], false),
    // cased
    Case(sel("CommandLine|cased: 'ABC'"), [("CommandLine", "ABC")], true),
    Case(sel("CommandLine|cased: 'ABC'"), [("CommandLine", "abc")], false),
    Case(sel("CommandLine|contains|cased: 'B'"), [("CommandLine", "aBc")], true),
    Case(sel("CommandLine|contains|cased: 'B'"), [("CommandLine", "abc")], false),
    // exists
    Case(sel("User|exists: true"), [("User", .null)], true),
    Case(sel("User|exists: true"), [("Image", "x")], false),
    Case(sel("User|exists: false"), [("Image", "x")], true),
    Case(sel("User|exists: false"), [("User", "")], false),
    // null vs empty vs missing
    Case(sel("User: null"), [("Image", "x")], true),
    Case(sel("User: null"), [("User", .null)], true),
    Case(sel("User: null"), [("User", "")], false),
    Case(sel("User: ''"), [("User", "")], true),
    Case(sel("User: ''"), [("User", .null)], false),
    Case(sel("User: ''"), [("Image", "x")], false),
    // neq
    Case(sel("User|neq: root"), [("User", "alice")], true),
    Case(sel("User|neq: root"), [("User", "ROOT")], false),
    Case(sel("User|neq: root"), [("Image", "x")], false),
    Case(sel("User|neq:\n        - root\n        - admin"), [("User", "admin")], false),
    // windash
    Case(sel("CommandLine|windash|contains: ' -enc '"), [("CommandLine", "powershell /enc abc")], true),
    Case(sel("CommandLine|windash|contains: ' -enc '"), [("CommandLine", "powershell \u{2013}enc abc")], true),
    Case(sel("CommandLine|windash|contains: ' -enc '"), [("CommandLine", "powershell enc abc")], false),
    // regex: case-sensitive unless i
    Case(sel("CommandLine|re: '^ab+c$'"), [("CommandLine", "abbbc")], true),
    Case(sel("CommandLine|re: '^ab+c$'"), [("CommandLine", "ABBC")], false),
    Case(sel("CommandLine|re|i: '^ab+c$'"), [("CommandLine", "ABBC")], true),
    Case(sel("CommandLine|re: 'b.c'"), [("CommandLine", "xb\ncx")], false),
    Case(sel("CommandLine|re|s: 'b.c'"), [("CommandLine", "xb\ncx")], true),
    Case(sel("CommandLine|re: '^c$'"), [("CommandLine", "a\nc\nd")], false),
    Case(sel("CommandLine|re|m: '^c$'"), [("CommandLine", "a\nc\nd")], true),
    Case(sel("CommandLine|re: 'wget'"), [("CommandLine", "sudo wget x")], true),
    // base64 / base64offset
    Case(sel("CommandLine|base64: 'abc'"), [("CommandLine", "YWJj")], true),
    Case(sel("CommandLine|base64|contains: 'http://'"), [("CommandLine", "echo aHR0cDovLw== | base64 -d")], true),
    Case(sel("CommandLine|base64offset|contains: '/bin/sh'"), [("CommandLine", "eval $(echo L2Jpbi9zaA== | base64 -d)")], true),
    Case(sel("CommandLine|base64offset|contains: '/bin/sh'"), [("CommandLine", "x IC9iaW4vc2g= y")], true),
    Case(sel("CommandLine|base64offset|contains: '/bin/sh'"), [("CommandLine", "x ICAvYmluL3No y")], true),
    Case(sel("CommandLine|base64offset|contains: '/bin/sh'"), [("CommandLine", "x L2Jpbi9iYXNo y")], false),
    // utf16 family
    Case(sel("CommandLine|wide|base64offset|contains: 'ping'"), [("CommandLine", "-enc cABpAG4AZwA=")], true),
    Case(sel("CommandLine|utf16le|base64: 'ab'"), [("CommandLine", "YQBiAA==")], true),
    Case(sel("CommandLine|utf16be|base64: 'ab'"), [("CommandLine", "AGEAYg==")], true),
    Case(sel("CommandLine|utf16|base64: 'ab'"), [("CommandLine", "//5hAGIA")], true),
    // numeric
    Case(sel("Port|lt: 1024"), [("Port", 80)], true),
    Case(sel("Port|lt: 1024"), [("Port", 1024)], false),
    Case(sel("Port|lte: 1024"), [("Port", 1024)], true),
    Case(sel("Port|gt: 1024"), [("Port", "8080")], true),
    Case(sel("Port|gte: 1024"), [("Port", .double(1023.5))], false),
    Case(sel("Port|gt: 10"), [("Port", "abc")], false),
    Case(sel("Port: 443"), [("Port", 443)], true),
    Case(sel("Port: 443"), [("Port", "443")], true),
    // time
    Case(sel("UtcTime|hour: 3"), [("UtcTime", "2024-05-06 03:15:00.000")], true),
    Case(sel("UtcTime|hour: 3"), [("UtcTime", "2024-05-06 04:15:00.000")], false),
    Case(sel("UtcTime|minute: 15"), [("UtcTime", "2024-05-06T03:15:00Z")], true),
    Case(sel("UtcTime|day: 6"), [("UtcTime", "2024-05-06T03:15:00Z")], true),
    Case(sel("UtcTime|month: 5"), [("UtcTime", "2024-05-06T03:15:00Z")], true),
    Case(sel("UtcTime|year: 2024"), [("UtcTime", .int(1714965300))], true),
    Case(sel("UtcTime|week: 19"), [("UtcTime", "2024-05-06T03:15:00Z")], true),
    Case(sel("UtcTime|hour|gte: 22"), [("UtcTime", "2024-05-06T23:15:00+00:00")], true),
    // cidr
    Case(sel("DestinationIp|cidr: '10.0.0.0/8'"), [("DestinationIp", "10.20.30.40")], true),
    Case(sel("DestinationIp|cidr: '10.0.0.0/8'"), [("DestinationIp", "11.0.0.1")], false),
    Case(sel("DestinationIp|cidr: '10.0.0.0/8'"), [("DestinationIp", "not an ip")], false),
    Case(sel("DestinationIp|cidr: 'fe80::/10'"), [("DestinationIp", "fe80::1")], true),
    Case(sel("DestinationIp|cidr: 'fe80::/10'"), [("DestinationIp", "2001:db8::1")], false),
    Case(sel("DestinationIp|cidr:\n        - '192.168.0.0/16'\n        - '::1/128'"), [("DestinationIp", "::1")], true),
    // fieldref
    Case(sel("TargetFilename|fieldref: Image"), [("TargetFilename", "/tmp/x"), ("Image", "/TMP/X")], true),
    Case(sel("TargetFilename|fieldref: Image"), [("TargetFilename", "/tmp/x"), ("Image", "/tmp/y")], false),
    Case(sel("TargetFilename|fieldref: Image"), [("TargetFilename", "/tmp/x")], false),
    Case(sel("TargetFilename|fieldref|contains: Image"), [("TargetFilename", "/a/tmp/x.bak"), ("Image", "/tmp/x")], true),
    // arrays: any element
    Case(sel("Args|contains: 'evil'"), [("Args", .array(["a", "EVIL.sh"]))], true),
    Case(sel("Args|contains: 'evil'"), [("Args", .array(["a", "b"]))], false),
    // numbers and booleans as strings
    Case(sel("Flag: true"), [("Flag", true)], true),
    Case(sel("Flag: true"), [("Flag", "True")], true),
    Case(sel("Flag: true"), [("Flag", false)], false),
    // Unicode case folding
    Case(sel("User: 'ÅSA'"), [("User", "åsa")], true),
    Case(sel("User|contains: 'straße'"), [("User", "HAUPTSTRASSE")], false),
    Case(sel("User|contains: 'ÉCOLE'"), [("User", "une école")], true)
]

@Test("value modifiers", arguments: modifierCases)
func modifierCase(_ c: Case) {
    #expect(matches(c.det, c.fields) == c.expect)
}

@Test func expandPlaceholders() {
    let opts = SigmaOptions(placeholders: ["Admins": ["root", "adm_*"]])
    let det = sel("User|expand: '%Admins%'")
    #expect(matches(det, [("User", "root")], options: opts) == true)
    #expect(matches(det, [("User", "adm_bob")], options: opts) == true)
    #expect(matches(det, [("User", "bob")], options: opts) == false)
    // Escaped percent is literal; a placeholder without values rejects the rule.
    let det2 = sel("User|expand: '\\%x%Admins%'")
    #expect(matches(det2, [("User", "%xroot")], options: opts) == true)
    #expect(rejection(sel("User|expand: '%Unknown%'"))?.contains("placeholder") == true)
    // Without expand, percent signs are literal.
    #expect(matches(sel("User: '%Admins%'"), [("User", "%Admins%")], options: opts) == true)
}

@Test(
    "invalid modifiers are rejected with a reason",
    arguments: [
        ("selection:\n    Image|foo: x\ncondition: selection", "unknown modifier"),
        ("selection:\n    Image|re: '(unclosed'\ncondition: selection", "regular expression"),
        ("selection:\n    Image|cidr: '10.0.0.300/8'\ncondition: selection", "CIDR"),
        ("selection:\n    Image|lt: abc\ncondition: selection", "number"),
        ("selection:\n    Image|exists: maybe\ncondition: selection", "boolean"),
        ("selection:\n    Image|base64: 'a*b'\ncondition: selection", "wildcards"),
        ("selection:\n    Image:\n        - ''\n        - null\ncondition: selection", "null"),
        ("selection:\n    Image|i: x\ncondition: selection", "only valid after 're'")
    ])
func invalidModifier(_ det: String, _ reason: String) {
    let r = rejection(det)
    #expect(r != nil)
    #expect(r?.contains(reason) == true, "reason was: \(r ?? "nil")")
}

@Test func windashPermutations() {
    let out = Encoders.windash(Array(" -a -b".utf8)).map { String(decoding: $0, as: UTF8.self) }
    #expect(out.count == 25)
    #expect(out.contains(" /a \u{2014}b"))
    // A dash inside a word is not a flag.
    #expect(Encoders.windash(Array("a-b".utf8)).count == 1)
}

@Test func base64offsetMatchesPySigma() {
    // Values from pySigma's documentation of base64offset for "/bin/sh".
    let out = Encoders.base64offset(Array("/bin/sh".utf8)).map { String(decoding: $0, as: UTF8.self) }
    #expect(out == ["L2Jpbi9za", "9iaW4vc2", "vYmluL3No"])
}

@Test func expandAfterContains() {
    let opts = SigmaOptions(placeholders: ["known_cdcs": ["dc01", "dc02"]])
    let det = sel("Attributes|contains|expand: '%known_cdcs%'")
    #expect(matches(det, [("Attributes", "cdc:DC02.corp")], options: opts) == true)
    #expect(matches(det, [("Attributes", "cdc:dc03")], options: opts) == false)
    #expect(rejection(det)?.contains("known_cdcs") == true)
}
