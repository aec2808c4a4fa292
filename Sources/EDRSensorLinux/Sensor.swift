import CLibBPF
import CLinux
import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// The sensor's loop: drain the ring buffer into sequenced frames, keep every frame until the
/// detector acknowledges it, replay what was not acknowledged when a detector (re)connects.
/// When the replay buffer is full the sensor stops draining, so the kernel's ring-full
/// counter, not a silent user-space drop, records any loss.
public final class Sensor {
    public struct Options: Sendable {
        public var replayBufferBytes: Int
        public var statsIntervalNanos: UInt64
        /// Longest a record waits in the ring while records keep coming (see `run()`).
        public var maxBatchDelayMs: Int32 = 30
        /// Open each executed file (/proc/PID/exe, the exact inode that ran) and pass the
        /// descriptor to the detector for YARA and hashing, which may not open it itself.
        public var passExecutables = false
        public init(replayBufferBytes: Int, statsIntervalNanos: UInt64) {
            self.replayBufferBytes = replayBufferBytes
            self.statsIntervalNanos = statsIntervalNanos
        }
    }

    private let programs: BPFPrograms
    private let options: Options
    /// Where detector connections come from: the supervisor's control channel, or (one
    /// systemd unit per process) the sensor's socket, which admits the detector's uid alone.
    public var peers: any PeerSource = SupervisorPeers()
    private var ring: OpaquePointer?

    /// Frames not yet acknowledged, oldest first: pending[head...]. Their bytes lie back to
    /// back in `store` (offsets count from the start of the stream; store[0] is at
    /// `storeBase`), so a record costs a copy, not an allocation.
    private var pending: [(seq: UInt64, offset: Int, length: Int, fd: Int32, scriptFD: Int32)] = []
    private var store: [UInt8] = []
    private var storeBase = 0
    private var head = 0
    private var pendingBytes = 0
    private var nextSequence: UInt64 = 1
    /// Sequence of the last frame copied into `out` for the current connection.
    private var queuedThrough: UInt64 = 0

    private var connection: Int32 = -1
    private var out: [UInt8] = []
    private var outOffset = 0
    /// Descriptors to send with the frame starting at this offset of `out` (SCM_RIGHTS).
    private var outFDs: [(offset: Int, fd: Int32)] = []
    /// Executables held open for frames not yet sent; bounded so an absent detector cannot
    /// exhaust the sensor's descriptors.
    private var heldFDs = 0
    private let maxHeldFDs = 512
    private var executablesPassed: UInt64 = 0
    /// Execs of a file passed within the TTL: no descriptor, an executable-file frame that
    /// says "known" instead.
    private var executablesKnown: UInt64 = 0
    /// Executables whose descriptor went to the connected detector, by identity → when.
    /// Cleared when a detector connects (a new one has an empty cache).
    private var passedExecutables: [ExecutableKey: UInt64] = [:]
    static let passedExecutableTTLNanos: UInt64 = 60_000_000_000
    /// `pending` descriptor value for "known executable, no descriptor".
    static let knownExecutable: Int32 = -2

    struct ExecutableKey: Hashable {
        var inode: UInt64
        var size: UInt64
        var ctime: UInt64
        var device: UInt32
    }
    private var executablesUnavailable: UInt64 = 0
    /// Executables passed by the recorded path (the process was gone) after the identity check.
    private var executablesByPath: UInt64 = 0
    /// Scripts (the file a #! exec named; its interpreter is the executable) passed by the
    /// recorded path after the identity check, and those that could not be.
    private var scriptsByPath: UInt64 = 0
    private var scriptsUnavailable: UInt64 = 0
    /// Scripts passed within the TTL: "known" frames, no descriptor.
    private var scriptsKnown: UInt64 = 0

    /// Offsets in struct edr_exec_record (bpf/edr_events.h).
    static let execFixedSize = 168
    static let execScriptFlag: UInt32 = 16

