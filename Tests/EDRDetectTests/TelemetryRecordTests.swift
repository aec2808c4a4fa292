import Testing
import Foundation
@testable import EDRCore
@testable import EDRDetect
import EDRSigma

/// Builds telemetry records byte for byte as bpf/edr_telemetry.h lays them out.
enum TelemetryBuilder {
    static func header(kind: UInt16, size: Int) -> [UInt8] {
        var b = [UInt8]()
        b.appendLE(kind); b.appendLE(UInt16(1)); b.appendLE(UInt32(size)); b.appendLE(UInt64(5_000_000_000))
        return b
    }
    static func ctx(pid: UInt32 = 100, uid: UInt32 = 0, cgroup: UInt64 = 42) -> [UInt8] {
        var b = RecordBuilder.ids(pid: pid, ppid: 1, uid: uid, start: 5_000_000_000, parentStart: 1_000_000_000)
        b.appendLE(cgroup)
        b += Array("comm".utf8) + [UInt8](repeating: 0, count: 12)
        return b
    }
    static func components(_ p: String) -> [UInt8] {
        p.split(separator: "/").reversed().flatMap { (c: Substring) -> [UInt8] in Array(c.utf8) + [0] }
    }
    static func ip(_ s: String) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        if s.contains(":") {
            _ = out.withUnsafeMutableBytes { inet_pton(AF_INET6, s, $0.baseAddress) }
        } else {
            _ = out.withUnsafeMutableBytes { inet_pton(AF_INET, s, $0.baseAddress) }
        }
        return out
    }

    static func net(
        op: UInt8 = 1, proto: UInt8 = 6, v6: Bool = false, result: Int32 = 0, local: String, lport: UInt16,
        remote: String, rport: UInt16, pid: UInt32 = 100, flags: UInt32 = 0
    ) -> [UInt8] {
        var b = header(kind: 10, size: 136) + ctx(pid: pid)
        b += [op, proto]; b.appendLE(UInt16(v6 ? 10 : 2)); b.appendLE(UInt32(bitPattern: result))
        b.appendLE(lport); b.appendLE(rport); b.appendLE(flags)
        return b + ip(local) + ip(remote)
    }

    static func file(
        op: UInt32, dir1: String? = nil, name1: String = "", dir2: String? = nil, name2: String = "",
        openFlags: UInt32 = 0, flags: UInt32 = 0, result: Int32 = 0
    ) -> [UInt8] {
        let s: [[UInt8]] = [
            dir1.map(components) ?? [], name1.isEmpty ? [] : Array(name1.utf8) + [0],
            dir2.map(components) ?? [], name2.isEmpty ? [] : Array(name2.utf8) + [0]
        ]
        var b = header(kind: 11, size: 112 + s.map(\.count).reduce(0, +)) + ctx()
        b.appendLE(op); b.appendLE(result); b.appendLE(openFlags); b.appendLE(flags)
        for x in s { b.appendLE(UInt16(x.count)) }
        return b + s.flatMap { $0 }
    }

    /// A DNS record: by default the resolver at 127.0.0.53:53 asked from 127.0.0.88:40000 (all four distinct).
    static func dns(
        direction: UInt8, payload: [UInt8], pid: UInt32 = 100, proto: UInt8 = 17, local: String = "127.0.0.88",
        lport: UInt16 = 40000, remote: String = "127.0.0.53", rport: UInt16 = 53, payloadLength: UInt32? = nil,
        flags: UInt16 = 0
    ) -> [UInt8] {
        var b = header(kind: 12, size: 136 + payload.count) + ctx(pid: pid)
        b += [direction, proto]; b.appendLE(UInt16(2)); b.appendLE(payloadLength ?? UInt32(payload.count))
        b.appendLE(lport); b.appendLE(rport); b.appendLE(UInt16(payload.count)); b.appendLE(flags)
        return b + ip(local) + ip(remote) + payload
    }

    static func attack(
        op: UInt32, result: Int32 = 0, args: [UInt64] = [0, 0, 0, 0], target: UInt32 = 0,
        strings: [String] = [], path: String? = nil
    ) -> [UInt8] {
        let s: [UInt8] = strings.flatMap { (x: String) -> [UInt8] in Array(x.utf8) + [0] }
        let p = path.map(components) ?? []
        var b = header(kind: 13, size: 144 + s.count + p.count) + ctx()
        b.appendLE(op); b.appendLE(UInt32(bitPattern: result))
        for a in args { b.appendLE(a) }
        b.appendLE(target); b.appendLE(UInt32(0)); b.appendLE(UInt16(s.count)); b.appendLE(UInt16(p.count)); b.appendLE(UInt32(0))
        return b + s + p
    }

    static func cgroup(id: UInt64, name: String, parent: String) -> [UInt8] {
        var b = header(kind: 14, size: 288)
        b.appendLE(id); b.appendLE(UInt32(3)); b.appendLE(UInt32(0))
        func padded(_ s: String) -> [UInt8] { Array((Array(s.utf8) + [UInt8](repeating: 0, count: 128)).prefix(128)) }
        return b + padded(name) + padded(parent)
    }

    /// A DNS message: one question, optional A answers (compressed names) and a CNAME.
    static func dnsMessage(
        id: UInt16 = 0x1234, name: String, type: UInt16 = 1, response: Bool = false, rcode: UInt8 = 0,
        answers: [String] = [], cname: String? = nil
    ) -> [UInt8] {
        var b = [UInt8]()
        func u16(_ v: UInt16) { b += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func encode(_ n: String) -> [UInt8] { n.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0] }
        u16(id); u16(response ? 0x8180 | UInt16(rcode) : 0x0100); u16(1); u16(UInt16(answers.count + (cname == nil ? 0 : 1))); u16(0); u16(0)
        b += encode(name); u16(type); u16(1)
        var target: UInt16 = 0xC00C
        if let cname {
            u16(0xC00C); u16(5); u16(1); b += [0, 0, 0, 60]
            let enc = encode(cname); u16(UInt16(enc.count))
            target = 0xC000 | UInt16(b.count)
            b += enc
        }
        for a in answers {
            u16(target); u16(1); u16(1); b += [0, 0, 0, 60]; u16(4)
            b += a.split(separator: ".").map { UInt8($0)! }
        }
        return b
    }
}

