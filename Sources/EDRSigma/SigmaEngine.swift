public import EDRCore
import Foundation

// CONTRACT between EDRSigma and its users (EDRDetect, `edr validate`, `edr replay`).
// The engine lives in the other files of this module (parser, modifiers, condition grammar,
// compiler, evaluator, correlations); this file holds the public types.

/// Sigma rule severity, ordered.
public enum SigmaLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case informational = 0, low, medium, high, critical

    public init?(name: String) {
        switch name.lowercased() {
        case "informational", "info": self = .informational
        case "low": self = .low
        case "medium": self = .medium
        case "high": self = .high
        case "critical": self = .critical
        default: return nil
        }
    }
    public var description: String { ["informational", "low", "medium", "high", "critical"][rawValue] }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// A rule's metadata as the alert writer needs it. The fields live in one shared storage
/// (copied on the first write to a shared value): every match carries its rule's metadata, and
/// a copy was a retain and a release per string and array (a dozen) where it is now one.
public struct SigmaRuleInfo: Sendable {
    /// Written only while uniquely referenced (`storage(forWriting:)`), never after it is shared.
    final class Storage: @unchecked Sendable {
        var id: String?
        var title: String
        var description: String?
        var level: SigmaLevel
        var status: String?
        var author: String?
        var tags: [String]
        var references: [String]
        var falsepositives: [String]
        var logsource: LogSource
        var path: String

        init(
            id: String?, title: String, description: String?, level: SigmaLevel, status: String?, author: String?,
            tags: [String], references: [String], falsepositives: [String], logsource: LogSource, path: String
        ) {
            self.id = id; self.title = title; self.description = description; self.level = level; self.status = status
            self.author = author; self.tags = tags; self.references = references; self.falsepositives = falsepositives
            self.logsource = logsource; self.path = path
        }

        func copy() -> Storage {
            Storage(
                id: id, title: title, description: description, level: level, status: status, author: author, tags: tags,
                references: references, falsepositives: falsepositives, logsource: logsource, path: path)
        }
    }

    private var storage: Storage

    /// The same for two values that share their fields' storage, which then hold the same
    /// fields for as long as both exist (a write to either copies the storage first). A cache
    /// keyed by it keeps a copy of the value, so the identity is not reused meanwhile.
    public var identity: ObjectIdentifier { ObjectIdentifier(storage) }

    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    public var id: String? {
        get { storage.id }
        set { unique().id = newValue }
    }
    public var title: String {
        get { storage.title }
        set { unique().title = newValue }
    }
    public var description: String? {
        get { storage.description }
        set { unique().description = newValue }
    }
    public var level: SigmaLevel {
        get { storage.level }
        set { unique().level = newValue }
    }
    public var status: String? {
        get { storage.status }
        set { unique().status = newValue }
    }
    public var author: String? {
        get { storage.author }
        set { unique().author = newValue }
    }
    public var tags: [String] {
        get { storage.tags }
        set { unique().tags = newValue }
    }
    public var references: [String] {
        get { storage.references }
        set { unique().references = newValue }
    }
    public var falsepositives: [String] {
        get { storage.falsepositives }
        set { unique().falsepositives = newValue }
    }
    public var logsource: LogSource {
        get { storage.logsource }
        set { unique().logsource = newValue }
    }
    /// The rule file it came from.
    public var path: String {
        get { storage.path }
        set { unique().path = newValue }
    }

    public init(
        id: String?, title: String, description: String? = nil, level: SigmaLevel, status: String? = nil,
        author: String? = nil, tags: [String] = [], references: [String] = [], falsepositives: [String] = [],
        logsource: LogSource, path: String
    ) {
        storage = Storage(
            id: id, title: title, description: description, level: level, status: status, author: author, tags: tags,
            references: references, falsepositives: falsepositives, logsource: logsource, path: path)
    }

    /// ATT&CK technique ids from tags such as `attack.t1059.004` → `T1059.004`.
    public var attackTechniques: [String] {
        tags.compactMap { tag in
            let lower = tag.lowercased()
            guard lower.hasPrefix("attack.t"), lower.dropFirst(8).first?.isNumber == true else { return nil }
            return String(tag.dropFirst(7)).uppercased()
        }
    }
}

