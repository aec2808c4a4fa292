import ArgumentParser
import EDRCore
import EDRSystem
import EDRSupervisor
import Foundation

/// `edr status`: the running agent's state as its supervisor last wrote it
/// (`<runtime_dir>/status.json`, every 2 s): each process's pid, uid, confinement, uptime,
/// restarts, events, loss, rules and the last reload, the alert file. Nothing connects to the
/// agent: there is nothing to connect to.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the running agent's processes, confinement, counters and loss.")

    @Option(name: .long, help: "The agent's TOML configuration (for [supervisor] runtime_dir).")
    var config: String?

    @Flag(name: .long, help: "Print the status document as JSON.")
    var json = false

    @Flag(name: .long, help: "Also write [metrics] textfile_dir/edr.prom (the per-process units' edr-metrics.timer runs this).")
    var writeMetrics = false

    /// `systemctl ARGS`' standard output, or nil when it cannot run.
    static func systemctl(_ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/systemctl")
        guard FileManager.default.isExecutableFile(atPath: p.executableURL!.path) else { return nil }
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: out, as: UTF8.self)
    }

    static func writeAtomically(_ path: String, _ text: String) throws {
        do { try writeFileAtomically(path, Array(text.utf8)) } catch { throw ValidationError("cannot write \(path): \(error)") }
    }

    func run() throws {
        let cfg: AgentConfig
        do { cfg = try AgentConfig.load(file: config.map(absolutePath), environment: environment()) } catch { throw ValidationError("\(error)") }
        let path = cfg.supervisor.runtimeDir + "/status.json"
        var data = FileManager.default.contents(atPath: path)
        var doc = data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let supervisorPID = Int32((doc?["supervisor"] as? [String: Any])?["pid"] as? Int ?? 0)
        if doc == nil || supervisorPID <= 0 || (kill(supervisorPID, 0) != 0 && errno != EPERM) {
            // No supervisor: the per-process units (edr.target), if they run.
            if let report = StatusReport.fromUnits(cfg, systemctl: Self.systemctl) {
                data = Data(report.json())
                doc = try JSONSerialization.jsonObject(with: data!) as? [String: Any]
                if writeMetrics {
                    // edr-metrics.timer: the file for node_exporter, and nothing on the terminal.
                    if !cfg.metrics.textfileDir.isEmpty {
                        let metrics = AgentMetrics()
                        metrics.update(report)
                        try Self.writeAtomically(cfg.metrics.textfileDir + "/edr.prom", String(decoding: metrics.exposition(), as: UTF8.self))
                    }
                    return
                }
            } else if writeMetrics {
                // Neither mode runs: a stale file would claim it does.
                if !cfg.metrics.textfileDir.isEmpty {
                    try Self.writeAtomically(cfg.metrics.textfileDir + "/edr.prom", String(decoding: AgentMetrics.stopped(), as: UTF8.self))
                }
                return
            } else if access(path, F_OK) == 0 && access(path, R_OK) != 0 {
                print("cannot read \(path): it is root's (mode 0640); run edr status as root")
                throw ExitCode(4)
            } else if doc == nil {
                print("edr is not running (no \(path), and no edr-*.service is active)")
                throw ExitCode(3)
            } else {
                print("edr is not running (supervisor pid \(supervisorPID) from \(path) is gone, and no edr-*.service is active)")
                throw ExitCode(3)
            }
        }
        guard let data, let doc else { throw ExitCode(3) }
        if writeMetrics { return }  // the supervisor writes the metrics itself
        let children = doc["children"] as? [[String: Any]] ?? []
        let allReady = children.allSatisfy { $0["ready"] as? Bool == true }
        if json {
            FileHandle.standardOutput.write(data)
        } else {
            print(Self.render(doc))
        }
        if !allReady { throw ExitCode(1) }
    }

    static func render(_ doc: [String: Any]) -> String {
        func num(_ d: [String: Any], _ k: String) -> Int { d[k] as? Int ?? 0 }
        let sup = doc["supervisor"] as? [String: Any] ?? [:]
        let head = doc["mode"] as? String == "units" ? "systemd units (edr.target)" : "supervisor pid \(num(sup, "pid"))"
        var lines = [
            "edr \(doc["version"] as? String ?? "?") — \(head), up \(duration(sup["uptime_seconds"] as? Double ?? 0)) (status of \(doc["updated"] as? String ?? "?"))"
        ]
        let children = doc["children"] as? [[String: Any]] ?? []
        for c in children {
            let name = (c["name"] as? String ?? "?").padding(toLength: 12, withPad: " ", startingAt: 0)
            guard c["running"] as? Bool == true else {
                lines.append("  \(name) NOT RUNNING  restarts \(num(c, "restarts"))")
                continue
            }
            let state = c["ready"] as? Bool == true ? "ready" : "starting"
            lines.append(
                "  \(name) pid \(num(c, "pid"))  uid \(num(c, "uid"))  \(state)  up \(duration(c["uptime_seconds"] as? Double ?? 0))  restarts \(num(c, "restarts"))"
            )
            let netns = c["own_network_namespace"] as? Bool == true ? "own" : "host"
            lines.append(
                "               CapEff \(c["cap_eff"] as? String ?? "?")  NoNewPrivs \(num(c, "no_new_privs"))  "
                    + "Seccomp \(num(c, "seccomp")) (\(num(c, "seccomp_filters")) filters)  netns \(netns)  RSS \(num(c, "rss_kib") / 1024) MiB"
            )
        }
        if let d = children.first(where: { $0["role"] as? String == "detect" })?["stats"] as? [String: Any] {
            lines.append(
                "  events \(num(d, "events")), alerts \(num(d, "alerts")) (\(num(d, "alerts_written")) lines written, \(num(d, "alert_write_errors")) write errors)"
            )
            lines.append(
                "  loss: kernel ring-full \(num(d, "kernel_ring_full")), too-large \(num(d, "kernel_too_large")), no-state \(num(d, "kernel_no_state")) "
                    + "of \(num(d, "kernel_submitted")) submitted; detector record errors \(num(d, "record_errors")); "
                    + "sensor holds \(num(d, "sensor_pending_frames")) unacknowledged frames"
            )
            lines.append("  rules: sigma \(num(d, "sigma_rules")), yara \(num(d, "yara_rules")); last reload: \(d["last_reload"] as? String ?? "none")")
            if num(d, "response_requests") > 0 || num(d, "response_outcomes") > 0 {
                lines.append(
                    "  response: \(num(d, "response_requests")) requests, \(num(d, "response_outcomes")) outcomes, \(num(d, "response_queue_full")) refused for a full queue"
                )
            }
        }
        if let r = children.first(where: { $0["role"] as? String == "respond" })?["stats"] as? [String: Any] {
            lines.append("  responder: \(num(r, "killed")) killed, \(num(r, "refused")) refused")
        }
        let a = doc["alerts"] as? [String: Any] ?? [:]
        lines.append("  alerts → \(a["path"] as? String ?? "?") (\(num(a, "size_bytes")) bytes, reopened \(num(a, "reopened")) times)")
        return lines.joined(separator: "\n")
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s)
        if t >= 86400 { return "\(t / 86400)d\((t % 86400) / 3600)h" }
        if t >= 3600 { return "\(t / 3600)h\((t % 3600) / 60)m" }
        if t >= 60 { return "\(t / 60)m\(t % 60)s" }
        return "\(t)s"
    }
}
