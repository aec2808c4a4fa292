import Foundation

/// `contains` literals of four bytes or more (and up to four shorter ones) found by skipping
/// (Wu–Manber): the scan looks at the last two bytes of a window as long as the shortest long
/// pattern and jumps ahead by as much as no pattern allows to be missed, up to that length
/// less one; only where the two bytes can end a pattern's first window does it walk the
/// patterns' trie from the window's start. Windows' `product: windows` keyword rule (twenty
/// keywords of 9 bytes or more, over every value of every event) reads one byte in six or so
/// instead of every byte through an automaton. A short pattern (SigmaHQ's Linux keyword rules
/// hold `:`, `@`, `rm `) is looked for with `memchr` on its rarest byte.
///
/// `scan` reports (pattern, end offset) for every occurrence of every long pattern, in order of
/// start offset, and the first occurrence of each short one: the evaluator only records which
/// `contains` atoms hold, so neither the order nor a second occurrence matters.
///
/// Why nothing is missed: let a pattern occur at `s`, so its first window ends at
/// `e = s + m − 1` (`m` the shortest length). Window ends advance by at most `m − 1`, so the
/// last one visited at or before `e`, say `j`, is past `s`; if `j < e`, the two bytes ending at
/// `j` are bytes `j − s − 1` and `j − s` of the pattern, whose shift entry is at most `e − j`
/// (the entry is the least over every pattern and position, and hashing two byte pairs to one
/// entry only lowers it), so the next window end is not past `e`: every occurrence's own
/// window end is visited, where the entry is 0 and the trie is walked from `s` (the `start`
/// entry of its first two bytes is set, as it is for every long pattern's).
final class SkipScanner: @unchecked Sendable {
    static let minimumLength = 4
    static let tableSize = 4096
    /// Patterns under `minimumLength` bytes a keyword pass's scanner takes beside its long ones
    /// (each is one `memchr` pass over the text, at most). Per field none: there a few short
    /// literals on common bytes cost more than the automaton (Windows process_creation: +6 %).
    static let keywordShort = 4
    /// The scan's tables, at a fixed address: the evaluator's per-group record holds this
    /// pointer rather than a copy (a larger record slowed every automaton scan).
    let view: UnsafeMutablePointer<SkipView>
    let trie: AnchoredTrie
    /// By pattern index.
    let patternLength: UnsafeMutablePointer<Int32>
    var memoryBytes: Int { Self.tableSize * 2 + trie.memoryBytes + shortBytes.count }
    /// A pattern holds a NUL byte (the keyword pass separates values by NUL).
    let hasNUL: Bool
    private let shift: UnsafeMutablePointer<UInt8>
    private let start: UnsafeMutablePointer<Bool>
    private let longIDs: UnsafeMutablePointer<Int32>
    private let shortBytes: UnsafeMutableBufferPointer<UInt8>
    private let shorts: UnsafeMutableBufferPointer<SkipView.Short>

    /// nil unless at least one pattern is `minimumLength` bytes or longer and at most
    /// `maximumShort` are shorter (an automaton is then the better scan).
    init?(patterns: [[UInt8]], maximumShort: Int) {
        let long = patterns.indices.filter { patterns[$0].count >= Self.minimumLength }
        let short = patterns.indices.filter { patterns[$0].count < Self.minimumLength && !patterns[$0].isEmpty }
        guard !long.isEmpty, short.count <= maximumShort else { return nil }
        let m = min(long.map { patterns[$0].count }.min()!, 255)
        var table = [UInt8](repeating: UInt8(m - 1), count: Self.tableSize)
        for i in long {
            let p = patterns[i]
            for q in 1..<m {
                let h = SkipView.hash(p[q - 1], p[q])
                table[h] = min(table[h], UInt8(m - 1 - q))
            }
        }
        shift = .allocate(capacity: Self.tableSize)
        shift.initialize(from: table, count: Self.tableSize)
        // The two bytes a long pattern starts with: a window whose end can end a pattern's
        // first window is walked only when its start can start one (most are not: 45 % fewer
        // walks in `edr-bench pipeline` with SigmaHQ's Linux rules).
        var starts = [Bool](repeating: false, count: Self.tableSize)
        for i in long { starts[SkipView.hash(patterns[i][0], patterns[i][1])] = true }
        start = .allocate(capacity: Self.tableSize)
        start.initialize(from: starts, count: Self.tableSize)
        trie = AnchoredTrie(patterns: long.map { patterns[$0] }, reversed: false)
        longIDs = .allocate(capacity: long.count)
        longIDs.initialize(from: long.map { Int32($0) }, count: long.count)
        patternLength = .allocate(capacity: patterns.count)
        patternLength.initialize(from: patterns.map { Int32($0.count) }, count: patterns.count)
        // A short pattern is looked for by its rarest byte (in folded command lines and paths).
        let common = Fold.commonBytes
        func rarity(_ b: UInt8) -> Int { common.firstIndex(of: b) ?? common.count }
        var bytes: [UInt8] = []
        var list: [SkipView.Short] = []
        for i in short {
            let p = patterns[i]
            let k = p.indices.max { rarity(p[$0]) < rarity(p[$1]) }!
            list.append(SkipView.Short(id: Int32(i), offset: Int32(bytes.count), length: Int32(p.count), key: Int32(k)))
            bytes += p
        }
        shortBytes = .allocate(capacity: max(bytes.count, 1))
        _ = shortBytes.initialize(from: bytes)
        shorts = .allocate(capacity: max(list.count, 1))
        _ = shorts.initialize(from: list)
        hasNUL = patterns.contains { $0.contains(0) }
        view = .allocate(capacity: 1)
        view.initialize(
            to: SkipView(
                window: m, shift: shift, start: start, trie: trie.view, longIDs: longIDs,
                shorts: UnsafeBufferPointer(rebasing: shorts[0..<list.count]), shortBytes: shortBytes.baseAddress!))
    }

