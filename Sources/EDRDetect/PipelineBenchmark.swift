import EDRCore
import EDRSigma
#if canImport(Glibc)
import Glibc
#endif

/// The detector's per-record cost without the kernel or the socket: fork, exec and exit records
/// laid out byte for byte as bpf/edr_events.h writes them, framed as the sensor frames them,
/// fed through the frame decoder and `Detector.ingest` exactly as the live loop does (alerts go
/// to /dev/null). What is left out is the wake-up and the socket read: see
/// Benchmarks/exec_bench.py for the whole agent.
public enum PipelineBenchmark {
    public static func run(rulePaths: [String], execs: Int) throws -> String {
        let options = DetectorLogSources.sigmaOptions()
        let store = try DetectorStore(sources: DetectorSources(sigma: rulePaths, yara: [], ioc: [], sigmaOptions: options))
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(null) }
        let detector = Detector(store: store, sink: AlertSink(fd: null),
                                options: .init(respondEnabled: false, responseMinLevel: .critical,
                                               context: AlertContext(hostName: "bench", hostID: "bench"),
                                               machineID: "0123456789abcdef0123456789abcdef"))
        // A spawner (pid 1000) runs short commands, as the paced exec benchmark does; a few
        // command lines vary so the rules see different strings.
        let commands: [(path: String, args: [String])] = [
            ("/usr/bin/true", ["/bin/true", "plain"]),
            ("/usr/bin/ls", ["ls", "-la", "/var/log"]),
            ("/usr/bin/grep", ["grep", "-r", "needle", "/etc"]),
            ("/usr/bin/python3.11", ["python3", "-c", "print(1)"]),
        ]
        var stream: [UInt8] = []
        var seq: UInt64 = 1
        func frame(_ payload: [UInt8]) {
            Frame.appendHeader(to: &stream, type: .kernelRecord, sequence: seq, payloadCount: payload.count)
            stream += payload
            seq += 1
        }
        let spawner: UInt32 = 1000, spawnerStart: UInt64 = 1_000_000_000
        for i in 0..<execs {
            let pid = UInt32(2000 + i % 30000)
            let start = spawnerStart + UInt64(i + 1) * 1_000_000
            let c = commands[i % commands.count]
            frame(KernelRecordLayout.fork(pid: pid, ppid: spawner, start: start, parentStart: spawnerStart))
            frame(KernelRecordLayout.exec(pid: pid, ppid: spawner, start: start, parentStart: spawnerStart,
                               args: c.args, path: c.path, cwd: "/home/user/project"))
            frame(KernelRecordLayout.exit(pid: pid, ppid: spawner, start: start, parentStart: spawnerStart))
        }
        // Fed in 256 KiB chunks, as the socket reads deliver them.
        var decoder = FrameDecoder()
        let chunk = 256 * 1024
        let c0 = threadCPUSeconds(), w0 = monotonicNanos()
        try stream.withUnsafeBytes { all in
            var off = 0
            while off < all.count {
                let n = min(chunk, all.count - off)
                decoder.feed(UnsafeRawBufferPointer(rebasing: all[off..<(off + n)]))
                while let f = try decoder.next() { try detector.ingest(f) }
                off += n
            }
        }
        let cpu = threadCPUSeconds() - c0
        let wall = Double(monotonicNanos() - w0) / 1e9
        let records = Double(execs * 3)
        return """
            pipeline: \(execs) execs (fork + exec + exit = \(Int(records)) records, \(stream.count / 1024) KiB of frames), rules: \(rulePaths.joined(separator: ", "))
              CPU \(fmt(cpu)) s (wall \(fmt(wall)) s): \(fmt(cpu / Double(execs) * 1e6)) µs per exec, \(fmt(cpu / records * 1e6)) µs per record, \(Int(records / cpu)) records/s
              events \(detector.counters.events), alerts \(detector.counters.alerts), record errors \(detector.counters.recordErrors)
              at 1,600 execs/s this is \(fmt(cpu / Double(execs) * 1600 * 100))% of one core (wake-ups and socket reads not included)
            """
    }

    static func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return String(r)
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
