import EDRCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes alert lines to a descriptor the supervisor opened (append mode); the detector never
/// opens the alert file itself.
public final class AlertSink {
    private let fd: Int32
    private let console: Int32?
    public private(set) var written: UInt64 = 0
    public private(set) var writeErrors: UInt64 = 0

    public init(fd: Int32, consoleFD: Int32? = nil) {
        self.fd = fd
        self.console = consoleFD
    }

    private let lock = NSLock()

    /// Thread-safe: the detector loop and the scan worker both write.
    public func write(line: [UInt8], readable: String?) {
        lock.lock()
        defer { lock.unlock() }
        do {
            try writeFully(fd, line)
            written += 1
        } catch {
            writeErrors += 1
            if writeErrors == 1 || writeErrors % 1000 == 0 { Log.error("writing alerts: \(error) (\(writeErrors) failures)") }
        }
        if let console, let readable {
            try? writeFully(console, Array((readable + "\n").utf8))
        }
    }

    private func writeFully(_ fd: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = try syscallRetrying("write(alerts)") { Glibc.write(fd, buf.baseAddress! + off, buf.count - off) }
                off += n
            }
        }
    }
}
