/// Turns a detection's YAML (search identifiers with `field|modifier…: values`) into `Expr` trees.

struct RuleError: Error, CustomStringConvertible {
    var reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}

/// A value travelling through the modifier chain.
private enum MV {
    case raw(String)  // string straight from YAML, not yet parsed for wildcards
    case str(SigmaString)
    case num(Double, String)
    case bool(Bool)
    case null
    case re(String)
    case cidr(CIDR)
    case fieldref(String)

    func sigmaString() throws -> SigmaString {
        switch self {
        case .raw(let s): return SigmaString(parsing: s)
        case .str(let s): return s
        case .num(_, let t): return SigmaString(plain: Array(t.utf8))
        case .bool(let b): return SigmaString(plain: Array((b ? "true" : "false").utf8))
        case .null: throw RuleError("a string modifier was applied to null")
        case .re: throw RuleError("a string modifier was applied after 're'")
        case .cidr: throw RuleError("a string modifier was applied after 'cidr'")
        case .fieldref: throw RuleError("a string modifier was applied after 'fieldref'")
        }
    }

    var text: String? {
        switch self {
        case .raw(let s): return s
        case .num(_, let t): return t
        case .str(let s): if let b = s.plainBytes { return String(decoding: b, as: UTF8.self) }; return nil
        default: return nil
        }
    }
}

enum DetectionCompiler {
    static let knownModifiers: Set<String> = [
        "contains", "startswith", "endswith", "all", "exists", "cased", "neq", "windash", "re", "i", "m", "s",
        "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "lt", "lte", "gt", "gte",
        "minute", "hour", "day", "week", "month", "year", "cidr", "expand", "fieldref"
    ]

    /// One search identifier's definition.
    static func searchIdentifier(_ name: String, _ def: YV, placeholders: [String: [String]]) throws -> Expr {
        switch def {
        case .map(let pairs):
            if pairs.isEmpty { throw RuleError("search identifier '\(name)' is an empty map") }
            return .and(try pairs.map { try item(key: $0.0, value: $0.1, placeholders: placeholders) })
        case .list(let items):
            if items.isEmpty { throw RuleError("search identifier '\(name)' is an empty list") }
            let maps = items.filter {
                if case .map = $0 { return true }; return false
            }
            if maps.count == items.count {
                return .or(try items.map { try searchIdentifier(name, $0, placeholders: placeholders) })
            }
            if !maps.isEmpty { throw RuleError("search identifier '\(name)' mixes maps and plain values") }
            return try item(key: "", value: def, placeholders: placeholders)
        case .string, .int, .double:
            return try item(key: "", value: def, placeholders: placeholders)
        case .bool, .null:
            throw RuleError("search identifier '\(name)' has a \(def.typeName) value")
        }
    }

