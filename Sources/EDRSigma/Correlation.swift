import EDRCore
import Foundation

/// What a fired correlation reports.
public struct SigmaCorrelationResult: Sendable {
    /// event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile
    public var type: String
    /// group-by field (or alias) → value for the group that fired.
    public var group: [(field: String, value: String)]
    /// The aggregated figure compared with the condition (count, distinct count, sum, average, share %).
    public var value: Double
    /// First and last event timestamps in the window that fired.
    public var windowStart: Double
    public var windowEnd: Double
}

/// Counters of bounded correlation state.
public struct SigmaCorrelationStats: Sendable {
    public var groups: Int = 0
    public var evictedGroups: Int = 0
    public var evictedEvents: Int = 0
    public var fired: Int = 0
}

final class CorrelationEngine: @unchecked Sendable {
    struct Corr {
        var info: SigmaRuleInfo
        var type: CorrelationType
        var groupBy: [String]
        /// per rule position: the field to read for each group-by entry
        var groupFields: [[String]]
        var span: Double
        var conds: [(NumOp, Double)]
        var field: String?
        var positions: Int
        var generate: Bool
    }

    struct GroupState {
        var times: [Double] = []
        var head = 0
        var nums: [Double] = []
        var strs: [String] = []
        var distinct: [String: Int] = [:]
        var sum = 0.0
        var perPos: [[Double]] = []
        var lastUpdate = 0.0

        var count: Int { times.count - head }

        mutating func compact() {
            if head > 64 && head * 2 > times.count {
                times.removeFirst(head)
                if !nums.isEmpty { nums.removeFirst(head) }
                if !strs.isEmpty { strs.removeFirst(head) }
                head = 0
            }
        }
    }

    let corrs: [Corr]
    /// source (rule index, or ruleCount + correlation index) → consumers (correlation, position)
    let consumers: [Int: [(Int, Int)]]
    let ruleCount: Int
    let maxGroups: Int
    let maxEvents: Int
    private var state: [[String: GroupState]]
    private let lock = NSLock()
    private(set) var stats = SigmaCorrelationStats()

    let suppressed: [Bool]

    init(corrs: [Corr], consumers: [Int: [(Int, Int)]], ruleCount: Int, suppressed: [Bool], maxGroups: Int, maxEvents: Int) {
        self.corrs = corrs
        self.suppressed = suppressed
        self.consumers = consumers
        self.ruleCount = ruleCount
        self.maxGroups = max(1, maxGroups)
        self.maxEvents = max(2, maxEvents)
        state = Array(repeating: [:], count: corrs.count)
    }

    func isConsumed(_ source: Int) -> Bool { consumers[source] != nil }

    func snapshotStats() -> SigmaCorrelationStats {
        lock.lock(); defer { lock.unlock() }
        var s = stats
        s.groups = state.reduce(0) { $0 + $1.count }
        return s
    }

    /// Feeds one match of `source`; returns fired correlations (and chains).
    func feed(source: Int, event: Event, out: inout [SigmaMatch]) {
        lock.lock(); defer { lock.unlock() }
        feedLocked(source: source, event: event, out: &out, depth: 0)
    }

    private func feedLocked(source: Int, event: Event, out: inout [SigmaMatch], depth: Int) {
        guard depth < 16, let cons = consumers[source] else { return }
        for (ci, pos) in cons {
            if let result = update(ci, pos, event) {
                stats.fired += 1
                if !suppressed[ci] { out.append(SigmaMatch(rule: corrs[ci].info, correlation: result)) }
                feedLocked(source: ruleCount + ci, event: event, out: &out, depth: depth + 1)
            }
        }
    }

