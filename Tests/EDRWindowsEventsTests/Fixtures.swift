import EDRCore
@testable import EDRWindowsEvents
import Foundation

/// Writes user data field by field at the offsets docs/windows.md documents: each fixed
/// offset is checked as it is written, so a fixture that drifts from the documented layout
/// fails to build rather than testing something else.
struct UserDataBuilder {
    var bytes: [UInt8] = []
    /// (field, start, end) for every field written.
    var fields: [(name: String, start: Int, end: Int)] = []
    let pointerSize: Int

    init(pointerSize: Int = 8) { self.pointerSize = pointerSize }

    private mutating func put(_ name: String, _ at: Int?, _ b: [UInt8]) {
        if let at { precondition(bytes.count == at, "\(name) documented at \(at), written at \(bytes.count)") }
        fields.append((name, bytes.count, bytes.count + b.count))
        bytes.append(contentsOf: b)
    }

    mutating func u16(_ name: String, at: Int?, _ v: UInt16) { var b: [UInt8] = []; b.appendLE(v); put(name, at, b) }
    mutating func u32(_ name: String, at: Int?, _ v: UInt32) { var b: [UInt8] = []; b.appendLE(v); put(name, at, b) }
    mutating func u64(_ name: String, at: Int?, _ v: UInt64) { var b: [UInt8] = []; b.appendLE(v); put(name, at, b) }
    mutating func port(_ name: String, at: Int?, _ v: UInt16) { put(name, at, [UInt8(v >> 8), UInt8(v & 0xFF)]) }
    mutating func raw(_ name: String, at: Int?, _ b: [UInt8]) { put(name, at, b) }
    mutating func pointer(_ name: String, at: Int?, _ v: UInt64) {
        var b: [UInt8] = []
        if pointerSize == 4 { b.appendLE(UInt32(truncatingIfNeeded: v)) } else { b.appendLE(v) }
        put(name, at, b)
    }
    mutating func utf16z(_ name: String, at: Int?, _ s: String) {
        var b: [UInt8] = []
        for u in s.utf16 { b.appendLE(u) }
        b.appendLE(UInt16(0))
        put(name, at, b)
    }
    mutating func ansiz(_ name: String, at: Int?, _ s: String) { put(name, at, Array(s.utf8) + [0]) }
    /// A binary SID from its text form.
    mutating func sid(_ name: String, at: Int?, _ s: String) {
        let parts = s.split(separator: "-").dropFirst(2).map { UInt64($0)! }
        var b: [UInt8] = [1, UInt8(parts.count - 1)]
        for i in (0..<6).reversed() { b.append(UInt8((parts[0] >> (8 * UInt64(i))) & 0xFF)) }
        for sub in parts.dropFirst() { b.appendLE(UInt32(sub)) }
        put(name, at, b)
    }

    /// The field whose bytes contain `offset` (the one a cut there breaks).
    func field(containing offset: Int) -> (name: String, start: Int, end: Int)? {
        fields.first { $0.start <= offset && offset < $0.end }
    }
}

/// A decodable record and the builder that wrote its user data.
struct Fixture {
    var name: String
    var record: ETWRecord
    var layout: UserDataBuilder
}

/// 2024-05-01 12:00:00 UTC as FILETIME, and later moments.
let t0 = FileTime.from(unixSeconds: 1_714_564_800)
func at(_ seconds: Double) -> UInt64 { UInt64(Int64(t0) + Int64(seconds * 1e7)) }

enum Fixtures {
    // MARK: Kernel-Process

    /// ProcessStart v3 (ProcessStartArgs_V3 / ProcessRundownArgs_V1 layout).
    static func processStartV3(
        pid: UInt32, ppid: UInt32, created: UInt64, image: String,
        label: String = "S-1-16-12288", session: UInt32 = 1
    ) -> Fixture {
        var b = UserDataBuilder()
        b.u32("ProcessID", at: 0, pid)
        b.u64("ProcessSequenceNumber", at: 4, 0x1234)
        b.u64("CreateTime", at: 12, created)
        b.u32("ParentProcessID", at: 20, ppid)
        b.u64("ParentProcessSequenceNumber", at: 24, 0x1200)
        b.u32("SessionID", at: 32, session)
        b.u32("Flags", at: 36, 0)
        b.u32("ProcessTokenElevationType", at: 40, 2)
        b.u32("ProcessTokenIsElevated", at: 44, 1)
        b.sid("MandatoryLabel", at: 48, label)
        b.utf16z("ImageName", at: nil, image)
        b.u32("ImageChecksum", at: nil, 0xABCD)
        b.u32("TimeDateStamp", at: nil, 0x5F00_0000)
        b.utf16z("PackageFullName", at: nil, "")
        b.utf16z("PackageRelativeAppId", at: nil, "")
        return Fixture(
            name: "Kernel-Process 1 v3",
            record: ETWRecord(
                providerID: WindowsProvider.kernelProcess, eventID: 1, version: 3,
                processID: ppid, timestamp: created, userData: b.bytes), layout: b)
    }

