import EDRCore
import Foundation

enum LitMode: UInt8, Hashable, Sendable { case exact, prefix, suffix, contains }

enum NumOp: UInt8, Hashable, Sendable {
    case lt, lte, gt, gte, eq, neq
    @inline(__always) func test(_ a: Double, _ b: Double) -> Bool {
        switch self {
        case .lt: return a < b
        case .lte: return a <= b
        case .gt: return a > b
        case .gte: return a >= b
        case .eq: return a == b
        case .neq: return a != b
        }
    }
}

enum TimeUnit: String, Hashable, Sendable, CaseIterable { case minute, hour, day, week, month, year }

struct CIDR: Hashable, Sendable {
    var v6: Bool
    var addr: [UInt8]  // 4 or 16 bytes
    var prefix: Int

    init?(_ text: String) {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2, let a = IPAddr.parse(String(pieces[0])) else { return nil }
        v6 = a.count == 16
        let maxLen = a.count * 8
        if pieces.count == 2 {
            guard let p = Int(pieces[1]), p >= 0, p <= maxLen else { return nil }
            prefix = p
        } else {
            prefix = maxLen
        }
        addr = a
    }

    func contains(_ ip: [UInt8]) -> Bool {
        var ip = ip
        if ip.count == 16 && !v6, ip[0..<10].allSatisfy({ $0 == 0 }), ip[10] == 0xFF, ip[11] == 0xFF {
            ip = Array(ip[12..<16])  // IPv4-mapped IPv6
        }
        guard ip.count == addr.count else { return false }
        var bits = prefix
        var i = 0
        while bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if (ip[i] & mask) != (addr[i] & mask) { return false }
            bits -= 8; i += 1
        }
        return true
    }
}

enum IPAddr {
    /// Dotted-quad IPv4 without allocation; nil if not exactly four decimal octets.
    static func parseV4(_ u: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var out: [UInt8] = [0, 0, 0, 0]
        var part = 0, val = 0, digits = 0
        for b in u {
            if b >= 0x30 && b <= 0x39 {
                val = val * 10 + Int(b - 0x30); digits += 1
                if digits > 3 || val > 255 { return nil }
            } else if b == UInt8(ascii: ".") {
                if digits == 0 || part == 3 { return nil }
                out[part] = UInt8(val); part += 1; val = 0; digits = 0
            } else {
                return nil
            }
        }
        if digits == 0 || part != 3 { return nil }
        out[3] = UInt8(val)
        return out
    }

    static func parse(_ s: String) -> [UInt8]? {
        var str = s
        if let v4 = str.withUTF8({ parseV4($0) }) { return v4 }
        guard str.utf8.contains(UInt8(ascii: ":")) else { return nil }
        var sub = Substring(s)
        if sub.hasPrefix("[") && sub.hasSuffix("]") { sub = sub.dropFirst().dropLast() }
        if let pct = sub.firstIndex(of: "%") { sub = sub[..<pct] }
        var a = in6_addr()
        let ok = String(sub).withCString { inet_pton(AF_INET6, $0, &a) }
        guard ok == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }
}

enum GlobTok: Hashable, Sendable { case lit([UInt8]), star, one }

/// One test on one field (or on every field, for keywords).
enum Test: Hashable, Sendable {
    /// Literal compare; bytes are folded unless `cased`.
    case lit(LitMode, [UInt8], cased: Bool)
    case glob([GlobTok], cased: Bool)
    case regex(String, flags: UInt32)
    /// The field is absent or null.
    case isNull
    case exists(Bool)
    case num(NumOp, Double)
    case time(TimeUnit, NumOp, Double)
    case cidr(CIDR)
    case fieldref(String, LitMode, cased: Bool)
}

struct Pred: Hashable, Sendable {
    /// nil: a keyword test on any field.
    var field: String?
    var test: Test
}

/// The detection logic of one rule before compilation.
indirect enum Expr: Sendable {
    case pred(Pred)
    case and([Expr])
    case or([Expr])
    case not(Expr)
    case const(Bool)
}

