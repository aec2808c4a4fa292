import EDRCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file to scan: the executed file's descriptor, received from the sensor.
public struct ScanJob: Sendable {
    /// Open descriptor. With `closeWhenDone` the worker owns it and closes it after the scan.
    public var fd: Int32
    /// The path the sensor saw (allowlist and yara externals only; never opened).
    public var path: String
    /// Caller's correlation token (event id, pid...), handed back in the result.
    public var token: UInt64
    public var closeWhenDone: Bool
    /// With `fd` -1: the file's identity, answered from the cache only (the sensor sent no
    /// descriptor because it passed one for the same file moments ago).
    public var identity: FileIdentity?

    public init(fd: Int32, path: String, token: UInt64 = 0, closeWhenDone: Bool = true) {
        self.fd = fd
        self.path = path
        self.token = token
        self.closeWhenDone = closeWhenDone
    }

    /// A file known by identity only: answered from the cache.
    public init(identity: FileIdentity, path: String, token: UInt64 = 0) {
        self.fd = -1
        self.path = path
        self.token = token
        self.closeWhenDone = false
        self.identity = identity
    }
}

/// What the worker cached per file: hashes and yara matches.
public struct FileVerdict: Sendable {
    public var hashes: FileHashes?
    public var matches: [YaraMatch]
    public var status: YaraScanStatus
}

public struct ScanJobResult: Sendable {
    public enum Outcome: Sendable, Hashable {
        case scanned
        /// Verdict reused from the cache (same identity).
        case cached
        /// Path under an allowlisted prefix: nothing done.
        case allowlisted
        /// fstat failed (errno).
        case failed(Int32)
        /// Known by identity only, and not in the cache (evicted, or dropped by a rule reload):
        /// not scanned this time.
        case uncached
    }
    public var job: ScanJob
    public var outcome: Outcome
    public var identity: FileIdentity?
    /// nil for allowlisted/failed jobs.
    public var verdict: FileVerdict?
    /// Wall time spent on this job, seconds.
    public var seconds: Double

    public init(job: ScanJob, outcome: Outcome, identity: FileIdentity?, verdict: FileVerdict?, seconds: Double) {
        self.job = job
        self.outcome = outcome
        self.identity = identity
        self.verdict = verdict
        self.seconds = seconds
    }
}

public struct ScanWorkerOptions: Sendable {
    public var scan = YaraScanOptions()
    /// Jobs waiting beyond this are refused (`submit` returns false, counted in `dropped`).
    public var queueCapacity = 256
    public var threads = 1
    public var computeHashes = true
    /// Digests computed when `computeHashes` (limit to the kinds the IOC set holds).
    public var hashKinds: HashKinds = .all
    public var cacheCapacity = 10_000
    public var cacheTTL: Double = 6 * 3600
    /// Paths equal to, or under, one of these prefixes are skipped ("/usr/bin" covers
    /// "/usr/bin/ls", not "/usr/binx"; a prefix ending in "/" matches as a plain prefix).
    public var allowlistPrefixes: [String] = []
    public init() {}
}

/// Runs hashing and yara scans on its own threads behind a bounded queue; results go to a
/// callback called on a worker thread.
public final class ScanWorker: @unchecked Sendable {
    public struct Stats: Sendable, Hashable {
        public var submitted: UInt64 = 0
        public var dropped: UInt64 = 0
        public var completed: UInt64 = 0
        public var scanned: UInt64 = 0
        public var cached: UInt64 = 0
        public var allowlisted: UInt64 = 0
        public var skippedTooLarge: UInt64 = 0
        public var timedOut: UInt64 = 0
        public var failed: UInt64 = 0
        public var uncached: UInt64 = 0
        public var matched: UInt64 = 0
        public var bytesScanned: UInt64 = 0
    }

    public let options: ScanWorkerOptions
    public let rules: YaraRules?
    public let cache: ScanCache<FileVerdict>
    private let handler: @Sendable (ScanJobResult) -> Void
    private let cond = NSCondition()
    private var queue: [ScanJob] = []
    private var queueHead = 0
    private var stopping = false
    private var running = 0
    private var busy = 0
    private var stats = Stats()
    private let exited = DispatchSemaphore(value: 0)
    private var threadCount = 0

    /// - Parameters:
    ///   - rules: nil to only hash.
    ///   - handler: called once per accepted job, on a worker thread.
    public init(
        rules: YaraRules?, options: ScanWorkerOptions = .init(),
        handler: @escaping @Sendable (ScanJobResult) -> Void
    ) throws {
        self.rules = rules
        self.options = options
        self.handler = handler
        self.cache = ScanCache(capacity: options.cacheCapacity, ttl: options.cacheTTL)
        // Create the scanners up front so a failure surfaces here.
        var scanners: [YaraScanner?] = []
        for _ in 0..<max(1, options.threads) {
            scanners.append(try rules.map { try YaraScanner(rules: $0, options: options.scan) })
        }
        threadCount = scanners.count
        for (n, scanner) in scanners.enumerated() {
            let box = ScannerBox(scanner)
            let t = Thread { [self] in self.run(box.scanner) }
            t.name = "edr-yara-\(n)"
            t.start()
        }
    }

