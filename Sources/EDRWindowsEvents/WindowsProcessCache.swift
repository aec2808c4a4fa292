import EDRCore

/// What is known about one Windows process, from its Kernel-Process start event (or a
/// rundown) and, once it ended, its stop event.
public struct WindowsProcess: Sendable, Equatable {
    public var pid: UInt32
    /// FILETIME the process was created: with the pid, what names it (pids are reused).
    public var createTime: UInt64
    public var parentPid: UInt32
    /// The parent's create time when the parent was in the cache at start, so the parent
    /// found later is this one's, not a newer process that reused its pid.
    public var parentCreateTime: UInt64?
    public var image: String
    public var sessionID: UInt32
    public var integrityLevel: String?
    /// Not in the Kernel-Process manifest (docs/windows.md): set only when a source that has
    /// them (a future sensor field) provides them.
    public var commandLine: String?
    public var user: String?
    public var currentDirectory: String?
    /// FILETIME it ended, once its stop event came.
    public var exitTime: UInt64?

    public init(
        pid: UInt32, createTime: UInt64, parentPid: UInt32, parentCreateTime: UInt64? = nil, image: String,
        sessionID: UInt32 = 0, integrityLevel: String? = nil, commandLine: String? = nil, user: String? = nil,
        currentDirectory: String? = nil, exitTime: UInt64? = nil
    ) {
        self.pid = pid
        self.createTime = createTime
        self.parentPid = parentPid
        self.parentCreateTime = parentCreateTime
        self.image = image
        self.sessionID = sessionID
        self.integrityLevel = integrityLevel
        self.commandLine = commandLine
        self.user = user
        self.currentDirectory = currentDirectory
        self.exitTime = exitTime
    }
}

/// Processes keyed by (pid, creation time). Windows reuses pids quickly, so a pid alone
/// could attribute an event to the wrong program: lookups take the event's time and answer
/// the process with that pid that existed then.
public struct WindowsProcessCache: Sendable {
    struct Key: Hashable { var pid: UInt32; var createTime: UInt64 }

    private var entries: [Key: WindowsProcess] = [:]
    /// Create times per pid, oldest first.
    private var generations: [UInt32: [UInt64]] = [:]
    /// Ended processes kept this long (FILETIME units) for events that arrive after the stop.
    public var exitedRetention: UInt64 = 30 * 10_000_000
    public var maxEntries = 65536
    private var lastPrune: UInt64 = 0

    public init() {}

    public var count: Int { entries.count }

    public mutating func start(_ p: WindowsProcess) {
        var p = p
        if p.parentCreateTime == nil, let parent = lookup(pid: p.parentPid, at: p.createTime) {
            p.parentCreateTime = parent.createTime
        }
        let key = Key(pid: p.pid, createTime: p.createTime)
        if entries[key] == nil {
            var g = generations[p.pid, default: []]
            g.append(p.createTime)
            g.sort()
            generations[p.pid] = g
        }
        entries[key] = p
        if entries.count > maxEntries { prune(now: p.createTime, force: true) }
    }

    /// Records the stop; the entry stays for `exitedRetention` after it.
    public mutating func stop(pid: UInt32, createTime: UInt64, exitTime: UInt64) -> WindowsProcess? {
        let key = Key(pid: pid, createTime: createTime)
        guard var p = entries[key] else { return nil }
        p.exitTime = exitTime
        entries[key] = p
        prune(now: exitTime, force: false)
        return p
    }

    public func process(pid: UInt32, createTime: UInt64) -> WindowsProcess? {
        entries[Key(pid: pid, createTime: createTime)]
    }

    /// The process with this pid alive at `time` (FILETIME): the newest created at or before
    /// it that had not ended before it. An event older than every known generation of the
    /// pid gets nil, never a newer process's identity.
    public func lookup(pid: UInt32, at time: UInt64) -> WindowsProcess? {
        guard let g = generations[pid] else { return nil }
        for ct in g.reversed() where ct <= time {
            guard let p = entries[Key(pid: pid, createTime: ct)] else { continue }
            if let e = p.exitTime, e < time { return nil }
            return p
        }
        return nil
    }

    public func parent(of p: WindowsProcess) -> WindowsProcess? {
        if let ct = p.parentCreateTime { return process(pid: p.parentPid, createTime: ct) }
        return lookup(pid: p.parentPid, at: p.createTime)
    }

    /// Drops processes that ended more than `exitedRetention` before `now` (at most once per
    /// retention period, so a stop costs O(1) amortized); when `force` (the cache is full),
    /// also the oldest ended ones, then the oldest, down to three quarters of `maxEntries`.
    mutating func prune(now: UInt64, force: Bool) {
        guard force || now >= lastPrune &+ exitedRetention else { return }
        lastPrune = now
        var drop = Set<Key>()
        for (k, p) in entries {
            if let e = p.exitTime, now > e, now - e > exitedRetention { drop.insert(k) }
        }
        if force && entries.count - drop.count > maxEntries * 3 / 4 {
            let rest = entries.filter { !drop.contains($0.key) }
                .sorted { ($0.value.exitTime == nil ? 1 : 0, $0.key.createTime) < ($1.value.exitTime == nil ? 1 : 0, $1.key.createTime) }
            for kv in rest.prefix(entries.count - drop.count - maxEntries * 3 / 4) { drop.insert(kv.key) }
        }
        for k in drop {
            entries[k] = nil
            generations[k.pid]?.removeAll { $0 == k.createTime }
            if generations[k.pid]?.isEmpty == true { generations[k.pid] = nil }
        }
    }
}