    /// ProcessStart v0 (ProcessStartArgs): the oldest layout.
    static func processStartV0(pid: UInt32, ppid: UInt32, created: UInt64, image: String) -> Fixture {
        var b = UserDataBuilder()
        b.u32("ProcessID", at: 0, pid)
        b.u64("CreateTime", at: 4, created)
        b.u32("ParentProcessID", at: 12, ppid)
        b.u32("SessionID", at: 16, 0)
        b.utf16z("ImageName", at: 20, image)
        return Fixture(
            name: "Kernel-Process 1 v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelProcess, eventID: 1, version: 0,
                processID: ppid, timestamp: created, userData: b.bytes), layout: b)
    }

    /// ProcessStart v1 (Flags before ImageName) and v2 (then ImageChecksum, TimeDateStamp and
    /// the package strings); ProcessRundown (15) v0 has the v2 layout.
    static func processStartV1V2(
        version: UInt8, pid: UInt32, ppid: UInt32, created: UInt64, image: String,
        rundown: Bool = false
    ) -> Fixture {
        var b = UserDataBuilder()
        b.u32("ProcessID", at: 0, pid)
        b.u64("CreateTime", at: 4, created)
        b.u32("ParentProcessID", at: 12, ppid)
        b.u32("SessionID", at: 16, 1)
        b.u32("Flags", at: 20, 0)
        b.utf16z("ImageName", at: 24, image)
        if version == 2 {
            b.u32("ImageChecksum", at: nil, 0xABCD)
            b.u32("TimeDateStamp", at: nil, 0x5F00_0000)
            b.utf16z("PackageFullName", at: nil, "Microsoft.App_1.0.0.0_x64__8wekyb3d8bbwe")
            b.utf16z("PackageRelativeAppId", at: nil, "App")
        }
        let id: UInt16 = rundown ? 15 : 1
        return Fixture(
            name: "Kernel-Process \(id) v\(rundown ? 0 : version)",
            record: ETWRecord(
                providerID: WindowsProvider.kernelProcess,
                eventID: id, version: rundown ? 0 : version, processID: ppid, timestamp: created, userData: b.bytes), layout: b)
    }

    /// ProcessRundown v1 (the ProcessStart v3 layout, event 15).
    static func rundownV1(pid: UInt32, ppid: UInt32, created: UInt64, image: String) -> Fixture {
        var f = processStartV3(pid: pid, ppid: ppid, created: created, image: image, label: "S-1-16-16384")
        f.record.eventID = 15
        f.record.version = 1
        f.name = "Kernel-Process 15 v1"
        return f
    }

    /// ProcessStop v0 and v1 (no ProcessSequenceNumber; v1 adds the I/O counters).
    static func processStopV0V1(version: UInt8, pid: UInt32, created: UInt64, exited: UInt64, name: String) -> Fixture {
        var b = UserDataBuilder()
        b.u32("ProcessID", at: 0, pid)
        b.u64("CreateTime", at: 4, created)
        b.u64("ExitTime", at: 12, exited)
        b.u32("ExitCode", at: 20, 1)
        b.u32("TokenElevationType", at: 24, 1)
        b.u32("HandleCount", at: 28, 40)
        b.u64("CommitCharge", at: 32, 4096)
        b.u64("CommitPeak", at: 40, 8192)
        if version == 1 {
            b.u64("CPUCycleCount", at: 48, 1_000_000)
            b.u32("ReadOperationCount", at: 56, 1)
            b.u32("WriteOperationCount", at: 60, 2)
            b.u32("ReadTransferKiloBytes", at: 64, 3)
            b.u32("WriteTransferKiloBytes", at: 68, 4)
            b.u32("HardFaultCount", at: 72, 5)
        }
        b.ansiz("ImageName", at: version == 1 ? 76 : 48, name)
        return Fixture(
            name: "Kernel-Process 2 v\(version)",
            record: ETWRecord(
                providerID: WindowsProvider.kernelProcess, eventID: 2,
                version: version, processID: pid, timestamp: exited, userData: b.bytes), layout: b)
    }

    /// ProcessStop v2 (ProcessStopArgs_V2).
    static func processStopV2(pid: UInt32, created: UInt64, exited: UInt64, name: String, code: UInt32 = 0) -> Fixture {
        var b = UserDataBuilder()
        b.u32("ProcessID", at: 0, pid)
        b.u64("ProcessSequenceNumber", at: 4, 0x1234)
        b.u64("CreateTime", at: 12, created)
        b.u64("ExitTime", at: 20, exited)
        b.u32("ExitCode", at: 28, code)
        b.u32("TokenElevationType", at: 32, 1)
        b.u32("HandleCount", at: 36, 40)
        b.u64("CommitCharge", at: 40, 4096)
        b.u64("CommitPeak", at: 48, 8192)
        b.u64("CPUCycleCount", at: 56, 1_000_000)
        b.u32("ReadOperationCount", at: 64, 1)
        b.u32("WriteOperationCount", at: 68, 2)
        b.u32("ReadTransferKiloBytes", at: 72, 3)
        b.u32("WriteTransferKiloBytes", at: 76, 4)
        b.u32("HardFaultCount", at: 80, 5)
        b.ansiz("ImageName", at: 84, name)
        return Fixture(
            name: "Kernel-Process 2 v2",
            record: ETWRecord(
                providerID: WindowsProvider.kernelProcess, eventID: 2, version: 2,
                processID: pid, timestamp: exited, userData: b.bytes), layout: b)
    }

    /// ImageLoad v0 (ImageLoadArgs); `pointerSize` 4 under the 32-bit-header flag.
    static func imageLoad(pid: UInt32, image: String, at time: UInt64, pointerSize: Int = 8) -> Fixture {
        var b = UserDataBuilder(pointerSize: pointerSize)
        let p = pointerSize
        b.pointer("ImageBase", at: 0, 0x7FF8_1000_0000)
        b.pointer("ImageSize", at: p, 0x2_0000)
        b.u32("ProcessID", at: 2 * p, pid)
        b.u32("ImageCheckSum", at: 2 * p + 4, 0x1111)
        b.u32("TimeDateStamp", at: 2 * p + 8, 0x2222)
        b.pointer("DefaultBase", at: 2 * p + 12, 0x1_8000_0000)
        b.utf16z("ImageName", at: 3 * p + 12, image)
        return Fixture(
            name: "Kernel-Process 5 v0 (\(p * 8)-bit)",
            record: ETWRecord(
                providerID: WindowsProvider.kernelProcess,
                eventID: 5, version: 0, processID: pid, timestamp: time, flags: p == 4 ? 0x20 : 0, userData: b.bytes), layout: b)
    }

    // MARK: Kernel-File (v1 layouts)

    static func fileCreate(pid: UInt32, object: UInt64, name: String, disposition: UInt32, at time: UInt64, newFile: Bool = false) -> Fixture {
        var b = UserDataBuilder()
        b.pointer("Irp", at: 0, 0xFFFF_A000_0000_1000)
        b.pointer("FileObject", at: 8, object)
        b.u32("IssuingThreadId", at: 16, 4242)
        b.u32("CreateOptions", at: 20, disposition << 24 | 0x60)
        b.u32("CreateAttributes", at: 24, 0x80)
        b.u32("ShareAccess", at: 28, 7)
        b.utf16z("FileName", at: 32, name)
        return Fixture(
            name: "Kernel-File \(newFile ? 30 : 12) v1",
            record: ETWRecord(
                providerID: WindowsProvider.kernelFile,
                eventID: newFile ? 30 : 12, version: 1, processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    /// Create v0 (CreateArgs): a ThreadId pointer before FileObject, no IssuingThreadId.
    static func fileCreateV0(
        pid: UInt32, object: UInt64, name: String, disposition: UInt32, at time: UInt64,
        pointerSize p: Int
    ) -> Fixture {
        var b = UserDataBuilder(pointerSize: p)
        b.pointer("Irp", at: 0, 0xA000_1000)
        b.pointer("ThreadId", at: p, 0xA000_2000)
        b.pointer("FileObject", at: 2 * p, object)
        b.u32("CreateOptions", at: 3 * p, disposition << 24)
        b.u32("CreateAttributes", at: 3 * p + 4, 0x80)
        b.u32("ShareAccess", at: 3 * p + 8, 7)
        b.utf16z("FileName", at: 3 * p + 12, name)
        return Fixture(
            name: "Kernel-File 12 v0 (\(p * 8)-bit)",
            record: ETWRecord(
                providerID: WindowsProvider.kernelFile, eventID: 12,
                version: 0, processID: pid, timestamp: time, flags: p == 4 ? 0x20 : 0, userData: b.bytes), layout: b)
    }

    static func fileWrite(pid: UInt32, object: UInt64, key: UInt64, at time: UInt64) -> Fixture {
        var b = UserDataBuilder()
        b.u64("ByteOffset", at: 0, 0)
        b.pointer("Irp", at: 8, 0xFFFF_A000_0000_2000)
        b.pointer("FileObject", at: 16, object)
        b.pointer("FileKey", at: 24, key)
        b.u32("IssuingThreadId", at: 32, 4242)
        b.u32("IOSize", at: 36, 512)
        b.u32("IOFlags", at: 40, 0)
        b.u32("ExtraFlags", at: 44, 0)
        return Fixture(
            name: "Kernel-File 16 v1",
            record: ETWRecord(
                providerID: WindowsProvider.kernelFile, eventID: 16, version: 1,
                processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    /// DeletePath (26) or RenamePath (27), DeletePathArgs_V1.
    static func filePath(_ id: UInt16, pid: UInt32, object: UInt64, path: String, at time: UInt64) -> Fixture {
        var b = UserDataBuilder()
        b.pointer("Irp", at: 0, 0xFFFF_A000_0000_3000)
        b.pointer("FileObject", at: 8, object)
        b.pointer("FileKey", at: 16, 0xFFFF_C000_0000_0001)
        b.pointer("ExtraInformation", at: 24, 0)
        b.u32("IssuingThreadId", at: 32, 4242)
        b.u32("InfoClass", at: 36, id == 26 ? 13 : 10)
        b.utf16z("FilePath", at: 40, path)
        return Fixture(
            name: "Kernel-File \(id) v1",
            record: ETWRecord(
                providerID: WindowsProvider.kernelFile, eventID: id, version: 1,
                processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    // MARK: Kernel-Network

    static func tcpV4(
        _ id: UInt16, pid: UInt32, local: [UInt8], localPort: UInt16, remote: [UInt8], remotePort: UInt16,
        at time: UInt64
    ) -> Fixture {
        var b = UserDataBuilder()
        b.u32("PID", at: 0, pid)
        b.u32("size", at: 4, 0)
        b.raw("daddr", at: 8, remote)
        b.raw("saddr", at: 12, local)
        b.port("dport", at: 16, remotePort)
        b.port("sport", at: 18, localPort)
        b.u16("mss", at: 20, 1460)
        b.u16("sackopt", at: 22, 1)
        b.u16("tsopt", at: 24, 0)
        b.u16("wsopt", at: 26, 1)
        b.u32("rcvwin", at: 28, 65535)
        b.u16("rcvwinscale", at: 32, 8)
        b.u16("sndwinscale", at: 34, 8)
        b.u32("seqnum", at: 36, 0)
        b.u32("connid", at: 40, 0)
        return Fixture(
            name: "Kernel-Network \(id) v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelNetwork, eventID: id,
                version: 0, processID: 4, timestamp: time, userData: b.bytes), layout: b)
    }

    static func tcpV6(
        _ id: UInt16, pid: UInt32, local: [UInt8], localPort: UInt16, remote: [UInt8], remotePort: UInt16,
        at time: UInt64
    ) -> Fixture {
        var b = UserDataBuilder()
        b.u32("PID", at: 0, pid)
        b.u32("size", at: 4, 0)
        b.raw("daddr", at: 8, remote)
        b.raw("saddr", at: 24, local)
        b.port("dport", at: 40, remotePort)
        b.port("sport", at: 42, localPort)
        b.u16("mss", at: 44, 1440)
        b.u16("sackopt", at: 46, 1)
        b.u16("tsopt", at: 48, 0)
        b.u16("wsopt", at: 50, 1)
        b.u32("rcvwin", at: 52, 65535)
        b.u16("rcvwinscale", at: 56, 8)
        b.u16("sndwinscale", at: 58, 8)
        b.u32("seqnum", at: 60, 0)
        b.u32("connid", at: 64, 0)
        return Fixture(
            name: "Kernel-Network \(id) v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelNetwork, eventID: id,
                version: 0, processID: 4, timestamp: time, userData: b.bytes), layout: b)
    }

    static func udpV4(
        _ id: UInt16, pid: UInt32, local: [UInt8], localPort: UInt16, remote: [UInt8], remotePort: UInt16,
        at time: UInt64
    ) -> Fixture {
        var b = UserDataBuilder()
        b.u32("PID", at: 0, pid)
        b.u32("size", at: 4, 64)
        b.raw("daddr", at: 8, remote)
        b.raw("saddr", at: 12, local)
        b.port("dport", at: 16, remotePort)
        b.port("sport", at: 18, localPort)
        b.u32("seqnum", at: 20, 0)
        b.u32("connid", at: 24, 0)
        return Fixture(
            name: "Kernel-Network \(id) v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelNetwork, eventID: id,
                version: 0, processID: 4, timestamp: time, userData: b.bytes), layout: b)
    }

    static func udpV6(
        _ id: UInt16, pid: UInt32, local: [UInt8], localPort: UInt16, remote: [UInt8], remotePort: UInt16,
        at time: UInt64
    ) -> Fixture {
        var b = UserDataBuilder()
        b.u32("PID", at: 0, pid)
        b.u32("size", at: 4, 64)
        b.raw("daddr", at: 8, remote)
        b.raw("saddr", at: 24, local)
        b.port("dport", at: 40, remotePort)
        b.port("sport", at: 42, localPort)
        b.u32("seqnum", at: 44, 0)
        b.u32("connid", at: 48, 0)
        return Fixture(
            name: "Kernel-Network \(id) v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelNetwork, eventID: id,
                version: 0, processID: 4, timestamp: time, userData: b.bytes), layout: b)
    }

    // MARK: Kernel-Registry

    static func createKey(
        pid: UInt32, key: UInt64, base: String, relative: String, disposition: UInt32, status: UInt32 = 0,
        id: UInt16 = 1, at time: UInt64
    ) -> Fixture {
        var b = UserDataBuilder()
        b.pointer("BaseObject", at: 0, 0)
        b.pointer("KeyObject", at: 8, key)
        b.u32("Status", at: 16, status)
        b.u32("Disposition", at: 20, disposition)
        b.utf16z("BaseName", at: 24, base)
        b.utf16z("RelativeName", at: nil, relative)
        return Fixture(
            name: "Kernel-Registry \(id) v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelRegistry, eventID: id,
                version: 0, processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    static func deleteKey(pid: UInt32, key: UInt64, name: String, at time: UInt64) -> Fixture {
        var b = UserDataBuilder()
        b.pointer("KeyObject", at: 0, key)
        b.u32("Status", at: 8, 0)
        b.utf16z("KeyName", at: 12, name)
        return Fixture(
            name: "Kernel-Registry 3 v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelRegistry, eventID: 3,
                version: 0, processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    static func setValue(
        pid: UInt32, key: UInt64, keyName: String, value: String, type: UInt32, data: [UInt8],
        at time: UInt64
    ) -> Fixture {
        var b = UserDataBuilder()
        b.pointer("KeyObject", at: 0, key)
        b.u32("Status", at: 8, 0)
        b.u32("Type", at: 12, type)
        b.u32("DataSize", at: 16, UInt32(data.count))
        b.utf16z("KeyName", at: 20, keyName)
        b.utf16z("ValueName", at: nil, value)
        b.u16("CapturedDataSize", at: nil, UInt16(data.count))
        b.raw("CapturedData", at: nil, data)
        b.u32("PreviousDataType", at: nil, 4)
        b.u32("PreviousDataSize", at: nil, 4)
        b.u16("PreviousDataCapturedSize", at: nil, 4)
        b.raw("PreviousData", at: nil, [1, 0, 0, 0])
        return Fixture(
            name: "Kernel-Registry 5 v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelRegistry, eventID: 5,
                version: 0, processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    static func deleteValue(pid: UInt32, key: UInt64, keyName: String, value: String, at time: UInt64) -> Fixture {
        var b = UserDataBuilder()
        b.pointer("KeyObject", at: 0, key)
        b.u32("Status", at: 8, 0)
        b.utf16z("KeyName", at: 12, keyName)
        b.utf16z("ValueName", at: nil, value)
        return Fixture(
            name: "Kernel-Registry 6 v0",
            record: ETWRecord(
                providerID: WindowsProvider.kernelRegistry, eventID: 6,
                version: 0, processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    // MARK: DNS-Client, PowerShell

    static func dnsQuery(pid: UInt32, name: String, at time: UInt64) -> Fixture {
        var b = UserDataBuilder()
        b.utf16z("QueryName", at: 0, name)
        b.u32("QueryType", at: nil, 1)
        b.u64("QueryOptions", at: nil, 0x4000_0000_6000)
        b.utf16z("ServerList", at: nil, "192.168.1.1;")
        b.u32("IsNetworkQuery", at: nil, 1)
        b.u32("NetworkQueryIndex", at: nil, 0)
        b.u32("InterfaceIndex", at: nil, 0)
        b.u32("IsAsyncQuery", at: nil, 0)
        return Fixture(
            name: "DNS-Client 3006 v0",
            record: ETWRecord(
                providerID: WindowsProvider.dnsClient, eventID: 3006, version: 0,
                processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    static func dnsCompleted(pid: UInt32, name: String, status: UInt32, results: String, at time: UInt64) -> Fixture {
        var b = UserDataBuilder()
        b.utf16z("QueryName", at: 0, name)
        b.u32("QueryType", at: nil, 1)
        b.u64("QueryOptions", at: nil, 0x4000_0000_6000)
        b.u32("QueryStatus", at: nil, status)
        b.utf16z("QueryResults", at: nil, results)
        return Fixture(
            name: "DNS-Client 3008 v0",
            record: ETWRecord(
                providerID: WindowsProvider.dnsClient, eventID: 3008, version: 0,
                processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    static func scriptBlock(pid: UInt32, text: String, id: String, path: String, at time: UInt64) -> Fixture {
        var b = UserDataBuilder()
        b.u32("MessageNumber", at: 0, 1)
        b.u32("MessageTotal", at: 4, 1)
        b.utf16z("ScriptBlockText", at: 8, text)
        b.utf16z("ScriptBlockId", at: nil, id)
        b.utf16z("Path", at: nil, path)
        return Fixture(
            name: "PowerShell 4104 v1",
            record: ETWRecord(
                providerID: WindowsProvider.powerShell, eventID: 4104, version: 1,
                processID: pid, timestamp: time, userData: b.bytes), layout: b)
    }

    /// One of each decoded layout, for the truncation sweep.
    static var all: [Fixture] {
        [
            processStartV3(pid: 100, ppid: 4, created: at(0), image: "\\Device\\HarddiskVolume3\\Windows\\System32\\cmd.exe"),
            processStartV0(pid: 101, ppid: 4, created: at(0), image: "\\Device\\HarddiskVolume3\\x.exe"),
            processStartV1V2(version: 1, pid: 102, ppid: 4, created: at(0), image: "\\Device\\HarddiskVolume3\\y.exe"),
            processStartV1V2(version: 2, pid: 103, ppid: 4, created: at(0), image: "\\Device\\HarddiskVolume3\\z.exe"),
            processStartV1V2(version: 2, pid: 104, ppid: 4, created: at(0), image: "\\Device\\HarddiskVolume3\\r.exe", rundown: true),
            rundownV1(pid: 105, ppid: 4, created: at(0), image: "\\Device\\HarddiskVolume3\\s.exe"),
            processStopV0V1(version: 0, pid: 102, created: at(0), exited: at(5), name: "y.exe"),
            processStopV0V1(version: 1, pid: 103, created: at(0), exited: at(5), name: "z.exe"),
            processStopV2(pid: 100, created: at(0), exited: at(5), name: "cmd.exe"),
            imageLoad(pid: 100, image: "\\Device\\HarddiskVolume3\\Windows\\System32\\ntdll.dll", at: at(1)),
            imageLoad(pid: 100, image: "\\Device\\HarddiskVolume3\\Windows\\SysWOW64\\ntdll.dll", at: at(1), pointerSize: 4),
            fileCreate(pid: 100, object: 0xFFFF_B000_0000_0010, name: "\\Device\\HarddiskVolume3\\t\\a.txt", disposition: 5, at: at(1)),
            fileCreate(
                pid: 100, object: 0xFFFF_B000_0000_0011, name: "\\Device\\HarddiskVolume3\\t\\b.txt", disposition: 2, at: at(1),
                newFile: true),
            fileCreateV0(pid: 100, object: 0xB000_0012, name: "\\Device\\HarddiskVolume3\\t\\e.txt", disposition: 4, at: at(1), pointerSize: 4),
            fileCreateV0(pid: 100, object: 0xFFFF_B000_0000_0013, name: "\\Device\\HarddiskVolume3\\t\\f.txt", disposition: 4, at: at(1), pointerSize: 8),
            fileWrite(pid: 100, object: 0xFFFF_B000_0000_0010, key: 1, at: at(2)),
            filePath(26, pid: 100, object: 0xFFFF_B000_0000_0012, path: "\\Device\\HarddiskVolume3\\t\\c.txt", at: at(2)),
            filePath(27, pid: 100, object: 0xFFFF_B000_0000_0010, path: "\\Device\\HarddiskVolume3\\t\\d.txt", at: at(2)),
            tcpV4(12, pid: 100, local: [10, 0, 0, 5], localPort: 50000, remote: [93, 184, 216, 34], remotePort: 443, at: at(2)),
            tcpV6(28, pid: 100, local: ipv6("fe80::1"), localPort: 50001, remote: ipv6("2001:db8::10"), remotePort: 80, at: at(2)),
            udpV6(59, pid: 100, local: ipv6("2001:db8::5"), localPort: 5353, remote: ipv6("ff02::fb"), remotePort: 5353, at: at(2)),
            udpV4(42, pid: 100, local: [10, 0, 0, 5], localPort: 53000, remote: [8, 8, 8, 8], remotePort: 53, at: at(2)),
            createKey(
                pid: 100, key: 0xFFFF_D000_0000_0001, base: "\\REGISTRY\\MACHINE\\SOFTWARE", relative: "Vendor\\App",
                disposition: 1, at: at(3)),
            deleteKey(pid: 100, key: 0xFFFF_D000_0000_0002, name: "\\REGISTRY\\USER\\S-1-5-21-1-2-3-1001\\Software\\X", at: at(3)),
            setValue(
                pid: 100, key: 0xFFFF_D000_0000_0003, keyName: "\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
                value: "Updater", type: 1, data: utf16z("C:\\Users\\Public\\u.exe"), at: at(3)),
            deleteValue(pid: 100, key: 0xFFFF_D000_0000_0004, keyName: "\\REGISTRY\\MACHINE\\SOFTWARE\\X", value: "V", at: at(3)),
            dnsQuery(pid: 100, name: "example.org", at: at(3)),
            dnsCompleted(pid: 100, name: "example.org", status: 0, results: "::ffff:93.184.216.34;", at: at(3)),
            scriptBlock(pid: 100, text: "Write-Host hi", id: "0b4a8c3e-6e64-4c59-9d0c-1b2f5a4c7d11", path: "C:\\s.ps1", at: at(3))
        ]
    }
}

func utf16z(_ s: String) -> [UInt8] {
    var b: [UInt8] = []
    for u in s.utf16 { b.appendLE(u) }
    b.appendLE(UInt16(0))
    return b
}

/// Text IPv6 → 16 bytes (tests only; full or "::"-compressed forms).
func ipv6(_ s: String) -> [UInt8] {
    let halves = s.components(separatedBy: "::")
    func groups(_ t: String) -> [UInt16] { t.isEmpty ? [] : t.split(separator: ":").map { UInt16($0, radix: 16)! } }
    let head = groups(halves[0]), tail = halves.count > 1 ? groups(halves[1]) : []
    let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
    return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
}
