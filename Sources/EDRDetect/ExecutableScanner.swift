import EDRCore
import EDRIOC
import EDRSigma
import EDRYara
import Foundation

/// Scans and hashes the executable of each new process in the background: YARA rules, then
/// the file hashes against the IOC set. The file arrives as a descriptor the sensor opened on
/// the exact inode that ran; the detector never opens it by path.
public final class ExecutableScanner: @unchecked Sendable {
    public struct Options: Sendable {
        public var maxFileBytes: Int64
        public var timeoutSeconds: Int
        public var cacheEntries: Int
        public var cacheTTLSeconds: Double
        public var allowlist: [String]
        public init(maxFileBytes: Int64, timeoutSeconds: Int, cacheEntries: Int, cacheTTLSeconds: Double, allowlist: [String]) {
            self.maxFileBytes = maxFileBytes
            self.timeoutSeconds = timeoutSeconds
            self.cacheEntries = cacheEntries
            self.cacheTTLSeconds = cacheTTLSeconds
            self.allowlist = allowlist
        }
    }

    /// What to say about the process when its verdict comes back.
    struct Context {
        var event: Event
        var process: ProcessEntry
        var sequence: UInt64
        /// The file scanned: the executable, or the script it interprets.
        var path: String
        /// Whether the sensor passed a descriptor for this exec (false: known by identity).
        var descriptor = true
    }

    public typealias Emit = @Sendable (_ line: [UInt8], _ readable: String, _ level: SigmaLevel, _ process: ProcessEntry) -> Void

    private let store: DetectorStore
    private let options: Options
    private let context: AlertContext
    private let emit: Emit
    private let lock = NSLock()
    private var worker: ScanWorker?
    private var pending: [UInt64: Context] = [:]
    private var nextToken: UInt64 = 1
    private var oldestToken: UInt64 = 1

    public init(store: DetectorStore, options: Options, context: AlertContext, emit: @escaping Emit) throws {
        self.store = store
        self.options = options
        self.context = context
        self.emit = emit
        try rebuildWorker(store.current.yara)
    }

    /// A new worker for new rules; the old one finishes its queue and stops.
    public func rebuildWorker(_ rules: YaraRules?) throws {
        var o = ScanWorkerOptions()
        o.scan.maxFileSize = options.maxFileBytes
        o.scan.timeoutSeconds = options.timeoutSeconds
        o.cacheCapacity = options.cacheEntries
        o.cacheTTL = options.cacheTTLSeconds
        o.allowlistPrefixes = options.allowlist
        o.computeHashes = true
        let w = try ScanWorker(rules: rules, options: o) { [weak self] result in self?.finished(result) }
        lock.lock()
        let old = worker
        worker = w
        lock.unlock()
        old?.shutdown()
    }

    public var statistics: ScanWorker.Stats? {
        lock.lock(); defer { lock.unlock() }
        return worker?.statistics
    }

    /// Takes ownership of `fd`: the executable, or with `script` the script file the
    /// executable (its interpreter) runs, scanned and hashed the same way.
    public func submit(fd: Int32, event: Event, process: ProcessEntry, sequence: UInt64, script: String? = nil) {
        let path = script ?? process.image
        lock.lock()
        let token = nextToken
        nextToken += 1
        pending[token] = Context(event: event, process: process, sequence: sequence, path: path)
        // Tokens only grow: the oldest pending one is the first still present from `oldestToken`.
        while pending.count > 4096 {
            pending[oldestToken] = nil
            oldestToken += 1
        }
        let w = worker
        lock.unlock()
        guard let w, w.submit(ScanJob(fd: fd, path: path, token: token)) else {
            lock.lock(); pending[token] = nil; lock.unlock()
            return
        }
    }

    /// Execs the sensor sent no descriptor for whose verdict was no longer cached (evicted,
    /// or dropped with the old rules by a YARA reload): not scanned.
    public private(set) var uncachedIdentities: UInt64 = 0

