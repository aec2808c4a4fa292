import EDRCore
import EDRSigma
#if canImport(Glibc)
import Glibc
#endif

/// The auditd records SigmaHQ rules read (`logsource: product: linux, service: auditd`), built
/// from the kernel records the detector already decodes: no auditd runs. Each record becomes
/// its own event (`type: EXECVE`, `SYSCALL`, `PATH` …), as the rules evaluate one audit record
/// at a time. Values are what `ausearch -i` and auditd's enriched format show (arguments in
/// plain text, `SYSCALL` by name), since that is what the rules compare. docs/telemetry.md has
/// the table of every record and field and where it comes from.
///
/// Built only when a live rule reads this logsource (`Detector`), so the cost is nil otherwise.
public enum AuditdRecords {
    public static let logSource = LogSource(product: "linux", service: "auditd")

    /// The record types built here.
    public static let recordTypes = ["EXECVE", "SYSCALL", "PATH", "CWD", "PROCTITLE", "SOCKADDR"]

    /// The syscalls a SYSCALL record is built for: exec, the calls the attack hooks see, and
    /// the socket calls. File events give PATH records only: the sensor reports an open, an
    /// unlink or a rename, not which call of its family (open, openat, creat, openat2 …).
    public static let syscalls: [String] =
        ["execve"] + AttackRecord.Op.allCases.filter { $0 != .filelessExec && $0 != .compatSyscall }.map(\.syscall)
        + ["connect", "accept", "listen", "bind"]

    /// What the records can hold: a rule that needs another record type, syscall or an audit
    /// rule key loads as inert with the reason (`edr validate --coverage`).
    public static let fieldDomain = SigmaFieldDomain(
        logsource: logSource,
        values: [
            "type": .init(
                allowed: recordTypes,
                why: "auditd record type not built from our telemetry (built: \(recordTypes.joined(separator: ", ")))"),
            "SYSCALL": .init(allowed: syscalls, why: "syscall not observed by the sensor (docs/telemetry.md lists those that are)")
        ],
        absent: ["key": "records carry no audit rule key: keys name the rules of a custom auditd rule set, and no auditd runs here"],
        schema: (
            "type",
            [
                "EXECVE": ["type", "argc", "a#"],
                "SYSCALL": [
                    "type", "arch", "syscall", "SYSCALL", "success", "exit", "a0", "a1", "a2", "a3", "items", "ppid", "pid",
                    "auid", "uid", "gid", "euid", "egid", "comm", "exe", "UID"
                ],
                "PATH": ["type", "item", "name", "nametype", "inode"],
                "CWD": ["type", "cwd"],
                "PROCTITLE": ["type", "proctitle"],
                "SOCKADDR": ["type", "saddr"]
            ]
        ))

    /// The record types some live rule can match (`SigmaEngine.possibleValues`): only these
    /// are built.
    public struct Wanted: Sendable, Equatable {
        public var execve = false, syscall = false, path = false, cwd = false, proctitle = false, sockaddr = false
        public var any: Bool { execve || syscall || path || cwd || proctitle || sockaddr }

        public static let all = Wanted(execve: true, syscall: true, path: true, cwd: true, proctitle: true, sockaddr: true)
        public static let none = Wanted()

        public init(
            execve: Bool = false, syscall: Bool = false, path: Bool = false, cwd: Bool = false, proctitle: Bool = false,
            sockaddr: Bool = false
        ) {
            self.execve = execve; self.syscall = syscall; self.path = path; self.cwd = cwd; self.proctitle = proctitle
            self.sockaddr = sockaddr
        }

        /// What the live rules of `engine` can match; none when no rule names the logsource
        /// (rules of `product: linux` alone do not make these records be built).
        public init(engine: SigmaEngine) {
            guard engine.hasRules(naming: AuditdRecords.logSource) else { self = .none; return }
            guard let types = engine.possibleValues[AuditdRecords.logSource]?["type"] else { self = .all; return }
            self.init(
                execve: types.contains("execve"), syscall: types.contains("syscall"), path: types.contains("path"),
                cwd: types.contains("cwd"), proctitle: types.contains("proctitle"), sockaddr: types.contains("sockaddr"))
        }
    }

