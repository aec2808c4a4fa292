import EDRCore
import EDRRegex

/// One compiled test on one field slot (or on every field, for keywords: `field == -1`).
enum AtomKind {
    /// Resolved through the field's shared Aho–Corasick automaton.
    case ac(LitMode, length: Int32)
    case lit(LitMode, [UInt8], cased: Bool)
    case glob([GlobTok], cased: Bool)
    case regex(PCREPattern)
    case isNull
    case exists(Bool)
    case num(NumOp, Double)
    case time(TimeUnit, NumOp, Double)
    case cidr(CIDR)
    case fieldref(Int32, LitMode, cased: Bool)
}

struct Atom {
    var kind: AtomKind
    var field: Int32
    /// An AC atom that must hold for this atom to hold (a literal segment of a glob); -1 if none.
    var gate: Int32 = -1
}

/// A field's literal group as its scan loop reads it. The automaton's and the trie's tables are
/// behind a pointer: held inline (224 bytes), the record was copied to the stack whole for each
/// group of each field of each event.
struct GroupHot {
    let kind: UInt8  // 0 unanchored automaton, 1 forward trie, 2 reverse trie, 3 skipping scan (scanned through `skipHot`)
    let ac: UnsafeMutablePointer<ACView>?
    let trie: UnsafeMutablePointer<TrieView>?
    let patLength: UnsafeMutablePointer<Int32>
    let patStart: UnsafeMutablePointer<Int32>
    let patAtoms: UnsafeMutablePointer<Int32>
}

struct NodeRec {
    /// 0 atom, 1 and, 2 or, 3 not, 4 true, 5 false; 6 any and 7 all of the automaton atoms
    /// `literalSetAtoms[a ..< b]`, all of one field (`SigmaOptions.literalSets`).
    var op: UInt8
    var a: Int32
    var b: Int32
}

/// A field's `contains` literals matched by a `SkipScanner`. Kept apart from `GroupHot`
/// (and its field's list of groups): a larger record there slowed every automaton scan.
struct SkipHot {
    let view: UnsafeMutablePointer<SkipView>
    let patStart: UnsafeMutablePointer<Int32>
    let patAtoms: UnsafeMutablePointer<Int32>
}

/// Literal patterns of one field, matched together.
struct ACGroup {
    let kind: UInt8
    let ac: AhoCorasick?
    let trie: AnchoredTrie?
    let skip: SkipScanner?
    /// atoms hit by pattern p: patAtoms[patStart[p] ..< patStart[p+1]]
    let patStart: [Int32]
    let patAtoms: [Int32]
}