    /// An executed file the sensor sent no descriptor for (it passed one for the same
    /// identity moments ago): answered from the verdict cache on the caller's thread (the
    /// cache is locked; waking the worker per exec would cost more than the lookup).
    public func submit(identity: FileIdentity, event: Event, process: ProcessEntry, sequence: UInt64, script: String? = nil) {
        let path = script ?? process.image
        lock.lock()
        let w = worker
        lock.unlock()
        guard let w else { return }
        let job = ScanJob(identity: identity, path: path)
        if w.isAllowlisted(path) { return }
        guard let v = w.cache.lookup(identity) else {
            // Not cached yet is most often "its first scan is still queued or running" (the
            // same file exec'd again within moments): the worker takes jobs in order, so the
            // question waits behind that scan and is answered from the cache it fills.
            lock.lock()
            let token = nextToken
            nextToken += 1
            pending[token] = Context(event: event, process: process, sequence: sequence, path: path, descriptor: false)
            lock.unlock()
            if !w.submit(ScanJob(identity: identity, path: path, token: token)) {
                lock.lock(); pending[token] = nil; uncachedIdentities += 1; lock.unlock()
            }
            return
        }
        report(
            ScanJobResult(job: job, outcome: .cached, identity: identity, verdict: v, seconds: 0),
            Context(event: event, process: process, sequence: sequence, path: path, descriptor: false))
    }

    private func finished(_ result: ScanJobResult) {
        lock.lock()
        let ctx = pending.removeValue(forKey: result.job.token)
        if result.outcome == .uncached {
            uncachedIdentities += 1
            Log.debug("no cached verdict for \(result.job.path); not scanned this time")
        }
        lock.unlock()
        guard let ctx else { return }
        report(result, ctx)
    }

    private func report(_ result: ScanJobResult, _ ctx: Context) {
        guard let verdict = result.verdict else { return }
        let sha256 = verdict.hashes?.sha256
        let iocMatches = store.current.ioc.flatMap { ioc in verdict.hashes.map { ioc.match(md5: $0.md5, sha1: $0.sha1, sha256: sha256) } } ?? []
        // Most executions match nothing: build the alert fields only when something did.
        if verdict.matches.isEmpty && iocMatches.isEmpty { return }
        var event = ctx.event
        if let h = verdict.hashes {
            event["Hashes"] = .string(
                [
                    h.md5.map { "MD5=\($0.uppercased())" }, h.sha1.map { "SHA1=\($0.uppercased())" },
                    h.sha256.map { "SHA256=\($0.uppercased())" }
                ].compactMap { $0 }.joined(separator: ","))
        }
        for m in verdict.matches {
            let (line, readable, level) = YaraAlerts.encode(
                m, event: event, process: ctx.process, sequence: ctx.sequence,
                context: context, path: ctx.path, hashes: verdict.hashes,
                scan: (result.outcome, ctx.descriptor))
            emit(line, readable, level, ctx.process)
        }
        if let h = verdict.hashes {
            for m in iocMatches {
                let (line, readable) = IOCAlerts.encode(
                    m, event: event, process: ctx.process, sequence: ctx.sequence, context: context,
                    extra: { w in Self.writeFile(&w, path: ctx.path, hashes: h) },
                    edrExtra: { w in Self.writeScan(&w, (result.outcome, ctx.descriptor)) })
                emit(line, readable, IOCAlerts.level, ctx.process)
            }
        }
    }

    /// ECS file.* for the scanned file: path, name, directory, extension, hashes.
    static func writeFile(_ w: inout JSONWriter, path: String, hashes: FileHashes?) {
        w.key("file"); w.beginObject()
        w.field("path", path)
        let name = AlertEncoder.baseName(path, windows: false)
        w.key("name"); w.string(String(name))
        if let dir = AlertEncoder.directory(path, windows: false) { w.key("directory"); w.string(String(dir)) }
        if let h = hashes {
            w.key("hash"); w.beginObject()
            w.field("md5", h.md5)
            w.field("sha1", h.sha1)
            w.field("sha256", h.sha256)
            w.endObject()
        }
        w.endObject()
    }

    /// edr.file.scan (not ECS): how the verdict was reached — the file read now ("scanned")
    /// or the cached verdict of the same inode ("cached") — and whether the sensor passed a
    /// descriptor for this exec (false: the kernel's identity alone, passed moments ago).
    static func writeScan(_ w: inout JSONWriter, _ scan: (outcome: ScanJobResult.Outcome, descriptor: Bool)) {
        w.key("file"); w.beginObject()
        w.key("scan"); w.beginObject()
        w.field("verdict", scan.outcome == .cached ? "cached" : "scanned")
        w.field("descriptor", scan.descriptor)
        w.endObject()
        w.endObject()
    }

