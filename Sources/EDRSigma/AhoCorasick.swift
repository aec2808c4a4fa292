/// A byte-level Aho–Corasick automaton over byte classes. Shallow states (the first
/// `denseLimit` in breadth-first order, `denseBytes` of rows by default) have full DFA rows; deeper states keep only their
/// trie edges and a failure link, which keeps large pattern sets small in memory.
/// Patterns are given already case-folded; `scan` reports (pattern, end offset) for every hit.
final class AhoCorasick: @unchecked Sendable {
    let nClasses: Int
    let stateCount: Int
    let nDense: Int
    /// Dense states are numbered without outputs first: a transition to a state below this
    /// number needs no check of the output bitmap.
    let nQuiet: Int
    let classOf: UnsafeMutablePointer<UInt8>  // 256
    let dense: UnsafeMutablePointer<Int32>  // nDense * nClasses (a single unused entry when `dense16` is set)
    /// `dense` without the output flag, when every state number fits in 16 bits.
    let dense16: UnsafeMutablePointer<UInt16>?
    /// Bit per state: it has outputs.
    let outBits: UnsafeMutablePointer<UInt64>
    let edgeStart: UnsafeMutablePointer<Int32>  // (stateCount - nDense) + 1
    let edgeClass: UnsafeMutablePointer<UInt8>
    let edgeTarget: UnsafeMutablePointer<Int32>
    let fail: UnsafeMutablePointer<Int32>
    let outStart: UnsafeMutablePointer<Int32>  // stateCount + 1
    let outputs: UnsafeMutablePointer<Int32>
    let patternLength: UnsafeMutablePointer<Int32>
    let edgeCount: Int
    let outputCount: Int
    let patternCount: Int
    static let outputFlag: Int32 = 0x4000_0000
    static let stateMask: Int32 = 0x3FFF_FFFF

