import Foundation
import Testing
@testable import EDRCore
@testable import EDRDetect
import EDRSigma

/// A response request leaves the detector only once the alert that asked for it is in the
/// alert file: the live loop holds a batch's alerts until the batch ends (one write per batch),
/// and without this the responder would kill the process before the record of why was on disk.
@Suite("Alert before response")
struct ResponseOrderTests {
    @Test func theAlertIsInTheFileWhenTheResponderGetsTheRequest() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edr-order-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let alertPath = dir.appendingPathComponent("alerts.ndjson").path
        let alertFD = open(alertPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        try #require(alertFD >= 0)
        defer { close(alertFD) }
        let detector = try makeTestDetector(alertFD: alertFD, responseMinLevel: .medium)
        var sp: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sp) == 0)
        defer { close(sp[1]) }
        detector.attachResponder(sp[0])
        // As in the live loop: alerts are held until the batch ends.
        detector.holdAlerts = true

        // /usr/bin/whoami run by root: the bundled whoami_as_root rule (level medium) fires.
        let start: UInt64 = 1_000_000
        try detector.ingest(
            Frame(type: .kernelRecord, sequence: 1, payload: KernelRecordLayout.fork(pid: 4343, ppid: 1, start: start, parentStart: 1)))
        try detector.ingest(
            Frame(
                type: .kernelRecord, sequence: 2,
                payload: KernelRecordLayout.exec(
                    pid: 4343, ppid: 1, start: start, parentStart: 1, args: ["whoami"], path: "/usr/bin/whoami", cwd: "/root")))

        // The request is on the responder's socket now (the detector sends without waiting)...
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(sp[1], $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        try #require(n > 0, "a response request was sent")
        var decoder = FrameDecoder(maxFrameSize: 16384)
        decoder.feed(Array(buf[0..<n]))
        let request = try ResponseRequest(frame: try #require(try decoder.next()))
        #expect(request.pid == 4343 && request.ruleName == "Identity Discovery As Root")
        // ...and the alert that asked for it is already in the file, though the batch has not ended.
        let text = try String(contentsOfFile: alertPath, encoding: .utf8)
        #expect(text.contains("\"pid\":4343") && text.contains("Identity Discovery As Root"), "alert file when the request arrived: \(text.prefix(300))")
        #expect(detector.counters.alerts >= 1)
    }
}
