import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// What `edr status` and the metrics show: the supervisor's view of each child (from /proc and
/// from the STATS lines the children send on their control channel), written by the
/// supervisor to `<runtime_dir>/status.json` and, when configured, as Prometheus text to
/// `<textfile_dir>/edr.prom` (node_exporter's textfile collector serves it; no agent process
/// listens on a network socket).
public struct StatusReport {
    public struct ChildState {
        var name: String
        var role: String
        var pid: Int32
        var ready: String?
        var uptimeSeconds: Double
        var restarts: Int
        var stats: [String: String]
    }

    /// 0 under the per-process units (no supervisor: systemd is PID 1).
    var supervisorPID: Int32
    var startedAt: Double
    var uptimeSeconds: Double
    var alertsPath: String
    var alertsReopened: Int
    var responseEnabled: Bool
    var dryRun: Bool
    var children: [ChildState]

    /// Parses "STATS k=v k=v … last_reload=free text".
    static func parseStats(_ line: String) -> [String: String] {
        var out: [String: String] = [:]
        var rest = Substring(line.hasPrefix("STATS ") ? line.dropFirst(6) : Substring(line))
        if let r = rest.range(of: "last_reload=") {
            out["last_reload"] = String(rest[r.upperBound...])
            rest = rest[..<r.lowerBound]
        }
        for pair in rest.split(separator: " ") {
            guard let eq = pair.firstIndex(of: "=") else { continue }
            out[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        return out
    }

    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.field("version", AgentVersion.version)
        w.field("mode", supervisorPID > 0 ? "supervisor" : "units")
        w.field("updated", formatTimestamp(epochSeconds: wallClockNow()))
        w.key("supervisor"); w.beginObject()
        w.field("pid", supervisorPID)
        w.field("started", formatTimestamp(epochSeconds: startedAt))
        w.key("uptime_seconds"); w.double((uptimeSeconds * 10).rounded() / 10)
        w.endObject()
        w.key("alerts"); w.beginObject()
        w.field("path", alertsPath)
        w.field("reopened", alertsReopened)
        var st = stat()
        if alertsPath != "-", stat(alertsPath, &st) == 0 { w.field("size_bytes", Int64(st.st_size)) }
        w.endObject()
        w.key("response"); w.beginObject(); w.field("enabled", responseEnabled); w.field("dry_run", dryRun); w.endObject()
        w.key("children"); w.beginArray()
        for c in children {
            w.beginObject()
            w.field("name", c.name)
            w.field("role", c.role)
            w.field("pid", c.pid)
            w.field("running", c.pid > 0)
            w.field("ready", c.ready != nil)
            w.field("ready_line", c.ready)
            if c.pid > 0, let p = try? ProcStatus.read(pid: c.pid) {
                w.field("uid", p.uids.first ?? 0)
                w.field("cap_eff", capabilityNames(p.capEff))
                w.field("no_new_privs", p.noNewPrivs)
                w.field("seccomp", p.seccomp)
                w.field("seccomp_filters", p.seccompFilters)
                w.field("own_network_namespace", namespaceLink(pid: c.pid, "net") != namespaceLink(pid: supervisorPID > 0 ? supervisorPID : 1, "net"))
                w.field("rss_kib", p.vmRSSKiB)
            }
            w.key("uptime_seconds"); w.double((c.uptimeSeconds * 10).rounded() / 10)
            w.field("restarts", c.restarts)
            w.key("stats"); w.beginObject()
            for k in c.stats.keys.sorted() {
                if let n = Int64(c.stats[k]!) { w.field(dynamic: k, n) } else { w.field(dynamic: k, c.stats[k]!) }
            }
            w.endObject()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.line
    }
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, then rename), mode 0644.
/// The supervisor's status and metrics files: a failed write is logged, not fatal.
func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) {
    do { try writeFileAtomically(path, bytes, mode: mode) } catch { Log.warning("\(error)") }
}

extension StatusReport {
    /// The agent as one systemd unit per process (edr.target) reports itself: each unit's main
    /// process, state, restarts (NRestarts) and last status line (StatusText: the child's
    /// READY or STATS line, sent with sd_notify). nil when none of the units is active.
    public static func fromUnits(_ c: AgentConfig, systemctl: (([String]) -> String?)) -> StatusReport? {
        let units = [("edr-sensor", "sensor"), ("edr-detect", "detect"), ("edr-respond", "respond"), ("edr-logs", "logs")]
        guard
            let out = systemctl(
                ["show", "-p", "Id,MainPID,ActiveState,SubState,NRestarts,StatusText,ExecMainStartTimestampMonotonic"]
                    + units.map { $0.0 + ".service" })
        else { return nil }
        var blocks: [[String: String]] = []
        var current: [String: String] = [:]
        for line in out.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                if !current.isEmpty { blocks.append(current); current = [:] }
                continue
            }
            if let eq = line.firstIndex(of: "=") { current[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
        }
        if !current.isEmpty { blocks.append(current) }
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let nowMicros = Double(ts.tv_sec) * 1e6 + Double(ts.tv_nsec) / 1e3
        var children: [ChildState] = []
        var earliest = Double.infinity
        for (name, role) in units {
            guard let b = blocks.first(where: { $0["Id"] == name + ".service" }) else { continue }
            let active = b["ActiveState"] == "active" && b["SubState"] == "running"
            // A responder skipped by its ExecCondition (response disabled) is not listed.
            if role == "respond" && !c.response.enabled && !active { continue }
            // Likewise the log reader with [logs] enabled = false.
            if role == "logs" && !c.logs.enabled && !active { continue }
            let pid = active ? Int32(b["MainPID"] ?? "0") ?? 0 : 0
            let started = Double(b["ExecMainStartTimestampMonotonic"] ?? "0") ?? 0
            if active && started > 0 { earliest = min(earliest, started) }
            let text = b["StatusText"] ?? ""
            children.append(
                ChildState(
                    name: name, role: role, pid: pid, ready: active && !text.isEmpty ? text : nil,
                    uptimeSeconds: active && started > 0 ? (nowMicros - started) / 1e6 : 0,
                    restarts: Int(b["NRestarts"] ?? "0") ?? 0,
                    stats: text.hasPrefix("STATS ") ? parseStats(text) : [:]))
        }
        guard children.contains(where: { $0.pid > 0 }) else { return nil }
        let up = earliest.isFinite ? (nowMicros - earliest) / 1e6 : 0
        return StatusReport(
            supervisorPID: 0, startedAt: wallClockNow() - up, uptimeSeconds: up,
            alertsPath: c.alerts.path, alertsReopened: 0, responseEnabled: c.response.enabled,
            dryRun: c.response.dryRun, children: children)
    }
}
