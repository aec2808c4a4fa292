import Testing
import Foundation
@testable import EDRCore
@testable import EDRDetect
import EDRSigma

/// A detector with the team's Sigma rules that writes its alerts to `alertFD` (/dev/null when
/// not given), responding from `responseMinLevel` up when one is given.
func makeTestDetector(alertFD: Int32? = nil, responseMinLevel: SigmaLevel? = nil) throws -> Detector {
    // Each rejected record is a warning line: thousands of them in the fuzz run.
    Log.setup(component: "edr-test", level: .error)
    let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("rules/sigma").path
    var options = SigmaOptions()
    options.collectedLogSources = DetectorLogSources.collected
    let store = try DetectorStore(sources: DetectorSources(sigma: [rules], yara: [], ioc: [], sigmaOptions: options))
    return Detector(
        store: store, sink: AlertSink(fd: alertFD ?? open("/dev/null", O_WRONLY | O_CLOEXEC)),
        options: .init(
            respondEnabled: responseMinLevel != nil, responseMinLevel: responseMinLevel ?? .critical,
            context: AlertContext(hostName: "test", hostID: "test"),
            machineID: "0123456789abcdef0123456789abcdef"))
}

/// Structure-aware fuzzing of everything that parses bytes from another process: the frame
/// decoder, each frame type's payload parser, and the decoder of each kernel record kind.
///
/// Random bytes almost never get past the frame header, so the inputs here are valid frames
/// (right length, type, version, flags and sequence) and valid kernel records (from
/// KernelRecordLayout and the telemetry builders) whose payloads are then mutated: bits
/// flipped, bytes set to edge values, length fields rewritten, bodies truncated, extended,
/// spliced, with the record's size field usually kept consistent so the kind's own decoder
/// runs. Each decoder's reach is counted, and the test fails unless every one was reached
/// (and both accepted and rejected inputs) a minimum number of times.
///
/// `EDR_FUZZ_ITERATIONS` (default 6000 connections, about a second) and `EDR_FUZZ_SEED` change the run;
/// `make fuzz` runs it long.
@Suite("Structure-aware fuzzing")
struct FuzzTests {
    static let env = ProcessInfo.processInfo.environment
    static let iterations = Int(env["EDR_FUZZ_ITERATIONS"] ?? "") ?? 6000
    static let seed = UInt64(env["EDR_FUZZ_SEED"] ?? "") ?? 0x5EED_15

