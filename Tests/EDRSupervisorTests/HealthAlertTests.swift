import EDRSystem
import Testing
import Foundation
@testable import EDRCore
import EDRDetect
import EDRSigma

@Suite("Health alerts")
struct HealthAlertTests {
    /// Counted loss reaches the alert stream: a sensor-stats frame whose kernel counters grew
    /// makes the detector write one edr-health-events-lost alert with the numbers.
    @Test func kernelLossBecomesAnAlert() throws {
        var p: [Int32] = [0, 0]
        #expect(pipe(&p) == 0)
        defer { close(p[0]) }
        _ = fcntl(p[0], F_SETFL, O_NONBLOCK)
        let store = try DetectorStore(sources: DetectorSources(sigma: [], yara: [], ioc: [], sigmaOptions: SigmaOptions()))
        let detector = Detector(
            store: store, sink: AlertSink(fd: p[1]),
            options: .init(
                respondEnabled: false, responseMinLevel: .critical,
                context: AlertContext(hostName: "h", hostID: "id"), machineID: "0123456789abcdef"))
        try detector.ingest(SensorStats.frame([("kernel.exec.submitted", 10), ("kernel.exec.ring_full", 0)]))
        try detector.ingest(
            SensorStats.frame([
                ("kernel.exec.submitted", 20), ("kernel.exec.ring_full", 7), ("kernel.file.too_large", 2),
                ("kernel.net.no_state", 3)
            ]))
        try detector.ingest(
            SensorStats.frame([
                ("kernel.exec.submitted", 30), ("kernel.exec.ring_full", 7), ("kernel.file.too_large", 2),
                ("kernel.net.no_state", 3)
            ]))
        close(p[1])
        let lines = String(decoding: try readAll(fd: p[0]), as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1, "one alert for the one increase: \(lines)")
        let first = try #require(lines.first)
        let a = try #require(JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect((a["rule"] as? [String: Any])?["id"] as? String == "edr-health-events-lost")
        #expect((a["rule"] as? [String: Any])?["ruleset"] as? String == "edr-health")
        let health = (a["edr"] as? [String: Any])?["health"] as? [String: Any]
        #expect(health?["lost"] as? Int == 12)
        #expect(health?["ring_full_total"] as? Int == 7)
        #expect(health?["too_large_total"] as? Int == 2)
        #expect(health?["no_state_total"] as? Int == 3)
    }

    @Test func limiterHoldsBackAndCountsTheRest() {
        var l = HealthAlertLimiter(limit: 2, windowNanos: 1_000)
        let a = HealthAlert(ruleID: "x", title: "t", level: "high", action: "a", message: "m")
        #expect(l.admit(a, now: 0) != nil)
        #expect(l.admit(a, now: 1) != nil)
        #expect(l.admit(a, now: 2) == nil)
        #expect(l.admit(a, now: 3) == nil)
        let next = l.admit(a, now: 2_000)
        #expect(next?.numbers.first { $0.0 == "suppressed" }?.1 == 2)
        #expect(l.admit(HealthAlert(ruleID: "y", title: "t", level: "high", action: "a", message: "m"), now: 3) != nil)
    }
}

