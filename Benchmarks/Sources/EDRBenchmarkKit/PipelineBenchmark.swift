import EDRCore
import EDRDetect
import EDRSigma
import EDRSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The detector's per-record cost without the kernel: fork, exec and exit records laid out
/// byte for byte as bpf/edr_events.h writes them, framed as the sensor frames them, and fed
/// through `Detector.ingest` as the live loop does: the process cache, the auditd records
/// (when a `service: auditd` rule is loaded), Sigma, and the alerts, encoded and written to a
/// file opened in append mode as the supervisor opens the alert file.
///
/// With `socket` (the default) the frames come the way the live detector gets them: a writer
/// thread sends them in batches (`batchExecs` execs each; `edr-bench pipeline --pace` makes it
/// the sensor's batch at that rate, `BatchDelay`) on a stream socketpair, and this thread reads them with the
/// detector's `FrameReader` (`recvmsg`, 256 KiB at a time), calling `poll` whenever its input
/// runs dry, as `Detector.serve` does. Only the reading thread's CPU is counted, so the
/// socket's receive side and the polls are in the figure.
///
/// Sent as fast as the reader takes them, the batches find the detector's code and tables in
/// the caches: that figure is the detector's own cost, about half of what the live detector
/// pays at 1,600 execs/s. With `pace` the batches come at that rate (one every 30 ms) and the
/// reader sleeps in `poll` between them as the live detector does, and each batch starts cold:
/// the figure then matches the live edr-detect's (Benchmarks/cpu_bench.py measures the whole
/// agent). `storm` adds the host's real execs meanwhile.
public enum PipelineBenchmark {
    public struct Options: Sendable {
        public var rulePaths: [String]
        public var execs: Int
        /// Every n-th exec is `/usr/bin/whoami` run as root, which the bundled
        /// `whoami_as_root` rule reports (0: no alerts).
        public var alertEvery: Int
        public var socket: Bool
        public var batchExecs: Int
        /// With the socket: bytes of other memory written between two batches (not counted), so
        /// each batch starts with caches as cold as the live detector finds them after sleeping
        /// while the host ran (0: warm, the figure of a detector that never sleeps).
        public var coldBytes: Int
        /// With the socket: execs per second the batches are sent at (0: as fast as the reader
        /// takes them), so the reader sleeps in `poll` between batches as the live detector does.
        public var pace: Double = 0
        /// With `pace`: real execs of /bin/true at the same rate meanwhile, from another thread
        /// (each waited for), so the host does between batches what it does live.
        public var storm = false
        /// Sigma engine optimizations turned off (`SigmaBenchmark.optimizations`).
        public var off: [String] = []
        /// Time the detector's stages (`Detector.Options.measureStages`).
        public var stages = false
        /// Whether the spawner's own fork and exec open the stream (a Python program run from
        /// a directory under /home, as a test or build job spawns its commands), so every event
        /// has a parent image, command line and user as live ones do. Without it (the stream of
        /// the rounds before 2026-12-04) the parent fields are empty and the rules on them cost
        /// nothing.
        public var parent = true
        public init(
            rulePaths: [String], execs: Int, alertEvery: Int = 0, socket: Bool = true, batchExecs: Int = 48,
            coldBytes: Int = 0
        ) {
            self.rulePaths = rulePaths; self.execs = execs; self.alertEvery = alertEvery; self.socket = socket
            self.batchExecs = batchExecs; self.coldBytes = coldBytes
        }
    }

    public struct Figures: Sendable {
        public var cpuSeconds: Double, wallSeconds: Double
        public var execs: Int, records: Int, streamBytes: Int
        public var events: UInt64, auditdRecords: UInt64, alerts: UInt64, alertBytes: Int, recordErrors: UInt64
        /// With `Options.stages`: the detector's time per stage.
        public var stages = Detector.Stages()
        public var microsPerExec: Double { cpuSeconds / Double(execs) * 1e6 }
    }

