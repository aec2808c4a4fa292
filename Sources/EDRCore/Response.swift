/// Detector → responder: "this process matched this rule at this level". Fixed binary layout,
/// so the process holding CAP_KILL parses nothing complex.
///
///     u32 pid, u64 start time (clock ticks since boot), u8 level (0 informational … 4 critical),
///     u16 + bytes rule id, u16 + bytes rule name
public struct ResponseRequest: Sendable, Equatable {
    public var pid: Int32
    public var startTicks: UInt64
    public var level: UInt8
    public var ruleID: String
    public var ruleName: String

    public init(pid: Int32, startTicks: UInt64, level: UInt8, ruleID: String, ruleName: String) {
        self.pid = pid
        self.startTicks = startTicks
        self.level = level
        self.ruleID = ruleID
        self.ruleName = ruleName
    }

    public func frame() -> Frame {
        var p = [UInt8]()
        p.appendLE(UInt32(bitPattern: pid))
        p.appendLE(startTicks)
        p.append(level)
        for s in [ruleID, ruleName] {
            let b = Array(s.utf8.prefix(1024))
            p.appendLE(UInt16(b.count))
            p.append(contentsOf: b)
        }
        return Frame(type: .responseRequest, payload: p)
    }

    public init(frame: Frame) throws(WireError) {
        let p = frame.payload
        guard frame.type == .responseRequest, p.count >= 17 else { throw .malformedPayload("response request too short") }
        pid = Int32(bitPattern: p.readLE(UInt32.self, at: 0))
        startTicks = p.readLE(UInt64.self, at: 4)
        level = p[12]
        guard level <= 4 else { throw .malformedPayload("level \(level) out of range") }
        var off = 13
        var strings: [String] = []
        for _ in 0..<2 {
            guard off + 2 <= p.count else { throw .malformedPayload("response request truncated") }
            let n = Int(p.readLE(UInt16.self, at: off)); off += 2
            guard off + n <= p.count else { throw .malformedPayload("response request truncated") }
            strings.append(String(decoding: p[off..<(off + n)], as: UTF8.self)); off += n
        }
        guard off == p.count else { throw .malformedPayload("trailing bytes in response request") }
        ruleID = strings[0]
        ruleName = strings[1]
    }
}

public struct ResponseResult: Sendable, Equatable {
    public enum Outcome: UInt8, Sendable { case killed = 1, refused = 2, gone = 3, failed = 4, disabled = 5 }
    public var pid: Int32
    public var outcome: Outcome
    public var message: String

    public init(pid: Int32, outcome: Outcome, message: String) {
        self.pid = pid
        self.outcome = outcome
        self.message = message
    }

    public func frame() -> Frame {
        var p = [UInt8]()
        p.appendLE(UInt32(bitPattern: pid))
        p.append(outcome.rawValue)
        let b = Array(message.utf8.prefix(4096))
        p.appendLE(UInt16(b.count))
        p.append(contentsOf: b)
        return Frame(type: .responseResult, payload: p)
    }

    public init(frame: Frame) throws(WireError) {
        let p = frame.payload
        guard frame.type == .responseResult, p.count >= 7, let o = Outcome(rawValue: p[4]) else {
            throw .malformedPayload("bad response result")
        }
        let n = Int(p.readLE(UInt16.self, at: 5))
        guard 7 + n == p.count else { throw .malformedPayload("response result length mismatch") }
        pid = Int32(bitPattern: p.readLE(UInt32.self, at: 0))
        outcome = o
        message = String(decoding: p[7...], as: UTF8.self)
    }
}
