import CoreMetrics
import EDRCore
import Prometheus
import Synchronization

/// The agent's metrics, through swift-metrics with swift-prometheus as its one backend: the
/// supervisor (or `edr status --write-metrics` under the per-process units) feeds each report
/// into a `PrometheusCollectorRegistry` and writes the registry's exposition to
/// `<textfile_dir>/edr.prom`. The same registry is the process's swift-metrics backend, so a
/// library's `Counter(label:)` lands in the same file instead of a second counter system.
///
/// The children count in their own memory (plain integers on the hot path) and report totals
/// since their own start in STATS lines. A Prometheus counter only grows, across restarts
/// included: each total is turned into an increment against what the same process said last
/// time, and a new process (the child was restarted; its count starts again from zero) adds
/// its whole total. A rate over edr_events_total is therefore right across a detector restart.
public final class AgentMetrics {
    public let registry = PrometheusCollectorRegistry()
    private var counters: [String: Prometheus.Counter] = [:]
    private var gauges: [String: Prometheus.Gauge] = [:]
    /// Per counter and labels: the reporting process and the total it reported last.
    private var lastTotals: [String: (source: Int32, total: Int64)] = [:]

    public init() {}

    /// Makes this registry the process's swift-metrics backend. swift-metrics allows one
    /// bootstrap per process: later calls (a second supervisor in a test process) change nothing.
    public func bootstrapMetricsSystem() {
        Self.bootstrapLock.withLock { done in
            guard !done else { return }
            done = true
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        }
    }
    private static let bootstrapLock = Mutex(false)

    /// Counter `name`{labels} fed from `total`, an absolute count the process `source` reports.
    public func total(_ name: String, _ help: String, labels: [(String, String)] = [], _ total: Int64, source: Int32) {
        let key = Self.key(name, labels)
        let counter = Self.cached(&counters, key) { registry.makeCounter(name: name, labels: labels, help: help) }
        let last = lastTotals[key]
        let increment = last.map { $0.source == source && total >= $0.total ? total - $0.total : total } ?? total
        if increment > 0 { counter.increment(by: increment) }
        lastTotals[key] = (source, total)
    }

    /// Gauge `name`{labels} set to `value`.
    public func gauge(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: Double) {
        let key = Self.key(name, labels)
        let gauge = Self.cached(&gauges, key) { registry.makeGauge(name: name, labels: labels, help: help) }
        gauge.set(to: value)
    }

    /// The metric registered under `key`, made on first use.
    private static func cached<T>(_ cache: inout [String: T], _ key: String, _ make: () -> T) -> T {
        if let m = cache[key] { return m }
        let m = make()
        cache[key] = m
        return m
    }

    /// The Prometheus text exposition (format 0.0.4) of everything registered.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    /// What a stopped agent leaves behind: edr_up 0 and nothing else (its last figures would
    /// claim it still runs).
    public static func stopped() -> [UInt8] {
        let m = AgentMetrics()
        m.gauge("edr_up", upHelp, 0)
        return m.exposition()
    }

    static let upHelp = "1 while the agent runs (the file's age tells a stale one)."

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        labels.isEmpty ? name : name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }
}

extension AgentMetrics {
    /// The detector's STATS totals that become counters: (STATS key, metric, help).
    static let detectorCounters: [(String, String, String)] = [
        ("frames", "edr_detector_frames_total", "Frames the detector received from the sensor."),
        ("records", "edr_detector_records_total", "Kernel records the detector decoded."),
        ("record_errors", "edr_detector_record_errors_total", "Kernel records the detector could not decode (lost)."),
        ("events", "edr_events_total", "Normalized events evaluated."),
        ("alerts", "edr_alerts_total", "Alerts raised (Sigma, IOC, YARA)."),
        ("alerts_written", "edr_alert_lines_written_total", "Lines written to the alert file (alerts, outcomes, health)."),
        ("alert_write_errors", "edr_alert_write_errors_total", "Failed writes to the alert file."),
        ("response_requests", "edr_response_requests_total", "Kill requests sent to edr-respond."),
        ("response_outcomes", "edr_response_outcomes_total", "Outcomes received from edr-respond."),
        ("response_queue_full", "edr_response_queue_full_total", "Requests refused because edr-respond was not reading."),
        ("kernel_submitted", "edr_kernel_records_submitted_total", "Records the BPF programs submitted to the ring buffer."),
        ("kernel_ring_full", "edr_kernel_records_lost_ring_full_total", "Records the kernel dropped: ring buffer full."),
        ("kernel_too_large", "edr_kernel_records_lost_too_large_total", "Records the kernel dropped: larger than the record's bounds."),
        ("kernel_no_state", "edr_kernel_records_lost_no_state_total", "Calls the kernel lost: no state slot carried them from entry to exit."),
        ("sensor_records_read", "edr_sensor_records_read_total", "Records the sensor read from the ring buffer."),
        ("sensor_executables_unavailable", "edr_sensor_executables_unavailable_total", "Executed files the sensor could not open for scanning.")
    ]

    /// The detector's STATS values that are levels, not counts.
    static let detectorGauges: [(String, String, String)] = [
        ("sensor_pending_frames", "edr_sensor_unacknowledged_frames", "Frames the sensor keeps until the detector acknowledges them."),
        ("sigma_rules", "edr_sigma_rules_loaded", "Sigma rules loaded."),
        ("yara_rules", "edr_yara_rules_loaded", "YARA rules loaded.")
    ]

    /// Feeds one status report into the registry.
    public func update(_ report: StatusReport) {
        gauge("edr_up", Self.upHelp, 1)
        gauge("edr_supervisor_uptime_seconds", "Seconds since the supervisor started.", report.uptimeSeconds)
        for c in report.children {
            let child = [("child", c.name)]
            gauge("edr_child_up", "1 when the child runs and said it is ready.", labels: child, c.pid > 0 && c.ready != nil ? 1 : 0)
            gauge("edr_child_uptime_seconds", "Seconds since the child's current process started.", labels: child, c.uptimeSeconds)
            // The supervisor's (or systemd's) own running count: one source for the agent's life.
            total(
                "edr_child_restarts_total", "Times the supervisor (or systemd) replaced the child.", labels: child,
                Int64(c.restarts), source: 0)
        }
        total(
            "edr_alert_file_reopened_total", "Times the alert file was reopened (SIGHUP, rotation).", Int64(report.alertsReopened),
            source: 0)
        // A child that is not running shows its last process's figures: already counted.
        if let detect = report.children.first(where: { $0.role == "detect" && $0.pid > 0 }) {
            for (key, name, help) in Self.detectorCounters {
                if let v = detect.stats[key].flatMap({ Int64($0) }) { total(name, help, v, source: detect.pid) }
            }
            for (key, name, help) in Self.detectorGauges {
                if let v = detect.stats[key].flatMap({ Double($0) }) { gauge(name, help, v) }
            }
        }
        if let respond = report.children.first(where: { $0.role == "respond" && $0.pid > 0 }) {
            if let v = respond.stats["killed"].flatMap({ Int64($0) }) {
                total("edr_responder_kills_total", "Processes edr-respond killed.", v, source: respond.pid)
            }
            if let v = respond.stats["refused"].flatMap({ Int64($0) }) {
                total("edr_responder_refusals_total", "Requests edr-respond refused by policy.", v, source: respond.pid)
            }
        }
    }
}
