/// The wire protocol between the agent's processes: a stream of frames over a Unix socket.
///
///     offset  size  field
///     0       4     length of everything after this field (little-endian)
///     4       1     frame type
///     5       1     protocol version
///     6       2     flags (reserved, 0)
///     8       8     sequence number (data frames 1, 2, 3 …; control frames 0)
///     16      n     payload
///
/// Data frames carry consecutive sequence numbers so the receiver can acknowledge them and the
/// sender can replay what was not acknowledged after a reconnect.
public enum Wire {
    public static let protocolVersion: UInt8 = 1
    public static let headerSize = 16
    /// Largest frame accepted, header included.
    public static let maxFrameSize = 1 << 20
    public static let magic: UInt32 = 0x4544_5231  // "EDR1"
}

public struct FrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// First frame on a connection, each way: magic, version, role, pid, next sequence.
    public static let hello = FrameType(rawValue: 1)
    /// Receiver → sender: every data frame up to this sequence number is processed.
    public static let ack = FrameType(rawValue: 2)
    /// A record from the kernel, byte for byte as the BPF program wrote it (sequenced).
    public static let kernelRecord = FrameType(rawValue: 10)
    /// Raw /proc contents of one process that existed when the connection started.
    public static let procSnapshot = FrameType(rawValue: 11)
    /// The /proc snapshot is complete.
    public static let snapshotDone = FrameType(rawValue: 12)
    /// Loss counters: kernel per-CPU counters summed, and the sensor's own.
    public static let sensorStats = FrameType(rawValue: 13)
    /// The executable of the exec record with this sequence number (u64 payload); its open
    /// descriptor travels with the frame (SCM_RIGHTS). Not sequenced, never replayed. A
    /// 9-byte payload ending in 1 carries no descriptor: the sensor passed one for the same
    /// file (same inode, size and ctime) within the last minute.
    public static let executableFile = FrameType(rawValue: 14)
    /// Detector → sensor: forget which executables were passed (the detector's verdict cache
    /// was emptied, by a YARA rule reload); the next exec of each file brings a descriptor.
    public static let forgetExecutables = FrameType(rawValue: 15)
    /// One ETW event from the Windows sensor (sequenced, replayed like a kernel record): the
    /// event header's fields the decoder needs, then the event's user data byte for byte.
    /// Layout in `ETWRecordLayout` below and docs/windows.md.
    public static let etwRecord = FrameType(rawValue: 16)
    /// One entry of the host's logs from edr-logs (sequenced, acknowledged by the detector;
    /// the reader keeps its position only up to what was acknowledged, so a restart of either
    /// side resends what was not processed). Layout in `LogRecord` (LogRecord.swift).
    public static let logRecord = FrameType(rawValue: 17)
    /// Detector → responder: act on this process.
    public static let responseRequest = FrameType(rawValue: 20)
    /// Responder → detector: what was done.
    public static let responseResult = FrameType(rawValue: 21)

    static let known: Set<UInt8> = [1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 20, 21]
    /// Types whose frames are numbered; the rest carry sequence 0.
    public var isSequenced: Bool { self == .kernelRecord || self == .etwRecord || self == .logRecord }

    public var description: String {
        switch self {
        case .hello: return "hello"
        case .ack: return "ack"
        case .kernelRecord: return "kernel-record"
        case .procSnapshot: return "proc-snapshot"
        case .snapshotDone: return "snapshot-done"
        case .sensorStats: return "sensor-stats"
        case .executableFile: return "executable-file"
        case .forgetExecutables: return "forget-executables"
        case .etwRecord: return "etw-record"
        case .logRecord: return "log-record"
        case .responseRequest: return "response-request"
        case .responseResult: return "response-result"
        default: return "type-\(rawValue)"
        }
    }
}

public struct Frame: Sendable, Equatable {
    public var type: FrameType
    public var sequence: UInt64
    public var payload: [UInt8]

    public init(type: FrameType, sequence: UInt64 = 0, payload: [UInt8]) {
        self.type = type
        self.sequence = sequence
        self.payload = payload
    }

