import EDRCore

/// A DNS message as far as telemetry needs it: id, flags, questions, answers. Parsed in the
/// detector (unprivileged, sandboxed) from bytes the kernel copied; every offset is checked,
/// compression pointers may only point backwards, and names are bounded, so no input can
/// loop or crash.
public struct DnsMessage: Sendable, Equatable {
    public struct Question: Sendable, Equatable {
        public var name: String
        public var type: UInt16
    }
    public struct Answer: Sendable, Equatable {
        public var name: String
        public var type: UInt16
        public var ttl: UInt32
        /// A/AAAA: the address; CNAME/PTR/NS: the name; otherwise empty.
        public var value: String
    }
    public var id: UInt16
    public var isResponse: Bool
    public var rcode: UInt8
    public var questions: [Question]
    public var answers: [Answer]

    public static func parse(_ bytes: [UInt8]) -> DnsMessage? {
        guard bytes.count >= 12 else { return nil }
        func u16(_ o: Int) -> UInt16? { o + 2 <= bytes.count ? UInt16(bytes[o]) << 8 | UInt16(bytes[o + 1]) : nil }
        func u32(_ o: Int) -> UInt32? { o + 4 <= bytes.count ? UInt32(u16(o)!) << 16 | UInt32(u16(o + 2)!) : nil }
        let id = u16(0)!, flags = u16(2)!
        let qd = Int(u16(4)!), an = Int(u16(6)!)
        guard qd <= 16, an <= 256 else { return nil }
        var off = 12
        var questions: [Question] = []
        for _ in 0..<qd {
            guard let (name, next) = readName(bytes, off), let type = u16(next), u16(next + 2) != nil else { return nil }
            questions.append(Question(name: name, type: type))
            off = next + 4
        }
        var answers: [Answer] = []
        for _ in 0..<an {
            guard let (name, next) = readName(bytes, off), let type = u16(next), let ttl = u32(next + 4),
                let rdlen = u16(next + 8)
            else { break }  // answers may be cut off at the capture limit
            let rd = next + 10
            guard rd + Int(rdlen) <= bytes.count else { break }
            var value = ""
            switch type {
            case 1 where rdlen == 4:
                value = TelemetryRecordDecoder.formatIP(bytes[rd..<(rd + 4)], family: 2)
            case 28 where rdlen == 16:
                value = TelemetryRecordDecoder.formatIP(bytes[rd..<(rd + 16)], family: 10)
            case 5, 12, 2:
                value = readName(bytes, rd)?.0 ?? ""
            default: break
            }
            answers.append(Answer(name: name, type: type, ttl: ttl, value: value))
            off = rd + Int(rdlen)
        }
        return DnsMessage(id: id, isResponse: flags & 0x8000 != 0, rcode: UInt8(flags & 0xF), questions: questions, answers: answers)
    }

    /// A (possibly compressed) name at `start`: the dotted name and the offset after it.
    static func readName(_ b: [UInt8], _ start: Int) -> (String, Int)? {
        var labels: [String] = []
        var off = start
        var end: Int? = nil
        var jumps = 0
        var total = 0
        while true {
            guard off < b.count else { return nil }
            let len = Int(b[off])
            if len == 0 { off += 1; break }
            if len & 0xC0 == 0xC0 {
                guard off + 1 < b.count else { return nil }
                let target = (len & 0x3F) << 8 | Int(b[off + 1])
                guard target < off, jumps < 32 else { return nil }  // backwards only: no loops
                if end == nil { end = off + 2 }
                off = target
                jumps += 1
                continue
            }
            guard len & 0xC0 == 0, off + 1 + len <= b.count else { return nil }
            total += len + 1
            guard total <= 255 else { return nil }
            labels.append(String(decoding: b[(off + 1)..<(off + 1 + len)], as: UTF8.self))
            off += 1 + len
        }
        return (labels.joined(separator: "."), end ?? off)
    }

    public static func typeName(_ t: UInt16) -> String {
        switch t {
        case 1: "A"
        case 2: "NS"
        case 5: "CNAME"
        case 6: "SOA"
        case 12: "PTR"
        case 15: "MX"
        case 16: "TXT"
        case 28: "AAAA"
        case 33: "SRV"
        case 65: "HTTPS"
        case 255: "ANY"
        default: "TYPE\(t)"
        }
    }

    public static func rcodeName(_ r: UInt8) -> String {
        switch r {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        default: "RCODE\(r)"
        }
    }
}

/// IP address → the name a process last resolved to it, so connections carry
/// DestinationHostname. Bounded; entries live for the answer's TTL, clamped to
/// [minTTL, maxTTL] (a connection often comes after a short TTL ran out).
public struct DnsCache: Sendable {
    struct Entry { var name: String; var expires: UInt64 }
    public let capacity: Int
    public let minTTLNanos: UInt64
    public let maxTTLNanos: UInt64
    private var entries: [String: Entry] = [:]
    public private(set) var evictions: UInt64 = 0

    public init(capacity: Int = 65536, minTTLSeconds: UInt64 = 300, maxTTLSeconds: UInt64 = 86400) {
        self.capacity = capacity
        self.minTTLNanos = minTTLSeconds * 1_000_000_000
        self.maxTTLNanos = maxTTLSeconds * 1_000_000_000
    }

    public var count: Int { entries.count }

    public mutating func insert(ip: String, name: String, ttl: UInt32, now: UInt64) {
        let t = min(max(UInt64(ttl) * 1_000_000_000, minTTLNanos), maxTTLNanos)
        if entries[ip] == nil && entries.count >= capacity {
            let before = entries.count
            entries = entries.filter { $0.value.expires > now }
            if entries.count >= capacity {
                for k in entries.keys.prefix(max(1, capacity / 10)) { entries[k] = nil }
            }
            evictions += UInt64(before - entries.count)
        }
        entries[ip] = Entry(name: name, expires: now &+ t)
    }

    public func lookup(ip: String, now: UInt64) -> String? {
        guard let e = entries[Self.unmapped(ip)] ?? entries[ip], e.expires > now else { return nil }
        return e.name
    }

    /// Records every address of a response under the name that was asked (CNAME chains
    /// followed back to the question).
    public mutating func learn(_ m: DnsMessage, now: UInt64) {
        guard m.isResponse, m.rcode == 0 else { return }
        let asked = m.questions.first?.name
        for a in m.answers where (a.type == 1 || a.type == 28) && !a.value.isEmpty {
            insert(ip: a.value, name: asked ?? a.name, ttl: a.ttl, now: now)
        }
    }

    /// "::ffff:1.2.3.4" → "1.2.3.4".
    static func unmapped(_ ip: String) -> String {
        ip.hasPrefix("::ffff:") && ip.contains(".") ? String(ip.dropFirst(7)) : ip
    }
}
