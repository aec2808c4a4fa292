import ArgumentParser
import EDRCore
import EDRDetect
import EDRIOC
import EDRSigma
import EDRYara
import Foundation

/// `edr validate --rules DIR [--rules DIR …] [--json]`: loads rules exactly as the detector
/// would and reports every document's status. Exit status 1 if any document is rejected.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check Sigma rules: per-rule status (loaded, rejected with reason, inert) and totals.")

    @Option(name: .long, help: "A rule file or directory (searched recursively for .yml/.yaml); repeatable.")
    var rules: [String] = []

    @Option(name: .long, help: "A YARA rule directory to compile (every .yar/.yara file); repeatable.")
    var yara: [String] = []

    @Option(name: .long, help: "An IOC directory (domains.txt, ips.txt, hashes.txt, paths_regex.txt); repeatable.")
    var ioc: [String] = []

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    @Flag(name: .long, help: "Treat every logsource as collected (no rule is inert).")
    var allLogsources = false

    @Flag(name: .long, help: "Text mode: list only rejected and inert rules.")
    var quiet = false

    @Flag(name: .long, help: "Per detection rule: live or inert on this platform and why, then counts per logsource.")
    var coverage = false

    @Option(name: .long, help: "With --coverage: the agent's TOML configuration in force (default: the built-in defaults, where [logs] is off).")
    var config: String?

    func validate() throws {
        if rules.isEmpty && yara.isEmpty && ioc.isEmpty { throw ValidationError("give at least one --rules, --yara or --ioc DIR") }
    }

    func run() throws {
        let options = allLogsources ? SigmaOptions() : DetectorLogSources.sigmaOptions()
        let engine: SigmaEngine
        do { engine = try SigmaEngine.load(paths: rules, options: options) } catch {
            throw ValidationError("cannot read rules: \(error.localizedDescription)")
        }
        if coverage {
            // The log services are live only when edr-logs runs: the configuration decides.
            let cfg: AgentConfig
            do { cfg = try AgentConfig.load(file: config.map(absolutePath), environment: environment()) } catch { throw ValidationError("\(error)") }
            let report = CoverageReport(engine.diagnostics, logsEnabled: allLogsources || cfg.logs.enabled)
            if json {
                let data = try JSONSerialization.data(withJSONObject: report.json, options: [.prettyPrinted, .sortedKeys])
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            } else {
                FileHandle.standardOutput.write(Data(report.text(quiet: quiet).utf8))
            }
            if report.rejected > 0 { throw ExitCode(1) }
            return
        }
        var loaded = 0, rejected = 0, inert = 0
        var entries: [[String: Any]] = []
        var out = ""
        for d in engine.diagnostics {
            var status = "loaded", reason: String? = nil
            switch d.status {
            case .loaded: loaded += 1
            case .rejected(let r): rejected += 1; status = "rejected"; reason = r
            case .inert(let r): inert += 1; status = "inert"; reason = r
            }
            if json {
                var e: [String: Any] = ["path": d.path, "kind": d.kind.rawValue, "status": status, "document": d.document]
                if let id = d.ruleID { e["id"] = id }
                if let t = d.title { e["title"] = t }
                if let r = reason { e["reason"] = r }
                if !d.neverTrue.isEmpty { e["never_true"] = d.neverTrue }
                entries.append(e)
            } else if !(quiet && status == "loaded") {
                let doc = d.document > 0 ? "#\(d.document)" : ""
                out += "\(status.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0)) \(d.path)\(doc)"
                if let id = d.ruleID { out += " [\(id)]" }
                if d.kind != .rule { out += " (\(d.kind.rawValue))" }
                if let r = reason { out += ": \(r)" } else if let t = d.title { out += " \(t)" }
                out += "\n"
            }
        }
        // YARA and IOC files: every error with file and line, as the detector would report it.
        var yaraErrors: [String] = [], iocErrors: [String] = []
        var yaraRules = 0, iocCounts = ""
        if !yara.isEmpty {
            let r = YaraRules.compile(directories: yara)
            yaraErrors = r.errors.map(\.description)
            yaraRules = r.rules?.ruleCount ?? 0
            if !json {
                out +=
                    "YARA: \(r.compiledFiles.count) of \(r.files.count) files compiled, \(yaraRules) rules\n" + yaraErrors.map { "REJECTED \($0)\n" }.joined()
            }
        }
        if !ioc.isEmpty {
            let r = IOCSet.load(directories: ioc)
            iocErrors = r.diagnostics.map(\.description)
            iocCounts = r.set.counts.description
            if !json { out += "IOC: \(iocCounts) from \(r.files.count) files\n" + iocErrors.map { "REJECTED \($0)\n" }.joined() }
        }
        if json {
            var doc: [String: Any] = [
                "rules": entries,
                "totals": ["documents": engine.diagnostics.count, "loaded": loaded, "rejected": rejected, "inert": inert]
            ]
            if !yara.isEmpty { doc["yara"] = ["rules": yaraRules, "errors": yaraErrors] }
            if !ioc.isEmpty { doc["ioc"] = ["counts": iocCounts, "errors": iocErrors] }
            let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
            FileHandle.standardOutput.write(data)
            FileHandle.standardOutput.write(Data("\n".utf8))
        } else {
            out += "\(engine.diagnostics.count) documents: \(loaded) loaded, \(rejected) rejected, \(inert) inert\n"
            FileHandle.standardOutput.write(Data(out.utf8))
        }
        if rejected > 0 || !yaraErrors.isEmpty || !iocErrors.isEmpty { throw ExitCode(1) }
    }
}

