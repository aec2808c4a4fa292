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

    public init(logsource: LogSource, values: [String: Values] = [:], absent: [String: String] = [:]) {
        self.logsource = logsource
        self.values = values
        self.absent = absent
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
