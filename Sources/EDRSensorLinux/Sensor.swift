import CLibBPF
import CLinux
import EDRCore
import EDRSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The sensor's loop: drain the ring buffer into sequenced frames (`ReplayStore`), keep every
/// frame until the detector acknowledges it, replay what was not acknowledged when a detector
/// (re)connects (DetectorConnection.swift). When the replay buffer is full the sensor stops
/// draining, so the kernel's ring-full counter, not a silent user-space drop, records any loss.
/// Executed files travel as descriptors beside their exec records (ExecutablePassing.swift).
public final class Sensor {
    public struct Options: Sendable {
        public var replayBufferBytes: Int
        public var statsIntervalNanos: UInt64
        /// Longest a record waits in the ring while records keep coming (see `run()`).
        public var maxBatchDelayMs: Int32 = 60
        /// Open each executed file (/proc/PID/exe, the exact inode that ran) and pass the
        /// descriptor to the detector for YARA and hashing, which may not open it itself.
        public var passExecutables = false
        public init(replayBufferBytes: Int, statsIntervalNanos: UInt64) {
            self.replayBufferBytes = replayBufferBytes
            self.statsIntervalNanos = statsIntervalNanos
        }
    }

    let programs: BPFPrograms
    let options: Options
    /// Where detector connections come from: the supervisor's control channel, or (one
    /// systemd unit per process) the sensor's socket, which admits the detector's uid alone.
    public var peers: any PeerSource = SupervisorPeers()
    private var ring: OpaquePointer?
    /// The BPF side's `edr_consumer` flag, mapped: 1 while the loop sleeps a batch delay, so
    /// records then ask for no wake-up and only a forced one (256 KiB waiting) ends the sleep
    /// early. nil if the kernel would not map it: then the ring is not watched while busy.
    private var batching: UnsafeMutablePointer<UInt32>?

    var replay: ReplayStore
    var counters = SensorCounters()

    // The connected detector (DetectorConnection.swift).
    var connection: Int32 = -1
    var out: [UInt8] = []
    var outOffset = 0
    /// Descriptors to send with the frame starting at this offset of `out` (SCM_RIGHTS).
    var outFDs: [(offset: Int, fd: Int32)] = []
    var decoder = FrameDecoder(maxFrameSize: 4096)
    var readBuffer = [UInt8](repeating: 0, count: 4096)

    // Executables passed to the detector (ExecutablePassing.swift).
    /// Executables held open for frames not yet sent; bounded so an absent detector cannot
    /// exhaust the sensor's descriptors.
    var heldFDs = 0
    let maxHeldFDs = 512
    var passedExecutables = PassedExecutables()

    nonisolated(unsafe) static var stopRequested: sig_atomic_t = 0

    public init(programs: BPFPrograms, options: Options) throws {
        self.programs = programs
        self.options = options
        replay = ReplayStore(capacityBytes: options.replayBufferBytes)
        let rbFD = try programs.mapFD("edr_events")
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        guard
            let rb = ring_buffer__new(
                rbFD,
                { ctx, data, size in
                    guard let ctx, let data else { return 0 }
                    Unmanaged<Sensor>.fromOpaque(ctx).takeUnretainedValue().record(UnsafeRawBufferPointer(start: data, count: size))
                    return 0
                }, ctx, nil)
        else {
            throw SystemError("ring_buffer__new")
        }
        ring = rb
        do {
            batching = try programs.mapConsumerFlag()
        } catch {
            Log.warning("\(error): a flood waits out the batch delay")
        }
    }

    deinit {
        if let ring { ring_buffer__free(ring) }
        if let batching { munmap(batching, Int(getpagesize())) }
    }

    /// One record from the ring buffer: its executed files opened (when passed), then kept.
    private func record(_ bytes: UnsafeRawBufferPointer) {
        counters.recordsRead += 1
        var executable = ReplayStore.Attachment.none
        var script = ReplayStore.Attachment.none
        if options.passExecutables { (executable, script) = openExecutedFiles(bytes) }
        replay.append(bytes, executable: executable, script: script)
    }

