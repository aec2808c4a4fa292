import Testing
import EDRRegex

/// The structural bytes of a regex: what lies inside an escape or a character class is never
/// a separator or a group boundary.
@Suite("Regex scanner")
struct RegexScannerTests {
    /// The bytes `walk` shows, as a string.
    func visible(_ pattern: String) -> (String, Bool) {
        let b = Array(pattern.utf8)
        var seen: [UInt8] = []
        let r = RegexScanner.walk(b, from: 0, to: b.count) { _, c in
            seen.append(c); return true
        }
        return (String(decoding: seen, as: UTF8.self), r.inClass)
    }

    @Test func escapesAndClassesAreSteppedOverWhole() {
        #expect(visible(#"a\;b[;|)]c"#) == ("abc", false))
        #expect(visible(#"[]|;]x"#) == ("x", false), "] right after [ is literal")
        #expect(visible(#"[^]);]x"#) == ("x", false), "] right after [^ is literal")
        #expect(visible(#"[a\]|]y"#) == ("y", false), "an escaped ] does not close the class")
        #expect(visible(#"(a|b);c"#) == ("(a|b);c", false))
        #expect(visible(#"x[abc"#) == ("x", true), "an unterminated class is reported")
        #expect(visible(#"x\"#) == ("x", false), "a trailing backslash steps past the end, not beyond it")
    }

    @Test func theWalkStopsWhereTheVisitorRefuses() {
        let b = Array(#"^/tmp/[;]x;label;exclude"#.utf8)
        let r = RegexScanner.walk(b, from: 0, to: b.count) { _, c in c != UInt8(ascii: ";") }
        #expect(r.stop == 10 && b[r.stop] == UInt8(ascii: ";"))
        let tail = RegexScanner.walk(b, from: r.stop + 1, to: b.count) { _, c in c != UInt8(ascii: ";") }
        #expect(String(decoding: b[(r.stop + 1)..<tail.stop], as: UTF8.self) == "label")
    }
}
