/// A byte-level Aho–Corasick automaton with a dense transition table over byte classes.
/// Patterns are given already case-folded; `scan` reports (pattern, end offset) for every hit.
final class AhoCorasick: @unchecked Sendable {
    let classOf: [UInt8]          // 256 entries
    let nClasses: Int
    let delta: [Int32]            // state * nClasses + class
    let outStart: [Int32]         // outputs of state s: outputs[outStart[s] ..< outStart[s+1]]
    let outputs: [Int32]
    let patternLength: [Int32]

    init(patterns: [[UInt8]]) {
        var used = [Bool](repeating: false, count: 256)
        for p in patterns { for b in p { used[Int(b)] = true } }
        var cls = [UInt8](repeating: 0, count: 256)
        var n = 1
        for b in 0..<256 where used[b] {
            if n < 255 { cls[b] = UInt8(n); n += 1 }
        }
        // If more than 254 distinct bytes appear the rest share class 0 — only possible with
        // binary patterns; keep correctness by giving up classes: use identity mapping.
        var nc = n
        if patterns.contains(where: { $0.contains { cls[Int($0)] == 0 } }) {
            for b in 0..<256 { cls[b] = UInt8(truncatingIfNeeded: b) }
            nc = 256
        }
        classOf = cls
        nClasses = nc

        var d: [Int32] = [Int32](repeating: -1, count: nc)
        var own: [[Int32]] = [[]]
        for (pi, p) in patterns.enumerated() {
            var s = 0
            for b in p {
                let c = Int(cls[Int(b)])
                let nx = d[s * nc + c]
                if nx >= 0 { s = Int(nx) } else {
                    let ns = own.count
                    own.append([])
                    d.append(contentsOf: repeatElement(-1, count: nc))
                    d[s * nc + c] = Int32(ns)
                    s = ns
                }
            }
            own[s].append(Int32(pi))
        }
        let states = own.count
        var fail = [Int32](repeating: 0, count: states)
        var merged: [[Int32]] = own
        var queue: [Int] = []
        queue.reserveCapacity(states)
        for c in 0..<nc {
            let nx = d[c]
            if nx >= 0 { fail[Int(nx)] = 0; queue.append(Int(nx)) } else { d[c] = 0 }
        }
        var qi = 0
        while qi < queue.count {
            let s = queue[qi]; qi += 1
            let f = Int(fail[s])
            if !merged[f].isEmpty { merged[s].append(contentsOf: merged[f]) }
            for c in 0..<nc {
                let nx = d[s * nc + c]
                if nx >= 0 {
                    fail[Int(nx)] = d[f * nc + c]
                    queue.append(Int(nx))
                } else {
                    d[s * nc + c] = d[f * nc + c]
                }
            }
        }
        delta = d
        var os: [Int32] = []
        os.reserveCapacity(states + 1)
        var outs: [Int32] = []
        for s in 0..<states { os.append(Int32(outs.count)); outs.append(contentsOf: merged[s]) }
        os.append(Int32(outs.count))
        outStart = os
        outputs = outs
        patternLength = patterns.map { Int32($0.count) }
    }

    var stateCount: Int { outStart.count - 1 }
    var memoryBytes: Int { delta.count * 4 + outStart.count * 4 + outputs.count * 4 + 256 }

    @inline(__always)
    func scan(_ text: UnsafeBufferPointer<UInt8>, _ hit: (Int32, Int) -> Void) {
        let nc = nClasses
        delta.withUnsafeBufferPointer { dp in
            classOf.withUnsafeBufferPointer { cp in
                outStart.withUnsafeBufferPointer { op in
                    var s = 0
                    for i in 0..<text.count {
                        s = Int(dp[s * nc + Int(cp[Int(text[i])])])
                        let a = op[s], b = op[s + 1]
                        if a != b {
                            var k = Int(a)
                            while k < Int(b) { hit(outputs[k], i + 1); k += 1 }
                        }
                    }
                }
            }
        }
    }
}
