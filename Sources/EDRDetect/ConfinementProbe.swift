import CLinux
import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// One thing a compromised detector would try, performed for real from inside the detector's
/// own confinement (`edr-detect --probe NAME`). The tests run each probe twice: confined, where
/// it must be denied (the process is killed by its seccomp filter, or Landlock answers
/// EACCES), and unconfined as root, where the same call must succeed, so a probe that could
/// never have worked proves nothing.
public enum ConfinementProbe: String, CaseIterable, Sendable {
    case execve, execveat
    case openForWrite = "open-write"
    case mkdir
    case truncateAlerts = "truncate-alerts"
    case clearAppend = "clear-append"
    case pwriteNoAppend = "pwrite-noappend"
    case connectPath = "connect-path"
    case connectAbstract = "connect-abstract"
    case inetSocket = "socket-inet"
    case readShadow = "read-shadow"
    case readPasswd = "read-passwd"
    case writeSelfMem = "write-self-mem"
    case ptrace
    case bpf
    case mount
    case kill
    case prlimitOther = "prlimit-other"
    case mmapExec = "mmap-exec"
    case ioUring = "io-uring"
    case unshareNet = "unshare-net"

    /// How the confined detector must answer: killed by seccomp, or refused by Landlock.
    public enum Expected: Sendable, Equatable { case seccompKill, landlockDenied }

    public var expected: Expected {
        switch self {
        case .readShadow, .readPasswd: .landlockDenied
        default: .seccompKill
        }
    }

    /// Performs the call. `scratch` is a directory where the unconfined control run may
    /// create files; the alert descriptor is ChildFD.primary. Returns the raw result and errno.
    public func perform(scratch: String, target: Int32) -> (rc: Int32, errno: Int32) {
        let rc: Int32
        switch self {
        case .execve: rc = edr_raw_execve("/bin/true")
        case .execveat: rc = edr_raw_execveat("/bin/true")
        case .openForWrite:
            rc = edr_raw_open(scratch + "/written", O_WRONLY | O_CREAT)
        case .mkdir: rc = edr_raw_mkdir(scratch + "/made")
        case .truncateAlerts: rc = edr_raw_ftruncate(ChildFD.primary)
        case .clearAppend: rc = edr_raw_fcntl_setfl(ChildFD.primary, 0)
        case .pwriteNoAppend: rc = edr_raw_pwritev2_noappend(ChildFD.primary)
        case .connectPath: rc = edr_raw_connect_unix(scratch + "/listener.sock", 0)
        case .connectAbstract: rc = edr_raw_connect_unix("edr-probe-\(target)", 1)
        case .inetSocket: rc = edr_raw_socket(AF_INET, Int32(SOCK_STREAM.rawValue))
        case .readShadow: rc = edr_raw_open("/etc/shadow", O_RDONLY)
        case .readPasswd: rc = edr_raw_open("/etc/passwd", O_RDONLY)
        case .writeSelfMem: rc = edr_raw_write_self_mem()
        case .ptrace: rc = edr_raw_ptrace_attach(target)
        case .bpf: rc = edr_raw_bpf_probe()
        case .mount: rc = edr_raw_mount_probe(scratch)
        case .kill: rc = edr_raw_kill(target, 0)
        case .prlimitOther: rc = edr_raw_prlimit_other(target)
        case .mmapExec: rc = edr_raw_mmap_exec()
        case .ioUring: rc = edr_raw_io_uring_setup()
        case .unshareNet: rc = edr_raw_unshare_net()
        }
        return (rc, rc < 0 ? edr_errno() : 0)
    }

    /// The line the probe prints (when it lives to print it).
    public static func report(_ probe: ConfinementProbe, _ result: (rc: Int32, errno: Int32)) -> String {
        result.rc >= 0
            ? "PROBE \(probe.rawValue) succeeded" : "PROBE \(probe.rawValue) failed errno \(result.errno) (\(String(cString: strerror(result.errno))))"
    }
}
