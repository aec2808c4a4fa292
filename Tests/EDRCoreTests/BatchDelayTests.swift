import Testing
import EDRCore

@Suite("Batch delay")
struct BatchDelayTests {
    @Test func aQuietHostIsDrainedAtOnceAndABusyOneInLargerBatches() {
        var batch = BatchDelay(maxMilliseconds: 60, now: 0)
        #expect(!batch.busy)
        // First drain of a burst: the shortest delay.
        batch.drained(1, at: 10_000_000)
        #expect(batch.busy)
        #expect(batch.nanos == BatchDelay.minNanos)
        // 250 records/s: never below the shortest delay.
        batch.drained(1, at: 14_000_000)
        #expect(batch.nanos == BatchDelay.minNanos)
        // The delay grows with the square of the rate: 1,000 records/s → 0.2² × 60 ms.
        batch.drained(4, at: 18_000_000)
        #expect(batch.nanos == 2_400_000)
        // 2,500 records/s → 0.5² × 60 ms.
        batch.drained(25, at: 28_000_000)
        #expect(batch.nanos == 15_000_000)
        // 5,000 records/s and beyond: the maximum.
        batch.drained(75, at: 43_000_000)
        #expect(batch.nanos == 60_000_000)
        batch.drained(5000, at: 44_000_000)
        #expect(batch.nanos == 60_000_000)
        // An empty drain returns to quiet.
        batch.drained(0, at: 46_000_000)
        #expect(!batch.busy)
        #expect(batch.nanos == BatchDelay.minNanos)
    }

    @Test func theDelayNeverFallsAsTheRateRisesNorPassesItsMaximum() {
        var previous: UInt64 = 0
        for rate in stride(from: 0, through: 20_000, by: 50) {
            var batch = BatchDelay(maxMilliseconds: 60, now: 0)
            batch.drained(1, at: 1_000_000)
            // `rate` records over the next second.
            batch.drained(UInt64(max(rate, 1)), at: 1_001_000_000)
            #expect(batch.nanos >= previous)
            #expect(batch.nanos >= BatchDelay.minNanos && batch.nanos <= 60_000_000)
            previous = batch.nanos
        }
        #expect(previous == 60_000_000)
    }
}
