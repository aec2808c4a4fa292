import CCap
import CSpawn
import EDRCore
import EDRConfinement
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// One child process and the confinement it gets before its first instruction.
public struct ChildSpec: Sendable {
    public var name: String
    public var executable: String
    public var arguments: [String]
    public var uid: uid_t
    public var gid: gid_t
    /// Capabilities kept (bounding, permitted, effective; ambient for non-root).
    public var capabilities: [Capability]
    /// The pre-exec seccomp filter's role (nil: no filter; tests' unconfined control runs).
    public var seccompRole: SeccompFilter.Role?
    /// Descriptors handed to the child: [0] becomes fd 3, [1] fd 4, ...
    public var fds: [Int32]
    public var stdoutFD: Int32 = -1
    /// The executable, opened by the supervisor (O_PATH): exec by descriptor, so no directory
    /// above it must be searchable by the child's uid (a checkout under a 0700 home works)
    /// and the file cannot be swapped between check and exec. -1: exec `executable` by path.
    public var execFD: Int32 = -1
    /// CLONE_NEW* flags: namespaces entered before the uid change.
    public var unshareFlags: Int32 = 0
    /// Supplementary groups besides `gid` (edr-logs: systemd-journal, adm); none for the others.
    public var groups: [gid_t] = []

    public init(
        name: String, executable: String, arguments: [String], uid: uid_t, gid: gid_t,
        capabilities: [Capability], seccompRole: SeccompFilter.Role?, fds: [Int32]
    ) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.uid = uid
        self.gid = gid
        self.capabilities = capabilities
        self.seccompRole = seccompRole
        self.fds = fds
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public let child: String
    public let stage: String
    public let errno: Int32
    public var description: String { "spawning \(child) failed at \(stage): \(String(cString: strerror(errno)))" }
}

public enum Spawner {
    /// Forks, confines (groups, uid/gid, capabilities, NoNewPrivs, seccomp) and execs.
    public static func spawn(_ spec: ChildSpec) throws -> pid_t {
        var program: [UInt8] = []
        if let role = spec.seccompRole {
            let filter = try SeccompFilter.preExec(role: role)
            program = try filter.exportBPF()
            filter.release()
        }

        let argStrings = [spec.executable] + spec.arguments
        var cArgs: [UnsafeMutablePointer<CChar>?] = argStrings.map { strdup($0) } + [nil]
        var envStrings = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SWIFT_BACKTRACE=enable=no"]
        // The children share the supervisor's standard error: under systemd that is the journal.
        if let j = getenv("JOURNAL_STREAM") { envStrings.append("JOURNAL_STREAM=" + String(cString: j)) }
        var env: [UnsafeMutablePointer<CChar>?] = envStrings.map { strdup($0) } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in env { free(p) }
        }
        var pid: pid_t = 0
        var err: Int32 = 0
        let stage = spec.executable.withCString { path in
            spec.groups.withUnsafeBufferPointer { groups in
                spec.fds.withUnsafeBufferPointer { fds in
                    program.withUnsafeBytes { prog in
                        cArgs.withUnsafeMutableBufferPointer { argv in
                            env.withUnsafeMutableBufferPointer { envp in
                                var s = edr_spawn_spec()
                                s.path = path
                                s.argv = UnsafePointer(argv.baseAddress)
                                s.envp = UnsafePointer(envp.baseAddress)
                                s.fds = fds.baseAddress
                                s.nfds = Int32(fds.count)
                                s.stdout_fd = spec.stdoutFD
                                s.stderr_fd = -1
                                s.set_ids = 1
                                s.uid = spec.uid
                                s.gid = spec.gid
                                s.caps = Capability.mask(spec.capabilities)
                                s.no_new_privs = 1
                                s.seccomp_filter = prog.count > 0 ? prog.baseAddress : nil
                                s.seccomp_len = prog.count
                                s.exec_fd = spec.execFD
                                s.unshare_flags = spec.unshareFlags
                                s.pdeathsig = SIGKILL
                                s.new_process_group = 1
                                s.groups = groups.baseAddress
                                s.ngroups = Int32(groups.count)
                                return edr_spawn(&s, &pid, &err)
                            }
                        }
                    }
                }
            }
        }
        guard stage == 0 else {
            throw SpawnError(child: spec.name, stage: String(cString: edr_spawn_stage_name(stage)), errno: err)
        }
        return pid
    }
}

/// Names of the capabilities set in a mask, e.g. "CAP_BPF,CAP_PERFMON"; "none" for 0.
public func capabilityNames(_ mask: UInt64) -> String {
    if mask == 0 { return "none" }
    var names: [String] = []
    for bit in 0..<64 where mask & (1 << UInt64(bit)) != 0 {
        if let known = Capability(rawValue: bit) {
            names.append(known.name)
        } else if let p = edr_cap_name(Int32(bit)) {
            names.append(String(cString: p).uppercased())  // libcap knows every kernel capability
            edr_cap_free(p)
        } else {
            names.append("cap_\(bit)")
        }
    }
    return names.joined(separator: ",")
}