/// All rules sharing one logsource key, compiled together.
final class CompiledUnit: @unchecked Sendable {
    let logsource: LogSource
    let fieldNames: [String]
    let fieldIndex: [String: Int32]
    let atoms: [Atom]
    let groups: [ACGroup]
    let fieldGroupList: [[Int32]]
    let fieldGroupFirst: UnsafeMutablePointer<Int32>
    let fieldGroupCount: UnsafeMutablePointer<Int32>
    let fieldGroupIDs: UnsafeMutablePointer<Int32>
    /// Per field: its `SkipScanner` groups, `skipHot[fieldSkipFirst[f] ..< + fieldSkipCount[f]]`.
    let fieldSkipFirst: UnsafeMutablePointer<Int32>
    let fieldSkipCount: UnsafeMutablePointer<Int32>
    let skipHot: UnsafeMutablePointer<SkipHot>
    let groupPatStart: [UnsafeMutablePointer<Int32>]
    let groupPatAtoms: [UnsafeMutablePointer<Int32>]
    /// Hot per-group data: automaton view, pattern → atoms tables.
    let groupHot: UnsafeMutablePointer<GroupHot>
    /// The evaluated program (`nodePtr`, `childPtr`), literal sets included.
    let nodes: [NodeRec]
    let children: [Int32]
    let ruleRoot: [Int32]
    let ruleGlobal: [Int32]  // unit rule → engine rule index
    let anchorFields: [Int32]
    let isAnchor: [Bool]  // per atom
    let anchorRuleStart: [Int32]  // per atom (+1)
    let anchorRules: [Int32]
    let alwaysRules: [Int32]
    /// Slot of the keyword pseudo field, or -1.
    let keywordSlot: Int32
    /// The keyword slot's literals are scanned over the whole fold buffer at once (`scanWhole`).
    let keywordOnePass: Bool
    /// No keyword literal of the one pass can lie inside an integer's decimal digits (each holds
    /// a byte other than a digit or '-'), so integer values are left out of the pass.
    let keywordSkipsInts: Bool
    /// Units whose rules this unit holds as well (they cover its logsource): an event routed
    /// here is not evaluated by them (`SigmaEngine.route`).
    var includedUnits: [Int] = []
    /// For a logsource whose events are of several kinds (`SigmaFieldDomain.schema`: an auditd
    /// record's `type`): the field naming the kind and, per kind (lower case), the unit that
    /// holds only the rules that can be true on it; an event of another kind is evaluated here.
    var kindField: String? = nil
    var kindUnits: [KindKey] = []
    /// Set on such a per-kind unit: the kind it is for (it is never on a route itself).
    var kind: String? = nil
    /// Hot per-atom data: 0 = automaton atom, 1 = other; automaton mode; field; gate.
    let atomIsAC: UnsafeMutablePointer<Bool>
    let acMode: UnsafeMutablePointer<UInt8>
    let atomField: UnsafeMutablePointer<Int32>
    let atomGate: UnsafeMutablePointer<Int32>
    let nodePtr: UnsafeMutablePointer<NodeRec>
    let childPtr: UnsafeMutablePointer<Int32>
    /// The atoms of the literal-set nodes (ops 6 and 7).
    let literalSetAtoms: UnsafeMutablePointer<Int32>
    let anchorStartPtr: UnsafeMutablePointer<Int32>
    let anchorRulePtr: UnsafeMutablePointer<Int32>
    let isAnchorPtr: UnsafeMutablePointer<Bool>
    /// Case-insensitive literal atoms tested one by one: bytes in one pool.
    let atomIsLit: UnsafeMutablePointer<Bool>
    let litOff: UnsafeMutablePointer<Int32>
    let litLen: UnsafeMutablePointer<Int32>
    let litPool: UnsafeMutablePointer<UInt8>

    deinit {
        atomIsAC.deallocate(); acMode.deallocate(); atomField.deallocate(); atomGate.deallocate()
        atomIsLit.deallocate(); litOff.deallocate(); litLen.deallocate(); litPool.deallocate()
        nodePtr.deallocate(); childPtr.deallocate(); literalSetAtoms.deallocate(); anchorStartPtr.deallocate(); anchorRulePtr.deallocate();
        isAnchorPtr.deallocate()
        for i in groups.indices { groupHot[i].ac?.deallocate(); groupHot[i].trie?.deallocate() }
        groupHot.deallocate(); fieldGroupFirst.deallocate(); fieldGroupCount.deallocate(); fieldGroupIDs.deallocate()
        fieldSkipFirst.deallocate(); fieldSkipCount.deallocate(); skipHot.deallocate()
        for p in groupPatStart { p.deallocate() }
        for p in groupPatAtoms { p.deallocate() }
    }

