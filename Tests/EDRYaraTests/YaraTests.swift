import EDRCore
import Foundation
import Testing
@testable import EDRYara
#if canImport(Glibc)
import Glibc
#endif

private let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// ../shared/corpora/signature-base/yara beside the repository (found from this file's path).
private let signatureBaseYara = URL(fileURLWithPath: repoRoot).deletingLastPathComponent()
    .appendingPathComponent("shared/corpora/signature-base/yara").path

/// Runs a program with its output in a file (no pipe to fill or to hold open) and a deadline:
/// a program that hangs fails the test instead of stalling the suite.
func runTool(_ path: String, _ args: [String], timeout: Double = 120) throws -> (status: Int32, output: String) {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("edr-tool-\(UUID().uuidString)").path
    FileManager.default.createFile(atPath: out, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: out) }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    defer { try? handle.close() }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.standardOutput = handle
    p.standardError = handle
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        throw ToolError(message: "\(path) \(args) did not finish within \(timeout) s")
    }
    p.waitUntilExit()
    return (p.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
}

struct ToolError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The digest a coreutils tool (md5sum, sha1sum, sha256sum) prints for a file.
func coreutilsDigest(_ tool: String, _ path: String) throws -> String {
    let r = try runTool("/usr/bin/" + tool, [path])
    guard r.status == 0, let digest = r.output.split(separator: " ").first else {
        throw ToolError(message: "\(tool) \(path) failed: \(r.output)")
    }
    return String(digest)
}
let marker = "EDR-YARA-SELFTEST-MARKER-5b1f0c"

