import EDRConfinement
import EDRSystem
import Testing
import Foundation
import CLinux
@testable import EDRCore
@testable import EDRSupervisor
import EDRDetect

let isRoot = getuid() == 0
let binDir: String =
    ProcessInfo.processInfo.environment["EDR_BIN_DIR"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".build/debug").path

/// A directory of its own for one test, removed at the end.
final class Scratch {
    let path: String
    init(mode: mode_t = 0o755) throws {
        path = "/tmp/edr-conf-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        chmod(path, mode)
    }
    deinit {
        umount2(path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// What became of a spawned program: its exit (code or signal) and what it printed.
struct Finished {
    var status: Int32
    var output: String
    var exitedWith: Int32? { status & 0x7f == 0 ? (status >> 8) & 0xff : nil }
    var signal: Int32? { status & 0x7f != 0 && status & 0x7f != 0x7f ? status & 0x7f : nil }
}

/// Spawns `spec` with its standard output captured and waits at most `timeout` seconds (then
/// kills it and records an issue): no test waits without a limit.
func runSpawned(_ spec: ChildSpec, timeout: Double = 30) throws -> Finished {
    var p: [Int32] = [0, 0]
    guard pipe(&p) == 0 else { throw SystemError("pipe") }
    var s = spec
    s.stdoutFD = p[1]
    let pid = try Spawner.spawn(s)
    close(p[1])
    _ = fcntl(p[0], F_SETFL, O_NONBLOCK)
    var out = [UInt8]()
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(timeout)
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(p[0], &buf, buf.count)
        if n > 0 { out += buf[0..<n]; continue }
        if waitpid(pid, &status, WNOHANG) == pid { break }
        if Date() > deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            Issue.record("\(spec.name) did not finish within \(timeout) s")
            break
        }
        usleep(5_000)
    }
    while true {
        let n = read(p[0], &buf, buf.count)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    close(p[0])
    return Finished(status: status, output: String(decoding: out, as: UTF8.self))
}

/// A process to aim at (kill, ptrace, prlimit), reaped by the caller.
func startSleeper() throws -> pid_t {
    var pid: pid_t = 0
    let words: [String] = ["/bin/sleep", "30"]
    let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    guard posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0 else { throw EDRError("posix_spawn sleep") }
    return pid
}

@Suite("Confinement", .serialized)
struct ConfinementTests {
    /// The probe's environment: a scratch directory (rules + a listening socket for the connect
    /// probes), an alert file with known content, the user table.
    final class ProbeSetup {
        let scratch: Scratch
        let alertFD: Int32
        let passwdFD: Int32
        let rulesFD: Int32
        let listener: Int32
        let abstractListener: Int32
        let target: pid_t
        static let alertContent = "{\"alert\":\"already written\"}\n"

        init() throws {
            scratch = try Scratch()
            let rules = scratch.path + "/rules"
            try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: false)
            let alerts = scratch.path + "/alerts.ndjson"
            try Self.alertContent.write(toFile: alerts, atomically: false, encoding: .utf8)
            chmod(alerts, 0o640)
            alertFD = open(alerts, O_WRONLY | O_APPEND | O_CLOEXEC)
            passwdFD = open("/etc/passwd", O_RDONLY | O_CLOEXEC)
            rulesFD = open(rules, EDR_O_PATH | O_DIRECTORY | O_CLOEXEC)
            target = try startSleeper()
            listener = try UnixSocket.listen(path: scratch.path + "/listener.sock", mode: 0o777)
            abstractListener = try Self.listenAbstract("edr-probe-\(target)")
        }

        static func listenAbstract(_ name: String) throws -> Int32 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(name.utf8)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i + 1] = b } }
            let len = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
            guard rc == 0, listen(fd, 4) == 0 else { throw SystemError("bind abstract") }
            return fd
        }

        var alertFileContent: String { (try? String(contentsOfFile: scratch.path + "/alerts.ndjson", encoding: .utf8)) ?? "<unreadable>" }

        deinit {
            for fd in [alertFD, passwdFD, rulesFD, listener, abstractListener] { close(fd) }
            kill(target, SIGKILL)
            waitpid(target, nil, 0)
        }

        /// edr-detect with a probe, spawned the way `edr run` spawns it (or, unconfined, as
        /// plain root with the capabilities the calls need).
        func spec(_ probe: ConfinementProbe, confined: Bool, uid: uid_t) throws -> ChildSpec {
            let control = try ControlChannel.controlPair()
            var args = ["--probe", probe.rawValue, "--scratch", scratch.path, "--target", String(target), "--read-fds", "6"]
            if !confined { args.append("--unconfined") }
            var spec = ChildSpec(
                name: "edr-detect", executable: binDir + "/edr-detect", arguments: args,
                uid: confined ? uid : 0, gid: confined ? uid : 0,
                capabilities: confined ? [] : [.sysAdmin, .bpf, .perfmon, .sysPtrace, .dacOverride, .kill],
                seccompRole: confined ? .detector : nil,
                fds: [control.child, alertFD, passwdFD, rulesFD])
            if confined {
                spec.unshareFlags = Supervisor.isolatedNamespaces
                spec.execFD = open(binDir + "/edr-detect", EDR_O_PATH | O_CLOEXEC)
            }
            close(control.supervisor)
            return spec
        }
    }

    /// Every probe: denied inside the detector's confinement, and the same call succeeds in an
    /// unconfined control run (so the probe really makes the call it names).
    @Test(.enabled(if: isRoot, "needs root to change uid and namespaces"), arguments: ConfinementProbe.allCases)
    func detectorProbeIsDeniedConfinedAndWorksUnconfined(_ probe: ConfinementProbe) throws {
        let setup = try ProbeSetup()
        let uid = try ChildIdentity.allocate(count: 1)[0]

        let control = try runSpawned(try setup.spec(probe, confined: false, uid: uid))
        #expect(control.exitedWith == 0, "control run of \(probe.rawValue): \(control.output)")
        if probe == .execve || probe == .execveat {
            // The control process became /bin/true: nothing printed after the call.
            #expect(!control.output.contains("PROBE"), "\(control.output)")
        } else {
            #expect(control.output.contains("PROBE \(probe.rawValue) succeeded"), "control run of \(probe.rawValue): \(control.output)")
        }
        umount2(setup.scratch.path, Int32(MNT_DETACH))
        unlink(setup.scratch.path + "/written")
        rmdir(setup.scratch.path + "/made")
        // The control run's destructive probes worked on a copy: restore the alert file.
        if [.truncateAlerts, .clearAppend, .pwriteNoAppend].contains(probe) {
            try ProbeSetup.alertContent.write(toFile: setup.scratch.path + "/alerts.ndjson", atomically: false, encoding: .utf8)
            _ = fcntl(setup.alertFD, F_SETFL, O_APPEND)
        }

        let confined = try runSpawned(try setup.spec(probe, confined: true, uid: uid))
        switch probe.expected {
        case .seccompKill:
            #expect(confined.signal == SIGSYS, "\(probe.rawValue) must be killed by seccomp; status \(confined.status): \(confined.output)")
            #expect(!confined.output.contains("PROBE"), "\(confined.output)")
        case .landlockDenied:
            #expect(confined.exitedWith == 0, "\(confined.output)")
            #expect(
                confined.output.contains("PROBE \(probe.rawValue) failed errno \(EACCES)"), "\(probe.rawValue) must be refused by Landlock: \(confined.output)")
        }
        // Nothing a confined probe tried changed the alerts already written or made files.
        #expect(setup.alertFileContent == ProbeSetup.alertContent)
        #expect(!FileManager.default.fileExists(atPath: setup.scratch.path + "/written"))
        #expect(!FileManager.default.fileExists(atPath: setup.scratch.path + "/made"))
    }

    /// The responder's allowlist admits kill and pidfd calls, and kills the process on exec.
    @Test func responderAllowlistKeepsKillButKillsOnExec() async {
        await #expect(processExitsWith: .success) {
            prctlNoNewPrivs()
            let f = try! SeccompFilter.allowlist(role: .responder)
            try! f.loadForAllThreads()
            let pidfd = edr_pidfd_open(getpid())
            exit(edr_raw_kill(getpid(), 0) == 0 && pidfd >= 0 ? 0 : 1)
        }
        await #expect(processExitsWith: .signal(SIGSYS)) {
            prctlNoNewPrivs()
            let f = try! SeccompFilter.allowlist(role: .responder)
            try! f.loadForAllThreads()
            _ = edr_raw_execve("/bin/true")
            exit(0)
        }
    }

    /// The sensor's allowlist (on once its programs are attached): no exec, no io_uring, no
    /// socket of any kind.
    @Test(arguments: ["execve", "io_uring", "socket-unix", "socket-inet"])
    func sensorAllowlistKills(_ call: String) async {
        await #expect(processExitsWith: .signal(SIGSYS)) { [call] in
            prctlNoNewPrivs()
            let f = try! SeccompFilter.allowlist(role: .sensor)
            try! f.loadForAllThreads()
            switch call {
            case "execve": _ = edr_raw_execve("/bin/true")
            case "io_uring": _ = edr_raw_io_uring_setup()
            case "socket-unix": _ = edr_raw_socket(AF_UNIX, Int32(SOCK_STREAM.rawValue))
            default: _ = edr_raw_socket(AF_INET, Int32(SOCK_STREAM.rawValue))
            }
            exit(0)
        }
    }

    /// …while what the sensor does all day still works under it: reading /proc, its maps.
    @Test func sensorAllowlistAdmitsItsWork() async {
        await #expect(processExitsWith: .success) {
            prctlNoNewPrivs()
            let f = try! SeccompFilter.allowlist(role: .sensor)
            try! f.loadForAllThreads()
            let fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)
            exit(fd >= 0 && (try? readAll(fd: fd))?.isEmpty == false ? 0 : 1)
        }
    }

    @Test(.enabled(if: isRoot, "needs root to change uid"))
    func spawnHelperAppliesIdentityCapabilitiesAndFilter() throws {
        // A plain program spawned as the responder would be: its own uid, CAP_KILL only.
        let uid = try ChildIdentity.allocate(count: 1)[0]
        var spec = ChildSpec(
            name: "cat", executable: "/bin/cat", arguments: ["/proc/self/status"],
            uid: uid, gid: uid, capabilities: [.kill], seccompRole: .responder, fds: [])
        spec.execFD = open("/bin/cat", EDR_O_PATH | O_CLOEXEC)
        defer { close(spec.execFD) }
        spec.unshareFlags = Supervisor.isolatedNamespaces
        let done = try runSpawned(spec)
        #expect(done.exitedWith == 0)
        let status = ProcStatus(text: done.output)
        #expect(status.uids == [uid, uid, uid, uid])
        #expect(status.gids == [uid, uid, uid, uid])
        #expect(status.capEff == Capability.kill.bit)
        #expect(status.capPrm == Capability.kill.bit)
        #expect(status.capAmb == Capability.kill.bit)
        #expect(status.capBnd == Capability.kill.bit)
        #expect(status.capInh == Capability.kill.bit)
        #expect(status.noNewPrivs == 1)
        #expect(status.seccomp == 2)
        #expect(status.seccompFilters == 1)
    }

    /// Exec by descriptor: the child's uid cannot search the directory that holds the
    /// program, and it still starts (the checkout-under-/root case); by path it cannot.
    @Test(.enabled(if: isRoot, "needs root to change uid"))
    func execByDescriptorNeedsNoSearchableDirectory() throws {
        let scratch = try Scratch(mode: 0o700)
        let program = scratch.path + "/cat"
        try FileManager.default.copyItem(atPath: "/bin/cat", toPath: program)
        chmod(program, 0o755)
        let uid = try ChildIdentity.allocate(count: 1)[0]
        var spec = ChildSpec(
            name: "cat", executable: program, arguments: ["/proc/self/comm"],
            uid: uid, gid: uid, capabilities: [], seccompRole: .detector, fds: [])
        #expect(throws: SpawnError.self) { try runSpawned(spec) }
        spec.execFD = open(program, EDR_O_PATH | O_CLOEXEC)
        defer { close(spec.execFD) }
        let done = try runSpawned(spec)
        #expect(done.exitedWith == 0)
        #expect(done.output.hasPrefix("cat"))
    }

    @Test(.enabled(if: isRoot, "needs root"))
    func spawnFailureNamesTheStage() {
        let spec = ChildSpec(
            name: "missing", executable: "/nonexistent/binary", arguments: [], uid: 61999, gid: 61999,
            capabilities: [], seccompRole: .detector, fds: [])
        #expect { try Spawner.spawn(spec) } throws: { e in "\(e)" == "spawning missing failed at execve: No such file or directory" }
    }

    /// Why the sensor holds CAP_SYS_PTRACE, proven: root with only CAP_BPF and CAP_PERFMON cannot
    /// read the executable link of a process holding more capabilities (this test process, root
    /// with a full set); with CAP_SYS_PTRACE added it can.
    @Test(.enabled(if: isRoot, "needs root"))
    func sensorNeedsPtraceToReadOtherProcessesExecutables() throws {
        func readlinkSelf(_ caps: [Capability]) throws -> Finished {
            let spec = ChildSpec(
                name: "readlink", executable: "/usr/bin/readlink", arguments: ["/proc/\(getpid())/exe"],
                uid: 0, gid: 0, capabilities: caps, seccompRole: .sensor, fds: [])
            return try runSpawned(spec)
        }
        let without = try readlinkSelf([.bpf, .perfmon])
        #expect(without.exitedWith == 1 && without.output.isEmpty)
        let with = try readlinkSelf(Supervisor.sensorCapabilities)
        #expect(with.exitedWith == 0)
        #expect(with.output.trimmingCharacters(in: .whitespacesAndNewlines) == (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")))
        #expect(Supervisor.sensorCapabilities.count == 3)
        #expect(capabilityNames(Capability.mask([.bpf, .perfmon, .sysPtrace])) == "CAP_SYS_PTRACE,CAP_PERFMON,CAP_BPF")
        #expect(capabilityNames(1 << 40) == "CAP_CHECKPOINT_RESTORE")
    }
}