    private static func copy<T>(_ a: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(a.count, 1))
        p.initialize(from: a, count: a.count)
        return p
    }

    init(builder b: UnitBuilder) {
        logsource = b.logsource
        fieldNames = b.fieldNames
        fieldIndex = b.fieldIndex
        ruleRoot = b.ruleRoot
        ruleGlobal = b.ruleGlobal
        var atoms = b.atoms

        // Anchors: for each rule, a set of AC atoms at least one of which must hold. Of a
        // conjunction's parts, the anchor comes from the one whose literals are on selective
        // fields, then at least `anchorLengthCap` bytes long, then shared by the fewest rules of
        // the unit (Windows process_creation: 23 → 14 candidate rules per event in the bench's
        // mix), then longest, then fewest.
        var isAnchor = [Bool](repeating: false, count: atoms.count)
        var byAtom: [[Int32]] = Array(repeating: [], count: atoms.count)
        var always: [Int32] = []
        var anchorFieldSet = Set<Int32>()
        let nodes = b.nodes, children = b.children
        let unselective = Set(b.fieldNames.indices.filter { b.unselective.contains(b.fieldNames[$0]) }.map(Int32.init))
        // How many rules of the unit test each atom: a literal many rules share (a common
        // executable's name) is one events hold often.
        var usedBy = [Int32](repeating: 0, count: atoms.count)
        for root in b.ruleRoot {
            var seen = Set<Int32>()
            var stack = [root]
            while let n = stack.popLast() {
                let r = nodes[Int(n)]
                switch r.op {
                case 0:
                    seen.insert(r.a)
                    if atoms[Int(r.a)].gate >= 0 { seen.insert(atoms[Int(r.a)].gate) }
                case 1, 2: for k in r.a..<r.b { stack.append(children[Int(k)]) }
                case 3: stack.append(r.a)
                default: break
                }
            }
            for a in seen { usedBy[Int(a)] += 1 }
        }
        let lengthCap = UnitBuilder.anchorLengthCap
        func anchors(_ n: Int32, _ depth: Int) -> [Int32]? {
            if depth > 100 { return nil }
            let r = nodes[Int(n)]
            switch r.op {
            case 0:
                let a = atoms[Int(r.a)]
                if case .ac = a.kind { return [r.a] }
                if a.gate >= 0 { return [a.gate] }
                return nil
            case 1:
                var best: [Int32]? = nil
                var bestScore = -1
                for k in r.a..<r.b {
                    guard let s = anchors(children[Int(k)], depth + 1) else { continue }
                    let minLen = s.map { atomLen(atoms[Int($0)]) }.min() ?? 1000
                    let selective = s.allSatisfy { !unselective.contains(atoms[Int($0)].field) }
                    let shared = Int(s.map { usedBy[Int($0)] }.max() ?? 0)
                    var score: Int = selective ? 1 << 50 : 0
                    score += min(minLen, lengthCap) << 40
                    let rarity: Int = (1 << 20) - 1 - min(shared, (1 << 20) - 1)
                    score += rarity << 16
                    score += min(minLen, 255) << 8
                    score += 255 - min(s.count, 255)
                    if score > bestScore { bestScore = score; best = s }
                }
                return best
            case 2:
                var u: [Int32] = []
                for k in r.a..<r.b {
                    guard let s = anchors(children[Int(k)], depth + 1) else { return nil }
                    u.append(contentsOf: s)
                }
                return u
            case 5: return []
            default: return nil
            }
        }
        for (ri, root) in b.ruleRoot.enumerated() {
            if let s = anchors(root, 0) {
                for a in Set(s) { isAnchor[Int(a)] = true; byAtom[Int(a)].append(Int32(ri)); anchorFieldSet.insert(atoms[Int(a)].field) }
            } else {
                always.append(Int32(ri))
            }
        }
        // Fields holding anchors are scanned for every event anyway, so all their literals share
        // the scan. Literals on other fields are tested one by one (memoized) only for the rules
        // that become candidates.
        for i in atoms.indices where !anchorFieldSet.contains(atoms[i].field) {
            if case .ac(let mode, _) = atoms[i].kind { atoms[i].kind = .lit(mode, b.acBytes[i]!, cased: false) }
        }

        // Literal groups per field: contains → Aho–Corasick; prefix/exact → forward trie;
        // suffix → reverse trie.
        var groups: [ACGroup] = []
        var fieldGroups = [[Int32]](repeating: [], count: b.fieldNames.count)
        var fieldSkips = [[Int32]](repeating: [], count: b.fieldNames.count)
        var perField: [Int32: [Int32]] = [:]
        for (i, a) in atoms.enumerated() { if case .ac = a.kind { perField[a.field, default: []].append(Int32(i)) } }
        for f in perField.keys.sorted() {
            let all = perField[f]!
            var byKind: [[Int32]] = [[], [], []]  // 0 AC, 1 forward, 2 reverse
            for a in all {
                guard case .ac(let mode, _) = atoms[Int(a)].kind else { continue }
                switch mode {
                case .contains: byKind[0].append(a)
                case .prefix, .exact: byKind[1].append(a)
                case .suffix: byKind[2].append(a)
                }
            }
            // A field scanned by an automaton anyway (`contains` literals, some shorter than a
            // skipping scan takes) has its prefix, exact and suffix literals in that automaton
            // too: a hit's position tells whether it holds (`EvalContext.scanField`), and the
            // two trie walks per value are saved (Windows process_creation: five fields).
            var kinds = [0, 1, 2]
            if b.anchoredInAutomaton && !byKind[0].isEmpty && b.fieldNames[Int(f)] != UnitBuilder.keywordField {
                let lengths = Set(byKind[0].map { b.acBytes[Int($0)]!.count })
                // As `SkipScanner.init` decides for a field (no short literal allowed).
                let long = lengths.contains { $0 >= SkipScanner.minimumLength }
                let short = lengths.contains { $0 > 0 && $0 < SkipScanner.minimumLength }
                let skips = b.skipScan && long && !short
                if !skips {
                    byKind[0] += byKind[1] + byKind[2]
                    kinds = [0]
                }
            }
            for kind in kinds where !byKind[kind].isEmpty {
                var patIndex: [[UInt8]: Int] = [:]
                var pats: [[UInt8]] = []
                var hits: [[Int32]] = []
                for a in byKind[kind] {
                    let bytes = b.acBytes[Int(a)]!
                    if let p = patIndex[bytes] {
                        hits[p].append(a)
                    } else {
                        patIndex[bytes] = pats.count; pats.append(bytes); hits.append([a])
                    }
                }
                var ps: [Int32] = []; var pa: [Int32] = []
                for h in hits { ps.append(Int32(pa.count)); pa.append(contentsOf: h) }
                ps.append(Int32(pa.count))
                // `contains` literals all long enough to skip over text: a skipping scan
                // (`SkipScanner`), else an automaton.
                let skip =
                    kind == 0 && b.skipScan && kinds.count == 3
                    ? SkipScanner(patterns: pats, maximumShort: b.fieldNames[Int(f)] == UnitBuilder.keywordField ? SkipScanner.keywordShort : 0)
                    : nil
                if skip != nil {
                    fieldSkips[Int(f)].append(Int32(groups.count))
                } else {
                    fieldGroups[Int(f)].append(Int32(groups.count))
                }
                groups.append(
                    ACGroup(
                        kind: skip != nil ? UInt8(3) : UInt8(kind), ac: kind == 0 && skip == nil ? AhoCorasick(patterns: pats) : nil,
                        trie: kind == 0 ? nil : AnchoredTrie(patterns: pats, reversed: kind == 2), skip: skip,
                        patStart: ps, patAtoms: pa))
            }
        }
        self.groups = groups
        self.fieldGroupList = fieldGroups
        groupPatStart = groups.map { Self.copy($0.patStart) }
        groupPatAtoms = groups.map { Self.copy($0.patAtoms) }
        var hot: [GroupHot] = []
        func boxed<T>(_ v: T?) -> UnsafeMutablePointer<T>? {
            guard let v else { return nil }
            let p = UnsafeMutablePointer<T>.allocate(capacity: 1)
            p.initialize(to: v)
            return p
        }
        for i in groups.indices {
            let g = groups[i]
            hot.append(
                GroupHot(
                    kind: g.kind, ac: boxed(g.ac?.view), trie: boxed(g.trie?.view),
                    patLength: g.ac?.patternLength ?? g.skip?.patternLength ?? g.trie!.view.patternLength,
                    patStart: groupPatStart[i], patAtoms: groupPatAtoms[i]))
        }
        groupHot = Self.copy(hot)
        var sh: [SkipHot] = [], sFirst: [Int32] = [], sCount: [Int32] = []
        for f in 0..<b.fieldNames.count {
            sFirst.append(Int32(sh.count)); sCount.append(Int32(fieldSkips[f].count))
            for g in fieldSkips[f] {
                sh.append(SkipHot(view: groups[Int(g)].skip!.view, patStart: groupPatStart[Int(g)], patAtoms: groupPatAtoms[Int(g)]))
            }
        }
        skipHot = Self.copy(sh)
        fieldSkipFirst = Self.copy(sFirst)
        fieldSkipCount = Self.copy(sCount)
        // Per field: up to three groups, packed as (first, count) into fieldGroupFirst/Count.
        var gl: [Int32] = []
        var first = [Int32](repeating: 0, count: b.fieldNames.count), cnt = [Int32](repeating: 0, count: b.fieldNames.count)
        for f in 0..<b.fieldNames.count { first[f] = Int32(gl.count); cnt[f] = Int32(fieldGroups[f].count); gl.append(contentsOf: fieldGroups[f]) }
        fieldGroupFirst = Self.copy(first)
        fieldGroupCount = Self.copy(cnt)
        fieldGroupIDs = Self.copy(gl)

        var st: [Int32] = []; var ar: [Int32] = []
        for l in byAtom { st.append(Int32(ar.count)); ar.append(contentsOf: l) }
        st.append(Int32(ar.count))
        self.isAnchor = isAnchor
        anchorRuleStart = st
        anchorRules = ar
        alwaysRules = always
        anchorFields = anchorFieldSet.sorted()
        keywordSlot = b.fieldIndex[UnitBuilder.keywordField] ?? -1
        // The keyword literals in one pass over all of an event's folded values (NUL-separated):
        // only when they are all `contains` automata (no anchored mode to check per value) whose
        // patterns hold no NUL, so NUL takes the automaton back to its root.
        if keywordSlot >= 0 && b.keywordOnePass {
            let ids = fieldGroups[Int(keywordSlot)], skips = fieldSkips[Int(keywordSlot)]
            keywordOnePass =
                !(ids.isEmpty && skips.isEmpty)
                && skips.allSatisfy { !groups[Int($0)].skip!.hasNUL }
                && ids.allSatisfy { g in
                    guard let ac = groups[Int(g)].ac, groups[Int(g)].kind == 0 else { return false }
                    return ac.nClasses < 256 && ac.classOf[0] == 0
                }
        } else {
            keywordOnePass = false
        }
        let kw = keywordSlot
        keywordSkipsInts =
            keywordOnePass
            && atoms.indices.allSatisfy { i in
                guard atoms[i].field == kw, case .ac = atoms[i].kind, let bytes = b.acBytes[i] else { return true }
                return bytes.contains { ($0 < UInt8(ascii: "0") || $0 > UInt8(ascii: "9")) && $0 != UInt8(ascii: "-") }
            }
        atomIsAC = Self.copy(
            atoms.map {
                if case .ac = $0.kind { return true }; return false
            })
        var isLit: [Bool] = [], offs: [Int32] = [], lens: [Int32] = [], pool: [UInt8] = [], modes: [UInt8] = []
        for a in atoms {
            switch a.kind {
            case .ac(let m, _): isLit.append(false); offs.append(0); lens.append(0); modes.append(m.rawValue)
            case .lit(let m, let bytes, cased: false):
                isLit.append(true); offs.append(Int32(pool.count)); lens.append(Int32(bytes.count)); pool.append(contentsOf: bytes)
                modes.append(m.rawValue)
            default: isLit.append(false); offs.append(0); lens.append(0); modes.append(0)
            }
        }
        acMode = Self.copy(modes)
        atomIsLit = Self.copy(isLit); litOff = Self.copy(offs); litLen = Self.copy(lens); litPool = Self.copy(pool)
        atomField = Self.copy(atoms.map(\.field))
        atomGate = Self.copy(atoms.map(\.gate))
        let (setNodes, setChildren, setAtoms) =
            b.literalSets ? Self.literalSets(b.nodes, b.children, atoms) : (b.nodes, b.children, [])
        self.nodes = setNodes
        self.children = setChildren
        nodePtr = Self.copy(setNodes)
        childPtr = Self.copy(setChildren)
        literalSetAtoms = Self.copy(setAtoms)
        anchorStartPtr = Self.copy(st)
        anchorRulePtr = Self.copy(ar)
        isAnchorPtr = Self.copy(isAnchor)
        self.atoms = atoms
    }

    /// The evaluated program: each `and`/`or` node's automaton atoms of one field, when it has
    /// two or more, become one node (op 7/6) that checks their hit marks in a loop, in the place
    /// of the first of them; the node's other children stay in their order after it. A node
    /// left with that one child becomes it. Automaton atoms are those of fields scanned for
    /// every event (`atomIsAC`): evaluating them has no effect but the field's scan, which runs
    /// once per event, so their order is free.
    static func literalSets(_ nodes0: [NodeRec], _ children0: [Int32], _ atoms: [Atom]) -> ([NodeRec], [Int32], [Int32]) {
        var nodes = nodes0, children = children0, list: [Int32] = []
        func automatonAtom(_ c: Int32) -> Int32? {
            let r = nodes0[Int(c)]
            guard r.op == 0, case .ac = atoms[Int(r.a)].kind else { return nil }
            return r.a
        }
        for n in nodes0.indices where nodes0[n].op == 1 || nodes0[n].op == 2 {
            let r = nodes0[n]
            var perField: [Int32: [Int32]] = [:]
            for k in r.a..<r.b {
                if let a = automatonAtom(children0[Int(k)]) { perField[atoms[Int(a)].field, default: []].append(a) }
            }
            if !perField.values.contains(where: { $0.count >= 2 }) { continue }
            var kids: [Int32] = []
            var placed = Set<Int32>()
            for k in r.a..<r.b {
                let c = children0[Int(k)]
                guard let a = automatonAtom(c), let set = perField[atoms[Int(a)].field], set.count >= 2 else { kids.append(c); continue }
                let f = atoms[Int(a)].field
                if !placed.insert(f).inserted { continue }
                let start = Int32(list.count)
                list.append(contentsOf: set)
                nodes.append(NodeRec(op: r.op == 2 ? 6 : 7, a: start, b: Int32(list.count)))
                kids.append(Int32(nodes.count - 1))
            }
            if kids.count == 1 {
                nodes[n] = nodes[Int(kids[0])]
            } else {
                let start = Int32(children.count)
                children.append(contentsOf: kids)
                nodes[n] = NodeRec(op: r.op, a: start, b: Int32(children.count))
            }
        }
        return (nodes, children, list)
    }

    /// The per-kind unit for this event, if this unit has them and the event is of one of
    /// their kinds (compared as Sigma compares: ASCII case folded).
    @inline(__always) func kindUnit(_ event: Event) -> Int? {
        guard let f = kindField, case .string(let v)? = event[f], let key = KindKey(v) else { return nil }
        for k in kindUnits where k.lo == key.lo && k.hi == key.hi { return k.unit }
        return nil
    }

    var memoryEstimate: Int {
        var n = 0
        for g in groups { n += (g.ac?.memoryBytes ?? 0) + (g.trie?.memoryBytes ?? 0) + (g.skip?.memoryBytes ?? 0) }
        return n
    }
}

