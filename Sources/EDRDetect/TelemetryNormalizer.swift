import EDRCore

/// One normalized telemetry event and the process it is about (for the alert's process.*).
public struct TelemetryEvent: Sendable {
    public var event: Event
    public var process: ProcessEntry?
}

/// Turns telemetry records (network, files, DNS, post-exec activity, cgroup names) into
/// Sysmon-style events. docs/telemetry.md lists the categories and fields.
public struct TelemetryNormalizer: Sendable {
    public static let networkConnection = LogSource(product: "linux", category: "network_connection")
    public static let fileEvent = LogSource(product: "linux", category: "file_event")
    public static let fileChange = LogSource(product: "linux", category: "file_change")
    public static let fileDelete = LogSource(product: "linux", category: "file_delete")
    public static let fileRename = LogSource(product: "linux", category: "file_rename")
    public static let dnsQuery = LogSource(product: "linux", category: "dns_query")
    public static let processAccess = LogSource(product: "linux", category: "process_access")
    public static let driverLoad = LogSource(product: "linux", category: "driver_load")
    public static let bpfProgramLoad = LogSource(product: "linux", category: "bpf_program_load")
    public static let privilegeChange = LogSource(product: "linux", category: "privilege_change")
    public static let memfdCreate = LogSource(product: "linux", category: "memfd_create")
    public static let mount = LogSource(product: "linux", category: "mount")
    public static let filelessExec = LogSource(product: "linux", category: "fileless_exec")
    /// syslog(2) actions that clear the kernel log or silence the console (dmesg -c/-C/-D/-E/-n).
    public static let kernelLogControl = LogSource(product: "linux", category: "kernel_log_control")
    /// 32-bit syscalls (int 0x80): not decoded by the file and network telemetry, so reported.
    public static let compatSyscall = LogSource(product: "linux", category: "compat_syscall")

    public static let logSources: [LogSource] = [
        networkConnection, fileEvent, fileChange, fileDelete, fileRename, dnsQuery, processAccess, driverLoad,
        bpfProgramLoad, privilegeChange, memfdCreate, mount, filelessExec, compatSyscall, kernelLogControl
    ]

    public struct Counters: Sendable {
        public var excludedByPath: UInt64 = 0
        public var connectionsAggregated: UInt64 = 0
        public var dnsUnparsed: UInt64 = 0
        public var dnsUnanswered: UInt64 = 0
        public var cgroups: UInt64 = 0
    }

    struct PendingKey: Hashable { var pid: Int32; var id: UInt16 }
    struct Pending { var question: DnsMessage.Question; var record: DnsRecord; var at: UInt64 }

    public var dns = DnsCache()
    public var aggregator = ConnectionAggregator()
    /// Path prefixes whose file events are dropped (e.g. the agent's own log directory).
    public var excludedPathPrefixes: [String] = []
    public private(set) var counters = Counters()
    private var containers: [UInt64: String] = [:]
    private var pending: [PendingKey: Pending] = [:]
    private var users = UserNames()
    private let guids: ProcessGuidFactory
    /// How long a query waits for its answer before it is reported without one.
    public var answerTimeoutNanos: UInt64 = 2_000_000_000

    public init(machineID: String, excludedPathPrefixes: [String] = []) {
        guids = ProcessGuidFactory(machineID: machineID)
        self.excludedPathPrefixes = excludedPathPrefixes
    }

    /// The container the cgroup belongs to, once the kernel has sent its name.
    public func containerID(cgroup: UInt64) -> String? { containers[cgroup] }

    /// Normalizes one record. `processes` resolves the acting (and target) process;
    /// `wallTime` maps the kernel's boot clock to wall time.
    public mutating func handle(
        _ record: KernelRecord, processes: ProcessCache, now: UInt64 = monotonicNanos(),
        wallTime: (UInt64) -> Double
    ) -> [TelemetryEvent] {
        var out = flushUnanswered(processes: processes, now: now, wallTime: wallTime)
        switch record {
        case .net(let r):
            if let e = network(r, processes: processes, now: now, wallTime: wallTime) { out.append(e) }
        case .file(let r):
            if let e = file(r, processes: processes, wallTime: wallTime) { out.append(e) }
        case .dns(let r):
            if let e = dns(r, processes: processes, now: now, wallTime: wallTime) { out.append(e) }
        case .attack(let r):
            out.append(attack(r, processes: processes, wallTime: wallTime))
        case .cgroup(let r):
            counters.cgroups += 1
            if let id = ContainerID.from(name: r.name, parent: r.parent) { containers[r.cgroupID] = id } else { containers[r.cgroupID] = nil }
        case .exec, .exit, .fork:
            break
        }
        return out
    }