    static func identity(_ bytes: UnsafeRawBufferPointer, at o: Int) -> ExecutableKey {
        ExecutableKey(inode: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self),
                      size: bytes.loadUnaligned(fromByteOffset: o + 8, as: UInt64.self),
                      ctime: bytes.loadUnaligned(fromByteOffset: o + 16, as: UInt64.self),
                      device: bytes.loadUnaligned(fromByteOffset: o + 24, as: UInt32.self))
    }

    /// A file by the path in the exec record (components leaf first at `start`, `length` bytes;
    /// bpf/edr_events.h), opened O_PATH (no open side effect on whatever the path names now) and
    /// passed only if it is a regular file with the identity the kernel recorded at exec: device,
    /// inode, size and ctime. Then reopened for reading. -1 otherwise (a renamed, replaced or
    /// rewritten file, or a path the kernel cut).
    private func openRecordedFile(_ bytes: UnsafeRawBufferPointer, start: Int, length pathLen: Int, cut: Bool,
                                  _ id: ExecutableKey) -> Int32 {
        guard id.ctime != 0, !cut else { return -1 }
        guard pathLen > 0, start + pathLen <= bytes.count else { return -1 }
        var components: [Substring] = []
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + pathLen)]), as: UTF8.self)
        for c in text.split(separator: "\0", omittingEmptySubsequences: true) where c != "/" {
            components.append(c)
        }
        guard !components.isEmpty else { return -1 }
        let relative = components.reversed().joined(separator: "/")
        // Through the process's own root while it lives (its mount namespace: a container's
        // files), else init's, not this process's: under its unit the sensor has a private
        // /tmp and no /home (PrivateTmp=, ProtectHome=), where one-shot tools like to live.
        // Init's root can be closed even to root (a VM's init that is not dumpable): then our
        // own. The identity check makes every candidate safe to try.
        let pid = bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self)
        for root in ["/proc/\(pid)/root/", "/proc/1/root/", "/"] {
            let pfd = open(root + relative, Int32(EDR_O_PATH) | O_NOFOLLOW | O_CLOEXEC)
            guard pfd >= 0 else { continue }
            defer { close(pfd) }
            var st = stat()
            guard fstat(pfd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let dev = userDevice(fromKernel: UInt64(id.device))
            let ctime = UInt64(st.st_ctim.tv_sec) &* 1_000_000_000 &+ UInt64(st.st_ctim.tv_nsec)
            guard UInt64(st.st_dev) == dev, UInt64(st.st_ino) == id.inode, UInt64(st.st_size) == id.size, ctime == id.ctime else { continue }
            return open("/proc/self/fd/\(pfd)", O_RDONLY | O_CLOEXEC)
        }
        return -1
    }
    private var decoder = FrameDecoder(maxFrameSize: 4096)
    private var readBuffer = [UInt8](repeating: 0, count: 4096)

    // Counters of the user-space half, reported beside the kernel's.
    private var recordsRead: UInt64 = 0
    private var framesSent: UInt64 = 0
    private var framesReplayed: UInt64 = 0
    private var backpressurePauses: UInt64 = 0
    private var connections: UInt64 = 0

    nonisolated(unsafe) static var stopRequested: sig_atomic_t = 0

    public init(programs: BPFPrograms, options: Options) throws {
        self.programs = programs
        self.options = options
        let rbFD = try programs.mapFD("edr_events")
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        guard let rb = ring_buffer__new(rbFD, { ctx, data, size in
            guard let ctx, let data else { return 0 }
            Unmanaged<Sensor>.fromOpaque(ctx).takeUnretainedValue().record(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }, ctx, nil) else {
            throw SystemError("ring_buffer__new")
        }
        ring = rb
    }

    deinit {
        if let ring { ring_buffer__free(ring) }
    }

    private func record(_ bytes: UnsafeRawBufferPointer) {
        recordsRead += 1
        let offset = storeBase + store.count
        Frame.appendHeader(to: &store, type: .kernelRecord, sequence: nextSequence, payloadCount: bytes.count)
        store.append(contentsOf: bytes)
        let length = Wire.headerSize + bytes.count
        var fd: Int32 = -1
        var scriptFD: Int32 = -1
        if options.passExecutables, bytes.count >= Self.execFixedSize, bytes.load(fromByteOffset: 0, as: UInt16.self) == 1 {
            // The kernel wrote the file's identity (bpf/edr_events.h): a file passed moments
            // ago is not opened again; the detector's verdict cache answers for it.
            let identity = Self.identity(bytes, at: 104)
            let flags = bytes.loadUnaligned(fromByteOffset: 72, as: UInt32.self)
            let argsLen = Int(bytes.loadUnaligned(fromByteOffset: 80, as: UInt16.self))
            let pathLen = Int(bytes.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
            let now = monotonicNanos()
            if identity.ctime != 0, let at = passedExecutables[identity], now &- at < Self.passedExecutableTTLNanos {
                fd = Self.knownExecutable
                executablesKnown += 1
            } else if heldFDs < maxHeldFDs {
                let pid = bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self)
                fd = open("/proc/\(pid)/exe", O_RDONLY | O_CLOEXEC)
                if fd < 0 {
                    // A process that lived a millisecond is gone before we look: open what the
                    // kernel recorded, if it is still the very file that ran.
                    fd = openRecordedFile(bytes, start: Self.execFixedSize + argsLen, length: pathLen, cut: flags & 2 != 0, identity)
                    if fd >= 0 { executablesByPath += 1 }
                }
                if fd >= 0 {
                    heldFDs += 1
                    if identity.ctime != 0 {
                        if passedExecutables.count >= 4096 { passedExecutables.removeAll(keepingCapacity: true) }
                        passedExecutables[identity] = now
                    }
                } else {
                    executablesUnavailable += 1
                }
            } else {
                executablesUnavailable += 1
            }
            if flags & Self.execScriptFlag != 0 { scriptFD = passScript(bytes, flags: flags, now: now) }
        }
        pending.append((nextSequence, offset, length, fd, scriptFD))
        pendingBytes += length
        nextSequence += 1
    }

    /// A #! script's own file (the exec record's executable is its interpreter): opened by the
    /// path the kernel walked from the script's struct file and passed only with the recorded
    /// identity, like a one-shot executable; `knownExecutable` when passed moments ago.
    private func passScript(_ bytes: UnsafeRawBufferPointer, flags: UInt32, now: UInt64) -> Int32 {
        let id = Self.identity(bytes, at: 136)
        if id.ctime != 0, let at = passedExecutables[id], now &- at < Self.passedExecutableTTLNanos {
            scriptsKnown += 1
            return Self.knownExecutable
        }
        guard heldFDs < maxHeldFDs else { scriptsUnavailable += 1; return -1 }
        let start = Self.execFixedSize + Int(bytes.loadUnaligned(fromByteOffset: 80, as: UInt16.self))
            + Int(bytes.loadUnaligned(fromByteOffset: 82, as: UInt16.self)) + Int(bytes.loadUnaligned(fromByteOffset: 84, as: UInt16.self))
        let length = Int(bytes.loadUnaligned(fromByteOffset: 86, as: UInt16.self))
        // Cut (32) or only the name execve was given (64): no path to trust.
        let fd = openRecordedFile(bytes, start: start, length: length, cut: flags & (32 | 64) != 0, id)
        guard fd >= 0 else { scriptsUnavailable += 1; return -1 }
        heldFDs += 1
        scriptsByPath += 1
        if passedExecutables.count >= 4096 { passedExecutables.removeAll(keepingCapacity: true) }
        passedExecutables[id] = now
        return fd
    }

    /// The record rate at which the batch delay reaches `maxBatchDelayMs`; below it the delay
    /// grows in proportion (with the default 30 ms: 250 records/s → 1.5 ms, 1,000/s → 6 ms,
    /// 5,000/s → 30 ms). Like a NIC's adaptive interrupt moderation: a quiet host gets its
    /// records at once, a busy one in fewer, larger batches. One knob trades latency under
    /// load for CPU: a larger `max_batch_delay_ms` means fewer wake-ups at every busy rate.
    static let fullDelayRate = 5000.0
    /// Shortest batch delay: right after the first record of a burst (an exec's fork record
    /// wakes us; its exec record follows within a millisecond).
    static let minBatchDelayNanos: UInt64 = 1_000_000

    /// The loop has two states. Quiet: it sleeps on the ring buffer's descriptor, and the
    /// kernel wakes it for the first record written after it had read everything. Busy (the
    /// last drain found records): it does not watch the ring and sleeps a batch delay instead,
    /// which grows with the rate just seen (`fullDelayRate`), between 1 ms and
    /// `maxBatchDelayMs`; a drain that finds nothing returns it to quiet. Acknowledgements are
    /// read without being waited for, unless the replay buffer is full. So an idle host costs
    /// no wake-ups, and a busy one at most one per batch delay.
    public func run() throws {
        signal(SIGTERM) { _ in Sensor.stopRequested = 1 }
        signal(SIGINT) { _ in Sensor.stopRequested = 1 }
        signal(SIGPIPE, SIG_IGN)
        let ringFD = ring_buffer__epoll_fd(ring)
        let maxDelay = UInt64(max(1, options.maxBatchDelayMs)) * 1_000_000
        var lastStats = monotonicNanos()
        var lastDrain = lastStats
        var busy = false
        var delay = Self.minBatchDelayNanos
        var lastControlRead: UInt64 = 0
        var fds = [pollfd](repeating: pollfd(fd: -1, events: 0, revents: 0), count: 3)

        while Sensor.stopRequested == 0 {
            let paused = pendingBytes >= options.replayBufferBytes
            let now = monotonicNanos()
            let untilStats = lastStats + options.statsIntervalNanos > now ? lastStats + options.statsIntervalNanos - now : 0
            // At least one heartbeat a second reaches the supervisor, which replaces a silent child.
            var timeout = min(untilStats, ControlChannel.heartbeatNanos)
            if busy && !paused { timeout = min(timeout, delay) }
            fds[0] = pollfd(fd: peers.pollFD, events: Int16(POLLIN), revents: 0)
            fds[1] = pollfd(fd: busy || paused ? -1 : ringFD, events: Int16(POLLIN), revents: 0)
            if connection >= 0 {
                let wantWrite = outOffset < out.count || queuedThrough + 1 < nextSequence
                // Peer hang-up is reported without asking; acks are awaited only when they are
                // what would let the sensor go on draining.
                fds[2] = pollfd(fd: connection, events: (paused ? Int16(POLLIN) : 0) | (wantWrite ? Int16(POLLOUT) : 0), revents: 0)
            } else {
                fds[2] = pollfd(fd: -1, events: 0, revents: 0)
            }
            let n = poll(&fds, 3, Int32((timeout + 999_999) / 1_000_000))
            if n < 0 && errno != EINTR { throw SystemError("poll") }

            // Control frames first (a forget-executables must apply to the records read next);
            // read every 100 ms, or at once when the replay buffer waits for them or the
            // detector hung up. The detector acknowledges at most every 100 ms anyway.
            if connection >= 0 {
                let hungUp = fds[2].revents & Int16(POLLHUP | POLLERR | POLLIN) != 0
                let t = monotonicNanos()
                if paused || hungUp || t &- lastControlRead >= 100_000_000 {
                    lastControlRead = t
                    readAcks()
                }
            }
            if !paused {
                let before = recordsRead
                ring_buffer__consume(ring)
                let got = recordsRead - before
                let t = monotonicNanos()
                if got == 0 {
                    busy = false
                    delay = Self.minBatchDelayNanos
                } else {
                    // First drain of a burst: shortest delay; afterwards one that grows with the rate.
                    let elapsed = max(t - lastDrain, 1)
                    let rate = busy ? Double(got) * 1e9 / Double(elapsed) : 0
                    let wanted = UInt64(min(rate / Self.fullDelayRate * Double(maxDelay), Double(maxDelay)))
                    delay = min(maxDelay, max(Self.minBatchDelayNanos, wanted))
                    busy = true
                }
                lastDrain = t
            } else {
                backpressurePauses += 1
            }
            if fds[0].revents != 0 {
                guard let peers = peers.receivePeers() else {
                    Log.info("supervisor gone; stopping")
                    break
                }
                for p in peers {
                    if p.role == "detector" { adopt(p.fd) } else { close(p.fd) }
                }
            }
            ControlChannel.heartbeat()
            if connection >= 0 { flush() }
            let t = monotonicNanos()
            if t - lastStats >= options.statsIntervalNanos {
                lastStats = t
                sendStats()
                if connection >= 0 { flush() }
            }
        }
        Log.info("stopping: \(recordsRead) records read, \(framesSent) frames sent, \(pending.count - head) unacknowledged")
    }

    /// A detector connection handed over by the supervisor (a socketpair end: nothing else
    /// can reach the sensor), or admitted on the sensor's socket (the detector's uid, one at
    /// a time). It replaces the previous one, whose detector is gone.
    private func adopt(_ fd: Int32) {
        if connection >= 0 { dropConnection(reason: "a new detector connection") }
        // The supervisor made this end non-blocking (the sensor's allowlist has no F_SETFL).
        connection = fd
        passedExecutables.removeAll()
        connections += 1
        decoder = FrameDecoder(maxFrameSize: 4096)
        out.removeAll(keepingCapacity: true)
        outOffset = 0
        for m in outFDs { close(m.fd); heldFDs -= 1 }
        outFDs.removeAll()
        let first = head < pending.count ? pending[head].seq : nextSequence
        queuedThrough = first - 1
        let replay = pending.count - head
        framesReplayed += UInt64(replay)
        Log.info("detector connected; replaying \(replay) unacknowledged frames from sequence \(first)")
        out.append(contentsOf: Hello(role: .sensor, pid: UInt32(getpid()), nextSequence: first).frame().encoded())
        for f in ProcSnapshot.frames() { out.append(contentsOf: f.encoded()) }
        out.append(contentsOf: Frame(type: .snapshotDone, payload: []).encoded())
        sendStats()
    }

    private func dropConnection(reason: String) {
        if connection >= 0 {
            close(connection)
            peers.peerClosed(role: "detector")
            Log.info("detector disconnected (\(reason)); \(pending.count - head) frames kept for replay")
        }
        connection = -1
        out.removeAll(keepingCapacity: true)
        outOffset = 0
        for m in outFDs { close(m.fd); heldFDs -= 1 }
        outFDs.removeAll()
    }

    private func readAcks() {
        while connection >= 0 {
            let n = readBuffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
            if n == 0 { dropConnection(reason: "closed by peer"); return }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { return }
                dropConnection(reason: String(cString: strerror(errno)))
                return
            }
            readBuffer.withUnsafeBytes { decoder.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            do {
                while let f = try decoder.next() {
                    switch f.type {
                    case .ack: acknowledge(try Ack.sequence(from: f))
                    case .forgetExecutables: passedExecutables.removeAll()
                    case .hello: _ = try Hello(frame: f)
                    default: throw WireError.malformedPayload("unexpected \(f.type) from detector")
                    }
                }
            } catch {
                Log.error("protocol error from detector: \(error); dropping the connection")
                dropConnection(reason: "protocol error")
                return
            }
        }
    }

    private func acknowledge(_ seq: UInt64) {
        while head < pending.count && pending[head].seq <= seq {
            pendingBytes -= pending[head].length
            releaseFD(&pending[head].fd)
            releaseFD(&pending[head].scriptFD)
            head += 1
        }
        if head > 4096 && head * 2 > pending.count {
            pending.removeFirst(head)
            head = 0
        }
        // Bytes before the oldest unacknowledged frame are dropped once they are most of the store.
        let keepFrom = (head < pending.count ? pending[head].offset : storeBase + store.count) - storeBase
        if keepFrom >= 1 << 20 && keepFrom * 2 >= store.count {
            store.removeFirst(keepFrom)
            storeBase += keepFrom
        }
    }

    private func flush() {
        // Copy not-yet-queued frames into the output buffer, then write what the socket takes.
        if outOffset >= out.count && outFDs.isEmpty {
            out.removeAll(keepingCapacity: true)
            outOffset = 0
        }
        if queuedThrough + 1 < nextSequence && out.count - outOffset < 1 << 20 {
            var i = head
            if i < pending.count, pending[i].seq <= queuedThrough {
                i += Int(queuedThrough + 1 - pending[i].seq)
            }
            while i < pending.count && out.count - outOffset < 1 << 20 {
                let start = pending[i].offset - storeBase
                out.append(contentsOf: store[start..<(start + pending[i].length)])
                if pending[i].fd == Self.knownExecutable {
                    var p = [UInt8]()
                    p.appendLE(pending[i].seq)
                    p.append(1)
                    out.append(contentsOf: Frame(type: .executableFile, payload: p).encoded())
                    pending[i].fd = -1
                } else if pending[i].fd >= 0 {
                    // ExecutableFile frame right behind its exec record, carrying the descriptor.
                    var p = [UInt8]()
                    p.appendLE(pending[i].seq)
                    outFDs.append((out.count, pending[i].fd))
                    out.append(contentsOf: Frame(type: .executableFile, payload: p).encoded())
                    pending[i].fd = -1
                }
                // The script's frame follows its interpreter's (kind 2: descriptor, 3: known).
                if pending[i].scriptFD == Self.knownExecutable {
                    var p = [UInt8]()
                    p.appendLE(pending[i].seq)
                    p.append(3)
                    out.append(contentsOf: Frame(type: .executableFile, payload: p).encoded())
                    pending[i].scriptFD = -1
                } else if pending[i].scriptFD >= 0 {
                    var p = [UInt8]()
                    p.appendLE(pending[i].seq)
                    p.append(2)
                    outFDs.append((out.count, pending[i].scriptFD))
                    out.append(contentsOf: Frame(type: .executableFile, payload: p).encoded())
                    pending[i].scriptFD = -1
                }
                queuedThrough = pending[i].seq
                framesSent += 1
                i += 1
            }
        }
        while outOffset < out.count {
            // Descriptors travel together with the first byte of a send that reaches their
            // frames (at most `maxFDsPerMessage` per send): one sendmsg per batch, not per exec.
            // They arrive before or with their frames, in order; the detector queues them.
            let k = min(outFDs.count, UnixSocket.maxFDsPerMessage)
            let limit = k < outFDs.count ? outFDs[k].offset : out.count
            let fds = outFDs.prefix(k).map(\.fd)
            let n: Int
            if fds.isEmpty {
                n = out.withUnsafeBytes { Glibc.send(connection, $0.baseAddress! + outOffset, limit - outOffset, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { return }
                    dropConnection(reason: String(cString: strerror(errno)))
                    return
                }
            } else {
                do {
                    n = try out.withUnsafeBytes { try UnixSocket.sendSome(connection, UnsafeRawBufferPointer(rebasing: $0[outOffset..<limit]), passing: fds) }
                } catch let e as SystemError where e.errno == EAGAIN || e.errno == EINTR {
                    return
                } catch {
                    dropConnection(reason: "\(error)")
                    return
                }
                for f in fds { close(f) }
                heldFDs -= k
                executablesPassed += UInt64(k)
                outFDs.removeFirst(k)
            }
            outOffset += n
        }
    }

    private func releaseFD(_ fd: inout Int32) {
        if fd >= 0 {
            close(fd)
            heldFDs -= 1
            fd = -1
        }
    }

    private func sendStats() {
        guard connection >= 0 else { return }
        var entries: [(String, UInt64)] = []
        if let c = try? programs.counters() {
            for (f, family) in ["exec", "exit", "fork", "net", "file", "dns", "attack", "cgroup"].enumerated() {
                for (k, counter) in ["seen", "submitted", "ring_full", "too_large"].enumerated() {
                    entries.append(("kernel.\(family).\(counter)", c[f * 4 + k]))
                }
            }
        }
        entries += [("sensor.records_read", recordsRead), ("sensor.frames_sent", framesSent),
                    ("sensor.frames_replayed", framesReplayed), ("sensor.pending_frames", UInt64(pending.count - head)),
                    ("sensor.backpressure_pauses", backpressurePauses),
                    ("sensor.executables_passed", executablesPassed), ("sensor.executables_known", executablesKnown), ("sensor.executables_unavailable", executablesUnavailable), ("sensor.executables_by_path", executablesByPath),
                    ("sensor.scripts_by_path", scriptsByPath), ("sensor.scripts_unavailable", scriptsUnavailable),
                    ("sensor.scripts_known", scriptsKnown), ("sensor.connections", connections),
                    ("sensor.held_descriptors", UInt64(heldFDs))]
        out.append(contentsOf: SensorStats.frame(entries).encoded())
    }
}