@inline(__always) func atomLen(_ a: Atom) -> Int {
    if case .ac(_, let l) = a.kind { return Int(l) }
    return 1
}

/// A kind's name (at most 16 bytes, ASCII case folded) packed in two words, and its unit.
struct KindKey {
    var lo: UInt64 = 0, hi: UInt64 = 0
    var unit = -1

    /// Nil for a name longer than 16 bytes or holding a NUL (no kind is named so). The bytes
    /// are read from the string's storage (every record's type is looked up: through the
    /// UTF-8 view's indices a byte cost ≈ 50 instructions).
    @inline(__always) init?(_ name: String, unit: Int = -1) {
        let packed: (UInt64, UInt64)?? = name.utf8.withContiguousStorageIfAvailable { KindKey.pack($0) }
        guard let p = packed ?? Array(name.utf8).withUnsafeBufferPointer({ KindKey.pack($0) }) else { return nil }
        (lo, hi) = p
        self.unit = unit
    }

    @inline(__always) private static func pack(_ u: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        guard u.count <= 16 else { return nil }
        var lo: UInt64 = 0, hi: UInt64 = 0
        for n in 0..<u.count {
            let b = u[n]
            guard b != 0 else { return nil }
            if n < 8 { lo |= UInt64(Fold.lower(b)) << (8 * n) } else { hi |= UInt64(Fold.lower(b)) << (8 * (n - 8)) }
        }
        return (lo, hi)
    }
}