func decodeTelemetry(_ b: [UInt8]) throws -> KernelRecord { try KernelRecordDecoder.decode(b) }

@Suite("Telemetry records")
struct TelemetryRecordTests {
    @Test func decodesNetworkV4AndV6() throws {
        let r = try #require(
            try decodeTelemetry(TelemetryBuilder.net(result: -111, local: "127.0.0.88", lport: 5555, remote: "127.0.0.77", rport: 1)).asNet,
            "not a net record")
        #expect(r.op == .connect && r.result == -111 && r.ipProtocol == 6 && r.family == 2 && !r.isIPv6)
        #expect(r.localIP == "127.0.0.88" && r.localPort == 5555)
        #expect(r.remoteIP == "127.0.0.77" && r.remotePort == 1)
        #expect(r.bootNanos == 5_000_000_000)
        expectIDs(
            r.ctx.ids, pid: 100, tid: 100 + Int32(RecordBuilder.tidOffset), ppid: 1, uid: 0, euid: RecordBuilder.euid,
            gid: RecordBuilder.gid, egid: RecordBuilder.egid, loginuid: RecordBuilder.loginuid,
            start: 5_000_000_000, parentStart: 1_000_000_000)
        #expect(r.ctx.cgroupID == 42 && r.ctx.comm == "comm")
        let s = try #require(
            try decodeTelemetry(TelemetryBuilder.net(op: 2, proto: 17, v6: true, local: "::1", lport: 80, remote: "fe80::1:2", rport: 4444)).asNet,
            "not a net record")
        #expect(s.op == .accept && s.isIPv6 && s.family == 10 && s.ipProtocol == 17 && s.result == 0)
        #expect(s.localIP == "::1" && s.localPort == 80)
        #expect(s.remoteIP == "fe80::1:2" && s.remotePort == 4444)
    }

    /// io_uring records are the syscall kinds with EDR_VIA_IO_URING and the opcode in bits 8-15
    /// of their flags; every other bit is decoded as it was.
    @Test func decodesIoUringMarks() throws {
        let c = try #require(
            try decodeTelemetry(
                TelemetryBuilder.net(
                    result: -111, local: "127.0.0.32", lport: 40001, remote: "::1", rport: 8080,
                    flags: IoUring.requested | 16 << 8)
            ).asNet, "not a net record")
        #expect(c.flags == IoUring.requested | 16 << 8 && IoUring.opcode(c.flags) == 16 && c.result == -111)
        #expect(c.localIP == "127.0.0.32" && c.localPort == 40001 && c.remotePort == 8080)
        let plain = try #require(
            try decodeTelemetry(TelemetryBuilder.net(local: "127.0.0.32", lport: 1, remote: "127.0.0.31", rport: 2)).asNet, "not a net record")
        #expect(plain.flags == 0 && IoUring.opcode(plain.flags) == nil)
        let d = try #require(
            try decodeTelemetry(
                TelemetryBuilder.file(
                    op: 3, dir1: "/tmp/w", name1: "sub/../x",
                    flags: FileRecord.pathTruncated | IoUring.requested | IoUring.resultUnseen | 36 << 8)
            ).asFile,
            "not a file record")
        #expect(d.op == .delete && d.path == "/tmp/w/x" && IoUring.opcode(d.flags) == 36)
        #expect(d.flags & FileRecord.pathTruncated != 0 && d.flags & IoUring.resultUnseen != 0)
        // An opcode without the io_uring bit is no io_uring record; the names of opcodes.
        #expect(IoUring.opcode(18 << 8) == nil && IoUring.opcode(IoUring.requested) == 0)
        #expect(IoUring.opcodeName(18) == "IORING_OP_OPENAT" && IoUring.opcodeName(28) == "IORING_OP_OPENAT2")
        #expect(IoUring.opcodeName(35) == "IORING_OP_RENAMEAT" && IoUring.opcodeName(36) == "IORING_OP_UNLINKAT")
        #expect(IoUring.opcodeName(13) == "IORING_OP_ACCEPT" && IoUring.opcodeName(16) == "IORING_OP_CONNECT")
        #expect(IoUring.opcodeName(200) == "IORING_OP_200")
        let q = try #require(
            try decodeTelemetry(
                TelemetryBuilder.dns(
                    direction: 1, payload: TelemetryBuilder.dnsMessage(name: "x.example"),
                    flags: UInt16(IoUring.requested | 9 << 8))
            ).asDns, "not a dns record")
        #expect(IoUring.opcode(q.flags) == 9 && IoUring.opcodeName(9) == "IORING_OP_SENDMSG" && q.remotePort == 53)
        // Truncated or extended io_uring records are refused like any other.
        for good in [
            TelemetryBuilder.net(local: "127.0.0.1", lport: 1, remote: "127.0.0.2", rport: 2, flags: IoUring.requested | 13 << 8),
            TelemetryBuilder.file(op: 4, dir1: "/a", name1: "b", dir2: "/c", name2: "d", flags: IoUring.requested | 35 << 8)
        ] {
            for cut in [1, 8, 40] {
                #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(Array(good.dropLast(cut))) }
            }
        }
    }

    @Test func decodesDnsRecord() throws {
        let payload = TelemetryBuilder.dnsMessage(name: "pool.minexmr.com")
        let d = try #require(
            try decodeTelemetry(
                TelemetryBuilder.dns(
                    direction: 2, payload: payload, pid: 321, proto: 6,
                    payloadLength: UInt32(payload.count + 100))
            ).asDns,
            "not a dns record")
        #expect(d.direction == .answer && d.ipProtocol == 6 && d.family == 2)
        #expect(d.localIP == "127.0.0.88" && d.localPort == 40000)
        #expect(d.remoteIP == "127.0.0.53" && d.remotePort == 53)
        #expect(d.payloadLength == UInt32(payload.count + 100) && d.payload == payload)
        #expect(d.ctx.ids.pid == 321 && d.ctx.ids.tid == 321 + Int32(RecordBuilder.tidOffset) && d.ctx.ids.euid == RecordBuilder.euid)
    }

    @Test func resolvesFilePaths() throws {
        // open: the file's own components; unlinkat relative to a dirfd; absolute names; "..".
        let c = try #require(
            try decodeTelemetry(TelemetryBuilder.file(op: 1, dir1: "/tmp/d/new.txt", openFlags: 0o101, flags: FileRecord.pathTruncated)).asFile,
            "not a file record")
        #expect(c.op == .create && c.path == "/tmp/d/new.txt" && c.targetPath == nil)
        #expect(c.openFlags == 0o101 && c.flags == FileRecord.pathTruncated && c.result == 0)
        #expect(c.ctx.ids.uid == 0 && c.ctx.ids.euid == RecordBuilder.euid && c.ctx.ids.gid == RecordBuilder.gid && c.ctx.ids.egid == RecordBuilder.egid)
        let d = try #require(try decodeTelemetry(TelemetryBuilder.file(op: 3, dir1: "/home/u", name1: "sub/../x.txt")).asFile, "not a file record")
        #expect(d.op == .delete && d.path == "/home/u/x.txt" && d.targetPath == nil)
        // "sub/.." may cross a symlink: said so. A leading "../" (resolved against the
        // kernel-walked directory) and a plain name are not flagged.
        #expect(d.resolvedLexically)
        let a = try #require(try decodeTelemetry(TelemetryBuilder.file(op: 3, name1: "/etc/./passwd")).asFile, "not a file record")
        #expect(a.op == .delete && a.path == "/etc/passwd")
        let r = try #require(
            try decodeTelemetry(TelemetryBuilder.file(op: 4, dir1: "/tmp", name1: "a", dir2: "/var", name2: "../tmp/b")).asFile,
            "not a file record")
        #expect(r.op == .rename && r.path == "/tmp/a" && r.targetPath == "/tmp/b")
        #expect(!r.resolvedLexically && !a.resolvedLexically)
        let r2 = try #require(try decodeTelemetry(TelemetryBuilder.file(op: 4, dir1: "/tmp", name1: "a", dir2: "/tmp", name2: "link/../b")).asFile)
        #expect(r2.resolvedLexically && r2.targetPath == "/tmp/b")
        let m = try #require(try decodeTelemetry(TelemetryBuilder.file(op: 2, dir1: "/etc/passwd", openFlags: 0o1001)).asFile, "not a file record")
        #expect(m.op == .modify && m.path == "/etc/passwd" && m.openFlags == 0o1001)
        let rm = try #require(try decodeTelemetry(TelemetryBuilder.file(op: 5, dir1: "/srv", name1: "gone")).asFile, "not a file record")
        #expect(rm.op == .rmdir && rm.path == "/srv/gone")
        #expect(TelemetryRecordDecoder.normalize("/../../a//b/./c/..") == "/a/b")
    }

    @Test func decodesAttackAndCgroup() throws {
        let m = try #require(
            try decodeTelemetry(
                TelemetryBuilder.attack(
                    op: 15, result: -13, args: [32, 5, 6, 7], target: 4321,
                    strings: ["none", "/mnt", "tmpfs"])
            ).asAttack,
            "not an attack record")
        #expect(m.op == .mount && m.strings == ["none", "/mnt", "tmpfs"] && m.path == nil)
        #expect(m.args == [32, 5, 6, 7] && m.result == -13 && m.targetPID == 4321)
        #expect(m.ctx.ids.pid == 100 && m.ctx.ids.ppid == 1 && m.ctx.ids.loginuid == RecordBuilder.loginuid)
        let f = try #require(try decodeTelemetry(TelemetryBuilder.attack(op: 16, path: "/memfd:x")).asAttack, "not an attack record")
        #expect(f.op == .filelessExec && f.path == "/memfd:x" && f.strings.isEmpty)
        let g = try #require(
            try decodeTelemetry(TelemetryBuilder.cgroup(id: 9, name: "docker-" + String(repeating: "ab", count: 32) + ".scope", parent: "system.slice"))
                .asCgroup,
            "not a cgroup record")
        #expect(g.cgroupID == 9 && g.level == 3 && g.parent == "system.slice" && g.name == "docker-" + String(repeating: "ab", count: 32) + ".scope")
    }

    @Test func rejectsMalformedTelemetry() {
        let samples: [[UInt8]] = [
            TelemetryBuilder.net(local: "127.0.0.1", lport: 1, remote: "127.0.0.1", rport: 2),
            TelemetryBuilder.file(op: 4, dir1: "/tmp", name1: "a", dir2: "/tmp", name2: "b"),
            TelemetryBuilder.dns(direction: 1, payload: TelemetryBuilder.dnsMessage(name: "example.com")),
            TelemetryBuilder.attack(op: 14, strings: ["x"]),
            TelemetryBuilder.cgroup(id: 1, name: "a", parent: "b")
        ]
        for good in samples {
            #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(Array(good.dropLast())) }
            var big = good; big.append(0)
            withUnsafeBytes(of: UInt32(big.count).littleEndian) { for i in 0..<4 { big[4 + i] = $0[i] } }
            #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(big) }
        }
        var badLens = samples[1]
        badLens[104] = 0xFF  // dir1 length beyond the record
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(badLens) }
        var badOp = samples[3]
        badOp[88] = 99
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(badOp) }
        var badCaptured = samples[2]
        badCaptured[100] = 0xFF
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(badCaptured) }
        // Structure-aware fuzzing of every record kind: FuzzTests.swift.
    }

    @Test func parsesDnsMessages() throws {
        let q = try #require(DnsMessage.parse(TelemetryBuilder.dnsMessage(name: "pool.minexmr.com", type: 28)))
        #expect(!q.isResponse && q.questions == [.init(name: "pool.minexmr.com", type: 28)] && q.answers.isEmpty)
        let a = try #require(
            DnsMessage.parse(
                TelemetryBuilder.dnsMessage(
                    name: "www.example.com", response: true,
                    answers: ["10.1.2.3", "10.1.2.4"], cname: "edge.cdn.example.net")))
        #expect(a.isResponse && a.rcode == 0)
        #expect(a.answers.map(\.value) == ["edge.cdn.example.net", "10.1.2.3", "10.1.2.4"])
        #expect(a.answers[1].name == "edge.cdn.example.net")
        var cache = DnsCache()
        cache.learn(a, now: 1)
        #expect(cache.lookup(ip: "10.1.2.4", now: 2) == "www.example.com")
        #expect(cache.lookup(ip: "::ffff:10.1.2.3", now: 2) == "www.example.com")
        #expect(cache.lookup(ip: "10.1.2.4", now: 1 + 86_401 * 1_000_000_000) == nil)
        // A pointer loop, a forward pointer, truncation and garbage never crash or hang.
        var loop = TelemetryBuilder.dnsMessage(name: "a.b")
        loop[12] = 0xC0; loop[13] = 12
        #expect(DnsMessage.parse(loop) == nil)
        var forward = TelemetryBuilder.dnsMessage(name: "a.b")
        forward[12] = 0xC0; forward[13] = 200
        #expect(DnsMessage.parse(forward) == nil)
        #expect(DnsMessage.parse(Array(a.answers.isEmpty ? [] : TelemetryBuilder.dnsMessage(name: "x.y").prefix(14))) == nil)
        var rng = SplitMix64(seed: 53)
        let good = TelemetryBuilder.dnsMessage(name: "www.example.com", response: true, answers: ["1.2.3.4"], cname: "c.example")
        for _ in 0..<5000 {
            var b = good
            for _ in 0..<3 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = DnsMessage.parse(Array(b.prefix(Int.random(in: 0...b.count, using: &rng))))
        }
    }

    @Test func containerIDs() {
        let id = String(repeating: "0123456789abcdef", count: 4)
        #expect(ContainerID.from(name: "docker-\(id).scope", parent: "system.slice") == id)
        #expect(ContainerID.from(name: id, parent: "docker") == id)
        #expect(ContainerID.from(name: "cri-containerd-\(id).scope", parent: "kubepods-besteffort-pod1.slice") == id)
        #expect(ContainerID.from(name: "crio-\(id).scope", parent: "x") == id)
        #expect(ContainerID.from(name: "libpod-\(id).scope", parent: "machine.slice") == id)
        #expect(ContainerID.from(name: "container", parent: "libpod-\(id).scope") == id)
        #expect(ContainerID.from(name: "libpod-conmon-\(id).scope", parent: "machine.slice") == nil)
        #expect(ContainerID.from(name: "machine-web\\x2d1.scope", parent: "machine.slice") == "web-1")
        #expect(ContainerID.from(name: "session-3.scope", parent: "user-0.slice") == nil)
        #expect(ContainerID.from(name: "cron.service", parent: "system.slice") == nil)
    }

    @Test func aggregatesRepeatedConnections() {
        var agg = ConnectionAggregator(windowSeconds: 10)
        let k = ConnectionAggregator.Key(pid: 1, startTicks: 2, initiated: true, ipProtocol: 6, remoteIP: "127.0.0.1", remotePort: 80, result: 0)
        #expect(agg.observe(k, now: 0) == .report(repeats: 0, meanIntervalMs: 0))
        for i in 1...4 { #expect(agg.observe(k, now: UInt64(i) * 1_000_000_000) == .suppress) }
        var other = k; other.result = -111
        #expect(agg.observe(other, now: 5_000_000_000) == .report(repeats: 0, meanIntervalMs: 0))
        #expect(agg.observe(k, now: 11_000_000_000) == .report(repeats: 4, meanIntervalMs: 1000))
        #expect(agg.suppressed == 4)
    }
}