    // MARK: exec

    /// An exec: SYSCALL (execve), EXECVE (argv), CWD, PATH (the file execve named, and the
    /// interpreter of a script), PROCTITLE.
    static func exec(_ r: ExecRecord, process: ProcessEntry, timestamp: Double, wanted: Wanted = .all) -> [Event] {
        let items = r.scriptPath == nil ? 1 : 2
        let sys =
            wanted.syscall
            ? syscall(
                "execve", ids: r.ids, comm: r.comm, exe: r.path, user: process.user, result: 0,
                args: [], items: items, timestamp: timestamp) : nil
        return execRecords(
            syscall: sys, argc: Int(r.argc), argBytes: r.argBytes, cwd: r.cwd, path: r.path,
            scriptPath: r.scriptPath, inode: r.executable?.inode, timestamp: timestamp, wanted: wanted)
    }

    /// The same records from a `process_creation` event alone, for `edr replay`, whose input
    /// holds events, not kernel records: argv is the command line split at spaces (as the
    /// alert's `process.args` is without the kernel's argv), `comm` the image's name cut to
    /// the kernel's 15 bytes, and what the event does not carry (uid, gid, their effective
    /// ids, the inode) is left out rather than invented. An event of another logsource gives
    /// none.
    public static func exec(event e: Event, wanted: Wanted = .all) -> [Event] {
        guard e.logsource.category == "process_creation", e.logsource.product == "linux" || e.logsource.product == nil,
            let image = e["Image"]?.stringValue
        else { return [] }
        let argv = (e["CommandLine"]?.stringValue ?? image).split(separator: " ").map(String.init)
        var argBytes: [UInt8] = []
        for a in argv { argBytes += Array(a.utf8) + [0] }
        let script = e["ScriptPath"]?.stringValue
        var sys: Event?
        if wanted.syscall {
            func int(_ k: String) -> Int64? {
                switch e[k] {
                case .int(let v)?: return v;
                case .string(let t)?: return Int64(t);
                default: return nil
                }
            }
            var ids: [(String, FieldValue)] = []
            if let v = int("ParentProcessId") { ids.append(("ppid", .int(v))) }
            if let v = int("ProcessId") { ids.append(("pid", .int(v))) }
            // LogonId is the login uid; -1 (none) is auditd's 4294967295.
            if let v = int("LogonId") { ids.append(("auid", .int(v < 0 ? Int64(UInt32.max) : v))) }
            let name = image.split(separator: "/").last.map { String(decoding: Array($0.utf8).prefix(15), as: UTF8.self) } ?? ""
            sys = syscall(
                "execve", idFields: ids, comm: name, exe: image, user: e["User"]?.stringValue ?? "", result: 0,
                args: [], items: script == nil ? 1 : 2, timestamp: e.timestamp)
        }
        return execRecords(
            syscall: sys, argc: argv.count, argBytes: argBytes, cwd: e["CurrentDirectory"]?.stringValue ?? "",
            path: image, scriptPath: script, inode: nil, timestamp: e.timestamp, wanted: wanted)
    }

