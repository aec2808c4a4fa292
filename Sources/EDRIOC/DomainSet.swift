/// Domains in one byte arena with an open-addressing hash table. Matching is exact or on any
/// parent domain, ASCII case-insensitive, trailing dot ignored. About 40 bytes per domain.
struct DomainSet: Sendable {
    private var bytes: [UInt8] = []
    private var offsets: [UInt32] = []
    private var lengths: [UInt8] = []
    private(set) var labelIDs: [UInt32] = []
    /// (hash high 32 bits << 32) | (entry index + 1); 0 = empty.
    private var table: [UInt64] = Array(repeating: 0, count: 16)
    private var mask = 15

    var count: Int { offsets.count }

    mutating func reserve(_ n: Int) {
        offsets.reserveCapacity(n)
        lengths.reserveCapacity(n)
        labelIDs.reserveCapacity(n)
        bytes.reserveCapacity(n * 16)
        var cap = 16
        while cap < n * 2 { cap <<= 1 }
        if cap > table.count { rehash(cap) }
    }

    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 { c &- 65 < 26 ? c | 0x20 : c }

    @inline(__always)
    static func hash(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var i = from
        while i < to {
            h = (h ^ UInt64(lower(p[i]))) &* 0x0000_0100_0000_01b3
            i += 1
        }
        return h ^ (h >> 29)
    }

    /// Adds d[from..<to] (validated, no trailing dot), lowercased; false if already present.
    @discardableResult
    mutating func insert(_ d: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, label: UInt32) -> Bool {
        let h = DomainSet.hash(d, from, to)
        if find(d, from, to, h) != nil { return false }
        if (offsets.count + 1) * 2 > table.count { rehash(table.count * 2) }
        let idx = UInt32(offsets.count)
        offsets.append(UInt32(bytes.count))
        lengths.append(UInt8(to - from))
        labelIDs.append(label)
        let start = bytes.count
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: d[from..<to]))
        bytes.withUnsafeMutableBufferPointer { m in
            for i in start..<m.count { m[i] = DomainSet.lower(m[i]) }
        }
        place(h, idx)
        return true
    }

    private mutating func place(_ h: UInt64, _ idx: UInt32) {
        var slot = Int(truncatingIfNeeded: h) & mask
        while table[slot] != 0 { slot = (slot + 1) & mask }
        table[slot] = (h & 0xFFFF_FFFF_0000_0000) | UInt64(idx + 1)
    }

    private mutating func rehash(_ cap: Int) {
        table = Array(repeating: 0, count: cap)
        mask = cap - 1
        bytes.withUnsafeBufferPointer { b in
            for i in 0..<offsets.count {
                let o = Int(offsets[i])
                let h = DomainSet.hash(b, o, o + Int(lengths[i]))
                var slot = Int(truncatingIfNeeded: h) & mask
                while table[slot] != 0 { slot = (slot + 1) & mask }
                table[slot] = (h & 0xFFFF_FFFF_0000_0000) | UInt64(i + 1)
            }
        }
    }

    /// Entry index of the domain q[from..<to] (case-insensitive), if present.
    @inline(__always)
    func find(_ q: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, _ h: UInt64) -> Int? {
        let tag = h & 0xFFFF_FFFF_0000_0000
        let len = to - from
        var slot = Int(truncatingIfNeeded: h) & mask
        return bytes.withUnsafeBufferPointer { b -> Int? in
            while true {
                let e = table[slot]
                if e == 0 { return nil }
                if e & 0xFFFF_FFFF_0000_0000 == tag {
                    let i = Int(e & 0xFFFF_FFFF) - 1
                    if Int(lengths[i]) == len {
                        let o = Int(offsets[i])
                        var k = 0
                        while k < len && b[o + k] == DomainSet.lower(q[from + k]) { k += 1 }
                        if k == len { return i }
                    }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    /// The most specific listed domain equal to `host` or a parent of it.
    func lookup(_ host: UnsafeBufferPointer<UInt8>) -> Int? { lookup(host, 0, host.count) }

    /// Same, for host[from..<to].
    func lookup(_ host: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Int? {
        var end = to
        while end > from && host[end - 1] == UInt8(ascii: ".") { end -= 1 }
        guard end > from, count > 0 else { return nil }
        var start = from
        while start < end {
            if let i = find(host, start, end, DomainSet.hash(host, start, end)) { return i }
            // Next label.
            while start < end && host[start] != UInt8(ascii: ".") { start += 1 }
            start += 1
        }
        return nil
    }

    func lookup(_ host: String) -> Int? {
        var h = host
        return h.withUTF8 { lookup($0) }
    }

    func value(_ i: Int) -> String {
        let o = Int(offsets[i])
        return String(decoding: bytes[o..<(o + Int(lengths[i]))], as: UTF8.self)
    }

    /// Rewrites label ids through `map` (used when merging builders).
    mutating func remapLabels(_ map: [UInt32]) {
        labelIDs.withUnsafeMutableBufferPointer { l in for i in l.indices { l[i] = map[Int(l[i])] } }
    }

    /// Inserts every entry of `other` (labels already remapped).
    mutating func insertAll(of other: DomainSet) {
        other.bytes.withUnsafeBufferPointer { b in
            for i in 0..<other.count {
                let o = Int(other.offsets[i])
                insert(b, o, o + Int(other.lengths[i]), label: other.labelIDs[i])
            }
        }
    }

    var memoryBytes: Int { bytes.capacity + offsets.capacity * 4 + lengths.capacity + labelIDs.capacity * 4 + table.capacity * 8 }
}