/// Collects rules of one logsource key and turns their `Expr`s into node programs.
final class UnitBuilder {
    /// Pseudo field standing for "every field of the event" (keyword searches).
    static let keywordField = "\u{0}keywords"
    let logsource: LogSource
    var fieldNames: [String] = []
    var fieldIndex: [String: Int32] = [:]
    var atoms: [Atom] = []
    var acBytes: [Int: [UInt8]] = [:]
    var atomIndex: [Pred: Int32] = [:]
    var nodes: [NodeRec] = []
    var children: [Int32] = []
    var ruleRoot: [Int32] = []
    var ruleGlobal: [Int32] = []
    let regexCache: RegexCache

    /// Fields whose values are few (a field domain's closed sets, such as an auditd record's
    /// `type`): a literal on them holds for a large share of events, so another literal of the
    /// rule is preferred as its anchor.
    var unselective: Set<String> = []
    /// Literal lengths from which an anchor counts as equally selective whatever its length: a
    /// conjunction's anchor is then chosen by how few of the unit's rules share its literals.
    static let anchorLengthCap = 4
    /// See `SigmaOptions.regexGates`.
    var regexGates = true
    /// See `SigmaOptions.keywordOnePass`.
    var keywordOnePass = true
    /// See `SigmaOptions.skipScan`.
    var skipScan = true
    /// See `SigmaOptions.literalSets`.
    var literalSets = true
    /// See `SigmaOptions.anchoredInAutomaton`.
    var anchoredInAutomaton = true

