import EDRCore

/// Turns ETW records from the Windows sensor into Sigma events with Sysmon's field names.
/// Layouts are the providers' manifests (docs/windows.md lists each field and offset).
/// Stateful: process start/stop feed the process cache that names every other event's
/// process; file and registry objects are remembered by pointer to name later events.
public struct WindowsEventDecoder: Sendable {
    public struct Counters: Sendable, Equatable {
        /// Records decoded (whether or not they made an event).
        public var decoded: UInt64 = 0
        public var events: UInt64 = 0
        /// Provider, id or version this decoder has no layout for: skipped.
        public var unknown: UInt64 = 0
        /// Truncated or malformed records: skipped with an error naming the field.
        public var malformed: UInt64 = 0
        /// Decoded but reported by no event (failed registry calls, opens, repeated writes…).
        public var filtered: UInt64 = 0
    }

    public var processes = WindowsProcessCache()
    public private(set) var counters = Counters()
    /// Kernel device prefixes → drive letters ("\Device\HarddiskVolume3" → "C:"), so paths
    /// read as SigmaHQ rules write them. The sensor knows them (QueryDosDevice); without an
    /// entry a path keeps its device form, which `endswith`/`contains` rules still match.
    public var deviceMap: [String: String] = [:]

    private var fileObjects: [UInt64: String] = [:]
    private var fileKeys: [UInt64: String] = [:]
    private var writtenObjects: Set<UInt64> = []
    private var registryKeys: [UInt64: String] = [:]
    private var dnsPending: [String: (pid: UInt32, at: UInt64)] = [:]
    private var udpFlows: [String: UInt64] = [:]
    static let maxObjects = 65536
    /// A UDP flow (process, both ends) is reported once per this many FILETIME units.
    static let udpFlowInterval: UInt64 = 60 * 10_000_000

    public init() {}

    /// Decodes one frame payload. Unknown events give no event and count as unknown; bad
    /// input throws an error naming the field and offset (counted as malformed).
    public mutating func decode(payload: [UInt8]) throws(ETWDecodeError) -> [Event] {
        let record: ETWRecord
        do { record = try ETWRecord(payload: payload) } catch {
            counters.malformed += 1
            throw error
        }
        return try decode(record)
    }

    public mutating func decode(_ r: ETWRecord) throws(ETWDecodeError) -> [Event] {
        var d = UserDataReader(r.userData, pointerSize: r.pointerSize)
        let out: [Event]?
        do {
            switch r.providerID {
            case WindowsProvider.kernelProcess: out = try kernelProcess(r, &d)
            case WindowsProvider.kernelFile: out = try kernelFile(r, &d)
            case WindowsProvider.kernelNetwork: out = try kernelNetwork(r, &d)
            case WindowsProvider.kernelRegistry: out = try kernelRegistry(r, &d)
            case WindowsProvider.dnsClient: out = try dnsClient(r, &d)
            case WindowsProvider.powerShell: out = try powerShell(r, &d)
            case WindowsProvider.edrSensor: out = try sensorRecord(r, &d)
            default: out = nil
            }
        } catch {
            counters.malformed += 1
            throw error
        }
        guard let events = out else {
            counters.unknown += 1
            return []
        }
        counters.decoded += 1
        if events.isEmpty { counters.filtered += 1 }
        counters.events += UInt64(events.count)
        return events
    }

    // MARK: Microsoft-Windows-Kernel-Process

