import EDRCore
@testable import EDRSigma
import Testing

/// The literal automaton against a naive search: every (pattern, end offset) it reports, and
/// nothing else, with 16-bit rows (up to 65,535 states) and with 32-bit rows (more states),
/// through dense and sparse states alike.
struct AutomatonTests {
    /// Every (pattern, end) by looking at each end with each pattern length.
    private func naive(_ patterns: [[UInt8]], _ text: [UInt8]) -> Set<[Int]> {
        var byLength: [Int: [[UInt8]: [Int]]] = [:]
        for (p, pat) in patterns.enumerated() where !pat.isEmpty { byLength[pat.count, default: [:]][pat, default: []].append(p) }
        var out = Set<[Int]>()
        for (n, pats) in byLength where n <= text.count {
            for end in n...text.count {
                if let ps = pats[Array(text[(end - n)..<end])] { for p in ps { out.insert([p, end]) } }
            }
        }
        return out
    }

    private func scan(_ ac: AhoCorasick, _ text: [UInt8]) -> Set<[Int]> {
        var out = Set<[Int]>()
        let hits = UnsafeMutablePointer<Int32>.allocate(capacity: ACView.hitCapacity * 2)
        defer { hits.deallocate() }
        text.withUnsafeBufferPointer { t in ac.view.scan(t.baseAddress!, t.count, hits) { p, end in out.insert([Int(p), end]) } }
        return out
    }