    deinit { shutdown() }

    /// Queues a job; false (and the job's fd closed if owned) when the queue is full or stopped.
    @discardableResult
    public func submit(_ job: ScanJob) -> Bool {
        cond.lock()
        if stopping || queue.count - queueHead >= options.queueCapacity {
            stats.dropped += 1
            cond.unlock()
            if job.closeWhenDone && job.fd >= 0 { close(job.fd) }
            return false
        }
        stats.submitted += 1
        queue.append(job)
        cond.signal()
        cond.unlock()
        return true
    }

    public var statistics: Stats {
        cond.lock()
        defer { cond.unlock() }
        return stats
    }

    /// Blocks until the queue is empty and no job is in progress.
    public func waitUntilIdle() {
        cond.lock()
        while queue.count - queueHead > 0 || busy > 0 { cond.wait() }
        cond.unlock()
    }

    /// Stops the threads after the jobs already queued; idempotent.
    public func shutdown() {
        cond.lock()
        let wasStopping = stopping
        stopping = true
        cond.broadcast()
        cond.unlock()
        guard !wasStopping else { return }
        for _ in 0..<threadCount { exited.wait() }
    }

    public func isAllowlisted(_ path: String) -> Bool {
        for p in options.allowlistPrefixes where !p.isEmpty && path.hasPrefix(p) {
            if p.hasSuffix("/") || path.count == p.count { return true }
            let next = path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: p.utf8.count)]
            if next == UInt8(ascii: "/") { return true }
        }
        return false
    }

    private func run(_ scanner: YaraScanner?) {
        while true {
            cond.lock()
            while queue.count - queueHead == 0 && !stopping { cond.wait() }
            if queue.count - queueHead == 0 && stopping {
                cond.unlock()
                exited.signal()
                return
            }
            let job = queue[queueHead]
            queueHead += 1
            if queueHead > 1024 && queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            busy += 1
            cond.unlock()

            let result = process(job, scanner: scanner)
            if job.closeWhenDone && job.fd >= 0 { close(job.fd) }
            handler(result)

            cond.lock()
            busy -= 1
            stats.completed += 1
            switch result.outcome {
            case .scanned: stats.scanned += 1
            case .cached: stats.cached += 1
            case .allowlisted: stats.allowlisted += 1
            case .failed: stats.failed += 1
            case .uncached: stats.uncached += 1
            }
            if let v = result.verdict {
                if !v.matches.isEmpty { stats.matched += 1 }
                if result.outcome == .scanned {
                    switch v.status {
                    case .skippedTooLarge: stats.skippedTooLarge += 1
                    case .timedOut: stats.timedOut += 1
                    case .failed: stats.failed += 1
                    case .completed: stats.bytesScanned += UInt64(max(0, result.identity?.size ?? 0))
                    case .skippedNotRegular: break
                    }
                }
            }
            cond.broadcast()
            cond.unlock()
        }
    }

    private func process(_ job: ScanJob, scanner: YaraScanner?) -> ScanJobResult {
        let start = ScanCache<FileVerdict>.monotonicSeconds()
        func done(_ o: ScanJobResult.Outcome, _ id: FileIdentity?, _ v: FileVerdict?) -> ScanJobResult {
            ScanJobResult(
                job: job, outcome: o, identity: id, verdict: v,
                seconds: ScanCache<FileVerdict>.monotonicSeconds() - start)
        }
        if isAllowlisted(job.path) { return done(.allowlisted, nil, nil) }
        if job.fd < 0 {
            guard let id = job.identity, let v = cache.lookup(id) else { return done(.uncached, job.identity, nil) }
            return done(.cached, id, v)
        }
        guard let id = FileIdentity(fd: job.fd) else { return done(.failed(errno), nil, nil) }
        if let v = cache.lookup(id) { return done(.cached, id, v) }
        let verdict: FileVerdict
        if let scanner {
            let r = scanner.scan(fd: job.fd, path: job.path, computeHashes: options.computeHashes, hashKinds: options.hashKinds)
            verdict = FileVerdict(hashes: r.hashes, matches: r.matches, status: r.status)
        } else if options.computeHashes {
            let h = FileHashes.compute(fd: job.fd, maxSize: options.scan.maxFileSize, kinds: options.hashKinds)
            verdict = FileVerdict(
                hashes: h, matches: [],
                status: h == nil && id.size > options.scan.maxFileSize ? .skippedTooLarge : .completed)
        } else {
            verdict = FileVerdict(hashes: nil, matches: [], status: .completed)
        }
        // Only definitive verdicts are cached; a timeout or error is retried next time.
        switch verdict.status {
        case .completed, .skippedTooLarge, .skippedNotRegular: cache.insert(id, verdict)
        case .timedOut, .failed: break
        }
        return done(.scanned, id, verdict)
    }
}

/// Moves a scanner into its thread (used by that thread only).
private final class ScannerBox: @unchecked Sendable {
    let scanner: YaraScanner?
    init(_ s: YaraScanner?) { scanner = s }
}
