import Testing
@testable import EDRSensorLinux

@Suite("Batch delay")
struct BatchDelayTests {
    @Test func aQuietHostIsDrainedAtOnceAndABusyOneInLargerBatches() {
        var batch = BatchDelay(maxMilliseconds: 30, now: 0)
        #expect(!batch.busy)
        // First drain of a burst: the shortest delay.
        batch.drained(1, at: 10_000_000)
        #expect(batch.busy)
        #expect(batch.nanos == BatchDelay.minNanos)
        // 250 records/s: 1.5 ms.
        batch.drained(1, at: 14_000_000)
        #expect(batch.nanos == 1_500_000)
        // 5,000 records/s and beyond: the maximum.
        batch.drained(50, at: 24_000_000)
        #expect(batch.nanos == 30_000_000)
        batch.drained(5000, at: 25_000_000)
        #expect(batch.nanos == 30_000_000)
        // An empty drain returns to quiet.
        batch.drained(0, at: 26_000_000)
        #expect(!batch.busy)
        #expect(batch.nanos == BatchDelay.minNanos)
    }
}
