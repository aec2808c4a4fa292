import Crypto
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

/// MD5, SHA-1 and SHA-256 of a file, lowercase hex, computed in one pass over the data by
/// swift-crypto (BoringSSL's assembly, which picks the CPU's SHA extensions itself). A digest
/// not asked for is nil.
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
        var digests = Digests(kinds)
        digests.update(bytes)
        self = digests.finalize()
    }

    public init<S: Sequence>(bytes: S, kinds: HashKinds = .all) where S.Element == UInt8 {
        let array = Array(bytes)
        self = array.withUnsafeBytes { FileHashes(bytes: $0, kinds: kinds) }
    }

    /// What computes the digests, for benchmark output.
    public static let implementation = "swift-crypto (BoringSSL: Insecure.MD5, Insecure.SHA1, SHA256)"

    /// Hashes an open file from offset 0 with pread (the fd's offset is left alone); each
    /// chunk read feeds all the digests asked for, so the file is read once.
    /// Returns nil when fstat/read fails or the file is larger than `maxSize`.
    public static func compute(fd: Int32, maxSize: Int64 = .max, kinds: HashKinds = .all) -> FileHashes? {
        guard let st = FileStat(fd: fd), st.identity.size <= maxSize else { return nil }
        var digests = Digests(kinds)
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
            digests.update(UnsafeRawBufferPointer(start: buf, count: n))
        }
        return digests.finalize()
    }
}

/// The running digests of one input.
private struct Digests {
    var md5: Insecure.MD5?
    var sha1: Insecure.SHA1?
    var sha256: SHA256?

    init(_ kinds: HashKinds) {
        if kinds.contains(.md5) { md5 = Insecure.MD5() }
        if kinds.contains(.sha1) { sha1 = Insecure.SHA1() }
        if kinds.contains(.sha256) { sha256 = SHA256() }
    }

    /// Feeds `bytes` to each digest. (Feeding the three in 16 or 64 KiB slices, so the data
    /// stays in L1/L2 between them, measured no faster than whole 1 MiB chunks.)
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        md5?.update(bufferPointer: bytes)
        sha1?.update(bufferPointer: bytes)
        sha256?.update(bufferPointer: bytes)
    }

    func finalize() -> FileHashes {
        FileHashes(
            md5: md5.map { hex($0.finalize()) }, sha1: sha1.map { hex($0.finalize()) },
            sha256: sha256.map { hex($0.finalize()) })
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    let bytes = Array(digest)
    return String(unsafeUninitializedCapacity: bytes.count * 2) { out in
        for (i, b) in bytes.enumerated() {
            out[2 * i] = hexDigits[Int(b >> 4)]
            out[2 * i + 1] = hexDigits[Int(b & 15)]
        }
        return bytes.count * 2
    }
}
