import EDRCore

/// A GUID in Windows' in-memory order (Data1 u32 LE, Data2 u16 LE, Data3 u16 LE, Data4 8 bytes).
/// (Not `GUID`: WinSDK declares one, and this module is built on Windows too.)
public struct WindowsGUID: Hashable, Sendable, CustomStringConvertible {
    public var data1: UInt32
    public var data2: UInt16
    public var data3: UInt16
    public var data4: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    public init(_ d1: UInt32, _ d2: UInt16, _ d3: UInt16, _ d4: [UInt8]) {
        precondition(d4.count == 8)
        data1 = d1
        data2 = d2
        data3 = d3
        data4 = (d4[0], d4[1], d4[2], d4[3], d4[4], d4[5], d4[6], d4[7])
    }

    /// Parses "{22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}" (braces optional, any case).
    public init?(_ text: String) {
        var hex = Array(text.utf8).filter { $0 != UInt8(ascii: "{") && $0 != UInt8(ascii: "}") }
        guard hex.count == 36, hex[8] == 0x2D, hex[13] == 0x2D, hex[18] == 0x2D, hex[23] == 0x2D else { return nil }
        hex.removeAll { $0 == 0x2D }
        var bytes: [UInt8] = []
        var i = 0
        while i < hex.count {
            guard let hi = WindowsGUID.nibble(hex[i]), let lo = WindowsGUID.nibble(hex[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        let d1 = bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let d2 = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        let d3 = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
        self.init(d1, d2, d3, Array(bytes[8..<16]))
    }

    /// Reads 16 bytes at `offset` (caller checked bounds).
    init(bytes b: [UInt8], at o: Int) {
        self.init(
            b.readLE(UInt32.self, at: o), b.readLE(UInt16.self, at: o + 4), b.readLE(UInt16.self, at: o + 6),
            Array(b[(o + 8)..<(o + 16)]))
    }

    /// The 16 bytes as Windows lays them out in memory.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.appendLE(data1)
        out.appendLE(data2)
        out.appendLE(data3)
        out.append(contentsOf: [data4.0, data4.1, data4.2, data4.3, data4.4, data4.5, data4.6, data4.7])
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// "{22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}", as Windows prints it.
    public var description: String {
        func h(_ v: UInt64, _ digits: Int) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, digits - s.count)) + s
        }
        let d4 = [data4.0, data4.1, data4.2, data4.3, data4.4, data4.5, data4.6, data4.7]
        return "{" + h(UInt64(data1), 8) + "-" + h(UInt64(data2), 4) + "-" + h(UInt64(data3), 4) + "-"
            + d4[0..<2].map { h(UInt64($0), 2) }.joined() + "-" + d4[2..<8].map { h(UInt64($0), 2) }.joined() + "}"
    }

    public static func == (a: WindowsGUID, b: WindowsGUID) -> Bool { a.bytes == b.bytes }
    public func hash(into h: inout Hasher) { h.combine(bytes) }
}

/// Bad input, naming the part ("header" or "user data"), the field and its offset.
public struct ETWDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var part: String
    public var field: String
    public var offset: Int
    public var reason: String

    public init(part: String, field: String, offset: Int, reason: String) {
        self.part = part
        self.field = field
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "\(part): \(field) at offset \(offset): \(reason)" }
}

/// One `etwRecord` frame payload (layout in `ETWRecordLayout`, EDRCore/Wire.swift).
public struct ETWRecord: Sendable {
    public var providerID: WindowsGUID
    public var eventID: UInt16
    public var version: UInt8
    public var opcode: UInt8
    public var level: UInt8
    public var channel: UInt8
    public var task: UInt16
    public var keyword: UInt64
    public var processID: UInt32
    public var threadID: UInt32
    /// FILETIME: 100 ns units since 1601-01-01 UTC.
    public var timestamp: UInt64
    public var flags: UInt16
    public var userData: [UInt8]

