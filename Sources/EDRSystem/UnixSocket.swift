import EDRCore
#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Unix stream sockets: the only channel between the agent's processes.
public enum UnixSocket {
    public struct PeerCredentials: Sendable, Equatable {
        public var pid: Int32
        public var uid: UInt32
        public var gid: UInt32
    }

    /// Creates, binds and listens; the socket file gets `mode` and, if given, `owner`.
    /// The corresponding C functions are `socket`, `bind`, `chown`, `chmod` and `listen`.
    public static func listen(path: String, mode: mode_t = 0o600, owner: (uid_t, gid_t)? = nil, backlog: Int32 = 16) throws -> Int32 {
        unlink(path)
        let fd = try makeSocket()
        do {
            _ = try withAddress(path) { addr, len in
                try syscallRetrying("bind", detail: path) { bind(fd, addr, len) }
            }
            if let owner { try syscallRetrying("chown", detail: path) { chown(path, owner.0, owner.1) } }
            try syscallRetrying("chmod", detail: path) { chmod(path, mode) }
            try syscallRetrying("listen", detail: path) { Glibc.listen(fd, backlog) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Connects to a listening socket. The corresponding C function is `connect`.
    public static func connect(path: String) throws -> Int32 {
        let fd = try makeSocket()
        do {
            _ = try withAddress(path) { addr, len in
                try syscallRetrying("connect", detail: path) { Glibc.connect(fd, addr, len) }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    public static func accept(_ listener: Int32) throws -> Int32 {
        try syscallRetrying("accept4") { edr_accept4_cloexec(listener) }
    }

    /// Who is on the other end, as the kernel recorded it at connect time.
    public static func peerCredentials(_ fd: Int32) throws -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        try syscallRetrying("getsockopt(SO_PEERCRED)") { edr_peer_cred(fd, &pid, &uid, &gid) }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }

    public static func setNonBlocking(_ fd: Int32, _ on: Bool = true) throws {
        let flags = try syscallRetrying("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
        try syscallRetrying("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) }
    }

    /// Writes every byte, blocking as needed.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = try syscallRetrying("write") { Glibc.send(fd, buf.baseAddress! + off, buf.count - off, Int32(MSG_NOSIGNAL)) }
                off += n
            }
        }
    }

    /// Most descriptors one message carries (the kernel's SCM_MAX_FD is 253).
    public static let maxFDsPerMessage = 250

    /// One non-blocking sendmsg of `data` with `fds` attached to its first byte; returns the
    /// bytes sent (the descriptors went in any case). Throws SystemError (errno EAGAIN when
    /// the socket is full: nothing, descriptors included, was sent).
    public static func sendSome(_ fd: Int32, _ data: UnsafeRawBufferPointer, passing fds: [Int32]) throws -> Int {
        let n = sendMessage(fd, data, fds, flags: Int32(MSG_DONTWAIT))
        if n < 0 { throw SystemError("sendmsg") }
        return n
    }

    /// sendmsg with MSG_NOSIGNAL and, when `fds` is not empty, one SCM_RIGHTS message.
    private static func sendMessage(_ fd: Int32, _ data: UnsafeRawBufferPointer, _ fds: [Int32], flags: Int32) -> Int {
        precondition(fds.count <= maxFDsPerMessage)
        var control = [UInt8](repeating: 0, count: cmsgSpace(max(fds.count, 1) * MemoryLayout<Int32>.size))
        return control.withUnsafeMutableBytes { ctl -> Int in
            var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: data.baseAddress), iov_len: data.count)
            return withUnsafeMutablePointer(to: &iov) { iovp -> Int in
                var msg = msghdr()
                msg.msg_iov = iovp
                msg.msg_iovlen = 1
                if !fds.isEmpty {
                    msg.msg_control = ctl.baseAddress
                    msg.msg_controllen = cmsgSpace(fds.count * MemoryLayout<Int32>.size)
                    let hdr = ctl.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                    hdr.pointee.cmsg_level = SOL_SOCKET
                    hdr.pointee.cmsg_type = Int32(SCM_RIGHTS)
                    hdr.pointee.cmsg_len = cmsgLen(fds.count * MemoryLayout<Int32>.size)
                    let dataStart = ctl.baseAddress! + cmsgLen(0)
                    for (i, f) in fds.enumerated() {
                        dataStart.storeBytes(of: f, toByteOffset: i * 4, as: Int32.self)
                    }
                }
                return sendmsg(fd, &msg, Int32(MSG_NOSIGNAL) | flags)
            }
        }
    }

    /// Reads into `buffer`; returns bytes read (0 at end of stream) and any descriptors that
    /// arrived (received close-on-exec).
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, maxFDs: Int = 4, flags: Int32 = 0) throws -> (Int, [Int32]) {
        var control = [UInt8](repeating: 0, count: cmsgSpace(maxFDs * 4))
        return try control.withUnsafeMutableBytes { ctl in
            var iov = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            return try withUnsafeMutablePointer(to: &iov) { iovp in
                var msg = msghdr()
                msg.msg_iov = iovp
                msg.msg_iovlen = 1
                msg.msg_control = ctl.baseAddress
                msg.msg_controllen = ctl.count
                let n = try syscallRetrying("recvmsg") { recvmsg(fd, &msg, Int32(MSG_CMSG_CLOEXEC) | flags) }
                var fds: [Int32] = []
                if msg.msg_controllen >= cmsgLen(0) {
                    let hdr = ctl.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                    if hdr.pointee.cmsg_level == SOL_SOCKET && hdr.pointee.cmsg_type == Int32(SCM_RIGHTS) {
                        let count = (Int(hdr.pointee.cmsg_len) - cmsgLen(0)) / 4
                        for i in 0..<count {
                            fds.append(ctl.load(fromByteOffset: cmsgLen(0) + i * 4, as: Int32.self))
                        }
                    }
                }
                return (n, fds)
            }
        }
    }

    private static func cmsgAlign(_ n: Int) -> Int { (n + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1) }
    private static func cmsgLen(_ n: Int) -> Int { cmsgAlign(MemoryLayout<cmsghdr>.size) + n }
    private static func cmsgSpace(_ n: Int) -> Int { cmsgAlign(MemoryLayout<cmsghdr>.size) + cmsgAlign(n) }

    private static func makeSocket() throws -> Int32 {
        try syscallRetrying("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
    }

    private static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) throws -> R {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { throw EDRError("socket path too long (\(bytes.count) bytes, max \(capacity - 1)): \(path)") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return try withUnsafePointer(to: &addr) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
}

/// Reads frames from a blocking socket.
public struct FrameReader {
    public let fd: Int32
    public var decoder: FrameDecoder
    private var pending: [Frame] = []
    private var buffer = [UInt8](repeating: 0, count: 256 * 1024)
    public private(set) var receivedFDs: [Int32] = []

    public init(fd: Int32, maxFrameSize: Int = Wire.maxFrameSize) {
        self.fd = fd
        self.decoder = FrameDecoder(maxFrameSize: maxFrameSize)
    }

    /// The next frame; nil at a clean end of stream. Throws on malformed input or I/O errors.
    public mutating func next() throws -> Frame? {
        while true {
            if let f = try decoder.next() { return f }
            let (n, fds) = try buffer.withUnsafeMutableBytes { try UnixSocket.receive(fd, into: $0, maxFDs: UnixSocket.maxFDsPerMessage) }
            receivedFDs.append(contentsOf: fds)
            if n == 0 {
                try decoder.finish()
                return nil
            }
            buffer.withUnsafeBytes { decoder.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// Descriptors received so far, handed to the caller once.
    public mutating func takeFDs() -> [Int32] {
        defer { receivedFDs.removeAll() }
        return receivedFDs
    }
}