func makeTempDir() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yara-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@discardableResult
func writeFile(_ path: String, _ bytes: [UInt8]) throws -> String {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

func openFD(_ path: String) -> Int32 { open(path, O_RDONLY | O_CLOEXEC) }

@Suite struct Compilation {
    @Test func exampleRulesCompile() throws {
        let r = YaraRules.compile(directories: [repoRoot + "/rules/yara"])
        #expect(r.errors.isEmpty, "\(r.errors)")
        #expect(r.failedFiles.isEmpty)
        #expect(r.compiledFiles.count == 1)
        #expect((r.rules?.ruleCount ?? 0) == 6)
        #expect(Set(r.rules?.externalNames ?? []) == ["filename", "filepath", "extension", "filetype", "owner"])
    }

    @Test func brokenFileReportedOthersStillLoad() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try "rule good_one { strings: $a = \"alpha-marker\" condition: $a }\n".write(toFile: dir + "/a.yar", atomically: true, encoding: .utf8)
        try "rule good_two { condition: filesize > 0 }\n".write(toFile: dir + "/sub/b.yara", atomically: true, encoding: .utf8)
        try "// broken\nrule broken {\n  strings:\n    $a = \"x\"\n  condition:\n    $a and $undefined\n}\n"
            .write(toFile: dir + "/c.yar", atomically: true, encoding: .utf8)
        try "rule also_broken { condition: true \n".write(toFile: dir + "/d.yar", atomically: true, encoding: .utf8)
        try "rule r {\n  strings:\n    $a = \"xyz\"\n    $b = { 4D 5A ZZ }\n  condition:\n    any of them\n}\n"
            .write(toFile: dir + "/e.yar", atomically: true, encoding: .utf8)
        try "not a rule file".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        let r = YaraRules.compile(directories: [dir])
        #expect(r.files.count == 5)
        #expect(r.compiledFiles.map { ($0 as NSString).lastPathComponent } == ["a.yar", "b.yara"])
        #expect(r.failedFiles.map { ($0 as NSString).lastPathComponent } == ["c.yar", "d.yar", "e.yar"])
        #expect(r.rules?.ruleCount == 2)
        let c = try #require(r.errors.first { $0.file.hasSuffix("/c.yar") })
        // libyara reports a condition error where the condition ends (line 6 or the brace on 7).
        #expect((6...7).contains(c.line))
        #expect(c.message.contains("undefined"))
        #expect(c.description.hasPrefix(dir + "/c.yar:\(c.line): error: "))
        // Unexpected end of file: libyara gives line 0.
        #expect(r.errors.contains { $0.file.hasSuffix("/d.yar") && $0.message.contains("syntax error") })
        let e = try #require(r.errors.first { $0.file.hasSuffix("/e.yar") })
        #expect(e.line == 4)
        #expect(e.message.contains("syntax error"))
    }

    @Test func duplicateRuleNamesAcrossFilesInOneNamespace() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "rule same { condition: true }\n".write(toFile: dir + "/1.yar", atomically: true, encoding: .utf8)
        try "rule same { condition: false }\n".write(toFile: dir + "/2.yar", atomically: true, encoding: .utf8)
        // One namespace per file (default): both load.
        #expect(YaraRules.compile(directories: [dir]).rules?.ruleCount == 2)
        // Shared namespace: the clash is blamed on the second file, the first still loads.
        let shared = YaraRules.compile(directories: [dir], namespacePerFile: false)
        #expect(shared.rules?.ruleCount == 1)
        #expect(shared.failedFiles.map { ($0 as NSString).lastPathComponent } == ["2.yar"])
        #expect(shared.errors.contains { $0.file.hasSuffix("2.yar") && $0.message.contains("duplicated") })
    }

    @Test func missingDirectoryIsAnError() {
        let r = YaraRules.compile(directories: ["/nonexistent/rules"])
        #expect(r.rules == nil)
        #expect(r.errors.count == 1)
    }

    @Test func sourceCompileThrowsWithLine() {
        let e = #expect(throws: YaraError.self) { try YaraRules.compile(source: "rule x {\n condition:\n nope\n}") }
        #expect(e?.diagnostics.first?.line == 3)
    }

    @Test func signatureBaseCompiles() throws {
        try #require(FileManager.default.fileExists(atPath: signatureBaseYara), "signature-base corpus missing at \(signatureBaseYara)")
        let start = Date()
        let r = YaraRules.compile(directories: [signatureBaseYara])
        let secs = Date().timeIntervalSince(start)
        print(
            "signature-base: \(r.files.count) files, \(r.compiledFiles.count) compiled, \(r.failedFiles.count) failed, "
                + "\(r.rules?.ruleCount ?? 0) rules, \(String(format: "%.2f", secs)) s")
        for e in r.errors.prefix(20) { print("  \(e)") }
        // The corpus is a fixed, read-only copy: its counts are exact.
        #expect(r.files.count == 741)
        #expect(r.compiledFiles.count == 741)
        #expect(r.failedFiles.isEmpty, "\(r.failedFiles)")
        #expect(r.rules?.ruleCount == 5883)
    }
}

@Suite struct Scanning {
    static let rules: YaraRules = {
        let r = YaraRules.compile(directories: [repoRoot + "/rules/yara"])
        return r.rules!
    }()