    private static func alloc<T>(_ a: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(a.count, 1))
        p.initialize(from: a, count: a.count)
        return p
    }

    /// Room for dense rows (16-bit entries) per automaton: the automaton of Windows
    /// process_creation's `Image` (some 1,100 literals) fits, and `CommandLine`'s (9,300 literals,
    /// 150 byte classes) has about 3,500 dense states instead of 2,048. A byte read in a sparse
    /// state costs an edge search and often a failure link besides (half the bytes of that
    /// logsource's automata were, −6 % instructions per event with this room).
    static let denseBytes = 1 << 20

    /// `denseLimit`: states with dense rows, by default as many as `denseBytes` holds and at
    /// least 2,048.
    init(patterns: [[UInt8]], denseLimit: Int? = nil) {
        var used = [Bool](repeating: false, count: 256)
        for p in patterns { for b in p { used[Int(b)] = true } }
        var cls = [UInt8](repeating: 0, count: 256)
        var n = 1
        var identity = false
        // Classes of the bytes folded command lines and paths are made of first: a row's
        // entries for them share its first cache lines.
        var byteOrder = Fold.commonBytes
        var seen = [Bool](repeating: false, count: 256)
        byteOrder = byteOrder.filter {
            if seen[Int($0)] { return false }; seen[Int($0)] = true; return true
        }
        byteOrder += (0..<256).map { UInt8($0) }.filter { !seen[Int($0)] }
        for b in byteOrder.map(Int.init) where used[b] {
            if n < 256 { cls[b] = UInt8(n); n += 1 } else { identity = true }
        }
        if identity { for b in 0..<256 { cls[b] = UInt8(b) }; n = 256 }
        let nc = n

        // Trie with sparse children.
        var kids: [[(UInt8, Int32)]] = [[]]
        var own: [[Int32]] = [[]]
        for (pi, p) in patterns.enumerated() {
            var s = 0
            for b in p {
                let c = cls[Int(b)]
                if let nx = kids[s].first(where: { $0.0 == c }) {
                    s = Int(nx.1)
                } else {
                    let ns = kids.count
                    kids.append([]); own.append([])
                    kids[s].append((c, Int32(ns)))
                    s = ns
                }
            }
            own[s].append(Int32(pi))
        }
        // Breadth-first order → new numbering (shallow states first).
        let total = kids.count
        var order: [Int] = [0]
        order.reserveCapacity(total)
        var qi = 0
        while qi < order.count {
            let s = order[qi]; qi += 1
            for (_, t) in kids[s].sorted(by: { $0.0 < $1.0 }) { order.append(Int(t)) }
        }
        var newID = [Int32](repeating: 0, count: total)
        for (i, s) in order.enumerated() { newID[s] = Int32(i) }
        var k2: [[(UInt8, Int32)]] = Array(repeating: [], count: total)
        var o2: [[Int32]] = Array(repeating: [], count: total)
        for s in 0..<total {
            k2[Int(newID[s])] = kids[s].map { ($0.0, newID[Int($0.1)]) }.sorted { $0.0 < $1.0 }
            o2[Int(newID[s])] = own[s]
        }
        kids = []; own = []
        // Failure links and merged outputs (BFS order = increasing ids).
        var failA = [Int32](repeating: 0, count: total)
        var merged = o2
        func gotoEdge(_ s: Int, _ c: UInt8) -> Int32? {
            for (cc, t) in k2[s] where cc == c { return t }
            return nil
        }
        for s in 0..<total {
            for (c, t) in k2[s] {
                if s == 0 { failA[Int(t)] = 0; continue }
                var f = Int(failA[s])
                while true {
                    if let nx = gotoEdge(f, c) { failA[Int(t)] = nx; break }
                    if f == 0 { failA[Int(t)] = 0; break }
                    f = Int(failA[f])
                }
            }
            if s > 0 {
                let f = Int(failA[s])
                if !merged[f].isEmpty { merged[s].append(contentsOf: merged[f]) }
            }
        }
        let nd = min(total, max(1, denseLimit ?? max(2048, AhoCorasick.denseBytes / (2 * nc))))
        // Dense states renumbered: those without outputs first (the root stays 0), then those
        // with; deeper states keep their numbers. Failure states keep coming before their
        // states in the breadth-first numbering the dense rows are built in (`bfs`), and the
        // new number of each (`newID`) is applied to the tables at the end.
        var renumber = [Int32](repeating: 0, count: total)
        var quiet = 0
        if merged[0].isEmpty {
            for st in 0..<nd where merged[st].isEmpty { renumber[st] = Int32(quiet); quiet += 1 }
            var k = quiet
            for st in 0..<nd where !merged[st].isEmpty { renumber[st] = Int32(k); k += 1 }
        } else {
            for st in 0..<nd { renumber[st] = Int32(st) }
        }
        for st in nd..<total { renumber[st] = Int32(st) }
        // A dense row is its failure state's row (an earlier one: breadth-first numbers) with
        // the state's own trie edges written over it; the root's row is its edges, else 0.
        var d = [Int32](repeating: 0, count: nd * nc)
        d.withUnsafeMutableBufferPointer { dp in
            for s in 0..<nd {
                if s > 0 {
                    let f = Int(failA[s])
                    (dp.baseAddress! + s * nc).update(from: dp.baseAddress! + f * nc, count: nc)
                }
                for (c, t) in k2[s] { dp[s * nc + Int(c)] = t }
            }
        }
        // Transition targets carry a flag bit when the target state has outputs, so the scan
        // reads the output table only on a hit; targets take their new numbers.
        @inline(__always) func flagged(_ t: Int32) -> Int32 {
            merged[Int(t)].isEmpty ? renumber[Int(t)] : (renumber[Int(t)] | AhoCorasick.outputFlag)
        }
        var rows = [Int32](repeating: 0, count: nd * nc)
        for st in 0..<nd {
            let to = Int(renumber[st]) * nc
            for c in 0..<nc { rows[to + c] = flagged(d[st * nc + c]) }
        }
        d = rows
        var es: [Int32] = [], ec: [UInt8] = [], et: [Int32] = []
        for s in nd..<total {
            es.append(Int32(ec.count))
            for (c, t) in k2[s] { ec.append(c); et.append(flagged(t)) }
        }
        es.append(Int32(ec.count))
        var mergedNew = [[Int32]](repeating: [], count: total)
        var failNew = [Int32](repeating: 0, count: total)
        for st in 0..<total {
            mergedNew[Int(renumber[st])] = merged[st]
            failNew[Int(renumber[st])] = renumber[Int(failA[st])]
        }
        merged = mergedNew; failA = failNew
        var os: [Int32] = [], outs: [Int32] = []
        for s in 0..<total { os.append(Int32(outs.count)); outs.append(contentsOf: merged[s]) }
        os.append(Int32(outs.count))

        // Up to 65,535 states: 16-bit dense entries (half the cache lines), outputs in a bitmap.
        if total <= 0xFFFF {
            dense16 = Self.alloc(d.map { UInt16(truncatingIfNeeded: $0 & AhoCorasick.stateMask) })
        } else {
            dense16 = nil
        }
        var bits = [UInt64](repeating: 0, count: total / 64 + 1)
        for st in 0..<total where !merged[st].isEmpty { bits[st >> 6] |= 1 << UInt64(st & 63) }
        outBits = Self.alloc(bits)

        nClasses = nc; stateCount = total; nDense = nd; nQuiet = quiet
        classOf = Self.alloc(cls); dense = dense16 == nil ? Self.alloc(d) : Self.alloc([0])  // one width is kept
        edgeStart = Self.alloc(es); edgeClass = Self.alloc(ec); edgeTarget = Self.alloc(et)
        fail = Self.alloc(failA); outStart = Self.alloc(os); outputs = Self.alloc(outs)
        patternLength = Self.alloc(patterns.map { Int32($0.count) })
        edgeCount = ec.count; outputCount = outs.count; patternCount = patterns.count
    }

    deinit {
        classOf.deallocate(); dense.deallocate(); dense16?.deallocate(); outBits.deallocate(); edgeStart.deallocate(); edgeClass.deallocate()
        edgeTarget.deallocate(); fail.deallocate(); outStart.deallocate(); outputs.deallocate(); patternLength.deallocate()
    }

    var memoryBytes: Int {
        256 + nDense * nClasses * (dense16 == nil ? 4 : 2) + stateCount / 8 + (stateCount - nDense + 1) * 4 + edgeCount * 5 + stateCount * 8 + outputCount * 4
            + patternCount * 4
    }

    var view: ACView {
        ACView(
            nClasses: nClasses, nDense: Int32(nDense), nQuiet: Int32(nQuiet), classOf: classOf, dense: dense, dense16: dense16, outBits: outBits,
            edgeStart: edgeStart,
            edgeClass: edgeClass, edgeTarget: edgeTarget, fail: fail, outStart: outStart, outputs: outputs,
            patternLength: patternLength)
    }

}

