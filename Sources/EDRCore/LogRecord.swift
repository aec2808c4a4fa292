/// The payload of a `logRecord` frame: one journal entry or one line of a syslog-style file,
/// as edr-logs read it. The reader does not interpret it; the detector parses it
/// (EDRDetect/LogEvents.swift). All integers little-endian.
///
///     offset  size  field
///     0       1     source: 1 journal (export-format fields), 2 file (one line)
///     1       1     reserved, 0
///     2       2     number of fields n
///     4       …     n × (u8 name length, name, u32 value length, value)
///
/// A file line travels as the fields `_SOURCE` (the file's path) and `_LINE` (the line without
/// its newline); a journal entry as the export fields the reader keeps (MESSAGE,
/// SYSLOG_IDENTIFIER, _PID, _HOSTNAME, __REALTIME_TIMESTAMP, SYSLOG_FACILITY, PRIORITY, _COMM …).
public struct LogRecord: Sendable, Equatable {
    public enum Source: UInt8, Sendable { case journal = 1, file = 2 }
    public var source: Source
    public var fields: [(name: String, value: [UInt8])]

    /// Longest value kept; longer ones are cut (a log line is not a file transfer).
    public static let maxValueBytes = 64 * 1024

    public init(source: Source, fields: [(name: String, value: [UInt8])]) {
        self.source = source
        self.fields = fields
    }

    public static func == (a: LogRecord, b: LogRecord) -> Bool {
        a.source == b.source && a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
    }

    public func value(_ name: String) -> [UInt8]? { fields.first { $0.name == name }?.value }

    public func payload() -> [UInt8] {
        var p = [UInt8]()
        p.append(source.rawValue)
        p.append(0)
        let kept = fields.prefix(Int(UInt16.max))
        p.appendLE(UInt16(kept.count))
        for f in kept {
            let n = Array(f.name.utf8.prefix(255))
            p.append(UInt8(n.count))
            p.append(contentsOf: n)
            let v = f.value.prefix(Self.maxValueBytes)
            p.appendLE(UInt32(v.count))
            p.append(contentsOf: v)
        }
        return p
    }

    public func frame(sequence: UInt64) -> Frame { Frame(type: .logRecord, sequence: sequence, payload: payload()) }

    /// Parses a payload; every error names the field and the offset.
    public init(payload p: [UInt8]) throws(WireError) {
        guard p.count >= 4 else { throw .malformedPayload("log record: header is \(p.count) bytes, expected 4") }
        guard let source = Source(rawValue: p[0]) else { throw .malformedPayload("log record: source \(p[0]) at offset 0 is neither 1 (journal) nor 2 (file)") }
        guard p[1] == 0 else { throw .malformedPayload("log record: reserved byte at offset 1 is \(p[1]), expected 0") }
        let count = Int(p.readLE(UInt16.self, at: 2))
        var off = 4
        var fields: [(name: String, value: [UInt8])] = []
        fields.reserveCapacity(count)
        for i in 0..<count {
            guard off < p.count else { throw .malformedPayload("log record: field \(i) name length missing at offset \(off)") }
            let nameLength = Int(p[off]); off += 1
            guard nameLength > 0 else { throw .malformedPayload("log record: field \(i) has an empty name at offset \(off - 1)") }
            guard off + nameLength + 4 <= p.count else { throw .malformedPayload("log record: field \(i) name runs past the end at offset \(off)") }
            let name = String(decoding: p[off..<(off + nameLength)], as: UTF8.self); off += nameLength
            let valueLength = Int(p.readLE(UInt32.self, at: off)); off += 4
            guard valueLength <= Self.maxValueBytes else {
                throw .malformedPayload("log record: field \(name) value length \(valueLength) exceeds \(Self.maxValueBytes)")
            }
            guard off + valueLength <= p.count else { throw .malformedPayload("log record: field \(name) value runs past the end at offset \(off)") }
            fields.append((name, Array(p[off..<(off + valueLength)]))); off += valueLength
        }
        guard off == p.count else { throw .malformedPayload("log record: \(p.count - off) trailing bytes after \(count) fields") }
        self.source = source
        self.fields = fields
    }
}