    @Test func markerThroughFDWithMetadata() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeFile(dir + "/payload.BIN", Array("some bytes \(marker) more".utf8))
        let fd = openFD(path)
        defer { close(fd) }
        #expect(lseek(fd, 3, SEEK_SET) == 3)
        let scanner = try YaraScanner(rules: Self.rules)
        let r = scanner.scan(fd: fd, path: path, computeHashes: true)
        #expect(r.status == .completed)
        #expect(lseek(fd, 0, SEEK_CUR) == 3, "the fd's offset is left alone")
        let m = try #require(r.matches.first)
        #expect(r.matches.count == 1)
        #expect(m.rule == "EDR_Test_Marker")
        #expect(m.namespace == "edr_examples")
        #expect(m.tags == ["test"])
        #expect(m[meta: "description"] == .string("Harmless marker string used by the agent's self-tests"))
        #expect(m[meta: "score"] == .int(10))
        #expect(m[meta: "self_test"] == .bool(true))
        #expect(m.severity?.level == .low)
        #expect(m.severity?.key == "severity")
        #expect(r.identity == FileIdentity(fd: fd))
        #expect(r.hashes?.sha256 == (try coreutilsDigest("sha256sum", path)))
        #expect(r.hashes?.md5 == (try coreutilsDigest("md5sum", path)))
        #expect(r.bytesScanned == Int64(marker.utf8.count + 16))
    }

    @Test func cleanFileAndEmptyFile() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scanner = try YaraScanner(rules: Self.rules)
        for (name, content) in [("clean", Array("nothing here".utf8)), ("empty", [])] {
            let fd = openFD(try writeFile(dir + "/" + name, content))
            let r = scanner.scan(fd: fd, path: dir + "/" + name, computeHashes: true)
            close(fd)
            #expect(r.status == .completed)
            #expect(r.matches.isEmpty)
        }
    }

    @Test func externalsSetPerScan() throws {
        let rules = try YaraRules.compile(
            source: """
                rule by_ext { condition: extension == ".sh" and filename == "dropper.sh" }
                rule by_type { condition: filetype == "ELF" }
                rule by_path { condition: filepath matches /\\/tmp\\// }
                rule by_owner { condition: owner == "root" }
                """)
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let scanner = try YaraScanner(rules: rules)
        let sh = try writeFile(dir + "/dropper.SH", Array("#!/bin/sh\necho hi\n".utf8))
        var fd = openFD(sh)
        var names = scanner.scan(fd: fd, path: "/tmp/x/dropper.sh").matches.map(\.rule)
        close(fd)
        #expect(names == ["by_ext", "by_path", "by_owner"])
        fd = openFD("/bin/true")
        names = scanner.scan(fd: fd, path: "/usr/bin/true").matches.map(\.rule)
        close(fd)
        #expect(names == ["by_type", "by_owner"])
    }

    @Test func sizeCapHonored() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeFile(dir + "/big", Array(repeating: 0x41, count: 5000) + Array(marker.utf8))
        let fd = openFD(path)
        defer { close(fd) }
        let scanner = try YaraScanner(rules: Self.rules, options: .init(maxFileSize: 4096))
        let r = scanner.scan(fd: fd, path: path, computeHashes: true)
        #expect(r.status == .skippedTooLarge)
        #expect(r.matches.isEmpty)
        #expect(r.hashes == nil)
        #expect(FileHashes.compute(fd: fd, maxSize: 4096) == nil)
        scanner.options.maxFileSize = 1 << 20
        #expect(scanner.scan(fd: fd, path: path).matches.map(\.rule) == ["EDR_Test_Marker"])
    }

    @Test func timeoutHonored() throws {
        // Each byte runs an inner loop: minutes of work for 1 MiB; the 1 s timeout stops it.
        let rules = try YaraRules.compile(
            source: """
                rule slow { condition: for all i in (0..filesize) : ( for all j in (0..100000) : ( uint8(i) + j >= 0 ) ) }
                """)
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fd = openFD(try writeFile(dir + "/f", Array(repeating: 7, count: 1 << 20)))
        defer { close(fd) }
        let scanner = try YaraScanner(rules: rules, options: .init(timeoutSeconds: 1))
        let t0 = Date()
        let r = scanner.scan(fd: fd, path: nil)
        let secs = Date().timeIntervalSince(t0)
        #expect(r.status == .timedOut)
        // Without the timeout the rule runs for hours: a generous deadline, not a timing figure.
        #expect(secs < 60)
    }

    @Test func nonRegularFileSkipped() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let scanner = try YaraScanner(rules: Self.rules)
        #expect(scanner.scan(fd: fds[0]).status == .skippedNotRegular)
        #expect(scanner.scan(fd: -1).status == .failed(-EBADF))
    }

    @Test func signatureBaseScansRealBinary() throws {
        try #require(FileManager.default.fileExists(atPath: signatureBaseYara), "signature-base corpus missing at \(signatureBaseYara)")
        let rules = try #require(YaraRules.compile(directories: [signatureBaseYara]).rules)
        let scanner = try YaraScanner(rules: rules)
        let fd = openFD("/bin/ls")
        defer { close(fd) }
        let r = scanner.scan(fd: fd, path: "/bin/ls")
        #expect(r.status == .completed)
        // A system binary: no signature-base rule (they describe malware and hack tools) matches.
        #expect(r.matches.map(\.rule) == [])
        #expect(r.bytesScanned == FileIdentity(fd: fd)?.size)
    }
}

