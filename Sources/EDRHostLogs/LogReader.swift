import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// edr-logs' loop: the journal and the files read, each entry sent to the detector as a
/// sequenced log-record frame, positions persisted only up to what the detector acknowledged.
/// A restart of edr-logs starts after the last acknowledged entry: nothing acknowledged is
/// sent again, nothing unacknowledged is lost.
public final class LogReader {
    enum Update { case file(String, FilePosition), journal(String) }

    private let store: PositionStore
    private var committed: LogPositions
    private let followers: [FileFollower]
    private let journal: JournalFollower?
    private var detector: Int32 = -1
    private var incoming = FrameDecoder(maxFrameSize: 4096)
    private var nextSequence: UInt64 = 1
    private var inFlight: [(sequence: UInt64, update: Update)] = []
    private var inFlightHead = 0
    private var dirty = false
    private var lastSave: UInt64 = 0
    public private(set) var sent: UInt64 = 0
    /// Unacknowledged frames at most; reading waits beyond that (the files keep the rest).
    static let maxInFlight = 4096

    nonisolated(unsafe) static var stop: sig_atomic_t = 0

    /// Where the detector connection comes from: the supervisor (`edr run`), or the
    /// connection made at start under edr-logs.service, which is not replaced when it ends:
    /// the process then exits (positions saved) and systemd starts it again.
    public var peers: any PeerSource = SupervisorPeers()
    /// Set when the connection ended and this source gives no new one.
    private var finished = false

    public init(store: PositionStore, files: [String], journal: JournalFollower?) {
        self.store = store
        self.committed = store.load()
        self.followers = files.map(FileFollower.init(path:))
        self.journal = journal
        for f in followers { f.start(from: committed.files[f.path]) }
    }

    public var startPositions: LogPositions { committed }

    /// Runs until SIGTERM (positions saved) or the supervisor is gone.
    public func run() throws {
        signal(SIGTERM) { _ in LogReader.stop = 1 }
        signal(SIGINT) { _ in LogReader.stop = 1 }
        signal(SIGPIPE, SIG_IGN)
        while LogReader.stop == 0 && !finished {
            ControlChannel.heartbeat()
            guard let handed = peers.receivePeers() else { Log.info("supervisor gone; exiting"); break }
            for p in handed {
                if p.role == "detector" { try connect(p.fd) } else { close(p.fd) }
            }
            if detector >= 0 {
                try readAcks()
                do {
                    if detector >= 0 && inFlight.count - inFlightHead < Self.maxInFlight { try sendNew() }
                } catch let e as SystemError where !peers.replacesEndedPeers && (e.errno == EPIPE || e.errno == ECONNRESET) {
                    // The detector went away between reading its acknowledgements and this
                    // write: the same clean end as a hang-up seen by readAcks.
                    Log.info("the detector connection ended (\(e)); exiting so that the unit restarts and connects again")
                    saveIfDue(force: true)
                    break
                }
            }
            saveIfDue(force: false)
            var pfds = [
                pollfd(fd: peers.pollFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: detector, events: Int16(POLLIN), revents: 0),
                pollfd(fd: detector >= 0 ? journal?.fd ?? -1 : -1, events: Int16(POLLIN), revents: 0)
            ]
            _ = poll(&pfds, 3, 200)
        }
        saveIfDue(force: true)
    }

    private func connect(_ fd: Int32) throws {
        if detector >= 0 {
            // A new detector: what the old one did not acknowledge is sent again from the
            // committed positions (files); journalctl cannot be rewound in place, so edr-logs
            // exits and starts again after the last acknowledged cursor.
            close(detector)
            if journal != nil {
                saveIfDue(force: true); throw EDRError("the detector was replaced; restarting to resume the journal after the acknowledged cursor")
            }
            inFlight = []; inFlightHead = 0
            for f in followers { f.start(from: committed.files[f.path]) }
        }
        detector = fd
        incoming = FrameDecoder(maxFrameSize: 4096)
        try UnixSocket.writeAll(fd, Hello(role: .logs, pid: UInt32(getpid()), nextSequence: nextSequence).frame().encoded())
        Log.info("connected to the detector")
    }

    private func readAcks() throws {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(detector, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                incoming.feed(Array(buf[0..<n]))
                while let f = try incoming.next() {
                    if f.type == .ack { commit(upTo: try Ack.sequence(from: f)) }
                }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            Log.warning("the detector closed the connection; waiting for the next one")
            close(detector)
            detector = -1
            peers.peerClosed(role: "detector")
            if !peers.replacesEndedPeers {
                Log.info("the detector connection ended; exiting so that the unit restarts and connects again")
                saveIfDue(force: true)
                finished = true
                return
            }
            if journal != nil {
                saveIfDue(force: true); throw EDRError("the detector connection ended; restarting to resume the journal after the acknowledged cursor")
            }
            inFlight = []; inFlightHead = 0
            for f in followers { f.start(from: committed.files[f.path]) }
            return
        }
    }

    private func commit(upTo sequence: UInt64) {
        while inFlightHead < inFlight.count && inFlight[inFlightHead].sequence <= sequence {
            switch inFlight[inFlightHead].update {
            case .file(let path, let p): committed.files[path] = p
            case .journal(let c): committed.journalCursor = c
            }
            inFlightHead += 1
            dirty = true
        }
        if inFlightHead > 1024 && inFlightHead * 2 > inFlight.count {
            inFlight.removeFirst(inFlightHead)
            inFlightHead = 0
        }
    }

    private func send(_ record: LogRecord, _ update: Update) throws {
        let seq = nextSequence
        nextSequence += 1
        try UnixSocket.writeAll(detector, record.frame(sequence: seq).encoded())
        inFlight.append((seq, update))
        sent += 1
    }

    private func sendNew() throws {
        if let journal {
            var p = [pollfd(fd: journal.fd, events: Int16(POLLIN), revents: 0)]
            if poll(&p, 1, 0) > 0 {
                guard let entries = try journal.read() else { throw EDRError("journalctl exited") }
                for e in entries { try send(LogRecord(source: .journal, fields: e.fields), .journal(e.cursor)) }
            }
        }
        for f in followers {
            for (line, position) in f.poll() {
                try send(LogRecord(source: .file, fields: [("_SOURCE", Array(f.path.utf8)), ("_LINE", line)]), .file(f.path, position))
            }
        }
    }

    /// Writes the committed positions at most every 200 ms (and at exit).
    private func saveIfDue(force: Bool) {
        guard dirty else { return }
        let now = monotonicNanos()
        guard force || now &- lastSave >= 200_000_000 else { return }
        do {
            try store.save(committed)
            dirty = false
            lastSave = now
        } catch {
            Log.error("saving log positions: \(error)")
        }
    }
}
