import EDRCore
import EDRSystem

/// Decoders for the records the BPF programs write (layout: bpf/edr_events.h). Every offset
/// and length is checked: a record that does not fit its own header is an error, never a crash.
public struct TaskIDs: Sendable, Equatable {
    public var pid: Int32
    public var tid: Int32
    public var ppid: Int32
    public var uid: UInt32
    public var euid: UInt32
    public var gid: UInt32
    public var egid: UInt32
    public var loginuid: UInt32
    public var startBoottimeNanos: UInt64
    public var parentStartBoottimeNanos: UInt64

    /// Start time in clock ticks since boot, as /proc/PID/stat states it.
    public var startTicks: UInt64 { startBoottimeNanos / (1_000_000_000 / clockTicksPerSecond) }
    public var parentStartTicks: UInt64 { parentStartBoottimeNanos / (1_000_000_000 / clockTicksPerSecond) }
}

public struct ExecRecord: Sendable, Equatable {
    public static let argsTruncated: UInt32 = 1
    public static let pathTruncated: UInt32 = 2
    public static let cwdTruncated: UInt32 = 4
    public static let argsFault: UInt32 = 8
    /// The file execve named is a script (or a binfmt_misc file): `path` is its interpreter.
    public static let script: UInt32 = 16
    public static let scriptTruncated: UInt32 = 32
    /// The script's own file was not found in the kernel: `scriptPath` is the name execve was
    /// given (made absolute against the cwd here), and there is no script identity.
    public static let scriptNameOnly: UInt32 = 64
    public static let environmentTruncated: UInt32 = 128
    public static let environmentFault: UInt32 = 256

    public var bootNanos: UInt64
    public var ids: TaskIDs
    public var cgroupID: UInt64
    public var flags: UInt32
    public var argc: UInt32
    /// argv, NUL-separated as the kernel copied it (split by `args` on demand).
    public var argBytes: [UInt8]
    public var args: [String] { KernelRecordDecoder.splitArgs(argBytes[...]) }
    /// argv joined with spaces, as Sysmon's CommandLine.
    public var commandLine: String = ""
    public var path: String
    public var cwd: String
    public var comm: String
    /// The executed file as fstat would identify it; nil when the kernel gave no ctime.
    public var executable: FileIdentity?
    /// A script's own path (the interpreter is `path`); nil for a plain binary.
    public var scriptPath: String? = nil
    /// The script's identity, as `executable`; nil when the kernel did not find its file.
    public var script: FileIdentity? = nil
    /// envp as the kernel copied it (NUL-separated, at most 8 KiB): filtered by the normalizer,
    /// never exposed whole.
    public var environment: [UInt8] = []
}

public struct ExitRecord: Sendable, Equatable {
    public var bootNanos: UInt64
    public var ids: TaskIDs
    public var exitCode: UInt32
    public var comm: String
}

public struct ForkRecord: Sendable, Equatable {
    public var bootNanos: UInt64
    public var ids: TaskIDs
    public var comm: String
}

public enum KernelRecord: Sendable, Equatable {
    case exec(ExecRecord)
    case exit(ExitRecord)
    case fork(ForkRecord)
    // Telemetry (TelemetryRecords.swift).
    case net(NetRecord)
    case file(FileRecord)
    case dns(DnsRecord)
    case attack(AttackRecord)
    case cgroup(CgroupRecord)
}

public struct RecordError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { "kernel record: \(message)" }
}

public enum KernelRecordDecoder {
    public static let version: UInt16 = 1
    static let headerSize = 16
    static let execFixed = 168
    static let exitSize = 88
    static let forkSize = 80