    private mutating func kernelProcess(_ r: ETWRecord, _ d: inout UserDataReader) throws(ETWDecodeError) -> [Event]? {
        switch (r.eventID, r.version) {
        case (1, 0...3), (15, 0...1):
            // ProcessStart v0–v3, ProcessRundown v0–v1 (processes that existed when tracing began).
            let v3 = (r.eventID == 1 && r.version == 3) || (r.eventID == 15 && r.version == 1)
            let pid = try d.u32("ProcessID")
            if v3 { _ = try d.u64("ProcessSequenceNumber") }
            let created = try d.filetime("CreateTime")
            let ppid = try d.u32("ParentProcessID")
            if v3 { _ = try d.u64("ParentProcessSequenceNumber") }
            let session = try d.u32("SessionID")
            if r.version >= 1 || r.eventID == 15 { _ = try d.u32("Flags") }
            var integrity: String?
            if v3 {
                _ = try d.u32("ProcessTokenElevationType")
                _ = try d.u32("ProcessTokenIsElevated")
                integrity = Self.integrityLevel(sid: try d.sid("MandatoryLabel"))
            }
            let image = devicePath(try d.utf16z("ImageName"))
            if r.version >= 2 || r.eventID == 15 {
                _ = try d.u32("ImageChecksum")
                _ = try d.u32("TimeDateStamp")
                _ = try d.utf16z("PackageFullName")
                _ = try d.utf16z("PackageRelativeAppId")
            }
            let p = WindowsProcess(
                pid: pid, createTime: created, parentPid: ppid, image: image, sessionID: session,
                integrityLevel: integrity)
            processes.start(p)
            // A rundown describes a process that was already running: cache it, report nothing.
            if r.eventID == 15 { return [] }
            let started = processes.process(pid: pid, createTime: created) ?? p
            var f: [(String, FieldValue)] = [("ProcessId", .int(Int64(pid))), ("Image", .string(image))]
            if let c = started.commandLine { f.append(("CommandLine", .string(c))) }
            if let c = started.currentDirectory { f.append(("CurrentDirectory", .string(c))) }
            if let u = started.user { f.append(("User", .string(u))) }
            f.append(("TerminalSessionId", .int(Int64(session))))
            if let i = integrity { f.append(("IntegrityLevel", .string(i))) }
            f.append(("ParentProcessId", .int(Int64(ppid))))
            if let parent = processes.parent(of: started) {
                f.append(("ParentImage", .string(parent.image)))
                if let c = parent.commandLine { f.append(("ParentCommandLine", .string(c))) }
                if let u = parent.user { f.append(("ParentUser", .string(u))) }
            }
            return [Event(logsource: WindowsLogSources.processCreation, timestamp: FileTime.unixSeconds(created), fields: f)]
        case (2, 0...2):
            let pid = try d.u32("ProcessID")
            if r.version == 2 { _ = try d.u64("ProcessSequenceNumber") }
            let created = try d.filetime("CreateTime")
            let exited = try d.filetime("ExitTime")
            let code = try d.u32("ExitCode")
            _ = try d.u32("TokenElevationType")
            _ = try d.u32("HandleCount")
            _ = try d.u64("CommitCharge")
            _ = try d.u64("CommitPeak")
            if r.version >= 1 {
                _ = try d.u64("CPUCycleCount")
                _ = try d.u32("ReadOperationCount")
                _ = try d.u32("WriteOperationCount")
                _ = try d.u32("ReadTransferKiloBytes")
                _ = try d.u32("WriteTransferKiloBytes")
                _ = try d.u32("HardFaultCount")
            }
            // The stop event's name is the 15-character ANSI image file name; the start's
            // full path is preferred.
            let shortName = try d.ansiz("ImageName")
            let p = processes.stop(pid: pid, createTime: created, exitTime: exited)
            var f: [(String, FieldValue)] = [("ProcessId", .int(Int64(pid))), ("Image", .string(p?.image ?? shortName))]
            if let c = p?.commandLine { f.append(("CommandLine", .string(c))) }
            if let u = p?.user { f.append(("User", .string(u))) }
            f.append(("ExitCode", .int(Int64(code))))
            return [Event(logsource: WindowsLogSources.processTermination, timestamp: FileTime.unixSeconds(exited), fields: f)]
        case (5, 0):
            _ = try d.pointer("ImageBase")
            _ = try d.pointer("ImageSize")
            let pid = try d.u32("ProcessID")
            _ = try d.u32("ImageCheckSum")
            _ = try d.u32("TimeDateStamp")
            _ = try d.pointer("DefaultBase")
            let loaded = devicePath(try d.utf16z("ImageName"))
            var f: [(String, FieldValue)] = [("ProcessId", .int(Int64(pid)))]
            addProcess(&f, pid: pid, at: r.timestamp)
            f.append(("ImageLoaded", .string(loaded)))
            return [Event(logsource: WindowsLogSources.imageLoad, timestamp: r.unixTime, fields: f)]
        default:
            return nil
        }
    }

