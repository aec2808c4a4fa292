import Testing
@testable import EDRSensorLinux

@Suite("Passed executables")
struct PassedExecutablesTests {
    static let id = RecordedFileIdentity(inode: 1234, size: 56_789, ctime: 1_700_000_000_123_456_789, device: 0x0080_0001)
    static let t0: UInt64 = 5_000_000_000

    @Test func theSameFileWithinAMinuteIsKnown() {
        var cache = PassedExecutables()
        #expect(!cache.passedRecently(Self.id, now: Self.t0))
        cache.passed(Self.id, now: Self.t0)
        #expect(cache.passedRecently(Self.id, now: Self.t0))
        #expect(cache.passedRecently(Self.id, now: Self.t0 + 59_999_999_999))
    }

    @Test(arguments: [
        ("ctime", RecordedFileIdentity(inode: 1234, size: 56_789, ctime: 1_700_000_000_123_456_790, device: 0x0080_0001)),
        ("size", RecordedFileIdentity(inode: 1234, size: 56_790, ctime: 1_700_000_000_123_456_789, device: 0x0080_0001)),
        ("inode", RecordedFileIdentity(inode: 1235, size: 56_789, ctime: 1_700_000_000_123_456_789, device: 0x0080_0001)),
        ("device", RecordedFileIdentity(inode: 1234, size: 56_789, ctime: 1_700_000_000_123_456_789, device: 0x0080_0002))
    ])
    func aChangedFileIsPassedAgain(changed: String, other: RecordedFileIdentity) {
        var cache = PassedExecutables()
        cache.passed(Self.id, now: Self.t0)
        #expect(!cache.passedRecently(other, now: Self.t0 + 1), "changed \(changed)")
    }

    @Test func anEntryExpiresAfterAMinute() {
        var cache = PassedExecutables()
        cache.passed(Self.id, now: Self.t0)
        #expect(!cache.passedRecently(Self.id, now: Self.t0 + PassedExecutables.ttlNanos))
        // Passing it again starts a new minute.
        cache.passed(Self.id, now: Self.t0 + PassedExecutables.ttlNanos)
        #expect(cache.passedRecently(Self.id, now: Self.t0 + PassedExecutables.ttlNanos + 1))
    }

    @Test func forgetAllForgetsEverything() {
        var cache = PassedExecutables()
        var other = Self.id
        other.inode += 1
        cache.passed(Self.id, now: Self.t0)
        cache.passed(other, now: Self.t0)
        cache.forgetAll()
        #expect(cache.count == 0)
        #expect(!cache.passedRecently(Self.id, now: Self.t0))
        #expect(!cache.passedRecently(other, now: Self.t0))
    }

    @Test func aFileWithoutARecordedCtimeIsNeverKnown() {
        var cache = PassedExecutables()
        var unknown = Self.id
        unknown.ctime = 0
        cache.passed(unknown, now: Self.t0)
        #expect(cache.count == 0)
        #expect(!cache.passedRecently(unknown, now: Self.t0))
    }

    @Test func aFullCacheStartsAgainEmpty() {
        var cache = PassedExecutables()
        for i in 0..<PassedExecutables.capacity {
            cache.passed(RecordedFileIdentity(inode: UInt64(i), size: 1, ctime: 1, device: 1), now: Self.t0)
        }
        #expect(cache.count == PassedExecutables.capacity)
        cache.passed(Self.id, now: Self.t0)
        #expect(cache.count == 1)
        #expect(cache.passedRecently(Self.id, now: Self.t0))
    }

    @Test func theIdentityIsReadFromTheExecRecordLayout() {
        var bytes = [UInt8](repeating: 0, count: 200)
        func put<T: FixedWidthInteger>(_ v: T, at o: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[o + i] = b } }
        }
        put(Self.id.inode, at: 104)
        put(Self.id.size, at: 112)
        put(Self.id.ctime, at: 120)
        put(Self.id.device, at: 128)
        #expect(bytes.withUnsafeBytes { RecordedFileIdentity($0, at: 104) } == Self.id)
    }
}
