import EDRCore
import EDRSystem
import EDRSigma
import EDRWindowsEvents
import EDRYara
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The detector's loop: frames in, events normalized, rules evaluated, alerts out, frames
/// acknowledged so the sensor can forget them.
public final class Detector: @unchecked Sendable {
    public struct Options: Sendable {
        /// Whether edr-respond runs: requests are queued for it (its connection arrives over
        /// the control channel, and again after it restarts).
        public var respondEnabled: Bool
        public var responseMinLevel: SigmaLevel
        public var context: AlertContext
        public var machineID: String
        /// File events under these prefixes are dropped (TelemetryNormalizer).
        public var excludedPathPrefixes: [String] = []
        /// Environment variables that become process_creation fields (`[telemetry] environment`).
        public var environmentNames: [String] = Normalizer.defaultEnvironmentNames
        /// Time each stage of handling kernel records (`Counters.stages`): two clock reads per
        /// stage per record, so off unless asked (`edr-bench pipeline --stages`).
        public var measureStages = false
        public init(respondEnabled: Bool, responseMinLevel: SigmaLevel, context: AlertContext, machineID: String) {
            self.respondEnabled = respondEnabled
            self.responseMinLevel = responseMinLevel
            self.context = context
            self.machineID = machineID
        }
    }

    public struct Counters: Sendable {
        public var framesReceived: UInt64 = 0
        public var recordsDecoded: UInt64 = 0
        public var recordErrors: UInt64 = 0
        public var events: UInt64 = 0
        public var alerts: UInt64 = 0
        public var responseRequests: UInt64 = 0
        public var responseOutcomes: UInt64 = 0
        public var responseQueueFull: UInt64 = 0
        public var snapshotProcesses: UInt64 = 0
        /// auditd records built from events (AuditdRecords), when rules read them.
        public var auditdRecords: UInt64 = 0
        /// With `Options.measureStages`: where handling kernel records spent its time.
        public var stages = Stages()
    }

    /// Monotonic nanoseconds per stage of handling kernel records (frame reading, replies and
    /// stats are outside them).
    public struct Stages: Sendable {
        /// Frame payload → kernel record (KernelRecordDecoder).
        public var decode: UInt64 = 0
        /// The process cache and the record's event (Normalizer, TelemetryNormalizer).
        public var normalize: UInt64 = 0
        /// auditd records built from the event (AuditdRecords).
        public var auditdRecords: UInt64 = 0
        /// IOC and Sigma evaluation of the events and records, their alerts written or held.
        public var detection: UInt64 = 0
        public init() {}
    }