    /// Mandatory label SID → Sysmon's IntegrityLevel words.
    static func integrityLevel(sid: String) -> String {
        switch sid {
        case "S-1-16-0": return "Untrusted"
        case "S-1-16-4096": return "Low"
        case "S-1-16-8192": return "Medium"
        case "S-1-16-8448": return "MediumPlus"
        case "S-1-16-12288": return "High"
        case "S-1-16-16384": return "System"
        case "S-1-16-20480": return "ProtectedProcess"
        default: return sid
        }
    }

    /// Image (and User, CommandLine when known) of the process `pid` at `time`.
    private func addProcess(_ f: inout [(String, FieldValue)], pid: UInt32, at time: UInt64) {
        guard let p = processes.lookup(pid: pid, at: time) else { return }
        f.append(("Image", .string(p.image)))
        if let c = p.commandLine { f.append(("CommandLine", .string(c))) }
        if let u = p.user { f.append(("User", .string(u))) }
    }

    // MARK: Microsoft-Windows-Kernel-File

    private mutating func kernelFile(_ r: ETWRecord, _ d: inout UserDataReader) throws(ETWDecodeError) -> [Event]? {
        let v1 = r.version == 1
        guard r.version <= 1 else { return nil }
        switch r.eventID {
        case 10:
            // NameCreate: names the FileKey that later writes and renames carry.
            let key = try d.pointer("FileKey")
            let name = devicePath(try d.utf16z("FileName"))
            remember(&fileKeys, key, name)
            return []
        case 12, 30:
            // Create (any open) / CreateNewFile (a file that did not exist).
            _ = try d.pointer("Irp")
            if !v1 { _ = try d.pointer("ThreadId") }
            let object = try d.pointer("FileObject")
            if v1 { _ = try d.u32("IssuingThreadId") }
            let options = try d.u32("CreateOptions")
            _ = try d.u32("CreateAttributes")
            _ = try d.u32("ShareAccess")
            let name = devicePath(try d.utf16z("FileName"))
            remember(&fileObjects, object, name)
            writtenObjects.remove(object)
            // The create disposition is CreateOptions' high byte: 0 supersede, 4 overwrite,
            // 5 overwrite-if replace a file's contents (Sysmon's FileCreate reports those too);
            // new files come as event 30.
            let disposition = options >> 24
            guard r.eventID == 30 || disposition == 0 || disposition == 4 || disposition == 5 else { return [] }
            return [fileEvent(WindowsLogSources.fileEvent, r, [("TargetFilename", .string(name))])]
        case 16:
            // Write: reported once per file object (the first write after its open).
            _ = try d.u64("ByteOffset")
            _ = try d.pointer("Irp")
            if !v1 { _ = try d.pointer("ThreadId") }
            let object = try d.pointer("FileObject")
            let key = try d.pointer("FileKey")
            if v1 { _ = try d.u32("IssuingThreadId") }
            _ = try d.u32("IOSize")
            _ = try d.u32("IOFlags")
            if v1 { _ = try d.u32("ExtraFlags") }
            guard let name = fileObjects[object] ?? fileKeys[key], !writtenObjects.contains(object) else { return [] }
            if writtenObjects.count >= Self.maxObjects { writtenObjects.removeAll() }
            writtenObjects.insert(object)
            return [fileEvent(WindowsLogSources.fileChange, r, [("TargetFilename", .string(name))])]
        case 26, 27:
            // DeletePath / RenamePath: the path the operation names.
            _ = try d.pointer("Irp")
            if !v1 { _ = try d.pointer("ThreadId") }
            let object = try d.pointer("FileObject")
            let key = try d.pointer("FileKey")
            _ = try d.pointer("ExtraInformation")
            if v1 { _ = try d.u32("IssuingThreadId") }
            _ = try d.u32("InfoClass")
            let path = devicePath(try d.utf16z("FilePath"))
            if r.eventID == 26 {
                return [fileEvent(WindowsLogSources.fileDelete, r, [("TargetFilename", .string(path))])]
            }
            // The name the file had: from its open (FileObject) or its FileKey.
            let before = fileObjects[object] ?? fileKeys[key]
            var f: [(String, FieldValue)] = []
            if let b = before, b != path { f.append(("SourceFilename", .string(b))) }
            f.append(("TargetFilename", .string(path)))
            remember(&fileObjects, object, path)
            return [fileEvent(WindowsLogSources.fileRename, r, f)]
        default:
            return nil
        }
    }

