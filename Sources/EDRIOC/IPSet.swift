#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed address: IPv4 in `lo` (low 32 bits), IPv6 as two big-endian 64-bit halves.
/// IPv4-mapped IPv6 (::ffff:a.b.c.d) is reported as IPv4.
struct IPAddress: Hashable, Sendable {
    var v6: Bool
    var hi: UInt64
    var lo: UInt64

    static func v4(_ a: UInt32) -> IPAddress { IPAddress(v6: false, hi: 0, lo: UInt64(a)) }

    /// Parses a dotted-quad IPv4 or an IPv6 literal (optionally in brackets, with a zone).
    static func parse(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> IPAddress? {
        if let a = parseV4(p, from, to) { return .v4(a) }
        var s = from, e = to
        if e - s >= 2 && p[s] == UInt8(ascii: "[") && p[e - 1] == UInt8(ascii: "]") { s += 1; e -= 1 }
        var colon = false
        for i in s..<e {
            if p[i] == UInt8(ascii: "%") { e = i; break }
            if p[i] == UInt8(ascii: ":") { colon = true }
        }
        guard colon, e - s >= 2, e - s <= 45 else { return nil }
        var addr = in6_addr()
        let ok = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 48) { buf -> Bool in
            for i in s..<e { buf[i - s] = CChar(bitPattern: p[i]) }
            buf[e - s] = 0
            return inet_pton(AF_INET6, buf.baseAddress!, &addr) == 1
        }
        guard ok else { return nil }
        var hi: UInt64 = 0, lo: UInt64 = 0
        withUnsafeBytes(of: &addr) { bytes in
            for i in 0..<8 { hi = hi << 8 | UInt64(bytes[i]) }
            for i in 8..<16 { lo = lo << 8 | UInt64(bytes[i]) }
        }
        if hi == 0 && lo >> 32 == 0xFFFF { return .v4(UInt32(truncatingIfNeeded: lo)) }
        return IPAddress(v6: true, hi: hi, lo: lo)
    }

    static func parse(_ s: String) -> IPAddress? {
        var s = s
        return s.withUTF8 { parse($0, 0, $0.count) }
    }

