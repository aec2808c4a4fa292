import Foundation
import Testing
@testable import EDRCore
@testable import EDRDetect

/// The kernel writes records as bpf/edr_events.h and bpf/edr_telemetry.h lay them out; the
/// detector reads them at offsets of its own, and its decoder tests feed it records built by
/// KernelRecordLayout / TelemetryBuilder. This test closes the loop with the compiler's own
/// answer: it reads the BTF of the built BPF object and checks that every member of each
/// record sits, in the bytes those builders produce, exactly where BTF says it is. A field
/// added, moved or resized in C without the Swift side following fails here, by name.
@Suite("Kernel record layout (BTF)")
struct KernelLayoutTests {
    /// The BPF object `make build` put beside the binaries (EDR_BIN_DIR under `make test`).
    static var object: String? {
        let candidates: [String?] = [
            ProcessInfo.processInfo.environment["EDR_BIN_DIR"].map { $0 + "/edr.bpf.o" },
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/bpf/edr.bpf.o").path
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// One member, flattened: "ids.pid" at byte 16, 4 bytes.
    struct Member: Equatable { var name: String; var offset: Int; var size: Int }

    /// `bpftool btf dump … format raw`, parsed into the types a record layout needs.
    struct BTF {
        enum Kind { case int(size: Int), alias(to: Int), array(of: Int, count: Int), structure(name: String, size: Int, members: [(String, Int, Int)]), other }
        var types: [Int: Kind] = [:]
        /// Enumerations by name: their enumerators in declaration order, with values.
        var enums: [String: [(name: String, value: Int)]] = [:]
        /// Global variables (maps included) by name: their type id.
        var variables: [String: Int] = [:]
        /// Pointers: id → pointee (a map's `__uint(max_entries, N)` is a pointer to int[N]).
        var pointers: [Int: Int] = [:]

        init(object: String) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["bpftool", "btf", "dump", "file", object, "format", "raw"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw EDRError("bpftool btf dump \(object) failed") }
            var current: (id: Int, name: String, size: Int, members: [(String, Int, Int)])?
            var currentEnum: String?
            func finish() {
                if let c = current { types[c.id] = .structure(name: c.name, size: c.size, members: c.members) }
                current = nil
                currentEnum = nil
            }
            for line in text.split(separator: "\n") {
                if line.hasPrefix("\t"), let e = currentEnum {
                    // 	'EDR_CTR_SEEN' val=0
                    let parts = line.split(separator: " ")
                    if parts.count >= 2, let v = Int(parts[1].dropFirst("val=".count)) {
                        enums[e, default: []].append((String(parts[0].dropFirst().dropFirst().dropLast()), v))
                    }
                    continue
                }
                if line.hasPrefix("\t") {
                    // 	'pid' type_id=14 bits_offset=0
                    let parts = line.split(separator: " ")
                    guard current != nil, parts.count >= 3, let t = Int(parts[1].dropFirst("type_id=".count)),
                        let bits = Int(parts[2].dropFirst("bits_offset=".count))
                    else { continue }
                    current!.members.append((String(parts[0].dropFirst().dropFirst().dropLast()), t, bits))
                    continue
                }
                finish()
                let parts = line.split(separator: " ")
                guard parts.count >= 3, let id = Int(parts[0].dropFirst().dropLast()) else { continue }
                func value(_ key: String) -> Int? {
                    parts.first { $0.hasPrefix(key + "=") }.flatMap { Int($0.dropFirst(key.count + 1)) }
                }
                switch parts[1] {
                case "INT": types[id] = .int(size: value("size") ?? 0)
                case "TYPEDEF", "CONST", "VOLATILE": types[id] = .alias(to: value("type_id") ?? 0)
                case "ARRAY": types[id] = .array(of: value("type_id") ?? 0, count: value("nr_elems") ?? 0)
                case "STRUCT": current = (id, String(parts[2].dropFirst().dropLast()), value("size") ?? 0, [])
                case "ENUM":
                    currentEnum = String(parts[2].dropFirst().dropLast())
                    types[id] = .int(size: value("size") ?? 0)
                case "VAR":
                    variables[String(parts[2].dropFirst().dropLast())] = Int(parts[3].dropFirst("type_id=".count).prefix { $0.isNumber })
                    types[id] = .other
                case "PTR":
                    pointers[id] = value("type_id")
                    types[id] = .other
                default: types[id] = .other
                }
            }
            finish()
        }

        func size(of id: Int) -> Int {
            switch types[id] {
            case .int(let s): return s
            case .alias(let t): return size(of: t)
            case .array(let t, let n): return size(of: t) * n
            case .structure(_, let s, _): return s
            default: return 0
            }
        }

        func structID(_ name: String) -> Int? {
            types.first { if case .structure(let n, _, _) = $0.value { return n == name } else { return false } }?.key
        }

        /// Members with nested structures flattened ("h.kind", "ctx.ids.pid").
        func members(of id: Int, prefix: String = "", base: Int = 0) -> [Member] {
            guard case .structure(_, _, let list) = types[id] else { return [] }
            var out: [Member] = []
            for (name, type, bits) in list {
                var t = type
                while case .alias(let to) = types[t] { t = to }
                if case .structure = types[t] {
                    out += members(of: t, prefix: prefix + name + ".", base: base + bits / 8)
                } else {
                    out.append(Member(name: prefix + name, offset: base + bits / 8, size: size(of: type)))
                }
            }
            return out
        }
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { var b: [UInt8] = []; b.appendLE(v); return b }
    static func text(_ s: String, _ n: Int) -> [UInt8] { Array((Array(s.utf8) + [UInt8](repeating: 0, count: n)).prefix(n)) }
    static func ids(first: UInt32) -> [String: [UInt8]] {
        let names = ["pid", "tid", "ppid", "uid", "euid", "gid", "egid", "loginuid"]
        var out: [String: [UInt8]] = [:]
        for (i, n) in names.enumerated() { out[n] = le(first + UInt32(i)) }
        return out
    }

    /// Checks every member of `record` against the bytes; `expected` names each member's
    /// value, a member listed in `unchecked` (reserved words, the variable data) is skipped.
    func check(_ btf: BTF, _ record: String, bytes: [UInt8], expected: [String: [UInt8]], dataAt: Int) throws {
        let id = try #require(btf.structID(record), "\(record) in the object's BTF")
        let members = btf.members(of: id)
        #expect(!members.isEmpty)
        for m in members {
            if m.name == "data" {
                #expect(m.offset == dataAt, "\(record).data at \(m.offset); the Swift side starts the variable part at \(dataAt)")
                continue
            }
            if m.name.hasSuffix("reserved") { continue }
            guard let want = expected[m.name] else {
                Issue.record("\(record).\(m.name) (offset \(m.offset), \(m.size) bytes) is not known to the Swift side")
                continue
            }
            #expect(want.count == m.size, "\(record).\(m.name): \(m.size) bytes in C, \(want.count) in Swift")
            guard m.offset + m.size <= bytes.count else {
                Issue.record("\(record).\(m.name) at \(m.offset) lies past the \(bytes.count) bytes Swift builds")
                continue
            }
            #expect(Array(bytes[m.offset..<(m.offset + m.size)]) == want, "\(record).\(m.name) at offset \(m.offset)")
        }
    }

    /// bpf/edr_layout.c's object (`make bpf`): every record and counter enum of edr_events.h.
    static var layoutObject: String? {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/bpf/edr_layout.o").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Exit and fork records are built on the BPF stack and never named as a type by a program,
    /// so the loaded object's BTF lacks them: the layout object has them, from the same header.
    @Test(.enabled(if: object != nil || ProcessInfo.processInfo.environment["EDR_BIN_DIR"] != nil))
    func exitAndForkRecordsAreWhereBTFSaysTheyAre() throws {
        let btf = try BTF(object: try #require(Self.layoutObject, "edr_layout.o beside edr.bpf.o (make bpf)"))
        var ids = Self.ids(first: 2001)
        ids["start_boottime_ns"] = Self.le(UInt64(2_009_000))
        ids["parent_start_boottime_ns"] = Self.le(UInt64(2_010_000))
        func prefixed(_ d: [String: [UInt8]]) -> [String: [UInt8]] { Dictionary(uniqueKeysWithValues: d.map { ("ids." + $0.key, $0.value) }) }

        let exit = KernelRecordLayout.exit(
            pid: 2001, tid: 2002, ppid: 2003, uid: 2004, euid: 2005, gid: 2006, egid: 2007, loginuid: 2008,
            start: 2_009_000, parentStart: 2_010_000, code: 0x0100, comm: "leaver", bootNanos: 2011)
        try check(
            btf, "edr_exit_record", bytes: exit,
            expected: prefixed(ids).merging([
                "h.kind": Self.le(UInt16(2)), "h.version": Self.le(UInt16(1)), "h.size": Self.le(UInt32(exit.count)),
                "h.ktime_boot_ns": Self.le(UInt64(2011)), "exit_code": Self.le(UInt32(0x0100)), "comm": Self.text("leaver", 16)
            ]) { a, _ in a }, dataAt: -1)
        #expect(btf.size(of: try #require(btf.structID("edr_exit_record"))) == exit.count)

        let fork = KernelRecordLayout.fork(
            pid: 2001, tid: 2002, ppid: 2003, uid: 2004, euid: 2005, gid: 2006, egid: 2007, loginuid: 2008,
            start: 2_009_000, parentStart: 2_010_000, comm: "spawner", bootNanos: 2011)
        try check(
            btf, "edr_fork_record", bytes: fork,
            expected: prefixed(ids).merging([
                "h.kind": Self.le(UInt16(3)), "h.version": Self.le(UInt16(1)), "h.size": Self.le(UInt32(fork.count)),
                "h.ktime_boot_ns": Self.le(UInt64(2011)), "comm": Self.text("spawner", 16)
            ]) { a, _ in a }, dataAt: -1)
        #expect(btf.size(of: try #require(btf.structID("edr_fork_record"))) == fork.count)
    }

    /// The loss counters the sensor reports by name ("kernel.file.no_state") are the kernel's
    /// enum edr_counter and enum edr_family, in order, and the loaded map has room for exactly
    /// those: a counter added in C without its Swift name (or the reverse) fails here.
    @Test(.enabled(if: object != nil || ProcessInfo.processInfo.environment["EDR_BIN_DIR"] != nil))
    func lossCounterNamesAreTheKernelsEnumerators() throws {
        let layout = try BTF(object: try #require(Self.layoutObject, "edr_layout.o beside edr.bpf.o (make bpf)"))
        let counters = try #require(layout.enums["edr_counter"], "enum edr_counter in the layout object's BTF")
        let declared = counters.filter { $0.name != "EDR_CTR_N" }.sorted { $0.value < $1.value }
        #expect(declared.map { $0.name.dropFirst("EDR_CTR_".count).lowercased() } == KernelCounters.counters)
        #expect(declared.map(\.value) == Array(0..<KernelCounters.counters.count))
        #expect(counters.first { $0.name == "EDR_CTR_N" }?.value == KernelCounters.counters.count)

        let families = try #require(layout.enums["edr_family"], "enum edr_family in the layout object's BTF")
        let named = families.filter { $0.name != "EDR_FAMILY_N" }.sorted { $0.value < $1.value }
        #expect(named.map { $0.name.dropFirst("EDR_FAMILY_".count).lowercased() } == KernelCounters.families)
        #expect(named.map(\.value) == Array(0..<KernelCounters.families.count))
        #expect(families.first { $0.name == "EDR_FAMILY_N" }?.value == KernelCounters.familySlots)

        // The map the sensor reads in the object it loads: max_entries is a pointer to int[N].
        let loaded = try BTF(object: try #require(Self.object, "edr.bpf.o (make build)"))
        let map = try #require(loaded.variables["edr_counters"], "edr_counters map in edr.bpf.o")
        guard case .structure(_, _, let members) = loaded.types[map],
            let maxEntries = members.first(where: { $0.0 == "max_entries" }),
            let array = loaded.pointers[maxEntries.1], case .array(_, let n) = loaded.types[array]
        else {
            Issue.record("edr_counters' max_entries not found in BTF")
            return
        }
        #expect(n == KernelCounters.familySlots * KernelCounters.counters.count)
    }

    /// The storm and telemetry benchmarks read the same map through bpftool and name its slots
    /// themselves (Benchmarks/telemetry_bench.py): with four counters per family there instead
    /// of five, every family after exec was reported under another's name (a storm's forks as
    /// "fork.too_large", its file records as "file.seen").
    @Test func theBenchmarkScriptsNameTheCountersAsTheKernelDoes() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/telemetry_bench.py")
        let text = try String(contentsOf: script, encoding: .utf8)
        func list(_ name: String) throws -> [String] {
            let line = try #require(
                text.split(separator: "\n").first { $0.hasPrefix(name + " = [") }, "\(name) in telemetry_bench.py")
            return line.split(separator: "[", maxSplits: 1)[1].split(separator: "]")[0]
                .split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"'")) }
        }
        #expect(try list("FAMILIES") == KernelCounters.families)
        #expect(try list("COUNTERS") == KernelCounters.counters)
        #expect(text.contains("divmod(k, len(COUNTERS))"), "the slot index splits by the number of counters")
    }

    @Test(.enabled(if: object != nil || ProcessInfo.processInfo.environment["EDR_BIN_DIR"] != nil))
    func everyRecordMemberIsWhereBTFSaysItIs() throws {
        let btf = try BTF(object: try #require(Self.object, "edr.bpf.o (make build)"))
        func prefixed(_ p: String, _ d: [String: [UInt8]]) -> [String: [UInt8]] {
            Dictionary(uniqueKeysWithValues: d.map { (p + $0.key, $0.value) })
        }

        // exec: every field a distinct value.
        let exec = KernelRecordLayout.exec(
            pid: 1001, tid: 1002, ppid: 1003, uid: 1004, euid: 1005, gid: 1006, egid: 1007, loginuid: 1008,
            start: 1_009_000, parentStart: 1_010_000, args: ["a", "bc"], path: "/usr/bin/x", cwd: "/tmp",
            flags: 0x10, cgroup: 1011, comm: "cmdname", inode: 1012, bootNanos: 1013, environment: ["K=V"])
        var e: [String: [UInt8]] = [
            "h.kind": Self.le(UInt16(1)), "h.version": Self.le(UInt16(1)), "h.size": Self.le(UInt32(exec.count)),
            "h.ktime_boot_ns": Self.le(UInt64(1013)),
            "ids.start_boottime_ns": Self.le(UInt64(1_009_000)), "ids.parent_start_boottime_ns": Self.le(UInt64(1_010_000)),
            "cgroup_id": Self.le(UInt64(1011)), "flags": Self.le(UInt32(0x10)), "argc": Self.le(UInt32(2)),
            "args_len": Self.le(UInt16(5)), "path_len": Self.le(UInt16(10)), "cwd_len": Self.le(UInt16(4)), "script_len": Self.le(UInt16(0)),
            "comm": Self.text("cmdname", 16), "exe_ino": Self.le(UInt64(1012)), "exe_size": Self.le(UInt64(35_000)),
            "exe_ctime_ns": Self.le(UInt64(1_700_000_000_123_456_789)), "exe_dev": Self.le(UInt32(8 << 20 | 1)),
            "script_ino": Self.le(UInt64(0)), "script_size": Self.le(UInt64(0)), "script_ctime_ns": Self.le(UInt64(0)),
            "script_dev": Self.le(UInt32(0)), "env_len": Self.le(UInt16(4))
        ]
        e.merge(prefixed("ids.", Self.ids(first: 1001))) { a, _ in a }
        try check(btf, "edr_exec_record", bytes: exec, expected: e, dataAt: exec.count - (5 + 10 + 4 + 4))

        // Telemetry records share the header and edr_ctx (TelemetryBuilder: pid 100, tid 107,
        // ppid 1, uid 0, and RecordBuilder's distinct euid/gid/egid/loginuid).
        var ctx: [String: [UInt8]] = [
            "h.kind": [], "h.version": Self.le(UInt16(1)), "h.size": [], "h.ktime_boot_ns": Self.le(UInt64(5_000_000_000)),
            "ctx.ids.pid": Self.le(UInt32(100)), "ctx.ids.tid": Self.le(UInt32(107)), "ctx.ids.ppid": Self.le(UInt32(1)),
            "ctx.ids.uid": Self.le(UInt32(0)), "ctx.ids.euid": Self.le(UInt32(61_002)), "ctx.ids.gid": Self.le(UInt32(61_003)),
            "ctx.ids.egid": Self.le(UInt32(61_004)), "ctx.ids.loginuid": Self.le(UInt32(61_005)),
            "ctx.ids.start_boottime_ns": Self.le(UInt64(5_000_000_000)), "ctx.ids.parent_start_boottime_ns": Self.le(UInt64(1_000_000_000)),
            "ctx.cgroup_id": Self.le(UInt64(42)), "ctx.comm": Self.text("comm", 16)
        ]
        func telemetry(_ kind: UInt16, _ bytes: [UInt8]) -> [String: [UInt8]] {
            ctx["h.kind"] = Self.le(kind)
            ctx["h.size"] = Self.le(UInt32(bytes.count))
            return ctx
        }

        let net = TelemetryBuilder.net(
            op: 3, proto: 17, v6: true, result: -111, local: "2001:db8::1", lport: 4321, remote: "2001:db8::2",
            rport: 53, pid: 100, flags: 0x5)
        try check(
            btf, "edr_net_record", bytes: net,
            expected: telemetry(10, net).merging([
                "op": [3], "protocol": [17], "family": Self.le(UInt16(10)), "result": Self.le(Int32(-111)),
                "sport": Self.le(UInt16(4321)), "dport": Self.le(UInt16(53)), "flags": Self.le(UInt32(5)),
                "saddr": TelemetryBuilder.ip("2001:db8::1"), "daddr": TelemetryBuilder.ip("2001:db8::2")
            ]) { a, _ in a }, dataAt: net.count)

        let file = TelemetryBuilder.file(op: 7, dir1: "/etc", name1: "passwd", openFlags: 0o101, flags: 0x3, result: -13)
        try check(
            btf, "edr_file_record", bytes: file,
            expected: telemetry(11, file).merging([
                "op": Self.le(UInt32(7)), "result": Self.le(Int32(-13)), "open_flags": Self.le(UInt32(0o101)), "flags": Self.le(UInt32(3)),
                "len": Self.le(UInt16(4)) + Self.le(UInt16(7)) + Self.le(UInt16(0)) + Self.le(UInt16(0))
            ]) { a, _ in a }, dataAt: file.count - 11)

        let payload: [UInt8] = [0xAB, 0xCD, 0x01]
        let dns = TelemetryBuilder.dns(
            direction: 2, payload: payload, pid: 100, proto: 6, local: "10.1.2.3", lport: 40001, remote: "10.9.8.7",
            rport: 53, payloadLength: 700, flags: 0x9)
        try check(
            btf, "edr_dns_record", bytes: dns,
            expected: telemetry(12, dns).merging([
                "direction": [2], "protocol": [6], "family": Self.le(UInt16(2)), "payload_len": Self.le(UInt32(700)),
                "sport": Self.le(UInt16(40001)), "dport": Self.le(UInt16(53)), "captured": Self.le(UInt16(3)), "flags": Self.le(UInt16(9)),
                "saddr": TelemetryBuilder.ip("10.1.2.3"), "daddr": TelemetryBuilder.ip("10.9.8.7")
            ]) { a, _ in a }, dataAt: dns.count - payload.count)
    }
}
