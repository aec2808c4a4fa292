import EDRYara
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Scan throughput against the `yara` command-line tool, hashing throughput, and the scan
/// cache on a repeated-exec workload. `run()` prints the figures; no assertions.
public enum YaraBenchmark {
    public struct Figures: Sendable {
        public var rules: Int
        public var compileSeconds: Double
        public var files: Int
        public var bytes: Int64
        public var scanSeconds: Double
        public var scanAndHashSeconds: Double
        public var hashSeconds: Double
        public var cliSeconds: Double?
        public var cliLoadSeconds: Double?
        public var cacheHitRatio: Double
        public var execs: Int
        public var execSeconds: Double
    }

    /// - Parameters:
    ///   - rulesDirectory: rule corpus (default: signature-base).
    ///   - targetDirectory: regular files directly in it are scanned (default /usr/bin).
    ///   - maxFileSize: files above are left out of both runs.
    ///   - execs: length of the repeated-exec workload.
    @discardableResult
    public static func run(
        rulesDirectory: String = "/work/shared/corpora/signature-base/yara",
        targetDirectory: String = "/usr/bin", maxFileSize: Int64 = 64 << 20,
        execs: Int = 20_000, yaraCLI: String = "/usr/bin/yara"
    ) -> Figures? {
        let t0 = Date()
        let compiled = YaraRules.compile(directories: [rulesDirectory])
        let compileSeconds = Date().timeIntervalSince(t0)
        guard let rules = compiled.rules else {
            print("YARA: no rules compiled from \(rulesDirectory): \(compiled.errors.prefix(5))")
            return nil
        }
        print(
            "YARA compile: \(compiled.compiledFiles.count)/\(compiled.files.count) files, \(rules.ruleCount) rules, "
                + "\(compiled.failedFiles.count) failed, \(f(compileSeconds)) s")

        // Target files: regular files (no symlinks) up to the cap, sorted.
        var files: [String] = []
        var bytes: Int64 = 0
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: targetDirectory)) ?? []).sorted() {
            let p = targetDirectory + "/" + name
            var st = stat()
            guard lstat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int64(st.st_size) <= maxFileSize,
                access(p, R_OK) == 0
            else { continue }
            files.append(p)
            bytes += Int64(st.st_size)
        }
        let mb = Double(bytes) / 1e6
        print("YARA targets: \(files.count) regular files in \(targetDirectory), \(f(mb)) MB")

        guard let scanner = try? YaraScanner(rules: rules, options: .init(maxFileSize: maxFileSize, timeoutSeconds: 60)) else { return nil }
        // Warm the page cache so both tools read from memory.
        for p in files { let fd = open(p, O_RDONLY); if fd >= 0 { _ = FileHashes.compute(fd: fd); close(fd) } }

        var lastCPU = 0.0
        func timed(_ body: (Int32, String) -> Void) -> Double {
            let s = Date()
            let c = cpuSeconds(RUSAGE_SELF)
            for p in files {
                let fd = open(p, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                body(fd, p)
                close(fd)
            }
            lastCPU = cpuSeconds(RUSAGE_SELF) - c
            return Date().timeIntervalSince(s)
        }
        // Rounds alternate between this library and the CLI; each figure is the best of 3
        // (the machine may be shared).
        let defs = ["filename", "filepath", "extension", "filetype", "owner"].flatMap { ["-d", "\($0)="] }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("yara-bench-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let yarac = (yaraCLI as NSString).deletingLastPathComponent + "/yarac"
        let compiledPath = tmp + "/rules.yarc"
        var cliReady = false
        if FileManager.default.isExecutableFile(atPath: yaraCLI),
            shell(yarac, defs + ["-w"] + compiled.compiledFiles + [compiledPath]) != nil
        {
            try? files.joined(separator: "\n").write(toFile: tmp + "/list", atomically: true, encoding: .utf8)
            try? "".write(toFile: tmp + "/empty", atomically: true, encoding: .utf8)
            cliReady = true
        } else {
            print("yara/yarac not usable; CLI comparison skipped")
        }
        let cliArgs = ["-C", "-w", "-f", "-p", "1"] + defs + [compiledPath, "--scan-list"]
        var matches = 0
        var timeouts = 0
        var scanSeconds = Double.infinity, hashSeconds = Double.infinity, bothSeconds = Double.infinity
        var cliFull = Double.infinity, cliLoadBest = Double.infinity
        var scanCPU = Double.infinity, cliFullCPU = Double.infinity, cliLoadCPU = Double.infinity
        for _ in 0..<3 {
            matches = 0
            timeouts = 0
            scanSeconds = min(
                scanSeconds,
                timed { fd, p in
                    let r = scanner.scan(fd: fd, path: p)
                    matches += r.matches.count
                    if r.status == .timedOut { timeouts += 1 }
                })
            scanCPU = min(scanCPU, lastCPU)
            if cliReady {
                var c = cpuSeconds(RUSAGE_CHILDREN)
                if let t = shell(yaraCLI, cliArgs + [tmp + "/list"]) {
                    cliFull = min(cliFull, t)
                    cliFullCPU = min(cliFullCPU, cpuSeconds(RUSAGE_CHILDREN) - c)
                }
                c = cpuSeconds(RUSAGE_CHILDREN)
                if let t = shell(yaraCLI, cliArgs + [tmp + "/empty"]) {
                    cliLoadBest = min(cliLoadBest, t)
                    cliLoadCPU = min(cliLoadCPU, cpuSeconds(RUSAGE_CHILDREN) - c)
                }
            }
            hashSeconds = min(hashSeconds, timed { fd, _ in _ = FileHashes.compute(fd: fd, maxSize: maxFileSize) })
            bothSeconds = min(bothSeconds, timed { fd, p in _ = scanner.scan(fd: fd, path: p, computeHashes: true) })
        }
        print(
            "YARA scan (EDRYara, 1 thread, fast mode, best of 3): \(f(scanSeconds)) s wall (\(f(scanCPU)) s CPU), "
                + "\(f(mb / scanSeconds)) MB/s, \(f(Double(files.count) / scanSeconds)) files/s, \(matches) matches, \(timeouts) timeouts")
        print(
            "Hash MD5+SHA1+SHA256 (pread, \(FileHashes.implementation)): \(f(hashSeconds)) s, "
                + "\(f(mb / hashSeconds)) MB/s; scan+hash in one call: \(f(bothSeconds)) s, \(f(mb / bothSeconds)) MB/s")
        var cliSeconds: Double?
        var cliLoad: Double?
        if cliReady && cliFull.isFinite && cliLoadBest.isFinite {
            cliLoad = cliLoadBest
            cliSeconds = cliFull - cliLoadBest
            print(
                "yara CLI 4.2.3 (yara -C -w -f -p 1 -d ... rules.yarc --scan-list LIST, best of 3): \(f(cliFull)) s total, "
                    + "\(f(cliLoadBest)) s startup+rule load, \(f(cliFull - cliLoadBest)) s scanning, "
                    + "\(f(mb / (cliFull - cliLoadBest))) MB/s, \(f(Double(files.count) / (cliFull - cliLoadBest))) files/s; "
                    + "EDRYara/CLI throughput ratio = \(f((cliFull - cliLoadBest) / scanSeconds))x wall; CPU: CLI scanning "
                    + "\(f(cliFullCPU - cliLoadCPU)) s vs EDRYara \(f(scanCPU)) s, ratio \(f((cliFullCPU - cliLoadCPU) / scanCPU))x")
        }

        // Repeated-exec workload: Zipf-like popularity over the files (a few binaries run very
        // often), through the worker with its identity cache.
        var rng = UInt64(0x1234_5678)
        func next() -> UInt64 {
            rng &+= 0x9E37_79B9_7F4A_7C15
            var z = rng
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let weights = (1...files.count).map { 1.0 / Double($0) }
        var cumulative: [Double] = []
        var acc = 0.0
        for w in weights { acc += w; cumulative.append(acc) }
        var options = ScanWorkerOptions()
        options.scan = .init(maxFileSize: maxFileSize, timeoutSeconds: 60)
        options.queueCapacity = 1 << 16
        let worker = try? ScanWorker(rules: rules, options: options) { _ in }
        let s = Date()
        for _ in 0..<execs {
            let u = Double(next() % 1_000_000) / 1_000_000 * acc
            var lo = 0, hi = cumulative.count - 1
            while lo < hi { let m = (lo + hi) / 2; if cumulative[m] < u { lo = m + 1 } else { hi = m } }
            let fd = open(files[lo], O_RDONLY | O_CLOEXEC)
            if fd >= 0 { worker?.submit(ScanJob(fd: fd, path: files[lo])) }
        }
        worker?.waitUntilIdle()
        let execSeconds = Date().timeIntervalSince(s)
        // The statistics' initializers are internal to EDRYara: read them through optionals.
        let cs = worker?.cache.statistics
        let ws = worker?.statistics
        worker?.shutdown()
        print(
            "Repeated execs: \(execs) over \(files.count) files (Zipf), cache hits \(cs?.hits ?? 0), misses \(cs?.misses ?? 0), "
                + "hit ratio \(f(100 * (cs?.hitRatio ?? 0)))%, \(ws?.dropped ?? 0) dropped, \(f(execSeconds)) s, "
                + "\(f(Double(execs) / execSeconds)) execs/s")
        return Figures(
            rules: rules.ruleCount, compileSeconds: compileSeconds, files: files.count, bytes: bytes,
            scanSeconds: scanSeconds, scanAndHashSeconds: bothSeconds, hashSeconds: hashSeconds,
            cliSeconds: cliSeconds, cliLoadSeconds: cliLoad, cacheHitRatio: cs?.hitRatio ?? 0,
            execs: execs, execSeconds: execSeconds)
    }

    /// Runs a command with output discarded; wall seconds, or nil when it fails to run or exits
    /// with a status other than 0.
    static func shell(_ exe: String, _ args: [String]) -> Double? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        let s = Date()
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? Date().timeIntervalSince(s) : nil
    }

    static func cpuSeconds(_ who: __rusage_who) -> Double {
        var ru = rusage()
        getrusage(who.rawValue, &ru)
        return Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6 + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
    }

    static func f(_ d: Double) -> String { String(format: d < 10 ? "%.3f" : "%.1f", d) }
}
