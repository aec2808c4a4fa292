import EDRCore
import EDRSigma
import EDRWindowsEvents
import Foundation

/// One NDJSON replay record → the events to evaluate. A small order-preserving JSON reader,
/// so alert fields keep the record's field order and integers stay integers.
///
/// Two shapes: the agent's own `{"logsource":{…},"event":{…}}`, and Windows event log
/// records as common tools export them, `{"System":{…},"EventData":{…}}` or the same inside
/// `{"Event":{…}}` (docs/windows.md lists the variants accepted).
public enum ReplayRecord {
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    indirect enum J {
        case null, bool(Bool), int(Int64), double(Double), string(String), array([J]), object([(String, J)])

        subscript(_ k: String) -> J? {
            if case .object(let kv) = self { return kv.first { $0.0 == k }?.1 }
            return nil
        }
    }

    /// A record in either shape → its events (a Windows registry record gives two: its
    /// category and registry_event).
    public static func parse(_ bytes: [UInt8]) throws -> [Event] {
        var p = Parser(b: bytes)
        p.ws()
        let root = try p.value(depth: 0)
        p.ws()
        guard p.i == bytes.count else { throw ParseError(description: "trailing characters after the JSON record") }
        guard case .object(let top) = root else { throw ParseError(description: "record is not a JSON object") }
        func get(_ k: String) -> J? { top.first { $0.0 == k }?.1 }
        if get("logsource") == nil {
            if case .object? = get("Event") { return try windows(get("Event")!) }
            if case .object? = get("System") { return try windows(root) }
        }
        guard case .object(let ls)? = get("logsource") else {
            throw ParseError(description: "missing \"logsource\" object (or a Windows record's \"System\" or \"Event\" object)")
        }
        func lsKey(_ k: String) throws -> String? {
            switch ls.first(where: { $0.0 == k })?.1 {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default: throw ParseError(description: "logsource.\(k) is not a string")
            }
        }
        let logsource = LogSource(product: try lsKey("product"), category: try lsKey("category"), service: try lsKey("service"))
        if logsource.category == nil && logsource.service == nil && logsource.product == nil {
            throw ParseError(description: "logsource names no product, category or service")
        }
        guard case .object(let fields)? = get("event") else { throw ParseError(description: "missing \"event\" object") }
        var ts = 0.0
        switch get("@timestamp") {
        case .string(let s)?:
            guard let t = SigmaTimestamp.parse(s) else { throw ParseError(description: "unparsable @timestamp '\(s)'") }
            ts = t
        case .int(let i)?: ts = Double(i)
        case .double(let d)?: ts = d
        case nil, .null?: break
        default: throw ParseError(description: "@timestamp is not a string or number")
        }
        return [Event(logsource: logsource, timestamp: ts, fields: flatten(fields))]
    }

    static func flatten(_ fields: [(String, J)]) -> [(String, FieldValue)] {
        var out: [(String, FieldValue)] = []
        func add(_ prefix: String, _ v: J) {
            switch v {
            case .object(let kv): for (k, x) in kv { add(prefix.isEmpty ? k : prefix + "." + k, x) }
            default: out.append((prefix, fv(v)))
            }
        }
        for (k, v) in fields { add(k, v) }
        return out
    }

    // MARK: Windows event log records

    /// An attribute of a System element in any of the exporters' spellings: the element's own
    /// key (`"Provider":{"Name":…}`), evtx_dump's `"#attributes"`, xmltodict's `"@Name"`, or a
    /// sibling `"Provider_attributes"` object.
    static func attribute(_ system: J, _ element: String, _ name: String) -> J? {
        let e = system[element]
        return e?[name] ?? e?["#attributes"]?[name] ?? e?["@" + name] ?? system[element + "_attributes"]?[name]
            ?? system[element + "_attributes"]?["@" + name]
    }

    static func text(_ v: J?) -> String? {
        switch v {
        case .string(let s)?: return s
        case .int(let i)?: return String(i)
        case .object?: return text(v?["#text"] ?? v?["Value"] ?? v?["value"])
        default: return nil
        }
    }

