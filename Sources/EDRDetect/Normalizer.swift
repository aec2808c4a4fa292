import EDRCore

/// Turns kernel records and /proc snapshots into the Sysmon-style event model, keeping the
/// process cache current.
public struct Normalizer: Sendable {
    public var cache = ProcessCache()
    public var users = UserNames()
    public let guids: ProcessGuidFactory
    /// Wall clock minus boot clock, to stamp records with real time.
    private var bootToWallNanos: Int64

    public static let processCreation = LogSource(product: "linux", category: "process_creation")

    public init(machineID: String) {
        guids = ProcessGuidFactory(machineID: machineID)
        bootToWallNanos = 0
        calibrateClock()
    }

    public mutating func calibrateClock() {
        let wall = Int64(wallClockNow() * 1e9)
        bootToWallNanos = wall - Int64(bootClockNanos())
    }

    public func wallTime(bootNanos: UInt64) -> Double {
        Double(Int64(bootNanos) + bootToWallNanos) / 1e9
    }

    /// A process start: updates the cache and returns the process_creation event.
    public mutating func exec(_ r: ExecRecord) -> (Event, ProcessEntry, ProcessEntry?) {
        let now = monotonicNanos()
        let parent = cache.lookup(pid: r.ids.ppid, startTicks: r.ids.parentStartTicks)
            ?? cache.lookup(pid: r.ids.ppid)
        let user = users.name(r.ids.uid)
        let commandLine = r.commandLine.isEmpty && !r.args.isEmpty ? r.args.joined(separator: " ") : r.commandLine
        let entry = ProcessEntry(
            pid: r.ids.pid, ppid: r.ids.ppid, startTicks: r.ids.startTicks, image: r.path, args: r.args,
            commandLine: commandLine, cwd: r.cwd, uid: r.ids.uid, user: user, loginuid: r.ids.loginuid,
            guid: guids.guid(pid: r.ids.pid, startTicks: r.ids.startTicks),
            parentGuid: guids.guid(pid: r.ids.ppid, startTicks: r.ids.parentStartTicks),
            cgroupID: r.cgroupID, exitedAtNanos: nil)
        cache.upsert(entry, now: now)
        let event = Self.processCreationEvent(entry, parent: parent, timestamp: wallTime(bootNanos: r.bootNanos), logonID: r.ids.loginuid)
        return (event, entry, parent)
    }

    public static func processCreationEvent(_ p: ProcessEntry, parent: ProcessEntry?, timestamp: Double, logonID: UInt32) -> Event {
        var fields: [(String, FieldValue)] = [
            ("UtcTime", .string(formatTimestamp(epochSeconds: timestamp))),
            ("ProcessGuid", .string(p.guid)),
            ("ProcessId", .int(Int64(p.pid))),
            ("Image", .string(p.image)),
            ("CommandLine", .string(p.commandLine)),
            ("CurrentDirectory", .string(p.cwd)),
            ("User", .string(p.user)),
            ("LogonId", .int(Int64(logonID == UInt32.max ? -1 : Int64(logonID)))),
            ("ParentProcessId", .int(Int64(p.ppid))),
        ]
        if let g = p.parentGuid { fields.append(("ParentProcessGuid", .string(g))) }
        if let parent {
            fields.append(("ParentImage", .string(parent.image)))
            fields.append(("ParentCommandLine", .string(parent.commandLine)))
            fields.append(("ParentUser", .string(parent.user)))
        }
        return Event(logsource: processCreation, timestamp: timestamp, fields: fields)
    }

    public mutating func exit(_ r: ExitRecord) {
        cache.markExited(pid: r.ids.pid, startTicks: r.ids.startTicks, now: monotonicNanos())
    }

    /// A fork without exec: the child runs the parent's image until it execs.
    public mutating func fork(_ r: ForkRecord) {
        let parent = cache.lookup(pid: r.ids.ppid)
        let entry = ProcessEntry(
            pid: r.ids.pid, ppid: r.ids.ppid, startTicks: r.ids.startTicks, image: parent?.image ?? "",
            args: parent?.args ?? [], commandLine: parent?.commandLine ?? "", cwd: parent?.cwd ?? "",
            uid: r.ids.uid, user: users.name(r.ids.uid), loginuid: r.ids.loginuid,
            guid: guids.guid(pid: r.ids.pid, startTicks: r.ids.startTicks),
            parentGuid: parent?.guid, cgroupID: parent?.cgroupID ?? 0, exitedAtNanos: nil)
        cache.upsert(entry, now: monotonicNanos())
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
