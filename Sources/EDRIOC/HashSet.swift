/// MD5, SHA-1 and SHA-256 digests (kind chosen by hex length), sorted binary arrays.
struct DigestSet: Sendable {
    struct Entry: Sendable, Comparable {
        var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64
        var label: UInt32
        static func < (a: Entry, b: Entry) -> Bool { (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3) }
        func sameKey(_ b: Entry) -> Bool { w0 == b.w0 && w1 == b.w1 && w2 == b.w2 && w3 == b.w3 }
    }

    /// Indexed by kind: 0 = MD5 (32 hex), 1 = SHA-1 (40), 2 = SHA-256 (64).
    private var sets: [[Entry]] = [[], [], []]
    private var sorted = true

    var count: Int { sets.reduce(0) { $0 + $1.count } }
    var kindsPresent: (md5: Bool, sha1: Bool, sha256: Bool) { (!sets[0].isEmpty, !sets[1].isEmpty, !sets[2].isEmpty) }

    static func kind(forHexLength n: Int) -> Int? {
        switch n {
        case 32: return 0
        case 40: return 1
        case 64: return 2
        default: return nil
        }
    }

    @inline(__always)
    static func nibble(_ c: UInt8) -> UInt64? {
        switch c {
        case 48...57: return UInt64(c - 48)
        case 97...102: return UInt64(c - 87)
        case 65...70: return UInt64(c - 55)
        default: return nil
        }
    }

    /// Parses a hex digest of 32/40/64 characters into (kind, entry).
    static func parse(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> (Int, Entry)? {
        guard let kind = kind(forHexLength: to - from) else { return nil }
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var i = from
        var n = 0
        while i < to {
            guard let v = nibble(p[i]) else { return nil }
            switch n >> 4 {
            case 0: w.0 = w.0 << 4 | v
            case 1: w.1 = w.1 << 4 | v
            case 2: w.2 = w.2 << 4 | v
            default: w.3 = w.3 << 4 | v
            }
            n += 1
            i += 1
        }
        // Left-align SHA-1's trailing partial word so words compare consistently.
        if n & 15 != 0 { w.2 <<= UInt64(4 * (16 - n & 15)) }
        return (kind, Entry(w0: w.0, w1: w.1, w2: w.2, w3: w.3, label: 0))
    }

    static func parse(_ s: String) -> (Int, Entry)? {
        var s = s
        return s.withUTF8 { parse($0, 0, $0.count) }
    }

    mutating func insert(kind: Int, _ e: Entry) {
        sets[kind].append(e)
        sorted = false
    }

    mutating func remapLabels(_ map: [UInt32]) {
        for k in 0..<3 { for i in sets[k].indices { sets[k][i].label = map[Int(sets[k][i].label)] } }
    }

    mutating func appendAll(of other: DigestSet) {
        for k in 0..<3 where !other.sets[k].isEmpty { sets[k].append(contentsOf: other.sets[k]) }
        sorted = false
    }

    mutating func finish() {
        guard !sorted else { return }
        for k in 0..<3 {
            var arr = sets[k].enumerated().sorted { $0.element < $1.element || (!($1.element < $0.element) && $0.offset < $1.offset) }.map(\.element)
            var out: [Entry] = []
            out.reserveCapacity(arr.count)
            for e in arr where !(out.last?.sameKey(e) ?? false) { out.append(e) }
            arr = []
            sets[k] = out
        }
        sorted = true
    }

    func lookup(kind: Int, _ e: Entry) -> UInt32? {
        let arr = sets[kind]
        var lo = 0, hi = arr.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if arr[mid] < e { lo = mid + 1 } else { hi = mid }
        }
        return lo < arr.count && arr[lo].sameKey(e) ? arr[lo].label : nil
    }

    static func hex(kind: Int, _ e: Entry) -> String {
        let n = [32, 40, 64][kind]
        let digits = Array("0123456789abcdef".utf8)
        let words = [e.w0, e.w1, e.w2, e.w3]
        var out = [UInt8]()
        out.reserveCapacity(n)
        for i in 0..<n {
            let w = words[i >> 4]
            out.append(digits[Int(w >> UInt64(60 - 4 * (i & 15)) & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    var memoryBytes: Int { sets.reduce(0) { $0 + $1.capacity * MemoryLayout<Entry>.stride } }
}
