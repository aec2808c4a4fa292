import EDRCore
import Foundation

/// Per-evaluation working memory; one is used by one thread at a time (pooled by the engine).
final class Scratch {
    var gen: UInt32 = 0
    var capAtoms = 0, capFields = 0, capRules = 0
    var acHit: UnsafeMutablePointer<UInt32>
    var memoStamp: UnsafeMutablePointer<UInt32>
    var memoVal: UnsafeMutablePointer<Bool>
    var fieldDone: UnsafeMutablePointer<UInt32>
    var foldStamp: UnsafeMutablePointer<UInt32>
    var foldFirst: UnsafeMutablePointer<Int32>
    var foldCount: UnsafeMutablePointer<Int32>
    var ruleStamp: UnsafeMutablePointer<UInt32>
    var layout: UnsafeMutablePointer<Int32>
    var foldRanges: [(Int32, Int32)] = []
    var foldBuf: [UInt8] = []
    var candidates: [Int32] = []
    var matched: [Int32] = []
    let md = PCREMatchData()
    /// Per unit: recently seen field-name layouts → slot map.
    var layouts: [[(names: [String], map: [Int32])]]
    var layoutNext: [Int]
    var routeLS: LogSource? = nil
    var routeUnits: [Int] = []

    init(atoms: Int, fields: Int, rules: Int, units: Int) {
        capAtoms = max(atoms, 1); capFields = max(fields, 1); capRules = max(rules, 1)
        func alloc<T>(_ n: Int, _ v: T) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: n); p.initialize(repeating: v, count: n); return p
        }
        acHit = alloc(capAtoms, 0); memoStamp = alloc(capAtoms, 0); memoVal = alloc(capAtoms, false)
        fieldDone = alloc(capFields, 0); foldStamp = alloc(capFields, 0)
        foldFirst = alloc(capFields, 0); foldCount = alloc(capFields, 0)
        ruleStamp = alloc(capRules, 0); layout = alloc(capFields, -1)
        layouts = Array(repeating: [], count: units)
        layoutNext = Array(repeating: 0, count: units)
    }

    deinit {
        acHit.deallocate(); memoStamp.deallocate(); memoVal.deallocate(); fieldDone.deallocate()
        foldStamp.deallocate(); foldFirst.deallocate(); foldCount.deallocate(); ruleStamp.deallocate(); layout.deallocate()
    }

    func nextGen() {
        gen &+= 1
        if gen == 0 {
            acHit.update(repeating: 0, count: capAtoms); memoStamp.update(repeating: 0, count: capAtoms)
            fieldDone.update(repeating: 0, count: capFields); foldStamp.update(repeating: 0, count: capFields)
            ruleStamp.update(repeating: 0, count: capRules)
            gen = 1
        }
        foldRanges.removeAll(keepingCapacity: true)
        foldBuf.removeAll(keepingCapacity: true)
    }
}

extension CompiledUnit {
    /// Fills `s.layout` (slot → event field index) for this event's field names.
    @inline(__always)
    func resolveLayout(_ names: [String], _ s: Scratch, unit: Int) {
        let cache = s.layouts[unit]
        for entry in cache where entry.names == names {
            entry.map.withUnsafeBufferPointer { m in
                for i in 0..<m.count { s.layout[i] = m[i] }
            }
            return
        }
        var map = [Int32](repeating: -1, count: fieldNames.count)
        for (i, n) in names.enumerated() { if let slot = fieldIndex[n], map[Int(slot)] < 0 { map[Int(slot)] = Int32(i) } }
        for i in 0..<map.count { s.layout[i] = map[i] }
        if cache.count < 8 { s.layouts[unit].append((names, map)) } else {
            s.layouts[unit][s.layoutNext[unit]] = (names, map)
            s.layoutNext[unit] = (s.layoutNext[unit] + 1) % 8
        }
    }

    /// Evaluates every applicable rule; appends matching unit rule indices to `s.matched`.
    func evaluate(_ event: Event, _ s: Scratch, unit: Int) {
        s.nextGen()
        resolveLayout(event.names, s, unit: unit)
        event.values.withUnsafeBufferPointer { values in
            var ctx = EvalContext(unit: self, s: s, values: values)
            s.candidates.removeAll(keepingCapacity: true)
            for f in anchorFields { ctx.runAC(f, collect: true) }
            for r in alwaysRules { ctx.s.candidates.append(r) }
            for r in s.candidates {
                if ctx.evalNode(ruleRoot[Int(r)]) { s.matched.append(ruleGlobal[Int(r)]) }
            }
        }
    }
}

