// edr-logs: reads the host's logs for the detector and nothing else. Its own unprivileged uid
// whose only supplementary groups are those that may read logs (systemd-journal for the
// journal, adm for /var/log/auth.log and syslog), no capabilities, NoNewPrivs, not dumpable,
// own network and IPC namespaces, Landlock (read-only beneath the followed files'
// directories), seccomp allowlist. It parses nothing: each line or journal entry goes to
// edr-detect as it is. Its positions go to the file the supervisor opened for it
// (descriptor 4), or, under edr-logs.service, to the one it opened in its StateDirectory=
// before confining itself: once confined it opens nothing for writing.
import EDRCore
import EDRConfinement
import EDRHostLogs
import EDRSystem
import CLinux
#if canImport(Glibc)
import Glibc
#endif

Log.setup(component: "edr-logs", level: .info)
let args: ChildArguments
var stateFD: Int32 = 4
var unitPeers: UnitPeers?
do {
    if let unit = try UnitStart.fromCommandLine() {
        (args, stateFD, unitPeers) = try unitArguments(unit)
    } else {
        args = try ChildArguments(Array(CommandLine.arguments.dropFirst()))
    }
} catch {
    reportStatus("FATAL \(error)")
    Log.error("\(error)")
    exit(64)
}
Log.setup(component: "edr-logs", level: Log.Level(name: args.values["log-level"] ?? "info") ?? .info)
let files = args.strings("files")
let store = PositionStore(fd: stateFD)
let start = store.load()

// Before confinement: journalctl (the journal's own reader) is started, and the directories of
// the followed files opened for Landlock.
var journal: JournalFollower?
if args.values["journal"] == "true" {
    if JournalFollower.available {
        do {
            journal = try JournalFollower(afterCursor: start.journalCursor)
        } catch {
            reportStatus("FATAL \(error)")
            Log.error("\(error)")
            exit(69)
        }
    } else {
        Log.info("no journal on this host (/run/systemd/journal is missing): following files only")
    }
}
var directories: [String] = []
for f in files {
    let d = directoryName(of: f)
    if !directories.contains(d) { directories.append(d) }
}
var readBeneath: [(fd: Int32, isDirectory: Bool)] = []
for d in directories {
    let fd = open(d, EDR_O_PATH | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 { readBeneath.append((fd, true)) } else { Log.warning("cannot open \(d): \(String(cString: strerror(errno))); its files are not followed") }
}

do {
    try SelfConfinement.makeUndumpable()
    ConfinementSummary.landlockABI = try SelfConfinement.restrictFilesystem(readBeneath: readBeneath)
    let filter = try SeccompFilter.allowlist(role: .logs)
    try filter.loadForAllThreads()
    filter.release()
} catch {
    reportStatus("FATAL cannot confine edr-logs: \(error)")
    Log.error("cannot confine edr-logs: \(error)")
    exit(70)
}

do {
    let reader = LogReader(store: store, files: files, journal: journal)
    if let unitPeers { reader.peers = unitPeers }
    let resumed = start.files.count + (start.journalCursor == nil ? 0 : 1)
    reportStatus(
        "READY logs journal=\(journal != nil ? "following" : "off") files=\(files.count) resumed_positions=\(resumed) groups=\(supplementaryGroups()) landlock_abi=\(ConfinementSummary.landlockABI)"
    )
    try reader.run()
    Log.info("stopped after sending \(reader.sent) records")
} catch {
    Log.error("\(error)")
    exit(1)
}

/// Under edr-logs.service (`edr-logs --config FILE`): the arguments `edr run` would pass,
/// from the configuration; the position file opened here, in the unit's StateDirectory=
/// (owned by this unit's user, which systemd made), since no root process hands one down;
/// the detector's socket for edr-logs connected (the only connection it ever makes). All of
/// it before the process confines itself: afterwards it opens nothing for writing and
/// connects nowhere, as under `edr run`.
func unitArguments(_ unit: UnitStart) throws -> (ChildArguments, Int32, UnitPeers) {
    let c = unit.config
    guard c.logs.enabled else {
        throw EDRError("[logs] enabled is false in \(unit.configPath): edr-logs.service has nothing to do (its ExecCondition= skips it)")
    }
    // The detector admits the uid of [logs] user alone: a mismatch is said here, naming the
    // key, rather than as a connection refused again at every restart.
    let expected = try UnitStart.uid(of: c.logs.user, key: "[logs] user")
    guard expected == getuid() else {
        throw EDRError(
            "[logs] user is \"\(c.logs.user)\" (uid \(expected)), but edr-logs runs as uid \(getuid()): edr-detect admits [logs] user alone; set it to the unit's User= (edr-logs)"
        )
    }
    guard let dir = getenv("STATE_DIRECTORY").map({ String(cString: $0) }), !dir.isEmpty else {
        throw EDRError("STATE_DIRECTORY is not set: start edr-logs through edr-logs.service (StateDirectory=), not by hand")
    }
    // StateDirectory= may list several, separated by colons; the unit names one.
    let path = String(dir.split(separator: ":").first ?? "") + "/logs.state"
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { throw SystemError("open", detail: path) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(), st.st_nlink == 1 else {
        close(fd)
        throw EDRError("\(path) must be a regular file owned by edr-logs' own user with one link")
    }
    let detector = try UnixSocket.connect(path: c.supervisor.runtimeDir + "/detect-logs.sock")
    let peers = try UnitPeers(initial: [.init(role: "detector", fd: detector)], listeners: [])
    return (try ChildArguments(ChildCommandLine.logs(c)), fd, peers)
}

func supplementaryGroups() -> String {
    var groups = [gid_t](repeating: 0, count: 64)
    let n = getgroups(64, &groups)
    return n > 0 ? groups[0..<Int(n)].map(String.init).joined(separator: ",") : "none"
}
