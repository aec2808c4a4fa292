/// A file's identity as the kernel recorded it at exec (bpf/edr_events.h): inode, size, ctime
/// in nanoseconds and the kernel's encoding of the device.
struct RecordedFileIdentity: Hashable {
    var inode: UInt64
    var size: UInt64
    var ctime: UInt64
    var device: UInt32

    /// The 28 bytes at `offset` of an exec record.
    init(_ record: UnsafeRawBufferPointer, at offset: Int) {
        inode = record.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        size = record.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
        ctime = record.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)
        device = record.loadUnaligned(fromByteOffset: offset + 24, as: UInt32.self)
    }

    init(inode: UInt64, size: UInt64, ctime: UInt64, device: UInt32) {
        self.inode = inode
        self.size = size
        self.ctime = ctime
        self.device = device
    }
}

/// Executables (and scripts) whose descriptor went to the connected detector in the last
/// minute, by identity: an exec of the same file is sent as "known", without a descriptor, and
/// the detector answers from its verdict cache. Forgotten when a detector connects (a new one
/// has an empty cache) or asks (forget-executables). No I/O: the caller supplies the clock.
struct PassedExecutables {
    static let ttlNanos: UInt64 = 60_000_000_000
    /// Past this many entries the cache starts again empty rather than growing.
    static let capacity = 4096

    private var passedAt: [RecordedFileIdentity: UInt64] = [:]

    var count: Int { passedAt.count }

    /// True when this very file (same inode, size, ctime, device) was passed less than a
    /// minute before `now`. A zero ctime (the kernel could not read it) is never known.
    func passedRecently(_ id: RecordedFileIdentity, now: UInt64) -> Bool {
        guard id.ctime != 0, let at = passedAt[id] else { return false }
        return now &- at < Self.ttlNanos
    }

    /// Its descriptor was passed at `now`.
    mutating func passed(_ id: RecordedFileIdentity, now: UInt64) {
        guard id.ctime != 0 else { return }
        if passedAt.count >= Self.capacity { passedAt.removeAll(keepingCapacity: true) }
        passedAt[id] = now
    }

    mutating func forgetAll() {
        passedAt.removeAll()
    }
}
