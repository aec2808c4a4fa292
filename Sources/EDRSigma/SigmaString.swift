/// A Sigma string value: literal byte runs and wildcards, after the spec's escaping rules.
enum SPart: Hashable, Sendable {
    case lit([UInt8])
    case star
    case one
}

struct SigmaString: Hashable, Sendable {
    var parts: [SPart]

    init(parts: [SPart]) { self.parts = SigmaString.normalize(parts) }

    init(plain bytes: [UInt8]) { self.parts = bytes.isEmpty ? [] : [.lit(bytes)] }

    /// Parses a rule value with the spec's (and pySigma's) escaping: `\*`, `\?`, `\\` escape; a
    /// backslash before anything else is kept as is; `*` and `?` are wildcards.
    init(parsing s: String) {
        var parts: [SPart] = []
        var acc: [UInt8] = []
        var escaped = false
        for b in s.utf8 {
            if escaped {
                if b == UInt8(ascii: "*") || b == UInt8(ascii: "?") || b == UInt8(ascii: "\\") {
                    acc.append(b)
                } else {
                    acc.append(UInt8(ascii: "\\")); acc.append(b)
                }
                escaped = false
            } else if b == UInt8(ascii: "\\") {
                escaped = true
            } else if b == UInt8(ascii: "*") || b == UInt8(ascii: "?") {
                if !acc.isEmpty { parts.append(.lit(acc)); acc = [] }
                parts.append(b == UInt8(ascii: "*") ? .star : .one)
            } else {
                acc.append(b)
            }
        }
        if escaped { acc.append(UInt8(ascii: "\\")) }
        if !acc.isEmpty { parts.append(.lit(acc)) }
        self.parts = SigmaString.normalize(parts)
    }

    static func normalize(_ parts: [SPart]) -> [SPart] {
        var out: [SPart] = []
        for p in parts {
            switch (out.last, p) {
            case (.lit(let a)?, .lit(let b)):
                out[out.count - 1] = .lit(a + b)
            case (.star?, .star):
                continue
            case (_, .lit(let b)) where b.isEmpty:
                continue
            default:
                out.append(p)
            }
        }
        return out
    }

    var hasWildcards: Bool {
        parts.contains {
            if case .lit = $0 { return false }; return true
        }
    }

    /// Plain bytes when the value has no wildcards.
    var plainBytes: [UInt8]? {
        if hasWildcards { return nil }
        if case .lit(let b)? = parts.first { return b }
        return []
    }

    func prefixedStar() -> SigmaString {
        if case .star? = parts.first { return self }
        return SigmaString(parts: [.star] + parts)
    }
    func suffixedStar() -> SigmaString {
        if case .star? = parts.last { return self }
        return SigmaString(parts: parts + [.star])
    }

    /// Maps each literal run, producing alternatives (cartesian product over runs).
    func expandLiterals(_ f: ([UInt8]) -> [[UInt8]]) -> [SigmaString] {
        var results: [[SPart]] = [[]]
        for p in parts {
            if case .lit(let b) = p {
                let alts = f(b)
                var next: [[SPart]] = []
                next.reserveCapacity(results.count * alts.count)
                for r in results { for a in alts { next.append(r + [.lit(a)]) } }
                results = next
            } else {
                results = results.map { $0 + [p] }
            }
            if results.count > 4096 { break }
        }
        return results.map { SigmaString(parts: $0) }
    }
}

enum Encoders {
    static let dashes: [[UInt8]] = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"].map { Array($0.utf8) }