@Suite("Telemetry normalization")
struct TelemetryNormalizerTests {
    static let clock: @Sendable (UInt64) -> Double = { Double($0) / 1e9 + 1_800_000_000 }

    func processes() throws -> ProcessCache {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        let e = try #require(try KernelRecordDecoder.decode(RecordBuilder.exec(pid: 100, ppid: 1, args: ["curl", "x"], path: "/usr/bin/curl", cwd: "/")).asExec)
        _ = n.exec(e)
        let t = try #require(try KernelRecordDecoder.decode(RecordBuilder.exec(pid: 200, ppid: 1, args: ["sshd"], path: "/usr/sbin/sshd", cwd: "/")).asExec)
        _ = n.exec(t)
        return n.cache
    }

    func events(_ t: inout TelemetryNormalizer, _ records: [[UInt8]], now: UInt64 = 1) throws -> [Event] {
        let cache = try processes()
        var out: [Event] = []
        for r in records { out += t.handle(try KernelRecordDecoder.decode(r), processes: cache, now: now, wallTime: Self.clock).map(\.event) }
        return out
    }

    /// The resolver (127.0.0.53), the answer (127.0.0.77), the connecting socket (127.0.0.88)
    /// and an address nobody asked for (127.0.0.99) are all different: a swap of any two shows.
    @Test func dnsAnswerNamesTheNextConnection() throws {
        var t = TelemetryNormalizer(machineID: "ab")
        let id = String(repeating: "ab", count: 32)
        let ev = try events(
            &t,
            [
                TelemetryBuilder.cgroup(id: 42, name: "docker-\(id).scope", parent: "system.slice"),
                TelemetryBuilder.dns(direction: 1, payload: TelemetryBuilder.dnsMessage(name: "pool.minexmr.com")),
                TelemetryBuilder.dns(direction: 2, payload: TelemetryBuilder.dnsMessage(name: "pool.minexmr.com", response: true, answers: ["127.0.0.77"])),
                TelemetryBuilder.net(local: "127.0.0.88", lport: 40001, remote: "127.0.0.77", rport: 3333),
                TelemetryBuilder.net(local: "127.0.0.88", lport: 40002, remote: "127.0.0.99", rport: 3334)
            ])
        #expect(ev.count == 3)
        try #require(ev.count == 3)
        let d = ev[0]
        #expect(d.logsource.category == "dns_query")
        #expect(d["QueryName"] == "pool.minexmr.com" && d["QueryType"] == "A" && d["QueryStatus"] == "0")
        #expect(d["QueryResults"] == "127.0.0.77;" && d["Image"] == "/usr/bin/curl" && d["ContainerId"] == .string(id))
        #expect(d["DnsServer"] == "127.0.0.53" && d["Protocol"] == "udp")
        let c = ev[1]
        #expect(c.logsource.category == "network_connection")
        #expect(c["DestinationHostname"] == "pool.minexmr.com" && c["Initiated"] == .bool(true) && c["Protocol"] == "tcp")
        #expect(c["SourceIp"] == "127.0.0.88" && c["SourcePort"] == 40001)
        #expect(c["DestinationIp"] == "127.0.0.77" && c["DestinationPort"] == 3333 && c["Result"] == "success")
        #expect(c["User"] == "root" && c["ProcessId"] == 100)
        // An address no answer named carries no host name.
        let other = ev[2]
        #expect(other["DestinationIp"] == "127.0.0.99" && other["DestinationPort"] == 3334)
        #expect(other["DestinationHostname"] == nil)
        // The SigmaHQ crypto-mining rule matches this event.
        let engine = SigmaEngine.load(sources: [
            (
                "mining.yml",
                """
                title: Linux Crypto Mining Pool Connections
                id: a46c93b7-55ed-4d27-a41b-c259456c4746
                logsource: {product: linux, category: network_connection}
                detection:
                    selection:
                        DestinationHostname: ['pool.minexmr.com', 'fr.minexmr.com']
                    condition: selection
                level: high
                """
            )
        ])
        #expect(engine.evaluate(c).count == 1)
    }