enum ScalarEval {
    static func number(_ v: FieldValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): return Double(s.trimmingCharacters(in: .whitespaces))
        case .bool, .null, .array: return nil
        }
    }

    /// Glob over bytes; `?` takes one UTF-8 scalar. Iterative with a single backtrack point
    /// (the last `*`), so it runs in O(pattern × text) whatever the number of stars.
    static func glob(_ toks: [GlobTok], _ s: UnsafeBufferPointer<UInt8>) -> Bool {
        var ti = 0, si = 0
        var starT = -1, starS = 0
        let n = s.count
        while true {
            if ti < toks.count {
                switch toks[ti] {
                case .star:
                    starT = ti; starS = si; ti += 1
                    continue
                case .lit(let b):
                    if n - si >= b.count && b.withUnsafeBufferPointer({ sameBytes($0.baseAddress!, s.baseAddress! + si, b.count) }) {
                        si += b.count; ti += 1
                        continue
                    }
                case .one:
                    if si < n {
                        si += 1
                        while si < n && (s[si] & 0xC0) == 0x80 { si += 1 }
                        ti += 1
                        continue
                    }
                }
            } else if si == n {
                return true
            }
            // Mismatch: let the last star take one more scalar, or fail.
            guard starT >= 0, starS < n else { return false }
            starS += 1
            while starS < n && (s[starS] & 0xC0) == 0x80 { starS += 1 }
            // A literal after the star can start only where its first byte is (never a UTF-8
            // continuation byte, so always at a scalar's start): go there at once instead of
            // comparing at every scalar on the way (a `*a*b*` rule on a long command line was a
            // compare per byte).
            if starS < n, starT + 1 < toks.count, case .lit(let b) = toks[starT + 1], let first = b.first {
                guard let hit = memchr(s.baseAddress! + starS, Int32(first), n - starS) else { return false }
                starS = UnsafeRawPointer(hit) - UnsafeRawPointer(s.baseAddress!)
            }
            si = starS; ti = starT + 1
        }
    }

    @inline(__always)
    static func lit(_ mode: LitMode, _ p: [UInt8], _ s: UnsafeBufferPointer<UInt8>) -> Bool {
        p.withUnsafeBufferPointer { lit(mode, $0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count, s) }
    }

    /// Whether the `n` bytes at `a` and at `b` are the same, compared in place: words of eight,
    /// the last overlapping the one before it; four and a half for 4–7 bytes; the first, middle
    /// and last byte for 1–3. The literals of rules on fields without an anchor are compared
    /// this way for every candidate rule (a `memcmp` call each was 5 % of the live detector's
    /// time with SigmaHQ's Linux rules), and the tries' chains (`TrieView.walk`).
    @inline(__always)
    static func sameBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        if n >= 8 {
            var i = 0
            while i &+ 8 <= n {
                if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                    return false
                }
                i &+= 8
            }
            return i == n
                || ra.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self) == rb.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)
        }
        if n >= 4 {
            return ra.loadUnaligned(as: UInt32.self) == rb.loadUnaligned(as: UInt32.self)
                && ra.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self) == rb.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self)
        }
        if n == 0 { return true }
        return a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n &- 1] == b[n &- 1]
    }

    @inline(__always)
    static func lit(_ mode: LitMode, _ pp: UnsafePointer<UInt8>, _ n: Int, _ s: UnsafeBufferPointer<UInt8>) -> Bool {
        let m = s.count
        if n > m { return false }
        if n == 0 { return mode != .exact || m == 0 }
        let sp = s.baseAddress!
        switch mode {
        case .exact: return n == m && sameBytes(pp, sp, n)
        case .prefix: return sameBytes(pp, sp, n)
        case .suffix: return sameBytes(pp, sp + (m - n), n)
        case .contains:
            let first = Int32(pp[0])
            let base = UnsafeRawPointer(sp)
            var off = 0
            while off + n <= m {
                guard let hit = memchr(base + off, first, m - off - n + 1) else { return false }
                let pos = UnsafeRawPointer(hit) - base
                if sameBytes(pp, sp + pos, n) { return true }
                off = pos + 1
            }
            return false
        }
    }

    /// Extracts a calendar component from a date value (ISO 8601 text or epoch seconds), UTC.
    static func timeComponent(_ unit: TimeUnit, _ v: FieldValue) -> Double? {
        var epoch: Double?
        switch v {
        case .int(let i): epoch = Double(i)
        case .double(let d): epoch = d
        case .string(let s): epoch = parseISO(s) ?? Double(s)
        default: return nil
        }
        guard let e = epoch, e.isFinite, abs(e) < 1e13 else { return nil }
        var t = time_t(e.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        switch unit {
        case .minute: return Double(tmv.tm_min)
        case .hour: return Double(tmv.tm_hour)
        case .day: return Double(tmv.tm_mday)
        case .month: return Double(tmv.tm_mon + 1)
        case .year: return Double(tmv.tm_year + 1900)
        case .week:
            // ISO 8601 week number
            let wday = (Int(tmv.tm_wday) + 6) % 7  // Monday = 0
            let yday = Int(tmv.tm_yday)
            var week = (yday - wday + 10) / 7
            if week < 1 {
                week = 52
            } else if week == 53 {
                let jan1 = (wday - yday % 7 + 7) % 7
                if !(jan1 == 3 || (jan1 == 2 && isLeap(Int(tmv.tm_year) + 1900))) { week = 1 }
            }
            return Double(week)
        }
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    /// Parses `YYYY-MM-DD[(T| )hh:mm[:ss[.fff]]][Z|±hh:mm]` to epoch seconds.
    static func parseISO(_ s: String) -> Double? {
        let b = Array(s.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for i in from..<from + len {
                let c = b[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard b.count >= 10, let y = num(0, 4), b[4] == 0x2D, let mo = num(5, 2), b[7] == 0x2D, let d = num(8, 2) else { return nil }
        var h = 0, mi = 0, sec = 0.0, off = 0
        var i = 10
        if i < b.count && (b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: " ")) {
            guard let hh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3A, let mm = num(i + 4, 2) else { return nil }
            h = hh; mi = mm; i += 6
            if i < b.count && b[i] == 0x3A, let ss = num(i + 1, 2) {
                sec = Double(ss); i += 3
                if i < b.count && b[i] == UInt8(ascii: ".") {
                    var j = i + 1; var frac = 0.0; var scale = 0.1
                    while j < b.count, b[j] >= 0x30 && b[j] <= 0x39 { frac += Double(b[j] - 0x30) * scale; scale /= 10; j += 1 }
                    sec += frac; i = j
                }
            }
            if i < b.count {
                if b[i] == UInt8(ascii: "Z") {
                    i += 1
                } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                    let sign = b[i] == UInt8(ascii: "+") ? 1 : -1
                    guard let oh = num(i + 1, 2) else { return nil }
                    var om = 0
                    if i + 3 < b.count && b[i + 3] == 0x3A { om = num(i + 4, 2) ?? 0 } else { om = num(i + 3, 2) ?? 0 }
                    off = sign * (oh * 3600 + om * 60)
                }
            }
        }
        guard (1...12).contains(mo), (1...31).contains(d) else { return nil }
        // days from civil
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = (mo + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Double(days * 86400 + h * 3600 + mi * 60) + sec - Double(off)
    }
}