    /// Pointers in the user data are 4 bytes when the event came from a 32-bit context.
    public var pointerSize: Int { flags & ETWRecordLayout.flag32BitHeader != 0 ? 4 : 8 }

    public init(
        providerID: WindowsGUID, eventID: UInt16, version: UInt8, opcode: UInt8 = 0, level: UInt8 = 4, channel: UInt8 = 0,
        task: UInt16 = 0, keyword: UInt64 = 0, processID: UInt32, threadID: UInt32 = 0, timestamp: UInt64,
        flags: UInt16 = 0, userData: [UInt8]
    ) {
        self.providerID = providerID
        self.eventID = eventID
        self.version = version
        self.opcode = opcode
        self.level = level
        self.channel = channel
        self.task = task
        self.keyword = keyword
        self.processID = processID
        self.threadID = threadID
        self.timestamp = timestamp
        self.flags = flags
        self.userData = userData
    }

    /// Parses a frame payload. The header must be whole, reserved 0, and UserDataLength must
    /// match the bytes that follow exactly.
    public init(payload p: [UInt8]) throws(ETWDecodeError) {
        typealias L = ETWRecordLayout
        guard p.count >= L.headerSize else {
            throw ETWDecodeError(
                part: "header", field: ETWRecord.headerField(at: p.count), offset: p.count,
                reason: "record is \(p.count) bytes, the header alone is \(L.headerSize)")
        }
        let reserved = p.readLE(UInt32.self, at: L.reserved)
        guard reserved == 0 else {
            throw ETWDecodeError(part: "header", field: "reserved", offset: L.reserved, reason: "must be 0, is \(reserved)")
        }
        let length = Int(p.readLE(UInt16.self, at: L.userDataLength))
        guard p.count - L.headerSize == length else {
            throw ETWDecodeError(
                part: "header", field: "UserDataLength", offset: L.userDataLength,
                reason: "says \(length) bytes, \(p.count - L.headerSize) follow the header")
        }
        self.init(
            providerID: WindowsGUID(bytes: p, at: L.providerID), eventID: p.readLE(UInt16.self, at: L.eventID),
            version: p[L.version], opcode: p[L.opcode], level: p[L.level], channel: p[L.channel],
            task: p.readLE(UInt16.self, at: L.task), keyword: p.readLE(UInt64.self, at: L.keyword),
            processID: p.readLE(UInt32.self, at: L.processID), threadID: p.readLE(UInt32.self, at: L.threadID),
            timestamp: p.readLE(UInt64.self, at: L.timestamp), flags: p.readLE(UInt16.self, at: L.flags),
            userData: Array(p[L.headerSize...]))
    }

    /// The payload as the Windows sensor writes it (tests and tools).
    public func encoded() -> [UInt8] {
        var p = providerID.bytes
        p.appendLE(eventID)
        p.append(version)
        p.append(opcode)
        p.append(level)
        p.append(channel)
        p.appendLE(task)
        p.appendLE(keyword)
        p.appendLE(processID)
        p.appendLE(threadID)
        p.appendLE(timestamp)
        p.appendLE(flags)
        p.appendLE(UInt16(truncatingIfNeeded: userData.count))
        p.appendLE(UInt32(0))
        p.append(contentsOf: userData)
        return p
    }

    /// The header field a record of `count` bytes breaks off in.
    static func headerField(at count: Int) -> String {
        typealias L = ETWRecordLayout
        let fields: [(Int, String)] = [
            (L.providerID, "ProviderId"), (L.eventID, "Id"), (L.version, "Version"), (L.opcode, "Opcode"),
            (L.level, "Level"), (L.channel, "Channel"), (L.task, "Task"), (L.keyword, "Keyword"),
            (L.processID, "ProcessId"), (L.threadID, "ThreadId"), (L.timestamp, "TimeStamp"), (L.flags, "Flags"),
            (L.userDataLength, "UserDataLength"), (L.reserved, "reserved")
        ]
        return fields.last { $0.0 <= count }?.1 ?? "ProviderId"
    }