    @Test func unansweredQueryIsReportedAfterTimeout() throws {
        var t = TelemetryNormalizer(machineID: "ab")
        var ev = try events(&t, [TelemetryBuilder.dns(direction: 1, payload: TelemetryBuilder.dnsMessage(name: "x.example"))], now: 1)
        #expect(ev.isEmpty)
        ev = try events(&t, [TelemetryBuilder.net(local: "127.0.0.88", lport: 1, remote: "127.0.0.77", rport: 2)], now: 3_000_000_000)
        #expect(ev.count == 2)
        try #require(ev.count == 2)
        #expect(ev[0]["QueryName"] == "x.example" && ev[0]["QueryStatus"] == "no answer" && ev[0]["DnsServer"] == "127.0.0.53")
        #expect(ev[1]["DestinationIp"] == "127.0.0.77" && ev[1]["DestinationHostname"] == nil)
    }

    @Test func inboundAndRepeatedConnections() throws {
        var t = TelemetryNormalizer(machineID: "ab")
        let accept = TelemetryBuilder.net(op: 2, v6: true, local: "fd00::22", lport: 22, remote: "fd00::50", rport: 50000, pid: 200)
        var ev = try events(&t, [accept], now: 1)
        #expect(ev.count == 1)
        let a = try #require(ev.first)
        // Inbound: the remote end is the source.
        #expect(a["Initiated"] == .bool(false) && a["SourcePort"] == 50000 && a["DestinationPort"] == 22 && a["DestinationIsIpv6"] == .bool(true))
        #expect(a["SourceIp"] == "fd00::50" && a["DestinationIp"] == "fd00::22" && a["Syscall"] == "accept")
        #expect(a["Image"] == "/usr/sbin/sshd")
        ev = try events(&t, [accept, accept], now: 2)
        #expect(ev.isEmpty && t.counters.connectionsAggregated == 2)
        ev = try events(&t, [accept], now: 61_000_000_000)
        #expect(ev.count == 1 && ev[0]["RepeatCount"] == 2)
    }