    private func fileEvent(_ ls: LogSource, _ r: ETWRecord, _ rest: [(String, FieldValue)]) -> Event {
        var f: [(String, FieldValue)] = [("ProcessId", .int(Int64(r.processID)))]
        addProcess(&f, pid: r.processID, at: r.timestamp)
        f.append(contentsOf: rest)
        return Event(logsource: ls, timestamp: r.unixTime, fields: f)
    }

    private func remember(_ map: inout [UInt64: String], _ key: UInt64, _ value: String) {
        if map.count >= Self.maxObjects && map[key] == nil { map.removeAll(keepingCapacity: true) }
        map[key] = value
    }

    // MARK: Microsoft-Windows-Kernel-Network

    private mutating func kernelNetwork(_ r: ETWRecord, _ d: inout UserDataReader) throws(ETWDecodeError) -> [Event]? {
        guard r.version == 0 else { return nil }
        let tcp: Bool, v6: Bool, initiated: Bool
        switch r.eventID {
        case 12: (tcp, v6, initiated) = (true, false, true)  // TCPv4 connection attempted
        case 15: (tcp, v6, initiated) = (true, false, false)  // TCPv4 connection accepted
        case 28: (tcp, v6, initiated) = (true, true, true)
        case 31: (tcp, v6, initiated) = (true, true, false)
        case 42: (tcp, v6, initiated) = (false, false, true)  // UDPv4 data sent
        case 43: (tcp, v6, initiated) = (false, false, false)  // UDPv4 data received
        case 58: (tcp, v6, initiated) = (false, true, true)
        case 59: (tcp, v6, initiated) = (false, true, false)
        default: return nil
        }
        let pid = try d.u32("PID")
        _ = try d.u32("size")
        // daddr is the remote end, saddr the local one, for connects and accepts alike.
        let remote = v6 ? try d.ipv6("daddr") : try d.ipv4("daddr")
        let local = v6 ? try d.ipv6("saddr") : try d.ipv4("saddr")
        let remotePort = try d.port("dport")
        let localPort = try d.port("sport")
        if tcp {
            _ = try d.u16("mss")
            _ = try d.u16("sackopt")
            _ = try d.u16("tsopt")
            _ = try d.u16("wsopt")
            _ = try d.u32("rcvwin")
            _ = try d.u16("rcvwinscale")
            _ = try d.u16("sndwinscale")
        }
        _ = try d.u32("seqnum")
        _ = try d.u32("connid")
        if !tcp {
            // UDP comes per datagram: one event per flow per minute.
            let flow = "\(pid)|\(initiated)|\(local)|\(localPort)|\(remote)|\(remotePort)"
            if let last = udpFlows[flow], r.timestamp >= last, r.timestamp - last < Self.udpFlowInterval { return [] }
            if udpFlows.count >= Self.maxObjects { udpFlows.removeAll(keepingCapacity: true) }
            udpFlows[flow] = r.timestamp
        }
        // Sysmon names the initiator the source: for an accepted connection, the peer.
        let (src, srcPort, dst, dstPort) = initiated ? (local, localPort, remote, remotePort) : (remote, remotePort, local, localPort)
        var f: [(String, FieldValue)] = [("ProcessId", .int(Int64(pid)))]
        addProcess(&f, pid: pid, at: r.timestamp)
        f.append(contentsOf: [
            ("Protocol", .string(tcp ? "tcp" : "udp")), ("Initiated", .string(initiated ? "true" : "false")),
            ("SourceIsIpv6", .string(v6 ? "true" : "false")), ("SourceIp", .string(src)), ("SourcePort", .int(Int64(srcPort))),
            ("DestinationIsIpv6", .string(v6 ? "true" : "false")), ("DestinationIp", .string(dst)),
            ("DestinationPort", .int(Int64(dstPort)))
        ])
        return [Event(logsource: WindowsLogSources.networkConnection, timestamp: r.unixTime, fields: f)]
    }