    static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b >= 0x80
    }

    /// windash: every dash-like character that starts a flag (preceded by a non-word character or the
    /// start, followed by a word character — pySigma's `\B[-/]\b`) takes each of the five forms.
    static func windash(_ bytes: [UInt8]) -> [[UInt8]] {
        // Tokenize into units: either a dash (any of the five) at a flag position, or other bytes.
        var segments: [[UInt8]] = [[]]  // segments between replaceable dashes
        var i = 0
        var prevWord = false
        var prevWasStart = true
        while i < bytes.count {
            var matched: [UInt8]? = nil
            for d in dashes where bytes.count - i >= d.count && Array(bytes[i..<i + d.count]) == d {
                matched = d; break
            }
            if let d = matched {
                let nextIdx = i + d.count
                let nextWord = nextIdx < bytes.count && isWordByte(bytes[nextIdx])
                let boundaryBefore = !prevWord  // \B before a non-word char: previous is non-word or start
                _ = prevWasStart
                if boundaryBefore && nextWord {
                    segments.append([])
                    i = nextIdx
                    prevWord = false
                    prevWasStart = false
                    continue
                }
                segments[segments.count - 1].append(contentsOf: d)
                i = nextIdx
                prevWord = false
            } else {
                segments[segments.count - 1].append(bytes[i])
                prevWord = isWordByte(bytes[i])
                i += 1
            }
            prevWasStart = false
        }
        var results: [[UInt8]] = [segments[0]]
        for seg in segments.dropFirst() {
            var next: [[UInt8]] = []
            for r in results { for d in dashes { next.append(r + d + seg) } }
            results = next
            if results.count > 4096 { break }
        }
        return results
    }

    static let b64chars = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func base64(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((data.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= data.count {
            let n = (UInt32(data[i]) << 16) | (UInt32(data[i + 1]) << 8) | UInt32(data[i + 2])
            out.append(b64chars[Int((n >> 18) & 63)]); out.append(b64chars[Int((n >> 12) & 63)])
            out.append(b64chars[Int((n >> 6) & 63)]); out.append(b64chars[Int(n & 63)])
            i += 3
        }
        let rem = data.count - i
        if rem == 1 {
            let n = UInt32(data[i]) << 16
            out.append(b64chars[Int((n >> 18) & 63)]); out.append(b64chars[Int((n >> 12) & 63)])
            out.append(UInt8(ascii: "=")); out.append(UInt8(ascii: "="))
        } else if rem == 2 {
            let n = (UInt32(data[i]) << 16) | (UInt32(data[i + 1]) << 8)
            out.append(b64chars[Int((n >> 18) & 63)]); out.append(b64chars[Int((n >> 12) & 63)])
            out.append(b64chars[Int((n >> 6) & 63)]); out.append(UInt8(ascii: "="))
        }
        return out
    }

    /// pySigma's base64offset: the three shifted encodings with unstable edge characters cut.
    static func base64offset(_ data: [UInt8]) -> [[UInt8]] {
        let starts = [0, 2, 3]
        let ends: [Int?] = [nil, -3, -2]
        var out: [[UInt8]] = []
        for i in 0..<3 {
            let enc = base64(Array(repeating: UInt8(ascii: " "), count: i) + data)
            let s = starts[i]
            var e = enc.count
            if let off = ends[(data.count + i) % 3] { e = enc.count + off }
            if s < e { out.append(Array(enc[s..<e])) } else { out.append([]) }
        }
        return out
    }

    static func utf16(_ bytes: [UInt8], littleEndian: Bool, bom: Bool) -> [UInt8] {
        let s = String(decoding: bytes, as: UTF8.self)
        var out: [UInt8] = bom ? (littleEndian ? [0xFF, 0xFE] : [0xFE, 0xFF]) : []
        for u in s.utf16 {
            if littleEndian { out.append(UInt8(u & 0xFF)); out.append(UInt8(u >> 8)) } else { out.append(UInt8(u >> 8)); out.append(UInt8(u & 0xFF)) }
        }
        return out
    }
}

/// Case folding used for both rule literals and event values: ASCII bytewise, Unicode via
/// `String.lowercased()` when the bytes are valid non-ASCII UTF-8.
enum Fold {
    /// The bytes of folded command lines and paths, most frequent first (for the automata's
    /// byte classes and the skipping scan's choice of a short literal's rarest byte).
    static let commonBytes = Array(" etaoinsrhldcumfpgwybvkxjqz0123456789\\/.-_:=\"',;&|$%()[]{}<>@#~+*?!^`".utf8)

    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { (b &- 0x41) < 26 ? b | 0x20 : b }

    /// `lower` on each byte of a word whose bytes are all ASCII (below 0x80): a byte's high bit
    /// after adding 0x3F says it is ≥ 'A', after adding 0x25 that it is > 'Z' (no carry
    /// crosses bytes below 0x80), and 0x80 >> 2 is the 0x20 that lowercases.
    @inline(__always) static func lower8(_ w: UInt64) -> UInt64 {
        let high: UInt64 = 0x8080_8080_8080_8080
        let atLeastA = w &+ 0x3F3F_3F3F_3F3F_3F3F
        let pastZ = w &+ 0x2525_2525_2525_2525
        return w | ((atLeastA & ~pastZ & high) >> 2)
    }

    static func fold(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.allSatisfy({ $0 < 0x80 }) { return bytes.map(lower) }
        guard String(validating: bytes, as: UTF8.self) != nil else { return bytes.map(lower) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        bytes.withUnsafeBufferPointer { foldUTF8($0) { out.append($0) } }
        return out
    }

    /// Lowercases valid UTF-8 scalar by scalar (Unicode simple+special lowercase mappings,
    /// no context-dependent rules), ASCII inline. Used for rule literals and event values alike.
    /// Two-byte sequences (Latin-1 to Arabic: the ® and é of Windows product names and paths)
    /// take their mapping from `twoByte`; longer ones ask the Unicode tables.
    @inline(__always)
    static func foldUTF8(_ u: UnsafeBufferPointer<UInt8>, _ emit: (UInt8) -> Void) {
        let table = twoByte
        var i = 0
        let n = u.count
        while i < n {
            let b = u[i]
            if b < 0x80 { emit(lower(b)); i += 1; continue }
            i += foldNonASCII(u, i, table, emit)
        }
    }

    /// The sequence at `i`, whose lead byte is not ASCII, folded as `foldUTF8` folds it: a
    /// byte that starts no sequence (or one cut off at the end) as it is, two-byte sequences
    /// from `table` (`twoByte`), longer ones through the Unicode tables. Returns the bytes read.
    @inline(__always)
    static func foldNonASCII(_ u: UnsafeBufferPointer<UInt8>, _ i: Int, _ table: UnsafePointer<UInt32>, _ emit: (UInt8) -> Void) -> Int {
        let b = u[i]
        let len = b >= 0xF0 ? 4 : (b >= 0xE0 ? 3 : (b >= 0xC0 ? 2 : 1))
        if len == 1 || i + len > u.count { emit(b); return 1 }
        if len == 2 {
            let c = u[i + 1]
            var e = table[Int(UInt32(b & 0x1F) << 6 | UInt32(c & 0x3F))]
            if e == 0 {
                emit(b); emit(c)
            } else {
                for _ in 0..<Int(e >> 24) { emit(UInt8(truncatingIfNeeded: e)); e >>= 8 }
            }
            return 2
        }
        return foldScalar(u, i, len, emit)
    }

    /// One scalar of `len` bytes at `i` through the Unicode tables (what `twoByte` holds for
    /// two-byte ones). Returns `len`.
    static func foldScalar(_ u: UnsafeBufferPointer<UInt8>, _ i: Int, _ len: Int, _ emit: (UInt8) -> Void) -> Int {
        var v = UInt32(u[i]) & (len == 2 ? 0x1F : (len == 3 ? 0x0F : 0x07))
        for k in 1..<len { v = (v << 6) | (UInt32(u[i + k]) & 0x3F) }
        if let sc = Unicode.Scalar(v), sc.properties.changesWhenLowercased {
            for x in sc.properties.lowercaseMapping.utf8 { emit(x) }
        } else {
            for k in 0..<len { emit(u[i + k]) }
        }
        return len
    }

    /// Per value of a two-byte sequence (its 11 payload bits, overlong forms included, as
    /// `foldScalar` decodes them): 0 when lowercasing leaves it alone, else the mapping's UTF-8
    /// bytes from the low byte up and their count in the top byte (at most three in this range).
    /// Written once, by the lazy initializer, before anyone reads it.
    nonisolated(unsafe) static let twoByte: UnsafePointer<UInt32> = {
        let t = UnsafeMutablePointer<UInt32>.allocate(capacity: 0x800)
        for v in 0..<UInt32(0x800) {
            t[Int(v)] = 0
            guard let sc = Unicode.Scalar(v), sc.properties.changesWhenLowercased else { continue }
            let m = Array(sc.properties.lowercaseMapping.utf8)
            precondition(m.count <= 3, "lowercase mapping of U+\(String(v, radix: 16)) longer than three bytes")
            var e = UInt32(m.count) << 24
            for (k, x) in m.enumerated() { e |= UInt32(x) << (8 * UInt32(k)) }
            t[Int(v)] = e
        }
        return UnsafePointer(t)
    }()
}