    init(logsource: LogSource, regexCache: RegexCache) { self.logsource = logsource; self.regexCache = regexCache }

    func slot(_ name: String) -> Int32 {
        if let s = fieldIndex[name] { return s }
        let s = Int32(fieldNames.count)
        fieldNames.append(name); fieldIndex[name] = s
        return s
    }

    func atom(_ p: Pred) throws -> Int32 {
        if let a = atomIndex[p] { return a }
        let f: Int32 = slot(p.field ?? UnitBuilder.keywordField)
        var atom: Atom
        switch p.test {
        case .lit(let mode, let bytes, let cased):
            if !cased && !bytes.isEmpty {
                atom = Atom(kind: .ac(mode, length: Int32(bytes.count)), field: f)
                acBytes[atoms.count] = bytes
            } else {
                atom = Atom(kind: .lit(mode, bytes, cased: cased), field: f)
            }
        case .glob(let toks, let cased):
            atom = Atom(kind: .glob(toks, cased: cased), field: f)
            if !cased {
                var best: [UInt8] = []
                for t in toks { if case .lit(let b) = t, b.count > best.count { best = b } }
                if best.count >= 2 {
                    atom.gate = try self.atom(Pred(field: p.field, test: .lit(.contains, best, cased: false)))
                }
            }
        case .regex(let pat, let flags):
            atom = Atom(kind: .regex(try regexCache.get(pat, flags)), field: f)
            // The longest required literal, even of one or two bytes: without one the regex
            // runs for every event (SigmaHQ's obfuscation rules hold only `&&`, `${`, `-f` or a
            // backtick).
            if regexGates, let lit = RegexLiteral.required(pat, caseless: flags & 1 != 0, minLength: 1) {
                atom.gate = try self.atom(Pred(field: p.field, test: .lit(.contains, lit, cased: false)))
            }
        case .isNull: atom = Atom(kind: .isNull, field: f)
        case .exists(let b): atom = Atom(kind: .exists(b), field: f)
        case .num(let op, let d): atom = Atom(kind: .num(op, d), field: f)
        case .time(let u, let op, let d): atom = Atom(kind: .time(u, op, d), field: f)
        case .cidr(let c): atom = Atom(kind: .cidr(c), field: f)
        case .fieldref(let other, let mode, let cased):
            atom = Atom(kind: .fieldref(slot(other), mode, cased: cased), field: f)
        }
        let id = Int32(atoms.count)
        atoms.append(atom)
        atomIndex[p] = id
        return id
    }

