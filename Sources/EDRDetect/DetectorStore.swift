import EDRCore
import EDRIOC
import EDRSigma
import EDRYara
import Foundation

/// What the detectors are built from.
public struct DetectorSources: Sendable {
    public var sigma: [String]
    public var yara: [String]
    public var ioc: [String]
    public var sigmaOptions: SigmaOptions

    public init(sigma: [String], yara: [String], ioc: [String], sigmaOptions: SigmaOptions) {
        self.sigma = sigma
        self.yara = yara
        self.ioc = ioc
        self.sigmaOptions = sigmaOptions
    }
}

/// The live Sigma, YARA and IOC sets behind one lock. Each is rebuilt off the hot path and
/// swapped whole; a rebuild that fails (a rule rejected, a YARA file that does not compile, an
/// IOC line that does not parse) is logged with file, line and reason, and the live set stays.
public final class DetectorStore: @unchecked Sendable {
    public enum Kind: String, Sendable, CaseIterable { case sigma, yara, ioc }

    public struct Snapshot: Sendable {
        public var sigma: SigmaEngine
        public var yara: YaraRules?
        public var ioc: IOCSet?
        public var generation: [Kind: Int]
    }

    private let lock = NSLock()
    private var live: Snapshot
    public let sources: DetectorSources
    private var fingerprints: [Kind: [String: String]] = [:]
    /// Called after a swap (for example to restart the YARA worker with new rules).
    public var onSwap: (@Sendable (Kind, Snapshot) -> Void)?

    public var current: Snapshot {
        lock.lock(); defer { lock.unlock() }
        return live
    }

    /// Loads every detector. A detector that fails at start-up is an error (there is no
    /// previous set to keep), except that rejected Sigma rules are only reported.
    public init(sources: DetectorSources) throws {
        self.sources = sources
        let sigma = try SigmaEngine.load(paths: sources.sigma, options: sources.sigmaOptions)
        var yara: YaraRules?
        if !sources.yara.isEmpty {
            let r = YaraRules.compile(directories: sources.yara)
            for d in r.errors { Log.error("yara: \(d)") }
            guard let rules = r.rules else { throw EDRError("no YARA rule compiled from \(sources.yara.joined(separator: ", "))") }
            yara = rules
        }
        var ioc: IOCSet?
        if !sources.ioc.isEmpty {
            ioc = try Self.loadIOC(sources.ioc, strict: false)
        }
        live = Snapshot(sigma: sigma, yara: yara, ioc: ioc, generation: [.sigma: 1, .yara: 1, .ioc: 1])
        for k in Kind.allCases { fingerprints[k] = Self.fingerprint(paths(k)) }
    }

    func paths(_ kind: Kind) -> [String] {
        switch kind {
        case .sigma: sources.sigma
        case .yara: sources.yara
        case .ioc: sources.ioc
        }
    }

    /// Rebuilds the detectors whose files changed since the last build (all of them when
    /// `force`). Returns what was swapped in.
    @discardableResult
    public func reloadChanged(force: Bool = false) -> [Kind] {
        var swapped: [Kind] = []
        for kind in Kind.allCases where !paths(kind).isEmpty {
            let fp = Self.fingerprint(paths(kind))
            guard force || fp != fingerprints[kind] else { continue }
            fingerprints[kind] = fp
            let ok = rebuild(kind)
            if ok { swapped.append(kind) }
            let line = "\(kind.rawValue) \(ok ? "ok" : "failed, previous set kept") at \(formatTimestamp(epochSeconds: wallClockNow()))"
            lock.lock()
            reloadResult = line
            lock.unlock()
        }
        return swapped
    }

    private var reloadResult = "none"

    /// The last reload's outcome ("sigma ok at …", "yara failed, previous set kept at …").
    public var lastReload: String {
        lock.lock()
        defer { lock.unlock() }
        return reloadResult
    }

    private func rebuild(_ kind: Kind) -> Bool {
        let started = monotonicNanos()
        var next = current
        switch kind {
        case .sigma:
            do {
                let engine = try SigmaEngine.load(paths: sources.sigma, options: sources.sigmaOptions)
                let rejected = engine.diagnostics.compactMap { d -> String? in
                    if case .rejected(let why) = d.status { return "\(d.path) \(d.ruleID ?? "-"): \(why)" }
                    return nil
                }
                let before = Set(
                    current.sigma.diagnostics.compactMap { d -> String? in
                        if case .rejected = d.status { return d.path + (d.ruleID ?? "") }
                        return nil
                    })
                let newRejections = engine.diagnostics.filter { d in
                    if case .rejected = d.status { return !before.contains(d.path + (d.ruleID ?? "")) }
                    return false
                }
                if !newRejections.isEmpty {
                    for r in rejected { Log.error("sigma reload: rule rejected: \(r)") }
                    Log.error("sigma reload failed: \(newRejections.count) newly rejected rule(s); the previous \(current.sigma.loadedCount) rules stay live")
                    return false
                }
                next.sigma = engine
            } catch {
                Log.error("sigma reload failed: \(error); the previous rules stay live")
                return false
            }
        case .yara:
            let r = YaraRules.compile(directories: sources.yara)
            if !r.failedFiles.isEmpty || r.rules == nil {
                for d in r.errors { Log.error("yara reload: \(d)") }
                Log.error("yara reload failed (\(r.failedFiles.count) file(s) do not compile); the previous rules stay live")
                return false
            }
            next.yara = r.rules
        case .ioc:
            do {
                next.ioc = try Self.loadIOC(sources.ioc, strict: true)
            } catch {
                Log.error("ioc reload failed: \(error); the previous indicators stay live")
                return false
            }
        }
        next.generation[kind, default: 0] += 1
        lock.lock()
        live = next
        lock.unlock()
        Log.info("\(kind.rawValue) reloaded in \((monotonicNanos() - started) / 1_000_000) ms (generation \(next.generation[kind]!))")
        onSwap?(kind, next)
        return true
    }

