import EDRCore

/// Kernel records framed and numbered, kept until the detector acknowledges them, and replayed
/// with their original sequence numbers to the next detector. No I/O: the descriptors that
/// travel with exec records are plain values here, handed back to the caller to send or close.
///
/// When `isFull` the caller stops draining the ring buffer, so any loss is counted by the
/// kernel (`ring_full`), not dropped silently here.
struct ReplayStore {
    /// What goes with a frame in executable-file frames: nothing, "known" (passed moments ago,
    /// no descriptor), or a descriptor the store holds until it is sent or acknowledged.
    enum Attachment: Equatable {
        case none
        case known
        case descriptor(Int32)
    }

    /// A frame copied out for sending; its attachments now belong to the caller.
    struct Queued: Equatable {
        var sequence: UInt64
        var executable: Attachment
        var script: Attachment
    }

    enum AckError: Error, Equatable, CustomStringConvertible {
        /// The detector acknowledged a frame it was never sent on this connection.
        case beyondSent(acknowledged: UInt64, sentThrough: UInt64)

        var description: String {
            switch self {
            case let .beyondSent(a, s): "ack of sequence \(a), but only frames through \(s) were sent"
            }
        }
    }

    private struct Entry {
        var sequence: UInt64
        var offset: Int
        var length: Int
        var executable: Attachment
        var script: Attachment
    }

    /// The most bytes of unacknowledged frames before `isFull`.
    let capacityBytes: Int
    /// Acknowledged bytes at the front of `bytes` are dropped once at least this many and at
    /// least half of the buffer; acknowledged entries once more than `compactAfterFrames`.
    private let compactAfterBytes: Int
    private let compactAfterFrames: Int

    /// Frames not yet acknowledged, oldest first: entries[head...]. Their bytes lie back to back
    /// in `bytes` (offsets count from the start of the stream; bytes[0] is at `bytesBase`), so a
    /// record costs a copy, not an allocation.
    private var entries: [Entry] = []
    private var head = 0
    private var bytes: [UInt8] = []
    private var bytesBase = 0
    private(set) var pendingBytes = 0
    private(set) var nextSequence: UInt64 = 1
    /// Sequence of the last frame queued for sending on the current connection.
    private(set) var sentThrough: UInt64 = 0

    init(capacityBytes: Int, compactAfterBytes: Int = 1 << 20, compactAfterFrames: Int = 4096) {
        self.capacityBytes = capacityBytes
        self.compactAfterBytes = compactAfterBytes
        self.compactAfterFrames = compactAfterFrames
    }

    /// The caller must stop draining the ring buffer until an acknowledgement frees room.
    var isFull: Bool { pendingBytes >= capacityBytes }
    var unacknowledged: Int { entries.count - head }
    /// Frames kept but not yet queued for sending on the current connection.
    var hasUnsent: Bool { sentThrough + 1 < nextSequence }
    /// The oldest frame a (re)connecting detector gets: the first unacknowledged one.
    var firstUnacknowledged: UInt64 { head < entries.count ? entries[head].sequence : nextSequence }

    /// Frames `record` as a kernel record with the next sequence number; returns that number.
    @discardableResult
    mutating func append(
        _ record: UnsafeRawBufferPointer, executable: Attachment = .none,
        script: Attachment = .none
    ) -> UInt64 {
        let sequence = nextSequence
        let offset = bytesBase + bytes.count
        Frame.appendHeader(to: &bytes, type: .kernelRecord, sequence: sequence, payloadCount: record.count)
        bytes.append(contentsOf: record)
        let length = Wire.headerSize + record.count
        entries.append(Entry(sequence: sequence, offset: offset, length: length, executable: executable, script: script))
        pendingBytes += length
        nextSequence += 1
        return sequence
    }

    /// A detector connected: everything unacknowledged is to be sent again, from
    /// `firstUnacknowledged`. Returns how many frames that is.
    mutating func restartSending() -> Int {
        sentThrough = firstUnacknowledged - 1
        return unacknowledged
    }

    /// Appends the next unsent frame's bytes to `out` and hands over its attachments (a frame
    /// replayed after its descriptors were sent or closed goes without them). nil when all
    /// kept frames are queued.
    mutating func queueNext(into out: inout [UInt8]) -> Queued? {
        guard hasUnsent else { return nil }
        var i = head
        if i < entries.count, entries[i].sequence <= sentThrough {
            i += Int(sentThrough + 1 - entries[i].sequence)
        }
        guard i < entries.count else { return nil }
        let start = entries[i].offset - bytesBase
        out.append(contentsOf: bytes[start..<(start + entries[i].length)])
        let queued = Queued(sequence: entries[i].sequence, executable: entries[i].executable, script: entries[i].script)
        entries[i].executable = .none
        entries[i].script = .none
        sentThrough = entries[i].sequence
        return queued
    }

    /// Forgets every frame up to and including `sequence`. An acknowledgement of a frame not
    /// sent on this connection is a protocol error and changes nothing. Returns any descriptor
    /// those frames still held, for the caller to close (none: frames an ack may name were all
    /// queued, which hands their attachments over; returned rather than leaked all the same).
    mutating func acknowledge(through sequence: UInt64) throws(AckError) -> [Int32] {
        guard sequence <= sentThrough else { throw .beyondSent(acknowledged: sequence, sentThrough: sentThrough) }
        var released: [Int32] = []
        while head < entries.count && entries[head].sequence <= sequence {
            pendingBytes -= entries[head].length
            if case let .descriptor(fd) = entries[head].executable { released.append(fd) }
            if case let .descriptor(fd) = entries[head].script { released.append(fd) }
            head += 1
        }
        if head > compactAfterFrames && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
        // Bytes before the oldest unacknowledged frame are dropped once they are most of the buffer.
        let keepFrom = (head < entries.count ? entries[head].offset : bytesBase + bytes.count) - bytesBase
        if keepFrom >= compactAfterBytes && keepFrom * 2 >= bytes.count {
            bytes.removeFirst(keepFrom)
            bytesBase += keepFrom
        }
        return released
    }

    /// Bytes held, for tests of compaction.
    var bufferedBytes: Int { bytes.count }
}
