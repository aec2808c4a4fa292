import EDRCore
import EDRSystem

/// Turns kernel records and /proc snapshots into the Sysmon-style event model, keeping the
/// process cache current.
public struct Normalizer: Sendable {
    public var cache = ProcessCache()
    public var users = UserNames()
    public let guids: ProcessGuidFactory
    /// Wall clock minus boot clock, to stamp records with real time.
    private var bootToWallNanos: Int64

    public static let processCreation = LogSource(product: "linux", category: "process_creation")

    /// Environment variables exposed by default (`[telemetry] environment`).
    public static let defaultEnvironmentNames = ["LD_PRELOAD", "LD_LIBRARY_PATH"]
    /// The environment variables that become fields of process_creation; no other variable
    /// of envp (which may hold secrets) leaves the detector.
    public var environmentNames: [String] = Normalizer.defaultEnvironmentNames {
        didSet { environmentPrefixes = Self.prefixes(environmentNames) }
    }
    /// "NAME=" per name, as bytes, in `environmentNames` order.
    private var environmentPrefixes: [[UInt8]] = Normalizer.prefixes(Normalizer.defaultEnvironmentNames)
    static func prefixes(_ names: [String]) -> [[UInt8]] { names.map { Array($0.utf8) + [UInt8(ascii: "=")] } }

    public init(machineID: String) {
        guids = ProcessGuidFactory(machineID: machineID)
        bootToWallNanos = 0
        calibrateClock()
    }

    /// Monotonic time of the batch being processed, set once per batch by the detector loop
    /// (0: read the clock per record). Cache retention needs no finer time than that.
    public var batchNanos: UInt64 = 0

    func clockNow() -> UInt64 { batchNanos != 0 ? batchNanos : monotonicNanos() }

    public mutating func calibrateClock() {
        let wall = Int64(wallClockNow() * 1e9)
        bootToWallNanos = wall - Int64(bootClockNanos())
    }

    public func wallTime(bootNanos: UInt64) -> Double {
        Double(Int64(truncatingIfNeeded: bootNanos) &+ bootToWallNanos) / 1e9
    }

    /// A process start: updates the cache and returns the process_creation event.
    public mutating func exec(_ r: ExecRecord) -> (Event, ProcessEntry, ProcessEntry?) {
        let now = clockNow()
        let parent =
            cache.lookup(pid: r.ids.ppid, startTicks: r.ids.parentStartTicks)
            ?? cache.lookup(pid: r.ids.ppid)
        let user = users.name(r.ids.uid)
        // A GUID is a function of pid and start time: the forked process this exec replaces and
        // the parent already hold theirs, so neither is formatted again.
        let guid = cache.lookup(pid: r.ids.pid, startTicks: r.ids.startTicks)?.guid ?? guids.guid(pid: r.ids.pid, startTicks: r.ids.startTicks)
        let parentGuid =
            parent.flatMap { $0.startTicks == r.ids.parentStartTicks ? $0.guid : nil }
            ?? guids.guid(pid: r.ids.ppid, startTicks: r.ids.parentStartTicks)
        let entry = ProcessEntry(
            pid: r.ids.pid, ppid: r.ids.ppid, startTicks: r.ids.startTicks, image: r.path, argv: .nulSeparated(r.argBytes),
            commandLine: r.commandLine, cwd: r.cwd, uid: r.ids.uid, user: user, loginuid: r.ids.loginuid,
            guid: guid, parentGuid: parentGuid, cgroupID: r.cgroupID, exitedAtNanos: nil)
        cache.upsert(entry, now: now)
        var event = Self.processCreationEvent(entry, parent: parent, timestamp: wallTime(bootNanos: r.bootNanos), logonID: r.ids.loginuid)
        if let script = r.scriptPath { event["ScriptPath"] = .string(script) }
        if !r.environment.isEmpty && !environmentPrefixes.isEmpty {
            let selected = Self.selectEnvironment(r.environment, prefixes: environmentPrefixes)
            if !selected.isEmpty {
                event["Environment"] = .array(selected.map { .string($0.entry) })
                // One field per variable; a variable given twice (ld.so takes the last
                // LD_PRELOAD, getenv the first) keeps every value.
                for (i, name) in environmentNames.enumerated() {
                    let values = selected.filter { $0.name == i }.map { FieldValue.string(String($0.entry.dropFirst(name.utf8.count + 1))) }
                    if values.count == 1 { event["Env." + name] = values[0] } else if values.count > 1 { event["Env." + name] = .array(values) }
                }
            }
        }
        if r.flags & Self.truncationFlags != 0 { event["Truncated"] = Self.truncated(r.flags) }
        return (event, entry, parent)
    }

