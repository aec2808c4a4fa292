import EDRCore
@testable import EDRSigma
import Foundation
import Testing

/// Runs a program with its output in a file (no pipe to fill) and a deadline: a hung oracle
/// fails the test instead of stalling the suite. Returns (exit status, stdout+stderr).
func run(_ executable: String, _ args: [String], timeout: Double) -> (Int32, String) {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("edr-run-\(UUID().uuidString)").path
    FileManager.default.createFile(atPath: out, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: out) }
    guard let handle = FileHandle(forWritingAtPath: out) else { return (-1, "cannot open \(out)") }
    defer { try? handle.close() }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    p.standardOutput = handle
    p.standardError = handle
    do { try p.run() } catch { return (-1, "\(executable): \(error)") }
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    let timedOut = p.isRunning
    if timedOut { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    return timedOut ? (-1, "\(executable) \(args) killed after \(Int(timeout)) s:\n\(text)") : (p.terminationStatus, text)
}

/// The Python with pysigma and pysigma-backend-sqlite: EDR_PYTHON (`make test` sets it to the
/// virtualenv `make pydeps` builds), else that virtualenv if it exists.
func oraclePython() -> String? {
    if let p = ProcessInfo.processInfo.environment["EDR_PYTHON"], !p.isEmpty { return p }
    var root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    for _ in 0..<3 { root.deleteLastPathComponent() }
    let venv = root.appendingPathComponent(".build/pyenv/bin/python").path
    return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
}

/// Differential test: pySigma's SQLite backend (Tests/EDRSigmaTests/Oracle/oracle.py) and this
/// engine must agree on every generated event for every Linux SigmaHQ rule both accept.
/// A missing oracle is a failure, not a skip: `make pydeps` (run by `make test`) builds it.
@Test func differentialAgainstPySigma() throws {
    let python = try #require(
        oraclePython(), "no oracle Python: run `make pydeps` (builds .build/pyenv) or set EDR_PYTHON to a python with pysigma and pysigma-backend-sqlite")
    let check = run(python, ["-c", "import sigma.backends.sqlite"], timeout: 120)
    try #require(check.0 == 0, "\(python) cannot import sigma.backends.sqlite (run `make pydeps`): \(check.1)")
    // SIGMA_ORACLE_RULES=windows (or any directory under the corpus' rules/) widens the run.
    let sub = ProcessInfo.processInfo.environment["SIGMA_ORACLE_RULES"] ?? "linux"
    let rulesDir = corpusRoot() + "/sigmahq/rules/" + sub
    try #require(FileManager.default.fileExists(atPath: rulesDir))
    let script = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent()
        .appendingPathComponent("Oracle/oracle.py").path
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("edr-sigma-oracle-\(getpid()).json").path
    defer { try? FileManager.default.removeItem(atPath: out) }
    let (status, log) = run(python, [script, rulesDir, out], timeout: 1800)
    print(log.trimmingCharacters(in: .whitespacesAndNewlines))
    try #require(status == 0, "oracle failed: \(log)")
    let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
    let rawEvents = try #require(json["events"] as? [[String: Any]])
    let rules = try #require(json["rules"] as? [String: [String: Any]])

    let engine = try SigmaEngine.load(paths: [rulesDir])
    var loadedPaths = Set<String>()
    for d in engine.diagnostics where d.status == .loaded { loadedPaths.insert(d.path) }

    // Our matches per rule path.
    var ours: [String: Set<Int>] = [:]
    let events = rawEvents.map { raw -> Event in
        let ls = raw["logsource"] as? [String: Any] ?? [:]
        let fields = (raw["fields"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map { (k, v) -> (String, FieldValue) in
            (k, .string(v as? String ?? "\(v)"))
        }
        return Event(
            logsource: LogSource(
                product: ls["product"] as? String, category: ls["category"] as? String,
                service: ls["service"] as? String), timestamp: 0, fields: fields)
    }
    let started = ContinuousClock.now
    for (i, event) in events.enumerated() {
        for m in engine.evaluate(event) { ours[m.rule.path, default: []].insert(i) }
    }
    // A figure for docs/benchmarks.md, beside the oracle's own timing (printed by oracle.py).
    let took = ContinuousClock.now - started
    let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
    print(
        "edr engine: \(events.count) events through all loaded rules in \(String(format: "%.4f", seconds)) s (\(Int(Double(events.count) / max(seconds, 1e-9))) events/s, this build's optimization level)"
    )
    // Events the oracle cannot judge (textual cidr on an address-like non-address) are left out.
    let unsure = Set(rawEvents.indices.filter { (rawEvents[$0]["oracle_unsure"] as? Bool) == true })
    var compared = 0, agreed = 0, oracleErrors = 0, positives = 0
    var disagreements: [String] = []
    for (path, r) in rules.sorted(by: { $0.key < $1.key }) {
        guard let m = r["matches"] as? [Int] else { oracleErrors += 1; continue }
        guard loadedPaths.contains(path) else { continue }
        compared += 1
        let theirs = Set(m).subtracting(unsure)
        let mine = (ours[path] ?? []).subtracting(unsure)
        positives += theirs.count
        if theirs == mine { agreed += 1; continue }
        let onlyOracle = theirs.subtracting(mine).sorted().prefix(3)
        let onlyOurs = mine.subtracting(theirs).sorted().prefix(3)
        var msg = "\((path as NSString).lastPathComponent): oracle-only \(Array(onlyOracle)), ours-only \(Array(onlyOurs))"
        if let e = (onlyOracle.first ?? onlyOurs.first) { msg += " event \(rawEvents[e]["fields"] ?? "")" }
        disagreements.append(msg)
    }
    print(
        "differential: \(rawEvents.count) events (\(unsure.count) left out as beyond the oracle), \(compared) rules compared, \(agreed) agree, \(positives) oracle matches, \(oracleErrors) rules the oracle could not convert"
    )
    for d in disagreements { print("DISAGREE \(d)") }
    // The corpus, the generator (seeded) and the oracle (pinned by `make pydeps`) are fixed:
    // exact figures for the Linux rules.
    if sub == "linux" {
        #expect(rawEvents.count == 3162 && unsure.count == 20)
        #expect(compared == 210 && oracleErrors == 0)
        #expect(positives == 1726, "the generator's positives changed")
    }
    #expect(positives > 0)
    #expect(disagreements.isEmpty)
}
