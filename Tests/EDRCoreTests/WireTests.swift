import Testing
@testable import EDRCore

@Suite("Wire protocol")
struct WireTests {
    @Test func roundTripOneByteAtATime() throws {
        let frames = [
            Hello(role: .sensor, pid: 42, nextSequence: 7).frame(),
            Frame(type: .kernelRecord, sequence: 7, payload: Array(0..<200).map { UInt8($0) }),
            Frame(type: .kernelRecord, sequence: 8, payload: []),
            Ack.frame(upTo: 8)
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
        (header(length: 12, type: 2, seq: 5), WireError.unexpectedSequence(type: "ack", sequence: 5))
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

    /// Random bytes are stopped by the header checks: they almost never reach a payload
    /// parser, so this only proves the header checks hold (no crash, every stream rejected or
    /// incomplete). The payload parsers are fuzzed behind valid headers below and, with every
    /// kernel record kind, in Tests/EDRDetectTests/FuzzTests.swift.
    @Test func randomBytesStopAtTheHeaderChecks() {
        var rng = SplitMix64(seed: 1)
        var rejected = 0, incomplete = 0
        for _ in 0..<3000 {
            var decoder = FrameDecoder(maxFrameSize: 4096)
            decoder.feed((0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            do {
                while try decoder.next() != nil {}
                incomplete += 1
            } catch {
                rejected += 1
            }
        }
        #expect(rejected + incomplete == 3000)
        #expect(rejected > 2500, "random headers must nearly all fail the checks: \(rejected) rejected")
    }

    /// Valid headers with random payloads: the frame comes out exactly as it went in, and each
    /// payload parser sees it (and accepts only what it should).
    @Test func validHeadersWithRandomPayloadsReachTheParsers() throws {
        var rng = SplitMix64(seed: 2)
        var reached: [UInt8: Int] = [:], accepted: [UInt8: Int] = [:]
        let types: [FrameType] = [.hello, .ack, .sensorStats, .responseRequest, .responseResult]
        for i in 0..<5000 {
            let type = types[i % types.count]
            // Half random bytes, half a valid payload with one byte changed or cut short.
            var payload: [UInt8]
            if Bool.random(using: &rng) {
                payload = (0..<Int.random(in: 0..<48, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                switch type {
                case .hello: payload = Hello(role: .sensor, pid: 7, nextSequence: 9).frame().payload
                case .ack: payload = Ack.frame(upTo: 5).payload
                case .sensorStats: payload = SensorStats.frame([("a.b", 7), ("c", 9)]).payload
                case .responseRequest: payload = ResponseRequest(pid: 10, startTicks: 5, level: 4, ruleID: "id", ruleName: "name").frame().payload
                default: payload = ResponseResult(pid: 10, outcome: .killed, message: "done").frame().payload
                }
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: payload[Int.random(in: 0..<payload.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1: payload.removeLast(Int.random(in: 0...payload.count, using: &rng))
                default: break
                }
            }
            let frame = Frame(type: type, payload: payload)
            var decoder = FrameDecoder()
            decoder.feed(frame.encoded())
            let out = try #require(try decoder.next(), "a valid header did not decode")
            #expect(out == frame)
            try decoder.finish()
            reached[type.rawValue, default: 0] += 1
            let ok: Bool
            switch type {
            case .hello: ok = (try? Hello(frame: out)) != nil
            case .ack: ok = (try? Ack.sequence(from: out)) != nil
            case .sensorStats: ok = (try? SensorStats.parse(out.payload)) != nil
            case .responseRequest: ok = (try? ResponseRequest(frame: out)) != nil
            default: ok = (try? ResponseResult(frame: out)) != nil
            }
            if ok { accepted[type.rawValue, default: 0] += 1 }
        }
        for t in types {
            #expect(reached[t.rawValue] == 1000, "\(t)")
            // Both outcomes occur: some inputs parse, most do not.
            let a = accepted[t.rawValue] ?? 0
            #expect(a > 20 && a < 900, "\(t): \(a) of 1000 accepted")
        }
        // An ack payload of exactly 8 bytes always parses, and to its value.
        #expect(try Ack.sequence(from: Frame(type: .ack, payload: [1, 2, 3, 4, 5, 6, 7, 8])) == 0x0807_0605_0403_0201)
    }
}
