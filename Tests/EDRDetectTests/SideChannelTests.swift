import EDRCore
import EDRSigma
import EDRSystem
import Foundation
import Testing

@testable import EDRDetect

/// The live loop (`Detector.run`) over socketpairs: a sensor stream that never runs dry (a
/// replay, or a flood faster than the detector) must not hold back edr-logs' records.
@Suite("Side channels during a flood")
struct SideChannelTests {
    /// Hands the sensor and edr-logs connections over once; gone when `close` is called.
    final class Peers: PeerSource, @unchecked Sendable {
        var handed: [ControlChannel.Peer]
        let pipe: (read: Int32, write: Int32)
        init(_ peers: [ControlChannel.Peer]) {
            handed = peers
            var p: [Int32] = [-1, -1]
            _ = Glibc.pipe(&p)
            pipe = (p[0], p[1])
        }
        var pollFD: Int32 { pipe.read }
        func receivePeers() -> [ControlChannel.Peer]? {
            if !handed.isEmpty {
                defer { handed = [] }
                return handed
            }
            return nil
        }
        func peerClosed(role: String) {}
        var replacesEndedPeers: Bool { false }
    }

    @Test func logRecordsAreReadWhileTheSensorStreamNeverRunsDry() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edr-side-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("rules"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bundled = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("rules/sigma/whoami_as_root.yml")
        try FileManager.default.copyItem(at: bundled, to: dir.appendingPathComponent("rules/whoami_as_root.yml"))
        try """
        title: Side channel marker in syslog
        id: 6a0c3f55-0000-4000-8000-5e1dec4a11e1
        status: test
        logsource:
            product: linux
            service: syslog
        detection:
            keywords:
                - 'edrsidechannelmarker'
            condition: keywords
        level: low
        """.write(to: dir.appendingPathComponent("rules/marker.yml"), atomically: true, encoding: .utf8)
        Log.setup(component: "edr-test", level: .error)
        var options = SigmaOptions()
        options.collectedLogSources = DetectorLogSources.collected
        let store = try DetectorStore(
            sources: DetectorSources(sigma: [dir.appendingPathComponent("rules").path], yara: [], ioc: [], sigmaOptions: options))
        try #require(store.current.sigma.loadedCount == 2)
        let alertPath = dir.appendingPathComponent("alerts.ndjson").path
        let alertFD = open(alertPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        try #require(alertFD >= 0)
        defer { close(alertFD) }
        let detector = Detector(
            store: store, sink: AlertSink(fd: alertFD),
            options: .init(
                respondEnabled: false, responseMinLevel: .critical, context: AlertContext(hostName: "test", hostID: "test"),
                machineID: "0123456789abcdef0123456789abcdef"))

        var sensor: [Int32] = [-1, -1]
        var logs: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sensor) == 0)
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &logs) == 0)
        defer { close(logs[1]) }
        let peers = Peers([.init(role: "sensor", fd: sensor[0]), .init(role: "logs", fd: logs[0])])
        defer { close(peers.pipe.read); close(peers.pipe.write) }
        detector.peers = peers

        // edr-logs has a line waiting before the detector reads anything.
        var logBytes = Hello(role: .logs, pid: 1, nextSequence: 1).frame().encoded()
        let record = LogRecord(
            source: .journal,
            fields: [
                ("MESSAGE", Array("stopping edrsidechannelmarker".utf8)), ("SYSLOG_IDENTIFIER", Array("firewalld".utf8)),
                ("SYSLOG_FACILITY", Array("3".utf8))
            ])
        logBytes += record.frame(sequence: 1).encoded()
        try UnixSocket.writeAll(logs[1], logBytes)

        // 1,500 execs of whoami as root (each alerts), fork and exec records: 3,000 frames,
        // written by another thread as fast as the socket takes them.
        var stream = Hello(role: .sensor, pid: 2, nextSequence: 1).frame().encoded()
        var sequence: UInt64 = 1
        let execs = 1500
        for i in 0..<execs {
            let pid = UInt32(10_000 + i), start = UInt64(1_000_000 + i)
            stream += Frame(type: .kernelRecord, sequence: sequence, payload: KernelRecordLayout.fork(pid: pid, ppid: 1, start: start, parentStart: 1))
                .encoded()
            stream += Frame(
                type: .kernelRecord, sequence: sequence + 1,
                payload: KernelRecordLayout.exec(
                    pid: pid, ppid: 1, start: start, parentStart: 1, args: ["whoami", "x\(i)"], path: "/usr/bin/whoami", cwd: "/root")
            ).encoded()
            sequence += 2
        }
        let writerFD = sensor[1]
        let bytes = stream
        let writer = Thread {
            try? UnixSocket.writeAll(writerFD, bytes)
            // The sensor's side ends (its acknowledgements still have somewhere to go).
            shutdown(writerFD, Int32(SHUT_WR))
        }
        writer.start()
        defer { close(writerFD) }
        // The stream ends and, with no replacement coming, run returns.
        try detector.run()

        let lines = try String(contentsOfFile: alertPath, encoding: .utf8).split(separator: "\n")
        let execAlerts = lines.filter { $0.contains("Identity Discovery As Root") }.count
        #expect(execAlerts == execs)
        let logIndex = try #require(lines.firstIndex { $0.contains("edrsidechannelmarker") }, "the log line did not alert")
        let before = lines[..<logIndex].filter { $0.contains("Identity Discovery As Root") }.count
        // Read every 1,024 frames: after 512 of the 1,500 execs, not after all of them.
        #expect(before <= 600, "\(before) of \(execs) exec alerts came before the log line's")
    }
}
