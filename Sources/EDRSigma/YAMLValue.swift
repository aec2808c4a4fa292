import Yams

/// A YAML value reduced to what Sigma needs, with mapping order kept.
indirect enum YV: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case list([YV])
    case map([(String, YV)])

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .list: return "list"
        case .map: return "map"
        }
    }

    subscript(key: String) -> YV? {
        if case .map(let pairs) = self { for (k, v) in pairs where k == key { return v } }
        return nil
    }

    var string: String? { if case .string(let s) = self { return s }; return nil }

    /// Scalar rendered as text (numbers and booleans plainly); nil for null/list/map.
    var scalarText: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return FieldValue.double(d).stringValue
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    /// A string or a list of strings (metadata fields such as tags, references).
    var stringList: [String] {
        switch self {
        case .list(let items): return items.compactMap { $0.scalarText }
        default: return scalarText.map { [$0] } ?? []
        }
    }
}

import EDRCore

struct YAMLConversionError: Error, CustomStringConvertible {
    var description: String
}

enum YAMLLoader {
    /// Parses every document in a YAML stream.
    static func documents(_ text: String) throws -> [YV] {
        var out: [YV] = []
        // The basic resolver skips Yams' regular-expression tag resolution (most of the parse
        // time); plain scalars are resolved below with the same YAML 1.1 rules.
        var seq = try Yams.compose_all(yaml: text, Resolver.basic)
        while let node = seq.next() {
            out.append(try convert(node, depth: 0))
        }
        if let err = seq.error { throw err }
        return out
    }

    /// YAML 1.1 core resolution of a plain scalar (as Yams' default resolver, without regexes).
    static func resolvePlain(_ t: String) -> YV {
        switch t {
        case "", "~", "null", "Null", "NULL": return .null
        case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON": return .bool(true)
        case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        case ".nan", ".NaN", ".NAN": return .double(.nan)
        default: break
        }
        let u = Array(t.utf8)
        guard let f = u.first, (f >= 0x30 && f <= 0x39) || f == 0x2B || f == 0x2D || f == 0x2E else { return .string(t) }
        var body = Substring(t)
        var negative = false
        if body.hasPrefix("+") { body = body.dropFirst() } else if body.hasPrefix("-") { body = body.dropFirst(); negative = true }
        let digits = body.replacingOccurrences(of: "_", with: "")
        func signed(_ v: Int64) -> YV { .int(negative ? -v : v) }
        if body.hasPrefix("0x") || body.hasPrefix("0X") {
            if let v = Int64(digits.dropFirst(2), radix: 16), digits.count > 2 { return signed(v) }
            return .string(t)
        }
        if body.hasPrefix("0b") {
            if let v = Int64(digits.dropFirst(2), radix: 2), digits.count > 2 { return signed(v) }
            return .string(t)
        }
        if body.count > 1 && body.hasPrefix("0") && body.allSatisfy({ $0 >= "0" && $0 <= "7" || $0 == "_" }) {
            if let v = Int64(digits.dropFirst(1), radix: 8) { return signed(v) }
        }
        if !body.isEmpty, body.allSatisfy({ ($0 >= "0" && $0 <= "9") || $0 == "_" }), body.first != "_" {
            if body == "0" || !body.hasPrefix("0") { if let v = Int64(digits) { return signed(v) } }
            return .string(t)
        }
        // float: [0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)? | \.[0-9_]+([eE][-+][0-9]+)?
        var i = body.startIndex
        var sawDigit = false, sawDot = false, sawExp = false
        while i < body.endIndex {
            let c = body[i]
            if c.isASCII && c.isNumber {
                sawDigit = true
            } else if c == "_" && sawDigit && !sawExp {
            } else if c == "." && !sawDot && !sawExp {
                sawDot = true
            } else if (c == "e" || c == "E") && sawDigit && !sawExp {
                sawExp = true
                let n = body.index(after: i)
                if n < body.endIndex && (body[n] == "+" || body[n] == "-") { i = n }
                let after = body.index(after: i)
                if after >= body.endIndex { return .string(t) }
            } else {
                return .string(t)
            }
            i = body.index(after: i)
        }
        if sawDigit && (sawDot || sawExp), let d = Double(t.replacingOccurrences(of: "_", with: "")) { return .double(d) }
        return .string(t)
    }

    static func convert(_ node: Node, depth: Int) throws -> YV {
        if depth > 64 { throw YAMLConversionError(description: "YAML nesting too deep") }
        switch node {
        case .scalar(let s):
            let text = s.string
            if s.style != .plain { return .string(text) }
            let explicit = s.tag.description
            if explicit == Tag.Name.str.rawValue { return .string(text) }
            return resolvePlain(text)
        case .sequence(let seq):
            return .list(try seq.map { try convert($0, depth: depth + 1) })
        case .mapping(let map):
            var pairs: [(String, YV)] = []
            for (k, v) in map {
                guard case .scalar(let ks) = k else { throw YAMLConversionError(description: "non-scalar mapping key") }
                pairs.append((ks.string, try convert(v, depth: depth + 1)))
            }
            return .map(pairs)
        case .alias:
            throw YAMLConversionError(description: "YAML aliases are not supported")
        }
    }
}
