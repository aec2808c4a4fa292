import ArgumentParser
import CLinux
import EDRCore
import EDRConfinement
import EDRDetect
import EDRIOC
import EDRSensorLinux
import EDRSigma
import EDRSupervisor
import EDRYara
import Foundation

/// `edr doctor [--config FILE] [--json]`: what this host lets the agent do, checked for real.
/// It loads and attaches the BPF object exactly as edr-sensor would (then detaches it) and
/// lists every hook as attached or missing with the kernel's reason; it checks the users,
/// binaries, kernel features the confinement relies on, and the configured rules.
/// Exit status 1 when the agent could not run (a failed check); missing optional hooks warn.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this host: each eBPF hook attached or missing (with the reason), confinement features, users, binaries, rules.")

    @Option(name: .long, help: "TOML configuration file (defaults are built in).")
    var config: String?

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    enum Level: String { case ok, warn, fail }

    struct Check {
        var level: Level
        var name: String
        var detail: String
    }

    /// Hooks without which the agent has no process telemetry at all.
    static let essentialPrograms: Set<String> = ["edr_exec"]

    /// What each program feeds, so a missing hook names the telemetry it costs.
    static let provides: [String: String] = [
        "edr_exec": "process_creation",
        "edr_fileless_exec": "execution of memfd/deleted files",
        "edr_cgroup_exec": "cgroup names for ContainerId",
        "edr_exit": "process exits (process cache)",
        "edr_fork": "fork/clone and parent linkage",
        "edr_sys_enter":
            "network_connection, file_event/change/delete/rename, dns_query, process_access, driver_load, bpf, setuid/capset, memfd_create, mount, kernel_log_control (syscall entry)",
        "edr_sys_exit": "results of the same syscalls (syscall exit)",
        "edr_uring_submit": "file_delete/rename through io_uring (request submission)",
        "edr_uring_complete": "file_event/change/delete/rename, network_connection, dns_query through io_uring (completion)"
    ]

    func run() throws {
        var checks: [Check] = []
        func add(_ level: Level, _ name: String, _ detail: String) { checks.append(Check(level: level, name: name, detail: detail)) }

        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let machine = withUnsafeBytes(of: &uts.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        add(.ok, "kernel", "Linux \(release) \(machine)")
        add(geteuid() == 0 ? .ok : .fail, "root", geteuid() == 0 ? "running as root" : "edr run and this check need root (uid \(geteuid()))")

        // Configuration.
        var cfg = AgentConfig()
        do {
            cfg = try AgentConfig.load(file: config.map(absolutePath), environment: environment())
            add(.ok, "config", config.map { "\($0) parsed" } ?? "built-in defaults")
        } catch {
            add(.fail, "config", "\(error)")
        }

        // Binaries the supervisor spawns.
        let bin = executableDirectory()
        for name in ["edr-sensor", "edr-detect", "edr-respond"] {
            let ok = access(bin + "/" + name, X_OK) == 0
            add(ok ? .ok : .fail, "binary \(name)", ok ? bin + "/" + name : "\(bin)/\(name) missing or not executable (make build)")
        }

        // Kernel features the sensor and the confinement use.
        let btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0
        add(btf ? .ok : .fail, "kernel BTF", btf ? "/sys/kernel/btf/vmlinux" : "/sys/kernel/btf/vmlinux missing: tp_btf programs need CONFIG_DEBUG_INFO_BTF")
        if let actions = try? readTextFile("/proc/sys/kernel/seccomp/actions_avail") {
            let has = actions.contains("errno") && actions.contains("kill_process")
            add(has ? .ok : .fail, "seccomp", "filter actions: \(actions.trimmingCharacters(in: .whitespacesAndNewlines))")
        } else {
            add(.fail, "seccomp", "/proc/sys/kernel/seccomp/actions_avail unreadable: the children cannot be confined")
        }
        let abi = SelfConfinement.landlockABI
        add(
            abi > 0 ? .ok : .fail, "Landlock",
            abi > 0
                ? "ABI \(abi)\(abi >= 6 ? " (abstract sockets and signals scoped)" : "")"
                : "not available: edr-detect and edr-respond cannot confine their filesystem view")
        let kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        add(
            kmsg >= 0 ? .ok : .warn, "/dev/kmsg",
            kmsg >= 0
                ? "readable: a child killed by its seccomp filter is reported with the syscall's name"
                : "unreadable: seccomp kills are reported without the syscall's name")
        if kmsg >= 0 { close(kmsg) }
        let pidfd = edr_pidfd_open(getpid())
        if pidfd >= 0 {
            close(pidfd)
            add(.ok, "pidfd", "pidfd_open works (edr-respond signals by pidfd)")
        } else {
            add(.warn, "pidfd", "pidfd_open failed (errno \(edr_errno())): edr-respond cannot act race-free")
        }
        if let lsm = try? readTextFile("/sys/kernel/security/lsm") {
            add(.ok, "LSMs", lsm.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let tracefs = (try? readTextFile("/proc/mounts"))?.contains(" tracefs ") ?? false
        add(.ok, "tracefs", tracefs ? "mounted (not needed: the hooks are tp_btf and raw_tp)" : "not mounted (not needed: the hooks are tp_btf and raw_tp)")

        // Users the children run as.
        for (key, name) in [("[detect] user", cfg.detect.user), ("[response] user", cfg.response.user)] {
            do {
                let dynamic = try ChildIdentity.allocate(count: 1)[0]
                let u = try ChildIdentity.resolve(name, key: key, dynamic: dynamic)
                add(.ok, key, name.isEmpty ? "empty: a dynamic uid (e.g. \(dynamic), free now)" : "\(u.name), gid \(u.gid)")
            } catch {
                add(.fail, key, "\(error)")
            }
        }

        // The BPF hooks, loaded and attached as the sensor does.
        let object = cfg.sensor.bpfObject.isEmpty ? bin + "/edr.bpf.o" : cfg.sensor.bpfObject
        var hooks: [HookStatus] = []
        if geteuid() == 0 {
            do {
                let programs = try BPFPrograms(objectPath: object, ringBufferBytes: 1 << 20)
                hooks = programs.hooks
                for h in hooks {
                    let level: Level = h.attached ? .ok : (Self.essentialPrograms.contains(h.program) ? .fail : .warn)
                    let feeds = Self.provides[h.program].map { " → \($0)" } ?? ""
                    add(
                        level, "hook \(h.program)",
                        h.attached ? "attached (\(h.attachPoint))\(feeds)" : "missing (\(h.attachPoint)): \(h.reason ?? "unknown")\(feeds)")
                }
                _ = try programs.mapFD("edr_events")
                add(.ok, "ring buffer", "edr_events created")
            } catch {
                add(.fail, "bpf object", "\(error)")
            }
        } else {
            add(.fail, "bpf object", "not loaded: needs root")
        }

        // Rules, as the detector would load them.
        if !cfg.sigma.rules.isEmpty {
            let options = DetectorLogSources.sigmaOptions()
            do {
                let engine = try SigmaEngine.load(paths: cfg.sigma.rules, options: options)
                var loaded = 0, rejected = 0, inert = 0
                for d in engine.diagnostics {
                    switch d.status {
                    case .loaded: loaded += 1
                    case .rejected: rejected += 1
                    case .inert: inert += 1
                    }
                }
                add(rejected == 0 ? .ok : .warn, "sigma rules", "\(loaded) loaded, \(rejected) rejected, \(inert) inert (edr validate --rules … lists them)")
            } catch {
                add(.fail, "sigma rules", "\(error)")
            }
        } else {
            add(.warn, "sigma rules", "none configured ([sigma] rules)")
        }
        if !cfg.yara.rules.isEmpty {
            let r = YaraRules.compile(directories: cfg.yara.rules)
            add(
                r.rules == nil ? .fail : (r.errors.isEmpty ? .ok : .warn), "yara rules",
                r.errors.isEmpty ? "compiled" : "\(r.errors.count) error(s), first: \(r.errors[0])")
        }
        if !cfg.ioc.rules.isEmpty {
            let r = IOCSet.load(directories: cfg.ioc.rules)
            add(
                r.diagnostics.isEmpty ? .ok : .warn, "ioc lists",
                r.diagnostics.isEmpty ? "\(r.files.count) file(s) loaded" : "\(r.diagnostics.count) bad line(s), first: \(r.diagnostics[0])")
        }

        let failed = checks.contains { $0.level == .fail }
        if json {
            let doc: [String: Any] = [
                "ok": !failed,
                "checks": checks.map { ["level": $0.level.rawValue, "name": $0.name, "detail": $0.detail] },
                "hooks": hooks.map { h -> [String: Any] in
                    var d: [String: Any] = ["program": h.program, "attach_point": h.attachPoint, "attached": h.attached]
                    if let r = h.reason { d["reason"] = r }
                    return d
                }
            ]
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            let width = checks.map(\.name.count).max() ?? 0
            for c in checks {
                print(
                    "\(c.level.rawValue.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0))  \(c.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(c.detail)"
                )
            }
            let attached = hooks.filter(\.attached).count
            print("\(attached) of \(hooks.count) hooks attached; " + (failed ? "the agent cannot run as configured" : "the agent can run"))
        }
        if failed { throw ExitCode(1) }
    }
}