    private let store: DetectorStore
    // The state below is touched by the detector's loop alone (one thread), in accesses that
    // never overlap: the runtime's exclusivity checks are left out of the per-event path.
    /// The live rule sets, taken from the store once per batch of frames (not per event: the
    /// store's lock is then off the per-event path). A reload is seen from the next batch on.
    @exclusivity(unchecked) var detectors: DetectorStore.Snapshot {
        didSet {
            if detectors.sigma !== oldValue.sigma {
                auditd = AuditdRecords.Wanted(engine: detectors.sigma)
                sigma = detectors.sigma.session()
            }
        }
    }
    /// The live Sigma rules' evaluation state for this detector's loop (one thread).
    @exclusivity(unchecked) private(set) var sigma: SigmaSession
    /// The auditd record types live rules can match: only those are built (AuditdRecords).
    @exclusivity(unchecked) public private(set) var auditd = AuditdRecords.Wanted.none
    public var auditdWanted: Bool { auditd.any }
    let sink: AlertSink
    /// YARA and hashes of executed files, in the background; nil when neither is configured.
    @exclusivity(unchecked) public var scanner: ExecutableScanner?
    /// Descriptors received with executable-file frames, in arrival order.
    @exclusivity(unchecked) private var receivedFDs: [Int32] = []
    /// The last exec record, for its executable-file frames (the interpreter's, then a
    /// script's): the sensor sends them right behind their record, so no older exec can still
    /// get one.
    @exclusivity(unchecked) private var lastExec:
        (
            sequence: UInt64, event: Event, process: ProcessEntry, identity: FileIdentity?,
            script: (path: String, identity: FileIdentity)?
        )?
    private let respondLock = NSLock()
    let options: Options
    /// edr-logs' connection (HostLogs.swift).
    let hostLogs = HostLogConnection()
    @exclusivity(unchecked) public private(set) var normalizer: Normalizer
    /// Network, file, DNS and post-exec telemetry (TelemetryNormalizer.swift).
    @exclusivity(unchecked) public private(set) var telemetry: TelemetryNormalizer
    /// ETW records from the Windows sensor (EDRWindowsEvents), with their own process cache.
    public var windows = WindowsEventDecoder()
    @exclusivity(unchecked) public internal(set) var counters = Counters()
    /// Set by the live loop (`serve`): Sigma and IOC alerts are held in the sink and written
    /// once per batch of frames, before the frames are acknowledged (AlertSink.hold). Direct
    /// callers of `ingest` (tests, `edr replay`) get each alert written at once.
    @exclusivity(unchecked) public var holdAlerts = false
    /// edr-respond: requests queued here and written without blocking; results read in the
    /// main loop. Detection never waits for the responder (a responder that stops reading
    /// fills this queue, whose overflow is reported as refused outcomes).
    private var respondFD: Int32 = -1
    private var respondOut: [UInt8] = []
    private var respondIn = FrameDecoder(maxFrameSize: 16384)
    private var nextRequestID: UInt64 = 1
    static let maxQueuedResponseBytes = 4 << 20
    private var healthLimiter = HealthAlertLimiter(limit: 6, windowNanos: 60_000_000_000)
    private var onReady: (() -> Void)?
    private let forgetLock = NSLock()
    private var forgetExecutablesRequested = false

    /// Any thread: tell the sensor to send descriptors again for files it passed recently
    /// (after a YARA reload emptied the verdict cache).
    public func requestForgetExecutables() {
        forgetLock.lock()
        forgetExecutablesRequested = true
        forgetLock.unlock()
    }

    public init(store: DetectorStore, sink: AlertSink, options: Options, onReady: (() -> Void)? = nil) {
        self.store = store
        self.sink = sink
        self.options = options
        self.normalizer = Normalizer(machineID: options.machineID)
        self.normalizer.environmentNames = options.environmentNames
        self.telemetry = TelemetryNormalizer(machineID: options.machineID, excludedPathPrefixes: options.excludedPathPrefixes)
        self.detectors = store.current
        self.auditd = AuditdRecords.Wanted(engine: detectors.sigma)
        self.sigma = detectors.sigma.session()
        self.onReady = onReady
    }

    /// Where its sensor, responder and alert-file descriptors come from: the supervisor's
    /// control channel, or (one systemd unit per process) its own connection and its sockets.
    public var peers: any PeerSource = SupervisorPeers()

    /// Waits for the sensor connection the supervisor hands over, processes frames until the
    /// connection ends, then waits for the next one. Returns when the supervisor is gone, or
    /// (under systemd) when the sensor connection it made at start ends: the unit restarts it.
    public func run() throws {
        // Alerts are written synchronously, so nothing is lost by leaving at once; a blocking
        // read would otherwise be restarted after the signal.
        signal(SIGTERM) { _ in _exit(0) }
        signal(SIGINT) { _ in _exit(0) }
        signal(SIGPIPE, SIG_IGN)
        var sensor: Int32 = -1
        // Connections made at start (systemd) or already handed over.
        guard takePeers(&sensor) else { return }
        while true {
            if sensor < 0 {
                ControlChannel.heartbeat()
                let side = sideChannelPollFDs()
                var p = [pollfd(fd: peers.pollFD, events: Int16(POLLIN), revents: 0), side.responder, side.logs]
                if poll(&p, 3, 500) > 0 { serviceSideChannels(responder: p[1], logs: p[2]) }
                guard p[0].revents == 0 || takePeers(&sensor) else { return }
                continue
            }
            let fd = sensor
            do {
                let next = try serve(fd)
                if next < 0 { Log.warning("sensor closed the connection; waiting for the next one") }
                sensor = next
            } catch {
                Log.error("dropping the sensor connection: \(error)")
                sensor = -1
            }
            close(fd)
            if sensor == -2 { return }
            if sensor == -1 {
                peers.peerClosed(role: "sensor")
                if !peers.replacesEndedPeers {
                    Log.info("the sensor connection ended; exiting so that the unit restarts and connects again")
                    return
                }
            }
        }
    }