    /// One `field|mods: value(s)` entry (an empty field name means a keyword search).
    static func item(key: String, value: YV, placeholders: [String: [String]]) throws -> Expr {
        let parts = key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        let fieldName = parts[0]
        let field: String? = fieldName.isEmpty ? nil : fieldName
        let mods = parts.dropFirst().map { $0.lowercased() }
        for m in mods {
            if m.isEmpty { throw RuleError("empty modifier in '\(key)'") }
            if !knownModifiers.contains(m) { throw RuleError("unknown modifier '\(m)' in '\(key)'") }
        }

        // Raw values.
        var rawValues: [YV]
        if case .list(let l) = value { rawValues = l } else { rawValues = [value] }
        if rawValues.isEmpty { throw RuleError("'\(key)' has an empty value list") }
        for v in rawValues {
            switch v {
            case .map: throw RuleError("'\(key)' has a map as value")
            case .list: throw RuleError("'\(key)' has a nested list as value")
            default: break
            }
        }
        let hasNull = rawValues.contains {
            if case .null = $0 { return true }; return false
        }
        if hasNull && rawValues.count > 1 { throw RuleError("'\(key)': null cannot be part of a value list") }

        // exists is special: a boolean, no other modifiers.
        if mods.contains("exists") {
            guard mods == ["exists"] else { throw RuleError("'exists' cannot be combined with other modifiers in '\(key)'") }
            guard let f = field else { throw RuleError("'exists' needs a field") }
            guard rawValues.count == 1 else { throw RuleError("'exists' takes one boolean") }
            switch rawValues[0] {
            case .bool(let b): return .pred(Pred(field: f, test: .exists(b)))
            case .string(let s) where s.lowercased() == "true" || s.lowercased() == "false":
                return .pred(Pred(field: f, test: .exists(s.lowercased() == "true")))
            default: throw RuleError("'exists' needs a boolean value in '\(key)'")
            }
        }

        var vals: [[MV]] = rawValues.map { v in
            switch v {
            case .string(let s): return [.raw(s)]
            case .int(let i): return [.num(Double(i), String(i))]
            case .double(let d): return [.num(d, YV.double(d).scalarText ?? String(d))]
            case .bool(let b): return [.bool(b)]
            default: return [.null]
            }
        }

        var all = false, cased = false, neq = false
        var reFlags: UInt32 = 0
        var sawRe = false
        var numOp: NumOp? = nil
        var timeUnit: TimeUnit? = nil
        var refMode: LitMode = .exact
        var sawFieldref = false
        var positional = false  // contains/startswith/endswith seen

        func mapAll(_ f: (MV) throws -> [MV]) throws {
            vals = try vals.map { alts in try alts.flatMap(f) }
            if vals.reduce(0, { $0 + $1.count }) > 20000 { throw RuleError("'\(key)' expands to too many values") }
        }

        for m in mods {
            switch m {
            case "all": all = true
            case "cased": cased = true
            case "neq": neq = true
            case "contains", "startswith", "endswith":
                positional = true
                if sawFieldref {
                    refMode = m == "contains" ? .contains : (m == "startswith" ? .prefix : .suffix)
                    continue
                }
                try mapAll { v in
                    if case .null = v { throw RuleError("'\(m)' applied to null in '\(key)'") }
                    let s = try v.sigmaString()
                    switch m {
                    case "contains": return [.str(s.prefixedStar().suffixedStar())]
                    case "startswith": return [.str(s.suffixedStar())]
                    default: return [.str(s.prefixedStar())]
                    }
                }
            case "windash":
                try mapAll { v in try v.sigmaString().expandLiterals(Encoders.windash).map { .str($0) } }
            case "base64", "base64offset":
                try mapAll { v in
                    let s = try v.sigmaString()
                    guard let b = s.plainBytes else { throw RuleError("'\(m)' cannot encode wildcards in '\(key)'") }
                    if m == "base64" { return [.str(SigmaString(plain: Encoders.base64(b)))] }
                    return Encoders.base64offset(b).map { .str(SigmaString(plain: $0)) }
                }
            case "utf16le", "wide", "utf16be", "utf16":
                try mapAll { v in
                    let s = try v.sigmaString()
                    let le = m != "utf16be"
                    let bom = m == "utf16"
                    if bom {
                        guard let b = s.plainBytes else { throw RuleError("'utf16' cannot encode wildcards in '\(key)'") }
                        return [.str(SigmaString(plain: Encoders.utf16(b, littleEndian: true, bom: true)))]
                    }
                    return s.expandLiterals { [Encoders.utf16($0, littleEndian: le, bom: false)] }.map { .str($0) }
                }
            case "re":
                sawRe = true
                try mapAll { v in
                    guard let t = v.text else { throw RuleError("'re' needs a string in '\(key)'") }
                    return [.re(t)]
                }
            case "i", "m", "s":
                guard sawRe else { throw RuleError("'\(m)' is only valid after 're' in '\(key)'") }
                reFlags |= (m == "i" ? 1 : (m == "m" ? 2 : 4))
            case "cidr":
                try mapAll { v in
                    guard let t = v.text, let c = CIDR(t) else { throw RuleError("invalid CIDR value in '\(key)'") }
                    return [.cidr(c)]
                }
            case "lt", "lte", "gt", "gte":
                if numOp != nil { throw RuleError("more than one comparison modifier in '\(key)'") }
                numOp = m == "lt" ? .lt : (m == "lte" ? .lte : (m == "gt" ? .gt : .gte))
                try mapAll { v in
                    switch v {
                    case .num: return [v]
                    case .raw(let s): if let d = Double(s) { return [.num(d, s)] }
                    default: break
                    }
                    throw RuleError("'\(m)' needs a number in '\(key)'")
                }
            case "minute", "hour", "day", "week", "month", "year":
                if timeUnit != nil { throw RuleError("more than one time modifier in '\(key)'") }
                timeUnit = TimeUnit(rawValue: m)
                try mapAll { v in
                    switch v {
                    case .num: return [v]
                    case .raw(let s): if let d = Double(s) { return [.num(d, s)] }
                    default: break
                    }
                    throw RuleError("'\(m)' needs a number in '\(key)'")
                }
            case "expand":
                try mapAll { v in
                    switch v {
                    case .raw(let s): return try expand(s, placeholders).map { .raw($0) }
                    case .str(let ss):
                        // After contains/startswith/endswith: expand inside the literal runs.
                        var failure: RuleError? = nil
                        let out = ss.expandLiterals { bytes in
                            do { return try expand(String(decoding: bytes, as: UTF8.self), placeholders).map { Array($0.utf8) } } catch {
                                failure = error as? RuleError ?? RuleError("\(error)"); return [bytes]
                            }
                        }
                        if let failure { throw failure }
                        return out.map { .str($0) }
                    default: throw RuleError("'expand' needs a string in '\(key)'")
                    }
                }
            case "fieldref":
                sawFieldref = true
                if positional { throw RuleError("'fieldref' must come before contains/startswith/endswith in '\(key)'") }
                try mapAll { v in
                    guard case .raw(let s) = v, !s.isEmpty else { throw RuleError("'fieldref' needs a field name in '\(key)'") }
                    return [.fieldref(s)]
                }
            default:
                throw RuleError("unknown modifier '\(m)'")
            }
        }
        if field == nil {
            if sawFieldref || numOp != nil || timeUnit != nil || neq || mods.contains("cidr") {
                throw RuleError("keyword searches support only string modifiers ('\(key)')")
            }
            if hasNull { throw RuleError("keyword search for null") }
        }
        if sawFieldref && (sawRe || numOp != nil || timeUnit != nil) {
            throw RuleError("'fieldref' cannot be combined with other type modifiers in '\(key)'")
        }

        // Build predicates.
        var groups: [Expr] = []
        for alts in vals {
            var preds: [Expr] = []
            for v in alts {
                let test: Test
                switch v {
                case .null:
                    test = .isNull
                case .re(let p):
                    test = .regex(p, flags: reFlags)
                case .cidr(let c):
                    test = .cidr(c)
                case .fieldref(let other):
                    test = .fieldref(other, refMode, cased: cased)
                case .num(let d, _) where timeUnit != nil:
                    test = .time(timeUnit!, numOp ?? .eq, d)
                case .num(let d, _) where numOp != nil:
                    test = .num(numOp!, d)
                default:
                    var s = try v.sigmaString()
                    if field == nil && !positional && !sawRe { s = s.prefixedStar().suffixedStar() }
                    test = classify(s, cased: cased)
                }
                preds.append(.pred(Pred(field: field, test: test)))
            }
            groups.append(preds.count == 1 ? preds[0] : .or(preds))
        }
        var e: Expr = groups.count == 1 ? groups[0] : (all ? .and(groups) : .or(groups))
        if neq {
            guard let f = field else { throw RuleError("'neq' needs a field") }
            e = .and([.pred(Pred(field: f, test: .exists(true))), .not(e)])
        }
        return e
    }

