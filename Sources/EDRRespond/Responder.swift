import CLinux
import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// Reads the detector's requests from the socket the supervisor handed over and answers each
/// with an outcome. It kills only if policy allows and the pid still names the same process:
/// a pidfd pins the process, its start time is read again after that, and the signal goes
/// through the pidfd, so a recycled pid is never hit.
public final class Responder {
    private let policy: ResponsePolicy
    private var detector: Int32 = -1
    private var reader: FrameReader?
    private var kills: [UInt64] = []
    public private(set) var killed: UInt64 = 0
    public private(set) var refused: UInt64 = 0

    /// Where the detector connection comes from: the supervisor, or (under its systemd unit)
    /// the connection the responder made to the detector's socket at start.
    public var peers: any PeerSource = SupervisorPeers()

    public init(policy: ResponsePolicy) {
        self.policy = policy
    }

    public func run() throws {
        signal(SIGTERM) { _ in _exit(0) }
        signal(SIGINT) { _ in _exit(0) }
        signal(SIGPIPE, SIG_IGN)
        var lastStats: UInt64 = 0
        // The first pass takes connections made at start (systemd) without waiting.
        var first = true
        while true {
            ControlChannel.heartbeat()
            let now = monotonicNanos()
            if now &- lastStats >= 2_000_000_000 {
                lastStats = now
                ControlChannel.send("STATS killed=\(killed) refused=\(refused) requests=\(requests)")
            }
            if detector < 0 && !first && !peers.replacesEndedPeers {
                Log.info("the detector connection ended; exiting so that the unit restarts and connects again")
                exit(0)
            }
            var fds = [
                pollfd(fd: peers.pollFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: detector, events: Int16(POLLIN), revents: 0)
            ]
            let n = first ? 1 : poll(&fds, 2, 500)
            if n < 0 && errno != EINTR { throw SystemError("poll") }
            if fds[0].revents != 0 || first {
                first = false
                guard let peers = peers.receivePeers() else { Log.info("supervisor gone; exiting"); exit(0) }
                for p in peers {
                    guard p.role == "detector" else { close(p.fd); continue }
                    if detector >= 0 { close(detector) }
                    detector = p.fd
                    reader = FrameReader(fd: p.fd, maxFrameSize: 8192)
                    Log.info("connected to edr-detect")
                }
            }
            guard detector >= 0, fds[1].revents != 0, reader != nil else { continue }
            do {
                // One read's worth of requests, then back to the heartbeat.
                repeat {
                    guard let frame = try reader!.next() else {
                        Log.info("edr-detect closed the connection")
                        close(detector); detector = -1; reader = nil
                        break
                    }
                    let request = try ResponseRequest(frame: frame)
                    try UnixSocket.writeAll(detector, handle(request).frame().encoded())
                } while (reader?.decoder.bufferedBytes ?? 0) > 0
            } catch {
                Log.error("dropping the detector connection: \(error)")
                close(detector); detector = -1; reader = nil
            }
        }
    }

    public private(set) var requests: UInt64 = 0

    public func handle(_ r: ResponseRequest) -> ResponseResult {
        requests += 1
        let now = monotonicNanos()
        kills.removeAll { now &- $0 >= 60_000_000_000 }
        let facts = TargetFacts.read(pid: r.pid)
        func result(_ o: ResponseResult.Outcome, _ message: String) -> ResponseResult {
            ResponseResult(
                pid: r.pid, outcome: o, message: message, requestID: r.requestID, dryRun: policy.dryRun,
                uid: facts?.uid ?? .max, ruleID: r.ruleID, ruleName: r.ruleName,
                executable: facts?.executable ?? r.executable)
        }
        switch policy.decide(r, target: facts, recentKills: kills.count) {
        case .refuse(let why):
            refused += 1
            Log.info("not killing pid \(r.pid) (rule \(r.ruleName)): \(why)")
            return result(.refused, why)
        case .gone(let why):
            return result(.gone, why)
        case .act:
            break
        }
        if policy.dryRun {
            Log.info("dry run: would kill pid \(r.pid) for rule \"\(r.ruleName)\"")
            return result(.wouldKill, "dry run: would kill pid \(r.pid)")
        }
        let pidfd = edr_pidfd_open(r.pid)
        guard pidfd >= 0 else { return result(.gone, "pidfd_open: \(String(cString: strerror(edr_errno())))") }
        defer { close(pidfd) }
        // The pidfd now pins this process: if its start time still matches, it is the one.
        guard let start = procStartTicks(pid: r.pid), start == r.startTicks else {
            Log.warning("pid \(r.pid) no longer names the process that matched \(r.ruleName); not killing")
            return result(.gone, "pid reused or process gone")
        }
        guard edr_pidfd_send_signal(pidfd, SIGKILL) == 0 else {
            let code = edr_errno()
            // ESRCH: it exited (and was reaped) between the start-time check and the signal,
            // which a process living a millisecond does: gone, not a failure to act.
            if code == ESRCH { return result(.gone, "exited before the signal") }
            let e = String(cString: strerror(code))
            Log.error("kill pid \(r.pid): \(e)")
            return result(.failed, e)
        }
        killed += 1
        kills.append(now)
        Log.warning("killed pid \(r.pid) for rule \"\(r.ruleName)\" (\(r.ruleID))")
        return result(.killed, "killed with SIGKILL")
    }
}
