import EDRCore
import EDRSigma
#if canImport(Glibc)
import Glibc
#endif

/// Where an alert was raised: host and agent identity.
public struct AlertContext: Sendable {
    public var hostName: String
    public var hostID: String
    public var agentName = "edr"
    public var agentVersion = AgentVersion.version
    public var kernel: String?

    public init(hostName: String, hostID: String) {
        self.hostName = hostName
        self.hostID = hostID
    }

    /// This machine: kernel host name (or the configured one) and /etc/machine-id.
    public static func local(hostNameOverride: String = "", hostID: String? = nil) -> AlertContext {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, 255)
        let name = hostNameOverride.isEmpty ? String(cString: buf) : hostNameOverride
        let id = hostID ?? (try? readTextFile("/etc/machine-id"))?.filter { !$0.isWhitespace } ?? ""
        var ctx = AlertContext(hostName: name, hostID: id)
        var u = utsname()
        if uname(&u) == 0 {
            ctx.kernel = withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return ctx
    }
}

/// Turns a match into one ECS NDJSON line. The live agent and `edr replay` both use it.
public enum AlertEncoder {
    /// ECS event.category / event.type / event.action for a Sigma logsource category.
    static func classification(_ category: String?) -> (category: [String], type: [String], action: String) {
        switch category {
        case "process_creation": return (["process"], ["start"], "process-started")
        case "network_connection": return (["network"], ["connection", "start"], "network-connection")
        case "file_event": return (["file"], ["creation"], "file-created")
        case "file_delete": return (["file"], ["deletion"], "file-deleted")
        case "file_rename": return (["file"], ["change"], "file-renamed")
        case "file_change": return (["file"], ["change"], "file-modified")
        case "dns_query", "dns": return (["network"], ["protocol"], "dns-query")
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

        public init(sigma rule: SigmaRuleInfo, category: String?) {
            self.init(ruleset: "sigma", id: rule.id, name: rule.title, description: rule.description, level: rule.level)
            tags = rule.tags
            references = rule.references
            author = rule.author
            self.category = category
            techniques = rule.attackTechniques
        }
    }

    public static func sigma(event: Event, rule: SigmaRuleInfo, sequence: UInt64?, context: AlertContext,
                             process: ProcessEntry? = nil, parent: ProcessEntry? = nil) -> [UInt8] {
        encode(event: event, rule: RuleFields(sigma: rule, category: event.logsource.category), sequence: sequence,
               context: context, process: process, parent: parent)
    }

    /// One ECS NDJSON line; `extra` adds engine-specific objects (file, threat.indicator, yara).
    public static func encode(event: Event, rule: RuleFields, sequence: UInt64?, context: AlertContext,
                              process: ProcessEntry? = nil, parent: ProcessEntry? = nil,
                              extra: ((inout JSONWriter) -> Void)? = nil) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("@timestamp", formatTimestamp(epochSeconds: event.timestamp == 0 ? wallClockNow() : event.timestamp))
        w.key("ecs"); w.beginObject(); w.field("version", AgentVersion.ecsVersion); w.endObject()

        let cls = classification(event.logsource.category)
        w.key("event"); w.beginObject()
        w.field("kind", "alert")
        w.field("category", cls.category)
        w.field("type", cls.type)
        w.field("action", cls.action)
        w.field("created", formatTimestamp(epochSeconds: wallClockNow()))
        w.field("severity", severity(rule.level))
        w.field("module", "edr")
        w.field("dataset", "edr.\(rule.ruleset)")
        if let sequence { w.field("sequence", sequence) }
        w.endObject()

        w.key("rule"); w.beginObject()
        w.field("id", rule.id)
        w.field("name", rule.name)
        w.field("description", rule.description)
        w.field("ruleset", rule.ruleset)
        w.field("category", rule.category)
        if !rule.references.isEmpty { w.field("reference", rule.references.joined(separator: " ")) }
        if let a = rule.author { w.field("author", [a]) }
        w.endObject()
        w.key("log"); w.beginObject(); w.field("level", rule.level.description); w.endObject()
        if !rule.techniques.isEmpty {
            w.key("threat"); w.beginObject()
            w.field("framework", "MITRE ATT&CK")
            w.key("technique"); w.beginObject(); w.field("id", rule.techniques); w.endObject()
            w.endObject()
        }
        if !rule.tags.isEmpty { w.field("tags", rule.tags) }

        writeProcess(&w, event: event, process: process, parent: parent)

        if let userName = event["User"]?.stringValue ?? process?.user {
            w.key("user"); w.beginObject()
            w.field("name", userName)
            if let p = process { w.field("id", String(p.uid)) }
            w.endObject()
        }
        w.key("host"); w.beginObject()
        w.field("name", context.hostName)
        w.field("hostname", context.hostName)
        if !context.hostID.isEmpty { w.field("id", context.hostID) }
        w.key("os"); w.beginObject(); w.field("type", "linux"); w.field("kernel", context.kernel); w.endObject()
        w.endObject()
        w.key("agent"); w.beginObject()
        w.field("name", context.agentName)
        w.field("type", "edr")
        w.field("version", context.agentVersion)
        w.endObject()
        extra?(&w)

        // The normalized event as the rules saw it, Sysmon field names.
        w.key("edr"); w.beginObject()
        w.key("logsource"); w.beginObject()
        w.field("product", event.logsource.product)
        w.field("category", event.logsource.category)
        w.field("service", event.logsource.service)
        w.endObject()
        w.key("event"); w.beginObject()
        for (name, value) in zip(event.names, event.values) { w.key(name); w.value(value) }
        w.endObject()
        w.endObject()
        w.endObject()
        return w.line
    }

