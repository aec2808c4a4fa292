import EDRCore
import Testing

@Suite("Batch delay")
struct BatchDelayTests {
    /// Drains every `step` ms for `seconds`, `perStep` records each; returns the last delay.
    static func steady(_ batch: inout BatchDelay, from start: UInt64, perStep: UInt64, stepMs: UInt64, seconds: Double) -> UInt64 {
        var t = start
        for _ in 0..<Int(seconds * 1000 / Double(stepMs)) {
            t += stepMs * 1_000_000
            batch.drained(perStep, at: t)
        }
        return t
    }

    @Test func aQuietHostIsDrainedAtOnceAndABusyOneInLargerBatches() {
        var batch = BatchDelay(maxMilliseconds: 60, now: 0)
        #expect(!batch.busy)
        // First drain of a burst: the shortest delay.
        batch.drained(1, at: 10_000_000)
        #expect(batch.busy)
        #expect(batch.nanos == BatchDelay.minNanos)
        // The delay grows with the square of the rate: 1,000 records/s → 0.2² × 60 ms.
        var t = Self.steady(&batch, from: 10_000_000, perStep: 10, stepMs: 10, seconds: 1)
        #expect(abs(Double(batch.nanos) - 2_400_000) < 100_000, "\(batch.nanos)")
        // 2,500 records/s → 0.5² × 60 ms.
        t = Self.steady(&batch, from: t, perStep: 25, stepMs: 10, seconds: 1)
        #expect(abs(Double(batch.nanos) - 15_000_000) < 300_000, "\(batch.nanos)")
        // 5,000 records/s and beyond: the maximum.
        t = Self.steady(&batch, from: t, perStep: 300, stepMs: 50, seconds: 1)
        #expect(batch.nanos == 60_000_000)
        // An empty drain returns to quiet.
        batch.drained(0, at: t + 60_000_000)
        #expect(!batch.busy)
        #expect(batch.nanos == BatchDelay.minNanos)
        // After a quiet spell the first drain is a burst's first again, and the average is
        // the quiet spell's: a few records a second later get a short delay.
        batch.drained(3, at: t + 2_000_000_000)
        batch.drained(3, at: t + 2_001_000_000)
        #expect(batch.nanos == BatchDelay.minNanos, "\(batch.nanos)")
    }

    /// One exec every 3.5 ms (three records: fork, exec, exit within a millisecond), the
    /// sensor's loop simulated: quiet, it wakes at the first record; busy, after its delay.
    /// Drained a millisecond apart, a single exec must not read as a fast stream.
    @Test func spacedExecsWaitAFewMillisecondsAtMost() {
        var records: [UInt64] = []
        for i in 0..<600 {
            let t = UInt64(i) * 3_500_000 + 1_000_000
            records += [t, t + 300_000, t + 800_000]
        }
        var batch = BatchDelay(maxMilliseconds: 60, now: 0)
        var now: UInt64 = 0
        var next = 0
        var longestWait: UInt64 = 0
        var longestDelay: UInt64 = 0
        while next < records.count {
            now = batch.busy ? now + batch.nanos : max(now, records[next])
            var n: UInt64 = 0
            while next < records.count && records[next] <= now {
                longestWait = max(longestWait, now - records[next])
                n += 1
                next += 1
            }
            batch.drained(n, at: now)
            longestDelay = max(longestDelay, batch.nanos)
        }
        // ≈ 860 records/s: 0.17² × 60 ms ≈ 1.8 ms.
        #expect(longestDelay <= 3_000_000, "\(longestDelay)")
        #expect(longestWait <= 4_000_000, "\(longestWait)")
    }

    @Test func theDelayNeverFallsAsTheRateRisesNorPassesItsMaximum() {
        var previous: UInt64 = 0
        for rate in stride(from: 0, through: 20_000, by: 100) {
            var batch = BatchDelay(maxMilliseconds: 60, now: 0)
            batch.drained(1, at: 1_000_000)
            // `rate` records a second, drained every 100 ms for two seconds.
            _ = Self.steady(&batch, from: 1_000_000, perStep: UInt64(max(rate / 10, 1)), stepMs: 100, seconds: 2)
            #expect(batch.nanos >= previous)
            #expect(batch.nanos >= BatchDelay.minNanos && batch.nanos <= 60_000_000)
            previous = batch.nanos
        }
        #expect(previous == 60_000_000)
        #expect(BatchDelay.nanos(recordsPerSecond: 4_800, maxNanos: 60_000_000) == 55_296_000)
    }
}
