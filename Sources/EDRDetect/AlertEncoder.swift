import EDRCore
import EDRSigma
import Foundation

/// Where an alert was raised: host and agent identity (HostIdentity).
public struct AlertContext: Sendable {
    public var host: HostIdentity {
        didSet { hostJSON = host.rendered }
    }
    /// host.* and agent.* as bytes: the same in every alert, so written once.
    public private(set) var hostJSON: [UInt8]

    public var hostName: String { host.name }
    public var hostID: String { host.id }

    public init(hostName: String, hostID: String) {
        self.init(host: HostIdentity(name: hostName, id: hostID))
    }

    public init(host: HostIdentity) {
        self.host = host
        hostJSON = host.rendered
    }

    /// rule.*, log.level, threat.* and tags of each Sigma rule that alerted, as bytes: the same
    /// in every alert of the rule, so written once.
    let ruleBlocks = RuleBlockCache()

    /// This machine: kernel host name (or the configured one), /etc/machine-id (or the one
    /// the supervisor passed), the kernel release and /etc/os-release (read before
    /// confinement and passed in, in edr-detect).
    public static func local(hostNameOverride: String = "", hostID: String? = nil, os: OSRelease? = nil) -> AlertContext {
        AlertContext(host: .local(nameOverride: hostNameOverride, machineID: hostID, os: os))
    }
}

/// Encoded rule blocks by rule. Found by path, title and category, used only if every field
/// the block holds is still the rule's (a reloaded rule may keep its file and title and change
/// the rest). Bounded: past 4,096 rules it starts over.
final class RuleBlockCache: @unchecked Sendable {
    private let lock = NSLock()
    private var blocks: [String: (rule: SigmaRuleInfo, block: [UInt8])] = [:]
    /// The same blocks by the rule's storage (`SigmaRuleInfo.identity`): the matches of one
    /// loaded rule share it, so their alerts find the block without building the text key and
    /// comparing the rule's fields (≈ 6,000 instructions per alert).
    private var byIdentity: [ObjectIdentifier: [(category: String?, rule: SigmaRuleInfo, block: [UInt8])]] = [:]
    /// Blocks encoded so far (for the tests: a rule's later alerts reuse its block).
    private(set) var encoded = 0

    func block(_ rule: SigmaRuleInfo, category: String?, _ make: () -> [UInt8]) -> [UInt8] {
        let identity = rule.identity
        lock.lock()
        if let list = byIdentity[identity], let e = list.first(where: { $0.category == category }) {
            lock.unlock()
            return e.block
        }
        lock.unlock()
        let key = rule.path + "\u{1}" + rule.title + "\u{1}" + (category ?? "")
        lock.lock()
        if let e = blocks[key], Self.same(e.rule, rule) {
            byIdentity[identity, default: []].append((category, rule, e.block))
            lock.unlock()
            return e.block
        }
        lock.unlock()
        let b = make()
        lock.lock()
        encoded += 1
        if blocks.count >= 4096 || byIdentity.count >= 4096 {
            blocks.removeAll(keepingCapacity: true)
            byIdentity.removeAll(keepingCapacity: true)
        }
        blocks[key] = (rule, b)
        byIdentity[identity, default: []].append((category, rule, b))
        lock.unlock()
        return b
    }

    /// The fields `AlertEncoder.writeRule` reads (strings of one loaded rule share storage: cheap).
    static func same(_ a: SigmaRuleInfo, _ b: SigmaRuleInfo) -> Bool {
        a.id == b.id && a.title == b.title && a.description == b.description && a.level == b.level && a.author == b.author
            && a.tags == b.tags && a.references == b.references && a.path == b.path
    }
}