    static func windows(_ record: J) throws -> [Event] {
        guard let system = record["System"], case .object = system else {
            throw ParseError(description: "Windows record without a \"System\" object")
        }
        let provider = text(attribute(system, "Provider", "Name"))
        let idValue = system["EventID"]
        guard let idText = text(idValue), let id = Int(idText.trimmingCharacters(in: .whitespaces)) else {
            throw ParseError(description: "System.EventID is missing or not a number (a number, a numeric string, or an object with \"#text\" or \"Value\")")
        }
        let channel = text(system["Channel"])
        var ts = 0.0
        if let t = text(attribute(system, "TimeCreated", "SystemTime")) ?? text(system["TimeCreated"]) {
            guard let parsed = SigmaTimestamp.parse(t) else {
                throw ParseError(description: "unparsable System.TimeCreated SystemTime '\(t)'")
            }
            ts = parsed
        }
        var data: [(String, FieldValue)] = []
        switch record["EventData"] ?? record["UserData"] {
        case .object(let kv)?:
            // xmltodict: {"Data":[{"@Name":"Image","#text":"…"}, …]}; otherwise name → value.
            if kv.count == 1, kv[0].0 == "Data", case .array(let items) = kv[0].1 {
                for item in items {
                    guard let name = text(item["@Name"] ?? item["Name"]) else { continue }
                    data.append((name, item["#text"].map(fv) ?? item["Value"].map(fv) ?? .string("")))
                }
            } else {
                data = flatten(kv.filter { $0.0 != "#attributes" && $0.0 != "@xmlns" && $0.0 != "xmlns" })
            }
        case nil, .null?: break
        default: throw ParseError(description: "EventData is not an object")
        }
        return WindowsEventLog.events(provider: provider, eventID: id, channel: channel, timestamp: ts, data: data)
    }

    static func fv(_ v: J) -> FieldValue {
        switch v {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(fv))
        case .object(let kv): return .string("{" + kv.map { "\($0.0)" }.joined(separator: ",") + "}")
        }
    }

    struct Parser {
        let b: [UInt8]
        var i = 0

        mutating func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 } }

        func err(_ what: String) -> ParseError { ParseError(description: "invalid JSON at byte \(i + 1): \(what)") }

        mutating func value(depth: Int) throws -> J {
            if depth > 64 { throw err("nesting too deep") }
            guard i < b.count else { throw err("unexpected end of line") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1; ws()
                var kv: [(String, J)] = []
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
                while true {
                    ws()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw err("expected a key") }
                    let k = try string()
                    ws()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw err("expected ':'") }
                    i += 1; ws()
                    kv.append((k, try value(depth: depth + 1)))
                    ws()
                    guard i < b.count else { throw err("unterminated object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
                    throw err("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1; ws()
                var items: [J] = []
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    ws()
                    items.append(try value(depth: depth + 1))
                    ws()
                    guard i < b.count else { throw err("unterminated array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw err("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try lit("true"); return .bool(true)
            case UInt8(ascii: "f"): try lit("false"); return .bool(false)
            case UInt8(ascii: "n"): try lit("null"); return .null
            default: return try number()
            }
        }

        mutating func lit(_ s: String) throws {
            let u = Array(s.utf8)
            guard i + u.count <= b.count, Array(b[i..<i + u.count]) == u else { throw err("unexpected token") }
            i += u.count
        }

        mutating func number() throws -> J {
            let start = i
            if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            var isFloat = false
            while i < b.count {
                let c = b[i]
                if c >= 0x30 && c <= 0x39 {
                    i += 1
                } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                    isFloat = true; i += 1
                } else {
                    break
                }
            }
            let text = String(decoding: b[start..<i], as: UTF8.self)
            if text.isEmpty || text == "-" { throw err("unexpected character") }
            if !isFloat, let v = Int64(text) { return .int(v) }
            guard let d = Double(text), d.isFinite else { throw err("invalid number '\(text)'") }
            return .double(d)
        }

        mutating func string() throws -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw err("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw err("control character in string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { throw err("unterminated escape") }
                let e = b[i]; i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var cp = try hex4()
                    if cp >= 0xD800 && cp < 0xDC00 {
                        guard i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw err("lone surrogate") }
                        i += 2
                        let lo = try hex4()
                        guard lo >= 0xDC00 && lo < 0xE000 else { throw err("bad surrogate pair") }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    } else if cp >= 0xDC00 && cp < 0xE000 {
                        throw err("lone surrogate")
                    }
                    guard let sc = Unicode.Scalar(cp) else { throw err("bad code point") }
                    out.append(contentsOf: Array(String(Character(sc)).utf8))
                default: throw err("bad escape")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw err("string is not valid UTF-8") }
            return s
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw err("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]; i += 1
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw err("bad hex digit")
                }
                v = v * 16 + d
            }
            return v
        }
    }
}