struct EvalContext {
    let unit: CompiledUnit
    let s: Scratch
    let values: UnsafeBufferPointer<FieldValue>

    @inline(__always)
    func value(_ f: Int32) -> FieldValue? {
        let i = s.layout[Int(f)]
        return i >= 0 ? values[Int(i)] : nil
    }

    /// Folded byte ranges of field `f` (one per scalar element).
    mutating func folded(_ f: Int32) -> (Int32, Int32) {
        if s.foldStamp[Int(f)] == s.gen { return (s.foldFirst[Int(f)], s.foldCount[Int(f)]) }
        let first = Int32(s.foldRanges.count)
        if let v = value(f) { appendFolded(v, depth: 0) }
        let count = Int32(s.foldRanges.count) - first
        s.foldStamp[Int(f)] = s.gen; s.foldFirst[Int(f)] = first; s.foldCount[Int(f)] = count
        return (first, count)
    }

    private func appendFolded(_ v: FieldValue, depth: Int) {
        switch v {
        case .null: return
        case .array(let items):
            if depth < 4 { for it in items { appendFolded(it, depth: depth + 1) } }
        case .string(let str):
            let start = Int32(s.foldBuf.count)
            var str = str
            let ascii: Bool = str.withUTF8 { u in
                for b in u where b >= 0x80 { return false }
                for b in u { s.foldBuf.append(Fold.lower(b)) }
                return true
            }
            if !ascii { s.foldBuf.append(contentsOf: str.lowercased().utf8) }
            s.foldRanges.append((start, Int32(s.foldBuf.count)))
        default:
            let start = Int32(s.foldBuf.count)
            if let t = v.stringValue { s.foldBuf.append(contentsOf: t.utf8) }
            s.foldRanges.append((start, Int32(s.foldBuf.count)))
        }
    }