    public static func decode(_ p: [UInt8]) throws(RecordError) -> KernelRecord {
        guard p.count >= headerSize else { throw RecordError(message: "\(p.count) bytes is shorter than a record header") }
        let kind = p.readLE(UInt16.self, at: 0)
        let version = p.readLE(UInt16.self, at: 2)
        let size = Int(p.readLE(UInt32.self, at: 4))
        guard version == Self.version else { throw RecordError(message: "record version \(version), expected \(Self.version)") }
        guard size == p.count else { throw RecordError(message: "record says \(size) bytes, frame holds \(p.count)") }
        let boot = p.readLE(UInt64.self, at: 8)
        switch kind {
        case 1:
            guard p.count >= execFixed else { throw RecordError(message: "exec record shorter than its fixed part") }
            let argsLen = Int(p.readLE(UInt16.self, at: 80))
            let pathLen = Int(p.readLE(UInt16.self, at: 82))
            let cwdLen = Int(p.readLE(UInt16.self, at: 84))
            let scriptLen = Int(p.readLE(UInt16.self, at: 86))
            let envLen = Int(p.readLE(UInt16.self, at: 164))
            guard execFixed + argsLen + pathLen + cwdLen + scriptLen + envLen == p.count else {
                throw RecordError(message: "exec record lengths \(argsLen)+\(pathLen)+\(cwdLen)+\(scriptLen)+\(envLen) do not add up to \(p.count - execFixed)")
            }
            let flags = p.readLE(UInt32.self, at: 72)
            guard scriptLen == 0 || flags & ExecRecord.script != 0 else {
                throw RecordError(message: "exec record has \(scriptLen) bytes of script path but no script flag")
            }
            var off = execFixed
            let argBytes = p[off..<(off + argsLen)]
            off += argsLen
            let path = joinComponents(p[off..<(off + pathLen)]); off += pathLen
            let cwd = joinComponents(p[off..<(off + cwdLen)]); off += cwdLen
            let scriptBytes = p[off..<(off + scriptLen)]; off += scriptLen
            var scriptPath: String? = nil
            if flags & ExecRecord.script != 0 {
                if flags & ExecRecord.scriptNameOnly != 0 {
                    let name = cString(scriptBytes)
                    scriptPath = name.hasPrefix("/") ? name : (cwd == "/" ? "/" : cwd + "/") + name
                } else {
                    scriptPath = scriptLen == 0 ? nil : joinComponents(scriptBytes)
                }
            }
            return .exec(
                ExecRecord(
                    bootNanos: boot, ids: ids(p), cgroupID: p.readLE(UInt64.self, at: 64),
                    flags: flags, argc: p.readLE(UInt32.self, at: 76),
                    argBytes: Array(argBytes), commandLine: commandLine(argBytes), path: path, cwd: cwd,
                    comm: cString(p[88..<104]), executable: identity(p, at: 104),
                    scriptPath: scriptPath,
                    script: flags & (ExecRecord.script | ExecRecord.scriptNameOnly) == ExecRecord.script ? identity(p, at: 136) : nil,
                    environment: Array(p[off..<(off + envLen)])))
        case 2:
            guard p.count == exitSize else { throw RecordError(message: "exit record is \(p.count) bytes, expected \(exitSize)") }
            return .exit(ExitRecord(bootNanos: boot, ids: ids(p), exitCode: p.readLE(UInt32.self, at: 64), comm: cString(p[72..<88])))
        case 3:
            guard p.count == forkSize else { throw RecordError(message: "fork record is \(p.count) bytes, expected \(forkSize)") }
            return .fork(ForkRecord(bootNanos: boot, ids: ids(p), comm: cString(p[64..<80])))
        case 10...14:
            return try TelemetryRecordDecoder.decode(kind: kind, p, boot: boot)
        default:
            throw RecordError(message: "unknown record kind \(kind)")
        }
    }

    /// exe_ino, exe_size, exe_ctime_ns, exe_dev (or the script_ fields at 136; bpf/edr_events.h),
    /// with the kernel's dev_t (major << 20 | minor) re-encoded as user space's st_dev (glibc makedev).
    static func identity(_ p: [UInt8], at o: Int) -> FileIdentity? {
        let ctime = p.readLE(UInt64.self, at: o + 16)
        guard ctime != 0 else { return nil }
        return FileIdentity(
            device: userDevice(fromKernel: UInt64(p.readLE(UInt32.self, at: o + 24))), inode: p.readLE(UInt64.self, at: o),
            size: Int64(bitPattern: p.readLE(UInt64.self, at: o + 8)),
            ctimeSeconds: Int64(ctime / 1_000_000_000), ctimeNanoseconds: Int64(ctime % 1_000_000_000))
    }

