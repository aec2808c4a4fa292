import CSeccomp
import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Seccomp policies of the agent's processes, built with libseccomp.
///
/// Two layers: the supervisor installs a *pre-exec* filter between fork and execve (it must
/// still let that execve through), so every child runs filtered from its first instruction;
/// the detector and the responder then add their final *allowlist* with TSYNC before they read
/// any input. Filters stack, and the strictest answer wins, so execve is denied from then on.
public struct SeccompFilter {
    public enum Role: String, Sendable { case sensor, detector, responder, logs }

    private let ctx: scmp_filter_ctx

    private init(defaultAction: UInt32) throws {
        guard let c = seccomp_init(defaultAction) else { throw EDRError("seccomp_init failed") }
        ctx = c
    }

    public func release() { seccomp_release(ctx) }

    private func nr(_ name: String) -> Int32? {
        let n = seccomp_syscall_resolve_name(name)
        return n == __NR_SCMP_ERROR ? nil : n
    }

    private func add(_ action: UInt32, _ names: [String]) throws {
        for name in names {
            guard let n = nr(name) else { continue }  // not on this architecture
            let rc = edr_seccomp_rule(ctx, action, n)
            if rc != 0 { throw EDRError("seccomp rule for \(name): \(String(cString: strerror(-rc)))") }
        }
    }

    private func addIf(_ action: UInt32, _ name: String, arg: UInt32, equals value: UInt64) throws {
        guard let n = nr(name) else { return }
        let rc = edr_seccomp_rule_arg_eq(ctx, action, n, arg, value)
        if rc != 0 { throw EDRError("seccomp rule for \(name): \(String(cString: strerror(-rc)))") }
    }

    private func addIfMasked(_ action: UInt32, _ name: String, arg: UInt32, mask: UInt64, equals value: UInt64) throws {
        guard let n = nr(name) else { return }
        let rc = edr_seccomp_rule_arg_masked_eq(ctx, action, n, arg, mask, value)
        if rc != 0 { throw EDRError("seccomp rule for \(name): \(String(cString: strerror(-rc)))") }
    }

    /// Calls no child of the agent ever needs: kernel modules, mounts, namespaces, tracing
    /// other processes, keyrings, reboot.
    static let neverNeeded = [
        "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
        "swapon", "swapoff", "setns", "unshare", "keyctl", "add_key", "request_key", "open_by_handle_at",
        "name_to_handle_at", "iopl", "ioperm", "userfaultfd", "perf_event_open", "fsopen", "fsmount",
        "fsconfig", "move_mount", "open_tree", "mount_setattr", "quotactl", "acct", "settimeofday",
        "clock_settime", "adjtimex", "clock_adjtime", "sethostname", "setdomainname", "vhangup",
        "lookup_dcookie", "personality", "uselib", "nfsservctl", "syslog"
    ]

    /// The filter the supervisor installs before execve. It must let the exec by descriptor
    /// (execveat) through; each child's final allowlist then kills both exec calls.
    public static func preExec(role: Role) throws -> SeccompFilter {
        let f = try SeccompFilter(defaultAction: edr_scmp_act_allow())
        let deny = edr_scmp_act_errno(UInt16(EPERM))
        var names = neverNeeded
        switch role {
        case .sensor:
            names += ["kill", "tkill", "pidfd_send_signal", "io_uring_setup", "io_uring_enter", "io_uring_register"]
        case .detector:
            names += [
                "bpf", "kill", "tkill", "pidfd_send_signal", "setuid", "setgid", "setreuid",
                "setregid", "setresuid", "setresgid", "setgroups", "capset", "io_uring_setup"
            ]
        case .responder:
            names += [
                "bpf", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                "setgroups", "capset", "io_uring_setup"
            ]
        case .logs:
            // journalctl, which edr-logs starts before it confines itself, runs under this too.
            names += [
                "bpf", "kill", "tkill", "pidfd_send_signal", "setuid", "setgid", "setreuid",
                "setregid", "setresuid", "setresgid", "setgroups", "capset", "io_uring_setup"
            ]
        }
        try f.add(deny, names)
        // Network sockets: no child creates an inet socket (the sensor none at all once its
        // allowlist is on; the others receive their channels connected).
        if let n = f.nr("socket") {
            let rc = edr_seccomp_rule_arg_ne(f.ctx, deny, n, 0, UInt64(AF_UNIX))
            if rc != 0 { throw EDRError("seccomp rule for socket: \(String(cString: strerror(-rc)))") }
        }
        return f
    }

