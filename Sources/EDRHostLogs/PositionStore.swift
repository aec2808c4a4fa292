import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Where a followed file was read up to: the file (device and inode, so a rotated file is
/// told from its successor) and the offset after the last acknowledged line.
public struct FilePosition: Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64
    public var offset: Int64
    public init(device: UInt64, inode: UInt64, offset: Int64) {
        self.device = device; self.inode = inode; self.offset = offset
    }
}

/// Everything edr-logs must remember across restarts: the journal cursor of the last
/// acknowledged entry and each file's position.
public struct LogPositions: Sendable, Equatable {
    public var journalCursor: String?
    public var files: [String: FilePosition] = [:]
    public init(journalCursor: String? = nil, files: [String: FilePosition] = [:]) {
        self.journalCursor = journalCursor; self.files = files
    }

    /// `cursor CURSOR` and `file DEV INODE OFFSET PATH` lines.
    public func encoded() -> [UInt8] {
        var text = ""
        if let c = journalCursor { text += "cursor \(c)\n" }
        for (path, p) in files.sorted(by: { $0.key < $1.key }) { text += "file \(p.device) \(p.inode) \(p.offset) \(path)\n" }
        return Array(text.utf8)
    }

    public init(decoding bytes: [UInt8]) throws {
        for (n, raw) in String(decoding: bytes, as: UTF8.self).split(separator: "\n").enumerated() {
            let line = Substring(raw)
            if line.hasPrefix("cursor ") {
                journalCursor = String(line.dropFirst(7))
            } else if line.hasPrefix("file ") {
                let parts = line.dropFirst(5).split(separator: " ", maxSplits: 3)
                guard parts.count == 4, let d = UInt64(parts[0]), let i = UInt64(parts[1]), let o = Int64(parts[2]), o >= 0 else {
                    throw EDRError("position record line \(n + 1): expected file DEVICE INODE OFFSET PATH")
                }
                files[String(parts[3])] = FilePosition(device: d, inode: i, offset: o)
            } else {
                throw EDRError("position record line \(n + 1): unknown entry \"\(line.prefix(20))\"")
            }
        }
    }
}

/// The positions, kept in a file the supervisor opened as root (logs.state in [logs]
/// state_dir) and handed down: edr-logs rewrites it in place through that descriptor and never
/// opens anything for writing. Two slots written alternately, each with a generation and a
/// checksum, so a write torn by a crash leaves the other slot, one step older, to start from.
public final class PositionStore {
    static let slotSize = 32 * 1024
    static let headerSize = 28
    static let magic = Array("EDRLOGP1".utf8)
    let fd: Int32
    private var generation: UInt64 = 0

    public init(fd: Int32) { self.fd = fd }

    /// The newest intact slot; empty positions when there is none (first start).
    public func load() -> LogPositions {
        var best: (UInt64, LogPositions)?
        for slot in 0..<2 {
            var buf = [UInt8](repeating: 0, count: Self.slotSize)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(slot * Self.slotSize)) }
            guard n >= Self.headerSize, Array(buf[0..<8]) == Self.magic else { continue }
            let gen = buf.readLE(UInt64.self, at: 8)
            let len = Int(buf.readLE(UInt32.self, at: 16))
            guard len <= Self.slotSize - Self.headerSize, Self.headerSize + len <= n else { continue }
            let body = Array(buf[Self.headerSize..<(Self.headerSize + len)])
            guard buf.readLE(UInt64.self, at: 20) == Self.checksum(body), let p = try? LogPositions(decoding: body) else { continue }
            if best == nil || gen > best!.0 { best = (gen, p) }
        }
        generation = best?.0 ?? 0
        return best?.1 ?? LogPositions()
    }

    public func save(_ p: LogPositions) throws {
        let body = p.encoded()
        guard body.count <= Self.slotSize - Self.headerSize else { throw EDRError("positions need \(body.count) bytes, more than a slot holds") }
        generation += 1
        var rec = Self.magic
        rec.appendLE(generation)
        rec.appendLE(UInt32(body.count))
        rec.appendLE(Self.checksum(body))
        rec += body
        let slot = Int(generation % 2)
        let n = rec.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(slot * Self.slotSize)) }
        guard n == rec.count else { throw SystemError("pwrite", detail: "position record") }
        _ = fdatasync(fd)
    }

    /// FNV-1a, 64 bits: detects a torn write, not an adversary (the file is root's).
    static func checksum(_ b: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        return h
    }
}