    static func ids(_ p: [UInt8]) -> TaskIDs {
        TaskIDs(
            pid: Int32(bitPattern: p.readLE(UInt32.self, at: 16)), tid: Int32(bitPattern: p.readLE(UInt32.self, at: 20)),
            ppid: Int32(bitPattern: p.readLE(UInt32.self, at: 24)), uid: p.readLE(UInt32.self, at: 28),
            euid: p.readLE(UInt32.self, at: 32), gid: p.readLE(UInt32.self, at: 36), egid: p.readLE(UInt32.self, at: 40),
            loginuid: p.readLE(UInt32.self, at: 44), startBoottimeNanos: p.readLE(UInt64.self, at: 48),
            parentStartBoottimeNanos: p.readLE(UInt64.self, at: 56))
    }

    /// argv as the kernel holds it: NUL-separated, the last NUL optional when truncated.
    /// Each NUL-separated argument, in order, without an intermediate array.
    static func forEachArg(_ bytes: [UInt8], _ body: (String) -> Void) {
        bytes.withUnsafeBufferPointer { b in
            var s = 0
            for i in 0..<b.count where b[i] == 0 {
                body(String(decoding: UnsafeBufferPointer(rebasing: b[s..<i]), as: UTF8.self))
                s = i + 1
            }
            if s < b.count { body(String(decoding: UnsafeBufferPointer(rebasing: b[s..<b.count]), as: UTF8.self)) }
        }
    }

    public static func splitArgs(_ bytes: ArraySlice<UInt8>) -> [String] {
        var out: [String] = []
        var s = bytes.startIndex
        for i in bytes.indices where bytes[i] == 0 {
            out.append(String(decoding: bytes[s..<i], as: UTF8.self))
            s = i + 1
        }
        if s < bytes.endIndex { out.append(String(decoding: bytes[s..<bytes.endIndex], as: UTF8.self)) }
        return out
    }

    /// Path components arrive leaf first, each NUL-terminated: reverse and join with "/".
    /// Works on the bytes and makes one string (it runs for every path of every record).
    public static func joinComponents(_ bytes: ArraySlice<UInt8>) -> String {
        // Walk the components from the last (the root side) to the first (the leaf), writing
        // "/" + component for each: one pass, one allocation.
        if bytes.isEmpty { return "/" }
        return bytes.withUnsafeBufferPointer { src in
            String(unsafeUninitializedCapacity: src.count + 1) { out in
                var w = 0
                var end = src.count
                while end > 0 {
                    // The component ends at `end` and starts after the previous NUL.
                    var start = end
                    while start > 0 && src[start - 1] != 0 { start -= 1 }
                    let n = end - start
                    if n > 0 && !(n == 1 && src[start] == UInt8(ascii: "/")) {
                        out[w] = UInt8(ascii: "/")
                        w += 1
                        for k in 0..<n { out[w + k] = src[start + k] }
                        w += n
                    }
                    if start == 0 { break }
                    end = start - 1
                }
                if w == 0 { out[0] = UInt8(ascii: "/"); w = 1 }
                return w
            }
        }
    }

    /// argv joined with spaces, straight from the NUL-separated bytes (one string).
    public static func commandLine(_ bytes: ArraySlice<UInt8>) -> String {
        var end = bytes.endIndex
        while end > bytes.startIndex && bytes[end - 1] == 0 { end -= 1 }
        let n = end - bytes.startIndex
        // Written straight into the string's storage (invalid UTF-8 is repaired as
        // `String(decoding:)` repairs it): no intermediate array.
        return String(unsafeUninitializedCapacity: n) { out in
            var k = 0
            for b in bytes[bytes.startIndex..<end] {
                out[k] = b == 0 ? UInt8(ascii: " ") : b
                k += 1
            }
            return n
        }
    }

    static func cString(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}