    /// The frames of `execs` fork/exec/exit triples from one spawner, as one byte stream
    /// (with `parent`, after the spawner's own fork and exec).
    public static func stream(execs: Int, alertEvery: Int, parent: Bool = true) -> [UInt8] {
        // A spawner (pid 1000) runs short commands, as the paced exec benchmark does; a few
        // command lines vary so the rules see different strings.
        let commands: [(path: String, args: [String])] = [
            ("/usr/bin/true", ["/bin/true", "plain"]),
            ("/usr/bin/ls", ["ls", "-la", "/var/log"]),
            ("/usr/bin/grep", ["grep", "-r", "needle", "/etc"]),
            ("/usr/bin/python3.11", ["python3", "-c", "print(1)"])
        ]
        var stream: [UInt8] = []
        stream.reserveCapacity(execs * 700)
        var seq: UInt64 = 1
        func frame(_ payload: [UInt8]) {
            Frame.appendHeader(to: &stream, type: .kernelRecord, sequence: seq, payloadCount: payload.count)
            stream += payload
            seq += 1
        }
        let spawner: UInt32 = 1000, spawnerStart: UInt64 = 1_000_000_000
        if parent {
            let shell: UInt32 = 900, shellStart: UInt64 = 500_000_000
            frame(KernelRecordLayout.fork(pid: spawner, ppid: shell, start: spawnerStart, parentStart: shellStart))
            frame(
                KernelRecordLayout.exec(
                    pid: spawner, ppid: shell, start: spawnerStart, parentStart: shellStart,
                    args: ["/home/user/.venv/bin/python3", "/home/user/project/tools/run_jobs.py", "--jobs", "4", "--config=ci/jobs.toml"],
                    path: "/usr/bin/python3.11", cwd: "/home/user/project", comm: "python3"))
        }
        for i in 0..<execs {
            let pid = UInt32(2000 + i % 30000)
            let start = spawnerStart + UInt64(i + 1) * 1_000_000
            let c =
                alertEvery > 0 && i % alertEvery == alertEvery - 1
                ? (path: "/usr/bin/whoami", args: ["whoami"]) : commands[i % commands.count]
            frame(KernelRecordLayout.fork(pid: pid, ppid: spawner, start: start, parentStart: spawnerStart))
            frame(
                KernelRecordLayout.exec(
                    pid: pid, ppid: spawner, start: start, parentStart: spawnerStart,
                    args: c.args, path: c.path, cwd: "/home/user/project"))
            frame(KernelRecordLayout.exit(pid: pid, ppid: spawner, start: start, parentStart: spawnerStart))
        }
        return stream
    }

    /// A detector as `edr-detect` builds one (Sigma only, no JIT unless asked), writing alerts
    /// to `alertFD`.
    public static func detector(rulePaths: [String], alertFD: Int32, off: [String] = [], stages: Bool = false) throws -> Detector {
        var options = DetectorLogSources.sigmaOptions()
        try SigmaBenchmark.turnOff(off, in: &options)
        let store = try DetectorStore(sources: DetectorSources(sigma: rulePaths, yara: [], ioc: [], sigmaOptions: options))
        var detectorOptions = Detector.Options(
            respondEnabled: false, responseMinLevel: .critical,
            context: AlertContext(hostName: "bench", hostID: "bench"),
            machineID: "0123456789abcdef0123456789abcdef")
        detectorOptions.measureStages = stages
        return Detector(store: store, sink: AlertSink(fd: alertFD), options: detectorOptions)
    }

    public static func measure(_ o: Options) throws -> Figures {
        let alertPath = NSTemporaryDirectory() + "edr-bench-alerts-\(getpid()).ndjson"
        let alertFD = open(alertPath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        guard alertFD >= 0 else { throw EDRError("cannot create \(alertPath)") }
        defer { close(alertFD); unlink(alertPath) }
        let detector = try detector(rulePaths: o.rulePaths, alertFD: alertFD, off: o.off, stages: o.stages)
        let stream = stream(execs: o.execs, alertEvery: o.alertEvery, parent: o.parent)
        var c0 = threadCPUSeconds()
        let w0 = monotonicNanos()
        if o.socket {
            let perExec = max(1, stream.count / max(o.execs, 1))
            let batchSeconds = o.pace > 0 ? Double(max(o.batchExecs, 1)) / o.pace : 0
            let stop = o.storm && o.pace > 0 ? startStorm(rate: o.pace) : nil
            defer { stop?() }
            c0 += try feedThroughSocket(
                stream, batchBytes: perExec * max(o.batchExecs, 1), batchSeconds: batchSeconds, coldBytes: o.coldBytes, detector)
        } else {
            // Fed in 256 KiB chunks, as the socket reads deliver them, without the socket.
            var decoder = FrameDecoder()
            let chunk = 256 * 1024
            try stream.withUnsafeBytes { all in
                var off = 0
                while off < all.count {
                    let n = min(chunk, all.count - off)
                    decoder.feed(UnsafeRawBufferPointer(rebasing: all[off..<(off + n)]))
                    while let f = try decoder.next() { try detector.ingest(f) }
                    off += n
                }
            }
        }
        let cpu = threadCPUSeconds() - c0
        let wall = Double(monotonicNanos() - w0) / 1e9
        var st = stat()
        fstat(alertFD, &st)
        var figures = Figures(
            cpuSeconds: cpu, wallSeconds: wall, execs: o.execs, records: o.execs * 3 + (o.parent ? 2 : 0), streamBytes: stream.count,
            events: detector.counters.events, auditdRecords: detector.counters.auditdRecords,
            alerts: detector.counters.alerts, alertBytes: Int(st.st_size), recordErrors: detector.counters.recordErrors)
        figures.stages = detector.counters.stages
        return figures
    }

    /// A writer thread sends the stream in batches; this thread reads as `Detector.serve` does.
    /// Returns the CPU seconds spent chilling the caches, to leave out of the figure.
    static func feedThroughSocket(
        _ stream: [UInt8], batchBytes: Int, batchSeconds: Double, coldBytes: Int, _ detector: Detector
    ) throws -> Double {
        let cold = UnsafeMutablePointer<UInt8>.allocate(capacity: max(coldBytes, 1))
        cold.initialize(repeating: 0, count: max(coldBytes, 1))
        defer { cold.deallocate() }
        var chilling = 0.0
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw SystemError("socketpair") }
        let (reader, writer) = (fds[0], fds[1])
        defer { close(reader) }
        let thread = Thread {
            stream.withUnsafeBytes { all in
                var off = 0
                let t0 = monotonicNanos()
                var batch = 0
                while off < all.count {
                    if batchSeconds > 0 {
                        let due = t0 + UInt64(Double(batch) * batchSeconds * 1e9)
                        let now = monotonicNanos()
                        if due > now { usleep(UInt32((due - now) / 1000)) }
                        batch += 1
                    }
                    let end = min(off + batchBytes, all.count)
                    while off < end {
                        let n = write(writer, all.baseAddress! + off, end - off)
                        if n <= 0 { if errno == EINTR { continue }; return }
                        off += n
                    }
                }
            }
            close(writer)
        }
        thread.start()
        var frames = FrameReader(fd: reader)
        var pfd = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
        while true {
            if frames.decoder.bufferedBytes == 0 {
                if coldBytes > 0 {
                    let t0 = threadCPUSeconds()
                    var k = 0
                    while k < coldBytes { cold[k] &+= 1; k += 64 }
                    chilling += threadCPUSeconds() - t0
                }
                pfd.revents = 0
                _ = poll(&pfd, 1, 1000)
            }
            guard let f = try frames.next() else { break }
            try detector.ingest(f)
        }
        return chilling
    }

