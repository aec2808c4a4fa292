import EDRCore
import EDRRegex
import Foundation

/// Mutable per-evaluation state, reached through a pointer so the hot path has no
/// exclusivity checks or reference counting.
struct ScratchCore {
    var gen: UInt32 = 0
    var acHit: UnsafeMutablePointer<UInt32>
    var memoStamp: UnsafeMutablePointer<UInt32>
    var memoVal: UnsafeMutablePointer<Bool>
    var fieldDone: UnsafeMutablePointer<UInt32>
    var foldStamp: UnsafeMutablePointer<UInt32>
    var foldFirst: UnsafeMutablePointer<Int32>
    var foldCount: UnsafeMutablePointer<Int32>
    var ruleStamp: UnsafeMutablePointer<UInt32>
    var layout: UnsafeMutablePointer<Int32>
    var cand: UnsafeMutablePointer<Int32>
    var candCount = 0
    var buf: UnsafeMutablePointer<UInt8>
    var bufLen = 0, bufCap = 4096
    var ranges: UnsafeMutablePointer<Int32>  // start, end pairs
    var rangeCount = 0, rangeCap = 256
    /// Folded values per event field index, shared by every unit evaluating the event.
    var evGen: UInt32 = 0
    var evCap = 64
    var evFoldStamp: UnsafeMutablePointer<UInt32>
    var evFoldFirst: UnsafeMutablePointer<Int32>
    var evFoldCount: UnsafeMutablePointer<Int32>
    /// Room for `ACView.hitCapacity` (state, end) pairs: an automaton's hits, gathered by its
    /// scan loop before any is handled.
    let acHits: UnsafeMutablePointer<Int32>
    let capAtoms: Int, capFields: Int, capRules: Int

    init(atoms: Int, fields: Int, rules: Int) {
        capAtoms = max(atoms, 1); capFields = max(fields, 1); capRules = max(rules, 1)
        func alloc<T>(_ n: Int, _ v: T) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: n); p.initialize(repeating: v, count: n); return p
        }
        acHit = alloc(capAtoms, 0); memoStamp = alloc(capAtoms, 0); memoVal = alloc(capAtoms, false)
        fieldDone = alloc(capFields, 0); foldStamp = alloc(capFields, 0)
        foldFirst = alloc(capFields, 0); foldCount = alloc(capFields, 0)
        ruleStamp = alloc(capRules, 0); layout = alloc(capFields, -1); cand = alloc(capRules, 0)
        buf = alloc(bufCap, 0); ranges = alloc(rangeCap * 2, 0)
        evFoldStamp = alloc(evCap, 0); evFoldFirst = alloc(evCap, 0); evFoldCount = alloc(evCap, 0)
        acHits = alloc(ACView.hitCapacity * 2, 0)
    }

    func free() {
        acHit.deallocate(); memoStamp.deallocate(); memoVal.deallocate(); fieldDone.deallocate()
        foldStamp.deallocate(); foldFirst.deallocate(); foldCount.deallocate(); ruleStamp.deallocate()
        layout.deallocate(); cand.deallocate(); buf.deallocate(); ranges.deallocate()
        evFoldStamp.deallocate(); evFoldFirst.deallocate(); evFoldCount.deallocate()
        acHits.deallocate()
    }

    /// Starts a new event: folded values are cached per event field from here on.
    mutating func beginEvent(fieldCount: Int) {
        evGen &+= 1
        if evGen == 0 { evFoldStamp.update(repeating: 0, count: evCap); evGen = 1 }
        if fieldCount > evCap {
            evFoldStamp.deallocate(); evFoldFirst.deallocate(); evFoldCount.deallocate()
            evCap = max(fieldCount, evCap * 2)
            evFoldStamp = .allocate(capacity: evCap); evFoldStamp.initialize(repeating: 0, count: evCap)
            evFoldFirst = .allocate(capacity: evCap); evFoldFirst.initialize(repeating: 0, count: evCap)
            evFoldCount = .allocate(capacity: evCap); evFoldCount.initialize(repeating: 0, count: evCap)
        }
        bufLen = 0
        rangeCount = 0
    }

    mutating func nextGen() {
        gen &+= 1
        if gen == 0 {
            acHit.update(repeating: 0, count: capAtoms); memoStamp.update(repeating: 0, count: capAtoms)
            fieldDone.update(repeating: 0, count: capFields); foldStamp.update(repeating: 0, count: capFields)
            ruleStamp.update(repeating: 0, count: capRules)
            gen = 1
        }
        candCount = 0
    }

    @inline(__always) mutating func reserve(_ n: Int) {
        if bufLen + n > bufCap {
            var c = bufCap * 2
            while bufLen + n > c { c *= 2 }
            let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
            nb.update(from: buf, count: bufLen)
            buf.deallocate()
            buf = nb; bufCap = c
        }
    }

    /// A NUL after each folded value: the buffer then holds every folded value of the event
    /// apart from the others, and an automaton whose patterns hold no NUL (class 0: back to the
    /// root) scans all of them in one pass without a match across two values.
    @inline(__always) mutating func appendSeparator() {
        reserve(1)
        buf[bufLen] = 0
        bufLen += 1
    }

    @inline(__always) mutating func addRange(_ a: Int, _ b: Int) {
        if rangeCount == rangeCap {
            let nr = UnsafeMutablePointer<Int32>.allocate(capacity: rangeCap * 4)
            nr.update(from: ranges, count: rangeCount * 2)
            ranges.deallocate()
            ranges = nr; rangeCap *= 2
        }
        ranges[rangeCount * 2] = Int32(a); ranges[rangeCount * 2 + 1] = Int32(b)
        rangeCount += 1
    }
}