/// Turns a match into one ECS NDJSON line. The live agent and `edr replay` both use it.
public enum AlertEncoder {
    /// ECS event.category / event.type (allowed values of ECS 8.11, checked by ECSFieldTests)
    /// and event.action for a Sigma logsource category.
    static func classification(_ category: String?) -> (category: [String], type: [String], action: String) {
        switch category {
        case "process_creation": return (["process"], ["start"], "process-started")
        case "process_termination": return (["process"], ["end"], "process-ended")
        case "fileless_exec": return (["process"], ["start"], "fileless-exec")
        case "process_access": return (["process"], ["access"], "process-accessed")
        case "privilege_change": return (["process"], ["change"], "privilege-changed")
        case "compat_syscall": return (["process"], ["info"], "compat-syscall")
        case "network_connection": return (["network"], ["connection", "start"], "network-connection")
        case "file_event": return (["file"], ["creation"], "file-created")
        case "file_delete": return (["file"], ["deletion"], "file-deleted")
        case "file_rename": return (["file"], ["change"], "file-renamed")
        case "file_change": return (["file"], ["change"], "file-modified")
        case "memfd_create": return (["file"], ["creation"], "memfd-created")
        case "mount": return (["file"], ["change"], "mount")
        case "dns_query", "dns": return (["network"], ["protocol"], "dns-query")
        case "image_load": return (["library"], ["start"], "image-loaded")
        case "driver_load": return (["driver"], ["start"], "driver-loaded")
        case "bpf_program_load": return (["driver"], ["start"], "bpf-program-loaded")
        case "registry_add": return (["registry"], ["creation"], "registry-added")
        case "registry_delete": return (["registry"], ["deletion"], "registry-deleted")
        case "registry_set": return (["registry"], ["change"], "registry-value-set")
        case "registry_event": return (["registry"], ["change"], "registry-changed")
        case "ps_script", "ps_module", "ps_classic_start", "ps_classic_provider_start", "ps_classic_script":
            return (["process"], ["info"], category!.replacingOccurrences(of: "_", with: "-"))
        case .some(let c): return (["host"], ["info"], c)
        case .none: return (["host"], ["info"], "event")
        }
    }

    /// ECS event.severity on a 0–100 scale from the Sigma level.
    public static func severity(_ level: SigmaLevel) -> Int {
        switch level {
        case .informational: 1
        case .low: 21
        case .medium: 47
        case .high: 73
        case .critical: 99
        }
    }

    /// What an alert says about the rule that raised it, whatever the engine.
    public struct RuleFields: Sendable {
        public var ruleset: String
        public var id: String?
        public var name: String
        public var description: String?
        public var level: SigmaLevel
        public var tags: [String] = []
        public var references: [String] = []
        public var author: String?
        public var category: String?
        public var techniques: [String] = []

        public init(ruleset: String, id: String?, name: String, description: String? = nil, level: SigmaLevel) {
            self.ruleset = ruleset
            self.id = id
            self.name = name
            self.description = description
            self.level = level
        }

        /// What `encode` reads of a Sigma rule besides its cached block: the level and ruleset.
        init(sigmaLevel rule: SigmaRuleInfo, category: String?) {
            self.init(ruleset: "sigma", id: rule.id, name: rule.title, level: rule.level)
            self.category = category
        }

        public init(sigma rule: SigmaRuleInfo, category: String?) {
            self.init(ruleset: "sigma", id: rule.id, name: rule.title, description: rule.description, level: rule.level)
            tags = rule.tags
            references = rule.references
            author = rule.author
            self.category = category
            techniques = rule.attackTechniques
        }
    }

    public static func sigma(
        event: Event, rule: SigmaRuleInfo, sequence: UInt64?, context: AlertContext,
        process: ProcessEntry? = nil, parent: ProcessEntry? = nil
    ) -> [UInt8] {
        let category = event.logsource.category
        let fields = RuleFields(sigmaLevel: rule, category: category)
        let block = context.ruleBlocks.block(rule, category: category) {
            var w = JSONWriter(capacity: 512)
            w.beginObject()
            writeRule(&w, RuleFields(sigma: rule, category: category))
            w.endObject()
            return w.memberBytes
        }
        return encode(event: event, rule: fields, sequence: sequence, context: context, process: process, parent: parent, ruleBlock: block)
    }

    /// rule.*, log.level, threat.technique and tags.
    static func writeRule(_ w: inout JSONWriter, _ rule: RuleFields) {
        w.key("rule"); w.beginObject()
        w.field("id", rule.id)
        if rule.ruleset == "sigma", let id = rule.id, isUUID(id) { w.field("uuid", id) }
        w.field("name", rule.name)
        w.field("description", rule.description)
        w.field("ruleset", rule.ruleset)
        w.field("category", rule.category)
        if !rule.references.isEmpty { w.field("reference", rule.references) }
        if let a = rule.author { w.field("author", splitAuthors(a)) }
        w.endObject()
        w.key("log"); w.beginObject(); w.field("level", rule.level.description); w.endObject()
        if !rule.techniques.isEmpty {
            w.key("threat"); w.beginObject()
            w.field("framework", "MITRE ATT&CK")
            w.key("technique"); w.beginObject(); w.field("id", rule.techniques); w.endObject()
            w.endObject()
        }
        if !rule.tags.isEmpty { w.field("tags", rule.tags) }
    }

