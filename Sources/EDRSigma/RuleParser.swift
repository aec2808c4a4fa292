import EDRCore

/// A detection rule after parsing, before compilation.
struct ParsedRule {
    var info: SigmaRuleInfo
    var name: String?
    var expr: Expr
    /// Fields the detection refers to (for diagnostics and correlation).
    var docIndex: Int
}

struct ParsedFilter {
    var id: String?
    var title: String
    var path: String
    var logsource: LogSource
    var rules: [String]
    var expr: Expr
}

enum CorrelationType: String, Sendable, CaseIterable {
    case eventCount = "event_count"
    case valueCount = "value_count"
    case temporal
    case temporalOrdered = "temporal_ordered"
    case valueSum = "value_sum"
    case valueAvg = "value_avg"
    case valuePercentile = "value_percentile"
}

struct ParsedCorrelation {
    var info: SigmaRuleInfo
    var name: String?
    var type: CorrelationType
    var rules: [String]
    var groupBy: [String]
    var timespan: Double
    var conditions: [(NumOp, Double)]
    var field: String?
    var percentile: Double?
    /// alias → (rule name or id → field)
    var aliases: [String: [String: String]]
    var generate: Bool
}

enum ParsedDocument {
    case rule(ParsedRule)
    case filter(ParsedFilter)
    case correlation(ParsedCorrelation)
}

enum RuleParser {
    static func metadata(_ doc: YV, path: String, logsource: LogSource) throws -> SigmaRuleInfo {
        guard let title = doc["title"]?.scalarText, !title.isEmpty else { throw RuleError("missing 'title'") }
        var level = SigmaLevel.medium
        if let lv = doc["level"] {
            guard let t = lv.scalarText, let l = SigmaLevel(name: t) else { throw RuleError("invalid level '\(lv.scalarText ?? lv.typeName)'") }
            level = l
        }
        return SigmaRuleInfo(
            id: doc["id"]?.scalarText, title: title, description: doc["description"]?.scalarText,
            level: level, status: doc["status"]?.scalarText, author: doc["author"]?.scalarText,
            tags: doc["tags"]?.stringList ?? [], references: doc["references"]?.stringList ?? [],
            falsepositives: doc["falsepositives"]?.stringList ?? [], logsource: logsource, path: path)
    }

    static func logsource(_ v: YV?) throws -> LogSource {
        guard let v else { throw RuleError("missing 'logsource'") }
        guard case .map = v else { throw RuleError("'logsource' is not a map") }
        func key(_ k: String) throws -> String? {
            guard let x = v[k] else { return nil }
            if case .null = x { return nil }
            guard let t = x.scalarText else { throw RuleError("logsource '\(k)' is not a string") }
            return t.lowercased()
        }
        let ls = LogSource(product: try key("product"), category: try key("category"), service: try key("service"))
        return ls
    }

    /// Parses a `detection` map into an `Expr`.
    static func detection(_ det: YV?, placeholders: [String: [String]]) throws -> Expr {
        guard let det else { throw RuleError("missing 'detection'") }
        guard case .map(let pairs) = det else { throw RuleError("'detection' is not a map") }
        var ids: [String: Expr] = [:]
        var names: [String] = []
        var condV: YV?
        for (k, v) in pairs {
            if k == "condition" { condV = v; continue }
            if k == "timeframe" { throw RuleError("'timeframe' in detection is not supported (use correlation rules)") }
            if ids[k] != nil { throw RuleError("duplicate search identifier '\(k)'") }
            do { ids[k] = try DetectionCompiler.searchIdentifier(k, v, placeholders: placeholders) } catch let e as RuleError {
                throw RuleError("\(k): \(e.reason)")
            }
            names.append(k)
        }
        guard let condV else { throw RuleError("missing 'condition'") }
        var condTexts: [String] = []
        switch condV {
        case .string(let s): condTexts = [s]
        case .list(let l):
            for c in l { guard let s = c.string else { throw RuleError("condition list entry is not a string") }; condTexts.append(s) }
            if condTexts.isEmpty { throw RuleError("empty condition list") }
        default: throw RuleError("'condition' is not a string")
        }
        var exprs: [Expr] = []
        for text in condTexts {
            let c = try ConditionParser.parse(text, identifiers: names)
            exprs.append(substitute(c, ids))
        }
        return exprs.count == 1 ? exprs[0] : .or(exprs)
    }

    static func substitute(_ c: Cond, _ ids: [String: Expr]) -> Expr {
        switch c {
        case .id(let n): return ids[n] ?? .const(false)
        case .and(let l): return .and(l.map { substitute($0, ids) })
        case .or(let l): return .or(l.map { substitute($0, ids) })
        case .not(let x): return .not(substitute(x, ids))
        }
    }

    static func parseTimespan(_ s: String) -> Double? {
        guard let last = s.last, let n = Double(s.dropLast()), n > 0 else { return nil }
        switch last {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86400
        case "w": return n * 604800
        case "M": return n * 2_592_000
        case "y": return n * 31_536_000
        default: return nil
        }
    }

