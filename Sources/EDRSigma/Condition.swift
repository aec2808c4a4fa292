/// The condition grammar: `or` < `and` < `not` < `x of` < parentheses.
indirect enum Cond: Sendable {
    case id(String)
    case and([Cond])
    case or([Cond])
    case not(Cond)
}

enum ConditionParser {
    enum Tok: Equatable { case lp, rp, and, or, not, of, them, one, all, any, ident(String) }

    static func tokenize(_ s: String) throws -> [Tok] {
        var toks: [Tok] = []
        var cur = ""
        func flush() throws {
            guard !cur.isEmpty else { return }
            switch cur.lowercased() {
            case "and": toks.append(.and)
            case "or": toks.append(.or)
            case "not": toks.append(.not)
            case "of": toks.append(.of)
            case "them": toks.append(.them)
            case "1": toks.append(.one)
            case "all": toks.append(.all)
            case "any": toks.append(.any)
            case "near": throw RuleError("condition operator 'near' is not supported (use correlation rules)")
            default: toks.append(.ident(cur))
            }
            cur = ""
        }
        for c in s {
            switch c {
            case "(": try flush(); toks.append(.lp)
            case ")": try flush(); toks.append(.rp)
            case " ", "\t", "\n", "\r": try flush()
            case "|": throw RuleError("aggregation expressions in conditions ('|') are not supported (use correlation rules)")
            default: cur.append(c)
            }
        }
        try flush()
        return toks
    }

    /// Parses one condition and resolves `x of pattern`/`them` against the defined identifiers.
    static func parse(_ s: String, identifiers: [String]) throws -> Cond {
        let toks = try tokenize(s)
        if toks.isEmpty { throw RuleError("empty condition") }
        var p = Parser(toks: toks, identifiers: identifiers)
        let c = try p.orExpr()
        if p.pos != toks.count { throw RuleError("unexpected token in condition '\(s)'") }
        return c
    }

    struct Parser {
        let toks: [Tok]
        let identifiers: [String]
        var pos = 0
        var depth = 0

        init(toks: [Tok], identifiers: [String]) { self.toks = toks; self.identifiers = identifiers }

        mutating func peek() -> Tok? { pos < toks.count ? toks[pos] : nil }

        mutating func orExpr() throws -> Cond {
            var items = [try andExpr()]
            while peek() == .or { pos += 1; items.append(try andExpr()) }
            return items.count == 1 ? items[0] : .or(items)
        }
        mutating func andExpr() throws -> Cond {
            var items = [try notExpr()]
            while peek() == .and { pos += 1; items.append(try notExpr()) }
            return items.count == 1 ? items[0] : .and(items)
        }
        mutating func notExpr() throws -> Cond {
            if peek() == .not {
                pos += 1
                depth += 1; defer { depth -= 1 }
                if depth > 200 { throw RuleError("condition nested too deeply") }
                return .not(try notExpr())
            }
            return try primary()
        }
        mutating func primary() throws -> Cond {
            guard let t = peek() else { throw RuleError("condition ends unexpectedly") }
            switch t {
            case .lp:
                pos += 1
                depth += 1; defer { depth -= 1 }
                if depth > 200 { throw RuleError("condition nested too deeply") }
                let e = try orExpr()
                guard peek() == .rp else { throw RuleError("missing ')' in condition") }
                pos += 1
                return e
            case .one, .all, .any:
                pos += 1
                guard peek() == .of else {
                    if case .one = t { throw RuleError("expected 'of' after '1'") }
                    throw RuleError("expected 'of' in condition")
                }
                pos += 1
                guard let target = peek() else { throw RuleError("condition ends after 'of'") }
                pos += 1
                let names: [String]
                switch target {
                case .them:
                    names = identifiers.filter { !$0.hasPrefix("_") }
                    if names.isEmpty { throw RuleError("'them' refers to no search identifier") }
                case .ident(let pat):
                    names = identifiers.filter { ConditionParser.wildcardMatch(pat, $0) }
                    if names.isEmpty { throw RuleError("pattern '\(pat)' matches no search identifier") }
                default:
                    throw RuleError("expected a search identifier pattern after 'of'")
                }
                let ids = names.map { Cond.id($0) }
                if ids.count == 1 { return ids[0] }
                return t == .all ? .and(ids) : .or(ids)
            case .ident(let name):
                pos += 1
                if name.contains("*") { throw RuleError("wildcard identifier '\(name)' needs '1 of'/'all of'") }
                guard identifiers.contains(name) else { throw RuleError("undefined search identifier '\(name)' in condition") }
                return .id(name)
            default:
                throw RuleError("unexpected token in condition")
            }
        }
    }

    /// `*` matches any run of characters; everything else literally.
    static func wildcardMatch(_ pattern: String, _ s: String) -> Bool {
        let p = Array(pattern), t = Array(s)
        var pi = 0, ti = 0, starP = -1, starT = 0
        while ti < t.count {
            if pi < p.count && p[pi] == "*" {
                starP = pi; starT = ti; pi += 1
            } else if pi < p.count && p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if starP >= 0 {
                pi = starP + 1; starT += 1; ti = starT
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