    @Test func fileEventsAndExcludes() throws {
        var t = TelemetryNormalizer(machineID: "ab", excludedPathPrefixes: ["/var/log/edr/"])
        let ev = try events(
            &t,
            [
                TelemetryBuilder.file(op: 1, dir1: "/etc/cron.d/evil"),
                TelemetryBuilder.file(op: 2, dir1: "/etc/passwd", openFlags: 0o1001),
                TelemetryBuilder.file(op: 3, dir1: "/tmp", name1: "x"),
                TelemetryBuilder.file(op: 4, dir1: "/tmp", name1: "a", dir2: "/tmp", name2: "b"),
                TelemetryBuilder.file(op: 1, dir1: "/var/log/edr/alerts.ndjson")
            ])
        #expect(ev.map { $0.logsource.category ?? "" } == ["file_event", "file_change", "file_delete", "file_rename"])
        try #require(ev.count == 4)
        #expect(ev[0]["TargetFilename"] == "/etc/cron.d/evil" && ev[1]["Truncated"] == .bool(true))
        #expect(ev[1]["TargetFilename"] == "/etc/passwd" && ev[2]["TargetFilename"] == "/tmp/x" && ev[2]["IsDirectory"] == .bool(false))
        #expect(ev[3]["SourceFilename"] == "/tmp/a" && ev[3]["TargetFilename"] == "/tmp/b")
        #expect(t.counters.excludedByPath == 1)
    }