    // MARK: Microsoft-Windows-Kernel-Registry

    private mutating func kernelRegistry(_ r: ETWRecord, _ d: inout UserDataReader) throws(ETWDecodeError) -> [Event]? {
        guard r.version == 0 else { return nil }
        switch r.eventID {
        case 1, 2:
            // CreateKey / OpenKey: name the key object for later set/delete events.
            let base = try d.pointer("BaseObject")
            let key = try d.pointer("KeyObject")
            let status = try d.u32("Status")
            let disposition = try d.u32("Disposition")
            let baseName = try d.utf16z("BaseName")
            let relative = try d.utf16z("RelativeName")
            guard status == 0 else { return [] }
            let full = Self.joinKey(baseName.isEmpty ? (registryKeys[base] ?? "") : baseName, relative)
            if key != 0 { remember(&registryKeys, key, full) }
            // Disposition 1 is REG_CREATED_NEW_KEY; opening an existing key is no CreateKey.
            guard r.eventID == 1 && disposition == 1 else { return [] }
            return registryEvents(WindowsLogSources.registryAdd, r, "CreateKey", Self.registryPath(full), nil)
        case 3:
            let key = try d.pointer("KeyObject")
            let status = try d.u32("Status")
            let name = resolveKey(try d.utf16z("KeyName"), object: key)
            guard status == 0 else { return [] }
            return registryEvents(WindowsLogSources.registryDelete, r, "DeleteKey", Self.registryPath(name), nil)
        case 5:
            let key = try d.pointer("KeyObject")
            let status = try d.u32("Status")
            let type = try d.u32("Type")
            let size = try d.u32("DataSize")
            let keyName = resolveKey(try d.utf16z("KeyName"), object: key)
            let valueName = try d.utf16z("ValueName")
            let captured = Int(try d.u16("CapturedDataSize"))
            let data = try d.bytes(captured, "CapturedData")
            _ = try d.u32("PreviousDataType")
            _ = try d.u32("PreviousDataSize")
            let previous = Int(try d.u16("PreviousDataCapturedSize"))
            _ = try d.bytes(previous, "PreviousData")
            guard status == 0 else { return [] }
            let target = Self.registryPath(keyName) + "\\" + (valueName.isEmpty ? "(Default)" : valueName)
            return registryEvents(
                WindowsLogSources.registrySet, r, "SetValue", target,
                Self.registryDetails(type: type, size: size, data: data), valueType: Self.registryTypeName(type))
        case 6:
            let key = try d.pointer("KeyObject")
            let status = try d.u32("Status")
            let keyName = resolveKey(try d.utf16z("KeyName"), object: key)
            let valueName = try d.utf16z("ValueName")
            guard status == 0 else { return [] }
            let target = Self.registryPath(keyName) + "\\" + (valueName.isEmpty ? "(Default)" : valueName)
            return registryEvents(WindowsLogSources.registryDelete, r, "DeleteValue", target, nil)
        default:
            return nil
        }
    }

    /// A key name as an event carries it: absolute as it is, else the name its key object
    /// was opened under, else as it is.
    private func resolveKey(_ name: String, object: UInt64) -> String {
        if Self.isAbsoluteKey(name) { return name }
        return registryKeys[object] ?? name
    }

    static func isAbsoluteKey(_ s: String) -> Bool { s.uppercased().hasPrefix("\\REGISTRY\\") }

    static func joinKey(_ base: String, _ relative: String) -> String {
        if base.isEmpty || isAbsoluteKey(relative) { return relative }
        if relative.isEmpty { return base }
        return base.hasSuffix("\\") ? base + relative : base + "\\" + relative
    }

