/// Kind of indicator (ECS threat.indicator.type: domain → "domain-name", ip → "ipv4-addr"/"ipv6-addr",
/// hash → "file", path → "file").
public enum IOCType: String, Sendable, Hashable, CaseIterable {
    case domain, ip, hash, path
}

/// One indicator hit on an event.
public struct IOCMatch: Sendable, Hashable, CustomStringConvertible {
    public var type: IOCType
    /// The indicator as listed, normalized: "evil.example", "203.0.113.0/24", "2001:db8::/32",
    /// a lowercase hex digest, or the path regex source.
    public var indicator: String
    /// The indicator's label / description from its list line, if any.
    public var label: String?
    /// The event field that matched ("DestinationIp", "QueryResults", "CommandLine", ...).
    public var field: String
    /// The value seen in the event (the host, address, digest or path that matched).
    public var observed: String

    public init(type: IOCType, indicator: String, label: String?, field: String, observed: String) {
        self.type = type
        self.indicator = indicator
        self.label = label
        self.field = field
        self.observed = observed
    }

    /// ECS `threat.indicator.type`: "domain-name", "ipv4-addr", "ipv6-addr" or "file".
    public var ecsIndicatorType: String {
        switch type {
        case .domain: return "domain-name"
        case .ip: return indicator.contains(":") ? "ipv6-addr" : "ipv4-addr"
        case .hash, .path: return "file"
        }
    }

    public var description: String {
        "\(type.rawValue) \(indicator) in \(field)=\(observed)" + (label.map { " (\($0))" } ?? "")
    }
}

/// A problem with one line of an indicator file (the line is skipped, the rest loads).
public struct IOCDiagnostic: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 for whole-file problems.
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

/// A value lookup result: the indicator and its label.
public struct IOCHit: Sendable, Hashable {
    public var indicator: String
    public var label: String?
}

/// Interned labels: many indicators share one description.
struct LabelTable: Sendable {
    private(set) var labels: [String] = [""]
    private var index: [String: UInt32] = ["": 0]

    mutating func intern(_ s: String) -> UInt32 {
        if let i = index[s] { return i }
        let i = UInt32(labels.count)
        labels.append(s)
        index[s] = i
        return i
    }

    /// Drops the interning dictionary once loading is done.
    mutating func freeze() { index = [:] }

    func label(_ i: UInt32) -> String? { i == 0 ? nil : labels[Int(i)] }

    /// Interns every label of `other`; returns the id map other → self.
    mutating func absorb(_ other: LabelTable) -> [UInt32] {
        other.labels.map { intern($0) }
    }
}
