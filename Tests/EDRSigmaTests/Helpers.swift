import EDRCore
@testable import EDRSigma
import Foundation

let procLS = LogSource(product: "linux", category: "process_creation")

/// An engine from YAML text (one file).
func engine(_ yaml: String, options: SigmaOptions = SigmaOptions()) -> SigmaEngine {
    SigmaEngine.load(sources: [(name: "test.yml", yaml: yaml)], options: options)
}

/// A rule document around a detection block (given with its own keys at column 0).
func ruleYAML(
    _ detection: String, id: String = "00000000-0000-0000-0000-000000000001", title: String = "test rule",
    level: String = "high", logsource: String = "product: linux\n    category: process_creation", name: String? = nil
) -> String {
    let det = detection.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
    return """
        title: \(title)
        id: \(id)
        \(name.map { "name: \($0)\n" } ?? "")logsource:
            \(logsource)
        detection:
        \(det)
        level: \(level)
        """
}

func ev(_ fields: [(String, FieldValue)], ls: LogSource = procLS, t: Double = 0) -> Event {
    Event(logsource: ls, timestamp: t, fields: fields)
}

/// Whether a single-rule engine built from `detection` matches the event. Fails the test
/// (returns nil) if the rule did not load.
func matches(_ detection: String, _ fields: [(String, FieldValue)], options: SigmaOptions = SigmaOptions()) -> Bool? {
    let e = engine(ruleYAML(detection), options: options)
    guard e.loadedCount == 1 else { return nil }
    return !e.evaluate(ev(fields)).isEmpty
}

func rejection(_ detection: String) -> String? {
    let e = engine(ruleYAML(detection))
    for d in e.diagnostics { if case .rejected(let r) = d.status { return r } }
    return nil
}

/// ../shared/corpora relative to the repository root (found from this file's path).
func corpusRoot() -> String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }  // Helpers.swift → EDRSigmaTests → Tests → repo
    // In the dev package the tests directory is a symlink: resolve it.
    let resolved = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    var r = resolved
    for _ in 0..<3 { r.deleteLastPathComponent() }
    for base in [url, r] {
        let c = base.deletingLastPathComponent().appendingPathComponent("shared/corpora").path
        if FileManager.default.fileExists(atPath: c) { return c }
    }
    return r.deletingLastPathComponent().appendingPathComponent("shared/corpora").path
}