@Suite("Identities and trusted files")
struct IdentityTests {
    @Test func dynamicIdsAreFreeDistinctAndInRange() throws {
        let ids = try ChildIdentity.allocate(count: 8)
        #expect(ids.count == 8 && Set(ids).count == 8)
        let used = ChildIdentity.idsInUse()
        for id in ids {
            #expect(ChildIdentity.dynamicRange.contains(id))
            #expect(!used.uids.contains(id) && !used.gids.contains(id))
            #expect(getpwuid(id) == nil && getgrgid(id) == nil)
        }
        #expect(try ChildIdentity.allocate(count: 1, excluding: Set(ChildIdentity.dynamicRange).subtracting([ids[0]])) == [ids[0]])
    }

    @Test(.enabled(if: isRoot, "needs root to start a process under another uid"))
    func namedUsersMustBeDedicated() throws {
        #expect { try ChildIdentity.resolve("root", key: "[detect] user", dynamic: 0) } throws: { "\($0)".contains("root") }
        #expect { try ChildIdentity.resolve("nobody", key: "[detect] user", dynamic: 0) } throws: {
            "\($0)".contains("nobody") && "\($0)".contains("[detect] user")
        }
        // A uid some process already runs as is refused, naming that process.
        let uid = try ChildIdentity.allocate(count: 1)[0]
        var spec = ChildSpec(name: "sleep", executable: "/bin/sleep", arguments: ["30"], uid: uid, gid: uid, capabilities: [], seccompRole: nil, fds: [])
        spec.stdoutFD = -1
        let pid = try Spawner.spawn(spec)
        defer { kill(pid, SIGKILL); waitpid(pid, nil, 0) }
        #expect(ChildIdentity.idsInUse().uids.contains(uid))
        #expect { try ChildIdentity.resolve(String(uid), key: "[response] user", dynamic: 0) } throws: { "\($0)".contains("already used by pid \(pid)") }
        #expect(
            try ChildIdentity.allocate(count: 1, excluding: Set(ChildIdentity.dynamicRange).subtracting([uid, uid + 1])) == [uid + 1]
                || getpwuid(uid + 1) != nil)
        #expect(try ChildIdentity.resolve("", key: "[detect] user", dynamic: 61234).uid == 61234)
    }

    @Test(.enabled(if: isRoot, "needs root to chown"))
    func filesWritableByOthersAreRefusedByName() throws {
        let scratch = try Scratch()
        let rules = scratch.path + "/rules"
        try FileManager.default.createDirectory(atPath: rules + "/sub", withIntermediateDirectories: true)
        let rule = rules + "/sub/rule.yml"
        try "title: x\n".write(toFile: rule, atomically: false, encoding: .utf8)
        chmod(rule, 0o644)
        try TrustedFiles.check(rules, what: "[sigma] rules")

        chmod(rule, 0o666)
        #expect { try TrustedFiles.check(rules, what: "[sigma] rules") } throws: { "\($0)".contains(rule) && "\($0)".contains("writable by every user") }
        chmod(rule, 0o664)
        chown(rule, 0, 100)
        #expect { try TrustedFiles.check(rules, what: "[sigma] rules") } throws: { "\($0)".contains(rule) && "\($0)".contains("group 100") }
        chmod(rule, 0o644)
        chown(rule, 1000, 0)
        #expect { try TrustedFiles.check(rules, what: "[sigma] rules") } throws: { "\($0)".contains(rule) && "\($0)".contains("owned by uid 1000") }
        chown(rule, 0, 0)
        try TrustedFiles.check(rules, what: "[sigma] rules")

        // A directory above that others can write (not sticky) lets them swap the tree.
        chmod(scratch.path, 0o777)
        #expect { try TrustedFiles.check(rules, what: "[sigma] rules") } throws: { "\($0)".contains(scratch.path) && "\($0)".contains("(for \(rules))") }
        chmod(scratch.path, 0o1777)
        try TrustedFiles.check(rules, what: "[sigma] rules")
        chmod(scratch.path, 0o755)

        // Through a symlink: the target is what is checked.
        let writable = scratch.path + "/writable.yml"
        try "title: y\n".write(toFile: writable, atomically: false, encoding: .utf8)
        chmod(writable, 0o646)
        try FileManager.default.createSymbolicLink(atPath: rules + "/link.yml", withDestinationPath: writable)
        #expect { try TrustedFiles.check(rules, what: "[sigma] rules") } throws: { "\($0)".contains("link.yml") }
    }
}