    /// io_uring twins: the same categories and fields as the syscall's, plus the mark; the
    /// syscall's own events carry none.
    @Test func ioUringEventsAreMarked() throws {
        var t = TelemetryNormalizer(machineID: "ab")
        let ev = try events(
            &t,
            [
                TelemetryBuilder.net(result: -111, local: "127.0.0.32", lport: 40001, remote: "127.0.0.31", rport: 8080, flags: IoUring.requested | 16 << 8),
                TelemetryBuilder.net(op: 2, local: "127.0.0.31", lport: 8081, remote: "127.0.0.32", rport: 40002, flags: IoUring.requested | 13 << 8),
                TelemetryBuilder.file(op: 1, dir1: "/tmp/d/new.txt", openFlags: 0o101, flags: IoUring.requested | 28 << 8, result: 5),
                TelemetryBuilder.file(op: 4, dir1: "/tmp", name1: "a", dir2: "/tmp/sub", name2: "b", flags: IoUring.requested | 35 << 8),
                TelemetryBuilder.file(op: 3, dir1: "/tmp", name1: "skip", flags: IoUring.requested | IoUring.resultUnseen | 36 << 8),
                TelemetryBuilder.net(local: "127.0.0.34", lport: 40003, remote: "127.0.0.33", rport: 8082),
                TelemetryBuilder.file(op: 3, dir1: "/tmp", name1: "plain"),
                TelemetryBuilder.dns(direction: 1, payload: TelemetryBuilder.dnsMessage(name: "u.example"), flags: UInt16(IoUring.requested | 26 << 8)),
                TelemetryBuilder.dns(
                    direction: 2, payload: TelemetryBuilder.dnsMessage(name: "u.example", response: true, answers: ["127.0.0.81"]),
                    flags: UInt16(IoUring.requested | 27 << 8))
            ])
        #expect(
            ev.map { $0.logsource.category ?? "" } == [
                "network_connection", "network_connection", "file_event", "file_rename",
                "file_delete", "network_connection", "file_delete", "dns_query"
            ])
        try #require(ev.count == 8)
        #expect(ev[7]["QueryName"] == "u.example" && ev[7]["QueryResults"] == "127.0.0.81;" && ev[7]["IoUringOp"] == "IORING_OP_SEND")
        #expect(ev[0]["Syscall"] == "connect" && ev[0]["Result"] == "refused" && ev[0]["Initiated"] == .bool(true))
        #expect(ev[0]["IoUring"] == .bool(true) && ev[0]["IoUringOp"] == "IORING_OP_CONNECT" && ev[0]["IoUringResultUnseen"] == nil)
        #expect(ev[0]["SourceIp"] == "127.0.0.32" && ev[0]["DestinationIp"] == "127.0.0.31" && ev[0]["DestinationPort"] == 8080)
        #expect(ev[1]["Syscall"] == "accept" && ev[1]["IoUringOp"] == "IORING_OP_ACCEPT" && ev[1]["Initiated"] == .bool(false))
        #expect(ev[1]["SourceIp"] == "127.0.0.32" && ev[1]["SourcePort"] == 40002 && ev[1]["DestinationPort"] == 8081)
        #expect(ev[2]["TargetFilename"] == "/tmp/d/new.txt" && ev[2]["IoUring"] == .bool(true) && ev[2]["IoUringOp"] == "IORING_OP_OPENAT2")
        #expect(ev[3]["SourceFilename"] == "/tmp/a" && ev[3]["TargetFilename"] == "/tmp/sub/b" && ev[3]["IoUringOp"] == "IORING_OP_RENAMEAT")
        #expect(ev[4]["TargetFilename"] == "/tmp/skip" && ev[4]["IoUringOp"] == "IORING_OP_UNLINKAT" && ev[4]["IoUringResultUnseen"] == .bool(true))
        for plain in [ev[5], ev[6]] {
            #expect(plain["IoUring"] == nil && plain["IoUringOp"] == nil && plain["IoUringResultUnseen"] == nil)
        }
        #expect(ev[5]["Syscall"] == "connect" && ev[6]["TargetFilename"] == "/tmp/plain")
    }

    @Test func postExecActivity() throws {
        var t = TelemetryNormalizer(machineID: "ab")
        let ev = try events(
            &t,
            [
                TelemetryBuilder.attack(op: 1, args: [16, 0, 0, 0], target: 200),
                TelemetryBuilder.attack(op: 3, result: -38, strings: ["x=1"], path: "/tmp/rootkit.ko"),
                TelemetryBuilder.attack(op: 4, args: [2, 10, 0, 0], strings: ["prog"]),
                TelemetryBuilder.attack(op: 9, args: [UInt64(UInt32.max), 0, 0, 0]),
                TelemetryBuilder.attack(op: 14, result: 3, args: [1, 0, 0, 0], strings: ["payload"]),
                TelemetryBuilder.attack(op: 15, strings: ["none", "/mnt", "tmpfs"]),
                TelemetryBuilder.attack(op: 16, path: "/memfd:payload")
            ])
        #expect(
            ev.map { $0.logsource.category ?? "" } == [
                "process_access", "driver_load", "bpf_program_load", "privilege_change",
                "memfd_create", "mount", "fileless_exec"
            ])
        try #require(ev.count == 7)
        #expect(ev[0]["SourceImage"] == "/usr/bin/curl" && ev[0]["TargetImage"] == "/usr/sbin/sshd" && ev[0]["GrantedAccess"] == "PTRACE_ATTACH")
        #expect(ev[0]["TargetProcessGUID"] == .string(ProcessGuidFactory(machineID: "0123456789abcdef0123456789abcdef").guid(pid: 200, startTicks: 500)))
        #expect(ev[1]["ImageLoaded"] == "/tmp/rootkit.ko" && ev[1]["Parameters"] == "x=1" && ev[1]["Result"] == "error 38")
        #expect(ev[2]["ProgramName"] == "prog" && ev[2]["ProgramType"] == 2)
        #expect(ev[3]["Arguments"] == "-1,0,0" && ev[3]["TargetUser"] == "root" && ev[3]["Syscall"] == "setresuid")
        #expect(ev[4]["MemfdName"] == "payload" && ev[4]["Result"] == "fd 3")
        #expect(ev[5]["Target"] == "/mnt" && ev[5]["FsType"] == "tmpfs")
        #expect(ev[6]["Image"] == "/memfd:payload")
    }

    /// SigmaHQ's Linux network_connection and file_event rules load, and each fires on an
    /// event of the shape this normalizer produces.
    @Test func sigmaHQLinuxRulesFire() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux")
        let dirs = ["network_connection", "file_event"].map { corpus.appendingPathComponent($0).path }
        try #require(FileManager.default.fileExists(atPath: dirs[0]), "SigmaHQ corpus missing at \(dirs[0])")
        let engine = try SigmaEngine.load(paths: dirs, options: SigmaOptions(collectedLogSources: DetectorLogSources.collected))
        #expect(engine.loadedCount == engine.diagnostics.count && engine.loadedCount >= 13)
        func net(_ image: String, _ ip: String, _ port: Int64, host: String? = nil) -> Event {
            var f: [(String, FieldValue)] = [
                ("Image", .string(image)), ("Initiated", .bool(true)), ("DestinationIp", .string(ip)),
                ("DestinationPort", .int(port))
            ]
            if let host { f.append(("DestinationHostname", .string(host))) }
            return Event(logsource: TelemetryNormalizer.networkConnection, fields: f)
        }
        func file(_ image: String, _ path: String) -> Event {
            Event(logsource: TelemetryNormalizer.fileEvent, fields: [("Image", .string(image)), ("TargetFilename", .string(path))])
        }
        let cases: [(Event, String)] = [
            (net("/usr/bin/bash", "::1", 4444), "Reverse Shell"),
            (net("/usr/bin/xmrig", "127.0.0.1", 3333, host: "pool.minexmr.com"), "Crypto Mining"),
            (net("/usr/bin/curl", "127.0.0.1", 443, host: "abc.localto.net"), "Localtonet"),
            (net("/usr/bin/ngrok", "127.0.0.1", 443, host: "tunnel.us.ngrok.com"), "Ngrok"),
            (net("/usr/bin/nc", "8.8.8.8", 4444), "Malware Callback"),
            (file("/usr/bin/touch", "/tmp/x/etc/doas.conf"), "Doas"),
            (file("/usr/bin/cp", "/etc/sudoers.d/evil"), "Sudoers"),
            (file("/usr/bin/cp", "/etc/cron.d/evil"), "Cron"),
            (file("/usr/bin/touch", "/tmp/{echo,aGk=}|{base64,-d}|bash"), "Base64"),
            (file("/usr/bin/cp", "/tmp/x/etc/profile.d/evil.sh"), "Profile"),
            (file("/usr/bin/touch", "/tmp/rootlog"), "Triple Cross"),
            (file("/usr/bin/cp", "/tmp/ebpfbackdoor"), "Triple Cross"),
            (file("/usr/bin/wget", "/tmp/payload"), "Wget")
        ]
        for (event, titlePart) in cases {
            let titles = engine.evaluate(event).map(\.rule.title)
            #expect(titles.contains { $0.localizedCaseInsensitiveContains(titlePart) }, "\(titlePart): \(titles) for \(event.names)")
        }
        #expect(engine.evaluate(net("/usr/bin/bash", "127.0.0.1", 4444)).isEmpty, "loopback v4 is filtered by the bash rule")
    }

    @Test func collectedLogSourcesIncludeTelemetry() {
        let cats = Set(DetectorLogSources.collected.compactMap(\.category))
        for c in [
            "process_creation", "network_connection", "file_event", "file_delete", "file_rename", "file_change", "dns_query",
            "process_access", "driver_load"
        ] {
            #expect(cats.contains(c))
        }
    }
}
