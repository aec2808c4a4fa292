import EDRCore
@testable import EDRSigma
import Foundation
import Testing

/// A rejection reason without the rule's own words, to count rejections by kind.
func reasonClass(_ r: String) -> String {
    if let q = r.firstIndex(of: "'"), r.hasPrefix("unknown modifier") { return String(r[..<q]) + "…" }
    return String(r.prefix(90))
}

func corpusReport(_ dir: String) throws -> (engine: SigmaEngine, loaded: Int, rejected: Int, inert: Int, reasons: [(String, Int)]) {
    let e = try SigmaEngine.load(paths: [dir])
    var l = 0, r = 0, i = 0
    var reasons: [String: Int] = [:]
    for d in e.diagnostics {
        switch d.status {
        case .loaded: l += 1
        case .inert: i += 1
        case .rejected(let why): r += 1; reasons[reasonClass(why), default: 0] += 1
        }
    }
    return (e, l, r, i, reasons.sorted { $0.value > $1.value })
}

@Test func linuxCorpusLoads() throws {
    let dir = corpusRoot() + "/sigmahq/rules/linux"
    try #require(FileManager.default.fileExists(atPath: dir), "corpus missing at \(dir)")
    let rep = try corpusReport(dir)
    print("SigmaHQ linux: loaded \(rep.loaded), rejected \(rep.rejected), inert \(rep.inert); reasons: \(rep.reasons.prefix(5))")
    // The corpus is a fixed, read-only copy: exact counts.
    #expect(rep.loaded == 210 && rep.rejected == 0 && rep.inert == 0)
    for d in rep.engine.diagnostics { if case .rejected(let r) = d.status { #expect(!r.isEmpty) } }
    // Evaluate the benchmark mix against it: no crash.
    for ev in SigmaEventMix.events(count: 500) { _ = rep.engine.evaluate(ev) }
}

@Test func windowsCorpusLoads() throws {
    let dir = corpusRoot() + "/sigmahq/rules/windows"
    try #require(FileManager.default.fileExists(atPath: dir), "corpus missing at \(dir)")
    let rep = try corpusReport(dir)
    print("SigmaHQ windows: loaded \(rep.loaded), rejected \(rep.rejected), inert \(rep.inert); reasons: \(rep.reasons.prefix(5))")
    #expect(rep.loaded == 2407 && rep.rejected == 0 && rep.inert == 0)
    for ev in SigmaEventMix.events(count: 500) { _ = rep.engine.evaluate(ev) }
}

@Test func wholeCorpusTreeNeverCrashes() throws {
    // Everything else in the corpus (cloud, network, web, emerging threats, hunting) too.
    let root = corpusRoot() + "/sigmahq"
    try #require(FileManager.default.fileExists(atPath: root))
    var dirs: [String] = []
    for sub in [
        "rules/application", "rules/category", "rules/cloud", "rules/identity", "rules/macos", "rules/network",
        "rules/web", "rules-emerging-threats", "rules-threat-hunting", "rules-compliance", "rules-placeholder",
        "rules-dfir", "deprecated", "unsupported"
    ] {
        if FileManager.default.fileExists(atPath: root + "/" + sub) { dirs.append(root + "/" + sub) }
    }
    let rep = try SigmaEngine.load(paths: dirs)
    let rejected = rep.diagnostics.filter {
        if case .rejected = $0.status { return true }; return false
    }
    print("SigmaHQ other trees: \(rep.diagnostics.count) documents, loaded \(rep.loadedCount), rejected \(rejected.count)")
    #expect(rep.diagnostics.count == 1137 && rep.loadedCount == 1135 && rejected.count == 2)
    for d in rejected { if case .rejected(let r) = d.status { #expect(!r.isEmpty, "\(d.path)") } }
    for ev in SigmaEventMix.events(count: 300) { _ = rep.evaluate(ev) }
}

@Test func specificationExamplesLoad() throws {
    let base = corpusRoot() + "/sigma-specification/tests/schema"
    try #require(FileManager.default.fileExists(atPath: base))
    let e = try SigmaEngine.load(paths: [base])
    for d in e.diagnostics {
        print("spec example \((d.path as NSString).lastPathComponent): \(d.kind) \(d.status)")
    }
    #expect(e.diagnostics.contains { $0.kind == .correlation })
}