    /// One ECS NDJSON line; `extra` adds engine-specific ECS objects (file, threat.indicator),
    /// `edrExtra` objects under `edr` (yara, ioc, file scan). Written straight into bytes: the
    /// event is read field by field, nothing is built per alert beyond the line itself.
    public static func encode(
        event: Event, rule: RuleFields, sequence: UInt64?, context: AlertContext,
        process: ProcessEntry? = nil, parent: ProcessEntry? = nil,
        extra: ((inout JSONWriter) -> Void)? = nil,
        edrExtra: ((inout JSONWriter) -> Void)? = nil,
        ruleBlock: [UInt8]? = nil
    ) -> [UInt8] {
        var w = JSONWriter(capacity: 4096)
        let windows = event.logsource.product == "windows"
        w.beginObject()
        w.key("@timestamp"); w.timestamp(epochSeconds: event.timestamp == 0 ? wallClockNow() : event.timestamp)
        w.key("ecs"); w.beginObject(); w.field("version", AgentVersion.ecsVersion); w.endObject()

        let cls = classification(event.logsource.category)
        w.key("event"); w.beginObject()
        w.key("id"); w.uuid(AlertID.next())
        w.field("kind", "alert")
        w.field("category", cls.category)
        w.field("type", cls.type)
        w.field("action", cls.action)
        w.key("created"); w.timestamp(epochSeconds: wallClockNow())
        w.field("severity", severity(rule.level))
        w.field("module", "edr")
        w.field("dataset", "edr.\(rule.ruleset)")
        if let sequence { w.field("sequence", sequence) }
        w.endObject()

        if let ruleBlock { w.members(ruleBlock) } else { writeRule(&w, rule) }

        writeProcess(&w, event: event, process: process, parent: parent, windows: windows)
        let user = writeUser(&w, event: event, process: process, windows: windows)
        let category = event.logsource.category
        let answers = category == "dns_query" || category == "dns" ? event["QueryResults"]?.stringValue.map(dnsAnswers) ?? [] : []
        writeCategoryFields(&w, event: event, windows: windows, dnsAnswers: answers)
        if let id = event["ContainerId"]?.stringValue, !id.isEmpty {
            w.key("container"); w.beginObject(); w.field("id", id); w.endObject()
        }
        writeRelated(&w, event: event, user: user, windows: windows, dnsAnswers: answers)
        w.members(context.hostJSON)
        extra?(&w)

        // The normalized event as the rules saw it, Sysmon field names.
        w.key("edr"); w.beginObject()
        w.key("logsource"); w.beginObject()
        w.field("product", event.logsource.product)
        w.field("category", event.logsource.category)
        w.field("service", event.logsource.service)
        w.endObject()
        w.key("event"); w.beginObject()
        for (name, value) in zip(event.names, event.values) { w.key(dynamic: name); w.value(value) }
        w.endObject()
        edrExtra?(&w)
        w.endObject()
        w.endObject()
        return w.line
    }

    /// The index of the path's last separator (`/`, and `\` on Windows), found by bytes (a
    /// `Character` search decoded grapheme clusters: ≈ 2,800 instructions per alert).
    static func lastSeparator(_ path: String, windows: Bool) -> String.Index? {
        var k = -1
        var p = path
        p.withUTF8 { u in
            var i = u.count - 1
            while i >= 0 {
                let b = u[i]
                if b == 0x2F || (windows && b == 0x5C) { k = i; break }
                i -= 1
            }
        }
        return k < 0 ? nil : path.utf8.index(path.utf8.startIndex, offsetBy: k)
    }

    /// The last component of a path: after "/" on Linux, after "\" or "/" for Windows events.
    static func baseName(_ path: String, windows: Bool) -> Substring {
        lastSeparator(path, windows: windows).map { path[path.utf8.index(after: $0)...] } ?? Substring(path)
    }

    static func directory(_ path: String, windows: Bool) -> Substring? {
        guard let i = lastSeparator(path, windows: windows) else { return nil }
        return i == path.startIndex ? path[...i] : path[..<i]
    }

    static func isUUID(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 36 else { return false }
        for (n, c) in u.enumerated() {
            if n == 8 || n == 13 || n == 18 || n == 23 { if c != UInt8(ascii: "-") { return false } } else if !c.isHex { return false }
        }
        return true
    }

