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
        var seq = try Yams.compose_all(yaml: text)
        while let node = seq.next() {
            out.append(try convert(node, depth: 0))
        }
        if let err = seq.error { throw err }
        return out
    }

    static func convert(_ node: Node, depth: Int) throws -> YV {
        if depth > 64 { throw YAMLConversionError(description: "YAML nesting too deep") }
        switch node {
        case .scalar(let s):
            let text = s.string
            if s.style != .plain { return .string(text) }
            let tag = Tag.Name(rawValue: node.tag.description)
            if tag == .null { return .null }
            if tag == .bool {
                switch text.lowercased() {
                case "true", "yes", "on", "y": return .bool(true)
                case "false", "no", "off", "n": return .bool(false)
                default: return .string(text)
                }
            }
            if tag == .int, let i = node.int { return .int(Int64(i)) }
            if tag == .float, let d = node.float { return .double(d) }
            return .string(text)
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