/// The automaton's tables as plain pointers (valid while the owning `AhoCorasick` lives).
struct ACView {
    let nClasses: Int
    let nDense: Int32
    /// States below this number are dense and have no outputs (`AhoCorasick.nQuiet`).
    let nQuiet: Int32
    let classOf: UnsafeMutablePointer<UInt8>
    let dense: UnsafeMutablePointer<Int32>
    let dense16: UnsafeMutablePointer<UInt16>?
    let outBits: UnsafeMutablePointer<UInt64>
    let edgeStart: UnsafeMutablePointer<Int32>
    let edgeClass: UnsafeMutablePointer<UInt8>
    let edgeTarget: UnsafeMutablePointer<Int32>
    let fail: UnsafeMutablePointer<Int32>
    let outStart: UnsafeMutablePointer<Int32>
    let outputs: UnsafeMutablePointer<Int32>
    let patternLength: UnsafeMutablePointer<Int32>

    /// Hits gathered per call of a scan loop: texts longer than this are scanned in pieces.
    static let hitCapacity = 1024

    /// Reports (pattern, end offset) for every hit. The automaton runs in a loop of its own
    /// (`hitStates16`, `hitStates32`) that only notes each state with outputs and where it was
    /// reached, in `hits` (room for `hitCapacity` pairs); the patterns are reported after. With
    /// nothing else in the loop its state stays in registers, and each byte costs one dependent
    /// table load instead of a load behind spilled registers.
    @inline(__always)
    func scan(_ text: UnsafePointer<UInt8>, _ count: Int, _ hits: UnsafeMutablePointer<Int32>, _ hit: (Int32, Int) -> Void) {
        var s = 0
        var off = 0
        while off < count {
            let n = min(count &- off, ACView.hitCapacity)
            let h = dense16 != nil ? hitStates16(text + off, n, &s, hits) : hitStates32(text + off, n, &s, hits)
            var j = 0
            while j < h {
                let st = Int(hits[j &* 2]), end = off &+ Int(hits[j &* 2 &+ 1])
                var k = Int(outStart[st])
                let b = Int(outStart[st &+ 1])
                while k < b { hit(outputs[k], end); k &+= 1 }
                j &+= 1
            }
            off &+= n
        }
    }