    /// Whether the loop sleeps on the ring's descriptor: not while the replay buffer is full
    /// (nothing is drained then), and while busy only if records ask for no wake-up meanwhile
    /// (the flag is mapped), or the next record would end each batch delay at once.
    static func watchesRing(paused: Bool, busy: Bool, flagMapped: Bool) -> Bool {
        !paused && (!busy || flagMapped)
    }

    /// The loop has two states. Quiet: it sleeps on the ring buffer's descriptor, and the
    /// kernel wakes it for the first record written after it had read everything. Busy (the
    /// last drain found records): it sleeps a batch delay, which grows with the rate just seen
    /// (`BatchDelay`), between 1 ms and `maxBatchDelayMs`, while records ask for no wake-up
    /// (`edr_consumer`) unless 256 KiB wait: a flood is drained as it comes, whatever the delay.
    /// A drain that finds nothing clears the flag and drains once more (a record written
    /// while it was set asked for no wake-up, and would hold back the wake-ups of the records
    /// after it); then it returns to quiet, whose first sleep is bounded by the longest delay
    /// (a record whose program read the flag just before it was cleared may commit after
    /// that second drain). Acknowledgements are read without being waited for, unless the replay
    /// buffer is full. So an idle host costs no wake-ups, and a busy one at most one per batch
    /// delay.
    public func run() throws {
        signal(SIGTERM) { _ in Sensor.stopRequested = 1 }
        signal(SIGINT) { _ in Sensor.stopRequested = 1 }
        signal(SIGPIPE, SIG_IGN)
        let ringFD = ring_buffer__epoll_fd(ring)
        var lastStats = monotonicNanos()
        var batch = BatchDelay(maxMilliseconds: options.maxBatchDelayMs, now: lastStats)
        var lastControlRead: UInt64 = 0
        var justQuiet = false
        var fds = [pollfd](repeating: pollfd(fd: -1, events: 0, revents: 0), count: 3)

        while Sensor.stopRequested == 0 {
            let paused = replay.isFull
            let now = monotonicNanos()
            let untilStats = lastStats + options.statsIntervalNanos > now ? lastStats + options.statsIntervalNanos - now : 0
            // At least one heartbeat a second reaches the supervisor, which replaces a silent child.
            var timeout = min(untilStats, ControlChannel.heartbeatNanos)
            if batch.busy && !paused { timeout = min(timeout, batch.nanos) }
            if justQuiet { timeout = min(timeout, batch.maxNanos) }
            let watchRing = Self.watchesRing(paused: paused, busy: batch.busy, flagMapped: batching != nil)
            fds[0] = pollfd(fd: peers.pollFD, events: Int16(POLLIN), revents: 0)
            fds[1] = pollfd(fd: watchRing ? ringFD : -1, events: Int16(POLLIN), revents: 0)
            if connection >= 0 {
                let wantWrite = outOffset < out.count || replay.hasUnsent
                // Peer hang-up is reported without asking; acks are awaited only when they are
                // what would let the sensor go on draining.
                let events = (paused ? Int16(POLLIN) : 0) | (wantWrite ? Int16(POLLOUT) : 0)
                fds[2] = pollfd(fd: connection, events: events, revents: 0)
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
                let before = counters.recordsRead
                ring_buffer__consume(ring)
                let wasBusy = batch.busy
                if wasBusy && counters.recordsRead == before, let batching {
                    // Going quiet: from now on a record asks for a wake-up, but one written
                    // while the flag was still set asked for none, and the records after it
                    // would not either (the kernel wakes only a reader that had caught up).
                    batching.pointee = 0
                    atomicMemoryFence(ordering: .sequentiallyConsistent)
                    ring_buffer__consume(ring)
                }
                batch.drained(counters.recordsRead - before, at: monotonicNanos())
                justQuiet = wasBusy && !batch.busy
                batching?.pointee = batch.busy ? 1 : 0
            } else {
                counters.backpressurePauses += 1
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
        batching?.pointee = 0
        Log.info("stopping: \(counters.recordsRead) records read, \(counters.framesSent) frames sent, \(replay.unacknowledged) unacknowledged")
    }
}