/// Per-thread working memory (pooled by the engine). One thread at a time uses a scratch
/// and no access to these properties overlaps another, so they go without the runtime's
/// exclusivity checks (each of which costs more than the work it guards here).
final class Scratch {
    let core: UnsafeMutablePointer<ScratchCore>
    let md = PCREMatchData()
    /// Per unit: recently seen field-name layouts → slot map.
    @exclusivity(unchecked) var layouts: [[(names: [String], map: [Int32])]]
    @exclusivity(unchecked) var layoutNext: [Int]
    /// Recently seen logsources and the units they are routed to (`SigmaEngine.route`).
    @exclusivity(unchecked) var routeKeys: [LogSource] = []
    @exclusivity(unchecked) var routeUnits: [[Int]] = []
    @exclusivity(unchecked) var matched: [Int32] = []

    init(atoms: Int, fields: Int, rules: Int, units: Int) {
        core = UnsafeMutablePointer<ScratchCore>.allocate(capacity: 1)
        core.initialize(to: ScratchCore(atoms: atoms, fields: fields, rules: rules))
        layouts = Array(repeating: [], count: units)
        layoutNext = Array(repeating: 0, count: units)
    }

    deinit { core.pointee.free(); core.deinitialize(count: 1); core.deallocate() }
}

extension CompiledUnit {
    /// Fills the slot → event field index map for this event's field names.
    @inline(__always)
    func resolveLayout(_ names: [String], _ s: Scratch, unit: Int) {
        let layout = s.core.pointee.layout
        for entry in s.layouts[unit] where entry.names == names {
            entry.map.withUnsafeBufferPointer { m in
                for i in 0..<m.count { layout[i] = m[i] }
            }
            return
        }
        var map = [Int32](repeating: -1, count: fieldNames.count)
        for (i, n) in names.enumerated() { if let slot = fieldIndex[n], map[Int(slot)] < 0 { map[Int(slot)] = Int32(i) } }
        for i in 0..<map.count { layout[i] = map[i] }
        if s.layouts[unit].count < 8 {
            s.layouts[unit].append((names, map))
        } else {
            s.layouts[unit][s.layoutNext[unit]] = (names, map)
            s.layoutNext[unit] = (s.layoutNext[unit] + 1) % 8
        }
    }