    /// The automaton over `count` (≤ `hitCapacity`) bytes from state `s` (updated), 16-bit
    /// dense rows: each state with outputs and the offset after the byte that reached it go to
    /// `hits`. Returns how many. A byte that leads from a dense state to one without outputs
    /// (most bytes) costs a class lookup, a row lookup and two compares: such states are
    /// numbered first (`nQuiet`); the output bitmap is read only for deeper states.
    @inline(never)
    func hitStates16(_ text: UnsafePointer<UInt8>, _ count: Int, _ state: inout Int, _ hits: UnsafeMutablePointer<Int32>) -> Int {
        let d16 = dense16.unsafelyUnwrapped
        let nc = nClasses, nd = Int(nDense), nq = Int(nQuiet)
        let full = nc < 256
        let mask = AhoCorasick.stateMask
        let cls = classOf, bits = outBits
        var s = state
        var h = 0
        var i = 0
        while i < count {
            let c = Int(cls[Int(text[i])])
            i &+= 1
            if s < nd {
                s = Int(d16[s &* nc &+ c])
                if s < nq { continue }
            } else {
                // Class 0 (a byte no pattern holds) leads back to the root from any state;
                // dense rows say so themselves.
                if c == 0 && full { s = 0; continue }
                s = Int(sparseStep(s, c, mask))
                if s < nq { continue }
            }
            if s < nd || bits[s >> 6] & (1 << UInt64(s & 63)) != 0 {
                hits[h &* 2] = Int32(truncatingIfNeeded: s)
                hits[h &* 2 &+ 1] = Int32(truncatingIfNeeded: i)
                h &+= 1
            }
        }
        state = s
        return h
    }

    /// `hitStates16` over 32-bit dense rows (more than 65,535 states), whose entries carry the
    /// output flag.
    @inline(never)
    func hitStates32(_ text: UnsafePointer<UInt8>, _ count: Int, _ state: inout Int, _ hits: UnsafeMutablePointer<Int32>) -> Int {
        let nc = nClasses, nd = Int(nDense)
        let full = nc < 256
        let mask = AhoCorasick.stateMask, flag = AhoCorasick.outputFlag
        let cls = classOf, d = dense
        var s = state
        var h = 0
        var i = 0
        while i < count {
            let c = Int(cls[Int(text[i])])
            i &+= 1
            if c == 0 && full { s = 0; continue }
            let v: Int32
            if s < nd {
                v = d[s &* nc &+ c]
            } else {
                v = sparseStep(s, c, 0x7FFF_FFFF)
            }
            s = Int(v & mask)
            if v & flag != 0 {
                hits[h &* 2] = Int32(truncatingIfNeeded: s)
                hits[h &* 2 &+ 1] = Int32(truncatingIfNeeded: i)
                h &+= 1
            }
        }
        state = s
        return h
    }

