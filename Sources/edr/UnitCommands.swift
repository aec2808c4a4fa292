import ArgumentParser
import EDRCore
import EDRSystem
import Foundation

/// `edr reopen-alerts`: under the per-process units, root opens the alert file again (after
/// logrotate renamed it) and hands the descriptor to edr-detect over its control socket
/// (edr-detect-control.socket, root only): the detector cannot open a file for writing.
/// `systemctl reload edr-detect.service` runs it.
struct ReopenAlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reopen-alerts", abstract: "Hand edr-detect (its systemd unit) a freshly opened alert file.")

    @Option(name: .long, help: "The agent's TOML configuration ([alerts] path, [supervisor] runtime_dir).")
    var config: String?

    func run() throws {
        Log.setup(component: "edr", level: .info)
        let cfg: AgentConfig
        do { cfg = try AgentConfig.load(file: config.map(absolutePath), environment: environment()) } catch { throw ValidationError("\(error)") }
        let path = cfg.alerts.path
        guard path != "-" else { throw ValidationError("[alerts] path is \"-\" (standard output): nothing to reopen") }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw ValidationError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let socketPath = cfg.supervisor.runtimeDir + "/detect-control.sock"
        let sock: Int32
        do { sock = try UnixSocket.connect(path: socketPath) } catch {
            throw ValidationError("cannot reach edr-detect at \(socketPath): \(error) (is edr-detect.service running?)")
        }
        defer { close(sock) }
        try ControlChannel.sendPeer(fd, role: "alerts", over: sock)
        // The detector answers "OK alerts" once the new file is in place.
        var p = pollfd(fd: sock, events: Int16(POLLIN), revents: 0)
        var reply = [UInt8](repeating: 0, count: 128)
        let n = poll(&p, 1, 10_000) == 1 ? recv(sock, &reply, reply.count, 0) : -1
        let text = n > 0 ? String(decoding: reply[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
        guard text == "OK alerts" else { throw ValidationError("edr-detect did not take the alert file (\(text.isEmpty ? "no answer" : text))") }
        print("edr-detect writes to a reopened \(path)")
    }
}

/// `edr response-enabled`: exit 0 when [response] enabled is true, 1 otherwise. The
/// responder's unit runs it as ExecCondition=, so a disabled responder is not started at all
/// (no process holds CAP_KILL for nothing).
struct ResponseEnabledCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "response-enabled", abstract: "Exit 0 if [response] enabled is true (for edr-respond.service's ExecCondition=).")

    @Option(name: .long, help: "The agent's TOML configuration.")
    var config: String?

    func run() throws {
        if try !conditionConfig(config).response.enabled { throw ExitCode(1) }
    }
}

/// The configuration an ExecCondition= command decides on. A broken configuration is an error
/// (exit 255: the unit fails and says why), not a skip (exit 1).
private func conditionConfig(_ path: String?) throws -> AgentConfig {
    do { return try AgentConfig.load(file: path.map(absolutePath), environment: environment()) } catch {
        FileHandle.standardError.write(Data("edr: \(error)\n".utf8))
        throw ExitCode(255)
    }
}

/// `edr logs-enabled`: exit 0 when [logs] enabled is true, 1 otherwise. edr-logs.service runs
/// it as ExecCondition=, so with the default (`enabled = false`) no process holding the log
/// groups runs, as under `edr run`, where the supervisor starts edr-logs only when enabled.
/// The condition is read at each start: editing the file and `systemctl restart edr.target`
/// is all it takes, no unit to enable on its own.
struct LogsEnabledCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs-enabled", abstract: "Exit 0 if [logs] enabled is true (for edr-logs.service's ExecCondition=).")

    @Option(name: .long, help: "The agent's TOML configuration.")
    var config: String?

    func run() throws {
        let cfg = try conditionConfig(config)
        if !cfg.logs.enabled { throw ExitCode(1) }
        // Under the units the detector admits edr-logs by the uid of [logs] user: say so here,
        // where `systemctl status edr-logs` shows it, rather than as a refused connection.
        if cfg.logs.user.isEmpty {
            FileHandle.standardError.write(Data("edr: [logs] user must name edr-logs.service's user (\"edr-logs\") under the systemd units\n".utf8))
            throw ExitCode(255)
        }
    }
}

/// `edr unit-stopped --unit NAME`: each per-process unit's ExecStopPost= (run by systemd as
/// root after every stop). A process that did not end cleanly — killed, killed by its seccomp
/// filter, silent past its watchdog, exited with an error — becomes an `edr-health` alert in
/// the alert stream, as the supervisor reports it under `edr run`: a fleet that reads only
/// the alerts still sees an agent that is being blinded. systemd's variables say what happened.
struct UnitStoppedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit-stopped", abstract: "Report a per-process unit's unclean end as a health alert (ExecStopPost=).")

    @Option(name: .long, help: "The unit that stopped (e.g. edr-detect.service).")
    var unit: String

    @Option(name: .long, help: "The agent's TOML configuration ([alerts] path).")
    var config: String?

    func run() throws {
        let env = environment()
        guard
            let alert = Self.alert(
                unit: unit, result: env["SERVICE_RESULT"] ?? "", code: env["EXIT_CODE"] ?? "",
                status: env["EXIT_STATUS"] ?? "")
        else { return }
        let cfg: AgentConfig
        do { cfg = try AgentConfig.load(file: config.map(absolutePath), environment: env) } catch { throw ValidationError("\(error)") }
        let line = alert.encoded(host: .local(nameOverride: cfg.agent.hostName))
        if cfg.alerts.path == "-" { FileHandle.standardOutput.write(Data(line)); return }
        let fd = open(cfg.alerts.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw ValidationError("cannot open \(cfg.alerts.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// nil for a clean stop. `result`, `code`, `status`: $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS.
    static func alert(unit: String, result: String, code: String, status: String) -> HealthAlert? {
        // exec-condition: ExecCondition= skipped the unit (edr-respond or edr-logs disabled in
        // the configuration): nothing ran, nothing ended badly.
        guard result != "success", result != "exec-condition", !result.isEmpty else { return nil }
        let name = unit.hasSuffix(".service") ? String(unit.dropLast(8)) : unit
        var a: HealthAlert
        if result == "watchdog" {
            a = HealthAlert(
                ruleID: "edr-health-child-hung", title: "\(name) hung", level: "high", action: "child-hung",
                message: "\(name) sent no heartbeat within its WatchdogSec=; systemd killed it and restarts it")
        } else if (code == "killed" || code == "dumped") && status == "SYS" {
            a = HealthAlert(
                ruleID: "edr-health-seccomp-kill", title: "\(name) killed by its seccomp filter", level: "critical",
                action: "child-seccomp-violation",
                message: "\(name) killed by its seccomp filter (SIGSYS): a compromised or misbehaving process; the kernel's audit record names the call")
        } else if code == "killed" || code == "dumped" {
            a = HealthAlert(
                ruleID: "edr-health-child-killed", title: "\(name) killed", level: "high", action: "child-killed",
                message: "\(name) killed by signal \(status); systemd restarts it")
        } else {
            a = HealthAlert(
                ruleID: "edr-health-child-died", title: "\(name) exited", level: "medium", action: "child-exited",
                message: "\(name) exited with status \(status) (\(result)); systemd restarts it")
        }
        a.processName = name
        a.fields = [("unit", unit), ("service_result", result), ("exit_code", code), ("exit_status", status)]
        return a
    }
}