    private func check(patterns: [[UInt8]], denseLimit: Int, texts: [[UInt8]]) {
        let ac = AhoCorasick(patterns: patterns, denseLimit: denseLimit)
        for t in texts { #expect(scan(ac, t) == naive(patterns, t), "text \(String(decoding: t, as: UTF8.self))") }
    }

    private func randomBytes(_ rng: inout SplitMix64, _ n: Int, alphabet: [UInt8]) -> [UInt8] {
        (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
    }

    @Test func sixteenBitRowsFindWhatANaiveSearchFinds() {
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("abc\\. -".utf8)
        var pats: [[UInt8]] = (0..<300).map { _ in randomBytes(&rng, 1 + Int(rng.next() % 6), alphabet: alphabet) }
        pats.append(Array("c:\\windows\\".utf8))
        let texts = (0..<200).map { _ in randomBytes(&rng, Int(rng.next() % 60), alphabet: alphabet + [UInt8(ascii: "z")]) }
        let ac = AhoCorasick(patterns: pats, denseLimit: 16)
        #expect(ac.dense16 != nil && ac.stateCount <= 0xFFFF)
        check(patterns: pats, denseLimit: 16, texts: texts)  // mostly sparse states
        check(patterns: pats, denseLimit: 4096, texts: texts)  // all dense
    }

    /// Dense states without outputs are numbered first (the scan's fast path compares a state
    /// with `nQuiet` only); the root stays 0, and the same hits are found as before renumbering.
    @Test func denseStatesWithoutOutputsComeFirst() {
        var rng = SplitMix64(seed: 5)
        let alphabet = Array("abcd\\.".utf8)
        let pats: [[UInt8]] = (0..<400).map { _ in randomBytes(&rng, 1 + Int(rng.next() % 8), alphabet: alphabet) }
        for limit in [16, 64, 100_000] {
            let ac = AhoCorasick(patterns: pats, denseLimit: limit)
            #expect(ac.nQuiet > 0 && ac.nQuiet < ac.nDense, "\(ac.nQuiet) of \(ac.nDense)")
            for st in 0..<ac.stateCount {
                let outputs = ac.outStart[st + 1] > ac.outStart[st]
                let bit = ac.outBits[st >> 6] & (1 << UInt64(st & 63)) != 0
                #expect(outputs == bit)
                if st < ac.nDense { #expect(outputs == (st >= ac.nQuiet), "state \(st)") }
            }
            #expect(ac.outStart[1] == ac.outStart[0], "the root has no outputs")
            let texts = (0..<100).map { _ in randomBytes(&rng, Int(rng.next() % 50), alphabet: alphabet + [UInt8(ascii: "z")]) }
            check(patterns: pats, denseLimit: limit, texts: texts)
        }
    }

    @Test func moreThan65535StatesUseThirtyTwoBitRows() {
        var rng = SplitMix64(seed: 11)
        let alphabet = Array("abcdefghijklmnop".utf8)
        var pats: [[UInt8]] = (0..<2600).map { _ in randomBytes(&rng, 30, alphabet: alphabet) }
        pats += (0..<200).map { _ in randomBytes(&rng, 1 + Int(rng.next() % 3), alphabet: alphabet) }
        let ac = AhoCorasick(patterns: pats, denseLimit: 2048)
        #expect(ac.stateCount > 0xFFFF && ac.dense16 == nil, "\(ac.stateCount) states")
        // Texts that run deep into long patterns, then off them.
        var texts: [[UInt8]] = (0..<40).map { _ in randomBytes(&rng, 80, alphabet: alphabet) }
        for k in 0..<40 {
            let p = pats[k * 50]
            texts.append(randomBytes(&rng, 5, alphabet: alphabet) + p + Array(p.prefix(17)) + randomBytes(&rng, 5, alphabet: alphabet))
        }
        for t in texts { #expect(scan(ac, t) == naive(pats, t)) }
    }

    /// Texts longer than the hits one pass of the scan loop gathers: the automaton's state goes
    /// on from one piece to the next (patterns across the boundaries are found, and nothing
    /// twice), and a piece in which every byte reaches a state with outputs fills the room
    /// exactly. Both row widths.
    @Test func textsLongerThanOnePassOfHitsAreScannedWhole() {
        var rng = SplitMix64(seed: 31)
        let alphabet = Array("abcdefghijklmnop".utf8)
        let cap = ACView.hitCapacity
        var small: [[UInt8]] = [Array("a".utf8), Array("ba".utf8), Array("abcdefgh".utf8)]
        small += (0..<50).map { _ in randomBytes(&rng, 2 + Int(rng.next() % 10), alphabet: alphabet) }
        var big = small
        big += (0..<2600).map { _ in randomBytes(&rng, 30, alphabet: alphabet) }
        for pats in [small, big] {
            let ac = AhoCorasick(patterns: pats, denseLimit: 2048)
            var texts: [[UInt8]] = [[UInt8](repeating: UInt8(ascii: "a"), count: cap * 3 + 5)]
            for k in 0..<8 {
                // A long pattern laid across the first boundary (and the second), at shifting offsets.
                let p = pats[pats.count - 1 - k * 7]
                var t = randomBytes(&rng, cap - p.count / 2 - k, alphabet: alphabet) + p
                t += randomBytes(&rng, cap - p.count / 2 - 1, alphabet: alphabet) + p + randomBytes(&rng, 40, alphabet: alphabet)
                texts.append(t)
            }
            texts.append(randomBytes(&rng, cap * 4 + 17, alphabet: alphabet))
            for t in texts {
                let found = scan(ac, t)
                #expect(found == naive(pats, t), "\(t.count) bytes, \(ac.stateCount) states")
            }
        }
        #expect(AhoCorasick(patterns: big, denseLimit: 2048).dense16 == nil)
        #expect(AhoCorasick(patterns: small, denseLimit: 2048).dense16 != nil)
    }

    /// An anchored trie reports exactly the patterns that are a prefix (forward) or a suffix
    /// (reversed) of the text, at the ends an unanchored scan reports: bytes of the text no
    /// pattern holds, every byte value in use, over a thousand patterns along one path.
    @Test func anchoredTriesFindWhatANaiveSearchFinds() {
        var rng = SplitMix64(seed: 43)
        let alphabet = Array("abcdef\\.:- ".utf8)
        func naive(_ pats: [[UInt8]], _ t: [UInt8], reversed: Bool) -> Set<[Int]> {
            var out = Set<[Int]>()
            for (p, pat) in pats.enumerated() where !pat.isEmpty && pat.count <= t.count {
                if reversed ? Array(t.suffix(pat.count)) == pat : Array(t.prefix(pat.count)) == pat {
                    out.insert([p, reversed ? t.count : pat.count])
                }
            }
            return out
        }
        func walk(_ trie: AnchoredTrie, _ t: [UInt8]) -> Set<[Int]> {
            var out = Set<[Int]>()
            t.withUnsafeBufferPointer { b in
                guard let base = b.baseAddress else { return }
                trie.view.walk(base, b.count, reversed: trie.reversed) { p, end in out.insert([Int(p), end]) }
            }
            return out
        }
        var sets: [[[UInt8]]] = []
        for _ in 0..<6 { sets.append((0..<400).map { _ in randomBytes(&rng, 1 + Int(rng.next() % 12), alphabet: alphabet) }) }
        sets.append((0..<256).map { [UInt8($0), UInt8(255 - $0)] } + [[0], [255, 0, 1]])
        let cap = ACView.hitCapacity
        // Windows-like paths: long runs of states with one edge (walked as chains), some
        // patterns inside others' chains, chains longer than eight bytes.
        let dirs = ["c:\\windows\\system32\\", "c:\\windows\\syswow64\\", "c:\\program files\\", "\\appdata\\local\\temp\\", ""]
        var paths: [[UInt8]] = []
        for _ in 0..<300 {
            let name = randomBytes(&rng, 1 + Int(rng.next() % 14), alphabet: Array("abcdefgh".utf8))
            paths.append(Array(dirs[Int(rng.next() % UInt64(dirs.count))].utf8) + name + Array(".exe".utf8))
        }
        paths += paths.prefix(40).map { Array($0.dropFirst($0.count / 2)) } + paths.prefix(40).map { Array($0.prefix($0.count / 2)) }
        sets.append(paths)
        sets.append((1...(cap + 300)).map { [UInt8](repeating: UInt8(ascii: "a"), count: $0) })
        for (si, pats) in sets.enumerated() {
            var texts: [[UInt8]] = (0..<60).map { _ in randomBytes(&rng, Int(rng.next() % 20), alphabet: alphabet + [UInt8(ascii: "z")]) }
            for k in 0..<60 {
                let p = pats[Int(rng.next() % UInt64(pats.count))]
                let noise = randomBytes(&rng, Int(rng.next() % 6), alphabet: alphabet + [0, 255])
                texts.append(k % 2 == 0 ? p + noise : noise + p)
                // Texts that end inside a pattern (a chain) or leave it at one byte, from either end.
                let cut = Int(rng.next() % UInt64(p.count + 1))
                texts.append(Array(p.prefix(cut))); texts.append(Array(p.suffix(cut)))
                if !p.isEmpty {
                    var m = p
                    let at = Int(rng.next() % UInt64(p.count))
                    m[at] = m[at] == UInt8(ascii: "z") ? UInt8(ascii: "y") : UInt8(ascii: "z")
                    texts.append(m); texts.append(noise + m); texts.append(m + noise)
                }
            }
            if si == sets.count - 1 { texts.append([UInt8](repeating: UInt8(ascii: "a"), count: cap + 350)) }
            for reversed in [false, true] {
                let trie = AnchoredTrie(patterns: pats, reversed: reversed)
                for t in texts {
                    #expect(walk(trie, t) == naive(pats, t, reversed: reversed), "set \(si), reversed \(reversed), \(t.count) bytes")
                }
            }
        }
    }

    private func scan(_ sk: SkipScanner, _ text: [UInt8]) -> Set<[Int]> {
        var out = Set<[Int]>()
        text.withUnsafeBufferPointer { t in
            guard let base = t.baseAddress else { return }
            sk.view.pointee.scan(base, t.count) { p, end in out.insert([Int(p), end]) }
        }
        return out
    }

    /// The skipping scan reports every occurrence of a long pattern the naive search finds,
    /// and nothing else, and of each short pattern (under four bytes) that occurs one real
    /// occurrence: patterns over a small alphabet (so windows pass the shift table often and
    /// patterns overlap), texts that hold them at every offset, a pattern longer than the
    /// 255-byte window, texts shorter than the shortest pattern.
    @Test func skippingScansFindWhatANaiveSearchFinds() throws {
        var rng = SplitMix64(seed: 23)
        let alphabet = Array("abcd\\.:- ".utf8)
        for round in 0..<40 {
            let shortest = 4 + round % 6
            var pats: [[UInt8]] = (0..<(1 + round * 7)).map { _ in randomBytes(&rng, shortest + Int(rng.next() % 8), alphabet: alphabet) }
            pats.append(randomBytes(&rng, shortest, alphabet: alphabet))
            if round == 29 { pats.append(randomBytes(&rng, 300, alphabet: alphabet)) }
            // Up to four short patterns beside them in most rounds (one made of a byte the
            // texts lack), none in the others.
            for k in 0..<(round % 5) { pats.append(k == 3 ? [UInt8(ascii: "z")] : randomBytes(&rng, 1 + k % 3, alphabet: alphabet)) }
            let sk = try #require(SkipScanner(patterns: pats, maximumShort: 4))
            var texts: [[UInt8]] = (0..<40).map { _ in randomBytes(&rng, Int(rng.next() % 90), alphabet: alphabet) }
            for k in 0..<20 {
                let p = pats[k % pats.count]
                texts.append(randomBytes(&rng, k, alphabet: alphabet) + p + randomBytes(&rng, Int(rng.next() % 5), alphabet: alphabet) + p)
            }
            texts.append(Array(pats[0].prefix(3)))
            texts.append([])
            for t in texts {
                let found = scan(sk, t), expected = naive(pats, t)
                let isLong = { (h: [Int]) in pats[h[0]].count >= SkipScanner.minimumLength }
                let text = String(decoding: t, as: UTF8.self)
                #expect(found.filter(isLong) == expected.filter(isLong), "round \(round): \(text)")
                #expect(Set(found.filter { !isLong($0) }.map { $0[0] }) == Set(expected.filter { !isLong($0) }.map { $0[0] }), "round \(round): \(text)")
                #expect(found.isSubset(of: expected), "round \(round): \(text)")
            }
        }
        #expect(SkipScanner(patterns: [Array("abcd".utf8)] + (0..<5).map { [UInt8(97 + $0)] }, maximumShort: 4) == nil, "five short patterns")
        #expect(SkipScanner(patterns: [Array("abcd".utf8), Array("ab".utf8)], maximumShort: 0) == nil, "a short pattern on a field")
        #expect(SkipScanner(patterns: [Array("abc".utf8)], maximumShort: 4) == nil, "no long pattern")
    }
}