    // MARK: process fields

    mutating func process(_ ctx: TelemetryContext, _ processes: ProcessCache) -> ProcessEntry {
        if let p = processes.lookup(pid: ctx.ids.pid, startTicks: ctx.ids.startTicks) ?? processes.lookup(pid: ctx.ids.pid) {
            return p
        }
        return ProcessEntry(
            pid: ctx.ids.pid, ppid: ctx.ids.ppid, startTicks: ctx.ids.startTicks, image: "", args: [],
            commandLine: "", cwd: "", uid: ctx.ids.uid, user: users.name(ctx.ids.uid), loginuid: ctx.ids.loginuid,
            guid: guids.guid(pid: ctx.ids.pid, startTicks: ctx.ids.startTicks),
            parentGuid: guids.guid(pid: ctx.ids.ppid, startTicks: ctx.ids.parentStartTicks),
            cgroupID: ctx.cgroupID, exitedAtNanos: nil)
    }

    mutating func base(_ ctx: TelemetryContext, _ p: ProcessEntry, time: Double) -> [(String, FieldValue)] {
        var f: [(String, FieldValue)] = [
            ("UtcTime", .string(formatTimestamp(epochSeconds: time))),
            ("ProcessGuid", .string(p.guid)),
            ("ProcessId", .int(Int64(ctx.ids.pid))),
            ("Image", .string(p.image)),
            ("User", .string(users.name(ctx.ids.uid)))
        ]
        if let c = containers[ctx.cgroupID] { f.append(("ContainerId", .string(c))) }
        return f
    }

    static func syscallName(_ op: NetRecord.Op) -> String {
        switch op {
        case .connect: "connect"
        case .accept: "accept"
        case .listen: "listen"
        case .bind: "bind"
        }
    }

    static func resultName(_ r: Int32) -> String {
        switch r {
        case 0...: "success"
        case -115: "in progress"
        case -111: "refused"
        case -110: "timed out"
        case -101: "network unreachable"
        case -113: "host unreachable"
        case -13, -1: "denied"
        default: "error \(-Int64(r))"  // Int64: -Int32.min would trap
        }
    }

    static func protocolName(_ p: UInt8) -> String {
        switch p {
        case 6: "tcp"
        case 17: "udp"
        case 1: "icmp"
        case 58: "ipv6-icmp"
        case 132: "sctp"
        default: String(p)
        }
    }

    // MARK: network_connection

    mutating func network(_ r: NetRecord, processes: ProcessCache, now: UInt64, wallTime: (UInt64) -> Double) -> TelemetryEvent? {
        let p = process(r.ctx, processes)
        let initiated = r.op == .connect
        var repeats: UInt64 = 0, interval = 0.0
        if r.op != .listen && r.op != .bind {
            let key = ConnectionAggregator.Key(
                pid: r.ctx.ids.pid, startTicks: r.ctx.ids.startTicks, initiated: initiated,
                ipProtocol: r.ipProtocol, remoteIP: r.remoteIP,
                remotePort: r.op == .accept ? r.localPort : r.remotePort, result: r.result)
            switch aggregator.observe(key, now: now) {
            case .suppress:
                counters.connectionsAggregated += 1
                return nil
            case .report(let n, let ms):
                repeats = n
                interval = ms
            }
        }
        // Sysmon's convention: Source is who initiated. Outbound: us → remote; inbound: remote → us.
        let (sip, sport, dip, dport) =
            initiated
            ? (r.localIP, r.localPort, r.remoteIP, r.remotePort)
            : (r.remoteIP, r.remotePort, r.localIP, r.localPort)
        var f = base(r.ctx, p, time: wallTime(r.bootNanos))
        f += [
            ("Protocol", .string(Self.protocolName(r.ipProtocol))),
            ("Initiated", .bool(initiated)),
            ("SourceIsIpv6", .bool(r.isIPv6)),
            ("SourceIp", .string(sip)),
            ("SourcePort", .int(Int64(sport))),
            ("DestinationIsIpv6", .bool(r.isIPv6)),
            ("DestinationIp", .string(dip)),
            ("DestinationPort", .int(Int64(dport)))
        ]
        if initiated, let host = dns.lookup(ip: dip, now: now) { f.append(("DestinationHostname", .string(host))) }
        // The kernel had no record of the destination (a failed connect that sent nothing):
        // what the caller's memory said at entry, which another thread could have changed.
        if r.remoteFromUserMemory { f.append(("DestinationFromUserMemory", .bool(true))) }
        if let host = initiated ? nil : dns.lookup(ip: sip, now: now) { f.append(("SourceHostname", .string(host))) }
        f.append(("Syscall", .string(Self.syscallName(r.op))))
        f.append(("Result", .string(Self.resultName(r.result))))
        Self.appendIoUring(r.flags, to: &f)
        if repeats > 0 {
            f.append(("RepeatCount", .int(Int64(repeats))))
            f.append(("RepeatIntervalMs", .double((interval * 1000).rounded() / 1000)))
        }
        return TelemetryEvent(event: Event(logsource: Self.networkConnection, timestamp: wallTime(r.bootNanos), fields: f), process: p)
    }