/// `edr validate --coverage`: each detection rule live or inert on this platform, and why; a
/// rule that is live but has a selection that can never be true says so (partially live). A
/// rule on one of the host's log services (syslog, sshd, cron, …) is live only while edr-logs
/// runs, which `[logs] enabled = false` (the default) prevents: under such a configuration it
/// is counted apart, as `logs-off`, not as live.
struct CoverageReport {
    struct Row {
        var path: String
        var id: String?
        var title: String?
        var logsource: String
        var status: String
        var reason: String?
    }

    var rows: [Row] = []
    var rejected = 0
    let logsEnabled: Bool
    static let logsOff = "logs-off"

    init(_ diagnostics: [SigmaRuleDiagnostic], logsEnabled: Bool) {
        self.logsEnabled = logsEnabled
        for d in diagnostics where d.kind == .rule || d.kind == .file || d.kind == .correlation {
            let ls = d.logsource.map(Self.name) ?? (d.kind == .correlation ? "correlation" : "unparsed")
            var row = Row(path: d.path, id: d.ruleID, title: d.title, logsource: ls, status: "live", reason: nil)
            switch d.status {
            case .loaded:
                if !d.neverTrue.isEmpty {
                    row.status = "partial"
                    row.reason = "live; can never be true: " + d.neverTrue.joined(separator: "; ")
                }
                if !logsEnabled, let l = d.logsource, l.product == "linux", let s = l.service, HostLogServices.all.contains(s) {
                    row.status = Self.logsOff
                    row.reason =
                        "live only with [logs] enabled (service \(s) is read from the host's logs by edr-logs; the configuration in force has [logs] enabled = false)"
                        + (row.reason.map { "; " + $0 } ?? "")
                }
            case .rejected(let r):
                rejected += 1
                row.status = "rejected"
                row.reason = r
            case .inert(let r):
                row.status = "inert"
                // Another platform's or a service's log: say which reader is missing.
                if let l = d.logsource, r.hasPrefix("logsource ") {
                    if let s = l.service {
                        row.reason = "service \(s): no reader on this platform"
                    } else if let c = l.category {
                        row.reason = "category \(c): not collected on this platform"
                    } else {
                        row.reason = "product \(l.product ?? "?"): not collected on this platform"
                    }
                } else {
                    row.reason = r
                }
            }
            rows.append(row)
        }
    }

    /// `linux/auditd`, `linux/process_creation`, `windows/process_creation` …
    static func name(_ l: LogSource) -> String {
        [l.product, l.service ?? l.category].compactMap { $0 }.joined(separator: "/")
    }

    /// Per logsource: (live, partial, inert, rejected), in order of first appearance.
    var summary: [(logsource: String, counts: [String: Int])] {
        var order: [String] = []
        var counts: [String: [String: Int]] = [:]
        for r in rows {
            if counts[r.logsource] == nil { order.append(r.logsource); counts[r.logsource] = [:] }
            counts[r.logsource]![r.status, default: 0] += 1
        }
        return order.sorted().map { ($0, counts[$0]!) }
    }

    func text(quiet: Bool) -> String {
        var out = ""
        for r in rows where !(quiet && r.status == "live") {
            out +=
                "\(r.status.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0)) \(r.logsource.padding(toLength: 28, withPad: " ", startingAt: 0)) \(r.path)"
            if let id = r.id { out += " [\(id)]" }
            if let t = r.title { out += " \(t)" }
            if let reason = r.reason { out += "\n         \(reason)" }
            out += "\n"
        }
        out += "\ncoverage by logsource (live includes partial\(logsEnabled ? "" : "; LOGS-OFF: live only with [logs] enabled")):\n"
        var total: [String: Int] = [:]
        for (ls, c) in summary {
            let live = (c["live"] ?? 0) + (c["partial"] ?? 0)
            out += "  \(ls.padding(toLength: 30, withPad: " ", startingAt: 0)) \(live) live"
            if let p = c["partial"] { out += " (\(p) partially)" }
            if let o = c[Self.logsOff] { out += ", \(o) live only with [logs] enabled" }
            out += ", \(c["inert"] ?? 0) inert"
            if let x = c["rejected"] { out += ", \(x) rejected" }
            out += "\n"
            for (k, v) in c { total[k, default: 0] += v }
        }
        let live = (total["live"] ?? 0) + (total["partial"] ?? 0)
        let off = logsEnabled ? "" : ", \(total[Self.logsOff] ?? 0) live only with [logs] enabled"
        out +=
            "\(rows.count) rules: \(live) live (\(total["partial"] ?? 0) partially)\(off), \(total["inert"] ?? 0) inert, \(total["rejected"] ?? 0) rejected\n"
        return out
    }

    var json: [String: Any] {
        var totals: [String: Int] = ["rules": rows.count]
        var per: [String: [String: Int]] = [:]
        for (ls, c) in summary {
            per[ls] = c
            for (k, v) in c { totals[k, default: 0] += v }
        }
        return [
            "rules": rows.map { r -> [String: Any] in
                var e: [String: Any] = ["path": r.path, "logsource": r.logsource, "status": r.status]
                if let id = r.id { e["id"] = id }
                if let t = r.title { e["title"] = t }
                if let x = r.reason { e["reason"] = x }
                return e
            },
            "logsources": per,
            "totals": totals,
            "logs_enabled": logsEnabled
        ]
    }
}