    static func writeProcess(_ w: inout JSONWriter, event: Event, process: ProcessEntry?, parent: ProcessEntry?) {
        let image = event["Image"]?.stringValue ?? process?.image
        guard image != nil || event["ProcessId"] != nil else { return }
        w.key("process"); w.beginObject()
        // An event without Sysmon's process fields (an auditd record) takes them from the
        // process it is about.
        if let pid = event["ProcessId"] { w.key("pid"); w.value(pid) } else if let p = process { w.field("pid", Int(p.pid)) }
        w.field("entity_id", event["ProcessGuid"]?.stringValue ?? (event["ProcessId"] == nil ? process?.guid : nil))
        w.field("executable", image)
        if let image { w.field("name", String(image.split(separator: "/").last ?? Substring(image))) }
        if let cmd = event["CommandLine"]?.stringValue ?? (event["ProcessId"] == nil ? process?.commandLine : nil) {
            w.field("command_line", cmd)
            let args = process?.args ?? cmd.split(separator: " ").map(String.init)
            w.field("args", args)
            w.field("args_count", args.count)
        }
        w.field("working_directory", event["CurrentDirectory"]?.stringValue ?? process?.cwd)
        // ECS process.env_vars: only the configured variables ([telemetry] environment).
        if let env = event["Environment"] { w.key("env_vars"); w.value(env) }
        if event["ParentProcessId"] != nil || event["ParentImage"] != nil {
            w.key("parent"); w.beginObject()
            if let ppid = event["ParentProcessId"] { w.key("pid"); w.value(ppid) }
            w.field("entity_id", event["ParentProcessGuid"]?.stringValue)
            let pimage = event["ParentImage"]?.stringValue ?? parent?.image
            w.field("executable", pimage)
            if let pimage { w.field("name", String(pimage.split(separator: "/").last ?? Substring(pimage))) }
            if let pcmd = event["ParentCommandLine"]?.stringValue ?? parent?.commandLine {
                w.field("command_line", pcmd)
                w.field("args", parent?.args ?? pcmd.split(separator: " ").map(String.init))
            }
            w.endObject()
        }
        w.endObject()
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
        return "[\(formatTimestamp(epochSeconds: event.timestamp == 0 ? wallClockNow() : event.timestamp))] \(level) \(title) — pid=\(pid) user=\(user)\(parent) \(what)"
    }
}
