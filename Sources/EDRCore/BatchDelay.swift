/// How long the sensor lets records gather in the ring before draining it again, while records
/// keep coming. Like a NIC's adaptive interrupt moderation: a quiet host gets its records at
/// once, a busy one in fewer, larger batches. No I/O: the caller supplies the clock.
///
/// A wake-up costs the agent about as much as a hundred records (a timer wake-up of the
/// sensor, a socket wake-up of the detector, and caches gone cold in between), so its share of
/// the CPU is the wake-up rate times that cost. The delay grows with the square of the record
/// rate: slow streams keep their latency, fast ones have their wake-ups cut. The rate is
/// smoothed over about 100 ms (`rateWindowNanos`): drained a millisecond apart, an exec's
/// three records would otherwise read as 3,000 records/s, and the square make that a
/// 20 ms delay for a host that runs one exec every few milliseconds.
public struct BatchDelay: Sendable {
    /// The record rate at which the delay reaches its maximum; below it the delay is the
    /// maximum times the square of the rate's fraction of this (with the default 60 ms:
    /// 1,000 records/s → 2.4 ms, 2,000/s → 9.6 ms, 4,800/s — 1,600 execs/s — → 55 ms).
    /// One knob trades latency under load for CPU: a larger `max_batch_delay_ms` means fewer
    /// wake-ups at every busy rate.
    public static let fullDelayRate = 5000.0
    /// Shortest delay: right after the first record of a burst (an exec's fork record wakes
    /// us; its exec record follows within a millisecond).
    public static let minNanos: UInt64 = 1_000_000
    /// The time over which the record rate is averaged.
    public static let rateWindowNanos = 100_000_000.0

    public let maxNanos: UInt64
    /// The last drain found records: sleep `nanos`, not on the ring's descriptor.
    public private(set) var busy = false
    public private(set) var nanos = BatchDelay.minNanos
    /// Records per second, averaged over about `rateWindowNanos`.
    public private(set) var rate = 0.0
    private var lastDrain: UInt64

    public init(maxMilliseconds: Int32, now: UInt64) {
        maxNanos = UInt64(max(1, maxMilliseconds)) * 1_000_000
        lastDrain = now
    }

    /// A drain at `now` found `records`. The first drain of a burst gets the shortest delay;
    /// later ones a delay that grows with the averaged rate; an empty drain returns to quiet.
    public mutating func drained(_ records: UInt64, at now: UInt64) {
        let elapsed = Double(max(now &- lastDrain, 1))
        // An exponential average in continuous time: a drain's weight grows with the time it
        // covers (x / (1 + x) for 1 - e^-x), so a long quiet spell all but replaces the average.
        let weight = elapsed / (Self.rateWindowNanos + elapsed)
        rate += weight * (Double(records) * 1e9 / elapsed - rate)
        if records == 0 {
            busy = false
            nanos = Self.minNanos
        } else {
            nanos = busy ? Self.nanos(recordsPerSecond: rate, maxNanos: maxNanos) : Self.minNanos
            busy = true
        }
        lastDrain = now
    }

    /// The delay at a steady `recordsPerSecond` (what `edr-bench pipeline --pace` batches by).
    public static func nanos(recordsPerSecond rate: Double, maxNanos: UInt64) -> UInt64 {
        let fraction = min(max(rate, 0) / fullDelayRate, 1)
        return min(maxNanos, max(minNanos, UInt64(fraction * fraction * Double(maxNanos))))
    }
}
