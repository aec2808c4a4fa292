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

    func validate() throws {
        if rules.isEmpty && yara.isEmpty && ioc.isEmpty { throw ValidationError("give at least one --rules, --yara or --ioc DIR") }
    }

    func run() throws {
        var options = SigmaOptions()
        if !allLogsources { options.collectedLogSources = DetectorLogSources.collected }
        let engine: SigmaEngine
        do { engine = try SigmaEngine.load(paths: rules, options: options) } catch {
            throw ValidationError("cannot read rules: \(error.localizedDescription)")
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
            if !json { out += "YARA: \(r.compiledFiles.count) of \(r.files.count) files compiled, \(yaraRules) rules\n" + yaraErrors.map { "REJECTED \($0)\n" }.joined() }
        }
        if !ioc.isEmpty {
            let r = IOCSet.load(directories: ioc)
            iocErrors = r.diagnostics.map(\.description)
            iocCounts = r.set.counts.description
            if !json { out += "IOC: \(iocCounts) from \(r.files.count) files\n" + iocErrors.map { "REJECTED \($0)\n" }.joined() }
        }
        if json {
            var doc: [String: Any] = ["rules": entries,
                                      "totals": ["documents": engine.diagnostics.count, "loaded": loaded, "rejected": rejected, "inert": inert]]
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
