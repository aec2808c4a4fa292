import EDRCore
import EDRSystem
#if canImport(Glibc)
import Glibc
#endif

/// The detector's end of edr-logs' connection: log records in, parsed (HostLogParser),
/// evaluated as `product: linux` services, acknowledged once their alerts are written. The
/// reader persists its position only up to an acknowledged record, so neither side's restart
/// loses a line, and only a line in flight when one side dies can come twice.
final class HostLogConnection {
    var fd: Int32 = -1
    var decoder = FrameDecoder()
    var hello: Hello?
    var processed: UInt64 = 0
    var acked: UInt64 = 0
    var records: UInt64 = 0
    var errors: UInt64 = 0
    var alerts: UInt64 = 0
}

extension Detector {
    /// The descriptor to poll for edr-logs (-1: none connected).
    var hostLogsFD: Int32 { hostLogs.fd }

    /// A new connection from edr-logs (the supervisor's socketpair): replaces the old one.
    func takeHostLogs(_ fd: Int32) {
        let c = hostLogs
        if c.fd >= 0 { close(c.fd) }
        c.fd = fd
        c.decoder = FrameDecoder()
        c.hello = nil
        c.processed = 0
        c.acked = 0
        sendToHostLogs(Hello(role: .detector, pid: UInt32(getpid()), nextSequence: 0).frame().encoded())
        Log.info("connected to edr-logs")
    }

    /// Reads what edr-logs sent (without blocking), evaluates it, acknowledges it.
    func serviceHostLogs() {
        let c = hostLogs
        guard c.fd >= 0 else { return }
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.recv(c.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                buf.withUnsafeBytes { c.decoder.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                do {
                    while let f = try c.decoder.next() { try ingestHostLog(f) }
                } catch {
                    Log.error("malformed frame from edr-logs: \(error); dropping its connection")
                    dropHostLogs()
                    return
                }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            Log.warning("edr-logs closed its connection; waiting for the next one")
            dropHostLogs()
            return
        }
        if c.hello != nil && c.processed != c.acked {
            // Alerts are written synchronously: everything up to `processed` is done.
            if sendToHostLogs(Ack.frame(upTo: c.processed).encoded()) { c.acked = c.processed }
        }
    }

    private func ingestHostLog(_ frame: Frame) throws {
        let c = hostLogs
        guard let _ = c.hello else {
            let h = try Hello(frame: frame)
            guard h.role == .logs else { throw EDRError("peer says it is \(h.role), expected logs") }
            c.hello = h
            c.decoder.expectSequence(from: h.nextSequence)
            c.processed = h.nextSequence &- 1
            c.acked = c.processed
            return
        }
        guard frame.type == .logRecord else { throw EDRError("unexpected \(frame.type) frame from edr-logs") }
        c.processed = frame.sequence
        c.records += 1
        let entry: HostLogEntry
        do {
            entry = try HostLogParser.parse(try LogRecord(payload: frame.payload))
        } catch {
            // Counted and logged; the connection stays (one bad line must not blind the rest).
            c.errors += 1
            Log.warning("edr-logs record \(frame.sequence): \(error)")
            return
        }
        evaluateHostLog(entry)
    }

    /// Evaluates one entry under each of its services; a rule that matches under several
    /// (a `product: linux` rule without a service) alerts once.
    func evaluateHostLog(_ entry: HostLogEntry) {
        var fired = Set<String>()
        for event in HostLogServices.events(for: entry) {
            counters.events += 1
            for m in sigma.evaluate(event) where fired.insert(m.rule.id ?? m.rule.path + "\u{0}" + m.rule.title).inserted {
                counters.alerts += 1
                hostLogs.alerts += 1
                let line = AlertEncoder.sigma(event: event, rule: m.rule, sequence: nil, context: options.context)
                sink.write(line: line, readable: AlertEncoder.readable(event: event, rule: m.rule))
            }
        }
    }

    @discardableResult
    private func sendToHostLogs(_ bytes: [UInt8]) -> Bool {
        let c = hostLogs
        let n = bytes.withUnsafeBytes { Glibc.send(c.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        // A full socket: the next acknowledgement covers this one (edr-logs always reads).
        return n == bytes.count
    }

    private func dropHostLogs() {
        let c = hostLogs
        close(c.fd)
        c.fd = -1
        c.hello = nil
        // Under the units: the socket's listener admits edr-logs' next connection.
        peers.peerClosed(role: "logs")
    }

    var hostLogStats: [(String, String)] {
        [("log_records", "\(hostLogs.records)"), ("log_errors", "\(hostLogs.errors)"), ("log_alerts", "\(hostLogs.alerts)")]
    }
}