    /// Sigma's author is one string, often "A, B" or "A (Org), B": ECS rule.author is a list.
    /// Split at commas outside parentheses, on bytes (this runs for every alert).
    static func splitAuthors(_ a: String) -> [String] {
        let u = Array(a.utf8)
        guard u.contains(UInt8(ascii: ",")) else { return [a] }
        var parts: [String] = []
        var depth = 0, start = 0
        func add(_ from: Int, _ to: Int) {
            var f = from, t = to
            while f < t, u[f] == 0x20 { f += 1 }
            while t > f, u[t - 1] == 0x20 { t -= 1 }
            if f < t { parts.append(String(decoding: u[f..<t], as: UTF8.self)) }
        }
        for (i, c) in u.enumerated() {
            if c == UInt8(ascii: "(") {
                depth += 1
            } else if c == UInt8(ascii: ")") {
                depth = max(0, depth - 1)
            } else if c == UInt8(ascii: ","), depth == 0 {
                add(start, i); start = i + 1
            }
        }
        add(start, u.count)
        return parts.isEmpty ? [a] : parts
    }

    static func writeProcess(_ w: inout JSONWriter, event: Event, process: ProcessEntry?, parent: ProcessEntry?, windows: Bool = false) {
        // process_access names its actor Source*: that is the process that acted.
        let access = event["Image"] == nil && event["SourceImage"] != nil
        let image = (access ? event["SourceImage"] : event["Image"])?.stringValue ?? process?.image
        let pidValue = access ? event["SourceProcessId"] : event["ProcessId"]
        guard image != nil || pidValue != nil else { return }
        w.key("process"); w.beginObject()
        // An event without Sysmon's process fields (an auditd record) takes them from the
        // process it is about.
        if let pid = pidValue, case .int = pid {
            w.key("pid"); w.value(pid)
        } else if let pid = pidValue?.stringValue.flatMap({ Int64($0) }) {
            w.field("pid", pid)
        } else if let p = process {
            w.field("pid", Int(p.pid))
        }
        w.field("entity_id", (access ? event["SourceProcessGUID"] : event["ProcessGuid"])?.stringValue ?? (pidValue == nil ? process?.guid : nil))
        w.field("executable", image)
        if let image { w.key("name"); w.string(baseName(image, windows: windows)) }
        if let cmd = event["CommandLine"]?.stringValue ?? (pidValue == nil ? process?.commandLine : nil) {
            writeCommandLine(&w, cmd, args: process?.args)
        }
        w.field("working_directory", event["CurrentDirectory"]?.stringValue ?? process?.cwd)
        // ECS process.env_vars: only the configured variables ([telemetry] environment).
        if let env = event["Environment"] { w.key("env_vars"); w.value(env) }
        if let hashes = event["Hashes"]?.stringValue { writeHashes(&w, hashes) }
        if let user = event["User"]?.stringValue ?? process?.user {
            w.key("user"); w.beginObject()
            if let p = process { w.field("id", String(p.uid)) }
            writeUserName(&w, user, windows: windows, domain: false)
            w.endObject()
        }
        if let eff = event["CapEffective"]?.stringValue.flatMap(capabilityNames) {
            w.key("thread"); w.beginObject(); w.key("capabilities"); w.beginObject()
            w.field("effective", eff)
            if let p = event["CapPermitted"]?.stringValue.flatMap(capabilityNames) { w.field("permitted", p) }
            w.endObject(); w.endObject()
        }
        if event["ParentProcessId"] != nil || event["ParentImage"] != nil {
            w.key("parent"); w.beginObject()
            if let ppid = event["ParentProcessId"] { w.key("pid"); w.value(ppid) }
            w.field("entity_id", event["ParentProcessGuid"]?.stringValue)
            let pimage = event["ParentImage"]?.stringValue ?? parent?.image
            w.field("executable", pimage)
            if let pimage { w.key("name"); w.string(baseName(pimage, windows: windows)) }
            if let pcmd = event["ParentCommandLine"]?.stringValue ?? parent?.commandLine {
                writeCommandLine(&w, pcmd, args: parent?.args)
            }
            if let puser = event["ParentUser"]?.stringValue ?? parent?.user {
                w.key("user"); w.beginObject()
                if let parent { w.field("id", String(parent.uid)) }
                writeUserName(&w, puser, windows: windows, domain: false)
                w.endObject()
            }
            w.endObject()
        }
        w.endObject()
    }