    /// Valid records of every kind the kernel writes.
    static let seedRecords: [(kind: UInt16, bytes: [UInt8])] = {
        var out: [(UInt16, [UInt8])] = []
        out.append(
            (
                1,
                KernelRecordLayout.exec(
                    pid: 100, tid: 101, ppid: 50, uid: 61_001, euid: 61_002, gid: 61_003, egid: 61_004,
                    loginuid: 61_005, start: 5_000_000_000, parentStart: 1_000_000_000,
                    args: ["/usr/bin/curl", "-s", "http://x"], path: "/usr/bin/curl", cwd: "/home/a b")
            ))
        out.append(
            (
                1,
                KernelRecordLayout.exec(
                    pid: 200, ppid: 100, start: 6_000_000_000, parentStart: 5_000_000_000,
                    args: ["sh", "-c", "echo aGk= | base64 -d | sh"], path: "/bin/sh", cwd: "/",
                    flags: ExecRecord.argsTruncated)
            ))
        // A #! script with its identity and an environment; one whose file the kernel did not
        // find (the name execve was given, relative); one with a cut environment.
        out.append(
            (
                1,
                KernelRecordLayout.exec(
                    pid: 210, ppid: 100, start: 6_100_000_000, parentStart: 5_000_000_000,
                    args: ["/bin/sh", "./run.sh"], path: "/usr/bin/dash", cwd: "/srv",
                    script: "/srv/run.sh", environment: ["PATH=/bin", "LD_PRELOAD=/tmp/x.so", "A=b=c"])
            ))
        out.append(
            (
                1,
                KernelRecordLayout.exec(
                    pid: 220, ppid: 100, start: 6_200_000_000, parentStart: 5_000_000_000,
                    args: ["/bin/sh", "run.sh"], path: "/usr/bin/dash", cwd: "/srv",
                    script: "run.sh", scriptNameOnly: true, environment: ["LD_LIBRARY_PATH=/opt"])
            ))
        out.append(
            (
                1,
                KernelRecordLayout.exec(
                    pid: 230, ppid: 100, start: 6_300_000_000, parentStart: 5_000_000_000,
                    args: ["/bin/true"], path: "/usr/bin/true", cwd: "/",
                    flags: ExecRecord.environmentTruncated, environmentBytes: Array("X=1\0LD_PRELOAD=/tm".utf8))
            ))
        out.append(
            (
                2,
                KernelRecordLayout.exit(
                    pid: 200, tid: 201, ppid: 100, uid: 61_001, euid: 61_002, start: 6_000_000_000,
                    parentStart: 5_000_000_000, code: 256)
            ))
        out.append(
            (
                3,
                KernelRecordLayout.fork(
                    pid: 300, tid: 301, ppid: 100, uid: 61_001, euid: 61_002, start: 7_000_000_000,
                    parentStart: 5_000_000_000)
            ))
        out.append((10, TelemetryBuilder.net(result: -111, local: "127.0.0.88", lport: 40000, remote: "127.0.0.77", rport: 3333)))
        out.append((10, TelemetryBuilder.net(op: 2, v6: true, local: "::1", lport: 22, remote: "fe80::1:2", rport: 50000)))
        out.append((11, TelemetryBuilder.file(op: 1, dir1: "/etc/cron.d/evil")))
        out.append((11, TelemetryBuilder.file(op: 4, dir1: "/tmp", name1: "a", dir2: "/var", name2: "../tmp/b")))
        out.append((11, TelemetryBuilder.file(op: 3, dir1: "/home/u", name1: "sub/../x.txt")))
        // io_uring twins: the same kinds with the EDR_VIA_IO_URING flag and an opcode.
        out.append(
            (
                10,
                TelemetryBuilder.net(
                    local: "127.0.0.32", lport: 40001, remote: "127.0.0.31", rport: 8080,
                    flags: IoUring.requested | 16 << 8)
            ))
        out.append((11, TelemetryBuilder.file(op: 3, dir1: "/tmp", name1: "x", flags: IoUring.requested | IoUring.resultUnseen | 36 << 8)))
        out.append((11, TelemetryBuilder.file(op: 1, dir1: "/tmp/d/new.txt", openFlags: 0o101, flags: IoUring.requested | 18 << 8)))
        out.append(
            (
                12,
                TelemetryBuilder.dns(
                    direction: 1, payload: TelemetryBuilder.dnsMessage(name: "u.example"),
                    flags: UInt16(IoUring.requested | 26 << 8))
            ))
        out.append((12, TelemetryBuilder.dns(direction: 1, payload: TelemetryBuilder.dnsMessage(name: "pool.minexmr.com"))))
        out.append(
            (
                12,
                TelemetryBuilder.dns(
                    direction: 2,
                    payload: TelemetryBuilder.dnsMessage(
                        name: "www.example.com", response: true, answers: ["10.1.2.3", "10.1.2.4"], cname: "edge.cdn.example.net"))
            ))
        out.append((13, TelemetryBuilder.attack(op: 15, strings: ["none", "/mnt", "tmpfs"])))
        out.append((13, TelemetryBuilder.attack(op: 16, path: "/memfd:payload")))
        out.append((13, TelemetryBuilder.attack(op: 1, args: [16, 0, 0, 0], target: 200)))
        out.append((14, TelemetryBuilder.cgroup(id: 42, name: "docker-" + String(repeating: "ab", count: 32) + ".scope", parent: "system.slice")))
        return out
    }()

    /// Offsets of the u16 length fields of the variable-size kinds (bpf/edr_events.h, edr_telemetry.h).
    static let lengthFields: [UInt16: [Int]] = [1: [80, 82, 84, 86, 164], 11: [104, 106, 108, 110], 12: [100], 13: [136, 138]]

    static func setSize(_ b: inout [UInt8]) {
        guard b.count >= 8 else { return }
        withUnsafeBytes(of: UInt32(b.count).littleEndian) { for i in 0..<4 { b[4 + i] = $0[i] } }
    }