    /// Runs the field's automaton once and marks every literal atom it satisfies.
    mutating func runAC(_ f: Int32, collect: Bool) {
        if s.fieldDone[Int(f)] == s.gen { return }
        s.fieldDone[Int(f)] = s.gen
        let g = unit.fieldGroup[Int(f)]
        guard g >= 0 else { return }
        let (first, count) = folded(f)
        if count == 0 { return }
        let group = unit.groups[Int(g)]
        let gen = s.gen
        let hitp = s.acHit, rstamp = s.ruleStamp
        let s = self.s
        let unit = self.unit
        s.foldBuf.withUnsafeBufferPointer { buf in
            for k in first..<(first + count) {
                let (a, b) = s.foldRanges[Int(k)]
                let text = UnsafeBufferPointer(rebasing: buf[Int(a)..<Int(b)])
                let len = text.count
                group.patAtoms.withUnsafeBufferPointer { pa in
                    group.patStart.withUnsafeBufferPointer { ps in
                        group.ac.scan(text) { p, end in
                            let plen = Int(group.ac.patternLength[Int(p)])
                            let st = end - plen
                            for i in Int(ps[Int(p)])..<Int(ps[Int(p) + 1]) {
                                let atom = pa[i]
                                if hitp[Int(atom)] == gen { continue }
                                guard case .ac(let mode, _) = unit.atoms[Int(atom)].kind else { continue }
                                let ok: Bool
                                switch mode {
                                case .contains: ok = true
                                case .prefix: ok = st == 0
                                case .suffix: ok = end == len
                                case .exact: ok = st == 0 && end == len
                                }
                                if ok {
                                    hitp[Int(atom)] = gen
                                    if collect && unit.isAnchor[Int(atom)] {
                                        for j in Int(unit.anchorRuleStart[Int(atom)])..<Int(unit.anchorRuleStart[Int(atom) + 1]) {
                                            let r = unit.anchorRules[j]
                                            if rstamp[Int(r)] != gen { rstamp[Int(r)] = gen; s.candidates.append(r) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    mutating func evalNode(_ n: Int32) -> Bool {
        let r = unit.nodes[Int(n)]
        switch r.op {
        case 0: return atomValue(r.a)
        case 1:
            for k in r.a..<r.b where !evalNode(unit.children[Int(k)]) { return false }
            return true
        case 2:
            for k in r.a..<r.b where evalNode(unit.children[Int(k)]) { return true }
            return false
        case 3: return !evalNode(r.a)
        case 4: return true
        default: return false
        }
    }

    mutating func atomValue(_ a: Int32) -> Bool {
        let atom = unit.atoms[Int(a)]
        if case .ac = atom.kind {
            if s.fieldDone[Int(atom.field)] != s.gen { runAC(atom.field, collect: false) }
            return s.acHit[Int(a)] == s.gen
        }
        if s.memoStamp[Int(a)] == s.gen { return s.memoVal[Int(a)] }
        var v = false
        if atom.gate < 0 || atomValue(atom.gate) { v = compute(atom) }
        s.memoStamp[Int(a)] = s.gen
        s.memoVal[Int(a)] = v
        return v
    }

    /// Whether any scalar element of the field satisfies `body`, over folded bytes.
    mutating func anyFolded(_ f: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        let (first, count) = folded(f)
        if count == 0 { return false }
        let s = self.s
        return s.foldBuf.withUnsafeBufferPointer { buf in
            for k in first..<(first + count) {
                let (a, b) = s.foldRanges[Int(k)]
                if body(UnsafeBufferPointer(rebasing: buf[Int(a)..<Int(b)])) { return true }
            }
            return false
        }
    }

    /// Whether any scalar element of the value satisfies `body`, over its raw UTF-8.
    static func anyRaw(_ v: FieldValue, depth: Int = 0, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        switch v {
        case .null: return false
        case .array(let items):
            if depth >= 4 { return false }
            for it in items where anyRaw(it, depth: depth + 1, body) { return true }
            return false
        case .string(var str): return str.withUTF8 { body($0) }
        default:
            guard var t = v.stringValue else { return false }
            return t.withUTF8 { body($0) }
        }
    }

    static func anyScalar(_ v: FieldValue, depth: Int = 0, _ body: (FieldValue) -> Bool) -> Bool {
        if case .array(let items) = v {
            if depth >= 4 { return false }
            for it in items where anyScalar(it, depth: depth + 1, body) { return true }
            return false
        }
        if case .null = v { return false }
        return body(v)
    }

    mutating func stringTest(_ atom: Atom, _ f: Int32, _ v: FieldValue?) -> Bool {
        switch atom.kind {
        case .ac(let mode, _):
            // Only reached for keyword atoms, which never use automata.
            _ = mode; return false
        case .lit(let mode, let p, let cased):
            if cased { guard let v else { return false }; return EvalContext.anyRaw(v) { ScalarEval.lit(mode, p, $0) } }
            if f >= 0 { return anyFolded(f) { ScalarEval.lit(mode, p, $0) } }
            guard let v else { return false }
            return EvalContext.anyRaw(v) { raw in Fold.fold(Array(raw)).withUnsafeBufferPointer { ScalarEval.lit(mode, p, $0) } }
        case .glob(let toks, let cased):
            if cased { guard let v else { return false }; return EvalContext.anyRaw(v) { ScalarEval.glob(toks, $0) } }
            if f >= 0 { return anyFolded(f) { ScalarEval.glob(toks, $0) } }
            guard let v else { return false }
            return EvalContext.anyRaw(v) { raw in Fold.fold(Array(raw)).withUnsafeBufferPointer { ScalarEval.glob(toks, $0) } }
        case .regex(let re):
            guard let v else { return false }
            let md = s.md.md
            return EvalContext.anyRaw(v) { re.matches($0, md) }
        default:
            return false
        }
    }

    mutating func compute(_ atom: Atom) -> Bool {
        let f = atom.field
        if f < 0 {
            // Keyword: any field of the event.
            for i in 0..<values.count {
                if stringTest(atom, -1, values[i]) { return true }
            }
            return false
        }
        let v = value(f)
        switch atom.kind {
        case .ac, .lit, .glob, .regex:
            return stringTest(atom, f, v)
        case .isNull:
            guard let v else { return true }
            if case .null = v { return true }
            return false
        case .exists(let b):
            return (v != nil) == b
        case .num(let op, let d):
            guard let v else { return false }
            return EvalContext.anyScalar(v) { x in ScalarEval.number(x).map { op.test($0, d) } ?? false }
        case .time(let unit, let op, let d):
            guard let v else { return false }
            return EvalContext.anyScalar(v) { x in ScalarEval.timeComponent(unit, x).map { op.test($0, d) } ?? false }
        case .cidr(let c):
            guard let v else { return false }
            return EvalContext.anyScalar(v) { x in
                guard case .string(let str) = x, let ip = IPAddr.parse(str) else { return false }
                return c.contains(ip)
            }
        case .fieldref(let other, let mode, let cased):
            guard let v, let o = value(other) else { return false }
            return EvalContext.anyScalar(v) { x in
                EvalContext.anyScalar(o) { y in
                    guard var a = x.stringValue, var b = y.stringValue else { return false }
                    if !cased { a = a.lowercased(); b = b.lowercased() }
                    let pb = Array(b.utf8)
                    return a.withUTF8 { ScalarEval.lit(mode, pb, $0) }
                }
            }
        }
    }
}