    /// The frame as bytes on the wire.
    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Wire.headerSize + payload.count)
        Frame.appendHeader(to: &out, type: type, sequence: sequence, payloadCount: payload.count)
        out.append(contentsOf: payload)
        return out
    }

    public static func appendHeader(to out: inout [UInt8], type: FrameType, sequence: UInt64, payloadCount: Int) {
        out.appendLE(UInt32(Wire.headerSize - 4 + payloadCount))
        out.append(type.rawValue)
        out.append(Wire.protocolVersion)
        out.appendLE(UInt16(0))
        out.appendLE(sequence)
    }
}

public enum WireError: Error, Equatable, CustomStringConvertible, Sendable {
    case frameTooShort(length: Int)
    case frameTooLarge(length: Int, max: Int)
    case unsupportedVersion(UInt8)
    case unknownType(UInt8)
    case nonZeroFlags(UInt16)
    case sequenceGap(expected: UInt64, got: UInt64)
    case unexpectedSequence(type: String, sequence: UInt64)
    case truncatedAtEOF(bufferedBytes: Int)
    case malformedPayload(String)

    public var description: String {
        switch self {
        case .frameTooShort(let n): return "frame length \(n) is shorter than a frame header"
        case .frameTooLarge(let n, let max): return "frame length \(n) exceeds the maximum of \(max)"
        case .unsupportedVersion(let v): return "unsupported protocol version \(v) (this build speaks \(Wire.protocolVersion))"
        case .unknownType(let t): return "unknown frame type \(t)"
        case .nonZeroFlags(let f): return "reserved flags set (0x\(String(f, radix: 16)))"
        case .sequenceGap(let e, let g): return "sequence gap: expected \(e), got \(g)"
        case .unexpectedSequence(let t, let s): return "\(t) frame must carry sequence 0, got \(s)"
        case .truncatedAtEOF(let n): return "connection closed inside a frame (\(n) bytes buffered)"
        case .malformedPayload(let why): return "malformed payload: \(why)"
        }
    }
}

/// Splits a byte stream into frames. Feed it whatever `read` returned; take frames out with
/// `next()`. Any malformed input is an error, after which the connection must be dropped.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    public private(set) var expectedSequence: UInt64?
    public let maxFrameSize: Int
    public private(set) var framesDecoded: UInt64 = 0

    public init(maxFrameSize: Int = Wire.maxFrameSize) {
        self.maxFrameSize = maxFrameSize
    }

    public var bufferedBytes: Int { buffer.count - start }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The next complete frame, nil if more bytes are needed.
    public mutating func next() throws(WireError) -> Frame? {
        let available = buffer.count - start
        guard available >= 4 else { return nil }
        let length = Int(buffer.readLE(UInt32.self, at: start))
        guard length >= Wire.headerSize - 4 else { throw .frameTooShort(length: length) }
        guard length + 4 <= maxFrameSize else { throw .frameTooLarge(length: length + 4, max: maxFrameSize) }
        guard available >= Wire.headerSize else { return nil }
        let rawType = buffer[start + 4]
        let version = buffer[start + 5]
        guard version == Wire.protocolVersion else { throw .unsupportedVersion(version) }
        guard FrameType.known.contains(rawType) else { throw .unknownType(rawType) }
        let flags = buffer.readLE(UInt16.self, at: start + 6)
        guard flags == 0 else { throw .nonZeroFlags(flags) }
        guard available >= length + 4 else { return nil }
        let type = FrameType(rawValue: rawType)
        let sequence = buffer.readLE(UInt64.self, at: start + 8)
        if type.isSequenced {
            if let expected = expectedSequence, sequence != expected {
                throw .sequenceGap(expected: expected, got: sequence)
            }
            expectedSequence = sequence &+ 1
        } else if sequence != 0 {
            throw .unexpectedSequence(type: type.description, sequence: sequence)
        }
        let payload = Array(buffer[(start + Wire.headerSize)..<(start + 4 + length)])
        start += 4 + length
        framesDecoded += 1
        return Frame(type: type, sequence: sequence, payload: payload)
    }

    /// Call at end of stream: leftover bytes mean the peer died inside a frame.
    public func finish() throws(WireError) {
        if bufferedBytes > 0 { throw .truncatedAtEOF(bufferedBytes: bufferedBytes) }
    }

    /// Sets where numbering starts (from the peer's hello).
    public mutating func expectSequence(from next: UInt64) {
        expectedSequence = next
    }

    private mutating func compact() {
        if start > 0 && (start >= 65536 || start == buffer.count) {
            buffer.removeFirst(start)
            start = 0
        }
    }
}

