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
    /// Whether the readable form of an alert is shown anywhere (a console descriptor): the
    /// detector builds it only then.
    public var showsReadable: Bool { console != nil }
    public private(set) var writeErrors: UInt64 = 0

    public init(fd: Int32, consoleFD: Int32? = nil) {
        self.fd = fd
        self.console = consoleFD
    }

    private let lock = NSLock()

    /// Lines held by `hold(line:readable:)` until `flush()`, and how many.
    private var held: [UInt8] = []
    private var heldLines: UInt64 = 0
    /// Held bytes that trigger a write without waiting for `flush()`.
    static let holdLimit = 256 * 1024

    /// Thread-safe: the detector loop and the scan worker both write. Held lines go first, so
    /// the file keeps the order in which alerts were made.
    public func write(line: [UInt8], readable: String?) {
        lock.lock()
        defer { lock.unlock() }
        writeHeld()
        do {
            try writeFully(fd, line)
            written += 1
        } catch {
            failed(1, error)
        }
        if let console, let readable {
            try? writeFully(console, Array((readable + "\n").utf8))
        }
    }

    /// Holds a line for the next `flush()`: the detector loop holds the alerts of one batch of
    /// frames and writes them with one call before it acknowledges the frames (or waits for
    /// more), instead of one `write` per alert. A crash loses only held lines of frames not yet
    /// acknowledged, which the sensor replays to the next detector; so nothing is lost that the
    /// replay does not bring back.
    public func hold(line: [UInt8], readable: String?) {
        lock.lock()
        defer { lock.unlock() }
        held.append(contentsOf: line)
        heldLines += 1
        if let console, let readable {
            try? writeFully(console, Array((readable + "\n").utf8))
        }
        if held.count >= Self.holdLimit { writeHeld() }
    }

    /// Writes the held lines (one call for all of them).
    public func flush() {
        lock.lock()
        defer { lock.unlock() }
        writeHeld()
    }

    /// Caller holds `lock`.
    private func writeHeld() {
        guard heldLines > 0 else { return }
        do {
            try writeFully(fd, held)
            written += heldLines
        } catch {
            failed(heldLines, error)
        }
        held.removeAll(keepingCapacity: held.count <= Self.holdLimit * 2)
        heldLines = 0
    }

    private func failed(_ lines: UInt64, _ error: any Error) {
        let before = writeErrors
        writeErrors += lines
        if before == 0 || writeErrors / 1000 != before / 1000 { Log.error("writing alerts: \(error) (\(writeErrors) failures)") }
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
