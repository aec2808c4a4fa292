import CLinux
import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Accepts the detector's requests and kills the named process if policy allows and the pid
/// still names the same process: a pidfd pins the process, then its start time is compared,
/// then the signal goes through the pidfd, so a recycled pid is never hit.
public final class Responder {
    private let listener: Int32
    private let detectorUID: UInt32
    private let policy: ResponsePolicy
    public private(set) var killed: UInt64 = 0
    public private(set) var refused: UInt64 = 0

    public init(listener: Int32, detectorUID: UInt32, policy: ResponsePolicy) {
        self.listener = listener
        self.detectorUID = detectorUID
        self.policy = policy
    }

    public func run() throws {
        signal(SIGTERM) { _ in _exit(0) }
        signal(SIGINT) { _ in _exit(0) }
        signal(SIGPIPE, SIG_IGN)
        while true {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 200) <= 0 { continue }
            let fd: Int32
            do {
                fd = try UnixSocket.accept(listener)
            } catch {
                Log.error("accept: \(error)")
                usleep(100_000)
                continue
            }
            defer { close(fd) }
            guard let peer = try? UnixSocket.peerCredentials(fd), peer.uid == detectorUID else {
                Log.warning("refused a connection: only uid \(detectorUID) (edr-detect) may send requests")
                continue
            }
            Log.info("edr-detect pid \(peer.pid) connected")
            serve(fd)
        }
    }

    private func serve(_ fd: Int32) {
        var reader = FrameReader(fd: fd, maxFrameSize: 8192)
        while true {
            do {
                guard let frame = try reader.next() else { return }
                let request = try ResponseRequest(frame: frame)
                let result = handle(request)
                try UnixSocket.writeAll(fd, result.frame().encoded())
            } catch {
                Log.error("dropping the detector connection: \(error)")
                return
            }
        }
    }

    public func handle(_ r: ResponseRequest) -> ResponseResult {
        if case .refuse(let why) = policy.decide(r, parentOf: { pid in
            (try? readTextFile("/proc/\(pid)/stat")).flatMap(parseStatPPid)
        }) {
            refused += 1
            Log.info("not killing pid \(r.pid) (rule \(r.ruleName)): \(why)")
            return ResponseResult(pid: r.pid, outcome: .refused, message: why)
        }
        let pidfd = edr_pidfd_open(r.pid)
        guard pidfd >= 0 else {
            return ResponseResult(pid: r.pid, outcome: .gone, message: "pidfd_open: \(String(cString: strerror(edr_errno())))")
        }
        defer { close(pidfd) }
        guard let start = procStartTicks(pid: r.pid), start == r.startTicks else {
            refused += 1
            Log.warning("pid \(r.pid) no longer names the process that matched \(r.ruleName) (start time differs); not killing")
            return ResponseResult(pid: r.pid, outcome: .gone, message: "pid reused or process gone")
        }
        guard edr_pidfd_send_signal(pidfd, SIGKILL) == 0 else {
            let e = String(cString: strerror(edr_errno()))
            Log.error("kill pid \(r.pid): \(e)")
            return ResponseResult(pid: r.pid, outcome: .failed, message: e)
        }
        killed += 1
        Log.warning("killed pid \(r.pid) for rule \"\(r.ruleName)\" (\(r.ruleID))")
        return ResponseResult(pid: r.pid, outcome: .killed, message: "killed")
    }
}
