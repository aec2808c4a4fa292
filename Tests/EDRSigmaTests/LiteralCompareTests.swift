@testable import EDRSigma
import Testing

/// The in-place literal comparison (`ScalarEval.lit` / `sameBytes`: words of eight with an
/// overlapping last one, two overlapping words of four, first/middle/last byte below four)
/// against a naive search, at every length around those steps and with a differing byte at
/// every position of the pattern and of the value.
struct LiteralCompareTests {
    private func naive(_ mode: LitMode, _ p: [UInt8], _ s: [UInt8]) -> Bool {
        switch mode {
        case .exact: return p == s
        case .prefix: return s.starts(with: p)
        case .suffix: return s.count >= p.count && Array(s.suffix(p.count)) == p
        case .contains:
            if p.isEmpty { return true }
            if p.count > s.count { return false }
            return (0...(s.count - p.count)).contains { Array(s[$0..<($0 + p.count)]) == p }
        }
    }

    @Test func literalsMatchWhereANaiveSearchDoes() {
        var checked = 0, hits = 0
        for n in 0...19 {
            let pattern = (0..<n).map { UInt8(ascii: "a") + UInt8($0 % 7) }
            for extra in [0, 1, 3, 8, 13] {
                // The pattern placed at the start, the end and (with extra bytes) the middle of a
                // value, then one byte changed at every position of the value.
                let fill = (0..<extra).map { _ in UInt8(ascii: "z") }
                for value in [pattern + fill, fill + pattern, Array(fill.prefix(extra / 2)) + pattern + Array(fill.dropFirst(extra / 2))] {
                    var variants = [value]
                    for i in value.indices {
                        var v = value
                        v[i] ^= 0x20
                        variants.append(v)
                    }
                    for v in variants {
                        for mode in [LitMode.exact, .prefix, .suffix, .contains] {
                            let got = v.withUnsafeBufferPointer { ScalarEval.lit(mode, pattern, $0) }
                            #expect(got == naive(mode, pattern, v), "\(mode) \(pattern) in \(v)")
                            checked += 1
                            if got { hits += 1 }
                        }
                    }
                }
            }
        }
        #expect(checked > 10_000 && hits > 1_000)
    }
}

/// The glob (`*`, `?` taking one UTF-8 scalar, literal runs) against a recursive matcher over
/// scalars, for patterns and values drawn from a small alphabet with two- and three-byte
/// scalars, so stars have many places to stop and literals many false starts.
struct GlobTests {
    private func reference(_ toks: ArraySlice<GlobTok>, _ s: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let t = toks.first else { return s.isEmpty }
        switch t {
        case .star:
            return (0...s.count).contains { reference(toks.dropFirst(), s.dropFirst($0)) }
        case .one:
            return !s.isEmpty && reference(toks.dropFirst(), s.dropFirst())
        case .lit(let b):
            let scalars = Array(String(decoding: b, as: UTF8.self).unicodeScalars)
            return s.starts(with: scalars) && reference(toks.dropFirst(), s.dropFirst(scalars.count))
        }
    }

    @Test func globsMatchWhereARecursiveMatcherDoes() {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [String] = ["a", "b", "/", "é", "€"]
        var checked = 0, hits = 0
        for _ in 0..<4000 {
            var toks: [GlobTok] = []
            for _ in 0..<Int.random(in: 1...5, using: &rng) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: toks.append(.star)
                case 1: toks.append(.one)
                default:
                    let lit = (0..<Int.random(in: 1...3, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
                    // Adjacent literals are one run in compiled patterns.
                    if case .lit(let prev)? = toks.last { toks[toks.count - 1] = .lit(prev + Array(lit.utf8)) } else { toks.append(.lit(Array(lit.utf8))) }
                }
            }
            let value = (0..<Int.random(in: 0...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
            let got = Array(value.utf8).withUnsafeBufferPointer { ScalarEval.glob(toks, $0) }
            let want = reference(toks[...], Array(value.unicodeScalars)[...])
            #expect(got == want, "\(toks) on \(value)")
            checked += 1
            if got { hits += 1 }
        }
        #expect(checked == 4000 && hits > 100)
    }
}