/// One rule that matched one event.
public struct SigmaMatch: Sendable {
    public var rule: SigmaRuleInfo
    /// Set when the match is a correlation rule that fired (the event is the one that completed it).
    public var correlation: SigmaCorrelationResult?
    public init(rule: SigmaRuleInfo, correlation: SigmaCorrelationResult? = nil) {
        self.rule = rule; self.correlation = correlation
    }
}

/// What happened to one rule document at load time.
public struct SigmaRuleDiagnostic: Sendable {
    public enum Status: Sendable, Equatable {
        case loaded
        case rejected(reason: String)
        case inert(reason: String)
    }
    public enum Kind: String, Sendable {
        case rule, filter, correlation
        /// The file itself (unreadable or not YAML).
        case file
    }
    public var path: String
    public var ruleID: String?
    public var title: String?
    public var status: Status
    public var kind: Kind
    /// 0-based index of the YAML document within its file.
    public var document: Int
    /// For a loaded rule: tests that can never be true on the events of its logsource (a
    /// selection the rule has besides the ones that can fire); see `SigmaFieldDomain`.
    public var neverTrue: [String] = []
    /// A detection rule's logsource (nil for files that did not parse, filters, correlations).
    public var logsource: LogSource?
    public init(path: String, ruleID: String?, title: String?, status: Status, kind: Kind = .rule, document: Int = 0) {
        self.path = path; self.ruleID = ruleID; self.title = title; self.status = status
        self.kind = kind; self.document = document
    }
}

public struct SigmaOptions: Sendable {
    /// Logsources this platform produces; rules for any other logsource load as inert.
    public var collectedLogSources: [LogSource]?
    /// What the events of a collected logsource can hold: a rule that can never be true on
    /// them loads as inert, with the reason.
    public var fieldDomains: [SigmaFieldDomain] = []
    /// `expand` modifier placeholders: name → values.
    public var placeholders: [String: [String]]
    /// Correlation state bounds: groups per correlation rule, and events kept per group.
    public var correlationMaxGroups: Int = 10_000
    public var correlationMaxEventsPerGroup: Int = 10_000
    /// A regular expression runs only when the literal every match contains is in the field
    /// (`RegexLiteral`), and such a rule waits for that literal instead of being evaluated for
    /// every event. Off only to check that it changes no result.
    public var regexGates = true
    /// Keyword literals (`contains` on every field) scanned in one pass over all of an event's
    /// values instead of one scan per value. Off only to check that it changes no result.
    public var keywordOnePass = true
    /// The rules of a broader logsource (`product: linux` alone) compiled into each narrower
    /// unit they cover, so that an event is evaluated by one unit instead of two or three.
    /// Off only to check that it changes no result.
    public var foldBroaderUnits = true
    /// A field's `contains` literals that are all four bytes or longer found by a scan that
    /// skips over text (`SkipScanner`) instead of an automaton step per byte. Off only to check
    /// that it changes no result.
    public var skipScan = true
    /// The rules of a logsource whose events are of several kinds (a field domain's schema:
    /// an auditd record's `type`) compiled again into one unit per kind holding only the rules
    /// that can be true on it, so that a SYSCALL record is not scanned for the keywords of
    /// rules that read EXECVE records. Off only to check that it changes no result.
    public var unitPerKind = true
    /// An `or` (or `and`) over several case-insensitive literals of one field, such as a
    /// selection's list of twenty `Image|endswith` names, evaluated as one node that reads their
    /// hit marks in a loop instead of a node and an atom per literal. Off only to check that it
    /// changes no result.
    public var literalSets = true
    /// A field's prefix, exact and suffix literals matched by the automaton that scans it for
    /// its `contains` literals, when it has one, instead of a trie walk per value besides. Off
    /// only to check that it changes no result.
    public var anchoredInAutomaton = true
    public init(collectedLogSources: [LogSource]? = nil, placeholders: [String: [String]] = [:]) {
        self.collectedLogSources = collectedLogSources
        self.placeholders = placeholders
    }
}

