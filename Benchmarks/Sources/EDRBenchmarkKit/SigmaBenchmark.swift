import EDRCore
import EDRSigma
import Foundation

/// Throughput/latency/memory figures for the Sigma engine on a synthetic but realistic event mix.
/// Prints figures only; no assertions. Run in release mode.
public enum SigmaBenchmark {
    public struct Figures: Sendable {
        public var loadSeconds: Double
        public var loaded: Int, rejected: Int, inert: Int
        public var events: Int
        public var eventsPerSecond: Double
        public var p50Micros: Double, p99Micros: Double, maxMicros: Double
        public var matches: Int
        public var rssMiB: Double, peakRssMiB: Double
    }

    /// Loads the rules, replays `events` events (cycling a pool of generated ones) on the calling
    /// thread, and returns a human-readable report.
    public static func run(rulePaths: [String], events: Int = 500_000, options: SigmaOptions = SigmaOptions()) throws -> String {
        let rssBefore = memory().rss
        let t0 = now()
        let engine = try SigmaEngine.load(paths: rulePaths, options: options)
        let loadSeconds = now() - t0
        let pool = SigmaEventMix.events(count: 2000)
        let windowsPool = SigmaEventMix.events(count: 2000, windows: true).filter { $0.logsource.product == "windows" }
        // Warm-up (fills layout/route caches and lazily-touched pages).
        var matches = 0
        for e in pool { matches &+= engine.evaluate(e).count }
        matches = 0
        // Throughput.
        let t1 = now(), c1 = cpuNow()
        pool.withUnsafeBufferPointer { p in
            for i in 0..<events { matches &+= engine.evaluate(p[i % p.count]).count }
        }
        let elapsed = now() - t1, cpu = cpuNow() - c1
        // Latency per event.
        var lat: [Double] = []
        lat.reserveCapacity(min(events, 200_000))
        for i in 0..<min(events, 200_000) {
            let a = now()
            _ = engine.evaluate(pool[i % pool.count])
            lat.append((now() - a) * 1e6)
        }
        lat.sort()
        // Cost per logsource of the mix.
        var byLS: [String: [Event]] = [:]
        for e in pool + windowsPool { byLS[e.logsource.description, default: []].append(e) }
        var perLS: [(String, Double, Int)] = []
        for (k, evs) in byLS.sorted(by: { $0.key < $1.key }) {
            let reps = max(1, 100_000 / evs.count)
            let c0 = cpuNow()
            var m = 0
            evs.withUnsafeBufferPointer { p in for _ in 0..<reps { for e in p { m &+= engine.evaluate(e).count } } }
            perLS.append((k, (cpuNow() - c0) * 1e6 / Double(reps * evs.count), m / reps))
        }
        let mem = memory()
        var rejectedReasons: [String: Int] = [:]
        var loaded = 0, rejected = 0, inert = 0
        for d in engine.diagnostics {
            switch d.status {
            case .loaded: loaded += 1
            case .inert: inert += 1
            case .rejected(let r):
                rejected += 1
                rejectedReasons[reasonClass(r), default: 0] += 1
            }
        }
        let f = Figures(
            loadSeconds: loadSeconds, loaded: loaded, rejected: rejected, inert: inert, events: events,
            eventsPerSecond: Double(events) / elapsed,
            p50Micros: lat.isEmpty ? 0 : lat[lat.count / 2], p99Micros: lat.isEmpty ? 0 : lat[lat.count * 99 / 100],
            maxMicros: lat.last ?? 0, matches: matches, rssMiB: mem.rss, peakRssMiB: mem.hwm)
        var out = "Sigma engine benchmark\n"
        out += "rules: \(rulePaths.joined(separator: " "))\n"
        out += String(
            format: "load: %.3f s  loaded %d, rejected %d, inert %d (rules evaluated: %d, correlations: %d)\n",
            f.loadSeconds, f.loaded, f.rejected, f.inert, engine.rules.count, engine.correlationRules.count)
        for (r, n) in rejectedReasons.sorted(by: { $0.value > $1.value }).prefix(5) { out += "  rejected \(n): \(r)\n" }
        out += String(
            format: "throughput: %.0f events/s per core by thread CPU time (%.0f by wall clock; %d events, %d matches)\n",
            Double(events) / cpu, f.eventsPerSecond, f.events, f.matches)
        out += "event mix: \(pool.count) distinct Linux events (65% process_creation, 20% file_event, 15% network_connection)\n"
        out += String(format: "latency per event: p50 %.2f µs, p99 %.2f µs, max %.1f µs\n", f.p50Micros, f.p99Micros, f.maxMicros)
        out += "CPU time per event by logsource (Windows ones are not in the mix; shown for the Windows rules' cost):\n"
        for (k, us, m) in perLS { out += String(format: "  %@: %.2f µs/event (%d matches per pass)\n", k, us, m) }
        out += String(format: "memory: RSS %.1f MiB (peak %.1f MiB; %.1f MiB before load)\n", f.rssMiB, f.peakRssMiB, rssBefore)
        let automata = engine.unitSummary.reduce(0) { $0 + $1.automatonBytes }
        out += String(
            format: "compiled: %d logsource units, %d atoms, automata %.1f MiB\n",
            engine.unitSummary.count, engine.unitSummary.reduce(0) { $0 + $1.atoms }, Double(automata) / 1048576)
        return out
    }