    // MARK: files

    func excluded(_ path: String) -> Bool {
        excludedPathPrefixes.contains { !$0.isEmpty && path.hasPrefix($0) }
    }

    mutating func file(_ r: FileRecord, processes: ProcessCache, wallTime: (UInt64) -> Double) -> TelemetryEvent? {
        if excluded(r.path) || (r.targetPath.map(excluded) ?? false) {
            counters.excludedByPath += 1
            return nil
        }
        let p = process(r.ctx, processes)
        let time = wallTime(r.bootNanos)
        var f = base(r.ctx, p, time: time)
        let source: LogSource
        switch r.op {
        case .create:
            source = Self.fileEvent
            f.append(("TargetFilename", .string(r.path)))
            f.append(("CreationUtcTime", .string(formatTimestamp(epochSeconds: time))))
        case .modify:
            source = Self.fileChange
            f.append(("TargetFilename", .string(r.path)))
            if r.openFlags & 0o1000 != 0 { f.append(("Truncated", .bool(true))) }
        case .delete, .rmdir:
            source = Self.fileDelete
            f.append(("TargetFilename", .string(r.path)))
            f.append(("IsDirectory", .bool(r.op == .rmdir)))
        case .rename:
            source = Self.fileRename
            f.append(("SourceFilename", .string(r.path)))
            f.append(("TargetFilename", .string(r.targetPath ?? "")))
        }
        if r.flags & FileRecord.pathTruncated != 0 { f.append(("PathTruncated", .bool(true))) }
        if r.resolvedLexically { f.append(("PathResolvedLexically", .bool(true))) }
        Self.appendIoUring(r.flags, to: &f)
        return TelemetryEvent(event: Event(logsource: source, timestamp: time, fields: f), process: p)
    }

    /// An operation asked for through io_uring: `IoUring: true` and the request's opcode
    /// (`IoUringOp`), `IoUringResultUnseen: true` when no completion was posted (the request
    /// is reported as submitted). `Syscall` keeps naming the operation, so a rule on
    /// `Syscall: connect` sees both ways in.
    static func appendIoUring(_ flags: UInt32, to f: inout [(String, FieldValue)]) {
        guard let op = IoUring.opcode(flags) else { return }
        f.append(("IoUring", .bool(true)))
        f.append(("IoUringOp", .string(IoUring.opcodeName(op))))
        if flags & IoUring.resultUnseen != 0 { f.append(("IoUringResultUnseen", .bool(true))) }
    }

    // MARK: dns_query

    mutating func dns(_ r: DnsRecord, processes: ProcessCache, now: UInt64, wallTime: (UInt64) -> Double) -> TelemetryEvent? {
        var bytes = r.payload
        // DNS over TCP: a 2-byte length prefix when the message went out in one call.
        if r.ipProtocol == 6, bytes.count >= 2, Int(bytes[0]) << 8 | Int(bytes[1]) == Int(r.payloadLength) - 2 {
            bytes.removeFirst(2)
        }
        guard let m = DnsMessage.parse(bytes), let q = m.questions.first else {
            counters.dnsUnparsed += 1
            return nil
        }
        let key = PendingKey(pid: r.ctx.ids.pid, id: m.id)
        switch r.direction {
        case .query:
            guard !m.isResponse else { counters.dnsUnparsed += 1; return nil }
            if pending.count > 4096 { pending.removeAll() }
            pending[key] = Pending(question: q, record: r, at: now)
            return nil
        case .answer:
            guard m.isResponse else { counters.dnsUnparsed += 1; return nil }
            dns.learn(m, now: now)
            let asked = pending.removeValue(forKey: key)
            return dnsEvent(asked?.record ?? r, question: asked?.question ?? q, answer: m, processes: processes, wallTime: wallTime)
        }
    }

