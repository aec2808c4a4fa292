/// A small streaming JSON writer for alerts: no intermediate dictionaries, keys in the order
/// written, strings escaped per RFC 8259.
///
/// The line is written into one buffer this writer owns (noncopyable, so no copy-on-write
/// check per byte): an alert line is ≈ 2 KB written in ≈ 250 pieces, and an `Array` append
/// costs a uniqueness and a capacity check plus a call for each of them.
public struct JSONWriter: ~Copyable, @unchecked Sendable {
    private var base: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int
    /// One bit per open object or array (bit 0: the document): whether the next member needs a
    /// comma. 64 levels are far more than an alert has; deeper levels share the top bit.
    private var commaBits: UInt64 = 0
    private var depth = 0

    public init(capacity: Int = 1024) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The bytes written so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// The document written so far as one NDJSON line (newline appended).
    public var line: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count + 1) { b, n in
            b.baseAddress!.initialize(from: base, count: count)
            b[count] = 0x0A
            n = count + 1
        }
    }

    /// The bytes written so far without the first and the last: an object's members.
    public var memberBytes: [UInt8] {
        count < 2 ? [] : Array(UnsafeBufferPointer(start: base + 1, count: count - 2))
    }

    @inline(__always) private mutating func reserve(_ n: Int) {
        if count &+ n > capacity { grow(count + n) }
    }

    @inline(never) private mutating func grow(_ need: Int) {
        var c = capacity * 2
        while c < need { c *= 2 }
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        b.initialize(from: base, count: count)
        base.deallocate()
        base = b
        capacity = c
    }

    @inline(__always) private mutating func put(_ b: UInt8) {
        reserve(1)
        base[count] = b
        count &+= 1
    }

    @inline(__always) private mutating func put(_ p: UnsafePointer<UInt8>, _ n: Int) {
        reserve(n)
        (base + count).initialize(from: p, count: n)
        count &+= n
    }

    @inline(__always) private mutating func put(_ s: StaticString) {
        s.withUTF8Buffer { put($0.baseAddress!, $0.count) }
    }

    /// Bytes that are already JSON (a value or members), written as they are.
    public mutating func raw(_ p: UnsafeRawBufferPointer) {
        separator()
        if let a = p.baseAddress { put(a.assumingMemoryBound(to: UInt8.self), p.count) }
    }

    public mutating func beginObject() { separator(); put(UInt8(ascii: "{")); push() }
    public mutating func endObject() { put(UInt8(ascii: "}")); pop() }
    public mutating func beginArray() { separator(); put(UInt8(ascii: "[")); push() }
    public mutating func endArray() { put(UInt8(ascii: "]")); pop() }

    private mutating func push() {
        depth += 1
        commaBits &= ~(1 << UInt64(min(depth, 63)))
    }
    private mutating func pop() { depth -= 1 }

    /// A key the program spells out: copied as it is (the program's keys need no escaping).
    /// The comma, the quotes and the colon go in with the key's bytes in one reservation.
    public mutating func key(_ k: StaticString) {
        let bit: UInt64 = 1 << UInt64(min(depth, 63))
        k.withUTF8Buffer { u in
            assert(!u.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }, "a literal JSON key needs no escaping")
            let n = u.count
            reserve(n + 4)
            var p = base + count
            if commaBits & bit != 0 { p.pointee = UInt8(ascii: ","); p += 1 }
            p.pointee = UInt8(ascii: "\"")
            (p + 1).initialize(from: u.baseAddress!, count: n)
            p[n + 1] = UInt8(ascii: "\"")
            p[n + 2] = UInt8(ascii: ":")
            count = p - base + n + 3
        }
        commaBits &= ~bit
    }

    /// A key from data (an event's field name, a YARA meta name): escaped.
    public mutating func key(dynamic k: String) {
        separator()
        appendString(k)
        put(UInt8(ascii: ":"))
        commaBits &= ~(1 << UInt64(min(depth, 63)))
    }

    public mutating func string(_ s: String) { separator(); appendString(s) }
    public mutating func int<T: BinaryInteger>(_ v: T) {
        separator()
        guard let i = Int64(exactly: v) else {
            var s = String(v)
            s.withUTF8 { put($0.baseAddress!, $0.count) }
            return
        }
        // Digits straight into the line (no String per number).
        var m = i.magnitude
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, digits from the end
        withUnsafeMutableBytes(of: &tmp) { t in
            var k = 24
            repeat { k -= 1; t[k] = UInt8(truncatingIfNeeded: 48 + m % 10); m /= 10 } while m != 0
            if i < 0 { k -= 1; t[k] = UInt8(ascii: "-") }
            put(t.baseAddress!.assumingMemoryBound(to: UInt8.self) + k, 24 - k)
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
    public mutating func bool(_ v: Bool) { separator(); put(v ? "true" : "false") }
    /// Bytes that are already object members (`"a":1,"b":2`), written into the open object.
    public mutating func members(_ json: [UInt8]) {
        guard !json.isEmpty else { return }
        separator()
        json.withUnsafeBufferPointer { put($0.baseAddress!, $0.count) }
    }

    /// Bytes that are already a JSON value.
    public mutating func raw(_ json: [UInt8]) {
        separator()
        json.withUnsafeBufferPointer { if let a = $0.baseAddress { put(a, $0.count) } }
    }
    /// An RFC 3339 UTC timestamp (microseconds) as a string, written in place (as
    /// `formatTimestamp(epochSeconds:)` spells it, without a String per timestamp).
    public mutating func timestamp(epochSeconds: Double) {
        separator()
        let sec = epochSeconds.rounded(.down)
        reserve(32)
        base[count] = 0x22
        let n = writeTimestamp(base + count + 1, seconds: Int64(sec), nanos: Int((epochSeconds - sec) * 1e9), fractionDigits: 6)
        base[count + 1 + n] = 0x22
        count += n + 2
    }
    public mutating func null() { separator(); put("null") }
    public mutating func double(_ v: Double) {
        separator()
        if v.isFinite {
            var s = v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
            s.withUTF8 { put($0.baseAddress!, $0.count) }
        } else {
            put("null")
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

    @inline(__always) private mutating func separator() {
        let bit: UInt64 = 1 << UInt64(min(depth, 63))
        if commaBits & bit != 0 { put(UInt8(ascii: ",")) }
        commaBits |= bit
    }

    /// Whether any of the eight bytes of `w` needs escaping in a JSON string: below 0x20, `"`,
    /// `\` or DEL. Exact (no false answers either way): a byte's test can only be disturbed by
    /// a borrow from a lower byte that already answered yes.
    @inline(__always) static func needsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func zeroByte(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        let control = (w &- 0x2020_2020_2020_2020) & ~w & highs
        let quote = zeroByte(w ^ 0x2222_2222_2222_2222)
        let backslash = zeroByte(w ^ 0x5C5C_5C5C_5C5C_5C5C)
        let del = zeroByte(w ^ 0x7F7F_7F7F_7F7F_7F7F)
        return (control | quote | backslash | del) != 0
    }

    @inline(__always) static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F }

    /// Whether any of the `n` bytes at `src` needs escaping: eight at a time, the last word
    /// overlapping the one before it; fewer than eight one by one.
    @inline(__always) static func anyNeedsEscape(_ src: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if n < 8 {
            for i in 0..<n where needsEscape(src[i]) { return true }
            return false
        }
        var i = 0
        while i + 8 <= n {
            if needsEscape(UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self)) { return true }
            i += 8
        }
        return i < n && needsEscape(UnsafeRawPointer(src + n - 8).loadUnaligned(as: UInt64.self))
    }

    /// UTF-8 bytes as a JSON string, escaped where needed. A string that needs no escaping (most)
    /// is checked eight bytes at a time and copied with its quotes in one reservation; one that
    /// does is copied in the runs between the bytes that need it.
    private mutating func appendRun(_ buf: UnsafeBufferPointer<UInt8>) {
        let n = buf.count
        reserve(n + 2)
        guard n > 0, let src = buf.baseAddress else {
            base[count] = 0x22
            base[count + 1] = 0x22
            count += 2
            return
        }
        if !Self.anyNeedsEscape(src, n) {
            let p = base + count
            p[0] = 0x22
            (p + 1).initialize(from: src, count: n)
            p[n + 1] = 0x22
            count += n + 2
            return
        }
        put(0x22)
        var i = 0, run = 0
        while i < n {
            if i + 8 <= n, !Self.needsEscape(UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self)) {
                i += 8
                continue
            }
            let b = src[i]
            if Self.needsEscape(b) {
                if i > run { put(src + run, i - run) }
                appendEscaped(b)
                run = i + 1
            }
            i += 1
        }
        if n > run { put(src + run, n - run) }
        put(0x22)
    }

    private mutating func appendEscaped(_ b: UInt8) {
        reserve(6)
        let p = base + count
        p[0] = 0x5C
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): p[1] = b; count += 2
        case 0x0A: p[1] = UInt8(ascii: "n"); count += 2
        case 0x0D: p[1] = UInt8(ascii: "r"); count += 2
        case 0x09: p[1] = UInt8(ascii: "t"); count += 2
        default:
            let hex = UInt8(ascii: "0"), letter = UInt8(ascii: "a") - 10
            let hi = b >> 4, lo = b & 15
            p[1] = UInt8(ascii: "u")
            p[2] = hex
            p[3] = hex
            p[4] = hi < 10 ? hex + hi : letter + hi
            p[5] = lo < 10 ? hex + lo : letter + lo
            count += 6
        }
    }

    private mutating func appendString(_ s: String) {
        // Native strings: their bytes in place; most need no escaping and are copied whole.
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ appendRun($0) }) { _ = done; return }
        var c = s
        c.withUTF8 { appendRun($0) }
    }
}
