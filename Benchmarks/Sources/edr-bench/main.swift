import ArgumentParser
import EDRBenchmarkKit
import EDRCore
import EDRSigma

/// `edr-bench sigma|pipeline|alerts|ioc|yara|hash`: whole figures (load time, events/s per
/// core, µs, MiB), printed, as docs/benchmarks.md quotes them. `make bench` builds it in
/// release mode and runs it beside the package-benchmark microbenchmarks (Benchmarks/EDRMicro);
/// debug builds are several times slower. Rule paths are relative to the repository root, where
/// `make bench` runs it.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edr-bench", abstract: "Measure detection engines and print figures (events/s, µs, MiB).",
        subcommands: [Sigma.self, IOC.self, Yara.self, Hash.self, Pipeline.self, Alerts.self])

    struct Sigma: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sigma: load time, events/s per core, µs/event, RSS.")
        @Option(name: .long, help: "Rule directory (repeatable).")
        var rules: [String] = ["../shared/corpora/sigmahq/rules/linux", "../shared/corpora/sigmahq/rules/windows"]
        @Option(name: .long, help: "Events to evaluate.")
        var events = 500_000
        @Flag(name: .long, help: "PCRE2 without its JIT, as in the confined edr-detect (no executable memory).")
        var noJit = false
        @Option(
            name: .long,
            help: "Only the mix's events of this logsource (as printed, e.g. 'product=windows category=process_creation'), in a loop: for perf record.")
        var only: String?
        @Option(
            name: .long,
            help: "An engine optimization turned off (repeatable): \(SigmaBenchmark.optimizations.joined(separator: ", ")); for A/B runs in one build.")
        var off: [String] = []
        func run() throws {
            RegexJIT.enabled = !noJit
            var options = SigmaOptions()
            try SigmaBenchmark.turnOff(off, in: &options)
            if let only { print(try SigmaBenchmark.loop(rulePaths: rules, logsource: only, events: events, options: options)); return }
            print(try SigmaBenchmark.run(rulePaths: rules, events: events, options: options))
        }
    }

    struct Pipeline: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The detector's cost per exec: socket read, frame and record decoding, process cache, auditd records, Sigma, alerts.")
        @Option(name: .long, help: "Rule directory (repeatable).")
        var rules: [String] = ["rules/sigma"]
        @Option(name: .long, help: "Execs to simulate (3 records each).")
        var execs = 200_000
        @Option(name: .long, help: "Every n-th exec is whoami as root, which the bundled rules report (0: no alerts).")
        var alertEvery = 0
        @Flag(name: .long, help: "Feed the decoder from memory instead of through a socketpair.")
        var noSocket = false
        @Option(name: .long, help: "MiB of other memory written between batches (not counted): caches as cold as the live detector's.")
        var coldMib = 0
        @Option(name: .long, help: "Execs per second the batches are sent at (0: as fast as the detector reads), so it sleeps between batches as it does live.")
        var pace = 0.0
        @Flag(name: .long, help: "With --pace: as many real execs of /bin/true meanwhile, from another thread, as the host runs them live.")
        var storm = false
        @Option(
            name: .long,
            help: "Execs per batch (default: with --pace, what the sensor gathers at that rate with the default max_batch_delay_ms; else 48).")
        var batchExecs: Int?
        @Flag(name: .long, help: "PCRE2 with its JIT (the confined edr-detect runs without).")
        var jit = false
        @Flag(
            name: .long,
            help: "No fork and exec of the spawner before its execs: their parent fields stay empty (the stream of the rounds before 2026-12-04).")
        var orphans = false
        @Flag(name: .long, help: "Time the detector's stages (decode, normalize, auditd records, detection) and print them per exec.")
        var stages = false
        @Option(
            name: .long,
            help: "An engine optimization turned off (repeatable): \(SigmaBenchmark.optimizations.joined(separator: ", ")); for A/B runs in one build.")
        var off: [String] = []
        func run() throws {
            RegexJIT.enabled = jit
            var o = PipelineBenchmark.Options(rulePaths: rules, execs: execs, alertEvery: alertEvery, socket: !noSocket, coldBytes: coldMib << 20)
            o.off = off
            o.stages = stages
            o.parent = !orphans
            o.pace = pace
            o.storm = storm
            if let batchExecs {
                guard batchExecs > 0 else { throw ValidationError("--batch-execs must be positive") }
                o.batchExecs = batchExecs
            } else if pace > 0 {
                // The sensor's steady batch: three records per exec, drained every batch delay.
                let maxNanos = UInt64(AgentConfig().sensor.maxBatchDelayMs) * 1_000_000
                let delay = BatchDelay.nanos(recordsPerSecond: 3 * pace, maxNanos: maxNanos)
                o.batchExecs = max(1, Int((pace * Double(delay) / 1e9).rounded()))
            }
            if storm && pace <= 0 { throw ValidationError("--storm needs --pace") }
            print(try PipelineBenchmark.run(o))
        }
    }

    struct Alerts: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "ECS alert encoding: µs per Sigma alert line, per event shape.")
        @Option(name: .long, help: "Alerts to encode per event shape.")
        var alerts = 200_000
        func run() {
            print(AlertBenchmark.run(alerts: alerts))
        }
    }

    struct IOC: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "IOC: load of 1M domains + 1M IPs, ns per event.")
        @Option(name: .long) var domains = 1_000_000
        @Option(name: .long) var ips = 1_000_000
        func run() throws {
            IOCBenchmark.run(domainCount: domains, ipCount: ips)
        }
    }

    struct Yara: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "YARA: scan throughput beside the yara CLI, cache hit ratio.")
        @Option(name: .long) var rules = "../shared/corpora/signature-base/yara"
        @Option(name: .long) var files = "/usr/bin"
        func run() throws {
            YaraBenchmark.run(rulesDirectory: rules, targetDirectory: files)
        }
    }

    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "File hashing: MD5+SHA-1+SHA-256 in one pass, MB/s over a large file and many small files.")
        @Option(name: .long, help: "Size of the large file in MiB.")
        var largeMib = 256
        @Option(name: .long, help: "Number of small files (0 to 32 KiB each).")
        var smallFiles = 4096
        @Option(name: .long, help: "Rounds; median and best are printed.")
        var rounds = 7
        func run() throws {
            HashBenchmark.run(largeBytes: largeMib << 20, smallFiles: smallFiles, rounds: rounds)
        }
    }
}