    /// Takes the peers handed over. A new sensor connection goes to `sensor` (the caller
    /// switches to it). Returns false when the source is gone.
    private func takePeers(_ sensor: inout Int32) -> Bool {
        guard let peers = peers.receivePeers() else {
            Log.info("supervisor gone; exiting")
            return false
        }
        var newSensor: Int32?
        for p in peers {
            switch p.role {
            case "sensor":
                // The connection being served is closed by the caller when it switches.
                if let pending = newSensor { close(pending) }
                newSensor = p.fd
            case "alerts":
                // The supervisor (or `edr reopen-alerts`) reopened the alert file (SIGHUP,
                // rotation): the new file takes the alert descriptor's place; a line is
                // written whole to one or the other.
                if dup2(p.fd, ChildFD.primary) < 0 { Log.error("switching the alert file: \(String(cString: strerror(errno)))") }
                close(p.fd)
                Log.info("alert file reopened")
            case "logs":
                takeHostLogs(p.fd)
            case "respond":
                attachResponder(p.fd)
            default:
                close(p.fd)
            }
        }
        if let newSensor { sensor = newSensor }
        return true
    }

    /// Acknowledge at most this often while frames keep coming (and when idle, after this long).
    static let ackIntervalNanos: UInt64 = 100_000_000
    /// ... or once this many frames are unacknowledged.
    static let ackFrames: UInt64 = 4096

    /// Serves one sensor connection. Returns -1 when it ended, the descriptor of a newer
    /// sensor connection handed over meanwhile, or -2 when the supervisor is gone.
    private func serve(_ fd: Int32) throws -> Int32 {
        try UnixSocket.writeAll(fd, Hello(role: .detector, pid: UInt32(getpid()), nextSequence: 0).frame().encoded())
        holdAlerts = true
        defer { holdAlerts = false; sink.flush() }
        var reader = FrameReader(fd: fd)
        guard let first = try reader.next() else { throw EDRError("sensor closed before hello") }
        let hello = try Hello(frame: first)
        guard hello.role == .sensor else { throw EDRError("peer says it is \(hello.role), expected sensor") }
        reader.decoder.expectSequence(from: hello.nextSequence)
        var processed: UInt64 = hello.nextSequence &- 1
        var acked = processed
        var pollfds = [
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: peers.pollFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: -1, events: 0, revents: 0), pollfd(fd: -1, events: 0, revents: 0)
        ]

