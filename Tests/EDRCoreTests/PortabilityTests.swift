import Foundation
import Glibc
import Testing
@testable import EDRCore

/// The modules every platform shares must stay buildable for Windows: no POSIX or Linux
/// module imported, no platform conditional outside EDRCore/Platform.swift, and no target
/// dependency on a Linux-only module. (This machine cannot compile for Windows; this check is
/// what keeps the shared code from drifting while nobody can.)
@Suite("Portable modules")
struct PortabilityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let portable = ["EDRCore", "EDRRegex", "EDRSigma", "EDRWindowsEvents"]
    /// What a portable module may depend on: each other, and libraries that build on Windows
    /// (swift-crypto's Crypto does: EDRCore uses its HMAC-SHA256 for agent.id).
    static let portableDependencies = Set(portable + ["CPCRE2", "TOMLKit", "Yams", "Logging", "Crypto"])
    static let platformModules: Set<String> = [
        "Glibc", "Darwin", "CLinux", "CSeccomp", "CCap", "CSpawn", "CLibBPF", "EDRSystem", "EDRConfinement", "WinSDK", "ucrt"
    ]

    @Test func sharedSourcesImportNoSystemModule() throws {
        var offences: [String] = []
        for module in Self.portable {
            let dir = Self.root.appendingPathComponent("Sources/\(module)")
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }
            #expect(!files.isEmpty, "\(module) has sources")
            for file in files where !(module == "EDRCore" && file == "Platform.swift") {
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let t = line.trimmingCharacters(in: .whitespaces)
                    if t.hasPrefix("import "), let name = t.split(separator: " ").last, Self.platformModules.contains(String(name)) {
                        offences.append("Sources/\(module)/\(file):\(n + 1): \(t)")
                    }
                    if t.hasPrefix("#if os(") || t.hasPrefix("#if canImport(") || t.hasPrefix("#elseif os(") {
                        offences.append("Sources/\(module)/\(file):\(n + 1): \(t) (platform code belongs in EDRCore/Platform.swift)")
                    }
                }
            }
        }
        #expect(offences.isEmpty, "\(offences.joined(separator: "\n"))")
    }

    @Test func sharedTargetsDependOnSharedTargetsOnly() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // A scratch path of its own: `swift test` holds the lock on .build.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("edr-dump-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        p.arguments = ["swift", "package", "--package-path", Self.root.path, "--scratch-path", scratch.path, "dump-package"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "swift package dump-package")
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let targets = try #require(json["targets"] as? [[String: Any]])
        var seen = 0
        for t in targets {
            guard let name = t["name"] as? String, Self.portable.contains(name) else { continue }
            seen += 1
            for dep in t["dependencies"] as? [[String: Any]] ?? [] {
                // {"byName": ["EDRCore", null]} / {"product": ["TOMLKit", "TOMLKit", null, null]} / {"target": [...]}
                let names = dep.values.compactMap { ($0 as? [Any])?.first as? String }
                for d in names {
                    #expect(Self.portableDependencies.contains(d), "\(name) depends on \(d), which does not build for Windows")
                }
            }
        }
        #expect(seen == Self.portable.count, "every portable module is a target")
    }

    @Test func timestampsMatchTheCLibrary() {
        // CivilTime replaced gmtime_r so the core needs no C time functions: same answers,
        // across leap years, centuries and the far past and future.
        var g = SplitMix64(seed: 7)
        var samples: [Int64] = [0, 951_782_400, 951_868_799, 4_107_542_400, -1, -86_400, 253_402_300_799]
        for _ in 0..<20_000 { samples.append(Int64(g.next() % 8_000_000_000) - 2_000_000_000) }
        for s in samples {
            var t = time_t(s)
            var tm = tm()
            gmtime_r(&t, &tm)
            let c = CivilTime(unixSeconds: s)
            let expected = [Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec)]
            #expect([c.year, c.month, c.day, c.hour, c.minute, c.second] == expected, "\(s)")
            if [c.year, c.month, c.day, c.hour, c.minute, c.second] != expected { break }
        }
        #expect(formatTimestamp(seconds: 951_782_400, nanos: 123_000_000, fractionDigits: 3) == "2000-02-29T00:00:00.123Z")
    }
}
