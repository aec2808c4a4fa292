import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// What /proc/PID/status says about a process's privilege: the fields a reviewer checks.
public struct ProcStatus: Sendable {
    public var name: String = ""
    public var ppid: Int32 = 0
    public var uids: [UInt32] = []  // real, effective, saved, filesystem
    public var gids: [UInt32] = []
    public var capEff: UInt64 = 0
    public var capPrm: UInt64 = 0
    public var capInh: UInt64 = 0
    public var capBnd: UInt64 = 0
    public var capAmb: UInt64 = 0
    public var noNewPrivs: Int = 0
    public var seccomp: Int = 0
    public var seccompFilters: Int = 0
    public var vmRSSKiB: Int = 0

    public init(text: String) {
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            switch key {
            case "Name": name = value
            case "PPid": ppid = Int32(value) ?? 0
            case "Uid": uids = value.split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { UInt32($0) }
            case "Gid": gids = value.split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { UInt32($0) }
            case "CapEff": capEff = UInt64(value, radix: 16) ?? 0
            case "CapPrm": capPrm = UInt64(value, radix: 16) ?? 0
            case "CapInh": capInh = UInt64(value, radix: 16) ?? 0
            case "CapBnd": capBnd = UInt64(value, radix: 16) ?? 0
            case "CapAmb": capAmb = UInt64(value, radix: 16) ?? 0
            case "NoNewPrivs": noNewPrivs = Int(value) ?? 0
            case "Seccomp": seccomp = Int(value) ?? 0
            case "Seccomp_filters": seccompFilters = Int(value) ?? 0
            case "VmRSS": vmRSSKiB = Int(value.split(separator: " ").first ?? "") ?? 0
            default: break
            }
        }
    }

    public static func read(pid: Int32) throws -> ProcStatus {
        ProcStatus(text: try readTextFile("/proc/\(pid)/status"))
    }
}

/// Capability numbers the agent refers to (linux/capability.h).
public enum Capability: Int, Sendable, CaseIterable {
    case chown = 0, dacOverride = 1, dacReadSearch = 2, kill = 5, setgid = 6, setuid = 7, setpcap = 8,
        netAdmin = 12, sysModule = 16, sysPtrace = 19, sysAdmin = 21, sysResource = 24,
        perfmon = 38, bpf = 39

    public var bit: UInt64 { 1 << UInt64(rawValue) }
    public var name: String {
        switch self {
        case .chown: "CAP_CHOWN"
        case .dacOverride: "CAP_DAC_OVERRIDE"
        case .dacReadSearch: "CAP_DAC_READ_SEARCH"
        case .kill: "CAP_KILL"
        case .setgid: "CAP_SETGID"
        case .setuid: "CAP_SETUID"
        case .setpcap: "CAP_SETPCAP"
        case .netAdmin: "CAP_NET_ADMIN"
        case .sysModule: "CAP_SYS_MODULE"
        case .sysPtrace: "CAP_SYS_PTRACE"
        case .sysAdmin: "CAP_SYS_ADMIN"
        case .sysResource: "CAP_SYS_RESOURCE"
        case .perfmon: "CAP_PERFMON"
        case .bpf: "CAP_BPF"
        }
    }

    public static func mask(_ caps: [Capability]) -> UInt64 { caps.reduce(0) { $0 | $1.bit } }
}

/// The namespace a process is in, as /proc/PID/ns/KIND names it ("net:[4026531840]"); nil
/// when the process is gone or the link unreadable.
public func namespaceLink(pid: Int32, _ kind: String) -> String? {
    var buf = [CChar](repeating: 0, count: 256)
    let n = readlink("/proc/\(pid)/ns/\(kind)", &buf, 255)
    return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
}

/// Every process's /proc/PID/status, in /proc's order (processes that vanish are skipped).
public func forEachProcessStatus(_ body: (Int32, ProcStatus) -> Bool) {
    guard let dir = opendir("/proc") else { return }
    defer { closedir(dir) }
    while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        guard let pid = Int32(name), let st = try? ProcStatus.read(pid: pid) else { continue }
        if !body(pid, st) { return }
    }
}

/// The kernel's dev_t (major << 20 | minor, as BPF reads it) in user space's st_dev encoding
/// (glibc makedev).
public func userDevice(fromKernel kdev: UInt64) -> UInt64 {
    let major = kdev >> 20, minor = kdev & 0xFFFFF
    return ((major & 0xFFFF_F000) << 32) | ((major & 0xFFF) << 8) | ((minor & 0xFFFF_FF00) << 12) | (minor & 0xFF)
}

/// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), the value
/// that tells one process from a later one with the same pid.
public func procStartTicks(pid: Int32) -> UInt64? {
    guard let text = try? readTextFile("/proc/\(pid)/stat") else { return nil }
    return parseStatStartTicks(text)
}

public func parseStatStartTicks(_ text: String) -> UInt64? {
    // comm may hold spaces and parentheses: fields resume after the last ')'.
    guard let close = text.lastIndex(of: ")") else { return nil }
    let rest = text[text.index(after: close)...].split(separator: " ")
    // rest[0] is field 3 (state); starttime is field 22.
    guard rest.count > 19 else { return nil }
    return UInt64(rest[19])
}

public func parseStatPPid(_ text: String) -> Int32? {
    guard let close = text.lastIndex(of: ")") else { return nil }
    let rest = text[text.index(after: close)...].split(separator: " ")
    guard rest.count > 1 else { return nil }
    return Int32(rest[1])
}

public let clockTicksPerSecond: UInt64 = UInt64(sysconf(Int32(_SC_CLK_TCK)))

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
