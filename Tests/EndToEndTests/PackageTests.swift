import Testing
import Foundation

/// The Debian package `make deb` built (make test builds it first): lintian-clean, the files a
/// fleet expects, static binaries that run without a Swift toolchain, a unit systemd accepts
/// and whose exposure stays low.
@Suite("Debian package", .serialized)
struct PackageTests {
    static let debDirectory = repoRoot.appendingPathComponent(".build/deb").path

    static func deb() throws -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: debDirectory)) ?? []
        let deb = try #require(names.filter { $0.hasSuffix(".deb") }.sorted().last, "no package in \(debDirectory): run `make deb` (make test does)")
        return debDirectory + "/" + deb
    }

    static func run(_ path: String, _ args: [String], timeout: Double = 300) throws -> (status: Int32, output: String) {
        try runWithDeadline(path, args, timeout: timeout)
    }

    @Test func lintianFindsNoError() throws {
        let r = try Self.run("/usr/bin/lintian", ["--suppress-tags", "initial-upload-closes-no-bugs,no-manual-page", try Self.deb()])
        let findings = r.output.split(separator: "\n").filter { $0.hasPrefix("E:") || $0.hasPrefix("W:") }
        #expect(findings.isEmpty, "\(r.output)")
        #expect(r.status == 0, "\(r.output)")
    }

    @Test func packageHoldsWhatAFleetExpects() throws {
        let deb = try Self.deb()
        let contents = try Self.run("/usr/bin/dpkg-deb", ["-c", deb]).output
        for path in [
            "./usr/lib/edr/edr", "./usr/lib/edr/edr-sensor", "./usr/lib/edr/edr-detect", "./usr/lib/edr/edr-respond",
            "./usr/lib/edr/edr.bpf.o", "./usr/bin/edr -> ../lib/edr/edr", "./etc/edr/edr.toml", "./etc/logrotate.d/edr",
            "./lib/systemd/system/edr.service", "./lib/systemd/system/edr.target",
            "./lib/systemd/system/edr-sensor.service", "./lib/systemd/system/edr-sensor.socket",
            "./lib/systemd/system/edr-detect.service", "./lib/systemd/system/edr-detect.socket",
            "./lib/systemd/system/edr-detect-control.socket", "./lib/systemd/system/edr-respond.service",
            "./lib/systemd/system/edr-detect-logs.socket", "./lib/systemd/system/edr-logs.service", "./usr/lib/edr/edr-logs", "./usr/lib/sysusers.d/edr.conf",
            "./usr/lib/tmpfiles.d/edr.conf",
            "./usr/share/edr/rules/sigma/whoami_as_root.yml", "./usr/share/doc/edr/copyright", "./usr/share/doc/edr/security.md.gz"
        ] {
            #expect(contents.contains(path), "\(path) missing")
        }
        let conffiles = try Self.run("/usr/bin/dpkg-deb", ["-I", deb, "conffiles"]).output
        #expect(conffiles.split(separator: "\n").sorted() == ["/etc/edr/edr.toml", "/etc/logrotate.d/edr"])
        let control = try Self.run("/usr/bin/dpkg-deb", ["-f", deb, "Depends"]).output
        #expect(control.contains("libbpf1") && control.contains("libyara9") && !control.contains("swift"), "\(control)")
    }

    /// The packaged binaries need no Swift toolchain, and the packaged configuration and rules load.
    @Test func packagedBinariesRunOnTheirOwn() throws {
        let root = "/tmp/edr-deb-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try Self.run("/usr/bin/dpkg-deb", ["-x", try Self.deb(), root]).status == 0)
        for b in ["edr", "edr-sensor", "edr-detect", "edr-respond", "edr-logs"] {
            let ldd = try Self.run("/usr/bin/ldd", [root + "/usr/lib/edr/" + b]).output
            #expect(!ldd.contains("libswift") && !ldd.contains("libFoundation") && !ldd.contains("not found"), "\(b): \(ldd)")
        }
        let version = try Self.run(root + "/usr/lib/edr/edr", ["version"])
        #expect(version.status == 0 && version.output.hasPrefix("edr "), "\(version.output)")
        let validate = try Self.run(root + "/usr/lib/edr/edr", ["validate", "--rules", root + "/usr/share/edr/rules/sigma"])
        #expect(validate.status == 0, "\(validate.output)")
        #expect(validate.output.contains("5 loaded"), "\(validate.output)")
    }

    static let units = [
        "edr.service", "edr.target", "edr-sensor.service", "edr-sensor.socket", "edr-detect.service",
        "edr-detect.socket", "edr-detect-control.socket", "edr-detect-logs.socket", "edr-respond.service", "edr-logs.service",
        "edr-metrics.service", "edr-metrics.timer"
    ]

    /// systemd accepts every unit, and each service's exposure stays within its role's bound
    /// (docs/operations.md records the figures this prints).
    @Test func theUnitsVerifyAndTheirExposureIsLow() throws {
        let dir = "/tmp/edr-unit-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // verify checks that executables exist: point them at the built ones.
        for u in Self.units {
            let text = try String(contentsOfFile: repoRoot.appendingPathComponent("systemd/" + u).path, encoding: .utf8)
                .replacingOccurrences(of: "/usr/lib/edr/", with: binDirectory + "/")
                .replacingOccurrences(of: "/usr/bin/edr", with: binDirectory + "/edr")
            try text.write(toFile: dir + "/" + u, atomically: true, encoding: .utf8)
        }
        let verify = try Self.run("/usr/bin/systemd-analyze", ["verify"] + Self.units.map { dir + "/" + $0 })
        #expect(verify.status == 0 && verify.output.isEmpty, "\(verify.output)")
        let bounds = ["edr.service": 3.0, "edr-sensor.service": 5.0, "edr-detect.service": 1.5, "edr-respond.service": 2.5, "edr-logs.service": 1.5]
        for (unit, bound) in bounds.sorted(by: { $0.key < $1.key }) {
            let path = repoRoot.appendingPathComponent("systemd/" + unit).path
            let security = try Self.run("/usr/bin/systemd-analyze", ["security", "--offline=true", path])
            let line = try #require(security.output.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(security.output)")
            let score = Double(line.split(separator: " ").first { Double($0) != nil } ?? "") ?? 99
            print("systemd-analyze security --offline=true systemd/\(unit): \(score)")
            #expect(score <= bound, "\(unit): \(line)")
        }
    }
}
