import Benchmark
import EDRBenchmarkKit
import EDRCore
import EDRDetect
import EDRSigma
import Foundation

// Microbenchmarks of the detector's hot paths, one operation per measured unit (a thousand
// per iteration, `scalingFactor: .kilo`, so the figures read as ns per operation ×1000):
// `swift package benchmark` (or `make bench`) in Benchmarks/. The whole figures (load time,
// RSS, per-logsource costs) come from `edr-bench` beside it; docs/benchmarks.md quotes both.

/// The repository root: rule paths do not depend on the directory the tool runs in.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path
let corpus = ProcessInfo.processInfo.environment["EDR_SIGMA_CORPUS"] ?? root + "/../shared/corpora/sigmahq/rules"
let bundled = root + "/rules/sigma"

nonisolated(unsafe) let config = Benchmark.Configuration(
    metrics: [.wallClock, .cpuTotal, .throughput], scalingFactor: .kilo,
    maxDuration: .seconds(3), maxIterations: 1_000)

/// A detector with every rule loaded and the frames of 1,000 execs to feed it.
struct DetectorState: @unchecked Sendable {
    let detector: Detector
    let frames: [Frame]
}

let benchmarks: @Sendable () -> Void = {
    // Sigma alone, the engine's own figure: events as the normalizer makes them.
    Benchmark("Sigma: Linux event mix, SigmaHQ Linux rules", configuration: config) { benchmark, engine in
        let events = SigmaEventMix.events(count: 1000)
        benchmark.startMeasurement()
        for e in events { blackHole(engine.evaluate(e)) }
    } setup: {
        try SigmaEngine.load(paths: [corpus + "/linux"], options: DetectorLogSources.sigmaOptions())
    }

    Benchmark("Sigma: Windows process_creation, SigmaHQ Windows rules", configuration: config) { benchmark, engine in
        let events = SigmaEventMix.events(count: 8000, windows: true)
            .filter { $0.logsource.product == "windows" && $0.logsource.category == "process_creation" }.prefix(1000)
        benchmark.startMeasurement()
        for e in events { blackHole(engine.evaluate(e)) }
    } setup: {
        try SigmaEngine.load(paths: [corpus + "/windows"])
    }

    // The detector per exec: fork, exec and exit frames decoded, normalized, auditd records
    // built, every rule evaluated (the live detector's work between two socket reads).
    Benchmark("Detector: exec (fork + exec + exit records), bundled + SigmaHQ Linux rules", configuration: config) {
        (benchmark: Benchmark, state: DetectorState) in
        benchmark.startMeasurement()
        for f in state.frames { blackHole(try state.detector.ingest(f)) }
    } setup: {
        let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
        let detector = try PipelineBenchmark.detector(rulePaths: [corpus + "/linux", bundled], alertFD: fd)
        var decoder = FrameDecoder()
        PipelineBenchmark.stream(execs: 1000, alertEvery: 0).withUnsafeBytes { decoder.feed($0) }
        var frames: [Frame] = []
        while let f = try decoder.next() { frames.append(f) }
        return DetectorState(detector: detector, frames: frames)
    }

    Benchmark("AlertEncoder: process_creation alert line (ECS NDJSON)", configuration: config) { benchmark, sample in
        benchmark.startMeasurement()
        for i in 0..<1000 {
            blackHole(AlertEncoder.sigma(event: sample.event, rule: sample.rule, sequence: UInt64(i), context: sample.context))
        }
    } setup: {
        AlertBenchmark.processCreationSample()
    }
}