    mutating func dnsEvent(
        _ r: DnsRecord, question q: DnsMessage.Question, answer: DnsMessage?, processes: ProcessCache,
        wallTime: (UInt64) -> Double
    ) -> TelemetryEvent {
        let p = process(r.ctx, processes)
        var f = base(r.ctx, p, time: wallTime(r.bootNanos))
        f.append(("QueryName", .string(q.name)))
        f.append(("QueryType", .string(DnsMessage.typeName(q.type))))
        if let a = answer {
            f.append(("QueryStatus", .string(String(a.rcode))))
            f.append(("QueryStatusName", .string(DnsMessage.rcodeName(a.rcode))))
            // Sysmon's format: addresses as "addr;", other records as "type: N value;".
            let results = a.answers.map { x -> String in
                (x.type == 1 || x.type == 28) ? "\(x.value);" : "type:  \(x.type) \(x.value);"
            }.joined()
            f.append(("QueryResults", .string(results)))
        } else {
            f.append(("QueryStatus", .string("no answer")))
            f.append(("QueryResults", .string("")))
        }
        f.append(("DnsServer", .string(r.remoteIP)))
        f.append(("Protocol", .string(Self.protocolName(r.ipProtocol))))
        Self.appendIoUring(r.flags, to: &f)  // how the query went out
        return TelemetryEvent(event: Event(logsource: Self.dnsQuery, timestamp: wallTime(r.bootNanos), fields: f), process: p)
    }

    /// Queries whose answer did not come within `answerTimeoutNanos` are reported without one.
    mutating func flushUnanswered(processes: ProcessCache, now: UInt64, wallTime: (UInt64) -> Double) -> [TelemetryEvent] {
        guard !pending.isEmpty else { return [] }
        var out: [TelemetryEvent] = []
        for (k, v) in pending where now &- v.at >= answerTimeoutNanos {
            pending[k] = nil
            counters.dnsUnanswered += 1
            out.append(dnsEvent(v.record, question: v.question, answer: nil, processes: processes, wallTime: wallTime))
        }
        return out
    }

    // MARK: post-exec activity

    /// ia32 numbers of the 32-bit calls an attacker would use to act unseen (arch/x86/entry/syscalls/syscall_32.tbl).
    static let ia32SyscallNames: [Int: String] = [
        1: "exit", 2: "fork", 3: "read", 4: "write", 5: "open", 6: "close", 8: "creat", 9: "link", 10: "unlink",
        11: "execve", 14: "mknod", 15: "chmod", 26: "ptrace", 37: "kill", 38: "rename", 39: "mkdir", 40: "rmdir",
        83: "symlink", 102: "socketcall", 120: "clone", 128: "init_module", 190: "vfork", 195: "stat64",
        197: "fstat64", 252: "exit_group", 295: "openat", 301: "unlinkat", 302: "renameat", 353: "renameat2",
        356: "memfd_create", 358: "execveat", 359: "socket", 361: "bind", 362: "connect", 363: "listen",
        364: "accept4", 369: "sendto", 371: "recvfrom", 370: "sendmsg", 372: "recvmsg"
    ]

    /// syslog(2) actions the sensor reports (include/linux/syslog.h).
    static let syslogActionNames: [Int: String] = [
        4: "SYSLOG_ACTION_READ_CLEAR", 5: "SYSLOG_ACTION_CLEAR", 6: "SYSLOG_ACTION_CONSOLE_OFF",
        7: "SYSLOG_ACTION_CONSOLE_ON", 8: "SYSLOG_ACTION_CONSOLE_LEVEL"
    ]