    @inline(__always)
    static func parseV4(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var parts = 0
        var i = from
        while i < to {
            let c = p[i]
            if c &- 48 < 10 {
                octet = octet * 10 + UInt32(c &- 48)
                digits += 1
                if digits > 3 || octet > 255 { return nil }
            } else if c == UInt8(ascii: ".") {
                if digits == 0 || parts == 3 { return nil }
                value = value << 8 | octet
                parts += 1
                octet = 0
                digits = 0
            } else {
                return nil
            }
            i += 1
        }
        guard parts == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    var string: String {
        if !v6 {
            let a = UInt32(truncatingIfNeeded: lo)
            return "\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)"
        }
        var addr = in6_addr()
        withUnsafeMutableBytes(of: &addr) { b in
            for i in 0..<8 { b[i] = UInt8(truncatingIfNeeded: hi >> (56 - 8 * i)) }
            for i in 0..<8 { b[8 + i] = UInt8(truncatingIfNeeded: lo >> (56 - 8 * i)) }
        }
        var out = [CChar](repeating: 0, count: 64)
        guard inet_ntop(AF_INET6, &addr, &out, 64) != nil else { return "?" }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// IPv4/IPv6 addresses and CIDRs with longest-prefix lookup: for each prefix length in use, a
/// sorted array of networks; a lookup masks the address per length, longest first, and
/// binary-searches. 8 bytes per IPv4 entry, 24 per IPv6 entry.
struct IPSet: Sendable {
    /// Per IPv4 prefix length: (network << 32 | label), sorted.
    private var v4: [[UInt64]] = Array(repeating: [], count: 33)
    private var v6: [[V6Entry]] = Array(repeating: [], count: 129)
    private var v4Lengths: [Int] = []
    /// For large IPv4 arrays: start index of each top-16-bit bucket (65,537 entries), so a
    /// lookup binary-searches ~count/65536 entries instead of the whole array.
    private var v4Buckets: [[UInt32]] = Array(repeating: [], count: 33)
    private var v6Lengths: [Int] = []
    private var sorted = true

    struct V6Entry: Sendable {
        var hi: UInt64
        var lo: UInt64
        var label: UInt32
    }

    /// Entries (exact after `finish()`).
    private(set) var count = 0

    mutating func reserveV4(_ n: Int, prefix: Int = 32) { v4[prefix].reserveCapacity(n) }

    static func maskV4(_ a: UInt32, _ len: Int) -> UInt32 { len == 0 ? 0 : a & ~UInt32(0) << UInt32(32 - len) }

    static func maskV6(_ hi: UInt64, _ lo: UInt64, _ len: Int) -> (UInt64, UInt64) {
        if len == 0 { return (0, 0) }
        if len <= 64 { return (hi & (~UInt64(0) << UInt64(64 - len)), 0) }
        if len == 128 { return (hi, lo) }
        return (hi, lo & (~UInt64(0) << UInt64(128 - len)))
    }

    /// Adds a network (host bits are cleared). Call `finish()` before lookups.
    mutating func insert(_ a: IPAddress, prefix: Int, label: UInt32) {
        if a.v6 {
            let (h, l) = IPSet.maskV6(a.hi, a.lo, prefix)
            v6[prefix].append(V6Entry(hi: h, lo: l, label: label))
        } else {
            let net = IPSet.maskV4(UInt32(truncatingIfNeeded: a.lo), prefix)
            v4[prefix].append(UInt64(net) << 32 | UInt64(label))
        }
        count += 1
        sorted = false
    }

    /// Sorts and dedups (first label wins).
    mutating func finish() {
        guard !sorted else { return }
        for len in 0...32 where !v4[len].isEmpty {
            // Ties sort by label id, so duplicates keep the label interned first.
            var arr = v4[len]
            if !isSortedByNetwork(arr) { arr.sort() }
            var out: [UInt64] = []
            out.reserveCapacity(arr.count)
            for e in arr where out.last.map({ $0 >> 32 != e >> 32 }) ?? true { out.append(e) }
            v4[len] = out
        }
        for len in 0...128 where !v6[len].isEmpty {
            let arr = v6[len].enumerated().sorted {
                ($0.element.hi, $0.element.lo, $0.offset) < ($1.element.hi, $1.element.lo, $1.offset)
            }.map(\.element)
            var out: [V6Entry] = []
            for e in arr where out.last.map({ $0.hi != e.hi || $0.lo != e.lo }) ?? true { out.append(e) }
            v6[len] = out
        }
        count = v4.reduce(0) { $0 + $1.count } + v6.reduce(0) { $0 + $1.count }
        for len in 0...32 {
            guard v4[len].count >= 16384 else { v4Buckets[len] = []; continue }
            var starts = [UInt32](repeating: 0, count: 65537)
            var i = 0
            let arr = v4[len]
            for bucket in 0...65536 {
                while i < arr.count && Int(arr[i] >> 48) < bucket { i += 1 }
                starts[bucket] = UInt32(i)
            }
            v4Buckets[len] = starts
        }
        v4Lengths = (0...32).reversed().filter { !v4[$0].isEmpty }
        v6Lengths = (0...128).reversed().filter { !v6[$0].isEmpty }
        sorted = true
    }

    private func isSortedByNetwork(_ a: [UInt64]) -> Bool {
        var prev: UInt64 = 0
        for (i, e) in a.enumerated() {
            if i > 0 && e >> 32 < prev { return false }
            prev = e >> 32
        }
        return true
    }

    mutating func remapLabels(_ map: [UInt32]) {
        for len in 0...32 where !v4[len].isEmpty {
            v4[len].withUnsafeMutableBufferPointer { a in
                for i in a.indices { a[i] = (a[i] & 0xFFFF_FFFF_0000_0000) | UInt64(map[Int(a[i] & 0xFFFF_FFFF)]) }
            }
        }
        for len in 0...128 where !v6[len].isEmpty {
            for i in v6[len].indices { v6[len][i].label = map[Int(v6[len][i].label)] }
        }
    }

    /// Appends every entry of `other` (labels already remapped); call `finish()` after.
    mutating func appendAll(of other: IPSet) {
        for len in 0...32 where !other.v4[len].isEmpty {
            if v4[len].isEmpty { v4[len] = other.v4[len] } else { v4[len].append(contentsOf: other.v4[len]) }
        }
        for len in 0...128 where !other.v6[len].isEmpty { v6[len].append(contentsOf: other.v6[len]) }
        count += other.count
        sorted = false
    }

    /// Longest matching prefix: (network, prefix length, label).
    func lookup(_ a: IPAddress) -> (IPAddress, Int, UInt32)? {
        if !a.v6 {
            let addr = UInt32(truncatingIfNeeded: a.lo)
            for len in v4Lengths {
                let net = UInt64(IPSet.maskV4(addr, len))
                let arr = v4[len]
                var lo = 0, hi = arr.count
                let buckets = v4Buckets[len]
                if !buckets.isEmpty {
                    let b = Int(net >> 16)
                    lo = Int(buckets[b])
                    hi = Int(buckets[b + 1])
                }
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if arr[mid] >> 32 < net { lo = mid + 1 } else { hi = mid }
                }
                if lo < arr.count && arr[lo] >> 32 == net {
                    return (.v4(UInt32(net)), len, UInt32(truncatingIfNeeded: arr[lo]))
                }
            }
            return nil
        }
        for len in v6Lengths {
            let (h, l) = IPSet.maskV6(a.hi, a.lo, len)
            let arr = v6[len]
            var lo = 0, hi = arr.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                if (arr[mid].hi, arr[mid].lo) < (h, l) { lo = mid + 1 } else { hi = mid }
            }
            if lo < arr.count && arr[lo].hi == h && arr[lo].lo == l {
                return (IPAddress(v6: true, hi: h, lo: l), len, arr[lo].label)
            }
        }
        return nil
    }

    var memoryBytes: Int {
        v4.reduce(0) { $0 + $1.capacity * 8 } + v6.reduce(0) { $0 + $1.capacity * 24 } + v4Buckets.reduce(0) { $0 + $1.capacity * 4 }
    }
}
