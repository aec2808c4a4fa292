import Testing
@testable import EDRSupervisor

/// edr.prom through swift-metrics' Prometheus backend: the children report totals since their
/// own start; the exposition's counters must only grow, across a child's restart too.
@Suite("Metrics exposition")
struct MetricsTests {
    func report(detectPID: Int32, events: Int, restarts: Int, pending: Int = 0) -> StatusReport {
        StatusReport(
            supervisorPID: 10, startedAt: 0, uptimeSeconds: 12.5, alertsPath: "-", alertsReopened: 0, responseEnabled: false,
            dryRun: false,
            children: [
                .init(name: "edr-sensor", role: "sensor", pid: 11, ready: "READY", uptimeSeconds: 12, restarts: 0, stats: [:]),
                .init(
                    name: "edr-detect", role: "detect", pid: detectPID, ready: detectPID > 0 ? "READY" : nil, uptimeSeconds: 3,
                    restarts: restarts,
                    stats: [
                        "events": "\(events)", "kernel_no_state": "2", "sensor_pending_frames": "\(pending)",
                        "last_reload": "ok at 12:00"
                    ])
            ])
    }

    /// The samples of the exposition: "name{labels}" → value.
    func samples(_ m: AgentMetrics) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in String(decoding: m.exposition(), as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let v = Double(parts[1]) { out[String(parts[0])] = v }
        }
        return out
    }

    @Test func countersKeepGrowingAcrossAChildsRestart() {
        let m = AgentMetrics()
        m.update(report(detectPID: 20, events: 100, restarts: 0))
        #expect(samples(m)["edr_events_total"] == 100)
        m.update(report(detectPID: 20, events: 150, restarts: 0))
        #expect(samples(m)["edr_events_total"] == 150)
        // The detector restarts: the new process counts from zero again.
        m.update(report(detectPID: 0, events: 150, restarts: 1))
        #expect(samples(m)["edr_child_up{child=\"edr-detect\"}"] == 0)
        m.update(report(detectPID: 21, events: 30, restarts: 1, pending: 7))
        let s = samples(m)
        #expect(s["edr_events_total"] == 180, "150 before the restart and 30 since: \(s)")
        #expect(s["edr_child_restarts_total{child=\"edr-detect\"}"] == 1)
        #expect(s["edr_child_up{child=\"edr-detect\"}"] == 1)
        #expect(s["edr_kernel_records_lost_no_state_total"] == 4, "2 from each detector process")
        #expect(s["edr_sensor_unacknowledged_frames"] == 7, "a gauge is set, not added")
        #expect(s["edr_up"] == 1)
        #expect(s["edr_supervisor_uptime_seconds"] == 12.5)
    }

    @Test func everyMetricHasHelpAndTypeAndAStoppedAgentSaysSo() {
        let m = AgentMetrics()
        m.update(report(detectPID: 20, events: 1, restarts: 0))
        let text = String(decoding: m.exposition(), as: UTF8.self)
        let names = Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { String($0.prefix { $0 != "{" && $0 != " " }) })
        #expect(names.count >= 8)
        for name in names {
            #expect(text.contains("# HELP \(name) "), "\(name) has no HELP line")
            #expect(text.contains("# TYPE \(name) "), "\(name) has no TYPE line")
            #expect(name.hasPrefix("edr_"))
        }
        #expect(!names.contains("edr_last_reload"), "free text is not a sample")
        #expect(String(decoding: AgentMetrics.stopped(), as: UTF8.self).contains("\nedr_up 0"))
    }
}