/// A detector kept busy (its input never runs dry: a storm, or the replay after a restart)
/// must still say it is alive and acknowledge, or the supervisor (or systemd's watchdog) takes
/// it for hung and replaces it, and the replay it then has to read only grows. That death
/// spiral happened on a loaded machine: 3.7 s without a heartbeat while 400,000 frames waited.
@Suite("Busy detector", .serialized, .enabled(if: geteuid() == 0, "forces 48 MiB socket buffers (SO_SNDBUFFORCE): run as root"))
struct BusyDetectorTests {
    @Test func aDetectorThatNeverRunsDryStillHeartbeatsAndAcknowledges() throws {
        var control: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &control) == 0)
        var link: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &link) == 0)
        let null = open("/dev/null", O_WRONLY)
        ChildFD.control = control[1]
        defer { ChildFD.control = 3; close(control[0]); close(control[1]); close(null) }
        let store = try DetectorStore(sources: DetectorSources(sigma: [], yara: [], ioc: [], sigmaOptions: SigmaOptions()))
        let detector = Detector(
            store: store, sink: AlertSink(fd: null),
            options: .init(
                respondEnabled: false, responseMinLevel: .critical,
                context: AlertContext(hostName: "h", hostID: "id"), machineID: "0123456789abcdef"))
        detector.peers = try UnitPeers(initial: [.init(role: "sensor", fd: link[1])], listeners: [])

        // The sensor side: hello, then a backlog of small sequenced records (40 or 41 payload
        // bytes: malformed, counted, cheap to handle; two sizes so reads end mid-frame) far
        // larger than what the detector gets through in 4 s: 40 MiB queued before it starts
        // (socket buffers forced to 48 MiB, as root), then a writer thread keeps topping up,
        // so its input never runs dry.
        let sensor = link[0]
        var big: Int32 = 48 << 20
        #expect(setsockopt(sensor, SOL_SOCKET, 32 /* SO_SNDBUFFORCE */, &big, 4) == 0)
        #expect(setsockopt(link[1], SOL_SOCKET, 33 /* SO_RCVBUFFORCE */, &big, 4) == 0)
        func records(from first: UInt64, bytes: Int) -> (bytes: [UInt8], next: UInt64) {
            var out = [UInt8]()
            out.reserveCapacity(bytes + 64)
            var seq = first
            while out.count < bytes {
                let payload = 40 + Int(seq & 1)
                Frame.appendHeader(to: &out, type: .kernelRecord, sequence: seq, payloadCount: payload)
                out.append(contentsOf: repeatElement(0, count: payload))
                seq += 1
            }
            return (out, seq)
        }
        let (first, afterFirst) = records(from: 1, bytes: 40 << 20)
        let (second, afterSecond) = records(from: afterFirst, bytes: 80 << 20)
        let seq = afterSecond
        let hello = Hello(role: .sensor, pid: 1, nextSequence: 1).frame().encoded()
        _ = fcntl(sensor, F_SETFL, O_NONBLOCK)
        @Sendable func push(_ bytes: [UInt8], until deadline: Date) -> Int {
            var off = 0
            while off < bytes.count && Date() < deadline {
                let n = bytes.withUnsafeBytes { send(sensor, $0.baseAddress! + off, $0.count - off, Int32(MSG_NOSIGNAL)) }
                if n > 0 { off += n } else if errno == EAGAIN { usleep(1000) } else { break }
            }
            return off
        }
        try #require(push(hello + first, until: Date().addingTimeInterval(10)) == hello.count + first.count)
        let writer = Thread { _ = push(second, until: Date().addingTimeInterval(8)) }
        writer.start()
        let runner = Thread { try? detector.run() }
        runner.start()
        // 4 s: more than the supervisor's 3 s silence limit. Heartbeats are timed as they come.
        var acks = 0
        var beats: [Date] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var msg = [UInt8](repeating: 0, count: 256)
        let from = Date()
        let until = from.addingTimeInterval(4)
        while Date() < until {
            if recv(sensor, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 { acks += 1 }
            while true {
                let n = recv(control[0], &msg, msg.count, Int32(MSG_DONTWAIT))
                if n <= 0 { break }
                if String(decoding: msg[0..<n], as: UTF8.self).hasPrefix("ALIVE") { beats.append(Date()) }
            }
            usleep(10_000)
        }
        var pending: Int32 = 0
        _ = ioctl(link[1], UInt(0x541B) /* FIONREAD */, &pending)
        try #require(pending > 0, "the detector read all 120 MiB in 4 s: make the backlog larger")
        shutdown(sensor, Int32(SHUT_RDWR))
        // The longest silence, counting from the start and up to the end of the window.
        let times = [from] + beats + [until]
        let longest = zip(times, times.dropFirst()).map { $1.timeIntervalSince($0) }.max() ?? 99
        print(
            "busy detector: \(seq - 1) frames queued, \(pending) bytes still unread after 4 s, \(beats.count) heartbeats (longest silence \(String(format: "%.2f", longest)) s), \(acks) reads of acknowledgements"
        )
        #expect(longest < 2.5, "a busy detector fell silent for \(longest) s: the supervisor replaces it after 3")
        #expect(acks >= 5, "acknowledgements while busy: \(acks) (one every 100 ms is the aim); the sensor's replay buffer would fill")
    }
}
