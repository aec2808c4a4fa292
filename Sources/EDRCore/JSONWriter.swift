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

    /// A key the program spells out: copied as it is (the program's keys need no escaping).
    public mutating func key(_ k: StaticString) {
        separator()
        k.withUTF8Buffer { u in
            assert(!u.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }, "a literal JSON key needs no escaping")
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: u)
        }
        bytes.append(contentsOf: Self.quoteColon)
        commaBits &= ~(1 << UInt64(min(depth, 63)))
    }
    private static let quoteColon: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: ":")]

    /// A key from data (an event's field name, a YARA meta name): escaped.
    public mutating func key(dynamic k: String) {
        separator()
        appendString(k)
        bytes.append(UInt8(ascii: ":"))
        commaBits &= ~(1 << UInt64(min(depth, 63)))
    }

    public mutating func string(_ s: String) { separator(); appendString(s) }
    public mutating func int<T: BinaryInteger>(_ v: T) {
        separator()
        guard let i = Int64(exactly: v) else { bytes.append(contentsOf: String(v).utf8); return }
        // Digits straight into the line (no String per number).
        var m = i.magnitude
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, digits from the end
        withUnsafeMutableBytes(of: &tmp) { t in
            var k = 24
            repeat { k -= 1; t[k] = UInt8(truncatingIfNeeded: 48 + m % 10); m /= 10 } while m != 0
            if i < 0 { k -= 1; t[k] = UInt8(ascii: "-") }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: t[k...]))
        }
    }

    /// A string from part of another (a path's last component): no copy into a new String.
    public mutating func string(_ s: Substring) {
        separator()
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ appendRun($0) }) { _ = done; return }
        appendString(String(s))
    }

    /// `s` split at spaces, empty pieces dropped, as an array of strings; returns their count.
    /// (Splits at the byte 0x20, where `split(separator: " ")` would not split a space that a
    /// combining mark follows.)
    @discardableResult
    public mutating func spaceSeparated(_ s: String) -> Int {
        var s = s
        beginArray()
        var count = 0
        s.withUTF8 { u in
            var start = 0
            for i in 0...u.count where i == u.count || u[i] == 0x20 {
                if i > start {
                    separator()
                    appendRun(UnsafeBufferPointer(rebasing: u[start..<i]))
                    count += 1
                }
                start = i + 1
            }
        }
        endArray()
        return count
    }
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
    public mutating func field(_ k: StaticString, _ s: String) { key(k); string(s) }
    public mutating func field(_ k: StaticString, _ s: String?) { if let s { key(k); string(s) } }
    public mutating func field<T: BinaryInteger>(_ k: StaticString, _ v: T) { key(k); int(v) }
    public mutating func field(_ k: StaticString, _ v: Bool) { key(k); bool(v) }
    public mutating func field(_ k: StaticString, _ v: [String]) { key(k); beginArray(); for s in v { string(s) }; endArray() }
    public mutating func field(dynamic k: String, _ s: String) { key(dynamic: k); string(s) }
    public mutating func field<T: BinaryInteger>(dynamic k: String, _ v: T) { key(dynamic: k); int(v) }

    private mutating func separator() {
        let bit: UInt64 = 1 << UInt64(min(depth, 63))
        if commaBits & bit != 0 { bytes.append(UInt8(ascii: ",")) }
        commaBits |= bit
    }

    /// UTF-8 bytes as a JSON string, escaped where needed.
    private mutating func appendRun(_ buf: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var clean = true
        for b in buf where b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F { clean = false; break }
        if clean {
            bytes.append(contentsOf: buf)
        } else {
            for b in buf { appendEscaped(b) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ b: UInt8) {
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

    private mutating func appendString(_ s: String) {
        // Native strings: their bytes in place; most need no escaping and are copied whole.
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ appendRun($0) }) { _ = done; return }
        var c = s
        c.withUTF8 { appendRun($0) }
    }
}