/// A compiled rule set. Thread-safe: `evaluate` may be called from any thread.
public final class SigmaEngine: @unchecked Sendable {
    public let diagnostics: [SigmaRuleDiagnostic]
    public var loadedCount: Int { diagnostics.filter { $0.status == .loaded }.count }
    /// Every detection rule that is evaluated (loaded, not inert), in load order.
    public let rules: [SigmaRuleInfo]
    /// Loaded correlation rules.
    public let correlationRules: [SigmaRuleInfo]

    let units: [CompiledUnit]
    /// Base rules whose standalone matches are not reported (referenced by correlations without `generate`).
    let suppressed: [Bool]
    let correlation: CorrelationEngine?
    private let poolLock = NSLock()
    private var pool: [Scratch] = []
    private let maxAtoms: Int, maxFields: Int, maxRules: Int

    init(
        diagnostics: [SigmaRuleDiagnostic], rules: [SigmaRuleInfo], correlationRules: [SigmaRuleInfo],
        units: [CompiledUnit], suppressed: [Bool], correlation: CorrelationEngine?
    ) {
        self.diagnostics = diagnostics
        self.rules = rules
        self.correlationRules = correlationRules
        self.units = units
        self.suppressed = suppressed
        self.correlation = correlation
        maxAtoms = units.map(\.atoms.count).max() ?? 1
        maxFields = units.map(\.fieldNames.count).max() ?? 1
        maxRules = units.map(\.ruleRoot.count).max() ?? 1
    }

