#if canImport(Glibc)
import Glibc
#endif

/// Zero-filled UInt64 slots from anonymous mmap, with transparent huge pages requested before
/// first touch: random probes into a multi-megabyte table otherwise pay a TLB miss each.
final class SlotBuffer: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt64>
    let count: Int
    private let bytes: Int

    init(count: Int) {
        self.count = count
        let huge = 2 << 20
        let size = max(4096, (count * 8 + huge - 1) / huge * huge)
        #if canImport(Glibc)
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if let p, p != MAP_FAILED {
            if size >= huge { _ = madvise(p, size, MADV_HUGEPAGE) }
            base = p.bindMemory(to: UInt64.self, capacity: count)
            bytes = size
            return
        }
        #endif
        base = UnsafeMutablePointer<UInt64>.allocate(capacity: count)
        base.initialize(repeating: 0, count: count)
        bytes = 0
    }

    func copy() -> SlotBuffer {
        let c = SlotBuffer(count: count)
        c.base.update(from: base, count: count)
        return c
    }

    deinit {
        #if canImport(Glibc)
        if bytes > 0 { munmap(base, bytes); return }
        #endif
        base.deallocate()
    }
}

/// Domains in one byte arena with an open-addressing hash table (linear probing, load ≤ 0.7,
/// 32-bit hash tags in the slots). Matching is exact or on any
/// parent domain, ASCII case-insensitive, trailing dot ignored. About 40 bytes per domain.
struct DomainSet: Sendable {
    private var bytes: [UInt8] = []
    private var offsets: [UInt32] = []
    private var lengths: [UInt8] = []
    private(set) var labelIDs: [UInt32] = []
    /// (hash high 32 bits << 32) | (entry index + 1); 0 = empty.
    private var table = SlotBuffer(count: 16)
    private var mask = 15

    var count: Int { offsets.count }

    mutating func reserve(_ n: Int) {
        offsets.reserveCapacity(n)
        lengths.reserveCapacity(n)
        labelIDs.reserveCapacity(n)
        bytes.reserveCapacity(n * 16)
        var cap = 16
        while cap * 7 < n * 10 { cap <<= 1 }
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
        if (offsets.count + 1) * 10 > table.count * 7 { rehash(table.count * 2) }
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

    /// Inserts ranges of `d` in order, as `insert` would, but first loads every target slot so
    /// the cache misses overlap instead of being paid one after another.
    mutating func insertBatch(_ d: UnsafeBufferPointer<UInt8>, _ items: UnsafeBufferPointer<(Int, Int, UInt32)>) {
        if (offsets.count + items.count) * 10 > table.count * 7 {
            var cap = table.count
            while (offsets.count + items.count) * 10 > cap * 7 { cap <<= 1 }
            rehash(cap)
        }
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: items.count) { hashes in
            let t = table.base
            for (k, item) in items.enumerated() { hashes[k] = DomainSet.hash(d, item.0, item.1) }
            // A tight loop of independent loads: the out-of-order window holds all of them.
            var touch: UInt64 = 0
            for k in 0..<items.count { touch &+= t[Int(truncatingIfNeeded: hashes[k]) & mask] }
            sink &+= touch
            for (k, item) in items.enumerated() {
                let h = hashes[k]
                if find(d, item.0, item.1, h) != nil { continue }
                let idx = UInt32(offsets.count)
                offsets.append(UInt32(bytes.count))
                lengths.append(UInt8(item.1 - item.0))
                labelIDs.append(item.2)
                let start = bytes.count
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: d[item.0..<item.1]))
                bytes.withUnsafeMutableBufferPointer { m in
                    for i in start..<m.count { m[i] = DomainSet.lower(m[i]) }
                }
                place(h, idx)
            }
        }
    }

    /// Keeps the slot pre-loads in `insertBatch` from being optimized away.
    private var sink: UInt64 = 0

    private mutating func place(_ h: UInt64, _ idx: UInt32) {
        if !isKnownUniquelyReferenced(&table) { table = table.copy() }
        let t = table.base
        var slot = Int(truncatingIfNeeded: h) & mask
        while t[slot] != 0 { slot = (slot + 1) & mask }
        t[slot] = (h & 0xFFFF_FFFF_0000_0000) | UInt64(idx + 1)
    }

    private mutating func rehash(_ cap: Int) {
        table = SlotBuffer(count: cap)
        mask = cap - 1
        let t = table.base
        bytes.withUnsafeBufferPointer { b in
            for i in 0..<offsets.count {
                let o = Int(offsets[i])
                let h = DomainSet.hash(b, o, o + Int(lengths[i]))
                var slot = Int(truncatingIfNeeded: h) & mask
                while t[slot] != 0 { slot = (slot + 1) & mask }
                t[slot] = (h & 0xFFFF_FFFF_0000_0000) | UInt64(i + 1)
            }
        }
    }

    /// Entry index of the domain q[from..<to] (case-insensitive), if present.
    @inline(__always)
    func find(_ q: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, _ h: UInt64) -> Int? {
        let tag = h & 0xFFFF_FFFF_0000_0000
        let len = to - from
        var slot = Int(truncatingIfNeeded: h) & mask
        let t = table.base
        return bytes.withUnsafeBufferPointer { b -> Int? in
            while true {
                let e = t[slot]
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

    var memoryBytes: Int { bytes.capacity + offsets.capacity * 4 + lengths.capacity + labelIDs.capacity * 4 + table.count * 8 }
}
