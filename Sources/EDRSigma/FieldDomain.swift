public import EDRCore

/// What the events of one collected logsource can hold, so that a rule asking for something
/// they never hold (a record type or a syscall the producer never writes, a field it never
/// sets) loads as inert with the reason, instead of loading and never firing.
///
/// Only plain equality is judged (`type: SERVICE_STOP`): a value with a wildcard or a
/// modifier (`|contains`, `|re` …) is assumed possible. A condition is impossible when it
/// cannot be true whatever the other fields hold: `and` with one impossible part, `or` with
/// only impossible parts; `not` is never impossible.
public struct SigmaFieldDomain: Sendable {
    public struct Values: Sendable {
        /// The values the field can take, compared case-insensitively as Sigma compares.
        public var allowed: Set<String>
        /// Why other values never occur, e.g. "record type not produced from our telemetry".
        public var why: String
        public init(allowed: [String], why: String) {
            self.allowed = Set(allowed.map { $0.lowercased() })
            self.why = why
        }
    }

    public var logsource: LogSource
    /// Fields whose values are closed sets.
    public var values: [String: Values]
    /// Fields never present, with why.
    public var absent: [String: String]
    /// The fields events hold, per value of one discriminating field (auditd: per record
    /// `type`, the record's fields); a name ending in `#` stands for that prefix and digits
    /// (`a#`: a0, a1 …). A test on a field no event of that kind holds is never true.
    public var schema: (field: String, fields: [String: [String]])?

    public init(
        logsource: LogSource, values: [String: Values] = [:], absent: [String: String] = [:],
        schema: (field: String, fields: [String: [String]])? = nil
    ) {
        self.logsource = logsource
        self.values = values
        self.absent = absent
        self.schema = schema.map { s in (s.field, Dictionary(uniqueKeysWithValues: s.fields.map { ($0.key.lowercased(), $0.value) })) }
    }

    /// Whether `field` is among `patterns` (see `schema`).
    static func holds(_ patterns: [String], _ field: String) -> Bool {
        patterns.contains { p in
            guard p.hasSuffix("#") else { return p == field }
            let prefix = p.dropLast()
            return field.hasPrefix(prefix) && field.count > prefix.count && field.dropFirst(prefix.count).allSatisfy(\.isASCII)
                && field.dropFirst(prefix.count).allSatisfy(\.isNumber)
        }
    }

    /// The schema's kinds an event can still be of (all of them unless narrowed).
    var kinds: [String] {
        guard let s = schema else { return [] }
        if let v = values[s.field] { return v.allowed.filter { s.fields[$0] != nil } }
        return Array(s.fields.keys)
    }

    /// Whether a rule's detection can ever be true on these events; when it cannot, the
    /// reasons (one per impossible test, in rule order, without repeats). `partial` lists the
    /// impossible tests of a rule that can still fire by another selection.
    func judge(_ e: Expr) -> (possible: Bool, reasons: [String]) {
        var reasons: [String] = []
        let possible = canBeTrue(e, &reasons)
        var seen = Set<String>()
        return (possible, reasons.filter { seen.insert($0).inserted })
    }

    /// The values of `field` (one of `values`) on which the rule can be true.
    func possibleValues(of field: String, _ e: Expr) -> Set<String> {
        guard let v = values[field] else { return [] }
        var out = Set<String>()
        for value in v.allowed {
            var narrowed = self
            narrowed.values[field]!.allowed = [value]
            var ignored: [String] = []
            if narrowed.canBeTrue(e, &ignored) { out.insert(value) }
        }
        return out
    }

    private func canBeTrue(_ e: Expr, _ reasons: inout [String]) -> Bool {
        switch e {
        case .const(let b): return b
        case .not: return true
        case .and(let parts):
            var ok = true
            for p in parts where !canBeTrue(p, &reasons) { ok = false }
            return ok
        case .or(let parts):
            var ok = false
            for p in parts where canBeTrue(p, &reasons) { ok = true }
            return ok
        case .pred(let p):
            guard let field = p.field else { return true }
            if let s = schema, field != s.field, !kinds.contains(where: { Self.holds(s.fields[$0]!, field) }) {
                switch p.test {
                case .isNull, .exists(false): return true
                default:
                    let kinds = self.kinds.sorted().map { $0.uppercased() }.joined(separator: ", ")
                    reasons.append("field '\(field)': not in any record built (\(kinds))")
                    return false
                }
            }
            if let why = absent[field] {
                switch p.test {
                case .isNull, .exists(false): return true
                default:
                    reasons.append("field '\(field)': \(why)")
                    return false
                }
            }
            guard let v = values[field], case .lit(.exact, let bytes, _) = p.test else { return true }
            let value = String(decoding: bytes, as: UTF8.self)
            if v.allowed.contains(value.lowercased()) { return true }
            reasons.append("\(field) '\(value)': \(v.why)")
            return false
        }
    }
}