    /// Seconds since the Unix epoch.
    public var unixTime: Double { FileTime.unixSeconds(timestamp) }
}

public enum FileTime {
    /// 100 ns intervals between 1601-01-01 and 1970-01-01.
    public static let unixEpoch: UInt64 = 116_444_736_000_000_000

    /// FILETIME → seconds since the Unix epoch (negative before 1970).
    public static func unixSeconds(_ ft: UInt64) -> Double {
        ft >= unixEpoch ? Double(ft - unixEpoch) / 1e7 : -Double(unixEpoch - ft) / 1e7
    }

    public static func from(unixSeconds s: Double) -> UInt64 {
        UInt64((s * 1e7).rounded()) &+ unixEpoch
    }
}

/// Reads a record's user data field by field, in manifest order, with bounds checks: every
/// error names the field being read and its offset.
public struct UserDataReader: Sendable {
    public let bytes: [UInt8]
    public let pointerSize: Int
    public private(set) var offset = 0

    public init(_ bytes: [UInt8], pointerSize: Int) {
        self.bytes = bytes
        self.pointerSize = pointerSize
    }

    public var remaining: Int { bytes.count - offset }

    func fail(_ field: String, _ reason: String, at off: Int? = nil) -> ETWDecodeError {
        ETWDecodeError(part: "user data", field: field, offset: off ?? offset, reason: reason)
    }

    mutating func need(_ n: Int, _ field: String) throws(ETWDecodeError) {
        guard n <= remaining else {
            throw fail(field, "needs \(n) bytes, \(remaining) left")
        }
    }