    private func emit(_ r: NodeRec) -> Int32 { nodes.append(r); return Int32(nodes.count - 1) }

    /// Simplifies and emits an expression; returns the node index.
    func compile(_ e: Expr, depth: Int = 0) throws -> Int32 {
        if depth > 300 { throw RuleError("detection nested too deeply") }
        switch e {
        case .const(let b): return emit(NodeRec(op: b ? 4 : 5, a: 0, b: 0))
        case .pred(let p): return emit(NodeRec(op: 0, a: try atom(p), b: 0))
        case .not(let x):
            let c = try compile(x, depth: depth + 1)
            let n = nodes[Int(c)]
            if n.op == 4 { return emit(NodeRec(op: 5, a: 0, b: 0)) }
            if n.op == 5 { return emit(NodeRec(op: 4, a: 0, b: 0)) }
            if n.op == 3 { return n.a }
            return emit(NodeRec(op: 3, a: c, b: 0))
        case .and(let items), .or(let items):
            let isAnd: Bool
            if case .and = e { isAnd = true } else { isAnd = false }
            var kids: [Int32] = []
            for it in items {
                let c = try compile(it, depth: depth + 1)
                let n = nodes[Int(c)]
                if n.op == (isAnd ? 4 : 5) { continue }  // neutral element
                if n.op == (isAnd ? 5 : 4) { return emit(NodeRec(op: n.op, a: 0, b: 0)) }  // absorbing
                if n.op == (isAnd ? 1 : 2) {  // flatten
                    kids.append(contentsOf: children[Int(n.a)..<Int(n.b)])
                } else {
                    kids.append(c)
                }
            }
            if kids.isEmpty { return emit(NodeRec(op: isAnd ? 4 : 5, a: 0, b: 0)) }
            if kids.count == 1 { return kids[0] }
            // Cheap tests first: AC/literal atoms before regexes and globs.
            kids.sort { cost($0) < cost($1) }
            let start = Int32(children.count)
            children.append(contentsOf: kids)
            return emit(NodeRec(op: isAnd ? 1 : 2, a: start, b: Int32(children.count)))
        }
    }