    /// Calls a Swift process needs to run at all: memory, threads, time, signals to itself,
    /// reading and writing descriptors it already holds. Nothing here opens, creates or
    /// changes a file by name, makes a socket, or maps memory executable (those are added per
    /// role below, with their arguments checked).
    static let runtime = [
        "read", "write", "readv", "writev", "pread64", "close", "close_range", "fstat", "newfstatat",
        "statx", "lseek", "munmap", "mremap", "madvise", "brk", "futex", "futex_waitv",
        "set_robust_list", "get_robust_list", "rseq", "exit", "exit_group", "rt_sigaction", "rt_sigprocmask",
        "rt_sigreturn", "sigaltstack", "gettid", "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid",
        "getresuid", "getresgid", "getgroups", "getrandom", "clock_gettime", "clock_getres", "clock_nanosleep",
        "nanosleep", "gettimeofday", "time", "sched_yield", "sched_getaffinity", "sched_getparam",
        "sched_getscheduler", "membarrier", "restart_syscall", "dup", "dup2", "dup3", "pipe2",
        "poll", "ppoll", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
        "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime", "getcwd", "uname", "sysinfo",
        "getrusage", "times", "capget", "readlink", "readlinkat", "access", "faccessat", "faccessat2", "getdents64",
        "statfs", "fstatfs", "sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown", "getsockopt",
        "getsockname", "getpeername", "select", "pselect6"
    ]

    /// The final allowlist of a child. Anything not listed kills the whole process
    /// (SECCOMP_RET_KILL_PROCESS); the supervisor reads the kernel's record of the call and
    /// reports it as a tamper alert.
    ///
    /// - detector: reads what it was handed, writes alerts to its append-only descriptor.
    ///   No open for writing, no mkdir/unlink/rename/truncate, no F_SETFL (it could clear
    ///   O_APPEND on the alert descriptor), no pwrite (RWF_NOAPPEND), no sockets, no connect,
    ///   no signals but to itself, no prlimit on others, no executable memory.
    /// - responder: the same, plus kill/pidfd_open/pidfd_send_signal.
    /// - sensor (installed after its BPF programs are loaded and attached): the same, plus
    ///   bpf() for its maps and file descriptors passing; no exec, no io_uring, no sockets.
    ///
    /// `accepts`: under one systemd unit per process, the sensor and the detector accept
    /// connections on the sockets of their socket units (accept4 on a listener systemd made;
    /// still no socket, bind or connect of their own).
    public static func allowlist(role: Role, accepts: Bool = false) throws -> SeccompFilter {
        let f = try SeccompFilter(defaultAction: edr_scmp_act_kill_process())
        if accepts { try f.add(edr_scmp_act_allow(), ["accept4"]) }
        let allow = edr_scmp_act_allow()
        try f.add(allow, runtime)
        // Threads only: clone without CLONE_THREAD would fork. clone3 passes its flags in
        // memory a filter cannot read, so it answers ENOSYS and glibc falls back to clone.
        try f.addIfMasked(allow, "clone", arg: 0, mask: 0x0001_0000, equals: 0x0001_0000)
        try f.add(edr_scmp_act_errno(UInt16(ENOSYS)), ["clone3"])
        // Opening for reading only: O_WRONLY, O_RDWR, O_CREAT and O_TRUNC must all be clear
        // (O_TMPFILE needs write access, so it is covered).
        let writeFlags = UInt64(O_ACCMODE | O_CREAT | O_TRUNC)
        try f.addIfMasked(allow, "openat", arg: 2, mask: writeFlags, equals: 0)
        try f.addIfMasked(allow, "open", arg: 1, mask: writeFlags, equals: 0)
        // Memory that is never executable (PCRE2's JIT is off in the agent's children).
        try f.addIfMasked(allow, "mmap", arg: 2, mask: UInt64(PROT_EXEC), equals: 0)
        try f.addIfMasked(allow, "mprotect", arg: 2, mask: UInt64(PROT_EXEC), equals: 0)
        // fcntl: descriptor flags and duplication only; F_SETFL could clear O_APPEND.
        for cmd in [F_DUPFD, F_GETFD, F_SETFD, F_GETFL, 1030 /* F_DUPFD_CLOEXEC */] as [Int32] {
            try f.addIf(allow, "fcntl", arg: 1, equals: UInt64(cmd))
        }
        // Limits of itself only (glibc's getrlimit is prlimit64(0, …)).
        try f.addIf(allow, "prlimit64", arg: 0, equals: 0)
        // libdispatch sets its worker threads' nice value; raising it fails without
        // CAP_SYS_NICE and dispatch then logs through syslog (a socket). Answered 0 without
        // effect: no child changes any priority.
        try f.add(edr_scmp_act_errno(0), ["setpriority"])
        // Signals to itself only (abort, thread wake-ups).
        try f.addIf(allow, "tgkill", arg: 0, equals: UInt64(getpid()))
        // prctl: naming threads and reading its own state, nothing that changes privilege
        // (PR_SET_DUMPABLE is not here: a child cannot make itself traceable again).
        for option in [15, 16, 21, 23, 39, 3, 0x5356_4d41] as [UInt64] {
            try f.addIf(allow, "prctl", arg: 0, equals: option)
        }
        // ioctl: terminal queries and FIONBIO/FIOCLEX-style descriptor flags only.
        for request in [0x5401, 0x5413, 0x5421, 0x541B, 0x5451, 0x5450] as [UInt64] {
            try f.addIf(allow, "ioctl", arg: 1, equals: request)
        }
        switch role {
        case .detector:
            try f.add(allow, ["inotify_init1", "inotify_add_watch", "inotify_rm_watch"])
        case .responder:
            try f.add(allow, ["kill", "pidfd_open", "pidfd_send_signal"])
        case .sensor:
            try f.add(allow, ["bpf"])
        case .logs:
            try f.add(allow, logsExtra)
        }
        return f
    }

