public import EDRCore

// CONTRACT between EDRSigma and its users (EDRDetect, `edr validate`, `edr replay`).
// The bodies below are placeholders to be replaced by the real engine.

/// Sigma rule severity, ordered.
public enum SigmaLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case informational = 0, low, medium, high, critical

    public init?(name: String) {
        switch name.lowercased() {
        case "informational", "info": self = .informational
        case "low": self = .low
        case "medium": self = .medium
        case "high": self = .high
        case "critical": self = .critical
        default: return nil
        }
    }
    public var description: String { String(describing: Self.allCases[rawValue]).lowercased() }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// A rule's metadata as the alert writer needs it.
public struct SigmaRuleInfo: Sendable {
    public var id: String?
    public var title: String
    public var description: String?
    public var level: SigmaLevel
    public var status: String?
    public var author: String?
    public var tags: [String]
    public var references: [String]
    public var falsepositives: [String]
    public var logsource: LogSource
    /// The rule file it came from.
    public var path: String

    public init(id: String?, title: String, description: String? = nil, level: SigmaLevel, status: String? = nil,
                author: String? = nil, tags: [String] = [], references: [String] = [], falsepositives: [String] = [],
                logsource: LogSource, path: String) {
        self.id = id; self.title = title; self.description = description; self.level = level; self.status = status
        self.author = author; self.tags = tags; self.references = references; self.falsepositives = falsepositives
        self.logsource = logsource; self.path = path
    }

    /// ATT&CK technique ids from tags such as `attack.t1059.004` → `T1059.004`.
    public var attackTechniques: [String] {
        tags.compactMap { tag in
            let lower = tag.lowercased()
            guard lower.hasPrefix("attack.t"), lower.dropFirst(8).first?.isNumber == true else { return nil }
            return String(tag.dropFirst(7)).uppercased()
        }
    }
}

/// One rule that matched one event.
public struct SigmaMatch: Sendable {
    public var rule: SigmaRuleInfo
    public init(rule: SigmaRuleInfo) { self.rule = rule }
}

/// What happened to one rule document at load time.
public struct SigmaRuleDiagnostic: Sendable {
    public enum Status: Sendable, Equatable {
        case loaded
        case rejected(reason: String)
        case inert(reason: String)
    }
    public var path: String
    public var ruleID: String?
    public var title: String?
    public var status: Status
    public init(path: String, ruleID: String?, title: String?, status: Status) {
        self.path = path; self.ruleID = ruleID; self.title = title; self.status = status
    }
}

public struct SigmaOptions: Sendable {
    /// Logsources this platform produces; rules for any other logsource load as inert.
    public var collectedLogSources: [LogSource]?
    /// `expand` modifier placeholders: name → values.
    public var placeholders: [String: [String]]
    public init(collectedLogSources: [LogSource]? = nil, placeholders: [String: [String]] = [:]) {
        self.collectedLogSources = collectedLogSources
        self.placeholders = placeholders
    }
}

/// A compiled rule set. Thread-safe: `evaluate` may be called from any thread.
public final class SigmaEngine: @unchecked Sendable {
    public let diagnostics: [SigmaRuleDiagnostic]
    public var loadedCount: Int { diagnostics.filter { $0.status == .loaded }.count }

    init(diagnostics: [SigmaRuleDiagnostic]) { self.diagnostics = diagnostics }

    /// Loads every `.yml`/`.yaml` file under the given files or directories (recursively).
    /// Never throws for a bad rule: each is reported in `diagnostics`. Throws only when a
    /// path itself cannot be read.
    public static func load(paths: [String], options: SigmaOptions = SigmaOptions()) throws -> SigmaEngine {
        fatalError("placeholder")
    }

    /// Rules (and correlations) that match this event.
    public func evaluate(_ event: Event) -> [SigmaMatch] {
        fatalError("placeholder")
    }
}