    /// Evaluates every applicable rule; appends matching engine rule indices to `s.matched`.
    func evaluate(_ event: Event, _ s: Scratch, unit: Int) {
        s.core.pointee.nextGen()  // the caller has called beginEvent
        resolveLayout(event.names, s, unit: unit)
        let c = s.core
        event.values.withUnsafeBufferPointer { values in
            var ctx = EvalContext(unit: self, c: c, values: values, md: s.md.pointer)
            for f in anchorFields { ctx.runAC(f, collect: true) }
            var i = 0
            while i < c.pointee.candCount {
                let r = c.pointee.cand[i]
                if ctx.evalNode(ruleRoot[Int(r)]) { s.matched.append(ruleGlobal[Int(r)]) }
                i += 1
            }
            for r in alwaysRules where ctx.evalNode(ruleRoot[Int(r)]) { s.matched.append(ruleGlobal[Int(r)]) }
        }
    }
}

/// Marks the atoms a `contains` literal hit satisfies (a group's pattern → atoms table) and,
/// with `collect`, the rules they anchor as candidates: the whole-buffer and skipping scans'
/// callback (no mode to check: every atom of theirs is `contains`).
struct HitMarker {
    let gen: UInt32
    let hit: UnsafeMutablePointer<UInt32>, ruleStamp: UnsafeMutablePointer<UInt32>, cand: UnsafeMutablePointer<Int32>
    let isAnchor: UnsafeMutablePointer<Bool>, anchorStart: UnsafeMutablePointer<Int32>, anchorRules: UnsafeMutablePointer<Int32>
    let collect: Bool
    var candCount: Int

    @inline(__always)
    init(_ unit: CompiledUnit, _ core: UnsafeMutablePointer<ScratchCore>, collect: Bool, candCount: Int) {
        gen = core.pointee.gen
        hit = core.pointee.acHit; ruleStamp = core.pointee.ruleStamp; cand = core.pointee.cand
        isAnchor = unit.isAnchorPtr; anchorStart = unit.anchorStartPtr; anchorRules = unit.anchorRulePtr
        self.collect = collect
        self.candCount = candCount
    }

    @inline(__always)
    mutating func mark(_ patStart: UnsafeMutablePointer<Int32>, _ patAtoms: UnsafeMutablePointer<Int32>, _ p: Int32) {
        for i in Int(patStart[Int(p)])..<Int(patStart[Int(p) + 1]) {
            let atom = Int(patAtoms[i])
            if hit[atom] == gen { continue }
            hit[atom] = gen
            if collect && isAnchor[atom] {
                for j in Int(anchorStart[atom])..<Int(anchorStart[atom + 1]) {
                    let r = Int(anchorRules[j])
                    if ruleStamp[r] != gen { ruleStamp[r] = gen; cand[candCount] = Int32(r); candCount += 1 }
                }
            }
        }
    }
}

struct EvalContext {
    unowned(unsafe) let unit: CompiledUnit
    let c: UnsafeMutablePointer<ScratchCore>
    let values: UnsafeBufferPointer<FieldValue>
    let md: OpaquePointer

    @inline(__always)
    func value(_ f: Int32) -> FieldValue? {
        let i = c.pointee.layout[Int(f)]
        return i >= 0 ? values[Int(i)] : nil
    }

    /// Event field indices a slot reads: the keyword slot reads every field.
    @inline(__always)
    func eventFields(_ f: Int32) -> Range<Int> {
        if f == unit.keywordSlot { return 0..<values.count }
        let i = Int(c.pointee.layout[Int(f)])
        return i >= 0 ? i..<(i + 1) : 0..<0
    }

    /// Folded byte ranges of event field `e` (one per scalar element): (first range, count).
    @inline(__always)
    func foldedEvent(_ e: Int) -> (Int, Int) {
        if c.pointee.evFoldStamp[e] == c.pointee.evGen { return (Int(c.pointee.evFoldFirst[e]), Int(c.pointee.evFoldCount[e])) }
        let first = c.pointee.rangeCount
        let v = values.baseAddress.unsafelyUnwrapped + e
        // A string (nearly every value) read in place: `appendFolded(values[e])` copied the
        // value, a retain and a release of its storage per field.
        if v.pointee.withUTF8IfString({ appendBytes($0) }) == nil { appendFolded(v.pointee, depth: 0) }
        let count = c.pointee.rangeCount - first
        c.pointee.evFoldStamp[e] = c.pointee.evGen; c.pointee.evFoldFirst[e] = Int32(first); c.pointee.evFoldCount[e] = Int32(count)
        return (first, count)
    }