    /// Kernel registry paths in the forms Sysmon writes and SigmaHQ rules match:
    /// \REGISTRY\MACHINE\… → HKLM\…, \REGISTRY\USER\… → HKU\….
    public static func registryPath(_ kernel: String) -> String {
        let upper = kernel.uppercased()
        for (prefix, hive) in [("\\REGISTRY\\MACHINE", "HKLM"), ("\\REGISTRY\\USER", "HKU")] where upper.hasPrefix(prefix) {
            let rest = kernel.dropFirst(prefix.count)
            if rest.isEmpty || rest.first == "\\" { return hive + rest }
        }
        return kernel
    }

    /// Sysmon's Details text for a value: strings as they are, "DWORD (0x0000002a)",
    /// "QWORD (0x00000001-0x00000002)", anything else "Binary Data".
    public static func registryDetails(type: UInt32, size: UInt32, data: [UInt8]) -> String {
        func hex8(_ v: UInt32) -> String {
            let s = String(v, radix: 16)
            return "0x" + String(repeating: "0", count: 8 - s.count) + s
        }
        switch type {
        case 1, 2, 7:  // REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ: UTF-16LE, as much as was captured
            var units: [UInt16] = []
            var i = 0
            while i + 1 < data.count {
                units.append(UInt16(data[i]) | UInt16(data[i + 1]) << 8)
                i += 2
            }
            while units.last == 0 { units.removeLast() }
            if type == 7 { units = units.map { $0 == 0 ? 0x20 : $0 } }
            return String(decoding: units, as: UTF16.self)
        case 4 where data.count >= 4:  // REG_DWORD
            return "DWORD (" + hex8(data.readLE(UInt32.self, at: 0)) + ")"
        case 11 where data.count >= 8:  // REG_QWORD
            let v = data.readLE(UInt64.self, at: 0)
            return "QWORD (" + hex8(UInt32(v >> 32)) + "-" + hex8(UInt32(truncatingIfNeeded: v)) + ")"
        default:
            return "Binary Data"
        }
    }

    /// The value's type by its Windows name (REG_SZ …), which Sysmon's Details text no longer
    /// tells for strings: carried beside it as `ValueType` for ECS `registry.data.type`.
    public static func registryTypeName(_ type: UInt32) -> String {
        let names = [
            "REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD", "REG_DWORD_BIG_ENDIAN", "REG_LINK",
            "REG_MULTI_SZ", "REG_RESOURCE_LIST", "REG_FULL_RESOURCE_DESCRIPTOR", "REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD"
        ]
        return Int(type) < names.count ? names[Int(type)] : "REG_UNKNOWN_\(type)"
    }

    private func registryEvents(
        _ ls: LogSource, _ r: ETWRecord, _ type: String, _ target: String, _ details: String?,
        valueType: String? = nil
    ) -> [Event] {
        var f: [(String, FieldValue)] = [("EventType", .string(type)), ("ProcessId", .int(Int64(r.processID)))]
        addProcess(&f, pid: r.processID, at: r.timestamp)
        f.append(("TargetObject", .string(target)))
        if let details { f.append(("Details", .string(details))) }
        if let valueType { f.append(("ValueType", .string(valueType))) }
        return WindowsLogSources.expand(Event(logsource: ls, timestamp: r.unixTime, fields: f))
    }

    // MARK: Microsoft-Windows-DNS-Client

