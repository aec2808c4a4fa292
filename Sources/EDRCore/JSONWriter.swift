/// A small streaming JSON writer for alerts: no intermediate dictionaries, keys in the order
/// written, strings escaped per RFC 8259.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// One bit per open object or array (bit 0: the document): whether the next member needs a
    /// comma. 64 levels are far more than an alert has; deeper levels share the top bit.
    private var commaBits: UInt64 = 0
    private var depth = 0

    public init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    /// The document written so far as one NDJSON line (newline appended).
    public var line: [UInt8] { bytes + [0x0A] }

    public mutating func beginObject() { separator(); bytes.append(UInt8(ascii: "{")); push() }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); pop() }
    public mutating func beginArray() { separator(); bytes.append(UInt8(ascii: "[")); push() }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); pop() }

    private mutating func push() {
        depth += 1
        commaBits &= ~(1 << UInt64(min(depth, 63)))
    }
    private mutating func pop() { depth -= 1 }

    public mutating func key(_ k: String) {
        separator()
        appendString(k)
        bytes.append(UInt8(ascii: ":"))
        commaBits &= ~(1 << UInt64(min(depth, 63)))
    }

    public mutating func string(_ s: String) { separator(); appendString(s) }
    public mutating func int<T: BinaryInteger>(_ v: T) { separator(); bytes.append(contentsOf: String(v).utf8) }
    public mutating func bool(_ v: Bool) { separator(); bytes.append(contentsOf: (v ? "true" : "false").utf8) }
    /// Bytes that are already object members (`"a":1,"b":2`), written into the open object.
    public mutating func members(_ json: [UInt8]) {
        guard !json.isEmpty else { return }
        separator()
        bytes.append(contentsOf: json)
    }

    /// Bytes that are already a JSON value.
    public mutating func raw(_ json: [UInt8]) { separator(); bytes.append(contentsOf: json) }
    public mutating func null() { separator(); bytes.append(contentsOf: "null".utf8) }
    public mutating func double(_ v: Double) {
        separator()
        if v.isFinite {
            bytes.append(contentsOf: (v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)).utf8)
        } else {
            bytes.append(contentsOf: "null".utf8)
        }
    }

    public mutating func value(_ v: FieldValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .int(let i): int(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { value(item) }
            endArray()
        }
    }

    // Convenience: "key": value pairs.
    public mutating func field(_ k: String, _ s: String) { key(k); string(s) }
    public mutating func field(_ k: String, _ s: String?) { if let s { key(k); string(s) } }
    public mutating func field<T: BinaryInteger>(_ k: String, _ v: T) { key(k); int(v) }
    public mutating func field(_ k: String, _ v: Bool) { key(k); bool(v) }
    public mutating func field(_ k: String, _ v: [String]) { key(k); beginArray(); for s in v { string(s) }; endArray() }

    private mutating func separator() {
        let bit: UInt64 = 1 << UInt64(min(depth, 63))
        if commaBits & bit != 0 { bytes.append(UInt8(ascii: ",")) }
        commaBits |= bit
    }

    private mutating func appendString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings need no escaping: copy them whole.
        let clean =
            s.utf8.withContiguousStorageIfAvailable { buf -> Bool in
                for b in buf where b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F { return false }
                bytes.append(contentsOf: buf)
                return true
            } ?? false
        if clean {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0A: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
