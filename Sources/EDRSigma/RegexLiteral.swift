/// A literal every match of a regular expression contains, found without running it: the
/// longest run of plain characters in the pattern's sequence (and in the groups it must match). The engine turns it
/// into a `contains` test on the folded field (a gate): the regex runs only when the gate
/// holds, and the gate makes the rule a candidate through the field's automaton instead of
/// evaluating it for every event.
///
/// Sound or nothing: any construct it does not understand (an alternation, `\Q`,
/// extended mode, a backslash before a letter it does not know) gives no literal, and the rule
/// is evaluated for every event as before. The literal is folded like event values (per scalar
/// lowercase): a raw value holding the literal holds it folded too. Under case-insensitive
/// matching (the `i` sub-modifier or an inline `(?i)`) PCRE2 in UTF mode also matches `s` and
/// `k` against U+017F and U+212A, so there only ASCII characters other than those two count.
enum RegexLiteral {
    /// The required literal of `pattern` (folded), or nil when none of at least `minLength` bytes is certain.
    static func required(_ pattern: String, caseless flagCaseless: Bool, minLength: Int = 3) -> [UInt8]? {
        let p = Array(pattern.utf8)
        var caseless = flagCaseless
        // Inline options anywhere: `i` anywhere makes the whole extraction caseless, `x`/`xx`
        // (whitespace and comments ignored) gives up.
        var k = 0
        while k + 1 < p.count {
            if p[k] == UInt8(ascii: "\\") { k += 2; continue }
            if p[k] == UInt8(ascii: "("), p[k + 1] == UInt8(ascii: "?") {
                var j = k + 2
                while j < p.count, isOptionLetter(p[j]) {
                    if p[j] == UInt8(ascii: "x") { return nil }
                    if p[j] == UInt8(ascii: "i") { caseless = true }
                    j += 1
                }
            }
            k += 1
        }

        guard let runs = literalRuns(p, 0, p.count, caseless: caseless) else { return nil }
        // The longest run; of runs as long, the one of rarer bytes (`&&` rather than `et`).
        guard let best = runs.max(by: { ($0.count, rarity($0)) < ($1.count, rarity($1)) }), best.count >= minLength else { return nil }
        return best
    }

    /// How rare a run's bytes are in folded command lines and paths (`Fold.commonBytes` ranks).
    private static func rarity(_ run: [UInt8]) -> Int {
        run.reduce(0) { $0 + (Fold.commonBytes.firstIndex(of: $1) ?? Fold.commonBytes.count) }
    }

