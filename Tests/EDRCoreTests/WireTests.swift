import Testing
@testable import EDRCore

@Suite("Wire protocol")
struct WireTests {
    @Test func roundTripOneByteAtATime() throws {
        let frames = [
            Hello(role: .sensor, pid: 42, nextSequence: 7).frame(),
            Frame(type: .kernelRecord, sequence: 7, payload: Array(0..<200).map { UInt8($0) }),
            Frame(type: .kernelRecord, sequence: 8, payload: []),
            Ack.frame(upTo: 8),
        ]
        var decoder = FrameDecoder()
        var out: [Frame] = []
        for b in frames.flatMap({ $0.encoded() }) {
            decoder.feed([b])
            while let f = try decoder.next() { out.append(f) }
        }
        #expect(out == frames)
        #expect(try Hello(frame: out[0]) == Hello(role: .sensor, pid: 42, nextSequence: 7))
        #expect(try Ack.sequence(from: out[3]) == 8)
        try decoder.finish()
    }

    static func header(length: UInt32, type: UInt8 = 10, version: UInt8 = 1, flags: UInt16 = 0, seq: UInt64 = 1) -> [UInt8] {
        var b = [UInt8]()
        b.appendLE(length); b.append(type); b.append(version); b.appendLE(flags); b.appendLE(seq)
        return b
    }

    @Test(arguments: [
        (header(length: 3), WireError.frameTooShort(length: 3)),
        (header(length: UInt32(Wire.maxFrameSize)), WireError.frameTooLarge(length: Wire.maxFrameSize + 4, max: Wire.maxFrameSize)),
        (header(length: 12, version: 9), WireError.unsupportedVersion(9)),
        (header(length: 12, type: 99), WireError.unknownType(99)),
        (header(length: 12, flags: 1), WireError.nonZeroFlags(1)),
        (header(length: 12, type: 2, seq: 5), WireError.unexpectedSequence(type: "ack", sequence: 5)),
    ])
    func rejectsMalformedHeaders(bytes: [UInt8], expected: WireError) {
        var decoder = FrameDecoder()
        decoder.feed(bytes)
        #expect(throws: expected) { try decoder.next() }
    }

    @Test func rejectsSequenceGap() throws {
        var decoder = FrameDecoder()
        decoder.expectSequence(from: 1)
        decoder.feed(Frame(type: .kernelRecord, sequence: 1, payload: [1]).encoded())
        decoder.feed(Frame(type: .kernelRecord, sequence: 3, payload: [1]).encoded())
        _ = try decoder.next()
        #expect(throws: WireError.sequenceGap(expected: 2, got: 3)) { try decoder.next() }
    }

    @Test func truncatedStreamIsAnError() throws {
        var decoder = FrameDecoder()
        let bytes = Frame(type: .kernelRecord, sequence: 1, payload: [1, 2, 3, 4]).encoded()
        decoder.feed(Array(bytes.dropLast(2)))
        #expect(try decoder.next() == nil)
        #expect(throws: WireError.truncatedAtEOF(bufferedBytes: bytes.count - 2)) { try decoder.finish() }
    }

    @Test func rejectsBadPayloads() throws {
        #expect(throws: WireError.self) { try Hello(frame: Frame(type: .hello, payload: [1, 2, 3])) }
        var badMagic = Hello(role: .sensor, pid: 1, nextSequence: 1).frame()
        badMagic.payload[0] ^= 0xFF
        #expect(throws: WireError.self) { try Hello(frame: badMagic) }
        #expect(throws: WireError.self) { try Ack.sequence(from: Frame(type: .ack, payload: [1])) }
        var req = ResponseRequest(pid: 10, startTicks: 5, level: 4, ruleID: "id", ruleName: "name").frame()
        #expect(try ResponseRequest(frame: req).ruleName == "name")
        req.payload.removeLast()
        #expect(throws: WireError.self) { try ResponseRequest(frame: req) }
        var level = ResponseRequest(pid: 10, startTicks: 5, level: 4, ruleID: "", ruleName: "").frame()
        level.payload[12] = 9
        #expect(throws: WireError.self) { try ResponseRequest(frame: level) }
        #expect(throws: WireError.self) { try SensorStats.parse([5, 0, 3]) }
        let stats = SensorStats.frame([("a.b", 7), ("c", 9)])
        #expect(try SensorStats.parse(stats.payload).map(\.1) == [7, 9])
    }

    /// Random bytes must only ever produce frames or errors, never a crash.
    @Test func randomInputNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        var decoded = 0, rejected = 0
        for _ in 0..<3000 {
            var decoder = FrameDecoder(maxFrameSize: 4096)
            let n = Int.random(in: 0..<300, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if n > 8 && Bool.random() { bytes[4] = 10; bytes[5] = 1; bytes[6] = 0; bytes[7] = 0 }
            decoder.feed(bytes)
            while true {
                let f: Frame
                do {
                    guard let next = try decoder.next() else { break }
                    f = next
                } catch {
                    rejected += 1
                    break
                }
                decoded += 1
                _ = try? Hello(frame: f)
                _ = try? ResponseRequest(frame: f)
                _ = try? SensorStats.parse(f.payload)
            }
        }
        // Both paths were exercised: random bytes are mostly rejected, never crash.
        #expect(rejected > 1000)
        #expect(decoded + rejected > 0)
    }
}
