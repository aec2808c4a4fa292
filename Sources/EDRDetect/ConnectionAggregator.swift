/// Repeated identical connections (same process, direction, protocol, remote address and
/// port, result) within a window are reported once: the first is reported, repeats are
/// counted, and the next report after the window carries how many were folded into it and
/// their mean interval.
public struct ConnectionAggregator: Sendable {
    public struct Key: Hashable, Sendable {
        public var pid: Int32
        public var startTicks: UInt64
        public var initiated: Bool
        public var ipProtocol: UInt8
        public var remoteIP: String
        public var remotePort: UInt16
        public var result: Int32
        public init(pid: Int32, startTicks: UInt64, initiated: Bool, ipProtocol: UInt8, remoteIP: String, remotePort: UInt16, result: Int32) {
            self.pid = pid
            self.startTicks = startTicks
            self.initiated = initiated
            self.ipProtocol = ipProtocol
            self.remoteIP = remoteIP
            self.remotePort = remotePort
            self.result = result
        }
    }
    struct Entry { var windowStart: UInt64; var last: UInt64; var repeats: UInt64; var intervalSum: UInt64 }

    public enum Decision: Equatable, Sendable {
        /// Report it; `repeats` earlier identical connections were folded (mean interval in ms).
        case report(repeats: UInt64, meanIntervalMs: Double)
        case suppress
    }

    public let windowNanos: UInt64
    public let capacity: Int
    private var entries: [Key: Entry] = [:]
    public private(set) var suppressed: UInt64 = 0

    public init(windowSeconds: Double = 60, capacity: Int = 16384) {
        windowNanos = UInt64(windowSeconds * 1e9)
        self.capacity = capacity
    }

    public mutating func observe(_ key: Key, now: UInt64) -> Decision {
        if var e = entries[key] {
            if now &- e.windowStart < windowNanos {
                e.repeats += 1
                e.intervalSum += now &- e.last
                e.last = now
                entries[key] = e
                suppressed += 1
                return .suppress
            }
            entries[key] = Entry(windowStart: now, last: now, repeats: 0, intervalSum: 0)
            return .report(repeats: e.repeats, meanIntervalMs: e.repeats == 0 ? 0 : Double(e.intervalSum) / Double(e.repeats) / 1e6)
        }
        if entries.count >= capacity {
            entries = entries.filter { now &- $0.value.windowStart < windowNanos }
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        }
        entries[key] = Entry(windowStart: now, last: now, repeats: 0, intervalSum: 0)
        return .report(repeats: 0, meanIntervalMs: 0)
    }
}