    deinit {
        shift.deallocate(); start.deallocate(); longIDs.deallocate(); patternLength.deallocate(); shortBytes.deallocate(); shorts.deallocate()
        view.deinitialize(count: 1); view.deallocate()
    }
}

struct SkipView {
    struct Short {
        let id: Int32, offset: Int32, length: Int32
        /// The index of its rarest byte, which `memchr` looks for.
        let key: Int32
    }
    /// The shortest long pattern's length (at most 255).
    let window: Int
    let shift: UnsafeMutablePointer<UInt8>
    /// By the hash of a window's first two bytes: some long pattern starts with them.
    let start: UnsafeMutablePointer<Bool>
    let trie: TrieView
    /// Trie pattern → pattern index.
    let longIDs: UnsafeMutablePointer<Int32>
    let shorts: UnsafeBufferPointer<Short>
    let shortBytes: UnsafeMutablePointer<UInt8>

    @inline(__always) static func hash(_ a: UInt8, _ b: UInt8) -> Int { (Int(a) &<< 5 ^ Int(b)) & (SkipScanner.tableSize - 1) }

    /// Reports every occurrence of every long pattern, and one occurrence (the first) of each
    /// short pattern that occurs: enough for `contains`, the only mode a scanner serves.
    @inline(__always)
    func scan(_ text: UnsafePointer<UInt8>, _ count: Int, _ hit: (Int32, Int) -> Void) {
        let m = window
        var j = m &- 1
        while j < count {
            let sh = Int(shift[SkipView.hash(text[j &- 1], text[j])])
            if sh != 0 { j &+= sh; continue }
            let s = j &- (m &- 1)
            if start[SkipView.hash(text[s], text[s &+ 1])] { from(text, count, s, hit) }
            j &+= 1
        }
        if !shorts.isEmpty { findShort(text, count, hit) }
    }

    /// Every long pattern that starts at `s`.
    @inline(never)
    func from(_ text: UnsafePointer<UInt8>, _ count: Int, _ s: Int, _ hit: (Int32, Int) -> Void) {
        let ids = longIDs
        trie.walk(text + s, count &- s, reversed: false) { p, n in hit(ids[Int(p)], s &+ n) }
    }

    @inline(never)
    func findShort(_ text: UnsafePointer<UInt8>, _ count: Int, _ hit: (Int32, Int) -> Void) {
        for sp in shorts {
            let p = shortBytes + Int(sp.offset)
            let n = Int(sp.length), k = Int(sp.key)
            var from = k
            while from < count {
                guard let found = memchr(text + from, Int32(p[k]), count &- from) else { break }
                let at = UnsafeRawPointer(found) - UnsafeRawPointer(text)
                let start = at &- k
                if start &+ n <= count {
                    var q = 0
                    while q < n && text[start &+ q] == p[q] { q &+= 1 }
                    if q == n { hit(sp.id, start &+ n); break }
                }
                from = at &+ 1
            }
        }
    }
}