    private mutating func dnsClient(_ r: ETWRecord, _ d: inout UserDataReader) throws(ETWDecodeError) -> [Event]? {
        guard r.version == 0 else { return nil }
        switch r.eventID {
        case 3006:
            // Query started: remembered so the completion names the asking process even when
            // another process (the DNS cache service) reports it.
            let name = try d.utf16z("QueryName")
            _ = try d.u32("QueryType")
            _ = try d.u64("QueryOptions")
            _ = try d.utf16z("ServerList")
            _ = try d.u32("IsNetworkQuery")
            _ = try d.u32("NetworkQueryIndex")
            _ = try d.u32("InterfaceIndex")
            _ = try d.u32("IsAsyncQuery")
            if dnsPending.count >= Self.maxObjects { dnsPending.removeAll(keepingCapacity: true) }
            dnsPending[name.lowercased()] = (r.processID, r.timestamp)
            return []
        case 3008:
            let name = try d.utf16z("QueryName")
            _ = try d.u32("QueryType")
            _ = try d.u64("QueryOptions")
            let status = try d.u32("QueryStatus")
            let results = try d.utf16z("QueryResults")
            var pid = r.processID
            if let p = dnsPending.removeValue(forKey: name.lowercased()), r.timestamp >= p.at { pid = p.pid }
            var f: [(String, FieldValue)] = [("ProcessId", .int(Int64(pid)))]
            addProcess(&f, pid: pid, at: r.timestamp)
            // QueryResults is already Sysmon's text ("type:  5 x.example;::ffff:1.2.3.4;"):
            // Sysmon's event 22 comes from this same provider.
            f.append(contentsOf: [
                ("QueryName", .string(name)), ("QueryStatus", .string(String(status))),
                ("QueryResults", .string(results))
            ])
            return [Event(logsource: WindowsLogSources.dnsQuery, timestamp: r.unixTime, fields: f)]
        default:
            return nil
        }
    }

    // MARK: Microsoft-Windows-PowerShell

    private mutating func powerShell(_ r: ETWRecord, _ d: inout UserDataReader) throws(ETWDecodeError) -> [Event]? {
        guard r.eventID == 4104, r.version == 1 else { return nil }
        let number = try d.i32("MessageNumber")
        let total = try d.i32("MessageTotal")
        let text = try d.utf16z("ScriptBlockText")
        let id = try d.utf16z("ScriptBlockId")
        let path = try d.utf16z("Path")
        var f: [(String, FieldValue)] = [
            ("MessageNumber", .int(Int64(number))), ("MessageTotal", .int(Int64(total))),
            ("ScriptBlockText", .string(text)), ("ScriptBlockId", .string(id)),
            ("Path", .string(path)), ("ProcessId", .int(Int64(r.processID)))
        ]
        addProcess(&f, pid: r.processID, at: r.timestamp)
        return [Event(logsource: WindowsLogSources.psScript, timestamp: r.unixTime, fields: f)]
    }

    // MARK: The sensor's own records

    /// Event 1 v0, the drive-letter map: u16 count, then count pairs of UTF-16 strings (drive
    /// "C:", device "\Device\HarddiskVolume3"). It replaces the map the decoder had.
    private mutating func sensorRecord(_ r: ETWRecord, _ d: inout UserDataReader) throws(ETWDecodeError) -> [Event]? {
        guard r.eventID == 1, r.version == 0 else { return nil }
        let count = Int(try d.u16("DriveCount"))
        var map: [String: String] = [:]
        for i in 0..<count {
            let drive = try d.utf16z("Drive[\(i)]")
            let device = try d.utf16z("Device[\(i)]")
            guard drive.count == 2, drive.last == ":", let letter = drive.first, letter.isASCII, letter.isLetter else {
                throw d.fail("Drive[\(i)]", "\"\(drive)\" is not a drive letter")
            }
            guard device.hasPrefix("\\") else { throw d.fail("Device[\(i)]", "\"\(device)\" is not a kernel device path") }
            map[device] = drive.uppercased()
        }
        deviceMap = map
        return []
    }

    // MARK: Paths

    /// "\Device\HarddiskVolume3\x" → "C:\x" when the device is mapped; "\??\C:\x" → "C:\x".
    func devicePath(_ p: String) -> String {
        if p.hasPrefix("\\??\\") { return String(p.dropFirst(4)) }
        guard !deviceMap.isEmpty, p.hasPrefix("\\Device\\") else { return p }
        for (device, drive) in deviceMap {
            if p.count > device.count, p.lowercased().hasPrefix(device.lowercased() + "\\") {
                return drive + p.dropFirst(device.count)
            }
        }
        return p
    }
}
