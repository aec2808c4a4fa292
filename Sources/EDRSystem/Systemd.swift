import EDRCore
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// What a process started by a systemd unit gets from systemd instead of a supervisor: the
/// sockets of its socket units (socket activation) and a notification socket for readiness,
/// the watchdog and a one-line status. Read with the same protocol as sd_listen_fds(3) and
/// sd_notify(3), without libsystemd.
public enum Systemd {
    /// First descriptor passed by socket activation (SD_LISTEN_FDS_START).
    public static let listenFDsStart: Int32 = 3

    /// The descriptors of this unit's socket units by FileDescriptorName, when LISTEN_PID
    /// names this process; the variables are removed so nothing started later inherits them.
    public static func listenFDs() throws -> [String: Int32] {
        defer {
            unsetenv("LISTEN_PID"); unsetenv("LISTEN_FDS"); unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = getenv("LISTEN_PID").map({ String(cString: $0) }), let pid = Int32(pidText), pid == getpid(),
            let countText = getenv("LISTEN_FDS").map({ String(cString: $0) }), let count = Int32(countText), count > 0
        else { return [:] }
        let names = getenv("LISTEN_FDNAMES").map { String(cString: $0).split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        var result: [String: Int32] = [:]
        for i in 0..<count {
            let fd = listenFDsStart + i
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let name = Int(i) < names.count ? names[Int(i)] : "unknown"
            if result[name] != nil {
                throw EDRError("socket activation passed two descriptors named \(name): give each socket unit its own FileDescriptorName=")
            }
            result[name] = fd
        }
        return result
    }

    /// A datagram socket connected to $NOTIFY_SOCKET (made before the process confines
    /// itself: afterwards it may create no socket), or nil when systemd gave none.
    public static func connectNotifySocket() throws -> Int32? {
        guard let p = getenv("NOTIFY_SOCKET") else { return nil }
        var path = String(cString: p)
        unsetenv("NOTIFY_SOCKET")
        guard !path.isEmpty else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX, SOCK_DGRAM)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count + (abstract ? 1 : 0) < capacity else { close(fd); throw EDRError("NOTIFY_SOCKET is too long") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let offset = abstract ? 1 : 0  // abstract: a leading NUL
            for (i, b) in bytes.enumerated() { raw[offset + i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 1 : 0))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) } }
        guard rc == 0 else {
            let e = SystemError("connect", detail: "NOTIFY_SOCKET \(abstract ? "@" : "")\(path)")
            close(fd)
            throw e
        }
        return fd
    }

    /// A control line of the supervisor's protocol (ControlChannel) in sd_notify's terms:
    /// READY → READY=1, ALIVE → WATCHDOG=1, anything else (STATS, FATAL, …) → STATUS=.
    public static func notifyMessage(for line: String) -> String {
        if line == "ALIVE" { return "WATCHDOG=1" }
        if line.hasPrefix("READY") { return "READY=1\nSTATUS=" + line }
        return "STATUS=" + line
    }
}

/// Where a child's connections to its peers come from: handed down by the supervisor over the
/// control channel (`edr run`), or, under one systemd unit per process, made by the child
/// itself at start and accepted on the sockets of its socket units.
public protocol PeerSource: AnyObject {
    /// Poll it for POLLIN: a new peer (or the end of the source) is waiting.
    var pollFD: Int32 { get }
    /// Every new peer; nil when the source is gone (the process should exit).
    func receivePeers() -> [ControlChannel.Peer]?
    /// The caller closed its connection to `role` (hang-up or protocol error).
    func peerClosed(role: String)
    /// Whether a connection that ends will be replaced by a new one from this source. Under
    /// systemd a connection the process made at start is not: it exits and is restarted.
    var replacesEndedPeers: Bool { get }
}

/// `edr run`: the supervisor hands every connection over the control channel.
public final class SupervisorPeers: PeerSource {
    public let fd: Int32
    public init(fd: Int32 = ChildFD.control) { self.fd = fd }
    public var pollFD: Int32 { fd }
    public func receivePeers() -> [ControlChannel.Peer]? { ControlChannel.receivePeers(fd: fd) }
    public func peerClosed(role: String) {}
    public var replacesEndedPeers: Bool { true }
}

/// One unit per process: connections this process made at start (returned by the first
/// `receivePeers`), and named sockets of its socket units where one peer of one uid is
/// admitted (SinglePeerListener). A "handoff" listener takes one-shot root clients that
/// pass a descriptor ("PEER alerts" + SCM_RIGHTS, from `edr reopen-alerts`).
public final class UnitPeers: PeerSource {
    public struct Listener {
        public var role: String
        public var listener: SinglePeerListener
        /// One-shot clients passing descriptors, not a long-lived peer.
        public var handoff: Bool
        public init(role: String, listener: SinglePeerListener, handoff: Bool = false) {
            self.role = role
            self.listener = listener
            self.handoff = handoff
        }
    }

    private var initial: [ControlChannel.Peer]
    private let listeners: [Listener]
    private let epoll: Int32
    /// Refusals (another uid, a second client) for the caller to report.
    public var onRefusal: (SinglePeerListener.Refusal) -> Void = { Log.warning("\($0)") }

    /// Set up before the process confines itself (epoll_create, F_SETFL on the listeners).
    public init(initial: [ControlChannel.Peer], listeners: [Listener]) throws {
        self.initial = initial
        self.listeners = listeners
        let fds = listeners.map(\.listener.listener)
        epoll = fds.withUnsafeBufferPointer { edr_epoll_of($0.baseAddress, Int32($0.count)) }
        guard epoll >= 0 else { throw SystemError("epoll_create1/epoll_ctl") }
    }

    /// Readable while any listener has a connection waiting (level-triggered); -1 without
    /// listeners (poll ignores it).
    public var pollFD: Int32 { listeners.isEmpty ? -1 : epoll }

    /// The descriptor of a connection made at start, before `receivePeers` hands it over.
    public func initialFD(_ role: String) -> Int32 { initial.first { $0.role == role }?.fd ?? -1 }
    public var replacesEndedPeers: Bool { false }

    public func receivePeers() -> [ControlChannel.Peer]? {
        var peers = initial
        initial = []
        for l in listeners {
            let (admitted, refusals) = l.listener.acceptPending()
            for r in refusals { onRefusal(r) }
            guard let fd = admitted else { continue }
            if l.handoff {
                peers += receiveHandoff(fd)
                l.listener.dropPeer()
            } else {
                // The caller owns its copy; the listener keeps one to tell whether the peer lives.
                let mine = fcntl(fd, 1030 /* F_DUPFD_CLOEXEC */, 3)
                if mine >= 0 { peers.append(ControlChannel.Peer(role: l.role, fd: mine)) }
            }
        }
        return peers
    }

    public func peerClosed(role: String) {
        for l in listeners where l.role == role { l.listener.dropPeer() }
    }

    /// One client's message with its descriptors (it has a second to send it), then "OK".
    private func receiveHandoff(_ fd: Int32) -> [ControlChannel.Peer] {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 1000) == 1 else { Log.warning("a handoff client sent nothing within a second"); return [] }
        let peers = ControlChannel.receivePeers(fd: fd) ?? []
        let reply = Array((peers.isEmpty ? "ERROR no descriptor\n" : "OK " + peers.map(\.role).joined(separator: " ") + "\n").utf8)
        reply.withUnsafeBytes { _ = send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        return peers
    }
}
