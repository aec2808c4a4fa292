/// `contains` literals that are all at least `minimumLength` bytes long, found by skipping
/// (Wu–Manber): the scan looks at the last two bytes of a window as long as the shortest
/// pattern and jumps ahead by as much as no pattern allows to be missed, up to that length
/// less one; only where the two bytes can end a pattern's first window does it walk the
/// patterns' trie from the window's start. Windows' `product: windows` keyword rule (twenty
/// keywords of 9 bytes or more, over every value of every event) reads one byte in six or so
/// instead of every byte through an automaton.
///
/// `scan` reports (pattern, end offset) for every occurrence of every pattern, as
/// `ACView.scan` does, in order of start offset; callers record sets of hit atoms, so the order
/// does not matter.
///
/// Why nothing is missed: let a pattern occur at `s`, so its first window ends at
/// `e = s + m − 1` (`m` the shortest length). Window ends advance by at most `m − 1`, so the
/// last one visited at or before `e`, say `j`, is past `s`; if `j < e`, the two bytes ending at
/// `j` are bytes `j − s − 1` and `j − s` of the pattern, whose shift entry is at most `e − j`
/// (the entry is the least over every pattern and position, and hashing two byte pairs to one
/// entry only lowers it), so the next window end is not past `e`: every occurrence's own
/// window end is visited, where the entry is 0 and the trie is walked from `s`.
final class SkipScanner: @unchecked Sendable {
    static let minimumLength = 4
    static let tableSize = 4096
    /// The scan's tables, at a fixed address: the evaluator's per-group record holds this
    /// pointer rather than a copy (a larger record slowed every automaton scan).
    let view: UnsafeMutablePointer<SkipView>
    let trie: AnchoredTrie
    var patternLength: UnsafeMutablePointer<Int32> { trie.view.patternLength }
    var memoryBytes: Int { Self.tableSize + trie.memoryBytes }
    /// A pattern holds a NUL byte (the keyword pass separates values by NUL).
    let hasNUL: Bool
    private let shift: UnsafeMutablePointer<UInt8>

    /// nil when a pattern is shorter than `minimumLength`.
    init?(patterns: [[UInt8]]) {
        guard let shortest = patterns.map(\.count).min(), shortest >= Self.minimumLength else { return nil }
        let m = min(shortest, 255)
        var table = [UInt8](repeating: UInt8(m - 1), count: Self.tableSize)
        for p in patterns {
            for q in 1..<m {
                let h = SkipView.hash(p[q - 1], p[q])
                table[h] = min(table[h], UInt8(m - 1 - q))
            }
        }
        shift = .allocate(capacity: Self.tableSize)
        shift.initialize(from: table, count: Self.tableSize)
        trie = AnchoredTrie(patterns: patterns, reversed: false)
        hasNUL = patterns.contains { $0.contains(0) }
        view = .allocate(capacity: 1)
        view.initialize(to: SkipView(window: m, shift: shift, trie: trie.view))
    }

    deinit { shift.deallocate(); view.deinitialize(count: 1); view.deallocate() }
}

struct SkipView {
    /// The shortest pattern's length (at most 255).
    let window: Int
    let shift: UnsafeMutablePointer<UInt8>
    let trie: TrieView

    @inline(__always) static func hash(_ a: UInt8, _ b: UInt8) -> Int { (Int(a) &<< 5 ^ Int(b)) & (SkipScanner.tableSize - 1) }

    @inline(__always)
    func scan(_ text: UnsafePointer<UInt8>, _ count: Int, _ hit: (Int32, Int) -> Void) {
        let m = window
        var j = m &- 1
        while j < count {
            let sh = Int(shift[SkipView.hash(text[j &- 1], text[j])])
            if sh != 0 { j &+= sh; continue }
            from(text, count, j &- (m &- 1), hit)
            j &+= 1
        }
    }

    /// Every pattern that starts at `s`.
    @inline(never)
    func from(_ text: UnsafePointer<UInt8>, _ count: Int, _ s: Int, _ hit: (Int32, Int) -> Void) {
        trie.walk(text + s, count &- s, reversed: false) { p, n in hit(p, s &+ n) }
    }
}