    /// The records of an exec after SYSCALL, shared by the detector and replay.
    static func execRecords(
        syscall: Event?, argc: Int, argBytes: [UInt8], cwd: String, path exe: String, scriptPath: String?,
        inode: UInt64?, timestamp: Double, wanted: Wanted
    ) -> [Event] {
        var out: [Event] = []
        out.reserveCapacity(5)
        if let syscall { out.append(syscall) }
        if wanted.execve {
            // The names are shared constant arrays; only the values are built per event.
            var values: [FieldValue] = []
            values.reserveCapacity(2 + min(max(argc, 0), 256))  // one allocation, not one per doubling
            values.append(.string("EXECVE")); values.append(.int(Int64(argc)))
            KernelRecordDecoder.forEachArg(argBytes) { values.append(.string($0)) }
            let n = values.count - 2
            let names = n < execveNames.count ? execveNames[n] : ["type", "argc"] + (0..<n).map { "a\($0)" }
            out.append(Event(logsource: logSource, timestamp: timestamp, names: names, values: values))
        }
        if wanted.cwd {
            out.append(Event(logsource: logSource, timestamp: timestamp, names: cwdNames, values: [.string("CWD"), .string(cwd)]))
        }
        if wanted.path {
            if let script = scriptPath {
                out.append(path(script, nametype: "NORMAL", item: 0, timestamp: timestamp))
                out.append(path(exe, nametype: "NORMAL", item: 1, inode: inode, timestamp: timestamp))
            } else {
                out.append(path(exe, nametype: "NORMAL", item: 0, inode: inode, timestamp: timestamp))
            }
        }
        if wanted.proctitle {
            out.append(
                Event(
                    logsource: logSource, timestamp: timestamp, names: proctitleNames,
                    values: [.string("PROCTITLE"), .string(proctitle(argBytes))]))
        }
        return out
    }

    /// EXECVE's names for 0…63 arguments: `type`, `argc`, `a0` … (built once).
    static let execveNames: [[String]] = (0..<64).map { n in ["type", "argc"] + (0..<n).map { "a\($0)" } }
    static let cwdNames = ["type", "cwd"]
    static let proctitleNames = ["type", "proctitle"]
    static let pathNames = ["type", "item", "name", "nametype"]
    static let pathNamesWithInode = pathNames + ["inode"]

    static func path(_ name: String, nametype: String, item: Int, inode: UInt64? = nil, timestamp: Double) -> Event {
        var values: [FieldValue] = []
        values.reserveCapacity(5)
        values.append(.string("PATH")); values.append(.int(Int64(item))); values.append(.string(name)); values.append(.string(nametype))
        if let inode { values.append(.int(Int64(inode))) }
        return Event(logsource: logSource, timestamp: timestamp, names: inode == nil ? pathNames : pathNamesWithInode, values: values)
    }