    /// One to four mutations of a valid record; the size field is made to match most of the time.
    static func mutateRecord(_ good: [UInt8], kind: UInt16, _ rng: inout SplitMix64) -> [UInt8] {
        var b = good
        let edge: [UInt8] = [0, 1, 0x7F, 0x80, 0xFE, 0xFF]
        // Half the DNS records keep their fixed part and have only the captured message mutated.
        let first = kind == 12 && good.count > 137 && Bool.random(using: &rng) ? 136 : 16
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let body = min(first, b.count - 1)..<max(first + 1, b.count)
            switch Int.random(in: 0..<9, using: &rng) {
            case 0:  // flip a bit
                if b.count > first { b[Int.random(in: body, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng) }
            case 1:  // an edge value
                if b.count > first { b[Int.random(in: body, using: &rng)] = edge.randomElement(using: &rng)! }
            case 2:  // a random byte
                if b.count > first { b[Int.random(in: body, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 3:  // rewrite a length field: off by a little, or anything
                if let fields = lengthFields[kind], let at = fields.randomElement(using: &rng), at + 2 <= b.count {
                    let old = Int(b.readLE(UInt16.self, at: at))
                    let v = Bool.random(using: &rng) ? max(0, old + Int.random(in: -3...3, using: &rng)) : Int.random(in: 0...0xFFFF, using: &rng)
                    withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian) {
                        b[at] = $0[0]; b[at + 1] = $0[1]
                    }
                }
            case 4:  // truncate
                if b.count > 16 { b.removeLast(Int.random(in: 1...(b.count - 16), using: &rng)) }
            case 5:  // extend
                b += (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 6:  // delete a run inside the body
                if b.count > 17 {
                    let at = Int.random(in: 16..<b.count, using: &rng)
                    b.removeSubrange(at..<min(b.count, at + Int.random(in: 1...8, using: &rng)))
                }
            case 7:  // duplicate a run (NULs, components, arguments)
                if b.count > 17 {
                    let at = Int.random(in: 16..<b.count, using: &rng)
                    b.insert(contentsOf: b[at..<min(b.count, at + Int.random(in: 1...16, using: &rng))], at: at)
                }
            default:  // a string region full of NULs or without any
                if b.count > 17 {
                    let at = Int.random(in: 16..<b.count, using: &rng)
                    let v: UInt8 = Bool.random(using: &rng) ? 0 : 0x2F
                    for i in at..<min(b.count, at + Int.random(in: 1...24, using: &rng)) { b[i] = v }
                }
            }
        }
        // Mostly a consistent header, so the kind's decoder is reached; sometimes not.
        switch Int.random(in: 0..<20, using: &rng) {
        case 0: break  // size left as it was
        case 1: if b.count >= 4 { b[2] = UInt8.random(in: 2...255, using: &rng) }; setSize(&b)  // version
        case 2:  // another kind's decoder on these bytes
            if b.count >= 2 { b[0] = UInt8([1, 2, 3, 10, 11, 12, 13, 14].randomElement(using: &rng)!); b[1] = 0 }; setSize(&b)
        default: setSize(&b)
        }
        return b
    }

    /// A valid payload for each frame type.
    static func payload(for type: FrameType, _ rng: inout SplitMix64) -> [UInt8] {
        switch type {
        case .hello: return Hello(role: [.sensor, .detector, .responder].randomElement(using: &rng)!, pid: 4242, nextSequence: 17).frame().payload
        case .ack: return Ack.frame(upTo: 99).payload
        case .kernelRecord: return seedRecords.randomElement(using: &rng)!.bytes
        case .procSnapshot:
            var p = [UInt8]()
            p.appendLE(UInt32(321))
            func section(_ tag: UInt8, _ s: [UInt8]) { p.append(tag); p.appendLE(UInt32(s.count)); p += s }
            section(1, Array("321 (my (odd) name) S 1 321 321 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 10".utf8))
            section(2, Array("Name:\tx\nUid:\t1000\t1001\t1002\t1003\n".utf8))
            section(3, Array("python3\0-m\0http.server\0".utf8))
            section(4, Array("/usr/bin/python3.11".utf8))
            section(5, Array("/srv".utf8))
            return p
        case .snapshotDone, .forgetExecutables: return []
        case .sensorStats: return SensorStats.frame([("kernel.exec.submitted", 10), ("kernel.exec.ring_full", 1), ("sensor.records_read", 9)]).payload
        case .executableFile:
            var p = [UInt8](); p.appendLE(UInt64(7))
            // 8 bytes, or a kind byte: 1 known, 2 script, 3 known script, others invalid.
            if Bool.random(using: &rng) { p.append(UInt8.random(in: 0...4, using: &rng)) }
            return p
        case .responseRequest: return ResponseRequest(pid: 10, startTicks: 5, level: 4, ruleID: "id-1", ruleName: "rule name").frame().payload
        case .responseResult: return ResponseResult(pid: 10, outcome: .killed, message: "killed pid 10").frame().payload
        default: return []
        }
    }

    static func mutatePayload(_ good: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = good
        for _ in 0..<Int.random(in: 0...3, using: &rng) {
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: if !b.isEmpty { b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng) }
            case 1: if !b.isEmpty { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            case 2: if !b.isEmpty { b.removeLast(Int.random(in: 1...b.count, using: &rng)) }
            case 3: b += (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default: if b.count > 1 { b.insert(contentsOf: b[0..<min(b.count, 4)], at: Int.random(in: 0..<b.count, using: &rng)) }
            }
        }
        return b
    }

    struct Reach: CustomStringConvertible {
        var reached = 0, accepted = 0, rejected = 0
        var description: String { "reached \(reached) (accepted \(accepted), rejected \(rejected))" }
    }

    static let frameTypes: [FrameType] = [
        .hello, .ack, .kernelRecord, .procSnapshot, .snapshotDone, .sensorStats, .executableFile,
        .forgetExecutables, .responseRequest, .responseResult
    ]

    @Test func framesAndRecordsReachEveryDecoder() throws {
        var rng = SplitMix64(seed: Self.seed)
        let detector = try makeTestDetector()
        var frames: [UInt8: Reach] = [:]  // payload parser per frame type
        var kinds: [UInt16: Reach] = [:]  // kernel record decoder per kind
        var dnsParse = Reach()
        var wireErrors = 0, framesOut = 0
        var expectedRecordsDecoded: UInt64 = 0, expectedRecordErrors: UInt64 = 0

        for _ in 0..<Self.iterations {
            // One connection: a few frames, kernel records sequenced from a random start.
            var decoder = FrameDecoder()
            var seq = UInt64.random(in: 1...1_000_000, using: &rng)
            decoder.expectSequence(from: seq)
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                // Half the frames carry kernel records (eight decoders behind one frame type).
                let type = Bool.random(using: &rng) ? FrameType.kernelRecord : Self.frameTypes.randomElement(using: &rng)!
                var payload = Self.payload(for: type, &rng)
                if type == .kernelRecord {
                    let kind = UInt16(payload[0]) | UInt16(payload[1]) << 8
                    payload = Self.mutateRecord(payload, kind: kind, &rng)
                } else {
                    payload = Self.mutatePayload(payload, &rng)
                }
                var frame = Frame(type: type, sequence: type.isSequenced ? seq : 0, payload: payload).encoded()
                if type.isSequenced { seq += 1 }
                // Now and then a bad header: the frame decoder's own checks.
                if Int.random(in: 0..<25, using: &rng) == 0 {
                    switch Int.random(in: 0..<5, using: &rng) {
                    case 0: frame[5] = UInt8.random(in: 2...255, using: &rng)  // version
                    case 1: frame[4] = UInt8.random(in: 22...255, using: &rng)  // type
                    case 2: frame[6] = UInt8.random(in: 1...255, using: &rng)  // flags
                    case 3: frame[8] ^= UInt8.random(in: 1...255, using: &rng)  // sequence
                    default: frame[0] = UInt8.random(in: 0...11, using: &rng); frame[1] = 0; frame[2] = 0; frame[3] = 0  // length
                    }
                }
                stream += frame
            }
            // Delivered in random pieces, as socket reads deliver them.
            var off = 0
            connection: while off < stream.count {
                let n = min(stream.count - off, Int.random(in: 1...512, using: &rng))
                decoder.feed(Array(stream[off..<(off + n)]))
                off += n
                while true {
                    let f: Frame
                    do {
                        guard let next = try decoder.next() else { break }
                        f = next
                    } catch {
                        wireErrors += 1
                        break connection
                    }
                    framesOut += 1
                    var r = frames[f.type.rawValue, default: Reach()]
                    r.reached += 1
                    var ok = true
                    switch f.type {
                    case .hello: ok = (try? Hello(frame: f)) != nil
                    case .ack: ok = (try? Ack.sequence(from: f)) != nil
                    case .sensorStats: ok = (try? SensorStats.parse(f.payload)) != nil
                    case .responseRequest: ok = (try? ResponseRequest(frame: f)) != nil
                    case .responseResult: ok = (try? ResponseResult(frame: f)) != nil
                    case .procSnapshot:
                        var n = Normalizer(machineID: "ab")
                        ok = (try? n.snapshot(f.payload)) != nil
                        if !ok { expectedRecordErrors += 1 }
                    case .kernelRecord:
                        let p = f.payload
                        if p.count >= 16 && p.readLE(UInt16.self, at: 2) == KernelRecordDecoder.version && Int(p.readLE(UInt32.self, at: 4)) == p.count {
                            let kind = p.readLE(UInt16.self, at: 0)
                            var k = kinds[kind, default: Reach()]
                            k.reached += 1
                            if let rec = try? KernelRecordDecoder.decode(p) {
                                k.accepted += 1;
                                if case .dns(let d) = rec {
                                    dnsParse.reached += 1
                                    if DnsMessage.parse(d.payload) != nil { dnsParse.accepted += 1 } else { dnsParse.rejected += 1 }
                                }
                            } else {
                                k.rejected += 1
                            }
                            kinds[kind] = k
                        }
                        ok = (try? KernelRecordDecoder.decode(p)) != nil
                        if ok { expectedRecordsDecoded += 1 } else { expectedRecordErrors += 1 }
                    default: break
                    }
                    // And the detector's own dispatch, as the live loop calls it.
                    switch f.type {
                    case .kernelRecord, .procSnapshot, .snapshotDone, .sensorStats, .executableFile:
                        let accepted = (try? detector.ingest(f)) != nil
                        if f.type == .sensorStats || f.type == .executableFile { ok = accepted }
                    default: break
                    }
                    if ok { r.accepted += 1 } else { r.rejected += 1 }
                    frames[f.type.rawValue] = r
                }
            }
        }

        print("fuzz: seed \(Self.seed), \(Self.iterations) connections, \(framesOut) frames, \(wireErrors) frame-header rejections")
        for t in Self.frameTypes { print("  frame \(t): \(frames[t.rawValue] ?? Reach())") }
        for k in kinds.keys.sorted() { print("  record kind \(k): \(kinds[k]!)") }
        print("  DNS message parser: \(dnsParse)")

        // Every decoder was reached often, and saw inputs it accepted and inputs it rejected.
        let scale = max(1, Self.iterations / 3000)
        #expect(wireErrors >= 100 * scale, "frame decoder rejections: \(wireErrors)")
        for t in Self.frameTypes {
            let r = frames[t.rawValue] ?? Reach()
            #expect(r.reached >= 150 * scale, "frame \(t): \(r)")
            if ![FrameType.snapshotDone, .forgetExecutables].contains(t) {
                #expect(r.accepted >= 10 * scale && r.rejected >= 10 * scale, "frame \(t): \(r)")
            }
        }
        for kind: UInt16 in [1, 2, 3, 10, 11, 12, 13, 14] {
            let r = kinds[kind] ?? Reach()
            #expect(r.reached >= 200 * scale, "record kind \(kind): \(r)")
            #expect(r.accepted >= 20 * scale && r.rejected >= 20 * scale, "record kind \(kind): \(r)")
        }
        #expect(dnsParse.accepted >= 10 * scale && dnsParse.rejected >= 10 * scale, "DNS messages: \(dnsParse)")
        // The detector counted exactly what the decoders decided.
        #expect(detector.counters.recordsDecoded == expectedRecordsDecoded)
        #expect(detector.counters.recordErrors == expectedRecordErrors)
    }

    /// Every prefix and every single-byte value at every offset of every seed record: the
    /// exhaustive neighbourhood of a valid record, deterministic.
    @Test func everyTruncationAndByteOfEverySeedRecord() {
        var reached = 0
        for (kind, good) in Self.seedRecords {
            for cut in 16..<good.count {
                var b = Array(good.prefix(cut))
                Self.setSize(&b)
                // A shorter record never decodes as a valid record of the same kind with the full contents.
                if let r = try? KernelRecordDecoder.decode(b), let full = try? KernelRecordDecoder.decode(good) {
                    #expect(r != full, "kind \(kind) cut at \(cut) decoded as the full record")
                }
                reached += 1
            }
            for at in 16..<good.count {
                for v: UInt8 in [0, 0x01, 0x2F, 0x7F, 0x80, 0xFF] {
                    var b = good
                    b[at] = v
                    _ = try? KernelRecordDecoder.decode(b)
                    reached += 1
                }
            }
        }
        #expect(reached > 10_000)
    }
}

/// One record for each detector crash the fuzzing found (a local user could trigger both:
/// a connect result of Int32.min, syscall flags of 2^63 or more). Fixed; kept as regressions.
@Suite("Known detector crashes")
struct KnownCrashTests {
    @Test
    func connectResultOfInt32MinIsReported() throws {
        let detector = try makeTestDetector()
        try detector.ingest(
            Frame(
                type: .kernelRecord, sequence: 1,
                payload: TelemetryBuilder.net(
                    result: Int32.min, local: "127.0.0.88", lport: 1, remote: "127.0.0.77", rport: 2)))
        #expect(detector.counters.recordsDecoded == 1 && detector.counters.events == 1)
    }

    @Test
    func memfdFlagsAboveInt64MaxAreReported() throws {
        let detector = try makeTestDetector()
        try detector.ingest(
            Frame(
                type: .kernelRecord, sequence: 1,
                payload: TelemetryBuilder.attack(
                    op: 14, result: -22, args: [UInt64.max, 0, 0, 0], strings: ["x"])))
        #expect(detector.counters.recordsDecoded == 1 && detector.counters.events == 1)
    }
}

/// The detector's loss accounting: every record it could not decode is counted, and the
/// kernel's per-family ring-full, too-large and no-state counters are summed into "kernel.lost".
@Suite("Detector counters")
struct DetectorCounterTests {
    @Test func recordErrorsAndDecodedRecordsAreCounted() throws {
        let detector = try makeTestDetector()
        var seq: UInt64 = 1
        func record(_ bytes: [UInt8]) throws {
            try detector.ingest(Frame(type: .kernelRecord, sequence: seq, payload: bytes))
            seq += 1
        }
        let exec = KernelRecordLayout.exec(
            pid: 100, tid: 101, ppid: 50, uid: 0, euid: 61_002, start: 5_000_000_000,
            parentStart: 1_000_000_000, args: ["/usr/bin/whoami"], path: "/usr/bin/whoami", cwd: "/")
        try record(exec)  // decoded; the team rule fires (root whoami)
        try record(Array(exec.dropLast()))  // size mismatch
        var badKind = exec; badKind[0] = 99
        try record(badKind)  // unknown kind
        try record(KernelRecordLayout.exit(pid: 100, ppid: 50, start: 5_000_000_000, parentStart: 1_000_000_000))
        try record([1, 0, 1, 0])  // shorter than a header
        #expect(detector.counters.framesReceived == 5)
        #expect(detector.counters.recordsDecoded == 2)
        #expect(detector.counters.recordErrors == 3)
        #expect(detector.counters.events == 1)
        #expect(detector.counters.alerts == 1)
        // A snapshot that does not parse is a record error too.
        try detector.ingest(Frame(type: .procSnapshot, payload: [1, 0, 0, 0, 1, 200, 0, 0, 0]))
        #expect(detector.counters.recordErrors == 4 && detector.counters.snapshotProcesses == 0)
    }

    @Test func reconcileSumsEveryFamilysLosses() throws {
        let detector = try makeTestDetector()
        // Distinct values per family and counter: leaving any one out changes the sum.
        let families = ["exec", "exit", "fork", "net", "file", "dns", "attack", "cgroup"]
        var entries: [(String, UInt64)] = []
        var lost: UInt64 = 0
        for (i, f) in families.enumerated() {
            let ringFull = UInt64(1) << UInt64(3 * i), tooLarge = UInt64(1) << UInt64(3 * i + 1), noState = UInt64(1) << UInt64(3 * i + 2)
            entries += [
                ("kernel.\(f).submitted", 1000 + UInt64(i)), ("kernel.\(f).ring_full", ringFull), ("kernel.\(f).too_large", tooLarge),
                ("kernel.\(f).no_state", noState), ("kernel.\(f).seen", 1 << 40)
            ]
            lost += ringFull + tooLarge + noState
        }
        entries.append(("sensor.records_read", 4321))
        try detector.ingest(SensorStats.frame(entries))
        #expect(lost == 0xFF_FFFF)
        #expect(detector.lastSensorStats["kernel.lost"] == lost)
        #expect(detector.lastSensorStats["sensor.records_read"] == 4321)
        #expect(detector.lastSensorStats["kernel.net.ring_full"] == 1 << 9)
    }
}
