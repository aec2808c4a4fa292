import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Follows one syslog-style file like `tail -F`, by inode and offset: lines are returned with
/// the position just after them, a renamed file (rotation) is read to its end before its
/// successor is read from the start, and a truncated file is read again from the start.
public final class FileFollower {
    public let path: String
    private var fd: Int32 = -1
    private var identity: (device: UInt64, inode: UInt64) = (0, 0)
    /// Offset of the next byte to read.
    private var offset: Int64 = 0
    /// Bytes of an unfinished line (written without its newline yet).
    private var pending: [UInt8] = []
    /// Longest line kept; the rest of a longer one is dropped (cut at this length).
    static let maxLine = 64 * 1024

    public init(path: String) { self.path = path }

    deinit { if fd >= 0 { close(fd) } }

    /// Opens the file where `position` says (or its rotated predecessor `path.1`, if that is
    /// the file the position is in); with no position, at its end: a first start does not
    /// replay the host's history.
    public func start(from position: FilePosition?) {
        if fd >= 0 { close(fd); fd = -1 }
        pending = []
        if let position {
            if let (f, st) = openChecked(path), UInt64(st.st_dev) == position.device, UInt64(st.st_ino) == position.inode {
                use(f, st, at: position.offset <= Int64(st.st_size) ? position.offset : 0)
                return
            }
            if let (f, st) = openChecked(path + ".1"), UInt64(st.st_dev) == position.device, UInt64(st.st_ino) == position.inode {
                use(f, st, at: min(position.offset, Int64(st.st_size)))
                return
            }
            // The file the position was in is gone: everything in the current one is new.
            if let (f, st) = openChecked(path) { use(f, st, at: 0) }
            return
        }
        if let (f, st) = openChecked(path) { use(f, st, at: Int64(st.st_size)) }
    }

    private func openChecked(_ p: String) -> (Int32, stat)? {
        let f = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard f >= 0 else { return nil }
        var st = stat()
        guard fstat(f, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { close(f); return nil }
        return (f, st)
    }

    private func use(_ f: Int32, _ st: stat, at off: Int64) {
        fd = f
        identity = (UInt64(st.st_dev), UInt64(st.st_ino))
        offset = off
        lseek(fd, off_t(off), SEEK_SET)
    }

    public var isOpen: Bool { fd >= 0 }

    /// New complete lines, each with the position after it; at most `limit` bytes per call.
    public func poll(limit: Int = 1 << 20) -> [(line: [UInt8], position: FilePosition)] {
        var out: [(line: [UInt8], position: FilePosition)] = []
        if fd < 0 {
            // Not there at start (or gone): a file that appears later is read from its start.
            if let (f, st) = openChecked(path) { use(f, st, at: 0) } else { return out }
        }
        var total = 0
        var buf = [UInt8](repeating: 0, count: 65536)
        while total < limit {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            total += n
            var start = 0
            for i in 0..<n where buf[i] == 0x0A {
                if pending.count < Self.maxLine { pending.append(contentsOf: buf[start..<min(i, start + Self.maxLine - pending.count)]) }
                let end = offset + Int64(i + 1)
                if !pending.isEmpty { out.append((pending, FilePosition(device: identity.device, inode: identity.inode, offset: end))) }
                pending = []
                start = i + 1
            }
            if start < n, pending.count < Self.maxLine { pending.append(contentsOf: buf[start..<min(n, start + Self.maxLine - pending.count)]) }
            offset += Int64(n)
        }
        if total < limit { checkRotation() }
        return out
    }

    /// At the end of the file: a new file under the path (rotation) is switched to, from its
    /// start; a file shorter than what was read (truncated) is read again from its start.
    private func checkRotation() {
        var st = stat()
        if stat(path, &st) == 0, UInt64(st.st_dev) != identity.device || UInt64(st.st_ino) != identity.inode {
            close(fd)
            fd = -1
            pending = []
            if let (f, s) = openChecked(path) { use(f, s, at: 0) }
            return
        }
        var mine = stat()
        if fstat(fd, &mine) == 0, Int64(mine.st_size) < offset {
            pending = []
            use(fd, mine, at: 0)
        }
    }
}