    static func document(_ doc: YV, path: String, index: Int, options: SigmaOptions) throws -> ParsedDocument {
        guard case .map = doc else { throw RuleError("document is not a map") }
        if doc["action"] != nil { throw RuleError("Sigma 1.x 'action' collection documents are not supported") }
        if let corr = doc["correlation"] {
            return .correlation(try correlation(doc, corr, path: path))
        }
        if let f = doc["filter"], doc["detection"] == nil {
            guard case .map = f else { throw RuleError("'filter' is not a map") }
            guard let title = doc["title"]?.scalarText else { throw RuleError("missing 'title'") }
            let ls = try logsource(doc["logsource"])
            var rules: [String] = []
            if let r = f["rules"] {
                switch r {
                case .list, .string: rules = r.stringList
                case .null: break
                default: throw RuleError("filter 'rules' is not a list")
                }
            }
            // The filter's own detection: every key except 'rules'.
            guard case .map(let fp) = f else { throw RuleError("'filter' is not a map") }
            let det = YV.map(fp.filter { $0.0 != "rules" })
            let expr = try detection(det, placeholders: options.placeholders)
            return .filter(ParsedFilter(id: doc["id"]?.scalarText, title: title, path: path, logsource: ls, rules: rules, expr: expr))
        }
        let ls = try logsource(doc["logsource"])
        let info = try metadata(doc, path: path, logsource: ls)
        let expr = try detection(doc["detection"], placeholders: options.placeholders)
        return .rule(ParsedRule(info: info, name: doc["name"]?.scalarText, expr: expr, docIndex: index))
    }

    static func correlation(_ doc: YV, _ c: YV, path: String) throws -> ParsedCorrelation {
        guard case .map = c else { throw RuleError("'correlation' is not a map") }
        guard let ts = c["type"]?.scalarText else { throw RuleError("correlation without 'type'") }
        guard let type = CorrelationType(rawValue: ts) else { throw RuleError("unsupported correlation type '\(ts)'") }
        var info = try metadata(doc, path: path, logsource: LogSource())
        if doc["level"] == nil { info.level = .medium }
        let rules = c["rules"]?.stringList ?? []
        if rules.isEmpty { throw RuleError("correlation without 'rules'") }
        var groupBy: [String] = []
        if let g = c["group-by"] { groupBy = g.stringList }
        guard let tsText = c["timespan"]?.scalarText, let span = parseTimespan(tsText) else {
            throw RuleError("correlation needs a valid 'timespan' (e.g. 5m)")
        }
        var conds: [(NumOp, Double)] = []
        var field: String?
        var percentile: Double?
        if let cond = c["condition"] {
            guard case .map(let pairs) = cond else { throw RuleError("correlation 'condition' is not a map") }
            for (k, v) in pairs {
                switch k {
                case "field":
                    guard let f = v.stringList.first, v.stringList.count == 1 else {
                        throw RuleError("correlation 'field' must be one field name")
                    }
                    field = f
                case "percentile":
                    guard case .int(let p) = v, p >= 0, p <= 100 else { throw RuleError("invalid percentile") }
                    percentile = Double(p)
                case "gt", "gte", "lt", "lte", "eq", "neq":
                    let n: Double
                    switch v {
                    case .int(let i): n = Double(i)
                    case .double(let d): n = d
                    default: throw RuleError("correlation condition '\(k)' needs a number")
                    }
                    let op: NumOp = ["gt": .gt, "gte": .gte, "lt": .lt, "lte": .lte, "eq": .eq, "neq": .neq][k]!
                    conds.append((op, n))
                default:
                    throw RuleError("unknown correlation condition key '\(k)'")
                }
            }
        }
        switch type {
        case .temporal, .temporalOrdered:
            if conds.isEmpty { conds = [(.gte, Double(rules.count))] }
        case .valueCount, .valueSum, .valueAvg, .valuePercentile:
            if field == nil { throw RuleError("\(type.rawValue) correlation needs 'condition.field'") }
            if conds.isEmpty { throw RuleError("\(type.rawValue) correlation needs a condition") }
        case .eventCount:
            if conds.isEmpty { throw RuleError("event_count correlation needs a condition") }
        }
        if type != .valuePercentile && type != .valueAvg {
            // Streaming evaluation fires when a window reaches a threshold: a pure upper bound or
            // an inequality can't be decided before the window closes.
            let hasLower = conds.contains { $0.0 == .gt || $0.0 == .gte || $0.0 == .eq }
            if !hasLower { throw RuleError("correlation condition without a lower bound (gt/gte/eq) cannot be evaluated on a live stream") }
        }
        var aliases: [String: [String: String]] = [:]
        if let a = c["aliases"] {
            guard case .map(let pairs) = a else { throw RuleError("'aliases' is not a map") }
            for (alias, m) in pairs {
                guard case .map(let mp) = m else { throw RuleError("alias '\(alias)' is not a map") }
                var d: [String: String] = [:]
                for (r, f) in mp { guard let fs = f.scalarText else { throw RuleError("alias '\(alias)' field is not a string") }; d[r] = fs }
                aliases[alias] = d
            }
        }
        var generate = false
        if let g = c["generate"] ?? doc["generate"] {
            guard case .bool(let b) = g else { throw RuleError("'generate' is not a boolean") }
            generate = b
        }
        return ParsedCorrelation(
            info: info, name: doc["name"]?.scalarText, type: type, rules: rules, groupBy: groupBy,
            timespan: span, conditions: conds, field: field, percentile: percentile,
            aliases: aliases, generate: generate)
    }
}