    static func classify(_ s: SigmaString, cased: Bool) -> Test {
        var parts = s.parts
        let lead: Bool = parts.first == SPart.star
        if lead { parts.removeFirst() }
        let trail: Bool = !parts.isEmpty && parts.last == SPart.star
        if trail { parts.removeLast() }
        let fold: ([UInt8]) -> [UInt8] = cased ? { (x: [UInt8]) -> [UInt8] in x } : { (x: [UInt8]) -> [UInt8] in Fold.fold(x) }
        if parts.isEmpty {
            if lead { return .glob([.star], cased: cased) }
            return .lit(.exact, [], cased: cased)
        }
        if parts.count == 1, case .lit(let b) = parts[0] {
            let mode: LitMode = lead ? (trail ? .contains : .suffix) : (trail ? .prefix : .exact)
            return .lit(mode, fold(b), cased: cased)
        }
        var toks: [GlobTok] = []
        for p in s.parts {
            switch p {
            case .lit(let b): toks.append(.lit(fold(b)))
            case .star: toks.append(.star)
            case .one: toks.append(.one)
            }
        }
        return .glob(toks, cased: cased)
    }

    /// `%name%` placeholders → every combination of their values; `\%` is a plain percent.
    static func expand(_ s: String, _ placeholders: [String: [String]]) throws -> [String] {
        var results = [""]
        var chars = Array(s)
        var i = 0
        var lit = ""
        func flush() { results = results.map { $0 + lit }; lit = "" }
        while i < chars.count {
            let c = chars[i]
            if c == "\\" && i + 1 < chars.count && chars[i + 1] == "%" {
                lit.append("%"); i += 2; continue
            }
            if c == "%", let end = chars[(i + 1)...].firstIndex(of: "%") {
                let name = String(chars[(i + 1)..<end])
                guard let values = placeholders[name] ?? placeholders["%\(name)%"], !values.isEmpty else {
                    throw RuleError("placeholder '%\(name)%' has no values (SigmaOptions.placeholders)")
                }
                flush()
                var next: [String] = []
                for r in results { for v in values { next.append(r + v) } }
                results = next
                if results.count > 10000 { throw RuleError("placeholder expansion too large") }
                i = end + 1
                continue
            }
            lit.append(c); i += 1
        }
        flush()
        chars = []
        return results
    }
}