    private func cost(_ n: Int32) -> Int {
        let r = nodes[Int(n)]
        guard r.op == 0 else { return r.op == 3 ? 3 : 2 }
        switch atoms[Int(r.a)].kind {
        case .ac, .isNull, .exists, .num: return 0
        case .lit, .cidr, .fieldref, .time: return 1
        case .glob: return 2
        case .regex: return 4
        }
    }

    /// Adds one rule; on error nothing of the rule is referenced.
    func addRule(_ e: Expr, global: Int) throws {
        let root = try compile(e)
        ruleRoot.append(root)
        ruleGlobal.append(Int32(global))
    }
}

final class RegexCache: @unchecked Sendable {
    var cache: [String: PCREPattern] = [:]
    /// flags: 1 = i, 2 = m, 4 = s (Sigma `re` sub-modifiers).
    func get(_ p: String, _ flags: UInt32) throws -> PCREPattern {
        let key = "\(flags)/\(p)"
        if let r = cache[key] { return r }
        var options: PCREPattern.Options = [.utf]
        if flags & 1 != 0 { options.insert(.caseless) }
        if flags & 2 != 0 { options.insert(.multiline) }
        if flags & 4 != 0 { options.insert(.dotAll) }
        let r: PCREPattern
        do throws(PCREPattern.CompileError) {
            r = try PCREPattern(p, options: options)
        } catch {
            throw RuleError("invalid regular expression at offset \(error.offset): \(error.message)")
        }
        cache[key] = r
        return r
    }
}
