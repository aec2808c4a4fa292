import EDRRegex

/// Extracts from a regex a literal byte string that every match must contain, and finds such
/// literals in a subject (ASCII case-folded on both sides, so a case-sensitive pattern is only
/// over-approximated: a candidate, never a miss).
enum RegexLiteral {
    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 { c &- 65 < 26 ? c | 0x20 : c }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c | 0x20 >= 97 && c | 0x20 <= 122)
    }

    /// The longest required literal (lowercased; even one byte, such as a backslash, filters
    /// well), or nil when none can be
    /// proven (top-level alternation, extended mode, everything inside groups or classes...).
    static func required(_ pattern: String) -> [UInt8]? {
        let b = Array(pattern.utf8)
        let n = b.count
        if pattern.contains("(?x") || pattern.hasPrefix("(*") { return nil }
        // Top-level alternation: nothing is required.
        do {
            var depth = 0, alternation = false
            let walk = RegexScanner.walk(b, from: 0, to: n) { _, c in
                if c == UInt8(ascii: "(") { depth += 1 } else if c == UInt8(ascii: ")") { depth -= 1 }
                alternation = c == UInt8(ascii: "|") && depth == 0
                return !alternation
            }
            if alternation || depth != 0 || walk.inClass { return nil }
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
        /// The index after the `)` that closes the group opened at `start` (n if none does).
        func skipGroup(_ start: Int) -> Int {
            var depth = 1
            let walk = RegexScanner.walk(b, from: start + 1, to: n) { _, c in
                if c == UInt8(ascii: "(") { depth += 1 } else if c == UInt8(ascii: ")") { depth -= 1 }
                return depth > 0
            }
            return depth == 0 ? walk.stop + 1 : n
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
                if e == UInt8(ascii: "Q") { return nil }  // \Q...\E quoting: not worth parsing
                if isAlnum(e) {
                    // \d \w \s \b \x.. \p{..} \1 ...: not a literal; skip its argument.
                    endRun()
                    i += 2
                    if e == UInt8(ascii: "x") || e == UInt8(ascii: "p") || e == UInt8(ascii: "P") || e == UInt8(ascii: "o")
                        || e == UInt8(ascii: "g") || e == UInt8(ascii: "k") || e == UInt8(ascii: "N")
                    {
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
                return nil  // malformed for our purposes
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
        return best.isEmpty ? nil : best
    }
}

/// Finds which of many lowercased literals occur in a subject (ASCII case-folded). Literals of
/// 4+ bytes are indexed by their first 4 bytes in a 65,536-bucket table, so each subject
/// position costs one independent table load (no dependent walk through a large automaton);
/// shorter literals are searched directly.
struct LiteralIndex: Sendable {
    private var heads: [UInt32] = []  // bucket → start in the entry arrays (65,537 entries)
    private var keys: [UInt32] = []  // first 4 bytes, folded
    private var ids: [Int32] = []
    private var offsets: [UInt32] = []  // literal bytes in `arena`
    private var lengths: [UInt16] = []
    private var arena: [UInt8] = []
    /// Literals of 1–3 bytes, (offset in arena, length, id), grouped by first byte.
    private var short: [(UInt32, UInt16, Int32)] = []
    private var shortHeads: [UInt16] = []  // first byte → start in `short` (257 entries)

    var isEmpty: Bool { keys.isEmpty && short.isEmpty }

    @inline(__always)
    static func bucket(_ key: UInt32) -> Int { Int((key &* 0x9E37_79B1) >> 16) }

    init(_ list: [(bytes: [UInt8], id: Int)]) {
        guard !list.isEmpty else { return }
        var long: [(key: UInt32, bytes: [UInt8], id: Int)] = []
        for l in list {
            if l.bytes.count >= 4 {
                let k = UInt32(l.bytes[0]) | UInt32(l.bytes[1]) << 8 | UInt32(l.bytes[2]) << 16 | UInt32(l.bytes[3]) << 24
                long.append((k, l.bytes, l.id))
            } else {
                short.append((UInt32(arena.count), UInt16(l.bytes.count), Int32(l.id)))
                arena.append(contentsOf: l.bytes)
            }
        }
        if !short.isEmpty {
            short.sort { arena[Int($0.0)] < arena[Int($1.0)] }
            shortHeads = [UInt16](repeating: 0, count: 257)
            var k = 0
            for c in 0...256 {
                while k < short.count && Int(arena[Int(short[k].0)]) < c { k += 1 }
                shortHeads[c] = UInt16(k)
            }
        }
        long.sort { LiteralIndex.bucket($0.key) < LiteralIndex.bucket($1.key) }
        heads = [UInt32](repeating: 0, count: 65537)
        var i = 0
        for b in 0...65536 {
            while i < long.count && LiteralIndex.bucket(long[i].key) < b { i += 1 }
            heads[b] = UInt32(i)
        }
        for l in long {
            keys.append(l.key)
            ids.append(Int32(l.id))
            offsets.append(UInt32(arena.count))
            lengths.append(UInt16(min(l.bytes.count, Int(UInt16.max))))
            arena.append(contentsOf: l.bytes.prefix(Int(UInt16.max)))
        }
    }

    /// Calls `found` with the id of every literal occurring in `subject` (ids may repeat).
    func scan(_ subject: UnsafeBufferPointer<UInt8>, _ found: (Int) -> Void) {
        let n = subject.count
        guard n > 0 else { return }
        arena.withUnsafeBufferPointer { a in
            if !keys.isEmpty && n >= 4 {
                heads.withUnsafeBufferPointer { h in
                    keys.withUnsafeBufferPointer { ks in
                        var key =
                            UInt32(RegexLiteral.lower(subject[0])) << 8 | UInt32(RegexLiteral.lower(subject[1])) << 16
                            | UInt32(RegexLiteral.lower(subject[2])) << 24
                        for i in 0...(n - 4) {
                            key = key >> 8 | UInt32(RegexLiteral.lower(subject[i + 3])) << 24
                            let b = LiteralIndex.bucket(key)
                            var j = Int(h[b])
                            let end = Int(h[b + 1])
                            while j < end {
                                if ks[j] == key {
                                    let o = Int(offsets[j]), len = Int(lengths[j])
                                    if i + len <= n {
                                        var k = 4
                                        while k < len && RegexLiteral.lower(subject[i + k]) == a[o + k] { k += 1 }
                                        if k == len { found(Int(ids[j])) }
                                    }
                                }
                                j += 1
                            }
                        }
                    }
                }
            }
            if !short.isEmpty {
                for i in 0..<n {
                    let c = Int(RegexLiteral.lower(subject[i]))
                    var j = Int(shortHeads[c])
                    let end = Int(shortHeads[c + 1])
                    while j < end {
                        let (o, len, id) = short[j]
                        if i + Int(len) <= n {
                            var k = 1
                            while k < Int(len) && RegexLiteral.lower(subject[i + k]) == a[Int(o) + k] { k += 1 }
                            if k == Int(len) { found(Int(id)) }
                        }
                        j += 1
                    }
                }
            }
        }
    }

    var memoryBytes: Int { heads.capacity * 4 + keys.capacity * 4 + ids.capacity * 4 + offsets.capacity * 4 + lengths.capacity * 2 + arena.capacity }
}