    /// The literal runs of `p[start..<end]`'s sequence, or nil when it is an alternation or not understood.
    private static func literalRuns(_ p: [UInt8], _ start: Int, _ end: Int, caseless: Bool, depth: Int = 0) -> [[UInt8]]? {
        var runs: [[UInt8]] = []
        var run: [UInt8] = []
        func flush() {
            if !run.isEmpty { runs.append(run) }
            run = []
        }
        func append(_ bytes: [UInt8]) {
            let ok =
                caseless
                ? bytes.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "s") && $0 != UInt8(ascii: "S") && $0 != UInt8(ascii: "k") && $0 != UInt8(ascii: "K") }
                : true
            if !ok { flush(); return }
            run.append(contentsOf: bytes)
        }
        func appendQuantified(_ ch: [UInt8], _ q: (min: Int, next: Int, present: Bool)) {
            if !q.present { append(ch); return }
            if q.min >= 1 { append(ch) }
            flush()  // repeated or optional: the run cannot go on past it
        }
        var i = start
        while i < end {
            let b = p[i]
            switch b {
            case UInt8(ascii: "|"):
                return nil  // top-level alternation: no literal is common to every branch
            case UInt8(ascii: "("):
                guard let close = skipGroup(p, i), close <= end else { return nil }
                flush()
                let q = skipQuantifier(p, close, end)
                // A plain or non-capturing group that must occur: its own runs count (none if
                // it holds an alternation). Lookarounds, option groups and the like: skipped.
                let plain = i + 1 < end && p[i + 1] != UInt8(ascii: "?")
                let nonCapturing = i + 2 < end && p[i + 1] == UInt8(ascii: "?") && p[i + 2] == UInt8(ascii: ":")
                if (plain || nonCapturing) && (!q.present || q.min >= 1), depth < 16,
                    let inner = literalRuns(p, i + (plain ? 1 : 3), close - 1, caseless: caseless, depth: depth + 1)
                {
                    runs.append(contentsOf: inner)
                }
                i = q.next
                continue
            case UInt8(ascii: "["):
                guard let close = skipClass(p, i), close <= end else { return nil }
                flush(); i = close
                i = skipQuantifier(p, i, end).next
                continue
            case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"):
                // Unbalanced or a literal brace PCRE2 may read either way: stop trusting the run.
                if b == UInt8(ascii: ")") { return nil }
                flush(); i += 1
                continue
            case UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "$"):
                flush(); i += 1
                i = skipQuantifier(p, i, end).next
                continue
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"):
                return nil  // a quantifier with nothing before it
            case UInt8(ascii: "\\"):
                guard i + 1 < end, p[i + 1] < 0x80 else { return nil }
                let e = p[i + 1]
                var lit: UInt8? = nil
                switch e {
                case UInt8(ascii: "n"): lit = 0x0A
                case UInt8(ascii: "t"): lit = 0x09
                case UInt8(ascii: "r"): lit = 0x0D
                case UInt8(ascii: "Q"), UInt8(ascii: "E"), UInt8(ascii: "g"), UInt8(ascii: "k"), UInt8(ascii: "c"): return nil
                case UInt8(ascii: "0")...UInt8(ascii: "9"): return nil  // back references and octal codes
                default:
                    if !isAlnum(e) { lit = e }  // an escaped punctuation character stands for itself
                }
                i += 2
                if lit == nil, e == UInt8(ascii: "x") {
                    // \xhh or \x{h..}: the digits are the escape's, not literal characters.
                    if i < end, p[i] != UInt8(ascii: "{") {
                        var n = 0
                        while n < 2, i < end, isHex(p[i]) { i += 1; n += 1 }
                    }
                } else if lit == nil, e == UInt8(ascii: "p") || e == UInt8(ascii: "P"), i < end, p[i] != UInt8(ascii: "{") {
                    i += 1  // \pL: a one-letter property name
                }
                if let lit {
                    let q = skipQuantifier(p, i, end)
                    appendQuantified([Fold.lower(lit)], q)
                    i = q.next
                } else {
                    // \d \s \w \b \x.. \p{..} and the like: not a literal; skip their argument braces.
                    if i < end, p[i] == UInt8(ascii: "{"), let close = p[i..<end].firstIndex(of: UInt8(ascii: "}")) { i = close + 1 }
                    flush()
                    i = skipQuantifier(p, i, end).next
                }
                continue
            default:
                // One UTF-8 encoded character.
                let len = b < 0x80 ? 1 : (b >= 0xF0 ? 4 : (b >= 0xE0 ? 3 : 2))
                guard i + len <= end else { return nil }
                let ch = Array(p[i..<(i + len)])
                i += len
                let q = skipQuantifier(p, i, end)
                appendQuantified(Fold.fold(ch), q)
                i = q.next
                continue
            }
        }
        flush()
        return runs
    }

    private static func isAlnum(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A)
    }

    private static func isHex(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x66)
    }

    private static func isOptionLetter(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "i") || b == UInt8(ascii: "m") || b == UInt8(ascii: "s") || b == UInt8(ascii: "x") || b == UInt8(ascii: "n")
            || b == UInt8(ascii: "U") || b == UInt8(ascii: "J") || b == UInt8(ascii: "-") || b == UInt8(ascii: "^")
    }

    /// A quantifier at `i`: its minimum count and the index after it (with a lazy `?` or possessive `+`).
    private static func skipQuantifier(_ p: [UInt8], _ i: Int, _ end: Int) -> (min: Int, next: Int, present: Bool) {
        guard i < end else { return (1, i, false) }
        var min = 1, j = i
        switch p[i] {
        case UInt8(ascii: "*"): min = 0; j += 1
        case UInt8(ascii: "?"): min = 0; j += 1
        case UInt8(ascii: "+"): min = 1; j += 1
        case UInt8(ascii: "{"):
            // {n}, {n,}, {n,m}, {,m}: anything else is a literal brace to PCRE2; treated as "optional".
            var k = i + 1, n = 0, digits = 0
            while k < end, p[k] >= 0x30, p[k] <= 0x39 { n = n * 10 + Int(p[k] - 0x30); k += 1; digits += 1; if n > 100_000 { break } }
            guard let close = p[i..<end].firstIndex(of: UInt8(ascii: "}")) else { return (0, i, true) }
            min = digits == 0 ? 0 : n
            j = close + 1
        default: return (1, i, false)
        }
        if j < end, p[j] == UInt8(ascii: "?") || p[j] == UInt8(ascii: "+") { j += 1 }
        return (min, j, true)
    }

    /// The index after the group opening at `i` (balanced, escapes and classes inside skipped).
    private static func skipGroup(_ p: [UInt8], _ i: Int) -> Int? {
        var depth = 0, k = i
        while k < p.count {
            switch p[k] {
            case UInt8(ascii: "\\"): k += 2; continue
            case UInt8(ascii: "["):
                guard let e = skipClass(p, k) else { return nil }
                k = e; continue
            case UInt8(ascii: "("): depth += 1
            case UInt8(ascii: ")"):
                depth -= 1
                if depth == 0 { return k + 1 }
            default: break
            }
            k += 1
        }
        return nil
    }

    /// The index after the character class opening at `i` (`]` first is a literal; `[:alpha:]` inside).
    private static func skipClass(_ p: [UInt8], _ i: Int) -> Int? {
        var k = i + 1
        if k < p.count, p[k] == UInt8(ascii: "^") { k += 1 }
        if k < p.count, p[k] == UInt8(ascii: "]") { k += 1 }
        while k < p.count {
            switch p[k] {
            case UInt8(ascii: "\\"): k += 2; continue
            case UInt8(ascii: "["):
                if k + 1 < p.count, p[k + 1] == UInt8(ascii: ":"),
                    let e = p[(k + 2)...].firstIndex(of: UInt8(ascii: "]"))
                {
                    k = e + 1; continue
                }
            case UInt8(ascii: "]"): return k + 1
            default: break
            }
            k += 1
        }
        return nil
    }
}