/// The payload of an `etwRecord` frame, written by windows/sensor (C) and read by the detector.
/// All integers little-endian; the GUID in Windows' in-memory order (Data1 u32, Data2 u16,
/// Data3 u16, Data4 8 bytes), so the sensor copies `EVENT_HEADER.ProviderId` as it is.
///
///     offset  size  field (from EVENT_RECORD)
///     0       16    EventHeader.ProviderId
///     16      2     EventHeader.EventDescriptor.Id
///     18      1     EventHeader.EventDescriptor.Version
///     19      1     EventHeader.EventDescriptor.Opcode
///     20      1     EventHeader.EventDescriptor.Level
///     21      1     EventHeader.EventDescriptor.Channel
///     22      2     EventHeader.EventDescriptor.Task
///     24      8     EventHeader.EventDescriptor.Keyword
///     32      4     EventHeader.ProcessId
///     36      4     EventHeader.ThreadId
///     40      8     EventHeader.TimeStamp (FILETIME: 100 ns units since 1601-01-01 UTC)
///     48      2     EventHeader.Flags (0x20 32-bit header: pointers in user data are 4 bytes)
///     50      2     UserDataLength
///     52      4     reserved, 0
///     56      n     UserData (n = UserDataLength; the frame ends there)
public enum ETWRecordLayout {
    public static let headerSize = 56
    public static let providerID = 0
    public static let eventID = 16
    public static let version = 18
    public static let opcode = 19
    public static let level = 20
    public static let channel = 21
    public static let task = 22
    public static let keyword = 24
    public static let processID = 32
    public static let threadID = 36
    public static let timestamp = 40
    public static let flags = 48
    public static let userDataLength = 50
    public static let reserved = 52
    /// `EVENT_HEADER_FLAG_32_BIT_HEADER`: the event came from a 32-bit process or kernel.
    public static let flag32BitHeader: UInt16 = 0x20
}

/// The hello frame's payload.
public struct Hello: Sendable, Equatable {
    public enum Role: UInt16, Sendable { case sensor = 1, detector = 2, responder = 3, logs = 4 }
    public var role: Role
    public var pid: UInt32
    /// Sequence number of the first data frame that follows.
    public var nextSequence: UInt64

    public init(role: Role, pid: UInt32, nextSequence: UInt64) {
        self.role = role
        self.pid = pid
        self.nextSequence = nextSequence
    }

    public func frame() -> Frame {
        var p = [UInt8]()
        p.appendLE(Wire.magic)
        p.appendLE(UInt16(Wire.protocolVersion))
        p.appendLE(role.rawValue)
        p.appendLE(pid)
        p.appendLE(UInt32(0))
        p.appendLE(nextSequence)
        return Frame(type: .hello, payload: p)
    }

    public init(frame: Frame) throws(WireError) {
        guard frame.type == .hello else { throw .malformedPayload("expected hello, got \(frame.type)") }
        let p = frame.payload
        guard p.count == 24 else { throw .malformedPayload("hello is \(p.count) bytes, expected 24") }
        guard p.readLE(UInt32.self, at: 0) == Wire.magic else { throw .malformedPayload("bad magic in hello") }
        let version = p.readLE(UInt16.self, at: 4)
        guard version == UInt16(Wire.protocolVersion) else { throw .unsupportedVersion(UInt8(truncatingIfNeeded: version)) }
        guard let role = Role(rawValue: p.readLE(UInt16.self, at: 6)) else { throw .malformedPayload("unknown role in hello") }
        self.role = role
        self.pid = p.readLE(UInt32.self, at: 8)
        self.nextSequence = p.readLE(UInt64.self, at: 16)
    }
}