    public mutating func u8(_ field: String) throws(ETWDecodeError) -> UInt8 {
        try need(1, field)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u16(_ field: String) throws(ETWDecodeError) -> UInt16 {
        try need(2, field)
        defer { offset += 2 }
        return bytes.readLE(UInt16.self, at: offset)
    }

    /// A port as `win:Port` carries it: network byte order.
    public mutating func port(_ field: String) throws(ETWDecodeError) -> UInt16 {
        let v = try u16(field)
        return v.byteSwapped
    }

    public mutating func u32(_ field: String) throws(ETWDecodeError) -> UInt32 {
        try need(4, field)
        defer { offset += 4 }
        return bytes.readLE(UInt32.self, at: offset)
    }

    public mutating func i32(_ field: String) throws(ETWDecodeError) -> Int32 {
        Int32(bitPattern: try u32(field))
    }

    public mutating func u64(_ field: String) throws(ETWDecodeError) -> UInt64 {
        try need(8, field)
        defer { offset += 8 }
        return bytes.readLE(UInt64.self, at: offset)
    }

    /// `win:Pointer`: 4 bytes under the 32-bit-header flag, else 8.
    public mutating func pointer(_ field: String) throws(ETWDecodeError) -> UInt64 {
        pointerSize == 4 ? UInt64(try u32(field)) : try u64(field)
    }

    public mutating func bytes(_ n: Int, _ field: String) throws(ETWDecodeError) -> [UInt8] {
        try need(n, field)
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    public mutating func guid(_ field: String) throws(ETWDecodeError) -> WindowsGUID {
        try need(16, field)
        defer { offset += 16 }
        return WindowsGUID(bytes: bytes, at: offset)
    }

    /// `win:FILETIME` as a raw u64.
    public mutating func filetime(_ field: String) throws(ETWDecodeError) -> UInt64 { try u64(field) }

    /// `win:UnicodeString`: UTF-16LE up to and including a NUL code unit.
    public mutating func utf16z(_ field: String) throws(ETWDecodeError) -> String {
        var units: [UInt16] = []
        var o = offset
        while true {
            guard o + 2 <= bytes.count else {
                throw fail(field, o + 1 == bytes.count ? "odd byte where a UTF-16 code unit should be" : "no UTF-16 terminator")
            }
            let u = bytes.readLE(UInt16.self, at: o)
            o += 2
            if u == 0 { break }
            units.append(u)
        }
        offset = o
        return String(decoding: units, as: UTF16.self)
    }

    /// `win:AnsiString`: bytes up to and including a NUL (decoded as UTF-8, invalid bytes replaced).
    public mutating func ansiz(_ field: String) throws(ETWDecodeError) -> String {
        guard let end = bytes[offset...].firstIndex(of: 0) else { throw fail(field, "no NUL terminator") }
        defer { offset = end + 1 }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }

    /// `win:SID`: revision, sub-authority count, 6-byte authority (big-endian), then count
    /// 32-bit little-endian sub-authorities → "S-1-5-21-…".
    public mutating func sid(_ field: String) throws(ETWDecodeError) -> String {
        let start = offset
        try need(8, field)
        let revision = bytes[offset]
        let count = Int(bytes[offset + 1])
        guard revision == 1 else { throw fail(field, "SID revision \(revision), expected 1") }
        guard count <= 15 else { throw fail(field, "SID has \(count) sub-authorities, at most 15 exist") }
        guard 8 + 4 * count <= remaining else {
            throw fail(field, "SID with \(count) sub-authorities needs \(8 + 4 * count) bytes, \(remaining) left")
        }
        var authority: UInt64 = 0
        for i in 0..<6 { authority = authority << 8 | UInt64(bytes[start + 2 + i]) }
        var s = "S-1-" + (authority < 1 << 32 ? String(authority) : "0x" + String(authority, radix: 16, uppercase: true))
        for i in 0..<count { s += "-" + String(bytes.readLE(UInt32.self, at: start + 8 + 4 * i)) }
        offset = start + 8 + 4 * count
        return s
    }

    /// 4 address bytes in network order (`win:IPv4`, read as the UInt32 the manifest declares).
    public mutating func ipv4(_ field: String) throws(ETWDecodeError) -> String {
        NetAddress.ipv4(try bytes(4, field))
    }

    /// 16 address bytes (`win:IPv6`, a `win:Binary` of length 16).
    public mutating func ipv6(_ field: String) throws(ETWDecodeError) -> String {
        NetAddress.ipv6(try bytes(16, field))
    }

    /// A SOCKADDR_IN or SOCKADDR_IN6 (`win:SocketAddress`): family, port (network order), address.
    public mutating func sockaddr(_ field: String, length: Int) throws(ETWDecodeError) -> (ip: String, port: UInt16) {
        let start = offset
        let b = try bytes(length, field)
        guard b.count >= 2 else { throw fail(field, "socket address of \(length) bytes", at: start) }
        let family = b.readLE(UInt16.self, at: 0)
        switch family {
        case 2:
            guard b.count >= 8 else { throw fail(field, "AF_INET address needs 8 bytes, has \(b.count)", at: start) }
            return (NetAddress.ipv4(Array(b[4..<8])), UInt16(b[2]) << 8 | UInt16(b[3]))
        case 23:
            guard b.count >= 24 else { throw fail(field, "AF_INET6 address needs 24 bytes, has \(b.count)", at: start) }
            return (NetAddress.ipv6(Array(b[8..<24])), UInt16(b[2]) << 8 | UInt16(b[3]))
        default:
            throw fail(field, "address family \(family), expected 2 (AF_INET) or 23 (AF_INET6)", at: start)
        }
    }
}

public enum NetAddress {
    public static func ipv4(_ b: [UInt8]) -> String { b.map { String($0) }.joined(separator: ".") }

    /// RFC 5952 text: lower-case, leading zeros dropped, the longest run of zero groups as
    /// "::"; IPv4-mapped addresses as ::ffff:a.b.c.d.
    public static func ipv6(_ b: [UInt8]) -> String {
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF {
            return "::ffff:" + ipv4(Array(b[12..<16]))
        }
        let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        if bestStart < 0 { return hex.joined(separator: ":") }
        let head = hex[0..<bestStart].joined(separator: ":")
        let tail = hex[(bestStart + bestLen)...].joined(separator: ":")
        return head + "::" + tail
    }
}