    private func update(_ ci: Int, _ pos: Int, _ event: Event) -> SigmaCorrelationResult? {
        let c = corrs[ci]
        let t = event.timestamp
        var keyParts: [String] = []
        keyParts.reserveCapacity(c.groupBy.count)
        for f in c.groupFields[pos] { keyParts.append(event[f]?.stringValue ?? "") }
        let key = keyParts.joined(separator: "\u{1F}")

        // Value for value_* types.
        var strVal: String? = nil
        var numVal: Double? = nil
        if let f = c.field {
            guard let v = event[f] else { return nil }
            switch c.type {
            case .valueCount, .valuePercentile:
                guard let s = v.stringValue else { return nil }
                strVal = s
            case .valueSum, .valueAvg:
                guard let n = ScalarEval.number(v) else { return nil }
                numVal = n
            default: break
            }
        }

        if state[ci][key] == nil {
            if state[ci].count >= maxGroups { evict(ci) }
            var g = GroupState()
            if c.type == .temporal || c.type == .temporalOrdered { g.perPos = Array(repeating: [], count: c.positions) }
            state[ci][key] = g
        }
        var g = state[ci][key]!
        state[ci][key] = nil  // avoid copy-on-write while mutating
        g.lastUpdate = t
        let lo = t - c.span
        var fired: SigmaCorrelationResult? = nil

        switch c.type {
        case .temporal, .temporalOrdered:
            for p in 0..<g.perPos.count { g.perPos[p].removeAll { $0 < lo } }
            g.perPos[pos].append(t)
            if g.perPos[pos].count > maxEvents { g.perPos[pos].removeFirst(); stats.evictedEvents += 1 }
            if c.type == .temporal {
                let n = Double(g.perPos.filter { !$0.isEmpty }.count)
                if conds(c, n) {
                    let all = g.perPos.flatMap { $0 }
                    fired = result(c, keyParts, n, all.min() ?? t, t)
                }
            } else if pos == c.positions - 1 {
                var prev = lo
                var ok = true
                var first = t
                for p in 0..<(c.positions - 1) {
                    guard let ts = g.perPos[p].filter({ $0 >= prev && $0 <= t }).min() else { ok = false; break }
                    if p == 0 { first = ts }
                    prev = ts
                }
                if ok && conds(c, Double(c.positions)) { fired = result(c, keyParts, Double(c.positions), first, t) }
            }
        default:
            // Evict expired entries.
            while g.head < g.times.count && g.times[g.head] < lo {
                if !g.nums.isEmpty { g.sum -= g.nums[g.head] }
                if !g.strs.isEmpty { decr(&g, g.strs[g.head]) }
                g.head += 1
            }
            g.times.append(t)
            if let n = numVal { g.nums.append(n); g.sum += n }
            if let s = strVal { g.strs.append(s); g.distinct[s, default: 0] += 1 }
            if g.count > maxEvents {
                if !g.nums.isEmpty { g.sum -= g.nums[g.head] }
                if !g.strs.isEmpty { decr(&g, g.strs[g.head]) }
                g.head += 1
                stats.evictedEvents += 1
            }
            g.compact()
            let value: Double
            switch c.type {
            case .eventCount: value = Double(g.count)
            case .valueCount: value = Double(g.distinct.count)
            case .valueSum: value = g.sum
            case .valueAvg: value = g.count > 0 ? g.sum / Double(g.count) : 0
            case .valuePercentile:
                // Share (in %) of the window's events that carry this event's value: a rarity test.
                value = g.count > 0 ? Double(g.distinct[strVal ?? ""] ?? 0) * 100 / Double(g.count) : 0
            default: value = 0
            }
            if conds(c, value) { fired = result(c, keyParts, value, g.times[g.head], t) }
        }
        if fired != nil {
            var fresh = GroupState()
            if c.type == .temporal || c.type == .temporalOrdered { fresh.perPos = Array(repeating: [], count: c.positions) }
            fresh.lastUpdate = t
            g = fresh
        }
        state[ci][key] = g
        return fired
    }

    private func decr(_ g: inout GroupState, _ s: String) {
        if let n = g.distinct[s] { if n <= 1 { g.distinct[s] = nil } else { g.distinct[s] = n - 1 } }
    }

    private func conds(_ c: Corr, _ v: Double) -> Bool {
        for (op, x) in c.conds where !op.test(v, x) { return false }
        return true
    }

    private func result(_ c: Corr, _ keyParts: [String], _ v: Double, _ start: Double, _ end: Double) -> SigmaCorrelationResult {
        SigmaCorrelationResult(
            type: c.type.rawValue, group: Array(zip(c.groupBy, keyParts)).map { (field: $0.0, value: $0.1) },
            value: v, windowStart: start, windowEnd: end)
    }

    /// Drops the least recently updated sixteenth of the groups.
    private func evict(_ ci: Int) {
        let n = max(1, state[ci].count / 16)
        let victims = state[ci].sorted { $0.value.lastUpdate < $1.value.lastUpdate }.prefix(n).map(\.key)
        for k in victims { state[ci][k] = nil }
        stats.evictedGroups += victims.count
    }
}