    /// The engine's optimizations `--off` can name: each is there only for speed, so turning it
    /// off changes no result, only the figures.
    public static let optimizations = [
        "regex-gates", "keyword-one-pass", "fold-broader-units", "skip-scan", "unit-per-kind", "literal-sets", "anchored-in-automaton"
    ]

    public static func turnOff(_ names: [String], in options: inout SigmaOptions) throws {
        for o in names {
            switch o {
            case "regex-gates": options.regexGates = false
            case "keyword-one-pass": options.keywordOnePass = false
            case "fold-broader-units": options.foldBroaderUnits = false
            case "skip-scan": options.skipScan = false
            case "unit-per-kind": options.unitPerKind = false
            case "literal-sets": options.literalSets = false
            case "anchored-in-automaton": options.anchoredInAutomaton = false
            default: throw EDRError("--off \(o): not one of \(optimizations.joined(separator: ", "))")
            }
        }
    }

    /// Evaluates only the mix's events of one logsource (its `description`, such as
    /// `product=windows category=process_creation`) `events` times: a loop to run under `perf record`.
    public static func loop(rulePaths: [String], logsource: String, events: Int, options: SigmaOptions = SigmaOptions()) throws -> String {
        let engine = try SigmaEngine.load(paths: rulePaths, options: options)
        let pool = (SigmaEventMix.events(count: 2000) + SigmaEventMix.events(count: 2000, windows: true)).filter {
            $0.logsource.description == logsource
        }
        guard !pool.isEmpty else { return "no event of the mix has the logsource '\(logsource)'" }
        var m = 0
        for e in pool { m &+= engine.evaluate(e).count }
        let c0 = cpuNow()
        pool.withUnsafeBufferPointer { p in for i in 0..<events { m &+= engine.evaluate(p[i % p.count]).count } }
        let us = (cpuNow() - c0) * 1e6 / Double(events)
        var out = String(format: "%@: %d distinct events, %d evaluated, %.2f µs/event CPU (%d matches)", logsource, pool.count, events, us, m)
        for u in engine.unitSummary where u.logsource.description == logsource {
            out += String(
                format: "\n  unit: %d rules (%d unanchored), %d atoms, automata %.2f MiB", u.rules, u.unanchored, u.atoms, Double(u.automatonBytes) / 1048576)
        }
        return out
    }

    public static func reasonClass(_ r: String) -> String {
        if let q = r.firstIndex(of: "'"), r.hasPrefix("unknown modifier") { return String(r[..<q]) + "…" }
        return String(r.prefix(90))
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func cpuNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func memory() -> (rss: Double, hwm: Double) {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        var rss = 0.0, hwm = 0.0
        for line in s.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if line.hasPrefix("VmRSS:"), parts.count >= 2 { rss = (Double(parts[1]) ?? 0) / 1024 }
            if line.hasPrefix("VmHWM:"), parts.count >= 2 { hwm = (Double(parts[1]) ?? 0) / 1024 }
        }
        return (rss, hwm)
    }
}