    /// edr-logs: its position record is rewritten in place through the descriptor the
    /// supervisor opened (pwrite64, fdatasync: still no open for writing), and journalctl, its
    /// child, is reaped (wait4).
    static let logsExtra = ["pwrite64", "fdatasync", "wait4", "inotify_init1", "inotify_add_watch", "inotify_rm_watch"]

    /// Every syscall name the role's allowlist admits without argument checks, and those it
    /// admits only with checked arguments (for `edr doctor` and the security document).
    public static func allowedNames(role: Role) -> (plain: [String], checked: [String]) {
        var plain = runtime
        switch role {
        case .detector: plain += ["inotify_init1", "inotify_add_watch", "inotify_rm_watch"]
        case .responder: plain += ["kill", "pidfd_open", "pidfd_send_signal"]
        case .sensor: plain += ["bpf"]
        case .logs: plain += logsExtra
        }
        return (plain, ["clone", "openat", "open", "mmap", "mprotect", "fcntl", "prlimit64", "tgkill", "prctl", "ioctl"])
    }

    /// Applies the filter to every thread of this process (TSYNC). Requires NoNewPrivs.
    public func loadForAllThreads() throws {
        var rc = edr_seccomp_set_tsync(ctx, 1)
        if rc != 0 { throw EDRError("seccomp TSYNC: \(String(cString: strerror(-rc)))") }
        rc = seccomp_load(ctx)
        if rc != 0 { throw EDRError("seccomp_load: \(String(cString: strerror(-rc)))") }
    }

    /// The filter as classic BPF, for the spawn helper to install between fork and execve.
    public func exportBPF() throws -> [UInt8] {
        var ptr: UnsafeMutablePointer<UInt8>?
        var len = 0
        let rc = edr_seccomp_export(ctx, &ptr, &len)
        guard rc == 0, let ptr else { throw EDRError("seccomp export: \(String(cString: strerror(-rc)))") }
        defer { free(ptr) }
        return Array(UnsafeBufferPointer(start: ptr, count: len))
    }
}
