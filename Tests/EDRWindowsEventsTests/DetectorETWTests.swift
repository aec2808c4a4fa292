import EDRCore
import EDRDetect
import EDRSigma
@testable import EDRWindowsEvents
import Foundation
import Testing

/// etwRecord frames through the detector: the same evaluation and alert path as kernel
/// records; bad records counted, the connection kept.
@Suite("Detector on etwRecord frames")
struct DetectorETWTests {
    func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    @Test func framesBecomeAlertsAndBadOnesAreSkipped() throws {
        let rule = corpusRoot() + "/sigmahq/rules/windows/image_load/image_load_dll_sdiageng_load_by_msdt.yml"
        try #require(FileManager.default.fileExists(atPath: rule))
        var p: [Int32] = [0, 0]
        #expect(pipe(&p) == 0)
        defer { close(p[0]) }
        _ = fcntl(p[0], F_SETFL, O_NONBLOCK)
        Log.setup(component: "edr-test", level: .error)
        let store = try DetectorStore(
            sources: DetectorSources(
                sigma: [rule], yara: [], ioc: [],
                sigmaOptions: SigmaOptions(collectedLogSources: DetectorLogSources.windows)))
        let detector = Detector(
            store: store, sink: AlertSink(fd: p[1]),
            options: .init(
                respondEnabled: false, responseMinLevel: .critical,
                context: AlertContext(hostName: "h", hostID: "id"), machineID: "0123456789abcdef"))
        detector.windows.deviceMap = [vol: "C:"]
        var seq: UInt64 = 1
        func send(_ payload: [UInt8]) throws -> Bool {
            defer { seq += 1 }
            return try detector.ingest(Frame(type: .etwRecord, sequence: seq, payload: payload))
        }
        #expect(try send(start(600, 4, "\\Windows\\System32\\msdt.exe").record.encoded()), "sequenced: acknowledged")
        // Malformed (cut inside ImageName) and unknown: counted, skipped, no throw.
        var cut = Fixtures.imageLoad(pid: 600, image: vol + "\\x.dll", at: at(1)).record
        cut.userData.removeLast(3)
        #expect(try send(cut.encoded()))
        #expect(
            try send(
                ETWRecord(
                    providerID: WindowsGUID("{9E814AAD-3204-11D2-9A82-006008A86939}")!, eventID: 1, version: 4,
                    processID: 1, timestamp: at(1), userData: [0]
                ).encoded()))
        #expect(try send(Fixtures.imageLoad(pid: 600, image: vol + "\\Windows\\System32\\sdiageng.dll", at: at(2)).record.encoded()))
        close(p[1])
        let lines = String(decoding: readAll(p[0]), as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1, "\(lines)")
        let first = try #require(lines.first)
        let a = try #require(JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        let r = a["rule"] as? [String: Any]
        #expect(r?["id"] as? String == "ec8c4047-fad9-416a-8c81-0f479353d7f6")
        #expect(r?["name"] as? String == "Diagnostic Library Sdiageng.DLL Loaded By Msdt.EXE", "\(a)")
        #expect(detector.counters.recordErrors == 1 && detector.counters.recordsDecoded == 3 && detector.counters.alerts == 1)
        #expect(detector.windows.counters.unknown == 1 && detector.windows.counters.malformed == 1)
        #expect(detector.counters.events == 2)
    }
}
