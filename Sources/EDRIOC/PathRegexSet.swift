import EDRCore
import EDRRegex

/// Path regexes, with two prefilters so that a path matching nothing (the usual case) costs
/// little: patterns with a required literal are only run when that literal occurs in the path
/// (one indexed pass finds them all); the others are OR-ed together in chunks, and only a chunk that
/// hits runs its patterns one by one (to name them and apply their exclusions).
struct PathRegexSet: Sendable {
    struct Entry: Sendable {
        var pattern: PCREPattern
        var label: UInt32
        /// LOKI's third field: a path also matching this is a known false positive.
        var exclude: PCREPattern?
    }
    private(set) var entries: [Entry] = []
    private var chunks: [(prefilter: PCREPattern, members: [Int])] = []
    /// Entries that can't be combined (backreferences, leading verbs) or whose chunk failed.
    private var standalone: [Int] = []
    private var literals = LiteralIndex([])

    static let chunkSize = 200

    var count: Int { entries.count }
    /// (with a literal prefilter, in OR-ed chunks, standalone)
    var prefilterStats: (literal: Int, chunked: Int, standalone: Int) {
        (
            literals.isEmpty ? 0 : entries.count - chunks.reduce(0) { $0 + $1.members.count } - standalone.count,
            chunks.reduce(0) { $0 + $1.members.count }, standalone.count
        )
    }

    mutating func insert(_ e: Entry) { entries.append(e) }

    static func combinable(_ s: String) -> Bool {
        if s.hasPrefix("(*") { return false }
        let b = Array(s.utf8)
        var i = 0
        while i + 1 < b.count {
            if b[i] == UInt8(ascii: "\\") {
                let n = b[i + 1]
                if (n >= 49 && n <= 57) || n == UInt8(ascii: "g") || n == UInt8(ascii: "k") { return false }
                i += 2
                continue
            }
            if b[i] == UInt8(ascii: "(") && s.utf8.count > i + 3 && b[i + 1] == UInt8(ascii: "?")
                && (b[i + 2] == UInt8(ascii: "P") || b[i + 2] == UInt8(ascii: "|") || b[i + 2] == UInt8(ascii: "R") || (b[i + 2] >= 48 && b[i + 2] <= 57)
                    || b[i + 2] == UInt8(ascii: "&"))
            {
                return false
            }
            i += 1
        }
        return true
    }

    mutating func finish() {
        chunks = []
        standalone = []
        var pending: [Int] = []
        var lits: [(bytes: [UInt8], id: Int)] = []
        func flush(_ members: [Int]) {
            guard !members.isEmpty else { return }
            if members.count == 1 {
                standalone.append(members[0])
                return
            }
            let src = members.map { "(?:" + entries[$0].pattern.source + ")" }.joined(separator: "|")
            if let p = try? PCREPattern(src) { chunks.append((p, members)) } else { standalone.append(contentsOf: members) }
        }
        for i in entries.indices {
            if let lit = RegexLiteral.required(entries[i].pattern.source) {
                lits.append((lit, i))
            } else if PathRegexSet.combinable(entries[i].pattern.source) {
                pending.append(i)
                if pending.count == PathRegexSet.chunkSize {
                    flush(pending)
                    pending = []
                }
            } else {
                standalone.append(i)
            }
        }
        flush(pending)
        literals = LiteralIndex(lits)
    }

    /// Indices of entries matching `path` (exclusions applied).
    func matches(_ path: UnsafeBufferPointer<UInt8>) -> [Int] {
        guard !entries.isEmpty else { return [] }
        var md: PCREMatchData?
        func matchData() -> OpaquePointer {
            if let md { return md.pointer }
            let created = PCREMatchData()
            md = created
            return created.pointer
        }
        var out: [Int] = []
        func check(_ i: Int) {
            let e = entries[i]
            if e.pattern.matches(path, matchData()) && !(e.exclude?.matches(path, matchData()) ?? false) { out.append(i) }
        }
        var candidates: [Int] = []
        literals.scan(path) { candidates.append($0) }
        if !candidates.isEmpty {
            candidates.sort()
            var last = -1
            for i in candidates where i != last {
                check(i)
                last = i
            }
        }
        for c in chunks where c.prefilter.matches(path, matchData()) {
            for i in c.members { check(i) }
        }
        for i in standalone { check(i) }
        return out.sorted()
    }
}