public enum Ack {
    public static func frame(upTo sequence: UInt64) -> Frame {
        var p = [UInt8]()
        p.appendLE(sequence)
        return Frame(type: .ack, payload: p)
    }

    public static func sequence(from frame: Frame) throws(WireError) -> UInt64 {
        guard frame.type == .ack, frame.payload.count == 8 else { throw .malformedPayload("ack must be 8 bytes") }
        return frame.payload.readLE(UInt64.self, at: 0)
    }
}

extension Array where Element == UInt8 {
    @inlinable
    public mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    /// Reads a little-endian integer; the caller has checked bounds.
    @inlinable
    public func readLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= count)
        return withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}

/// Counters as (name, value) pairs: u16 count, then u8 name length, name, u64 value.
public enum SensorStats {
    public static func frame(_ entries: [(String, UInt64)]) -> Frame {
        var p = [UInt8]()
        p.appendLE(UInt16(entries.count))
        for (name, value) in entries {
            let n = Array(name.utf8.prefix(255))
            p.append(UInt8(n.count))
            p.append(contentsOf: n)
            p.appendLE(value)
        }
        return Frame(type: .sensorStats, payload: p)
    }

    public static func parse(_ payload: [UInt8]) throws(WireError) -> [(String, UInt64)] {
        guard payload.count >= 2 else { throw .malformedPayload("stats shorter than 2 bytes") }
        let count = Int(payload.readLE(UInt16.self, at: 0))
        var off = 2
        var out: [(String, UInt64)] = []
        for _ in 0..<count {
            guard off < payload.count else { throw .malformedPayload("stats truncated") }
            let len = Int(payload[off]); off += 1
            guard off + len + 8 <= payload.count else { throw .malformedPayload("stats truncated") }
            let name = String(decoding: payload[off..<(off + len)], as: UTF8.self); off += len
            out.append((name, payload.readLE(UInt64.self, at: off))); off += 8
        }
        guard off == payload.count else { throw .malformedPayload("trailing bytes in stats") }
        return out
    }
}

/// The kernel's loss counters as bpf/edr_events.h declares them (enum edr_family, enum
/// edr_counter): the BPF map `edr_counters` holds `familySlots * counters.count` per-CPU values,
/// index family * counters.count + counter. The sensor reports each as "kernel.<family>.<counter>";
/// KernelLayoutTests checks these names and the map's size against the object's BTF.
public enum KernelCounters {
    /// enum edr_family, in order (EDR_FAMILY_EXEC = 0 …).
    public static let families = ["exec", "exit", "fork", "net", "file", "dns", "attack", "cgroup"]
    /// EDR_FAMILY_N: the map's room for families.
    public static let familySlots = 16
    /// enum edr_counter, in order, each named after the place an event is counted or lost:
    /// the hook ran; a record reached the ring buffer; the ring buffer had no room; the record
    /// did not fit its bounds; no state slot carried the call from its entry to its exit.
    public static let counters = ["seen", "submitted", "ring_full", "too_large", "no_state"]
    /// The counters that mean a record was lost in the kernel.
    public static let losses = ["ring_full", "too_large", "no_state"]

    /// Per loss counter, the sum over all families of a stats report.
    public static func lossTotals(_ stats: [String: UInt64]) -> (submitted: UInt64, byKind: [(String, UInt64)], lost: UInt64) {
        var submitted: UInt64 = 0
        var byKind: [(String, UInt64)] = losses.map { ($0, 0) }
        for f in families {
            submitted += stats["kernel.\(f).submitted"] ?? 0
            for i in byKind.indices { byKind[i].1 += stats["kernel.\(f).\(byKind[i].0)"] ?? 0 }
        }
        return (submitted, byKind, byKind.reduce(0) { $0 + $1.1 })
    }
}
