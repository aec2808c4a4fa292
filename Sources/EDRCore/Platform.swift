#if canImport(Glibc)
import Glibc
#elseif os(Windows)
import ucrt
import WinSDK
#endif

/// The operating-system calls the portable core makes, all in this file: the rest of EDRCore
/// (and EDRSigma, EDRWindowsEvents) is plain Swift that builds for Linux and Windows alike.
/// POSIX and Linux system code (sockets, /proc, systemd) lives in EDRSystem, confinement
/// (seccomp, Landlock) in EDRConfinement.
///
/// The Windows branch is written against the C runtime (ucrt) and kernel32 only; this build
/// machine has no Swift for Windows, so it is not compiled here (docs/windows.md).
public enum Platform {
    /// Whether this build runs on Windows (which sensor's logsources the detector collects).
    public static var isWindows: Bool {
        #if os(Windows)
        return true
        #else
        return false
        #endif
    }

    /// The calling thread's last C runtime error (errno).
    public static var lastError: Int32 {
        #if os(Windows)
        return ucrt.errno
        #else
        return Glibc.errno
        #endif
    }

    /// strerror(3) of an errno value.
    public static func errorDescription(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// EINTR: a call interrupted by a signal, to be retried.
    public static let interrupted: Int32 = EINTR

    public static var processID: Int32 {
        #if os(Windows)
        return Int32(bitPattern: GetCurrentProcessId())
        #else
        return getpid()
        #endif
    }

    /// Writes the bytes to standard error in one call (a log line is never interleaved).
    public static func writeStandardError(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { b in
            #if os(Windows)
            _ = _write(2, b.baseAddress, UInt32(b.count))
            #else
            _ = write(2, b.baseAddress, b.count)
            #endif
        }
    }

    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Device and inode of standard error (what systemd's JOURNAL_STREAM names); nil where
    /// files have no such identity.
    public static func standardErrorIdentity() -> (device: UInt64, inode: UInt64)? {
        #if os(Windows)
        return nil
        #else
        var st = stat()
        guard fstat(2, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
        #endif
    }

    /// The host's name as the kernel knows it.
    public static func hostName() -> String {
        #if os(Windows)
        var buf = [CChar](repeating: 0, count: 256)
        var size = DWORD(buf.count - 1)
        guard GetComputerNameA(&buf, &size) else { return "" }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        #else
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, 255)
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        #endif
    }

    /// The kernel's release ("6.8.0-45-generic"; on Windows the build number), nil if unknown.
    public static func kernelRelease() -> String? {
        #if os(Windows)
        return nil
        #else
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        #endif
    }

    /// ECS host.os.type: "linux" or "windows".
    public static var osType: String { isWindows ? "windows" : "linux" }

    /// The CPU architecture this build runs on, as uname -m writes it (ECS host.architecture).
    public static var architecture: String? {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #else
        return nil
        #endif
    }

    /// Wall-clock time: seconds since the Unix epoch and nanoseconds.
    public static func realtime() -> (seconds: Int64, nanos: Int) {
        var ts = timespec()
        #if os(Windows)
        _ = timespec_get(&ts, TIME_UTC)
        #else
        clock_gettime(CLOCK_REALTIME, &ts)
        #endif
        return (Int64(ts.tv_sec), Int(ts.tv_nsec))
    }

    /// Nanoseconds on a clock that never goes back.
    public static func monotonicNanos() -> UInt64 {
        #if os(Windows)
        var count = LARGE_INTEGER(), frequency = LARGE_INTEGER()
        QueryPerformanceCounter(&count)
        QueryPerformanceFrequency(&frequency)
        return UInt64(count.QuadPart) / UInt64(frequency.QuadPart) * 1_000_000_000
            + UInt64(count.QuadPart) % UInt64(frequency.QuadPart) * 1_000_000_000 / UInt64(frequency.QuadPart)
        #else
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        #endif
    }

    /// Nanoseconds since boot, suspended time included (Linux: the clock BPF programs stamp
    /// records with, bpf_ktime_get_boot_ns).
    public static func bootClockNanos() -> UInt64 {
        #if os(Windows)
        return GetTickCount64() * 1_000_000
        #else
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        #endif
    }

    /// The whole file (up to `limit` bytes), read with the C runtime; errors name the call
    /// and the path.
    public static func readFile(_ path: String, limit: Int) throws -> [UInt8] {
        #if os(Windows)
        let fd = try syscallRetrying("open", detail: path) { _open(path, _O_RDONLY | _O_BINARY | _O_NOINHERIT) }
        defer { _close(fd) }
        #else
        let fd = try syscallRetrying("open", detail: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        #endif
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = try chunk.withUnsafeMutableBytes { buf in
                #if os(Windows)
                try syscallRetrying("read", detail: path) { _read(fd, buf.baseAddress, UInt32(min(buf.count, limit - out.count))) }
                #else
                try syscallRetrying("read", detail: path) { read(fd, buf.baseAddress, min(buf.count, limit - out.count)) }
                #endif
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }
}
