import EDRCore
import Testing
@testable import EDRSensorLinux

/// A record whose bytes say which one it is and differ in length, so a frame from the wrong
/// place, or a byte shifted by compaction, cannot pass for the right one.
private func record(_ n: Int) -> [UInt8] {
    (0..<(17 + n % 41)).map { UInt8(truncatingIfNeeded: n &* 31 &+ $0) }
}

/// The frame the store must send for record `n` numbered `sequence`: header + record, byte for byte.
private func expectedFrame(_ n: Int, sequence: UInt64) -> [UInt8] {
    Frame(type: .kernelRecord, sequence: sequence, payload: record(n)).encoded()
}

extension ReplayStore {
    @discardableResult
    fileprivate mutating func append(
        _ bytes: [UInt8], executable: Attachment = .none,
        script: Attachment = .none
    ) -> UInt64 {
        bytes.withUnsafeBytes { append($0, executable: executable, script: script) }
    }

    /// Every unsent frame, as the bytes queued and what went with each.
    fileprivate mutating func queueAll() -> (bytes: [UInt8], frames: [Queued]) {
        var out: [UInt8] = []
        var frames: [Queued] = []
        while let q = queueNext(into: &out) { frames.append(q) }
        return (out, frames)
    }
}

private func decode(_ bytes: [UInt8]) throws -> [Frame] {
    var decoder = FrameDecoder()
    decoder.feed(bytes)
    var frames: [Frame] = []
    while let f = try decoder.next() { frames.append(f) }
    #expect(decoder.bufferedBytes == 0)
    return frames
}

@Suite("Replay store")
struct ReplayStoreTests {
    @Test func recordsAreNumberedFromOneInOrder() throws {
        var store = ReplayStore(capacityBytes: 1 << 20)
        #expect(store.nextSequence == 1)
        #expect(store.firstUnacknowledged == 1)
        #expect(!store.hasUnsent)
        let numbers = (0..<3).map { store.append(record($0)) }
        #expect(numbers == [1, 2, 3])
        #expect(store.unacknowledged == 3)
        #expect(store.hasUnsent)
        let (bytes, frames) = store.queueAll()
        #expect(frames.map(\.sequence) == [1, 2, 3])
        #expect(bytes == (0..<3).flatMap { expectedFrame($0, sequence: UInt64($0 + 1)) })
        let decoded = try decode(bytes)
        #expect(decoded.map(\.type) == [.kernelRecord, .kernelRecord, .kernelRecord])
        #expect(decoded.map(\.sequence) == [1, 2, 3])
        #expect(decoded.map(\.payload) == (0..<3).map(record))
        #expect(!store.hasUnsent)
        #expect(store.sentThrough == 3)
    }

    @Test func anAckForgetsExactlyThePrefix() throws {
        var store = ReplayStore(capacityBytes: 1 << 20)
        for n in 0..<5 { store.append(record(n)) }
        _ = store.queueAll()
        let before = store.pendingBytes
        #expect(try store.acknowledge(through: 2).isEmpty)
        #expect(store.unacknowledged == 3)
        #expect(store.firstUnacknowledged == 3)
        #expect(store.pendingBytes == before - expectedFrame(0, sequence: 1).count - expectedFrame(1, sequence: 2).count)
        // An older or repeated ack changes nothing.
        #expect(try store.acknowledge(through: 1).isEmpty)
        #expect(try store.acknowledge(through: 2).isEmpty)
        #expect(store.unacknowledged == 3)
        #expect(try store.acknowledge(through: 5).isEmpty)
        #expect(store.unacknowledged == 0)
        #expect(store.pendingBytes == 0)
        #expect(store.firstUnacknowledged == 6)
    }

    @Test func aReconnectReplaysExactlyTheUnacknowledgedFramesWithTheirNumbers() throws {
        var store = ReplayStore(capacityBytes: 1 << 20)
        for n in 0..<6 { store.append(record(n)) }
        _ = store.queueAll()
        _ = try store.acknowledge(through: 2)
        // The detector is gone after frames 3–6 were sent; two more records arrive meanwhile.
        store.append(record(6))
        store.append(record(7))
        #expect(store.restartSending() == 6)
        #expect(store.firstUnacknowledged == 3)
        let (bytes, frames) = store.queueAll()
        #expect(frames.map(\.sequence) == [3, 4, 5, 6, 7, 8])
        #expect(bytes == (2..<8).flatMap { expectedFrame($0, sequence: UInt64($0 + 1)) })
        // New records continue the numbering.
        #expect(store.append(record(8)) == 9)
    }

    @Test func aReconnectWithNothingUnacknowledgedReplaysNothing() throws {
        var store = ReplayStore(capacityBytes: 1 << 20)
        for n in 0..<3 { store.append(record(n)) }
        _ = store.queueAll()
        _ = try store.acknowledge(through: 3)
        #expect(store.restartSending() == 0)
        #expect(store.firstUnacknowledged == 4)
        #expect(!store.hasUnsent)
        var out: [UInt8] = []
        #expect(store.queueNext(into: &out) == nil)
        #expect(out.isEmpty)
    }