    /// A value's bytes lowercased into the fold buffer, then its range and a NUL. ASCII (nearly
    /// every value) is lowercased eight bytes at a time (`Fold.lower8`), the last bytes of a
    /// value of eight or more as the word that ends it (overlapping the one before); from the
    /// first word holding another byte on, `appendNonASCII` folds the rest.
    private func appendBytes(_ u: UnsafeBufferPointer<UInt8>) {
        let n = u.count
        c.pointee.reserve(n &+ 1)
        let start = c.pointee.bufLen
        guard let src = u.baseAddress else {
            c.pointee.addRange(start, start)
            c.pointee.appendSeparator()
            return
        }
        let high: UInt64 = 0x8080_8080_8080_8080
        let dst = c.pointee.buf + start
        var i = 0
        while i &+ 8 <= n {
            let w = UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self)
            if w & high != 0 { break }
            UnsafeMutableRawPointer(dst + i).storeBytes(of: Fold.lower8(w), as: UInt64.self)
            i &+= 8
        }
        if i < n && n >= 8 && n &- i < 8 {
            let w = UnsafeRawPointer(src + (n &- 8)).loadUnaligned(as: UInt64.self)
            if w & high == 0 {
                UnsafeMutableRawPointer(dst + (n &- 8)).storeBytes(of: Fold.lower8(w), as: UInt64.self)
                i = n
            }
        }
        while i < n && src[i] < 0x80 {
            dst[i] = Fold.lower(src[i])
            i &+= 1
        }
        if i == n {
            c.pointee.bufLen = start &+ n
        } else {
            appendNonASCII(u, from: i, start: start)
        }
        c.pointee.addRange(start, c.pointee.bufLen)
        c.pointee.appendSeparator()
    }

    /// `appendBytes` from byte `i` of the value on, the bytes before it folded at `start`: ASCII
    /// words still go eight at a time and the rest scalar by scalar (`Fold.foldNonASCII`, as
    /// `Fold.foldUTF8` folds them). Apart from `appendBytes`, whose ASCII path then sets up
    /// nothing this needs.
    @inline(never)
    private func appendNonASCII(_ u: UnsafeBufferPointer<UInt8>, from i0: Int, start: Int) {
        let n = u.count
        let src = u.baseAddress.unsafelyUnwrapped
        let high: UInt64 = 0x8080_8080_8080_8080
        var i = i0
        // The folded ASCII prefix is kept (`bufLen` covers it across a reallocation);
        // lowercasing can grow a scalar's encoding (at most 3× for the longest mappings).
        c.pointee.bufLen = start &+ i
        c.pointee.reserve((n &- i) &* 3 &+ 8)
        let dst = c.pointee.buf + start
        var w = i
        let table = Fold.twoByte
        while i < n {
            if i &+ 8 <= n {
                let word = UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self)
                if word & high == 0 {
                    UnsafeMutableRawPointer(dst + w).storeBytes(of: Fold.lower8(word), as: UInt64.self)
                    i &+= 8; w &+= 8
                    continue
                }
            }
            let b = src[i]
            if b < 0x80 {
                dst[w] = Fold.lower(b); w &+= 1; i &+= 1
                continue
            }
            i &+= Fold.foldNonASCII(u, i, table) {
                dst[w] = $0; w &+= 1
            }
        }
        c.pointee.bufLen = start &+ w
    }

    /// An integer's decimal digits, as `FieldValue.stringValue` prints it, written straight
    /// into the fold buffer: auditd SYSCALL records and process events carry a dozen integers
    /// that every keyword scan folds, and a `String` per integer was a measurable share of
    /// the evaluation (digits and '-' fold to themselves).
    private func appendDecimal(_ i: Int64) {
        c.pointee.reserve(21)
        let start = c.pointee.bufLen
        let dst = c.pointee.buf + start
        var m = i.magnitude
        var digits = 1
        var p: UInt64 = 10
        while digits < 20 && m >= p { digits &+= 1; p = p &* 10 }
        var w = 0
        if i < 0 { dst[0] = UInt8(ascii: "-"); w = 1 }
        var k = w &+ digits &- 1
        repeat {
            let q = m / 10
            dst[k] = UInt8(truncatingIfNeeded: 48 &+ (m &- q &* 10))
            m = q
            k &-= 1
        } while m != 0
        c.pointee.bufLen = start &+ w &+ digits
        c.pointee.addRange(start, c.pointee.bufLen)
        c.pointee.appendSeparator()
    }

    private func appendFolded(_ v: FieldValue, depth: Int) {
        switch v {
        case .null: return
        case .array(let items):
            if depth < 4 { for it in items { appendFolded(it, depth: depth + 1) } }
        case .string(let str):
            if v.withUTF8IfString({ appendBytes($0) }) != nil { return }
            let a = Array(str.utf8)
            a.withUnsafeBufferPointer { appendBytes($0) }
        case .int(let i):
            appendDecimal(i)
        default:
            guard var t = v.stringValue else { return }
            t.withUTF8 { appendBytes($0) }
        }
    }

    /// Runs the field's literal matchers once and marks every literal atom they satisfy.
    /// The checks inline (a field already scanned, without literals or absent from the event:
    /// half the calls per Linux exec), the scan itself (`scanField`, a large frame) only when
    /// there is something to scan.
    @inline(__always)
    func runAC(_ f: Int32, collect: Bool) {
        let core = c
        if core.pointee.fieldDone[Int(f)] == core.pointee.gen { return }
        core.pointee.fieldDone[Int(f)] = core.pointee.gen
        if unit.fieldGroupCount[Int(f)] == 0 && unit.fieldSkipCount[Int(f)] == 0 { return }
        if f != unit.keywordSlot ? core.pointee.layout[Int(f)] < 0 : values.isEmpty { return }
        scanField(f, collect: collect)
    }

    @inline(never)
    private func scanField(_ f: Int32, collect: Bool) {
        let core = c
        let gcount = Int(unit.fieldGroupCount[Int(f)])
        let scount = Int(unit.fieldSkipCount[Int(f)])
        let evs = eventFields(f)
        let gfirst = Int(unit.fieldGroupFirst[Int(f)])
        if f == unit.keywordSlot && unit.keywordOnePass {
            // Every field is folded now (integers too unless no literal can lie in their digits)
            // and the buffer holds only this event's values, each followed by a NUL: one scan for
            // all of them (contains patterns only, no NUL in them).
            if unit.keywordSkipsInts {
                for e in evs {
                    if case .int = values[e] { continue }
                    _ = foldedEvent(e)
                }
            } else {
                for e in evs { _ = foldedEvent(e) }
            }
            scanWhole(gfirst, gcount, collect: collect)
            let sfirst = Int(unit.fieldSkipFirst[Int(f)])
            for si in sfirst..<(sfirst + scount) {
                core.pointee.candCount = skipScan(si, core.pointee.buf, core.pointee.bufLen, collect: collect, core.pointee.candCount)
            }
            return
        }
        for e in evs { _ = foldedEvent(e) }
        let gen = core.pointee.gen
        let hit = core.pointee.acHit, rstamp = core.pointee.ruleStamp, cand = core.pointee.cand
        let acMode = unit.acMode, isAnchor = unit.isAnchorPtr, aStart = unit.anchorStartPtr, aRules = unit.anchorRulePtr
        let buf = core.pointee.buf, ranges = core.pointee.ranges
        var candCount = core.pointee.candCount
        for e in evs {
            let first = Int(core.pointee.evFoldFirst[e]), count = Int(core.pointee.evFoldCount[e])
            for gi in gfirst..<(gfirst + gcount) {
                let hot = unit.groupHot[Int(unit.fieldGroupIDs[gi])]
                let ps = hot.patStart, pa = hot.patAtoms, plen = hot.patLength
                for k in first..<(first + count) {
                    let a = Int(ranges[k * 2]), b = Int(ranges[k * 2 + 1])
                    let len = b - a
                    let onHit: (Int32, Int) -> Void = { p, end in
                        let st = end - Int(plen[Int(p)])
                        for i in Int(ps[Int(p)])..<Int(ps[Int(p) + 1]) {
                            let atom = Int(pa[i])
                            if hit[atom] == gen { continue }
                            let ok: Bool
                            switch acMode[atom] {
                            case LitMode.contains.rawValue: ok = true
                            case LitMode.prefix.rawValue: ok = st == 0
                            case LitMode.suffix.rawValue: ok = end == len
                            default: ok = st == 0 && end == len
                            }
                            if ok {
                                hit[atom] = gen
                                if collect && isAnchor[atom] {
                                    for j in Int(aStart[atom])..<Int(aStart[atom + 1]) {
                                        let r = Int(aRules[j])
                                        if rstamp[r] != gen { rstamp[r] = gen; cand[candCount] = Int32(r); candCount += 1 }
                                    }
                                }
                            }
                        }
                    }
                    switch hot.kind {
                    case 0: hot.ac.unsafelyUnwrapped.pointee.scan(buf + a, len, core.pointee.acHits, onHit)
                    case 1: hot.trie.unsafelyUnwrapped.pointee.walk(buf + a, len, reversed: false, onHit)
                    default: hot.trie.unsafelyUnwrapped.pointee.walk(buf + a, len, reversed: true, onHit)
                    }
                }
            }
        }
        if scount > 0 {
            let sfirst = Int(unit.fieldSkipFirst[Int(f)])
            for e in evs {
                let first = Int(core.pointee.evFoldFirst[e]), count = Int(core.pointee.evFoldCount[e])
                for si in sfirst..<(sfirst + scount) {
                    for k in first..<(first + count) {
                        let a = Int(ranges[k * 2]), b = Int(ranges[k * 2 + 1])
                        candCount = skipScan(si, buf + a, b - a, collect: collect, candCount)
                    }
                }
            }
        }
        core.pointee.candCount = candCount
    }

    /// `runAC` for the keyword slot of a unit whose keyword literals are all `contains`.
    private func scanWhole(_ gfirst: Int, _ gcount: Int, collect: Bool) {
        let core = c
        var marker = HitMarker(unit, core, collect: collect, candCount: core.pointee.candCount)
        for gi in gfirst..<(gfirst + gcount) {
            let hot = unit.groupHot[Int(unit.fieldGroupIDs[gi])]
            let ps = hot.patStart, pa = hot.patAtoms
            hot.ac.unsafelyUnwrapped.pointee.scan(core.pointee.buf, core.pointee.bufLen, core.pointee.acHits) { p, _ in marker.mark(ps, pa, p) }
        }
        core.pointee.candCount = marker.candCount
    }

    /// A `SkipScanner` group (`contains` literals only) over `count` folded bytes: marks the
    /// atoms of every pattern found, and with `collect` their rules as candidates.
    @inline(never)
    private func skipScan(_ si: Int, _ text: UnsafePointer<UInt8>, _ count: Int, collect: Bool, _ candCount0: Int) -> Int {
        var marker = HitMarker(unit, c, collect: collect, candCount: candCount0)
        let hot = unit.skipHot[si]
        let ps = hot.patStart, pa = hot.patAtoms
        hot.view.pointee.scan(text, count) { p, _ in marker.mark(ps, pa, p) }
        return marker.candCount
    }

    func evalNode(_ n: Int32) -> Bool {
        let r = unit.nodePtr[Int(n)]
        switch r.op {
        case 0: return atomValue(r.a)
        case 1:
            var k = r.a
            while k < r.b { if !evalChild(unit.childPtr[Int(k)]) { return false }; k += 1 }
            return true
        case 2:
            var k = r.a
            while k < r.b { if evalChild(unit.childPtr[Int(k)]) { return true }; k += 1 }
            return false
        case 3: return !evalNode(r.a)
        case 4: return true
        case 6, 7:
            // Any (6) or all (7) of a field's automaton atoms: the field scanned once, then
            // their hit marks.
            let set = unit.literalSetAtoms
            runAC(unit.atomField[Int(set[Int(r.a)])], collect: false)
            let hit = c.pointee.acHit, gen = c.pointee.gen
            let any = r.op == 6
            var k = Int(r.a)
            while k < Int(r.b) {
                if (hit[Int(set[k])] == gen) == any { return any }
                k &+= 1
            }
            return !any
        default: return false
        }
    }

    /// `evalNode` for a child of an `and`/`or`: an automaton atom (half the children visited in
    /// Windows process_creation) is read in place, without a call of its own.
    @inline(__always)
    func evalChild(_ n: Int32) -> Bool {
        let r = unit.nodePtr[Int(n)]
        if r.op == 0 && unit.atomIsAC[Int(r.a)] { return acAtom(Int(r.a)) }
        return evalNode(n)
    }

    /// Whether automaton atom `a` holds: its field scanned (once per event, `runAC`), then its
    /// hit mark.
    @inline(__always)
    func acAtom(_ a: Int) -> Bool {
        runAC(unit.atomField[a], collect: false)
        return c.pointee.acHit[a] == c.pointee.gen
    }

    func atomValue(_ a: Int32) -> Bool {
        let ai = Int(a)
        if unit.atomIsAC[ai] { return acAtom(ai) }
        if c.pointee.memoStamp[ai] == c.pointee.gen { return c.pointee.memoVal[ai] }
        var v = false
        let gate = unit.atomGate[ai]
        if gate < 0 || atomValue(gate) { v = compute(ai) }
        c.pointee.memoStamp[ai] = c.pointee.gen
        c.pointee.memoVal[ai] = v
        return v
    }

    /// Whether any scalar element of the field satisfies `body`, over folded bytes.
    func anyFolded(_ f: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        for e in eventFields(f) {
            let (first, count) = foldedEvent(e)
            let buf = c.pointee.buf, ranges = c.pointee.ranges  // reread: folding may grow them
            for k in first..<(first + count) {
                let a = Int(ranges[k * 2]), b = Int(ranges[k * 2 + 1])
                if body(UnsafeBufferPointer(start: buf + a, count: b - a)) { return true }
            }
        }
        return false
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

    /// String tests; `f` is the field slot (keyword slot included) for folded access, `v` the raw value.
    func stringTest(_ kind: AtomKind, _ f: Int32, _ v: FieldValue?) -> Bool {
        switch kind {
        case .lit(let mode, let p, let cased):
            if cased { guard let v else { return false }; return EvalContext.anyRaw(v) { ScalarEval.lit(mode, p, $0) } }
            return anyFolded(f) { ScalarEval.lit(mode, p, $0) }
        case .glob(let toks, let cased):
            if cased { guard let v else { return false }; return EvalContext.anyRaw(v) { ScalarEval.glob(toks, $0) } }
            return anyFolded(f) { ScalarEval.glob(toks, $0) }
        case .regex(let re):
            guard let v else { return false }
            let md = self.md
            return EvalContext.anyRaw(v) { re.matches($0, md) }
        default:
            return false
        }
    }

    func compute(_ ai: Int) -> Bool {
        if unit.atomIsLit[ai] {
            // Case-insensitive literal on a field (or on every field): no enum payload copies.
            let p = unit.litPool + Int(unit.litOff[ai]), n = Int(unit.litLen[ai])
            let mode = LitMode(rawValue: unit.acMode[ai]).unsafelyUnwrapped
            return anyFolded(unit.atomField[ai]) { ScalarEval.lit(mode, p, n, $0) }
        }
        let atom = unit.atoms[ai]
        let f = atom.field
        if f == unit.keywordSlot {
            // Keyword: any field of the event.
            switch atom.kind {
            case .lit(_, _, let cased), .glob(_, let cased):
                if !cased { return stringTest(atom.kind, f, nil) }
            default: break
            }
            for i in 0..<values.count where stringTest(atom.kind, f, values[i]) { return true }
            return false
        }
        let v = value(f)
        switch atom.kind {
        case .ac, .lit, .glob, .regex:
            return stringTest(atom.kind, f, v)
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
        case .cidr(let cidr):
            guard let v else { return false }
            return EvalContext.anyScalar(v) { x in
                guard case .string(let str) = x, let ip = IPAddr.parse(str) else { return false }
                return cidr.contains(ip)
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
