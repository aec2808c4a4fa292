import CLinux
import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Tries what the detector must never be able to do, from inside its own confinement, and
/// reports each outcome. Used by tests and `edr doctor` to prove the sandbox, not assume it.
public enum ConfinementProbe {
    public struct Outcome: Sendable {
        public var call: String
        public var denied: Bool
        public var errno: Int32
    }

    public static func run(canKill: Bool = false) -> [Outcome] {
        func attempt(_ call: String, _ body: () -> Int32) -> Outcome {
            let rc = body()
            let e = edr_errno()
            if rc >= 0 && call.hasPrefix("socket") { close(rc) }
            return Outcome(call: call, denied: rc < 0, errno: rc < 0 ? e : 0)
        }
        var out = [
            attempt("execve(/bin/true)") { edr_raw_execve("/bin/true") },
            attempt("execveat(/bin/true)") { edr_raw_execveat("/bin/true") },
            attempt("socket(AF_INET)") { edr_raw_socket(AF_INET, Int32(SOCK_STREAM.rawValue)) },
            attempt("socket(AF_INET6)") { edr_raw_socket(AF_INET6, Int32(SOCK_DGRAM.rawValue)) },
            attempt("ptrace(PTRACE_ATTACH, 1)") { edr_raw_ptrace_attach(1) },
            attempt("bpf(BPF_MAP_CREATE)") { edr_raw_bpf_probe() },
            attempt("mount(tmpfs)") { edr_raw_mount_probe() },
        ]
        if !canKill {
            out.append(attempt("kill(1, 0)") { edr_raw_kill(1, 0) })
        }
        return out
    }

    public static func report(_ outcomes: [Outcome]) -> String {
        outcomes.map { "\($0.call): \($0.denied ? "denied (\(String(cString: strerror($0.errno))))" : "ALLOWED")" }
            .joined(separator: "\n")
    }
}