    /// The entries of a NUL-separated envp whose name is one of `prefixes` ("NAME="), in envp
    /// order, with the index of the name. Entries without "=" or with other names are skipped;
    /// the last entry may lack its NUL (cut by the kernel's cap).
    static func selectEnvironment(_ bytes: [UInt8], prefixes: [[UInt8]]) -> [(name: Int, entry: String)] {
        var out: [(name: Int, entry: String)] = []
        bytes.withUnsafeBufferPointer { b in
            var s = 0
            while s < b.count {
                var e = s
                while e < b.count && b[e] != 0 { e += 1 }
                let n = e - s
                for (i, p) in prefixes.enumerated() where p.count <= n && b[s] == p[0] {
                    var k = 1
                    while k < p.count && b[s + k] == p[k] { k += 1 }
                    if k == p.count {
                        out.append((i, String(decoding: UnsafeBufferPointer(rebasing: b[s..<e]), as: UTF8.self)))
                        break
                    }
                }
                s = e + 1
            }
        }
        return out
    }

    static let truncationFlags =
        ExecRecord.argsTruncated | ExecRecord.pathTruncated | ExecRecord.cwdTruncated | ExecRecord.argsFault
        | ExecRecord.scriptTruncated | ExecRecord.environmentTruncated | ExecRecord.environmentFault

    /// Which fields the kernel cut (argv or envp past 8 KiB, paths past 4 KiB or 64 components) or
    /// could not read: rules and analysts see that a value is incomplete, not just a shorter value.
    static func truncated(_ flags: UInt32) -> FieldValue {
        var fields: [FieldValue] = []
        if flags & (ExecRecord.argsTruncated | ExecRecord.argsFault) != 0 { fields.append(.string("CommandLine")) }
        if flags & ExecRecord.pathTruncated != 0 { fields.append(.string("Image")) }
        if flags & ExecRecord.cwdTruncated != 0 { fields.append(.string("CurrentDirectory")) }
        if flags & ExecRecord.scriptTruncated != 0 { fields.append(.string("ScriptPath")) }
        if flags & (ExecRecord.environmentTruncated | ExecRecord.environmentFault) != 0 { fields.append(.string("Environment")) }
        return .array(fields)
    }

    static let creationNames = [
        "UtcTime", "ProcessGuid", "ProcessId", "Image", "CommandLine", "CurrentDirectory",
        "User", "LogonId", "ParentProcessId"
    ]
    static let creationNamesWithParentGuid = creationNames + ["ParentProcessGuid"]
    static let creationNamesWithParent = creationNamesWithParentGuid + ["ParentImage", "ParentCommandLine", "ParentUser"]

    public static func processCreationEvent(_ p: ProcessEntry, parent: ProcessEntry?, timestamp: Double, logonID: UInt32) -> Event {
        // The names are shared constant arrays; only the values are built per event.
        var values: [FieldValue] = []
        values.reserveCapacity(creationNamesWithParent.count + 1)
        values.append(.string(formatTimestamp(epochSeconds: timestamp)))
        values.append(.string(p.guid))
        values.append(.int(Int64(p.pid)))
        values.append(.string(p.image))
        values.append(.string(p.commandLine))
        values.append(.string(p.cwd))
        values.append(.string(p.user))
        values.append(.int(logonID == UInt32.max ? -1 : Int64(logonID)))
        values.append(.int(Int64(p.ppid)))
        guard let g = p.parentGuid else {
            var e = Event(logsource: processCreation, timestamp: timestamp, names: creationNames, values: values)
            if let parent {
                e["ParentImage"] = .string(parent.image)
                e["ParentCommandLine"] = .string(parent.commandLine)
                e["ParentUser"] = .string(parent.user)
            }
            return e
        }
        values.append(.string(g))
        guard let parent else {
            return Event(logsource: processCreation, timestamp: timestamp, names: creationNamesWithParentGuid, values: values)
        }
        values.append(.string(parent.image))
        values.append(.string(parent.commandLine))
        values.append(.string(parent.user))
        return Event(logsource: processCreation, timestamp: timestamp, names: creationNamesWithParent, values: values)
    }

