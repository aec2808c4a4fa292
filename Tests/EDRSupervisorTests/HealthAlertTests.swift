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
        let detector = Detector(store: store, sink: AlertSink(fd: p[1]),
                                options: .init(respondEnabled: false, responseMinLevel: .critical,
                                               context: AlertContext(hostName: "h", hostID: "id"), machineID: "0123456789abcdef"))
        try detector.ingest(SensorStats.frame([("kernel.exec.submitted", 10), ("kernel.exec.ring_full", 0)]))
        try detector.ingest(SensorStats.frame([("kernel.exec.submitted", 20), ("kernel.exec.ring_full", 7), ("kernel.file.too_large", 2)]))
        try detector.ingest(SensorStats.frame([("kernel.exec.submitted", 30), ("kernel.exec.ring_full", 7), ("kernel.file.too_large", 2)]))
        close(p[1])
        let lines = String(decoding: try readAll(fd: p[0]), as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1, "one alert for the one increase: \(lines)")
        let first = try #require(lines.first)
        let a = try #require(JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect((a["rule"] as? [String: Any])?["id"] as? String == "edr-health-events-lost")
        #expect((a["rule"] as? [String: Any])?["ruleset"] as? String == "edr-health")
        let health = (a["edr"] as? [String: Any])?["health"] as? [String: Any]
        #expect(health?["lost"] as? Int == 9)
        #expect(health?["ring_full_total"] as? Int == 7)
        #expect(health?["too_large_total"] as? Int == 2)
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
