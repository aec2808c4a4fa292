import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Decoders for the telemetry records of bpf/edr_telemetry.h (network, files, DNS, post-exec
/// activity, cgroup names). Same rules as `KernelRecordDecoder`: every length is checked
/// against the record, a malformed record is an error, never a crash.

/// The task a telemetry record is about (struct edr_ctx).
public struct TelemetryContext: Sendable, Equatable {
    public var ids: TaskIDs
    public var cgroupID: UInt64
    public var comm: String
}

public struct NetRecord: Sendable, Equatable {
    public enum Op: UInt8, Sendable { case connect = 1, accept = 2, listen = 3, bind = 4 }
    public var bootNanos: UInt64
    public var ctx: TelemetryContext
    public var op: Op
    public var ipProtocol: UInt8
    public var family: UInt16
    public var result: Int32
    /// The socket's local end.
    public var localIP: String
    public var localPort: UInt16
    /// The remote end (for connect: the address the process asked for).
    public var remoteIP: String
    public var remotePort: UInt16
    /// `IoUring` bits: how the operation was asked for; bit 0 EDR_NET_FROM_USER.
    public var flags: UInt32 = 0
    /// The destination came from the caller's memory, not from the kernel (EDR_NET_FROM_USER).
    public var remoteFromUserMemory: Bool { flags & 1 != 0 }
    public var isIPv6: Bool { family == 10 }
}

/// How an operation was asked for, in the flags of net, file and DNS records (bpf/edr_telemetry.h,
/// `edr_via_flags`): a syscall (no bit), or an io_uring request with its opcode.
public enum IoUring {
    public static let requested: UInt32 = 1 << 2
    /// IOSQE_CQE_SKIP_SUCCESS: no completion was posted, the record was sent at submission.
    public static let resultUnseen: UInt32 = 1 << 3

    /// The IORING_OP_* opcode of an io_uring record, nil for a syscall's.
    public static func opcode(_ flags: UInt32) -> UInt8? {
        flags & requested != 0 ? UInt8(truncatingIfNeeded: flags >> 8) : nil
    }

    public static func opcodeName(_ op: UInt8) -> String {
        switch op {
        case 13: "IORING_OP_ACCEPT"
        case 9: "IORING_OP_SENDMSG"
        case 10: "IORING_OP_RECVMSG"
        case 16: "IORING_OP_CONNECT"
        case 18: "IORING_OP_OPENAT"
        case 26: "IORING_OP_SEND"
        case 27: "IORING_OP_RECV"
        case 28: "IORING_OP_OPENAT2"
        case 35: "IORING_OP_RENAMEAT"
        case 36: "IORING_OP_UNLINKAT"
        case 56: "IORING_OP_BIND"
        case 57: "IORING_OP_LISTEN"
        default: "IORING_OP_\(op)"
        }
    }
}

public struct FileRecord: Sendable, Equatable {
    public enum Op: UInt32, Sendable { case create = 1, modify = 2, delete = 3, rename = 4, rmdir = 5 }
    public static let pathTruncated: UInt32 = 1
    public static let readFault: UInt32 = 2
    public var bootNanos: UInt64
    public var ctx: TelemetryContext
    public var op: Op
    public var result: Int32
    public var openFlags: UInt32
    public var flags: UInt32
    /// Absolute path (the rename's source for a rename).
    public var path: String
    /// The rename's target.
    public var targetPath: String?
    /// A name the process passed had a ".." after another component: the path was joined
    /// lexically, which is wrong if that component is a symlink (the kernel's lookup is not
    /// visible on this kernel). The detector's own finding, not a kernel flag.
    public var resolvedLexically = false
}

public struct DnsRecord: Sendable, Equatable {
    public enum Direction: UInt8, Sendable { case query = 1, answer = 2 }
    public var bootNanos: UInt64
    public var ctx: TelemetryContext
    public var direction: Direction
    public var ipProtocol: UInt8
    public var family: UInt16
    public var payloadLength: UInt32
    public var localIP: String
    public var localPort: UInt16
    public var remoteIP: String
    public var remotePort: UInt16
    /// The raw DNS message (at most 512 bytes of it).
    public var payload: [UInt8]
    /// `IoUring` bits: how the message was sent or received.
    public var flags: UInt32 = 0
}

public struct AttackRecord: Sendable, Equatable {
    public enum Op: UInt32, Sendable, CaseIterable {
        case ptrace = 1, initModule, finitModule, bpfProgLoad, setuid, setgid, setreuid, setregid, setresuid, setresgid,
            setfsuid, setfsgid, capset, memfdCreate, mount, filelessExec, compatSyscall, syslog
        public var syscall: String {
            switch self {
            case .ptrace: "ptrace"
            case .initModule: "init_module"
            case .finitModule: "finit_module"
            case .bpfProgLoad: "bpf"
            case .setuid: "setuid"
            case .setgid: "setgid"
            case .setreuid: "setreuid"
            case .setregid: "setregid"
            case .setresuid: "setresuid"
            case .setresgid: "setresgid"
            case .setfsuid: "setfsuid"
            case .setfsgid: "setfsgid"
            case .capset: "capset"
            case .memfdCreate: "memfd_create"
            case .mount: "mount"
            case .filelessExec: "execve"
            case .compatSyscall: "int 0x80"
            case .syslog: "syslog"
            }
        }
    }
    public var bootNanos: UInt64
    public var ctx: TelemetryContext
    public var op: Op
    public var result: Int32
    public var args: [UInt64]
    public var targetPID: Int32
    public var flags: UInt32
    /// User strings the call passed (memfd name, module parameters, mount source/target/type, bpf prog name).
    public var strings: [String]
    /// A file's path (finit_module's module, the fileless exec's memfd), if any.
    public var path: String?
}

public struct CgroupRecord: Sendable, Equatable {
    public var bootNanos: UInt64
    public var cgroupID: UInt64
    public var level: UInt32
    public var name: String
    public var parent: String
}

public enum TelemetryRecordDecoder {
    static let ctxEnd = 88
    static let netSize = 136
    static let fileFixed = 112
    static let fileDataMax = 2 * ((4096 + 256) + 4096)
    static let dnsFixed = 136
    static let dnsMax = 512
    static let attackFixed = 144
    static let attackDataMax = 512 + 4096 + 256
    static let cgroupSize = 288

    /// Decodes kinds 10–14; `p` has passed the header checks of `KernelRecordDecoder`.
    public static func decode(kind: UInt16, _ p: [UInt8], boot: UInt64) throws(RecordError) -> KernelRecord {
        switch kind {
        case 10:
            guard p.count == netSize else { throw RecordError(message: "net record is \(p.count) bytes, expected \(netSize)") }
            guard let op = NetRecord.Op(rawValue: p[88]) else { throw RecordError(message: "net record op \(p[88])") }
            let family = p.readLE(UInt16.self, at: 90)
            return .net(
                NetRecord(
                    bootNanos: boot, ctx: ctx(p), op: op, ipProtocol: p[89], family: family,
                    result: Int32(bitPattern: p.readLE(UInt32.self, at: 92)),
                    localIP: formatIP(p[104..<120], family: family), localPort: p.readLE(UInt16.self, at: 96),
                    remoteIP: formatIP(p[120..<136], family: family), remotePort: p.readLE(UInt16.self, at: 98),
                    flags: p.readLE(UInt32.self, at: 100)))
        case 11:
            guard p.count >= fileFixed, p.count <= fileFixed + fileDataMax else {
                throw RecordError(message: "file record is \(p.count) bytes, outside \(fileFixed)...\(fileFixed + fileDataMax)")
            }
            let rawOp = p.readLE(UInt32.self, at: 88)
            guard let op = FileRecord.Op(rawValue: rawOp) else { throw RecordError(message: "file record op \(rawOp)") }
            let lens = (0..<4).map { Int(p.readLE(UInt16.self, at: 104 + 2 * $0)) }
            guard fileFixed + lens.reduce(0, +) == p.count else {
                throw RecordError(message: "file record lengths \(lens) do not add up to \(p.count - fileFixed)")
            }
            var off = fileFixed
            var sections: [ArraySlice<UInt8>] = []
            for l in lens { sections.append(p[off..<(off + l)]); off += l }
            let first = resolve(dir: sections[0], name: sections[1])
            let second = op == .rename ? resolve(dir: sections[2], name: sections[3]) : nil
            // Opens carry the kernel's own path (dir walked from the opened file, no name).
            let lexical =
                (op == .delete || op == .rmdir || op == .rename)
                && (hasInnerDotDot(sections[1]) || (op == .rename && hasInnerDotDot(sections[3])))
            return .file(
                FileRecord(
                    bootNanos: boot, ctx: ctx(p), op: op, result: Int32(bitPattern: p.readLE(UInt32.self, at: 92)),
                    openFlags: p.readLE(UInt32.self, at: 96), flags: p.readLE(UInt32.self, at: 100),
                    path: first, targetPath: second, resolvedLexically: lexical))
        case 12:
            guard p.count >= dnsFixed, p.count <= dnsFixed + dnsMax else {
                throw RecordError(message: "dns record is \(p.count) bytes, outside \(dnsFixed)...\(dnsFixed + dnsMax)")
            }
            guard let dir = DnsRecord.Direction(rawValue: p[88]) else { throw RecordError(message: "dns record direction \(p[88])") }
            let captured = Int(p.readLE(UInt16.self, at: 100))
            guard dnsFixed + captured == p.count else {
                throw RecordError(message: "dns record captured \(captured) bytes, holds \(p.count - dnsFixed)")
            }
            let family = p.readLE(UInt16.self, at: 90)
            return .dns(
                DnsRecord(
                    bootNanos: boot, ctx: ctx(p), direction: dir, ipProtocol: p[89], family: family,
                    payloadLength: p.readLE(UInt32.self, at: 92),
                    localIP: formatIP(p[104..<120], family: family), localPort: p.readLE(UInt16.self, at: 96),
                    remoteIP: formatIP(p[120..<136], family: family), remotePort: p.readLE(UInt16.self, at: 98),
                    payload: Array(p[dnsFixed...]), flags: UInt32(p.readLE(UInt16.self, at: 102))))
        case 13:
            guard p.count >= attackFixed, p.count <= attackFixed + attackDataMax else {
                throw RecordError(message: "attack record is \(p.count) bytes, outside \(attackFixed)...\(attackFixed + attackDataMax)")
            }
            let rawOp = p.readLE(UInt32.self, at: 88)
            guard let op = AttackRecord.Op(rawValue: rawOp) else { throw RecordError(message: "attack record op \(rawOp)") }
            let strLen = Int(p.readLE(UInt16.self, at: 136))
            let pathLen = Int(p.readLE(UInt16.self, at: 138))
            guard attackFixed + strLen + pathLen == p.count else {
                throw RecordError(message: "attack record lengths \(strLen)+\(pathLen) do not add up to \(p.count - attackFixed)")
            }
            var strings = KernelRecordDecoder.splitArgs(p[attackFixed..<(attackFixed + strLen)])
            if strings.last == "" { strings.removeLast() }
            let path = pathLen > 0 ? KernelRecordDecoder.joinComponents(p[(attackFixed + strLen)...]) : nil
            return .attack(
                AttackRecord(
                    bootNanos: boot, ctx: ctx(p), op: op, result: Int32(bitPattern: p.readLE(UInt32.self, at: 92)),
                    args: (0..<4).map { p.readLE(UInt64.self, at: 96 + 8 * $0) },
                    targetPID: Int32(bitPattern: p.readLE(UInt32.self, at: 128)),
                    flags: p.readLE(UInt32.self, at: 132), strings: strings, path: path))
        case 14:
            guard p.count == cgroupSize else { throw RecordError(message: "cgroup record is \(p.count) bytes, expected \(cgroupSize)") }
            return .cgroup(
                CgroupRecord(
                    bootNanos: boot, cgroupID: p.readLE(UInt64.self, at: 16), level: p.readLE(UInt32.self, at: 24),
                    name: KernelRecordDecoder.cString(p[32..<160]),
                    parent: KernelRecordDecoder.cString(p[160..<288])))
        default:
            throw RecordError(message: "unknown record kind \(kind)")
        }
    }

    static func ctx(_ p: [UInt8]) -> TelemetryContext {
        TelemetryContext(
            ids: KernelRecordDecoder.ids(p), cgroupID: p.readLE(UInt64.self, at: 64),
            comm: KernelRecordDecoder.cString(p[72..<88]))
    }

    /// A path as the process named it, made absolute against the directory walked in the
    /// kernel (components leaf first), "." and ".." removed lexically.
    public static func resolve(dir: ArraySlice<UInt8>, name: ArraySlice<UInt8>) -> String {
        let n = KernelRecordDecoder.cString(name)
        if n.isEmpty { return dir.isEmpty ? "" : KernelRecordDecoder.joinComponents(dir) }
        if n.hasPrefix("/") { return normalize(n) }
        let base = dir.isEmpty ? "" : KernelRecordDecoder.joinComponents(dir)
        return normalize(base + "/" + n)
    }

    /// Whether a name has ".." after some other component ("a/../x", "a/b/.."): the only case
    /// the lexical join can get wrong (a leading "../" is resolved by the kernel-walked dir).
    static func hasInnerDotDot(_ name: ArraySlice<UInt8>) -> Bool {
        var sawOther = false
        for c in KernelRecordDecoder.cString(name).split(separator: "/", omittingEmptySubsequences: true) {
            if c == ".." { if sawOther { return true } } else if c != "." { sawOther = true }
        }
        return false
    }

    public static func normalize(_ path: String) -> String {
        var out: [Substring] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." { if !out.isEmpty { out.removeLast() }; continue }
            out.append(c)
        }
        return "/" + out.joined(separator: "/")
    }

    /// IPv4 dotted quad (first 4 bytes) or RFC 5952 IPv6, through inet_ntop.
    public static func formatIP(_ bytes: ArraySlice<UInt8>, family: UInt16) -> String {
        let b = Array(bytes)
        if family == 2, b.count >= 4 { return "\(b[0]).\(b[1]).\(b[2]).\(b[3])" }
        guard family == 10, b.count >= 16 else { return "" }
        var buf = [CChar](repeating: 0, count: 64)
        let ok = b.withUnsafeBytes { src in inet_ntop(AF_INET6, src.baseAddress, &buf, 64) } != nil
        return ok ? String(cString: buf) : ""
    }
}
