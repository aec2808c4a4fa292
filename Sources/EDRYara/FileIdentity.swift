import EDRCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FileIdentity {
    /// The identity of an open file, or nil when fstat fails.
    public init?(fd: Int32) {
        guard let st = FileStat(fd: fd) else { return nil }
        self = st.identity
    }
}

/// The parts of `struct stat` the scanner needs.
struct FileStat {
    var identity: FileIdentity
    var isRegular: Bool
    var uid: UInt32

    init?(fd: Int32) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        #if canImport(Darwin)
        let ct = st.st_ctimespec
        #else
        let ct = st.st_ctim
        #endif
        identity = FileIdentity(
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int64(st.st_size),
            ctimeSeconds: Int64(ct.tv_sec), ctimeNanoseconds: Int64(ct.tv_nsec))
        isRegular = (st.st_mode & S_IFMT) == S_IFREG
        uid = UInt32(st.st_uid)
    }
}

/// A read-only private mapping of a whole file, taken from an fd (the file is never
/// opened by path). Empty files map to an empty buffer.
final class MappedFile {
    let base: UnsafeRawPointer?
    let count: Int

    init?(fd: Int32, size: Int64) {
        if size <= 0 {
            base = nil
            count = 0
            return
        }
        let p = mmap(nil, Int(size), PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { return nil }
        base = UnsafeRawPointer(p)
        count = Int(size)
    }

    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }
}