@Suite(.serialized) struct Hashing {
    /// Every size around the 64-byte block and its 56-byte padding limit, the 1 MiB read chunk
    /// on both sides, and sizes that end mid-block after several chunks: each digest equals
    /// coreutils' on the same file, through the file path and through the buffer path.
    @Test(arguments: [
        0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 16447,
        (1 << 20) - 1, 1 << 20, (1 << 20) + 1, (3 << 20) + 17
    ])
    func matchesCoreutils(size: Int) throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = try writeFile(dir + "/f", bytes)
        let fd = openFD(path)
        defer { close(fd) }
        let h = try #require(FileHashes.compute(fd: fd))
        #expect(h.md5 == (try coreutilsDigest("md5sum", path)))
        #expect(h.sha1 == (try coreutilsDigest("sha1sum", path)))
        #expect(h.sha256 == (try coreutilsDigest("sha256sum", path)))
        #expect(FileHashes(bytes: bytes) == h)
        // Only the kinds asked for, each alone and in pairs.
        for kinds: HashKinds in [[.md5], [.sha1], [.sha256], [.md5, .sha256], [.sha1, .sha256]] {
            let some = try #require(FileHashes.compute(fd: fd, kinds: kinds))
            #expect(
                some
                    == FileHashes(
                        md5: kinds.contains(.md5) ? h.md5 : nil, sha1: kinds.contains(.sha1) ? h.sha1 : nil,
                        sha256: kinds.contains(.sha256) ? h.sha256 : nil), "kinds \(kinds.rawValue)")
        }
    }

    /// A file just over 512 MiB: its length in bits no longer fits in 32 bits, the place a
    /// hash's length encoding goes wrong. Contents from a fast generator (debug builds).
    @Test func largeFileMatchesCoreutils() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/large"
        let size = (512 << 20) + 7
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(fd >= 0, "cannot create \(path)")
        defer { close(fd) }
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var words = [UInt64](repeating: 0, count: 1 << 17)  // 1 MiB
        var written = 0
        while written < size {
            for i in words.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                words[i] = state
            }
            let n = min(size - written, words.count * 8)
            #expect(words.withUnsafeBytes { write(fd, $0.baseAddress, n) } == n)
            written += n
        }
        let h = try #require(FileHashes.compute(fd: fd))
        #expect(h.md5 == (try coreutilsDigest("md5sum", path)))
        #expect(h.sha1 == (try coreutilsDigest("sha1sum", path)))
        #expect(h.sha256 == (try coreutilsDigest("sha256sum", path)))
        #expect(FileHashes.compute(fd: fd, maxSize: Int64(size) - 1) == nil)
        #expect(FileHashes.compute(fd: fd, maxSize: Int64(size)) == h)
    }

    /// The published test vectors (RFC 1321, FIPS 180 examples): independent of coreutils.
    @Test func matchesPublishedVectors() throws {
        let vectors: [(input: [UInt8], md5: String, sha1: String, sha256: String)] = [
            (
                [], "d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            (
                Array("abc".utf8), "900150983cd24fb0d6963f7d28e17f72", "a9993e364706816aba3e25717850c26c9cd0d89d",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            ),
            (
                Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8), "8215ef0796a20bcaaae116d3876c664a",
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
            (
                Array(repeating: UInt8(ascii: "a"), count: 1_000_000), "7707d6ae4e027c70eea2a935c2296f21",
                "34aa973cd4c4daa4f61eeb2bdbad27316534016f", "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
            )
        ]
        for v in vectors {
            #expect(FileHashes(bytes: v.input) == FileHashes(md5: v.md5, sha1: v.sha1, sha256: v.sha256), "\(v.input.count) bytes")
        }
    }
}