    public mutating func exit(_ r: ExitRecord) {
        cache.markExited(pid: r.ids.pid, startTicks: r.ids.startTicks, now: clockNow())
    }

    /// A fork without exec: the child runs the parent's image until it execs.
    public mutating func fork(_ r: ForkRecord) {
        let guid = guids.guid(pid: r.ids.pid, startTicks: r.ids.startTicks)
        let user = users.name(r.ids.uid)
        let entry: ProcessEntry
        if let parent = cache.lookup(pid: r.ids.ppid) {
            entry = parent.forked(
                pid: r.ids.pid, ppid: r.ids.ppid, startTicks: r.ids.startTicks, uid: r.ids.uid,
                user: user, loginuid: r.ids.loginuid, guid: guid)
        } else {
            entry = ProcessEntry(
                pid: r.ids.pid, ppid: r.ids.ppid, startTicks: r.ids.startTicks, image: "", args: [], commandLine: "", cwd: "",
                uid: r.ids.uid, user: user, loginuid: r.ids.loginuid, guid: guid, parentGuid: nil, cgroupID: 0, exitedAtNanos: nil)
        }
        cache.upsert(entry, now: clockNow())
    }

    /// One process from the sensor's /proc snapshot (raw bytes, parsed here).
    public mutating func snapshot(_ payload: [UInt8]) throws(RecordError) {
        guard payload.count >= 4 else { throw RecordError(message: "snapshot shorter than a pid") }
        let pid = Int32(bitPattern: payload.readLE(UInt32.self, at: 0))
        var off = 4
        var sections: [UInt8: ArraySlice<UInt8>] = [:]
        while off < payload.count {
            guard off + 5 <= payload.count else { throw RecordError(message: "snapshot section header truncated") }
            let tag = payload[off]
            let len = Int(payload.readLE(UInt32.self, at: off + 1))
            off += 5
            guard off + len <= payload.count else { throw RecordError(message: "snapshot section \(tag) overruns the frame") }
            sections[tag] = payload[off..<(off + len)]
            off += len
        }
        guard let stat = sections[1].map({ String(decoding: $0, as: UTF8.self) }),
            let start = parseStatStartTicks(stat), let ppid = parseStatPPid(stat)
        else { throw RecordError(message: "snapshot of pid \(pid) has no parsable stat") }
        var uid: UInt32 = 0
        if let status = sections[2] { uid = ProcStatus(text: String(decoding: status, as: UTF8.self)).uids.first ?? 0 }
        let args = sections[3].map { KernelRecordDecoder.splitArgs($0) }.map { $0.last == "" ? Array($0.dropLast()) : $0 } ?? []
        let image = sections[4].map { String(decoding: $0, as: UTF8.self) } ?? ""
        let cwd = sections[5].map { String(decoding: $0, as: UTF8.self) } ?? ""
        let parentStart = cache.lookup(pid: ppid)?.startTicks
        let entry = ProcessEntry(
            pid: pid, ppid: ppid, startTicks: start, image: image, args: args, commandLine: args.joined(separator: " "),
            cwd: cwd, uid: uid, user: users.name(uid), loginuid: UInt32.max, guid: guids.guid(pid: pid, startTicks: start),
            parentGuid: parentStart.map { guids.guid(pid: ppid, startTicks: $0) }, cgroupID: 0, exitedAtNanos: nil)
        cache.upsert(entry, now: monotonicNanos())
    }
}
