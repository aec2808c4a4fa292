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

/// Writes `bytes` to `path` through `path.tmp` and a rename, so a reader sees the old file or
/// the new one, never half of one.
public func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
    let tmp = path + ".tmp"
    let fd = try syscallRetrying("open", detail: tmp) { open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
    do {
        try bytes.withUnsafeBytes { b in
            var off = 0
            while off < b.count {
                off += try syscallRetrying("write", detail: tmp) { write(fd, b.baseAddress! + off, b.count - off) }
            }
        }
        try syscallRetrying("fchmod", detail: tmp) { fchmod(fd, mode) }
        close(fd)
        try syscallRetrying("rename", detail: path) { rename(tmp, path) }
    } catch {
        close(fd)
        unlink(tmp)
        throw error
    }
}

/// The process environment as a dictionary (for `EDR__SECTION__KEY` configuration overrides).
public func processEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    return env
}