        var lastAck = monotonicNanos()
        var sinceHeartbeat = 0
        while true {
            forgetLock.lock()
            let forget = forgetExecutablesRequested
            forgetExecutablesRequested = false
            forgetLock.unlock()
            if forget { try UnixSocket.writeAll(fd, Frame(type: .forgetExecutables, payload: []).encoded()) }
            // Drain what is buffered; acknowledge before blocking for more, but at most every
            // `ackIntervalNanos` (or `ackFrames` frames): each ack is a write here and a read in
            // the sensor, and the sensor keeps unacknowledged frames for a restart anyway.
            if reader.decoder.bufferedBytes == 0 && processed != acked {
                let now = monotonicNanos()
                if processed &- acked >= Self.ackFrames || now &- lastAck >= Self.ackIntervalNanos {
                    sink.flush()
                    try UnixSocket.writeAll(fd, Ack.frame(upTo: processed).encoded())
                    acked = processed
                    lastAck = now
                }
            }
            if reader.decoder.bufferedBytes == 0 {
                sink.flush()  // the batch's alerts, before waiting for more
                ControlChannel.heartbeat()
                reportStats()
                for i in pollfds.indices { pollfds[i].revents = 0 }
                (pollfds[2], pollfds[3]) = sideChannelPollFDs()
                let n = poll(&pollfds, 4, processed != acked ? Int32(Self.ackIntervalNanos / 1_000_000) : 200)
                if n > 0 { serviceSideChannels(responder: pollfds[2], logs: pollfds[3]) }
                if n > 0 && pollfds[1].revents != 0 {
                    var next = fd
                    guard takePeers(&next) else { return -2 }
                    if next != fd { return next }
                }
                if n > 0 && pollfds[0].revents == 0 { continue }
                if n == 0 {
                    flushTelemetry()
                    if processed != acked {
                        sink.flush()
                        try UnixSocket.writeAll(fd, Ack.frame(upTo: processed).encoded())
                        acked = processed
                        lastAck = monotonicNanos()
                    }
                    continue
                }
                if n < 0 { if errno == EINTR { continue } else { throw SystemError("poll") } }
            }
            if reader.decoder.bufferedBytes == 0 {
                detectors = store.current
                normalizer.batchNanos = monotonicNanos()
            }
            guard let frame = try reader.next() else { return -1 }
            receivedFDs.append(contentsOf: reader.takeFDs())
            if try ingest(frame) { processed = frame.sequence }
            // A detector busy with a long replay or a storm never finds its buffer empty: it
            // still says it is alive (and acknowledges), or the supervisor (or systemd's
            // watchdog) would take it for hung and replace it, and the replay would grow.
            // Nor may the host's logs and the responder's outcomes wait for the storm to end
            // (an exec flood would hold back what auth.log says): every 1,024 frames they are
            // read if they wait.
            sinceHeartbeat &+= 1
            if sinceHeartbeat >= 1024 {
                sinceHeartbeat = 0
                let side = sideChannelPollFDs()
                var fds = [side.responder, side.logs]
                if poll(&fds, 2, 0) > 0 { serviceSideChannels(responder: fds[0], logs: fds[1]) }
                let now = monotonicNanos()
                ControlChannel.heartbeat(now: now)
                if processed != acked && now &- lastAck >= Self.ackIntervalNanos {
                    sink.flush()
                    try UnixSocket.writeAll(fd, Ack.frame(upTo: processed).encoded())
                    acked = processed
                    lastAck = now
                }
            }
        }
    }

    /// Poll entries for the responder (POLLOUT too while requests wait) and edr-logs; -1 for
    /// one not connected.
    private func sideChannelPollFDs() -> (responder: pollfd, logs: pollfd) {
        respondLock.lock()
        let wantOut = !respondOut.isEmpty
        respondLock.unlock()
        return (
            pollfd(fd: respondFD, events: Int16(POLLIN) | (wantOut ? Int16(POLLOUT) : 0), revents: 0),
            pollfd(fd: hostLogsFD, events: Int16(POLLIN), revents: 0)
        )
    }

    /// Reads the responder's outcomes (and sends its queued requests) and edr-logs' records,
    /// as poll reported them.
    private func serviceSideChannels(responder: pollfd, logs: pollfd) {
        if responder.revents != 0 { serviceResponder() }
        if logs.revents != 0 {
            detectors = store.current
            serviceHostLogs()
        }
    }

    /// One frame from the sensor. Returns true for a sequenced record (to acknowledge).
    /// Descriptors that came with the stream must already be in `receivedFDs`.
    @discardableResult
    public func ingest(_ frame: Frame) throws -> Bool {
        counters.framesReceived += 1
        switch frame.type {
        case .kernelRecord:
            handle(record: frame.payload, sequence: frame.sequence)
            return true
        case .etwRecord:
            handle(etw: frame.payload, sequence: frame.sequence)
            return true
        case .procSnapshot:
            do {
                try normalizer.snapshot(frame.payload)
                counters.snapshotProcesses += 1
            } catch {
                counters.recordErrors += 1
                Log.warning("\(error)")
            }
        case .executableFile:
            // 8 bytes: the executable's descriptor came with it. 9 bytes: the last byte says
            // what: 1 the sensor passed the same file moments ago and sent none (the verdict
            // cache answers by identity); 2 a script's descriptor came with it; 3 a known script.
            let kind: UInt8 = frame.payload.count == 9 ? frame.payload[8] : 0
            if kind == 1 || kind == 3 {
                let seq = frame.payload.readLE(UInt64.self, at: 0)
                if let scanner, let last = lastExec, last.sequence == seq {
                    if kind == 1, let id = last.identity {
                        scanner.submit(identity: id, event: last.event, process: last.process, sequence: seq)
                    } else if kind == 3, let script = last.script {
                        scanner.submit(
                            identity: script.identity, event: last.event, process: last.process, sequence: seq,
                            script: script.path)
                    }
                }
                return false
            }
            guard !receivedFDs.isEmpty else { throw EDRError("executable-file frame without a descriptor") }
            let fd = receivedFDs.removeFirst()
            guard frame.payload.count == 8 || kind == 2 else {
                close(fd)
                throw EDRError("executable-file payload is \(frame.payload.count) bytes\(frame.payload.count == 9 ? " of kind \(kind)" : "")")
            }
            let seq = frame.payload.readLE(UInt64.self, at: 0)
            if let scanner, let last = lastExec, last.sequence == seq {
                if kind == 2 {
                    if let script = last.script {
                        scanner.submit(fd: fd, event: last.event, process: last.process, sequence: seq, script: script.path)
                    } else {
                        close(fd)
                    }
                } else {
                    scanner.submit(fd: fd, event: last.event, process: last.process, sequence: seq)
                }
            } else {
                close(fd)
            }
        case .snapshotDone:
            Log.info("process cache warm: \(counters.snapshotProcesses) processes from the sensor's /proc snapshot")
            if let r = onReady { onReady = nil; r() }
        case .sensorStats:
            reconcile(try SensorStats.parse(frame.payload))
        default:
            throw EDRError("unexpected \(frame.type) frame from the sensor")
        }
        return false
    }

    private func handle(record payload: [UInt8], sequence: UInt64) {
        let timed = options.measureStages
        var mark = timed ? monotonicNanos() : 0
        /// Adds the time since the last lap to a stage (with `measureStages`).
        func lap(_ stage: WritableKeyPath<Stages, UInt64>) {
            guard timed else { return }
            let now = monotonicNanos()
            counters.stages[keyPath: stage] &+= now &- mark
            mark = now
        }
        let record: KernelRecord
        do {
            record = try KernelRecordDecoder.decode(payload)
        } catch {
            counters.recordErrors += 1
            Log.warning("frame \(sequence): \(error)")
            return
        }
        counters.recordsDecoded += 1
        lap(\.decode)
        switch record {
        case .exec(let r):
            let (e, process, parent) = normalizer.exec(r)
            var event = e
            if let c = telemetry.containerID(cgroup: r.cgroupID) { event["ContainerId"] = .string(c) }
            counters.events += 1
            if scanner != nil {
                lastExec = (
                    sequence, event, process, r.executable,
                    r.script.flatMap { id in r.scriptPath.map { ($0, id) } }
                )
            }
            lap(\.normalize)
            evaluate(event, sequence: sequence, process: process, parent: parent)
            lap(\.detection)
            if auditdWanted {
                let records = AuditdRecords.exec(r, process: process, timestamp: event.timestamp, wanted: auditd)
                lap(\.auditdRecords)
                for a in records {
                    counters.auditdRecords += 1
                    evaluate(a, sequence: sequence, process: process, parent: parent)
                }
                lap(\.detection)
            }
        case .exit(let r):
            normalizer.exit(r)
            lap(\.normalize)
        case .fork(let r):
            normalizer.fork(r)
            lap(\.normalize)
        case .net, .file, .dns, .attack, .cgroup:
            let clock = normalizer
            let events = telemetry.handle(record, processes: normalizer.cache, wallTime: { clock.wallTime(bootNanos: $0) })
            lap(\.normalize)
            for t in events {
                counters.events += 1
                evaluate(t.event, sequence: sequence, process: t.process, parent: nil)
                lap(\.detection)
                guard auditdWanted else { continue }
                let records = AuditdRecords.telemetry(record, event: t.event, process: t.process, wanted: auditd)
                lap(\.auditdRecords)
                for a in records {
                    counters.auditdRecords += 1
                    evaluate(a, sequence: sequence, process: t.process, parent: nil)
                }
                lap(\.detection)
            }
        }
    }

    /// One ETW record: decoded to zero or more events, evaluated like kernel records. An
    /// unknown event is counted by the decoder and skipped; a malformed one is logged with
    /// the field and offset, counted, and skipped: the connection stays.
    private func handle(etw payload: [UInt8], sequence: UInt64) {
        let events: [Event]
        do {
            events = try windows.decode(payload: payload)
        } catch {
            counters.recordErrors += 1
            Log.warning("frame \(sequence): etw record: \(error)")
            return
        }
        counters.recordsDecoded += 1
        for e in events {
            counters.events += 1
            // Responses need a Linux process identity (pid and start ticks): none for now.
            evaluate(e, sequence: sequence, process: nil, parent: nil)
        }
    }

    /// DNS queries whose answer never came are reported once their wait is over, even when
    /// no other record arrives to trigger it.
    private func flushTelemetry() {
        let clock = normalizer
        for t in telemetry.flushUnanswered(processes: normalizer.cache, now: monotonicNanos(), wallTime: { clock.wallTime(bootNanos: $0) }) {
            counters.events += 1
            evaluate(t.event, sequence: nil, process: t.process, parent: nil)
        }
    }

    public func evaluate(_ event: Event, sequence: UInt64?, process: ProcessEntry?, parent: ProcessEntry?) {
        if let ioc = detectors.ioc {
            for m in ioc.match(event: event) {
                counters.alerts += 1
                let (line, readable) = IOCAlerts.encode(m, event: event, process: process, sequence: sequence, context: options.context)
                if holdAlerts { sink.hold(line: line, readable: readable) } else { sink.write(line: line, readable: readable) }
                if let p = process { respond(p, level: IOCAlerts.level, ruleID: "ioc:\(m.indicator)", ruleName: "IOC \(m.indicator)") }
            }
        }
        for m in sigma.evaluate(event) {
            counters.alerts += 1
            let line = AlertEncoder.sigma(
                event: event, rule: m.rule, sequence: sequence, context: options.context,
                process: process, parent: parent)
            let readable = sink.showsReadable ? AlertEncoder.readable(event: event, rule: m.rule) : nil
            if holdAlerts { sink.hold(line: line, readable: readable) } else { sink.write(line: line, readable: readable) }
            if let p = process { respond(p, level: m.rule.level, ruleID: m.rule.id ?? "", ruleName: m.rule.title) }
        }
    }

    /// The connection to edr-respond (handed over by the supervisor or made at start).
    func attachResponder(_ fd: Int32) {
        respondLock.lock()
        if respondFD >= 0 { close(respondFD) }
        respondFD = fd
        respondIn = FrameDecoder(maxFrameSize: 16384)
        flushResponder()
        respondLock.unlock()
        Log.info("connected to edr-respond")
    }

    /// Asks edr-respond to act if the level reaches the threshold. Any thread; never blocks.
    /// The alert that asks is written to the alert file first: a batch's alerts are otherwise
    /// held until the batch ends, and the process would be killed before the record of why
    /// was on disk (a crash in between would leave a kill without its alert).
    public func respond(_ p: ProcessEntry, level: SigmaLevel, ruleID: String, ruleName: String) {
        guard options.respondEnabled, level >= options.responseMinLevel else { return }
        sink.flush()
        respondLock.lock()
        defer { respondLock.unlock() }
        let id = nextRequestID
        nextRequestID += 1
        let request = ResponseRequest(
            pid: p.pid, startTicks: p.startTicks, level: UInt8(level.rawValue), ruleID: ruleID,
            ruleName: ruleName, executable: p.image, requestID: id)
        guard respondOut.count < Self.maxQueuedResponseBytes else {
            counters.responseQueueFull += 1
            writeOutcome(
                ResponseResult(
                    pid: p.pid, outcome: .refused, message: "not sent: the queue to edr-respond is full (it is not reading)",
                    requestID: id, ruleID: ruleID, ruleName: ruleName, executable: p.image))
            return
        }
        respondOut.append(contentsOf: request.frame().encoded())
        counters.responseRequests += 1
        flushResponder()
    }

    /// Writes what the responder socket takes now (MSG_DONTWAIT). Caller holds respondLock.
    private func flushResponder() {
        guard respondFD >= 0 else { return }
        while !respondOut.isEmpty {
            let n = respondOut.withUnsafeBytes { Glibc.send(respondFD, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            if n > 0 {
                respondOut.removeFirst(n)
            } else {
                if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
                Log.error("edr-respond connection lost: \(String(cString: strerror(errno))); requests stay queued for the next one")
                dropResponder()
                return
            }
        }
    }

    /// Reads the responder's results (each becomes an outcome event) and sends queued requests.
    /// Holds respondLock throughout: the scan worker's thread may send on the same socket.
    private func serviceResponder() {
        respondLock.lock()
        defer { respondLock.unlock() }
        guard respondFD >= 0 else { return }
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.recv(respondFD, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                buf.withUnsafeBytes { respondIn.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                do {
                    while let f = try respondIn.next() {
                        counters.responseOutcomes += 1
                        writeOutcome(try ResponseResult(frame: f))
                    }
                } catch {
                    Log.error("malformed result from edr-respond: \(error); dropping its connection")
                    dropResponder()
                    return
                }
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { break }
            Log.warning("edr-respond closed its connection; waiting for the next one")
            dropResponder()
            return
        }
        flushResponder()
    }

    /// Caller holds respondLock. A named socket's listener admits the next responder then.
    private func dropResponder() {
        close(respondFD)
        respondFD = -1
        peers.peerClosed(role: "respond")
    }

    /// One response outcome as its own ECS event in the alert stream.
    private func writeOutcome(_ r: ResponseResult) {
        let action: String
        switch r.outcome {
        case .killed: action = "process-killed"
        case .wouldKill: action = "process-kill-dry-run"
        case .refused, .disabled: action = "process-kill-refused"
        case .gone: action = "process-kill-target-gone"
        case .failed: action = "process-kill-failed"
        }
        var e = HealthAlert(
            ruleID: r.ruleID, title: r.ruleName, level: "informational", action: action,
            message: "response to pid \(r.pid): \(r.outcome.name): \(r.message)")
        e.kind = "event"
        e.ruleset = "edr-response"
        e.section = "response"
        e.eventType = r.outcome == .killed ? "end" : "info"
        e.outcome = r.outcome == .killed || r.outcome == .wouldKill ? "success" : "failure"
        e.processPID = r.pid
        e.processExecutable = r.executable.isEmpty ? nil : r.executable
        if r.uid != .max { e.userID = String(r.uid) }
        e.fields = [("outcome", r.outcome.name), ("reason", r.message), ("dry_run", r.dryRun ? "true" : "false")]
        e.numbers = [("request_id", Int64(r.requestID))]
        sink.write(
            line: e.encoded(host: options.context.host),
            readable: "[response] pid \(r.pid) \(r.outcome.name): \(r.message)")
    }

    /// Writes an alert line from any thread (the scanner's callback).
    public func emit(line: [UInt8], readable: String) {
        sink.write(line: line, readable: readable)
    }

    private var lastReconcile: [String: UInt64] = [:]
    private var lastStatsReport: UInt64 = 0
    /// How often the detector's counters go to the supervisor (for `edr status` and metrics).
    static let statsReportNanos: UInt64 = 2_000_000_000

    /// One "STATS k=v …" line to the supervisor, at most every `statsReportNanos`.
    private func reportStats() {
        let now = monotonicNanos()
        guard now &- lastStatsReport >= Self.statsReportNanos else { return }
        lastStatsReport = now
        let s = lastReconcile
        let kernel = KernelCounters.lossTotals(s)
        let d = detectors
        let fields: [(String, String)] =
            [
                ("frames", "\(counters.framesReceived)"), ("records", "\(counters.recordsDecoded)"),
                ("record_errors", "\(counters.recordErrors)"), ("events", "\(counters.events)"), ("alerts", "\(counters.alerts)"),
                ("alerts_written", "\(sink.written)"), ("alert_write_errors", "\(sink.writeErrors)"),
                ("response_requests", "\(counters.responseRequests)"), ("response_outcomes", "\(counters.responseOutcomes)"),
                ("response_queue_full", "\(counters.responseQueueFull)"),
                ("kernel_submitted", "\(kernel.submitted)"),
                ("sensor_records_read", "\(s["sensor.records_read"] ?? 0)"), ("sensor_pending_frames", "\(s["sensor.pending_frames"] ?? 0)"),
                ("sensor_executables_unavailable", "\(s["sensor.executables_unavailable"] ?? 0)"),
                ("sigma_rules", "\(d.sigma.loadedCount)"), ("yara_rules", "\(d.yara?.ruleCount ?? 0)"),
                // ETW records of a provider, id or version without a layout (skipped, not errors).
                ("etw_unknown", "\(windows.counters.unknown)")
            ] + kernel.byKind.map { ("kernel_\($0.0)", "\($0.1)") } + hostLogStats
        ControlChannel.send("STATS " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ") + " last_reload=" + store.lastReload)
    }

    /// Compares what the kernel submitted, what the sensor read and what arrived here.
    private func reconcile(_ stats: [(String, UInt64)]) {
        var s: [String: UInt64] = [:]
        for (k, v) in stats { s[k] = v }
        let (submitted, byKind, lost) = KernelCounters.lossTotals(s)
        let previousLost = (lastReconcile["kernel.lost"] ?? 0)
        let kinds = byKind.map { "\($0.0.replacingOccurrences(of: "_", with: "-")) \($0.1)" }.joined(separator: ", ")
        func n(_ key: String) -> UInt64 { s[key] ?? 0 }
        let line = [
            "loss accounting: kernel submitted \(submitted), \(kinds)",
            "sensor read \(n("sensor.records_read")), pending \(n("sensor.pending_frames"))",
            "detector decoded \(counters.recordsDecoded), record errors \(counters.recordErrors), alerts \(counters.alerts)",
            "executables passed \(n("sensor.executables_passed")), known \(n("sensor.executables_known")), "
                + "unavailable \(n("sensor.executables_unavailable")), uncached \(scanner?.uncachedIdentities ?? 0)",
            "scripts by path \(n("sensor.scripts_by_path")), known \(n("sensor.scripts_known")), unavailable \(n("sensor.scripts_unavailable"))"
        ].joined(separator: "; ")
        if lost > previousLost {
            Log.warning(line)
            // Counted loss reaches the alert stream too, so a fleet sees a blinded agent.
            var a = HealthAlert(
                ruleID: "edr-health-events-lost", title: "Kernel events lost", level: "high",
                action: "events-lost", message: "the kernel dropped \(lost - previousLost) events since the last report (\(kinds) in all)")
            a.numbers = [("lost", Int64(lost - previousLost))] + byKind.map { ("\($0.0)_total", Int64($0.1)) }
            if let admitted = healthLimiter.admit(a) {
                sink.write(line: admitted.encoded(host: options.context.host), readable: "[health] \(a.message)")
            }
        } else {
            Log.debug(line)
        }
        s["kernel.lost"] = lost
        lastReconcile = s
    }

    public var lastSensorStats: [String: UInt64] { lastReconcile }

    /// A connection to one of the detector's named sockets that was refused (another uid, or a
    /// second client while the peer lives): a tamper attempt, in the alert stream.
    public func reportRefusedPeer(_ r: SinglePeerListener.Refusal) {
        var a = HealthAlert(
            ruleID: "edr-health-peer-refused", title: "Connection to an agent socket refused", level: "high",
            action: "peer-refused", message: r.description)
        a.processPID = r.pid
        a.userID = String(r.uid)
        a.numbers = [("pid", Int64(r.pid)), ("uid", Int64(r.uid))]
        if let admitted = healthLimiter.admit(a) {
            sink.write(line: admitted.encoded(host: options.context.host), readable: "[health] \(a.message)")
        }
    }
}
