// Decodes a `edr-sensor.exe --write-frames` file with the detector's own code
// (Sources/EDRCore/Wire.swift: FrameDecoder, Hello, SensorStats, ETWRecordLayout), compiled
// together with this file by windows/tests/run.sh, and checks every etwRecord payload against
// the fixture the sensor read.
//
//     decode-frames FRAMES FIXTURE
#if canImport(Glibc)
import Glibc
#endif

func readFile(_ path: String) -> [UInt8] {
    guard let f = fopen(path, "rb") else { fail("cannot open \(path)") }
    defer { fclose(f) }
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

func fail(_ why: String) -> Never {
    print("FAIL: \(why)")
    exit(1)
}

@main
struct DecodeFrames {
    static func main() {
        let args = CommandLine.arguments
        guard args.count == 3 else { fail("usage: decode-frames FRAMES FIXTURE") }
        let bytes = readFile(args[1])
        let fixture = readFile(args[2])
        var records: [[UInt8]] = []
        var off = 0
        while off + 4 <= fixture.count {
            let len = Int(fixture.readLE(UInt32.self, at: off))
            records.append(Array(fixture[(off + 4)..<(off + 4 + len)]))
            off += 4 + len
        }

        var decoder = FrameDecoder()
        decoder.feed(bytes)
        var frames: [Frame] = []
        do {
            while let f = try decoder.next() { frames.append(f) }
            try decoder.finish()
        } catch {
            fail("FrameDecoder: \(error)")
        }
        guard let first = frames.first, let hello = try? Hello(frame: first) else { fail("first frame is not a hello") }
        guard hello.role == .sensor, hello.nextSequence == 1 else { fail("hello \(hello)") }
        let etw = frames.filter { $0.type == .etwRecord }
        guard etw.count == records.count else { fail("\(etw.count) etwRecord frames, fixture has \(records.count)") }
        for (i, f) in etw.enumerated() {
            guard f.sequence == UInt64(i + 1) else { fail("frame \(i) has sequence \(f.sequence)") }
            guard f.payload == records[i] else { fail("frame \(f.sequence): payload differs from fixture record \(i)") }
            let udl = Int(f.payload.readLE(UInt16.self, at: ETWRecordLayout.userDataLength))
            guard ETWRecordLayout.headerSize + udl == f.payload.count else { fail("frame \(f.sequence): UserDataLength \(udl)") }
        }
        guard let stats = frames.last, stats.type == .sensorStats, let counters = try? SensorStats.parse(stats.payload) else {
            fail("last frame is not a sensorStats frame")
        }
        let read = counters.first { $0.0 == "sensor.records_read" }?.1
        guard read == UInt64(records.count) else { fail("sensor.records_read = \(String(describing: read))") }
        print("ok: FrameDecoder read \(frames.count) frames: hello, \(etw.count) etwRecord 1...\(etw.count) equal to the fixture, sensorStats with \(counters.count) counters")
    }
}
