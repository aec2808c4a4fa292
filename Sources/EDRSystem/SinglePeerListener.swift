import EDRCore
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// A named Unix socket that admits exactly one peer, of one uid. The agent's own channels are
/// socketpairs with no name; where a service manager forces a named socket (one unit per
/// process), this is its discipline: the first connection from the expected uid while none
/// is live becomes the peer; any other connection, a second one while the peer lives or one
/// from another uid, is refused (closed at once) and reported, never swapped in for the live
/// peer. When the peer hangs up, the next connection from the expected uid is admitted.
public final class SinglePeerListener {
    public struct Refusal: Sendable, Equatable, CustomStringConvertible {
        public var pid: Int32
        public var uid: UInt32
        public var reason: String
        public var description: String { "refused a connection from pid \(pid) uid \(uid): \(reason)" }
    }

    public let listener: Int32
    public let expectedUID: UInt32
    public let name: String
    /// The admitted peer's descriptor, -1 while there is none.
    public private(set) var peer: Int32 = -1
    public private(set) var admitted: UInt64 = 0
    public private(set) var refusedCount: UInt64 = 0

    /// `listener`: a listening AF_UNIX stream socket (made non-blocking here).
    public init(listener: Int32, expectedUID: UInt32, name: String) {
        self.listener = listener
        self.expectedUID = expectedUID
        self.name = name
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
    }

    /// Whether the admitted peer is still connected (it has not hung up).
    public var peerIsLive: Bool {
        guard peer >= 0 else { return false }
        var p = pollfd(fd: peer, events: Int16(EDR_POLLRDHUP), revents: 0)
        guard poll(&p, 1, 0) >= 0 else { return false }
        return p.revents & Int16(EDR_POLLRDHUP | POLLHUP | POLLERR | POLLNVAL) == 0
    }

    /// The caller is done with the peer (it closed or failed): the descriptor is closed and the
    /// next connection from the expected uid will be admitted.
    public func dropPeer() {
        if peer >= 0 { close(peer) }
        peer = -1
    }

    /// Accepts every pending connection. Returns the descriptor of a newly admitted peer (or
    /// nil) and the refusals, for the caller to log and report.
    public func acceptPending() -> (admitted: Int32?, refusals: [Refusal]) {
        var newPeer: Int32?
        var refusals: [Refusal] = []
        while true {
            let fd = edr_accept4_cloexec_nonblock(listener)
            if fd < 0 { break }
            guard let cred = try? UnixSocket.peerCredentials(fd) else {
                close(fd)
                refusalCounted(&refusals, Refusal(pid: 0, uid: .max, reason: "\(name): no peer credentials"))
                continue
            }
            if cred.uid != expectedUID {
                close(fd)
                refusalCounted(&refusals, Refusal(pid: cred.pid, uid: cred.uid, reason: "\(name): uid \(cred.uid) is not the expected \(expectedUID)"))
                continue
            }
            if peer >= 0 && peerIsLive {
                close(fd)
                refusalCounted(
                    &refusals,
                    Refusal(pid: cred.pid, uid: cred.uid, reason: "\(name): a peer is already connected (a second connection is refused, not swapped in)"))
                continue
            }
            dropPeer()
            peer = fd
            newPeer = fd
            admitted += 1
        }
        return (newPeer, refusals)
    }

    private func refusalCounted(_ list: inout [Refusal], _ r: Refusal) {
        refusedCount += 1
        list.append(r)
    }
}
