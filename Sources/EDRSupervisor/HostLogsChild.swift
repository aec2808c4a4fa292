import CLinux
import EDRCore
import EDRConfinement
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// edr-logs as the supervisor starts it: its own uid (dynamic, or [logs] user), gid = its
/// own, supplementary groups only those of [logs] groups that exist here (systemd-journal
/// reads the journal, adm reads /var/log/auth.log and syslog), no capabilities, the logs
/// seccomp role, own network and IPC namespaces, and one descriptor besides its control
/// channel: the position file (logs.state in [logs] state_dir), opened read-write here as
/// root, so that the reader never opens anything for writing.
public enum HostLogsChild {
    public static let stateFileName = "logs.state"

    public static func spec(_ c: AgentConfig, bin: String, uid: uid_t, gid: gid_t) throws -> ChildSpec {
        try makeDirectory(c.logs.stateDir, mode: 0o700)
        let path = c.logs.stateDir + "/" + stateFileName
        let stateFD = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard stateFD >= 0 else { throw SystemError("open", detail: path) }
        var st = stat()
        guard fstat(stateFD, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == 0, st.st_nlink == 1 else {
            close(stateFD)
            throw EDRError("\(path) must be a regular file owned by root with one link")
        }
        var spec = ChildSpec(
            name: "edr-logs", executable: bin + "/edr-logs",
            arguments: ChildCommandLine.logs(c),
            uid: uid, gid: gid, capabilities: [], seccompRole: .logs, fds: [stateFD])
        spec.stdoutFD = 2
        spec.unshareFlags = Supervisor.isolatedNamespaces
        spec.groups = groups(c.logs.groups)
        return spec
    }

    /// The gids of the named groups that exist (a host without a journal has no
    /// systemd-journal group); a numeric entry is taken as it is.
    static func groups(_ names: [String]) -> [gid_t] {
        var out: [gid_t] = []
        for n in names {
            if let g = gid_t(n) { out.append(g); continue }
            guard let gr = getgrnam(n) else { Log.info("[logs] groups: no group \(n) on this host; left out"); continue }
            out.append(gr.pointee.gr_gid)
        }
        return out
    }
}
