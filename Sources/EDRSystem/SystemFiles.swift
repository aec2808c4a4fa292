#if canImport(Glibc)
import Glibc
#endif
import EDRCore

/// Files a confined child reads through descriptors the supervisor opened for it.
public enum SystemFiles {
    /// /etc/passwd, opened by the supervisor (-1: read the path, outside the agent's children).
    public nonisolated(unsafe) static var passwdFD: Int32 = -1

    /// The user table, read from the descriptor when there is one.
    public static func passwd() -> String? {
        guard passwdFD >= 0 else { return try? readTextFile("/etc/passwd") }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset = 0
        while out.count < 64 << 20 {
            let n = chunk.withUnsafeMutableBytes { pread(passwdFD, $0.baseAddress, $0.count, off_t(offset)) }
            if n <= 0 { break }
            out.append(contentsOf: chunk[0..<n])
            offset += n
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Reads from a descriptor to end of file (or `limit` bytes).
public func readAll(fd: Int32, limit: Int = 64 << 20, detail: String? = nil) throws -> [UInt8] {
    var out = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while out.count < limit {
        let n = try chunk.withUnsafeMutableBytes { buf in
            try syscallRetrying("read", detail: detail) { read(fd, buf.baseAddress, min(buf.count, limit - out.count)) }
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}