    /// The transition from a sparse (deep) state: its own trie edges, else its failure
    /// state's, down to a dense state. The target keeps the bits `keep` leaves of it.
    @inline(__always)
    private func sparseStep(_ s0: Int, _ c: Int, _ keep: Int32) -> Int32 {
        let nd = Int(nDense), nc = nClasses
        var s = s0
        while true {
            if s < nd {
                if let d16 = dense16 { return Int32(d16[s &* nc &+ c]) }
                return dense[s &* nc &+ c] & keep
            }
            let k0 = Int(edgeStart[s &- nd]), k1 = Int(edgeStart[s &- nd &+ 1])
            var k = k0
            while k < k1 { if Int(edgeClass[k]) == c { return edgeTarget[k] & keep }; k &+= 1 }
            s = Int(fail[s])
        }
    }
}

/// A plain trie for anchored literals: prefix/exact patterns walked from the start of a value,
/// suffix patterns (stored reversed) walked from its end. Only the bytes of the longest
/// matching pattern are touched, whatever the value's length.
final class AnchoredTrie: @unchecked Sendable {
    let view: TrieView
    let reversed: Bool
    private let storage: [UnsafeMutableRawPointer]
    let memoryBytes: Int

    init(patterns: [[UInt8]], reversed: Bool) {
        self.reversed = reversed
        var kids: [[(UInt8, Int32)]] = [[]]
        var own: [[Int32]] = [[]]
        for (pi, p0) in patterns.enumerated() {
            let p = reversed ? Array(p0.reversed()) : p0
            var s = 0
            for b in p {
                if let nx = kids[s].first(where: { $0.0 == b }) {
                    s = Int(nx.1)
                } else {
                    let ns = kids.count
                    kids.append([]); own.append([])
                    kids[s].append((b, Int32(ns)))
                    s = ns
                }
            }
            own[s].append(Int32(pi))
        }
        var root = [Int32](repeating: -1, count: 256)
        for (b, t) in kids[0] { root[Int(b)] = t }
        var es: [Int32] = [], eb: [UInt8] = [], et: [Int32] = []
        var os: [Int32] = [], outs: [Int32] = []
        for s in 0..<kids.count {
            es.append(Int32(eb.count))
            for (b, t) in kids[s].sorted(by: { $0.0 < $1.0 }) { eb.append(b); et.append(t) }
            os.append(Int32(outs.count)); outs.append(contentsOf: own[s])
        }
        es.append(Int32(eb.count)); os.append(Int32(outs.count))

        // Chains: from a state with one edge, the bytes down to the first state that has
        // outputs or other than one edge, compared as a string instead of an edge lookup per
        // byte (four in five steps of a walk over Windows paths were single-edge states). A
        // chain's bytes are stored in the order they lie in the text (reversed for a reverse trie).
        let total = kids.count
        var parent = [Int32](repeating: -1, count: total)
        for s in 0..<total { for (_, t) in kids[s] { parent[Int(t)] = Int32(s) } }
        func single(_ s: Int) -> Bool { s != 0 && kids[s].count == 1 }
        var cs = [Int32](repeating: 0, count: total), cl = [Int32](repeating: 0, count: total)
        var ce = [Int32](repeating: -1, count: total)
        var cb: [UInt8] = []
        for h in 0..<total where single(h) {
            // Walks land only on heads (the root's children, edge targets, chain ends), never
            // inside a chain: a head is a state not inside its parent's chain.
            let p = Int(parent[h])
            if p >= 0 && single(p) && own[h].isEmpty { continue }
            var bytes: [UInt8] = []
            var s = h
            while true {
                let (b, t) = kids[s][0]
                bytes.append(b)
                s = Int(t)
                if !own[s].isEmpty || !single(s) { break }
            }
            cs[h] = Int32(cb.count); cl[h] = Int32(bytes.count); ce[h] = Int32(s)
            cb.append(contentsOf: reversed ? bytes.reversed() : bytes)
        }

        func alloc<T>(_ a: [T]) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(a.count, 1)); p.initialize(from: a, count: a.count); return p
        }
        let r = alloc(root), a = alloc(es), b = alloc(eb), c = alloc(et), d = alloc(os), e = alloc(outs)
        let pl = alloc(patterns.map { Int32($0.count) })
        let chainStart = alloc(cs), chainLength = alloc(cl), chainEnd = alloc(ce), chainBytes = alloc(cb)
        storage = [
            UnsafeMutableRawPointer(r), UnsafeMutableRawPointer(a), UnsafeMutableRawPointer(b), UnsafeMutableRawPointer(c),
            UnsafeMutableRawPointer(d), UnsafeMutableRawPointer(e), UnsafeMutableRawPointer(pl),
            UnsafeMutableRawPointer(chainStart), UnsafeMutableRawPointer(chainLength), UnsafeMutableRawPointer(chainEnd),
            UnsafeMutableRawPointer(chainBytes)
        ]
        view = TrieView(
            root: r, edgeStart: a, edgeByte: b, edgeTarget: c, outStart: d, outputs: e, patternLength: pl,
            chainStart: chainStart, chainLength: chainLength, chainEnd: chainEnd, chainBytes: chainBytes)
        memoryBytes = 1024 + es.count * 4 + eb.count * 5 + os.count * 4 + outs.count * 4 + patterns.count * 4 + total * 12 + cb.count
    }

    deinit { for p in storage { p.deallocate() } }
}