    /// auditd's PROCTITLE: argv with NULs, at most 128 bytes; in hex (upper case) when a byte
    /// is a control character, a space, a quote or past `~` (audit_log_n_untrustedstring).
    static func proctitle(_ argv: [UInt8]) -> String {
        var bytes = argv.prefix(128)
        while bytes.last == 0 { bytes.removeLast() }
        guard bytes.contains(where: { $0 < 0x21 || $0 > 0x7e || $0 == 0x22 }) else { return String(decoding: bytes, as: UTF8.self) }
        let digits = Array("0123456789ABCDEF".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(bytes.count * 2)
        for b in bytes { hex.append(digits[Int(b >> 4)]); hex.append(digits[Int(b & 15)]) }
        return String(decoding: hex, as: UTF8.self)
    }

    // MARK: SYSCALL

    #if arch(arm64)
    static let arch = "c00000b7"
    static let numbers: [String: Int] = [
        "execve": 221, "ptrace": 117, "init_module": 105, "finit_module": 273, "bpf": 280, "setuid": 146, "setgid": 144,
        "setreuid": 145, "setregid": 143, "setresuid": 147, "setresgid": 149, "setfsuid": 151, "setfsgid": 152,
        "capset": 91, "memfd_create": 279, "mount": 40, "syslog": 116, "connect": 203, "accept": 202, "listen": 201, "bind": 200
    ]
    #else
    static let arch = "c000003e"
    static let numbers: [String: Int] = [
        "execve": 59, "ptrace": 101, "init_module": 175, "finit_module": 313, "bpf": 321, "setuid": 105, "setgid": 106,
        "setreuid": 113, "setregid": 114, "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123,
        "capset": 126, "memfd_create": 319, "mount": 165, "syslog": 103, "connect": 42, "accept": 43, "listen": 50, "bind": 49
    ]
    #endif

    /// A SYSCALL record. `args`: the known arguments as (index, value), printed in hex as
    /// auditd prints a0…a3; unknown ones are left out rather than invented.
    static func syscall(
        _ name: String, ids: TaskIDs, comm: String, exe: String, user: String, result: Int32,
        args: [(Int, UInt64)], items: Int, timestamp: Double
    ) -> Event {
        let number = numbers[name]
        var mask = 0
        for (i, _) in args where i < 4 { mask |= 1 << i }
        var values: [FieldValue] = []
        values.reserveCapacity(21)
        values.append(syscallType)
        values.append(archValue)
        if let number { values.append(.int(Int64(number))) }
        values.append(.string(name))
        values.append(result >= 0 ? yes : no)
        values.append(.int(Int64(result)))
        for i in 0..<4 where mask & (1 << i) != 0 {
            if let (_, v) = args.first(where: { $0.0 == i }) { values.append(.string(String(v, radix: 16))) }
        }
        values.append(.int(Int64(items))); values.append(.int(Int64(ids.ppid))); values.append(.int(Int64(ids.pid)))
        values.append(.int(Int64(ids.loginuid))); values.append(.int(Int64(ids.uid))); values.append(.int(Int64(ids.gid)))
        values.append(.int(Int64(ids.euid))); values.append(.int(Int64(ids.egid)))
        values.append(.string(comm)); values.append(.string(exe)); values.append(.string(user))
        return Event(logsource: logSource, timestamp: timestamp, names: syscallNames[(number == nil ? 16 : 0) + mask], values: values)
    }

    static let syscallType = FieldValue.string("SYSCALL"), archValue = FieldValue.string(arch)
    static let yes = FieldValue.string("yes"), no = FieldValue.string("no")

    /// SYSCALL's field names, built once for each set of arguments present (bit i: `ai`) and
    /// with (0…15) or without (16…31) the syscall number: a constant names array lets the
    /// engine recognize the layout by identity instead of comparing 21 strings per record.
    static let syscallNames: [[String]] = (0..<32).map { k in
        var n = ["type", "arch"]
        if k < 16 { n.append("syscall") }
        n += ["SYSCALL", "success", "exit"]
        for i in 0..<4 where (k & 15) & (1 << i) != 0 { n.append("a\(i)") }
        return n + ["items", "ppid", "pid", "auid", "uid", "gid", "euid", "egid", "comm", "exe", "UID"]
    }

    /// A SYSCALL record with the ids that are known (`ppid`, `pid`, `auid`, `uid` … in auditd's order).
    static func syscall(
        _ name: String, idFields: [(String, FieldValue)], comm: String, exe: String, user: String, result: Int32,
        args: [(Int, UInt64)], items: Int, timestamp: Double
    ) -> Event {
        var f: [(String, FieldValue)] = [("type", .string("SYSCALL")), ("arch", .string(arch))]
        if let n = numbers[name] { f.append(("syscall", .int(Int64(n)))) }
        f.append(("SYSCALL", .string(name)))
        f.append(("success", .string(result >= 0 ? "yes" : "no")))
        f.append(("exit", .int(Int64(result))))
        for (i, v) in args { f.append(("a\(i)", .string(String(v, radix: 16)))) }
        f.append(("items", .int(Int64(items))))
        f += idFields
        f += [("comm", .string(comm)), ("exe", .string(exe)), ("UID", .string(user))]
        return Event(logsource: logSource, timestamp: timestamp, fields: f)
    }

    // MARK: telemetry

    /// The records of one telemetry record the normalizer reported (`event` is its event: an
    /// excluded path or an aggregated connection gives none).
    static func telemetry(_ record: KernelRecord, event: Event, process: ProcessEntry?, wanted: Wanted = .all) -> [Event] {
        let t = event.timestamp
        let exe = event["Image"]?.stringValue ?? process?.image ?? ""
        let user = process?.user ?? ""
        switch record {
        case .file(let r):
            // auditd's items for a create or a delete: the parent directory, then the file.
            func parent(_ p: String) -> String {
                guard let slash = p.lastIndex(of: "/") else { return "." }
                return slash == p.startIndex ? "/" : String(p[..<slash])
            }
            guard wanted.path else { return [] }
            switch r.op {
            case .create:
                return [path(parent(r.path), nametype: "PARENT", item: 0, timestamp: t), path(r.path, nametype: "CREATE", item: 1, timestamp: t)]
            case .modify:
                return [path(r.path, nametype: "NORMAL", item: 0, timestamp: t)]
            case .delete, .rmdir:
                return [path(parent(r.path), nametype: "PARENT", item: 0, timestamp: t), path(r.path, nametype: "DELETE", item: 1, timestamp: t)]
            case .rename:
                let target = r.targetPath ?? ""
                return [
                    path(parent(r.path), nametype: "PARENT", item: 0, timestamp: t), path(parent(target), nametype: "PARENT", item: 1, timestamp: t),
                    path(r.path, nametype: "DELETE", item: 2, timestamp: t), path(target, nametype: "CREATE", item: 3, timestamp: t)
                ]
            }
        case .attack(let r):
            guard wanted.syscall else { return [] }
            let args: [(Int, UInt64)]
            switch r.op {
            case .filelessExec, .compatSyscall: return []  // the exec record gives the execve records
            case .ptrace: args = [(0, r.args[0]), (1, UInt64(UInt32(bitPattern: r.targetPID)))]
            case .initModule: args = [(1, r.args[0])]
            case .finitModule: args = [(0, r.args[0]), (2, r.args[1])]
            case .bpfProgLoad: args = [(0, 5)]  // BPF_PROG_LOAD: the only command reported
            case .setuid, .setgid, .setfsuid, .setfsgid: args = [(0, r.args[0])]
            case .setreuid, .setregid: args = [(0, r.args[0]), (1, r.args[1])]
            case .setresuid, .setresgid: args = [(0, r.args[0]), (1, r.args[1]), (2, r.args[2])]
            case .capset: args = []
            case .memfdCreate: args = [(1, r.args[0])]
            case .mount: args = [(3, r.args[0])]
            case .syslog: args = [(0, r.args[0]), (2, r.args[1])]
            }
            return [
                syscall(
                    r.op.syscall, ids: r.ctx.ids, comm: r.ctx.comm, exe: exe, user: user, result: r.result,
                    args: args, items: 0, timestamp: t)
            ]
        case .net(let r):
            var out: [Event] = []
            if wanted.syscall {
                out.append(
                    syscall(
                        TelemetryNormalizer.syscallName(r.op), ids: r.ctx.ids, comm: r.ctx.comm, exe: exe, user: user,
                        result: r.result, args: [], items: 0, timestamp: t))
            }
            if wanted.sockaddr {
                out.append(Event(logsource: logSource, timestamp: t, names: ["type", "saddr"], values: [.string("SOCKADDR"), .string(sockaddr(r))]))
            }
            return out
        default:
            return []
        }
    }

    /// The remote address as auditd prints SOCKADDR's saddr: the sockaddr_in / sockaddr_in6
    /// bytes in hex (family in host order, port and address in network order).
    static func sockaddr(_ r: NetRecord) -> String {
        let (ip, port) = r.op == .bind || r.op == .listen ? (r.localIP, r.localPort) : (r.remoteIP, r.remotePort)
        var b: [UInt8] = [UInt8(r.family & 0xff), UInt8(r.family >> 8), UInt8(port >> 8), UInt8(port & 0xff)]
        if r.isIPv6 {
            b += [0, 0, 0, 0] + ipv6Bytes(ip) + [0, 0, 0, 0]
        } else {
            b += ip.split(separator: ".").map { UInt8($0) ?? 0 } + [UInt8](repeating: 0, count: 8)
        }
        return b.map { String(format2: $0) }.joined()
    }

    static func ipv6Bytes(_ s: String) -> [UInt8] {
        var a = in6_addr()
        guard inet_pton(AF_INET6, s, &a) == 1 else { return [UInt8](repeating: 0, count: 16) }
        return withUnsafeBytes(of: a) { Array($0) }
    }
}

extension String {
    /// Two upper-case hex digits.
    init(format2 b: UInt8) {
        let d = Array("0123456789ABCDEF".utf8)
        self.init(decoding: [d[Int(b >> 4)], d[Int(b & 15)]], as: UTF8.self)
    }
}
