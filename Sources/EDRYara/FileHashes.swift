import CYara
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which digests to compute (e.g. only the kinds an IOC list holds).
public struct HashKinds: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let md5 = HashKinds(rawValue: 1)
    public static let sha1 = HashKinds(rawValue: 2)
    public static let sha256 = HashKinds(rawValue: 4)
    public static let all: HashKinds = [.md5, .sha1, .sha256]
}

/// MD5, SHA-1 and SHA-256 of a file, lowercase hex, computed in one pass over the data
/// (SHA-1/SHA-256 use the CPU's SHA instructions when present). A digest not asked for is nil.
public struct FileHashes: Hashable, Sendable {
    public var md5: String?
    public var sha1: String?
    public var sha256: String?

    public init(md5: String?, sha1: String?, sha256: String?) {
        self.md5 = md5
        self.sha1 = sha1
        self.sha256 = sha256
    }

    /// Hashes a byte buffer.
    public init(bytes: UnsafeRawBufferPointer, kinds: HashKinds = .all) {
        var ctx = edr_hash_ctx()
        edr_hash_init(&ctx, kinds.rawValue)
        if let base = bytes.baseAddress, bytes.count > 0 { edr_hash_update(&ctx, base, bytes.count) }
        self = FileHashes.finish(&ctx, kinds)
    }

    public init<S: Sequence>(bytes: S, kinds: HashKinds = .all) where S.Element == UInt8 {
        let array = Array(bytes)
        self = array.withUnsafeBytes { FileHashes(bytes: $0, kinds: kinds) }
    }

    static func finish(_ ctx: inout edr_hash_ctx, _ kinds: HashKinds) -> FileHashes {
        var md5 = [UInt8](repeating: 0, count: 16)
        var sha1 = [UInt8](repeating: 0, count: 20)
        var sha256 = [UInt8](repeating: 0, count: 32)
        edr_hash_final(&ctx, &md5, &sha1, &sha256)
        return FileHashes(md5: kinds.contains(.md5) ? hex(md5) : nil,
                          sha1: kinds.contains(.sha1) ? hex(sha1) : nil,
                          sha256: kinds.contains(.sha256) ? hex(sha256) : nil)
    }

    /// True when SHA-1/SHA-256 run on the CPU's SHA extensions.
    public static var usesSHAExtensions: Bool { edr_hash_uses_sha_ni() != 0 }

    /// What computes the digests, for benchmark output.
    public static var implementation: String {
        "hand-written C in the CYara shim (SHA extensions: \(usesSHAExtensions))"
    }

    /// Forces the portable C implementation (tests compare both paths).
    public static func forcePortableImplementation(_ on: Bool) { edr_hash_force_portable(on ? 1 : 0) }

    /// Hashes an open file from offset 0 with pread (the fd's offset is left alone).
    /// Returns nil when fstat/read fails or the file is larger than `maxSize`.
    public static func compute(fd: Int32, maxSize: Int64 = .max, kinds: HashKinds = .all) -> FileHashes? {
        guard let st = FileStat(fd: fd), st.identity.size <= maxSize else { return nil }
        var ctx = edr_hash_ctx()
        edr_hash_init(&ctx, kinds.rawValue)
        let chunk = 1 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buf.deallocate() }
        var offset: Int64 = 0
        while true {
            let n = pread(fd, buf, chunk, off_t(offset))
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            offset += Int64(n)
            if offset > maxSize { return nil }
            edr_hash_update(&ctx, buf, n)
        }
        return finish(&ctx, kinds)
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

func hex(_ bytes: [UInt8]) -> String {
    String(unsafeUninitializedCapacity: bytes.count * 2) { out in
        for (i, b) in bytes.enumerated() {
            out[2 * i] = hexDigits[Int(b >> 4)]
            out[2 * i + 1] = hexDigits[Int(b & 15)]
        }
        return bytes.count * 2
    }
}