    /// IOC directories merged into one set (files read in parallel). Strict: any bad line
    /// fails the load, so a reload keeps the live set.
    static func loadIOC(_ dirs: [String], strict: Bool) throws -> IOCSet {
        let result = IOCSet.load(directories: dirs)
        let problems = result.diagnostics.map(\.description)
        for p in problems { Log.warning("ioc: \(p)") }
        if strict && !problems.isEmpty { throw EDRError("\(problems.count) malformed indicator line(s), first: \(problems[0])") }
        Log.info("ioc: \(result.set.counts) from \(result.files.count) file(s) in \(dirs.joined(separator: ", "))")
        return result.set
    }

    /// path → size and modification time of every file under the paths.
    static func fingerprint(_ paths: [String]) -> [String: String] {
        var out: [String: String] = [:]
        let fm = FileManager.default
        for root in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: root, isDirectory: &isDir) else { out[root] = "missing"; continue }
            let files = isDir.boolValue ? (fm.enumerator(atPath: root)?.compactMap { $0 as? String }.map { root + "/" + $0 } ?? []) : [root]
            for f in files {
                var st = stat()
                if stat(f, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG {
                    out[f] = "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ino)"
                }
            }
        }
        return out
    }
}

/// Watches rule directories with inotify (polling every 2 s where inotify is unavailable),
/// debounces bursts of changes, then asks the store to rebuild what changed. SIGHUP forces a
/// rebuild of everything.
public final class RuleWatcher: @unchecked Sendable {
    private let store: DetectorStore
    private let debounceNanos: UInt64
    nonisolated(unsafe) static var hangup: sig_atomic_t = 0

    public init(store: DetectorStore, debounceMs: Int = 300) {
        self.store = store
        self.debounceNanos = UInt64(debounceMs) * 1_000_000
    }

    public func start() {
        signal(SIGHUP) { _ in RuleWatcher.hangup = 1 }
        let t = Thread { [self] in self.loop() }
        t.name = "edr-rule-watcher"
        t.start()
    }

    private func loop() {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        var watched = Set<String>()
        func watchAll() {
            guard fd >= 0 else { return }
            for kind in DetectorStore.Kind.allCases {
                for root in store.paths(kind) {
                    var dirs = [root]
                    if let e = FileManager.default.enumerator(atPath: root) {
                        for case let sub as String in e {
                            var isDir: ObjCBool = false
                            if FileManager.default.fileExists(atPath: root + "/" + sub, isDirectory: &isDir), isDir.boolValue {
                                dirs.append(root + "/" + sub)
                            }
                        }
                    }
                    for d in dirs where !watched.contains(d) {
                        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB)
                        if inotify_add_watch(fd, d, mask) >= 0 { watched.insert(d) }
                    }
                }
            }
        }
        watchAll()
        if fd < 0 || watched.isEmpty { Log.warning("rule watcher: inotify unavailable; polling rule files every 2 s") }
        var buffer = [UInt8](repeating: 0, count: 8192)
        var dirtySince: UInt64?
        var lastPoll = monotonicNanos()
        // With inotify the file scan is only a safety net; without it, it is the watcher.
        let scanInterval: UInt64 = fd >= 0 && !watched.isEmpty ? 10_000_000_000 : 2_000_000_000
        while true {
            // Wake for inotify, at the end of a debounce, or once a second (SIGHUP is noticed
            // then: the handler only sets a flag). An idle detector wakes once a second here.
            var timeout: Int32 = 1000
            if let since = dirtySince {
                let left = since + debounceNanos > monotonicNanos() ? since + debounceNanos - monotonicNanos() : 0
                timeout = Int32(min(1000, left / 1_000_000 + 1))
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, fd >= 0 ? 1 : 0, timeout)
            if fd >= 0 && p.revents & Int16(POLLIN) != 0 {
                while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
                dirtySince = dirtySince ?? monotonicNanos()
            }
            let now = monotonicNanos()
            if RuleWatcher.hangup != 0 {
                RuleWatcher.hangup = 0
                Log.info("SIGHUP: reloading every detector")
                store.reloadChanged(force: true)
                watchAll()
                continue
            }
            if let since = dirtySince, now - since >= debounceNanos {
                dirtySince = nil
                store.reloadChanged()
                watchAll()
            } else if now - lastPoll >= scanInterval {
                // Fallback and safety net: a change inotify did not report is still found.
                lastPoll = now
                store.reloadChanged()
            }
        }
    }
}
