/// Detector → responder: "this process matched this rule at this level". Fixed binary layout,
/// so the process holding CAP_KILL parses nothing complex.
///
///     u32 pid, u64 start time (clock ticks since boot), u8 level (0 informational … 4 critical),
///     u16 + bytes rule id, u16 + bytes rule name, u16 + bytes executable (as the kernel
///     recorded it at exec), u64 request id
public struct ResponseRequest: Sendable, Equatable {
    public var pid: Int32
    public var startTicks: UInt64
    public var level: UInt8
    public var ruleID: String
    public var ruleName: String
    public var executable: String
    public var requestID: UInt64

    public init(
        pid: Int32, startTicks: UInt64, level: UInt8, ruleID: String, ruleName: String,
        executable: String = "", requestID: UInt64 = 0
    ) {
        self.pid = pid
        self.startTicks = startTicks
        self.level = level
        self.ruleID = ruleID
        self.ruleName = ruleName
        self.executable = executable
        self.requestID = requestID
    }

    public func frame() -> Frame {
        var p = [UInt8]()
        p.appendLE(UInt32(bitPattern: pid))
        p.appendLE(startTicks)
        p.append(level)
        for s in [ruleID, ruleName, executable] { p.appendShortString(s, limit: 1024) }
        p.appendLE(requestID)
        return Frame(type: .responseRequest, payload: p)
    }

    public init(frame: Frame) throws(WireError) {
        let p = frame.payload
        guard frame.type == .responseRequest, p.count >= 13 else { throw .malformedPayload("response request too short") }
        pid = Int32(bitPattern: p.readLE(UInt32.self, at: 0))
        startTicks = p.readLE(UInt64.self, at: 4)
        level = p[12]
        guard level <= 4 else { throw .malformedPayload("level \(level) out of range") }
        var off = 13
        ruleID = try p.readShortString(at: &off, what: "response request")
        ruleName = try p.readShortString(at: &off, what: "response request")
        executable = try p.readShortString(at: &off, what: "response request")
        guard off + 8 == p.count else { throw .malformedPayload(off + 8 > p.count ? "response request truncated" : "trailing bytes in response request") }
        requestID = p.readLE(UInt64.self, at: off)
    }
}

/// Responder → detector: what became of one request. The detector writes each one to the
/// alert stream as its own ECS event.
///
///     u64 request id, u32 pid, u8 outcome, u8 dry run, u32 uid (as the responder read it,
///     0xFFFFFFFF unknown), u16 + bytes message, rule id, rule name, executable
public struct ResponseResult: Sendable, Equatable {
    public enum Outcome: UInt8, Sendable {
        case killed = 1, refused = 2, gone = 3, failed = 4, disabled = 5, wouldKill = 6

        public var name: String {
            switch self {
            case .killed: "killed"
            case .refused: "refused"
            case .gone: "target-gone"
            case .failed: "failed"
            case .disabled: "disabled"
            case .wouldKill: "dry-run"
            }
        }
    }
    public var requestID: UInt64
    public var pid: Int32
    public var outcome: Outcome
    public var dryRun: Bool
    public var uid: UInt32
    public var message: String
    public var ruleID: String
    public var ruleName: String
    public var executable: String

    public init(
        pid: Int32, outcome: Outcome, message: String, requestID: UInt64 = 0, dryRun: Bool = false,
        uid: UInt32 = .max, ruleID: String = "", ruleName: String = "", executable: String = ""
    ) {
        self.requestID = requestID
        self.pid = pid
        self.outcome = outcome
        self.dryRun = dryRun
        self.uid = uid
        self.message = message
        self.ruleID = ruleID
        self.ruleName = ruleName
        self.executable = executable
    }

    public func frame() -> Frame {
        var p = [UInt8]()
        p.appendLE(requestID)
        p.appendLE(UInt32(bitPattern: pid))
        p.append(outcome.rawValue)
        p.append(dryRun ? 1 : 0)
        p.appendLE(uid)
        p.appendShortString(message, limit: 4096)
        for s in [ruleID, ruleName, executable] { p.appendShortString(s, limit: 1024) }
        return Frame(type: .responseResult, payload: p)
    }

    public init(frame: Frame) throws(WireError) {
        let p = frame.payload
        guard frame.type == .responseResult, p.count >= 18, let o = Outcome(rawValue: p[12]), p[13] <= 1 else {
            throw .malformedPayload("bad response result")
        }
        requestID = p.readLE(UInt64.self, at: 0)
        pid = Int32(bitPattern: p.readLE(UInt32.self, at: 8))
        outcome = o
        dryRun = p[13] == 1
        uid = p.readLE(UInt32.self, at: 14)
        var off = 18
        message = try p.readShortString(at: &off, what: "response result")
        ruleID = try p.readShortString(at: &off, what: "response result")
        ruleName = try p.readShortString(at: &off, what: "response result")
        executable = try p.readShortString(at: &off, what: "response result")
        guard off == p.count else { throw .malformedPayload("trailing bytes in response result") }
    }
}

extension Array where Element == UInt8 {
    mutating func appendShortString(_ s: String, limit: Int) {
        let b = Array(s.utf8.prefix(limit))
        appendLE(UInt16(b.count))
        append(contentsOf: b)
    }

    func readShortString(at off: inout Int, what: String) throws(WireError) -> String {
        guard off + 2 <= count else { throw .malformedPayload("\(what) truncated") }
        let n = Int(readLE(UInt16.self, at: off))
        off += 2
        guard off + n <= count else { throw .malformedPayload("\(what) truncated") }
        defer { off += n }
        return String(decoding: self[off..<(off + n)], as: UTF8.self)
    }
}
