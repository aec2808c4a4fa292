/// Extracts from a regex a literal byte string that every match must contain, and finds such
/// literals in a subject with one Aho–Corasick pass (ASCII case-folded on both sides, so a
/// case-sensitive pattern is only over-approximated: a candidate, never a miss).
enum RegexLiteral {
    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 { c &- 65 < 26 ? c | 0x20 : c }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c | 0x20 >= 97 && c | 0x20 <= 122)
    }

    /// The longest required literal (lowercased, at least 2 bytes), or nil when none can be
    /// proven (top-level alternation, extended mode, everything inside groups or classes...).
    static func required(_ pattern: String) -> [UInt8]? {
        let b = Array(pattern.utf8)
        let n = b.count
        if pattern.contains("(?x") || pattern.contains("(*") || pattern.contains("\\Q") { return nil }
        // Top-level alternation: nothing is required.
        do {
            var i = 0, depth = 0
            var inClass = false
            while i < n {
                let c = b[i]
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if inClass {
                    if c == UInt8(ascii: "]") { inClass = false }
                } else if c == UInt8(ascii: "[") {
                    inClass = true
                    if i + 1 < n && b[i + 1] == UInt8(ascii: "^") { i += 1 }
                    if i + 1 < n && b[i + 1] == UInt8(ascii: "]") { i += 1 }
                } else if c == UInt8(ascii: "(") {
                    depth += 1
                } else if c == UInt8(ascii: ")") {
                    depth -= 1
                } else if c == UInt8(ascii: "|") && depth == 0 {
                    return nil
                }
                i += 1
            }
            if depth != 0 || inClass { return nil }
        }
        var best: [UInt8] = []
        var cur: [UInt8] = []
        func endRun() {
            if cur.count > best.count { best = cur }
            cur.removeAll(keepingCapacity: true)
        }
        /// Quantifier at i: returns (min repetitions is zero, index after it) or nil if none.
        func quantifier(_ i: Int) -> (optional: Bool, next: Int)? {
            guard i < n else { return nil }
            var j = i
            var optional: Bool
            switch b[i] {
            case UInt8(ascii: "?"), UInt8(ascii: "*"): optional = true; j += 1
            case UInt8(ascii: "+"): optional = false; j += 1
            case UInt8(ascii: "{"):
                var k = i + 1
                var minV = 0
                var digits = 0
                while k < n && b[k] >= 48 && b[k] <= 57 { minV = minV * 10 + Int(b[k] - 48); digits += 1; k += 1 }
                guard digits > 0, k < n else { return nil }
                if b[k] == UInt8(ascii: ",") {
                    k += 1
                    while k < n && b[k] >= 48 && b[k] <= 57 { k += 1 }
                }
                guard k < n && b[k] == UInt8(ascii: "}") else { return nil }
                optional = minV == 0
                j = k + 1
            default: return nil
            }
            if j < n && (b[j] == UInt8(ascii: "?") || b[j] == UInt8(ascii: "+")) { j += 1 }
            return (optional, j)
        }
        func skipGroup(_ start: Int) -> Int {
            var i = start + 1, depth = 1
            var inClass = false
            while i < n && depth > 0 {
                let c = b[i]
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if inClass {
                    if c == UInt8(ascii: "]") { inClass = false }
                } else if c == UInt8(ascii: "[") {
                    inClass = true
                    if i + 1 < n && b[i + 1] == UInt8(ascii: "^") { i += 1 }
                    if i + 1 < n && b[i + 1] == UInt8(ascii: "]") { i += 1 }
                } else if c == UInt8(ascii: "(") {
                    depth += 1
                } else if c == UInt8(ascii: ")") {
                    depth -= 1
                }
                i += 1
            }
            return i
        }
        func skipClass(_ start: Int) -> Int {
            var i = start + 1
            if i < n && b[i] == UInt8(ascii: "^") { i += 1 }
            if i < n && b[i] == UInt8(ascii: "]") { i += 1 }
            while i < n && b[i] != UInt8(ascii: "]") {
                if b[i] == UInt8(ascii: "\\") { i += 1 }
                i += 1
            }
            return i + 1
        }
        var i = 0
        while i < n {
            let c = b[i]
            var literal: UInt8?
            switch c {
            case UInt8(ascii: "\\"):
                guard i + 1 < n else { return nil }
                let e = b[i + 1]
                if isAlnum(e) {
                    // \d \w \s \b \x.. \p{..} \1 ...: not a literal; skip its argument.
                    endRun()
                    i += 2
                    if e == UInt8(ascii: "x") || e == UInt8(ascii: "p") || e == UInt8(ascii: "P") || e == UInt8(ascii: "o")
                        || e == UInt8(ascii: "g") || e == UInt8(ascii: "k") || e == UInt8(ascii: "N") {
                        if i < n && (b[i] == UInt8(ascii: "{") || b[i] == UInt8(ascii: "<") || b[i] == UInt8(ascii: "'")) {
                            while i < n && b[i] != UInt8(ascii: "}") && b[i] != UInt8(ascii: ">") && b[i] != UInt8(ascii: "'") { i += 1 }
                            i += 1
                        } else if e == UInt8(ascii: "x") {
                            var k = 0
                            while i < n && k < 2 && isAlnum(b[i]) { i += 1; k += 1 }
                        } else if e == UInt8(ascii: "p") || e == UInt8(ascii: "P") {
                            i += 1
                        }
                    } else if e == UInt8(ascii: "c") {
                        i += 1
                    } else if e >= 48 && e <= 57 {
                        while i < n && b[i] >= 48 && b[i] <= 57 { i += 1 }
                    }
                    if let q = quantifier(i) { i = q.next }
                    continue
                }
                literal = e
                i += 2
            case UInt8(ascii: "["):
                endRun()
                i = skipClass(i)
                if let q = quantifier(i) { i = q.next }
                continue
            case UInt8(ascii: "("):
                endRun()
                i = skipGroup(i)
                if let q = quantifier(i) { i = q.next }
                continue
            case UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "$"):
                endRun()
                i += 1
                if let q = quantifier(i) { i = q.next }
                continue
            case UInt8(ascii: "?"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ")"), UInt8(ascii: "|"):
                return nil   // malformed for our purposes
            default:
                literal = c
                i += 1
            }
            guard let lit = literal else { continue }
            if let q = quantifier(i) {
                if !q.optional { cur.append(lower(lit)) }
                endRun()
                i = q.next
            } else {
                cur.append(lower(lit))
            }
        }
        endRun()
        return best.count >= 2 ? best : nil
    }
}

