import EDRCore

/// Whether a request may be acted on. The responder re-checks everything the detector
/// claims: a compromised detector can ask, but cannot make the responder kill what policy
/// protects.
public struct ResponsePolicy: Sendable {
    public var enabled: Bool
    /// 0 informational … 4 critical.
    public var minLevel: UInt8
    /// Processes never killed: pid 1, the supervisor, the agent's children, the responder.
    public var protectedPIDs: Set<Int32>
    /// The supervisor's pid: its children are the agent's own processes.
    public var supervisorPID: Int32

    public init(enabled: Bool, minLevel: UInt8, protectedPIDs: Set<Int32>, supervisorPID: Int32) {
        self.enabled = enabled
        self.minLevel = minLevel
        self.protectedPIDs = protectedPIDs
        self.supervisorPID = supervisorPID
    }

    public enum Decision: Equatable, Sendable {
        case act
        case refuse(String)
    }

    /// `parentOf` reads the target's parent pid (from /proc in production).
    public func decide(_ r: ResponseRequest, parentOf: (Int32) -> Int32?) -> Decision {
        guard enabled else { return .refuse("response is disabled ([response] enabled = false)") }
        guard r.level >= minLevel else { return .refuse("level \(r.level) is below min_level \(minLevel)") }
        guard r.pid > 1 else { return .refuse("pid \(r.pid) is never killed") }
        guard !protectedPIDs.contains(r.pid) else { return .refuse("pid \(r.pid) is the agent's own process") }
        if let ppid = parentOf(r.pid), ppid == supervisorPID {
            return .refuse("pid \(r.pid) is a child of the agent's supervisor")
        }
        return .act
    }
}
