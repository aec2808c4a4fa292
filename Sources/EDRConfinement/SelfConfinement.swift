import CLinux
import CSeccomp
import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// What a child does to itself on its first line, before it reads any input: the steps that
/// cannot happen between fork and exec in the supervisor (they would not survive execve, or
/// they would forbid loading the program itself).
public enum SelfConfinement {
    /// PR_SET_DUMPABLE 0: no core dumps, /proc/PID/{mem,environ,fd,…} owned by root, and no
    /// ptrace attach by a process of the same uid.
    public static func makeUndumpable() throws {
        guard edr_prctl_set_dumpable(0) == 0 else { throw SystemError("prctl(PR_SET_DUMPABLE)") }
    }

    /// The highest Landlock ABI the kernel offers (0 when Landlock is absent or disabled).
    public static var landlockABI: Int {
        let v = edr_landlock_abi()
        return v < 0 ? 0 : Int(v)
    }

    /// Landlock: from now on this process may read files and list directories beneath the
    /// given descriptors (O_PATH descriptors the supervisor opened) and nothing else in the
    /// filesystem: no write, create, remove, rename, truncate or execute anywhere; from ABI 6
    /// on also no abstract Unix socket and (unless `scopeSignals` is false: the responder's
    /// job is signals) no signal outside its own domain. Descriptors it
    /// already holds keep working. Returns the ABI used.
    ///
    /// Landlock confines the calling thread (and threads it creates later), so this must run
    /// while the process has one thread.
    @discardableResult
    public static func restrictFilesystem(readBeneath: [(fd: Int32, isDirectory: Bool)], scopeSignals: Bool = true) throws -> Int {
        let abi = landlockABI
        guard abi > 0 else { throw EDRError("Landlock is not available in this kernel (needed to confine the child's filesystem view)") }
        guard threadCount() == 1 else { throw EDRError("Landlock must be applied while the process has one thread (it has \(threadCount()))") }
        let ruleset = edr_landlock_create(Int32(abi), scopeSignals ? 1 : 0)
        guard ruleset >= 0 else { throw SystemError("landlock_create_ruleset") }
        defer { close(ruleset) }
        for entry in readBeneath {
            guard edr_landlock_allow_read(ruleset, entry.fd, entry.isDirectory ? 1 : 0) == 0 else {
                throw SystemError("landlock_add_rule", detail: "descriptor \(entry.fd)")
            }
        }
        guard edr_prctl_set_no_new_privs() == 0 else { throw SystemError("prctl(PR_SET_NO_NEW_PRIVS)") }
        guard edr_landlock_restrict_self(ruleset) == 0 else { throw SystemError("landlock_restrict_self") }
        return abi
    }

    /// Threads of this process (from /proc/self/stat's num_threads, field 20).
    public static func threadCount() -> Int {
        guard let text = try? readTextFile("/proc/self/stat"), let close = text.lastIndex(of: ")") else { return -1 }
        let rest = text[text.index(after: close)...].split(separator: " ")
        return rest.count > 17 ? Int(rest[17]) ?? -1 : -1
    }

    /// Whether `fd` is a directory (for Landlock's rule kind).
    public static func isDirectory(_ fd: Int32) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// Syscall numbers ↔ names of this architecture (libseccomp's table).
public enum SyscallName {
    public static func name(_ number: Int32) -> String {
        guard let p = seccomp_syscall_resolve_num_arch(0, number) else { return "syscall \(number)" }
        defer { free(p) }
        return String(cString: p)
    }
}

/// What a child reports about its own confinement in its READY line.
public enum ConfinementSummary {
    public nonisolated(unsafe) static var landlockABI = 0
}

/// PR_SET_NO_NEW_PRIVS for this process (inherited by threads created later).
@discardableResult
public func prctlNoNewPrivs() -> Int32 { edr_prctl_set_no_new_privs() }