    static func level(_ s: YaraSeverity?) -> SigmaLevel {
        switch s?.level {
        case .informational: .informational
        case .low: .low
        case .medium: .medium
        case .critical: .critical
        case .high, .none: .high
        }
    }
}

/// ECS alerts for YARA matches on an executed file.
public enum YaraAlerts {
    public static func encode(
        _ m: YaraMatch, event: Event, process: ProcessEntry, sequence: UInt64?, context: AlertContext,
        path: String, hashes: FileHashes?,
        scan: (outcome: ScanJobResult.Outcome, descriptor: Bool)
    ) -> ([UInt8], String, SigmaLevel) {
        let level = ExecutableScanner.level(m.severity)
        var rule = AlertEncoder.RuleFields(
            ruleset: "yara", id: "\(m.namespace):\(m.rule)", name: m.rule,
            description: m[meta: "description"]?.description, level: level)
        rule.tags = m.tags
        rule.author = m[meta: "author"]?.description
        rule.references = m.meta.filter { $0.key == "reference" || $0.key == "references" }.map { $0.value.description }
        rule.category = "executable"
        let line = AlertEncoder.encode(
            event: event, rule: rule, sequence: sequence, context: context, process: process,
            extra: { w in ExecutableScanner.writeFile(&w, path: path, hashes: hashes) },
            edrExtra: { w in
                w.key("yara"); w.beginObject()
                w.field("namespace", m.namespace)
                w.field("rule", m.rule)
                w.field("tags", m.tags)
                w.key("meta"); w.beginObject()
                for meta in m.meta { w.field(dynamic: meta.key, meta.value.description) }
                w.endObject()
                w.endObject()
                ExecutableScanner.writeScan(&w, scan)
            })
        let what = path == process.image ? path : "\(path) (run by \(process.image))"
        return (line, AlertEncoder.readable(event: event, title: "YARA \(m.rule) in \(what)", level: level), level)
    }
}

/// ECS alerts for indicator matches: threat.indicator.* in ECS terms (type, name, the typed
/// field: ip, url.domain, file.hash.*, file.path), what matched where under edr.ioc.
public enum IOCAlerts {
    public static let level = SigmaLevel.high

    public static func encode(
        _ m: IOCMatch, event: Event, process: ProcessEntry?, sequence: UInt64?, context: AlertContext,
        extra: ((inout JSONWriter) -> Void)? = nil,
        edrExtra: ((inout JSONWriter) -> Void)? = nil
    ) -> ([UInt8], String) {
        var rule = AlertEncoder.RuleFields(
            ruleset: "ioc", id: "ioc:\(m.type.rawValue):\(m.indicator)",
            name: "Known-bad \(m.type.rawValue) \(m.indicator)", description: m.label, level: level)
        rule.category = event.logsource.category
        let line = AlertEncoder.encode(
            event: event, rule: rule, sequence: sequence, context: context, process: process,
            extra: { w in
                w.key("threat"); w.beginObject()
                w.key("indicator"); w.beginObject()
                w.field("type", m.ecsIndicatorType)
                w.field("name", m.indicator)
                w.field("description", m.label)
                switch m.type {
                case .ip: w.field("ip", m.observed)
                case .domain: w.key("url"); w.beginObject(); w.field("domain", m.observed); w.endObject()
                case .hash:
                    let algorithm = m.observed.utf8.count == 32 ? "md5" : m.observed.utf8.count == 40 ? "sha1" : "sha256"
                    w.key("file"); w.beginObject(); w.key("hash"); w.beginObject(); w.field(dynamic: algorithm, m.observed); w.endObject(); w.endObject()
                case .path: w.key("file"); w.beginObject(); w.field("path", m.observed); w.endObject()
                }
                w.endObject()
                w.endObject()
                extra?(&w)
            },
            edrExtra: { w in
                w.key("ioc"); w.beginObject()
                w.field("value", m.indicator)
                w.field("matched_field", m.field)
                w.field("observed", m.observed)
                w.endObject()
                edrExtra?(&w)
            })
        return (line, AlertEncoder.readable(event: event, title: "IOC \(m.type.rawValue) \(m.indicator) in \(m.field)", level: level))
    }
}