    /// Loads every `.yml`/`.yaml` file under the given files or directories (recursively).
    /// Never throws for a bad rule: each is reported in `diagnostics`. Throws only when a
    /// path itself cannot be read.
    public static func load(paths: [String], options: SigmaOptions = SigmaOptions()) throws -> SigmaEngine {
        var files: [String] = []
        let fm = FileManager.default
        for p in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else {
                throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: p])
            }
            if isDir.boolValue {
                guard let en = fm.enumerator(atPath: p) else { throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: p]) }
                var found: [String] = []
                while let rel = en.nextObject() as? String {
                    if rel.hasSuffix(".yml") || rel.hasSuffix(".yaml") { found.append((p as NSString).appendingPathComponent(rel)) }
                }
                files.append(contentsOf: found.sorted())
            } else {
                files.append(p)
            }
        }
        var sources: [(path: String, text: String?)] = []
        for f in files {
            let text = (try? Data(contentsOf: URL(fileURLWithPath: f))).flatMap { String(data: $0, encoding: .utf8) }
            sources.append((f, text))
        }
        return SigmaLoader(options: options).build(sources)
    }

    /// Loads rules from in-memory YAML texts (name, text) — for tests and embedding.
    public static func load(sources: [(name: String, yaml: String)], options: SigmaOptions = SigmaOptions()) -> SigmaEngine {
        SigmaLoader(options: options).build(sources.map { ($0.name, $0.yaml) })
    }

    private func acquire() -> Scratch {
        poolLock.lock()
        if let s = pool.popLast() { poolLock.unlock(); return s }
        poolLock.unlock()
        return Scratch(atoms: maxAtoms, fields: maxFields, rules: maxRules, units: units.count)
    }

    private func release(_ s: Scratch) {
        poolLock.lock(); pool.append(s); poolLock.unlock()
    }

    /// Units whose logsource applies to events of logsource `ls`.
    func route(_ ls: LogSource) -> [Int] {
        let p = ls.product?.lowercased(), c = ls.category?.lowercased(), sv = ls.service?.lowercased()
        var out: [Int] = []
        for (i, u) in units.enumerated() where u.kind == nil {
            if let x = u.logsource.product, x != p { continue }
            if let x = u.logsource.category, x != c { continue }
            if let x = u.logsource.service, x != sv { continue }
            out.append(i)
        }
        // A unit that holds the rules of another on the route evaluates them in its pass.
        let held = Set(out.flatMap { units[$0].includedUnits })
        return held.isEmpty ? out : out.filter { !held.contains($0) }
    }

    /// Whether any live rule applies to events of logsource `ls` (a producer can then skip
    /// building events nobody reads).
    public func hasRules(for ls: LogSource) -> Bool { !route(ls).isEmpty }

    /// Whether a live rule names exactly this logsource (not one that only covers it, such as
    /// `product: linux` alone).
    public func hasRules(naming ls: LogSource) -> Bool {
        let l = LogSource(product: ls.product?.lowercased(), category: ls.category?.lowercased(), service: ls.service?.lowercased())
        return units.contains { $0.logsource == l }
    }

    /// Per logsource with a field domain (`SigmaOptions.fieldDomains`): for each of its
    /// closed fields, the values on which some live rule of exactly that logsource can be true
    /// (lower case). A producer builds only those (`type` of an auditd record).
    public internal(set) var possibleValues: [LogSource: [String: Set<String>]] = [:]

    /// Rules (and correlations) that match this event.
    public func evaluate(_ event: Event) -> [SigmaMatch] {
        let s = acquire()
        defer { release(s) }
        return evaluate(event, s)
    }

    /// `==` on borrowed logsources (without copying the strings out of the route cache).
    @inline(__always) static func same(_ a: borrowing LogSource, _ b: borrowing LogSource) -> Bool {
        a.product == b.product && a.category == b.category && a.service == b.service
    }

    /// Working memory of its own for a caller that evaluates events one after another on one
    /// thread (the detector's loop), so that no event waits on the pool's lock.
    public func session() -> SigmaSession { SigmaSession(engine: self, scratch: acquire()) }

    func evaluate(_ event: Event, _ s: Scratch) -> [SigmaMatch] {
        var known = -1
        s.routeKeys.withUnsafeBufferPointer { keys in
            for i in 0..<keys.count where Self.same(keys[i], event.logsource) { known = i; break }
        }
        let routeUnits: [Int]
        if known >= 0 {
            routeUnits = s.routeUnits[known]
        } else {
            routeUnits = route(event.logsource)
            if s.routeKeys.count >= 32 { s.routeKeys.removeFirst(); s.routeUnits.removeFirst() }
            s.routeKeys.append(event.logsource); s.routeUnits.append(routeUnits)
        }
        s.matched.removeAll(keepingCapacity: true)
        s.core.pointee.beginEvent(fieldCount: event.count)
        for u in routeUnits {
            if let k = units[u].kindUnit(event) { units[k].evaluate(event, s, unit: k) } else { units[u].evaluate(event, s, unit: u) }
        }
        if s.matched.isEmpty { return [] }
        if s.matched.count > 1 { s.matched.sort() }
        var out: [SigmaMatch] = []
        var last: Int32 = -1
        for r in s.matched where r != last {
            last = r
            if !suppressed[Int(r)] { out.append(SigmaMatch(rule: rules[Int(r)])) }
            if let c = correlation, c.isConsumed(Int(r)) { c.feed(source: Int(r), event: event, out: &out) }
        }
        return out
    }

    /// Correlation state counters (groups held, evicted groups/events, fired).
    public var correlationStats: SigmaCorrelationStats { correlation?.snapshotStats() ?? SigmaCorrelationStats() }

    /// Logsource keys with their compiled rule counts (for diagnostics and benchmarks).
    /// `unanchored`: rules evaluated for every event of the logsource (no literal prefilter).
    public var unitSummary: [(logsource: LogSource, rules: Int, unanchored: Int, atoms: Int, automatonBytes: Int)] {
        units.map { ($0.logsource, $0.ruleRoot.count, $0.alwaysRules.count, $0.atoms.count, $0.memoryEstimate) }
    }
}

/// `SigmaEngine.evaluate` for one caller at a time, with working memory of its own (no pool
/// lock per event). Not thread-safe: one session per thread.
public final class SigmaSession {
    public let engine: SigmaEngine
    let scratch: Scratch

    init(engine: SigmaEngine, scratch: Scratch) { self.engine = engine; self.scratch = scratch }

    /// Rules (and correlations) that match this event.
    public func evaluate(_ event: Event) -> [SigmaMatch] { engine.evaluate(event, scratch) }
}

/// Timestamp parsing shared by the engine's time modifiers and `edr replay`.
public enum SigmaTimestamp {
    /// `YYYY-MM-DD[(T| )hh:mm[:ss[.fff]]][Z|±hh:mm]` → seconds since the epoch (UTC unless an offset is given).
    public static func parse(_ s: String) -> Double? { ScalarEval.parseISO(s) }
}