/// Aho–Corasick automaton over lowercased literals with a dense transition table on byte
/// classes (only bytes that occur in some literal get their own class).
struct LiteralAutomaton: Sendable {
    private var classOf = [UInt8](repeating: 0, count: 256)
    private var classes = 1
    private var delta: [Int32] = []
    /// Per state: range in `outputs` of the ids ending here, and the nearest suffix state with outputs.
    private var outStart: [Int32] = []
    private var outCount: [Int32] = []
    private var dictLink: [Int32] = []
    private var outputs: [Int32] = []

    var isEmpty: Bool { outputs.isEmpty }

    init(_ literals: [(bytes: [UInt8], id: Int)]) {
        guard !literals.isEmpty else { return }
        var seen = [Bool](repeating: false, count: 256)
        for l in literals { for c in l.bytes { seen[Int(c)] = true } }
        for c in 0..<256 where seen[c] {
            classOf[c] = UInt8(truncatingIfNeeded: classes)
            classes += 1
        }
        // Bytes are case-folded before lookup, so uppercase letters share lowercase classes.
        for c in 65...90 { classOf[c] = classOf[c | 0x20] }
        // Trie.
        var trie: [[Int32]] = [[Int32](repeating: -1, count: classes)]
        var own: [[Int32]] = [[]]
        for l in literals {
            var s = 0
            for c in l.bytes {
                let k = Int(classOf[Int(c)])
                if trie[s][k] < 0 {
                    trie[s][k] = Int32(trie.count)
                    trie.append([Int32](repeating: -1, count: classes))
                    own.append([])
                }
                s = Int(trie[s][k])
            }
            own[s].append(Int32(l.id))
        }
        let states = trie.count
        var fail = [Int32](repeating: 0, count: states)
        delta = [Int32](repeating: 0, count: states * classes)
        dictLink = [Int32](repeating: -1, count: states)
        var queue: [Int] = []
        for k in 0..<classes {
            let t = trie[0][k]
            if t >= 0 {
                delta[k] = t
                fail[Int(t)] = 0
                queue.append(Int(t))
            } else {
                delta[k] = 0
            }
        }
        var head = 0
        while head < queue.count {
            let s = queue[head]
            head += 1
            let f = Int(fail[s])
            dictLink[s] = own[f].isEmpty ? dictLink[f] : Int32(f)
            for k in 0..<classes {
                let t = trie[s][k]
                if t >= 0 {
                    fail[Int(t)] = delta[f * classes + k]
                    delta[s * classes + k] = t
                    queue.append(Int(t))
                } else {
                    delta[s * classes + k] = delta[f * classes + k]
                }
            }
        }
        outStart = [Int32](repeating: 0, count: states)
        outCount = [Int32](repeating: 0, count: states)
        for s in 0..<states {
            outStart[s] = Int32(outputs.count)
            outCount[s] = Int32(own[s].count)
            outputs.append(contentsOf: own[s])
        }
    }

    /// Calls `found` with the id of every literal occurring in `subject` (ids may repeat).
    @inline(__always)
    func scan(_ subject: UnsafeBufferPointer<UInt8>, _ found: (Int) -> Void) {
        guard !outputs.isEmpty else { return }
        var s = 0
        let cls = classes
        for c in subject {
            s = Int(delta[s * cls + Int(classOf[Int(c)])])
            var o = s
            if outCount[o] == 0 { o = Int(dictLink[o]) }
            while o > 0 {
                let st = Int(outStart[o])
                for k in st..<(st + Int(outCount[o])) { found(Int(outputs[k])) }
                o = Int(dictLink[o])
            }
        }
    }

    var memoryBytes: Int { delta.capacity * 4 + outputs.capacity * 4 + outStart.capacity * 12 }
}
