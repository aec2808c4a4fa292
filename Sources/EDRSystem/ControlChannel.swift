import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// The one channel between the supervisor and each child: a SOCK_SEQPACKET socketpair the
/// supervisor creates before the child exists (descriptor 3 in the child). Nothing has a name
/// to connect to: every other channel of the agent is a socketpair whose ends the supervisor
/// hands down this way.
///
/// Child → supervisor: one line per message ("READY …", "ALIVE", anything else is logged).
/// Supervisor → child: "PEER <role>" with the connected socket attached (SCM_RIGHTS).
public enum ControlChannel {
    /// A child says ALIVE at least this often from its main loop; the supervisor replaces a
    /// child it has not heard from for `silenceLimitNanos`.
    public static let heartbeatNanos: UInt64 = 1_000_000_000
    public static let silenceLimitNanos: UInt64 = 3_000_000_000

    /// One message to the supervisor (never blocks for long: the supervisor always reads).
    public static func send(_ line: String, fd: Int32 = ChildFD.control) {
        guard fd >= 0 else { return }
        let flat = line.replacingNewlines()
        let text = ChildFD.controlIsSystemd && fd == ChildFD.control ? Systemd.notifyMessage(for: flat) : flat + "\n"
        var bytes = Array(text.utf8.prefix(8000))
        bytes.withUnsafeMutableBytes { _ = Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private nonisolated(unsafe) static var lastHeartbeat: UInt64 = 0

    /// Sends ALIVE if the last one is older than `heartbeatNanos`. Call from the main loop.
    public static func heartbeat(now: UInt64 = monotonicNanos()) {
        if now &- lastHeartbeat >= heartbeatNanos {
            lastHeartbeat = now
            send("ALIVE")
        }
    }

    public struct Peer: Sendable {
        public var role: String
        public var fd: Int32
        public init(role: String, fd: Int32) {
            self.role = role
            self.fd = fd
        }
    }

    /// Every peer socket the supervisor has handed over since the last call (non-blocking).
    /// Returns nil when the supervisor is gone (the child should exit).
    public static func receivePeers(fd: Int32 = ChildFD.control) -> [Peer]? {
        var peers: [Peer] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let got: (Int, [Int32])
            do {
                got = try buffer.withUnsafeMutableBytes { try UnixSocket.receive(fd, into: $0, maxFDs: 4, flags: Int32(MSG_DONTWAIT)) }
            } catch let e as SystemError where e.errno == EAGAIN || e.errno == EWOULDBLOCK {
                return peers
            } catch {
                return peers.isEmpty ? nil : peers
            }
            let (n, fds) = got
            if n == 0 { return peers.isEmpty ? nil : peers }
            let text = String(decoding: buffer[0..<n], as: UTF8.self).droppingTrailing("\n")
            if text.hasPrefix("PEER "), fds.count == 1 {
                peers.append(Peer(role: String(text.dropFirst(5)), fd: fds[0]))
            } else {
                for f in fds { close(f) }
            }
        }
    }

    /// Supervisor side: hands `socket` to the child as its connection to `role`.
    public static func sendPeer(_ socket: Int32, role: String, over fd: Int32) throws {
        let bytes = Array("PEER \(role)\n".utf8)
        _ = try bytes.withUnsafeBytes { try UnixSocket.sendSome(fd, $0, passing: [socket]) }
    }

    /// A connected pair of stream sockets (close-on-exec), for two children to talk over.
    public static func streamPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        try syscallRetrying("socketpair") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (fds[0], fds[1])
    }

    /// The control channel itself: message boundaries kept, so a status line and a peer
    /// socket never run together.
    public static func controlPair() throws -> (supervisor: Int32, child: Int32) {
        var fds: [Int32] = [-1, -1]
        try syscallRetrying("socketpair") { socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
        return (fds[0], fds[1])
    }
}

extension String {
    func droppingTrailing(_ set: Character) -> String {
        var s = Substring(self)
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}
