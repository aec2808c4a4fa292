/// The agent's reports about itself, in the alert stream beside detections (ruleset
/// `edr-health`): a child that died, stopped, hung or was killed by its seccomp filter, a
/// crash loop, counted loss, a response outcome. A fleet that reads only the alert stream
/// still sees an agent that is being blinded.
public struct HealthAlert: Sendable {
    public var ruleID: String
    public var title: String
    public var level: String  // informational … critical
    public var action: String  // event.action
    public var message: String
    public var kind: String = "alert"  // event.kind: "alert" for tampering/loss, "event" for outcomes
    public var outcome: String?  // event.outcome
    public var processName: String?
    public var processPID: Int32?
    public var processExecutable: String?
    public var userID: String?
    /// rule.ruleset / event.dataset: "edr-health" for the agent's own state, "edr-response"
    /// for response outcomes.
    public var ruleset = "edr-health"
    /// event.type
    public var eventType = "info"
    /// Name of the object under `edr` that holds `fields` and `numbers`.
    public var section = "health"
    /// edr.health.* fields.
    public var fields: [(String, String)] = []
    public var numbers: [(String, Int64)] = []

    public init(ruleID: String, title: String, level: String, action: String, message: String) {
        self.ruleID = ruleID
        self.title = title
        self.level = level
        self.action = action
        self.message = message
    }

    /// The host and agent the alert is about (host.*, agent.*).
    public typealias Host = HostIdentity

    static func severity(_ level: String) -> Int {
        switch level {
        case "critical": 99
        case "high": 73
        case "medium": 47
        case "low": 21
        default: 0
        }
    }

    /// One ECS NDJSON line.
    public func encoded(host: Host) -> [UInt8] {
        var w = JSONWriter(capacity: 768)
        let now = wallClockNow()
        w.beginObject()
        w.field("@timestamp", formatTimestamp(epochSeconds: now))
        w.key("ecs"); w.beginObject(); w.field("version", AgentVersion.ecsVersion); w.endObject()
        w.key("event"); w.beginObject()
        w.field("kind", kind)
        w.field("category", kind == "alert" ? ["host"] : ["process"])
        w.field("type", [eventType])
        w.field("action", action)
        w.key("id"); w.uuid(AlertID.next())
        w.field("outcome", outcome)
        w.field("created", formatTimestamp(epochSeconds: now))
        w.field("severity", Self.severity(level))
        w.field("module", "edr")
        w.field("dataset", "edr.\(ruleset)")
        w.endObject()
        w.key("rule"); w.beginObject()
        w.field("id", ruleID)
        w.field("name", title)
        w.field("ruleset", ruleset)
        w.endObject()
        w.key("log"); w.beginObject(); w.field("level", level); w.endObject()
        w.field("message", message)
        if processName != nil || processPID != nil {
            w.key("process"); w.beginObject()
            if let processPID { w.field("pid", processPID) }
            w.field("name", processName)
            w.field("executable", processExecutable)
            w.endObject()
        }
        if let userID {
            w.key("user"); w.beginObject(); w.field("id", userID); w.endObject()
        }
        host.write(&w)
        w.key("edr"); w.beginObject()
        w.key(dynamic: section); w.beginObject()
        for (k, v) in fields { w.field(dynamic: k, v) }
        for (k, v) in numbers { w.field(dynamic: k, v) }
        w.endObject()
        w.endObject()
        w.endObject()
        return w.line
    }
}

/// At most `limit` alerts per rule id within `windowNanos`; the ones held back are counted
/// and the next alert that passes says how many (edr.health.suppressed).
public struct HealthAlertLimiter: Sendable {
    public var limit: Int
    public var windowNanos: UInt64
    private var sent: [String: [UInt64]] = [:]
    private var suppressed: [String: Int64] = [:]

    public init(limit: Int = 10, windowNanos: UInt64 = 60_000_000_000) {
        self.limit = limit
        self.windowNanos = windowNanos
    }

    /// nil: hold this one back. Otherwise the alert, with the count held back before it.
    public mutating func admit(_ alert: HealthAlert, now: UInt64 = monotonicNanos()) -> HealthAlert? {
        var times = (sent[alert.ruleID] ?? []).filter { now &- $0 < windowNanos }
        guard times.count < limit else {
            suppressed[alert.ruleID, default: 0] += 1
            sent[alert.ruleID] = times
            return nil
        }
        times.append(now)
        sent[alert.ruleID] = times
        var a = alert
        if let n = suppressed.removeValue(forKey: alert.ruleID), n > 0 { a.numbers.append(("suppressed", n)) }
        return a
    }
}