struct TrieView {
    let root: UnsafeMutablePointer<Int32>
    let edgeStart: UnsafeMutablePointer<Int32>
    let edgeByte: UnsafeMutablePointer<UInt8>
    let edgeTarget: UnsafeMutablePointer<Int32>
    let outStart: UnsafeMutablePointer<Int32>
    let outputs: UnsafeMutablePointer<Int32>
    let patternLength: UnsafeMutablePointer<Int32>
    /// Per state with one edge: its chain's bytes (offset into `chainBytes`, in text order),
    /// their count, and the state they lead to; a length of 0 for every other state.
    let chainStart: UnsafeMutablePointer<Int32>
    let chainLength: UnsafeMutablePointer<Int32>
    let chainEnd: UnsafeMutablePointer<Int32>
    let chainBytes: UnsafeMutablePointer<UInt8>

    /// Calls `hit(pattern, end)` with end offsets as an unanchored scan would report them:
    /// forward walks report `end = consumed`, reverse walks report `end = count`.
    @inline(__always)
    func walk(_ text: UnsafePointer<UInt8>, _ count: Int, reversed: Bool, _ hit: (Int32, Int) -> Void) {
        if count == 0 { return }
        var s = Int(root[Int(text[reversed ? count &- 1 : 0])])
        var consumed = 1
        while s >= 0 {
            let a = outStart[s], b = outStart[s &+ 1]
            if a != b {
                var k = Int(a)
                while k < Int(b) { hit(outputs[k], reversed ? count : consumed); k &+= 1 }
            }
            if consumed == count { return }
            let n = Int(chainLength[s])
            if n > 0 {
                // The states inside a chain have no outputs: a text that ends in it or leaves it
                // has nothing more to report.
                if count &- consumed < n { return }
                let at = reversed ? text + (count &- consumed &- n) : text + consumed
                if !ScalarEval.sameBytes(at, chainBytes + Int(chainStart[s]), n) { return }
                consumed &+= n
                s = Int(chainEnd[s])
                continue
            }
            let byte = text[reversed ? count &- 1 &- consumed : consumed]
            let k0 = Int(edgeStart[s]), k1 = Int(edgeStart[s &+ 1])
            var next = -1
            var k = k0
            while k < k1 {
                let eb = edgeByte[k]
                if eb == byte { next = Int(edgeTarget[k]); break }
                if eb > byte { break }
                k &+= 1
            }
            s = next
            consumed &+= 1
        }
    }

}