    @Test func anAckBeyondWhatWasSentIsAnErrorAndChangesNothing() throws {
        var store = ReplayStore(capacityBytes: 1 << 20)
        for n in 0..<4 { store.append(record(n)) }
        var out: [UInt8] = []
        _ = store.queueNext(into: &out)
        _ = store.queueNext(into: &out)
        #expect(throws: ReplayStore.AckError.beyondSent(acknowledged: 3, sentThrough: 2)) {
            try store.acknowledge(through: 3)
        }
        #expect(throws: ReplayStore.AckError.self) { try store.acknowledge(through: 100) }
        #expect(store.unacknowledged == 4)
        #expect(try store.acknowledge(through: 2).isEmpty)
        #expect(store.unacknowledged == 2)
        // After a reconnect only what this connection was sent can be acknowledged.
        #expect(store.restartSending() == 2)
        #expect(throws: ReplayStore.AckError.self) { try store.acknowledge(through: 3) }
        _ = store.queueNext(into: &out)
        #expect(try store.acknowledge(through: 3).isEmpty)
        #expect(store.firstUnacknowledged == 4)
    }

    @Test func aFullBufferTellsTheCallerToPauseUntilAnAck() throws {
        let frameSize = Wire.headerSize + 100
        var store = ReplayStore(capacityBytes: 3 * frameSize)
        let payload = [UInt8](repeating: 7, count: 100)
        store.append(payload)
        store.append(payload)
        #expect(!store.isFull)
        store.append(payload)
        #expect(store.isFull)
        #expect(store.pendingBytes == 3 * frameSize)
        // Sending does not make room: only the detector's acknowledgement does.
        _ = store.queueAll()
        #expect(store.isFull)
        _ = try store.acknowledge(through: 1)
        #expect(!store.isFull)
        store.append(payload)
        #expect(store.isFull)
        _ = store.queueAll()
        _ = try store.acknowledge(through: 4)
        #expect(!store.isFull)
        #expect(store.pendingBytes == 0)
    }

    @Test func compactionKeepsEveryFrameByteExact() throws {
        // Small thresholds, so both the frame list and the byte buffer are compacted many times.
        var store = ReplayStore(capacityBytes: 1 << 30, compactAfterBytes: 512, compactAfterFrames: 8)
        var next = 0
        var sentRecords: [Int: UInt64] = [:]
        var largestBuffer = 0
        for round in 0..<400 {
            for _ in 0..<(1 + round % 7) {
                let seq = store.append(record(next))
                sentRecords[next] = seq
                next += 1
            }
            let (bytes, frames) = store.queueAll()
            var expected: [UInt8] = []
            for f in frames {
                let n = Int(f.sequence) - 1
                #expect(sentRecords[n] == f.sequence)
                expected += expectedFrame(n, sequence: f.sequence)
            }
            #expect(bytes == expected)
            // Acknowledge some of what was sent, leaving a tail unacknowledged.
            let ackTo = store.sentThrough - UInt64(round % 3)
            _ = try store.acknowledge(through: max(ackTo, store.firstUnacknowledged - 1))
            largestBuffer = max(largestBuffer, store.bufferedBytes)
        }
        // The buffer did not keep every byte ever appended.
        let total = (0..<next).reduce(0) { $0 + expectedFrame($1, sequence: 1).count }
        #expect(largestBuffer < total / 10)
        // What is left replays byte for byte after a reconnect.
        let first = store.firstUnacknowledged
        let left = store.restartSending()
        let (bytes, frames) = store.queueAll()
        #expect(frames.count == left)
        #expect(frames.first?.sequence == (left > 0 ? first : nil))
        #expect(bytes == frames.flatMap { expectedFrame(Int($0.sequence) - 1, sequence: $0.sequence) })
        #expect(try decode(bytes).map(\.sequence) == frames.map(\.sequence))
    }

    @Test func descriptorsAreHandedOverOnce() throws {
        var store = ReplayStore(capacityBytes: 1 << 20)
        store.append(record(0), executable: .descriptor(40), script: .descriptor(41))
        store.append(record(1), executable: .known, script: .known)
        store.append(record(2), executable: .descriptor(42))
        var out: [UInt8] = []
        let first = store.queueNext(into: &out)
        #expect(first == .init(sequence: 1, executable: .descriptor(40), script: .descriptor(41)))
        let second = store.queueNext(into: &out)
        #expect(second == .init(sequence: 2, executable: .known, script: .known))
        // Replayed frames go without what was already handed over (sent or closed with the
        // connection); the unsent frame still holds its descriptor.
        #expect(store.restartSending() == 3)
        let (_, replayed) = store.queueAll()
        #expect(
            replayed == [
                .init(sequence: 1, executable: .none, script: .none),
                .init(sequence: 2, executable: .none, script: .none),
                .init(sequence: 3, executable: .descriptor(42), script: .none)
            ])
        // Every frame an ack may name was queued, so an ack never finds a descriptor left.
        #expect(try store.acknowledge(through: 3).isEmpty)
    }
}