    /// Runs /bin/true `rate` times a second (each waited for) until the returned function is
    /// called: the host's own work between two batches, as `Benchmarks/cpu_bench.py` makes it.
    static func startStorm(rate: Double) -> () -> Void {
        final class Flag: @unchecked Sendable {
            let lock = NSLock()
            var on = true
            var isOn: Bool { lock.withLock { on } }
        }
        let running = Flag()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let t0 = monotonicNanos()
            var i = 0
            var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), strdup("plain"), nil]
            defer { for a in argv { free(a) } }
            while running.isOn {
                let due = t0 + UInt64(Double(i) / rate * 1e9)
                let now = monotonicNanos()
                if due > now { usleep(UInt32((due - now) / 1000)) }
                var pid: pid_t = 0
                if posix_spawn(&pid, "/bin/true", nil, nil, &argv, environ) == 0 {
                    var st: Int32 = 0
                    waitpid(pid, &st, 0)
                }
                i += 1
            }
            done.signal()
        }
        thread.start()
        return {
            running.lock.withLock { running.on = false }
            done.wait()
        }
    }

    public static func run(_ o: Options) throws -> String {
        let f = try measure(o)
        let alertLine = f.alerts == 0 ? "" : ", \(f.alertBytes / max(Int(f.alerts), 1)) bytes per alert line"
        return """
            pipeline: \(f.execs) execs (fork + exec + exit = \(f.records) records, \(f.streamBytes / 1024) KiB of frames\(o.socket ? ", through a socketpair in batches of \(o.batchExecs) execs\(o.coldBytes > 0 ? ", \(o.coldBytes >> 20) MiB written between batches" : "")\(o.pace > 0 ? ", \(Int(o.pace)) execs/s" : "")\(o.storm ? " with as many real execs of /bin/true" : "")" : ", no socket")), rules: \(o.rulePaths.joined(separator: ", "))\(o.off.isEmpty ? "" : ", off: \(o.off.joined(separator: ", "))")
              CPU \(fmt(f.cpuSeconds)) s (wall \(fmt(f.wallSeconds)) s): \(fmt(f.microsPerExec)) µs per exec, \(fmt(f.cpuSeconds / Double(f.records) * 1e6)) µs per record, \(Int(Double(f.records) / f.cpuSeconds)) records/s
              events \(f.events), auditd records \(f.auditdRecords), alerts \(f.alerts) (written: \(f.alertBytes / 1024) KiB\(alertLine)), record errors \(f.recordErrors)
              at 1,600 execs/s this is \(fmt(f.microsPerExec * 1600 / 1e4))% of one core (the sensor's wake-ups not included)
            """ + (o.stages ? "\n" + stageLine(f) : "")
    }

    /// The stages' share of an exec, in µs (wall time inside each stage: the detector's thread
    /// runs alone).
    static func stageLine(_ f: Figures) -> String {
        let s = f.stages
        func us(_ n: UInt64) -> String { fmt(Double(n) / 1e3 / Double(max(f.execs, 1))) }
        let inside = s.decode + s.normalize + s.auditdRecords + s.detection
        return "  stages, µs per exec: decode \(us(s.decode)), normalize \(us(s.normalize)), auditd records \(us(s.auditdRecords)), "
            + "detection \(us(s.detection)); the rest of the CPU per exec (socket reads, frames, acknowledgements) "
            + fmt(f.microsPerExec - Double(inside) / 1e3 / Double(max(f.execs, 1)))
    }

    public static func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return String(r)
    }

    public static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