    /// "MD5=…,SHA1=…,SHA256=…" (Sysmon's Hashes) → process.hash.md5/sha1/sha256, lowercase.
    /// command_line, args and args_count: the process's own argv when the cache has it, else
    /// the command line split at spaces (written without a String per piece).
    static func writeCommandLine(_ w: inout JSONWriter, _ cmd: String, args: [String]?) {
        w.field("command_line", cmd)
        if let args {
            w.field("args", args)
            w.field("args_count", args.count)
        } else {
            w.key("args")
            let n = w.spaceSeparated(cmd)
            w.field("args_count", n)
        }
    }

    static func writeHashes(_ w: inout JSONWriter, _ hashes: String) {
        w.key("hash"); w.beginObject()
        for part in hashes.split(separator: ",") {
            guard let eq = part.firstIndex(of: "=") else { continue }
            let name = part[..<eq].lowercased()
            guard name == "md5" || name == "sha1" || name == "sha256" || name == "sha512" else { continue }
            w.field(dynamic: name, part[part.index(after: eq)...].lowercased())
        }
        w.endObject()
    }

    static let capabilityNameTable = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"
    ]

    /// A capability mask as the event carries it ("0x200000") → ECS names (["CAP_SYS_ADMIN"]);
    /// bits past the table as "CAP_<n>".
    static func capabilityNames(_ s: String) -> [String]? {
        guard s.hasPrefix("0x"), let mask = UInt64(s.dropFirst(2), radix: 16) else { return nil }
        var names: [String] = []
        for bit in 0..<64 where mask & (1 << UInt64(bit)) != 0 {
            names.append(bit < capabilityNameTable.count ? capabilityNameTable[bit] : "CAP_\(bit)")
        }
        return names
    }

    /// user.name, and user.domain for "DOMAIN\name" (`domain: false`: process.user has no domain).
    static func writeUserName(_ w: inout JSONWriter, _ user: String, windows: Bool, domain: Bool = true) {
        if windows, let slash = user.firstIndex(of: "\\") {
            w.key("name"); w.string(String(user[user.index(after: slash)...]))
            if domain { w.key("domain"); w.string(String(user[..<slash])) }
        } else {
            w.field("name", user)
        }
    }

    /// ECS user.*: who the acting process runs as. Returns the name for related.user.
    static func writeUser(_ w: inout JSONWriter, event: Event, process: ProcessEntry?, windows: Bool) -> String? {
        guard let userName = event["User"]?.stringValue ?? event["SourceUser"]?.stringValue ?? process?.user else { return nil }
        w.key("user"); w.beginObject()
        writeUserName(&w, userName, windows: windows)
        if let p = process { w.field("id", String(p.uid)) }
        if let target = event["TargetUser"]?.stringValue {
            w.key("target"); w.beginObject(); writeUserName(&w, target, windows: windows); w.endObject()
        }
        w.endObject()
        return userName
    }

    /// file.*, dll.*, source/destination/network, dns.*, registry.*, url.* as the category gives them.
    static func writeCategoryFields(
        _ w: inout JSONWriter, event: Event, windows: Bool,
        dnsAnswers answers: [(type: String?, data: Substring)]
    ) {
        switch event.logsource.category {
        case "file_event", "file_delete", "file_rename", "file_change":
            if let path = event["TargetFilename"]?.stringValue { writeFile(&w, path: path, windows: windows) }
        case "image_load", "driver_load":
            if let path = event["ImageLoaded"]?.stringValue, !path.isEmpty {
                w.key("dll"); w.beginObject()
                w.field("path", path)
                w.key("name"); w.string(baseName(path, windows: windows))
                w.endObject()
            }
        case "network_connection":
            writeEndpoint(&w, "source", ip: event["SourceIp"], port: event["SourcePort"], domain: event["SourceHostname"])
            writeEndpoint(&w, "destination", ip: event["DestinationIp"], port: event["DestinationPort"], domain: event["DestinationHostname"])
            w.key("network"); w.beginObject()
            if let proto = event["Protocol"]?.stringValue { w.key("transport"); w.string(proto.lowercased()) }
            if let v6 = event["DestinationIsIpv6"] { w.field("type", isTrue(v6) ? "ipv6" : "ipv4") }
            // ECS: from a host's point of view, egress (this host initiated) or ingress.
            if let initiated = event["Initiated"] { w.field("direction", isTrue(initiated) ? "egress" : "ingress") }
            w.endObject()
        case "dns_query", "dns":
            writeDNS(&w, event: event, answers: answers)
        case "registry_add", "registry_delete", "registry_set", "registry_event":
            writeRegistry(&w, event: event)
        default:
            break
        }
        // Only where the command line is the event (an exec), not a later act of the process.
        if event.logsource.category == "process_creation", let cmd = event["CommandLine"]?.stringValue { writeURL(&w, commandLine: cmd) }
    }

    static func isTrue(_ v: FieldValue) -> Bool {
        switch v {
        case .bool(let b): b
        case .string(let s): s == "true"
        case .int(let i): i != 0
        default: false
        }
    }

    static func writeFile(_ w: inout JSONWriter, path: String, windows: Bool) {
        w.key("file"); w.beginObject()
        w.field("path", path)
        let name = baseName(path, windows: windows)
        w.key("name"); w.string(String(name))
        if let dir = directory(path, windows: windows) { w.key("directory"); w.string(String(dir)) }
        if let dot = name.lastIndex(of: "."), dot != name.startIndex, name.index(after: dot) != name.endIndex {
            w.key("extension"); w.string(String(name[name.index(after: dot)...]))
        }
        w.endObject()
    }

    static func writeEndpoint(_ w: inout JSONWriter, _ key: StaticString, ip: FieldValue?, port: FieldValue?, domain: FieldValue?) {
        guard ip != nil || port != nil else { return }
        w.key(key); w.beginObject()
        if let ip = ip?.stringValue, !ip.isEmpty { w.field("ip", ip) }
        if let port {
            if case .int(let p) = port { w.field("port", p) } else if let p = port.stringValue.flatMap({ Int64($0) }) { w.field("port", p) }
        }
        if let d = domain?.stringValue, !d.isEmpty { w.field("domain", d) }
        w.endObject()
    }

    /// One answer of Sysmon's QueryResults text: "1.2.3.4;", "::ffff:1.2.3.4;", "type:  5 x.example;".
    /// Parsed on bytes.
    static func dnsAnswers(_ results: String) -> [(type: String?, data: Substring)] {
        var out: [(String?, Substring)] = []
        let u = results.utf8
        var i = u.startIndex
        while i < u.endIndex {
            while i < u.endIndex, u[i] == 0x20 { i = u.index(after: i) }
            var end = i
            var colon = false
            while end < u.endIndex, u[end] != UInt8(ascii: ";") {
                if u[end] == UInt8(ascii: ":") { colon = true }
                end = u.index(after: end)
            }
            defer { i = end < u.endIndex ? u.index(after: end) : end }
            if i == end { continue }
            let item = results[i..<end]
            if item.utf8.starts(with: "type:".utf8) {
                var j = item.utf8.index(item.utf8.startIndex, offsetBy: 5)
                while j < end, u[j] == 0x20 { j = u.index(after: j) }
                var code = 0, digits = 0
                while j < end, u[j] >= 0x30, u[j] <= 0x39 { code = code * 10 + Int(u[j] - 0x30); digits += 1; j = u.index(after: j) }
                guard digits > 0, j < end, u[j] == 0x20 else { continue }
                out.append((dnsTypeName(code), results[u.index(after: j)..<end]))
            } else {
                out.append((colon ? "AAAA" : "A", item))
            }
        }
        return out
    }

    static func dnsTypeName(_ code: Int) -> String? {
        code >= 0 && code <= Int(UInt16.max) ? DnsMessage.typeName(UInt16(code)) : nil
    }

    static func writeDNS(_ w: inout JSONWriter, event: Event, answers: [(type: String?, data: Substring)]) {
        w.key("dns"); w.beginObject()
        let status = event["QueryStatusName"]?.stringValue
        let answered = !answers.isEmpty || (status != nil && status != "no answer")
        w.field("type", answered ? "answer" : "query")
        w.key("question"); w.beginObject()
        w.field("name", event["QueryName"]?.stringValue)
        w.field("type", event["QueryType"]?.stringValue)
        w.endObject()
        if let status { w.field("response_code", status) }
        if !answers.isEmpty {
            w.key("answers"); w.beginArray()
            for a in answers {
                w.beginObject()
                w.key("data"); w.string(String(a.data))
                w.field("type", a.type)
                w.endObject()
            }
            w.endArray()
            var ips = false
            for a in answers where a.type == "A" || a.type == "AAAA" {
                if !ips { w.key("resolved_ip"); w.beginArray(); ips = true }
                w.string(String(a.data))
            }
            if ips { w.endArray() }
        }
        w.endObject()
        if let server = event["DnsServer"]?.stringValue, !server.isEmpty {
            w.key("destination"); w.beginObject(); w.field("ip", server); w.field("port", 53); w.endObject()
        }
        w.key("network"); w.beginObject()
        if let proto = event["Protocol"]?.stringValue { w.key("transport"); w.string(proto.lowercased()) }
        w.field("protocol", "dns")
        w.endObject()
    }

    /// Sysmon's TargetObject ("HKLM\\SOFTWARE\\…\\Value") and Details → ECS registry.*.
    static func writeRegistry(_ w: inout JSONWriter, event: Event) {
        guard let target = event["TargetObject"]?.stringValue else { return }
        let type = event["EventType"]?.stringValue
        let isValue = type == "SetValue" || type == "DeleteValue" || (type == nil && event["Details"] != nil)
        w.key("registry"); w.beginObject()
        w.field("path", target)
        let firstSlash = target.firstIndex(of: "\\")
        if let firstSlash { w.key("hive"); w.string(String(target[..<firstSlash])) }
        let afterHive = firstSlash.map { target[target.index(after: $0)...] } ?? Substring(target)
        if isValue, let last = afterHive.lastIndex(of: "\\") {
            w.key("key"); w.string(String(afterHive[..<last]))
            w.key("value"); w.string(String(afterHive[afterHive.index(after: last)...]))
        } else if !isValue {
            w.key("key"); w.string(String(afterHive))
        }
        if let details = event["Details"]?.stringValue {
            w.key("data"); w.beginObject()
            // The ETW decoder names the value's type (ValueType); Sysmon's own records say it
            // only through Details' DWORD/QWORD wording, so their strings go without a type.
            let valueType = event["ValueType"]?.stringValue
            if let dword = registryNumber(details, prefix: "DWORD (") {
                w.field("type", valueType ?? "REG_DWORD"); w.field("strings", [String(dword)])
            } else if let qword = registryNumber(details, prefix: "QWORD (") {
                w.field("type", valueType ?? "REG_QWORD"); w.field("strings", [String(qword)])
            } else if details != "Binary Data" {
                // REG_SZ, REG_EXPAND_SZ or REG_MULTI_SZ: the decoded text; the type from ValueType.
                w.field("type", valueType)
                w.field("strings", [details])
            } else {
                w.field("type", valueType)
            }
            w.endObject()
        }
        w.endObject()
    }

    /// "DWORD (0x0000002a)" → 42, "QWORD (0x00000001-0x00000002)" → 4294967298.
    static func registryNumber(_ details: String, prefix: String) -> UInt64? {
        guard details.hasPrefix(prefix), details.hasSuffix(")") else { return nil }
        let inner = details.dropFirst(prefix.count).dropLast()
        var value: UInt64 = 0
        for part in inner.split(separator: "-") {
            guard part.hasPrefix("0x"), let v = UInt64(part.dropFirst(2), radix: 16) else { return nil }
            value = value << 32 | v
        }
        return value
    }

    /// url.* for the first http(s)/ftp URL a command line names, as it is written there.
    /// Byte scans: most command lines hold no "://" and cost one pass.
    static func writeURL(_ w: inout JSONWriter, commandLine: String) {
        let u = Array(commandLine.utf8)
        var i = 0
        while i + 3 <= u.count {
            defer { i += 1 }
            guard u[i] == UInt8(ascii: ":"), u[i + 1] == UInt8(ascii: "/"), i + 2 < u.count, u[i + 2] == UInt8(ascii: "/") else { continue }
            func separator(_ c: UInt8) -> Bool { c == 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") || c == 0x09 }
            var start = i
            while start > 0, !separator(u[start - 1]) { start -= 1 }
            var end = i + 3
            while end < u.count, !separator(u[end]) { end += 1 }
            let scheme = String(decoding: u[start..<i], as: UTF8.self).lowercased()
            guard scheme == "http" || scheme == "https" || scheme == "ftp" else { continue }
            var authorityEnd = i + 3
            while authorityEnd < end, u[authorityEnd] != UInt8(ascii: "/"), u[authorityEnd] != UInt8(ascii: "?"), u[authorityEnd] != UInt8(ascii: "#") {
                authorityEnd += 1
            }
            var hostStart = i + 3, hostEnd = authorityEnd
            if let at = u[hostStart..<hostEnd].lastIndex(of: UInt8(ascii: "@")) { hostStart = at + 1 }
            var port: Int64?
            if hostStart < hostEnd, u[hostStart] == UInt8(ascii: "[") {
                if let close = u[hostStart..<hostEnd].firstIndex(of: UInt8(ascii: "]")) {
                    if close + 1 < hostEnd, u[close + 1] == UInt8(ascii: ":") { port = Int64(String(decoding: u[(close + 2)..<hostEnd], as: UTF8.self)) }
                    hostStart += 1
                    hostEnd = close
                }
            } else if let colon = u[hostStart..<hostEnd].lastIndex(of: UInt8(ascii: ":")) {
                port = Int64(String(decoding: u[(colon + 1)..<hostEnd], as: UTF8.self))
                hostEnd = colon
            }
            guard hostStart < hostEnd else { continue }
            w.key("url"); w.beginObject()
            w.key("original"); w.string(String(decoding: u[start..<end], as: UTF8.self))
            w.key("scheme"); w.string(scheme)
            w.key("domain"); w.string(String(decoding: u[hostStart..<hostEnd], as: UTF8.self))
            if let port { w.field("port", port) }
            var pathEnd = authorityEnd
            while pathEnd < end, u[pathEnd] != UInt8(ascii: "?"), u[pathEnd] != UInt8(ascii: "#") { pathEnd += 1 }
            if pathEnd > authorityEnd { w.key("path"); w.string(String(decoding: u[authorityEnd..<pathEnd], as: UTF8.self)) }
            w.endObject()
            return
        }
    }

    /// related.ip / user / hosts / hash: the values an analyst pivots on.
    static func writeRelated(
        _ w: inout JSONWriter, event: Event, user: String?, windows: Bool,
        dnsAnswers answers: [(type: String?, data: Substring)]
    ) {
        var open = false
        func begin(_ w: inout JSONWriter) { if !open { w.key("related"); w.beginObject(); open = true } }
        let category = event.logsource.category
        if category == "network_connection" || category == "dns_query" {
            var ips = false
            for name in ["SourceIp", "DestinationIp", "DnsServer"] {
                guard let ip = event[name]?.stringValue, !ip.isEmpty else { continue }
                if !ips { begin(&w); w.key("ip"); w.beginArray(); ips = true }
                w.string(ip)
            }
            if category == "dns_query" {
                for a in answers where a.type == "A" || a.type == "AAAA" {
                    if !ips { begin(&w); w.key("ip"); w.beginArray(); ips = true }
                    w.string(String(a.data))
                }
            }
            if ips { w.endArray() }
            var hosts = false
            for name in ["DestinationHostname", "SourceHostname", "QueryName"] {
                guard let h = event[name]?.stringValue, !h.isEmpty else { continue }
                if !hosts { begin(&w); w.key("hosts"); w.beginArray(); hosts = true }
                w.string(h)
            }
            if hosts { w.endArray() }
        }
        let target = event["TargetUser"]?.stringValue
        let parentUser = event["ParentUser"]?.stringValue
        if user != nil || target != nil || parentUser != nil {
            begin(&w)
            w.key("user"); w.beginArray()
            var seen: [Substring] = []
            for u in [user, target, parentUser].compactMap({ $0 }) {
                let name = windows ? baseName(u, windows: true) : Substring(u)
                if !seen.contains(name) { seen.append(name); w.string(String(name)) }
            }
            w.endArray()
        }
        if let hashes = event["Hashes"]?.stringValue {
            begin(&w)
            w.key("hash"); w.beginArray()
            for part in hashes.split(separator: ",") {
                if let eq = part.firstIndex(of: "=") { w.string(part[part.index(after: eq)...].lowercased()) }
            }
            w.endArray()
        }
        if open { w.endObject() }
    }

    /// One readable line for a terminal.
    public static func readable(event: Event, rule: SigmaRuleInfo) -> String {
        readable(event: event, title: rule.title, level: rule.level)
    }

    public static func readable(event: Event, title: String, level sigmaLevel: SigmaLevel) -> String {
        let level = sigmaLevel.description.uppercased()
        let pid = event["ProcessId"]?.stringValue ?? "?"
        let user = event["User"]?.stringValue ?? "?"
        let what = event["CommandLine"]?.stringValue ?? event["Image"]?.stringValue ?? ""
        let parent = event["ParentImage"]?.stringValue.map { " parent=\($0)" } ?? ""
        return
            "[\(formatTimestamp(epochSeconds: event.timestamp == 0 ? wallClockNow() : event.timestamp))] \(level) \(title) — pid=\(pid) user=\(user)\(parent) \(what)"
    }
}

extension UInt8 {
    var isHex: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
