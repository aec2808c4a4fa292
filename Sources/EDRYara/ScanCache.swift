import EDRCore
import Foundation

/// Verdicts keyed by `FileIdentity`, bounded (LRU eviction) and expiring (TTL). Thread-safe.
public final class ScanCache<Value: Sendable>: @unchecked Sendable {
    public struct Stats: Sendable, Hashable {
        public var hits: UInt64 = 0
        public var misses: UInt64 = 0
        public var evictions: UInt64 = 0
        public var expirations: UInt64 = 0
        public var count: Int = 0
        public var hitRatio: Double { hits + misses == 0 ? 0 : Double(hits) / Double(hits + misses) }
    }

    public let capacity: Int
    /// Seconds an entry stays valid after insertion.
    public let ttl: Double
    private let now: @Sendable () -> Double
    private let lock = NSLock()

    // LRU list over slot indices; head = most recently used.
    private struct Slot {
        var key: FileIdentity
        var value: Value
        var inserted: Double
        var prev: Int32
        var next: Int32
    }
    private var slots: [Slot] = []
    private var index: [FileIdentity: Int32] = [:]
    private var free: [Int32] = []
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private var stats = Stats()

    /// - Parameters:
    ///   - capacity: maximum entries (default 10,000).
    ///   - ttl: entry lifetime in seconds (default 6 hours).
    ///   - now: monotonic clock in seconds (injectable for tests).
    public init(
        capacity: Int = 10_000, ttl: Double = 6 * 3600,
        now: @escaping @Sendable () -> Double = ScanCache.monotonicSeconds
    ) {
        self.capacity = max(1, capacity)
        self.ttl = ttl
        self.now = now
        index.reserveCapacity(min(self.capacity, 1 << 16))
    }

    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// The cached value, counting a hit or a miss; expired entries are dropped.
    public func lookup(_ key: FileIdentity) -> Value? {
        lock.lock()
        defer { lock.unlock() }
        guard let i = index[key] else {
            stats.misses += 1
            return nil
        }
        if now() - slots[Int(i)].inserted > ttl {
            remove(slot: i)
            stats.expirations += 1
            stats.misses += 1
            return nil
        }
        moveToFront(i)
        stats.hits += 1
        return slots[Int(i)].value
    }

    public func insert(_ key: FileIdentity, _ value: Value) {
        lock.lock()
        defer { lock.unlock() }
        let t = now()
        if let i = index[key] {
            slots[Int(i)].value = value
            slots[Int(i)].inserted = t
            moveToFront(i)
            return
        }
        if index.count >= capacity, tail >= 0 {
            remove(slot: tail)
            stats.evictions += 1
        }
        let slot = Slot(key: key, value: value, inserted: t, prev: -1, next: head)
        let i: Int32
        if let f = free.popLast() {
            i = f
            slots[Int(i)] = slot
        } else {
            i = Int32(slots.count)
            slots.append(slot)
        }
        if head >= 0 { slots[Int(head)].prev = i }
        head = i
        if tail < 0 { tail = i }
        index[key] = i
    }

    public func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        slots.removeAll()
        index.removeAll()
        free.removeAll()
        head = -1
        tail = -1
    }

    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return index.count
    }

    public var statistics: Stats {
        lock.lock()
        defer { lock.unlock() }
        var s = stats
        s.count = index.count
        return s
    }

    private func unlink(_ i: Int32) {
        let p = slots[Int(i)].prev, n = slots[Int(i)].next
        if p >= 0 { slots[Int(p)].next = n } else { head = n }
        if n >= 0 { slots[Int(n)].prev = p } else { tail = p }
        slots[Int(i)].prev = -1
        slots[Int(i)].next = -1
    }

    private func moveToFront(_ i: Int32) {
        guard head != i else { return }
        unlink(i)
        slots[Int(i)].next = head
        if head >= 0 { slots[Int(head)].prev = i }
        head = i
        if tail < 0 { tail = i }
    }

    private func remove(slot i: Int32) {
        unlink(i)
        index.removeValue(forKey: slots[Int(i)].key)
        free.append(i)
    }
}