    mutating func attack(_ r: AttackRecord, processes: ProcessCache, wallTime: (UInt64) -> Double) -> TelemetryEvent {
        let p = process(r.ctx, processes)
        let time = wallTime(r.bootNanos)
        var f = base(r.ctx, p, time: time)
        if !p.commandLine.isEmpty && r.op != .filelessExec { f.append(("CommandLine", .string(p.commandLine))) }
        let source: LogSource
        func str(_ i: Int) -> String { i < r.strings.count ? r.strings[i] : "" }
        func id(_ v: UInt64) -> String { UInt32(truncatingIfNeeded: v) == UInt32.max ? "-1" : String(UInt32(truncatingIfNeeded: v)) }
        switch r.op {
        case .ptrace:
            source = Self.processAccess
            let target = processes.lookup(pid: r.targetPID)
            f += [
                ("SourceProcessGUID", .string(p.guid)), ("SourceProcessId", .int(Int64(r.ctx.ids.pid))),
                ("SourceThreadId", .int(Int64(r.ctx.ids.tid))), ("SourceImage", .string(p.image)),
                ("SourceUser", .string(users.name(r.ctx.ids.uid))),
                ("TargetProcessId", .int(Int64(r.targetPID))), ("TargetImage", .string(target?.image ?? "")),
                ("GrantedAccess", .string(r.args[0] == 0x4206 ? "PTRACE_SEIZE" : "PTRACE_ATTACH"))
            ]
            if let t = target {
                f.append(("TargetProcessGUID", .string(t.guid)))
                f.append(("TargetUser", .string(t.user)))
            }
        case .initModule, .finitModule:
            source = Self.driverLoad
            f.append(("ImageLoaded", .string(r.op == .finitModule ? (r.path ?? "") : "")))
            f.append(("Parameters", .string(str(0))))
        case .bpfProgLoad:
            source = Self.bpfProgramLoad
            f.append(("ProgramType", .int(Int64(bitPattern: r.args[0]))))
            f.append(("ProgramName", .string(str(0))))
            f.append(("InstructionCount", .int(Int64(bitPattern: r.args[1]))))
        case .capset:
            source = Self.privilegeChange
            f.append(("TargetProcessId", .int(Int64(r.targetPID == 0 ? r.ctx.ids.pid : r.targetPID))))
            f.append(("CapEffective", .string("0x" + String(r.args[0], radix: 16))))
            f.append(("CapPermitted", .string("0x" + String(r.args[1], radix: 16))))
            f.append(("CapInheritable", .string("0x" + String(r.args[2], radix: 16))))
        case .setuid, .setgid, .setreuid, .setregid, .setresuid, .setresgid, .setfsuid, .setfsgid:
            source = Self.privilegeChange
            let n: Int =
                switch r.op {
                case .setuid, .setgid, .setfsuid, .setfsgid: 1
                case .setreuid, .setregid: 2
                default: 3
                }
            f.append(("Arguments", .string((0..<n).map { id(r.args[$0]) }.joined(separator: ","))))
            let isUID = [.setuid, .setreuid, .setresuid, .setfsuid].contains(r.op)
            if isUID, let v = (0..<n).map({ r.args[$0] }).first(where: { UInt32(truncatingIfNeeded: $0) != UInt32.max }) {
                f.append(("TargetUser", .string(users.name(UInt32(truncatingIfNeeded: v)))))
            }
        case .memfdCreate:
            source = Self.memfdCreate
            f.append(("MemfdName", .string(str(0))))
            f.append(("Flags", .int(Int64(bitPattern: r.args[0]))))
        case .mount:
            source = Self.mount
            f += [
                ("Source", .string(str(0))), ("Target", .string(str(1))), ("FsType", .string(str(2))),
                ("Flags", .int(Int64(bitPattern: r.args[0])))
            ]
        case .compatSyscall:
            source = Self.compatSyscall
            let nr = Int(truncatingIfNeeded: r.args[0])
            f.append(("SyscallNumber", .int(Int64(nr))))
            f.append(("SyscallName", .string(Self.ia32SyscallNames[nr] ?? "ia32_\(nr)")))
            f.append(("Count", .int(Int64(bitPattern: r.args[1]))))
        case .syslog:
            source = Self.kernelLogControl
            let action = Int64(bitPattern: r.args[0])
            f.append(("Action", .int(action)))
            f.append(("ActionName", .string(Self.syslogActionNames[Int(action)] ?? String(action))))
        case .filelessExec:
            source = Self.filelessExec
            // The exec record may not have been handled yet: the kernel's path is authoritative.
            f[3] = ("Image", .string(r.path ?? ""))
            f.append(("MemfdName", .string(r.path.map { String($0.split(separator: "/").last ?? "") } ?? "")))
        }
        f.append(("Syscall", .string(r.op.syscall)))
        if r.op == .compatSyscall { return TelemetryEvent(event: Event(logsource: source, timestamp: time, fields: f), process: p) }
        f.append(("Result", .string(r.result >= 0 ? (r.op == .memfdCreate ? "fd \(r.result)" : "success") : Self.resultName(r.result))))
        if r.flags & FileRecord.pathTruncated != 0 { f.append(("PathTruncated", .bool(true))) }
        return TelemetryEvent(event: Event(logsource: source, timestamp: time, fields: f), process: p)
    }
}
