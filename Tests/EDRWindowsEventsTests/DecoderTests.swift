import EDRCore
@testable import EDRWindowsEvents
import Testing

/// Field values of an event as strings, for compact assertions.
func fields(_ e: Event) -> [String: String] {
    var out: [String: String] = [:]
    for (n, v) in e.fields { out[n] = v.stringValue ?? "\(v)" }
    return out
}

let vol = "\\Device\\HarddiskVolume3"

func decoder() -> WindowsEventDecoder {
    var d = WindowsEventDecoder()
    d.deviceMap = [vol: "C:"]
    return d
}

@Suite("ETW record")
struct ETWRecordTests {
    @Test func headerRoundTripsAtTheDocumentedOffsets() throws {
        let r = ETWRecord(
            providerID: WindowsProvider.kernelProcess, eventID: 0x0105, version: 3, opcode: 1, level: 4, channel: 16,
            task: 0x0102, keyword: 0x8000_0000_0000_0010, processID: 0x1122_3344, threadID: 0x5566_7788,
            timestamp: 0x01DA_0000_1234_5678, flags: 0x0240, userData: [0xAA, 0xBB, 0xCC])
        let p = r.encoded()
        #expect(p.count == 59)
        // The provider GUID in Windows' memory order: Data1..3 little-endian, Data4 as is.
        #expect(Array(p[0..<16]) == [0xD6, 0x2C, 0xFB, 0x22, 0x7B, 0x0E, 0x2B, 0x42, 0xA0, 0xC7, 0x2F, 0xAD, 0x1F, 0xD0, 0xE7, 0x16])
        #expect(Array(p[16..<24]) == [0x05, 0x01, 3, 1, 4, 16, 0x02, 0x01])
        #expect(p.readLE(UInt64.self, at: 24) == 0x8000_0000_0000_0010)
        #expect(p.readLE(UInt32.self, at: 32) == 0x1122_3344 && p.readLE(UInt32.self, at: 36) == 0x5566_7788)
        #expect(p.readLE(UInt64.self, at: 40) == 0x01DA_0000_1234_5678)
        #expect(p.readLE(UInt16.self, at: 48) == 0x0240 && p.readLE(UInt16.self, at: 50) == 3)
        #expect(p.readLE(UInt32.self, at: 52) == 0 && Array(p[56...]) == [0xAA, 0xBB, 0xCC])
        let back = try ETWRecord(payload: p)
        #expect(back.providerID == WindowsProvider.kernelProcess && back.eventID == 0x0105 && back.version == 3)
        #expect(back.opcode == 1 && back.level == 4 && back.channel == 16 && back.task == 0x0102)
        #expect(back.keyword == 0x8000_0000_0000_0010 && back.processID == 0x1122_3344 && back.threadID == 0x5566_7788)
        #expect(back.timestamp == 0x01DA_0000_1234_5678 && back.flags == 0x0240 && back.userData == [0xAA, 0xBB, 0xCC])
        #expect(back.pointerSize == 8)
        var small = back
        small.flags = 0x20
        #expect(small.pointerSize == 4)
    }

    @Test func guidTextAndName() {
        #expect(WindowsProvider.kernelProcess.description == "{22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716}")
        #expect(WindowsGUID("{edd08927-9cc4-4e65-b970-c2560fb5c289}") == WindowsProvider.kernelFile)
        #expect(WindowsGUID("7DD42A49-5329-4832-8DFD-43D979153A88") == WindowsProvider.kernelNetwork)
        #expect(WindowsGUID("{70EB4F03-C1DE-4F73-A051-33D13D5413BD}") == WindowsProvider.kernelRegistry)
        #expect(WindowsGUID("{1C95126E-7EEA-49A9-A3FE-A378B03DDB4D}") == WindowsProvider.dnsClient)
        #expect(WindowsGUID("{A0C1853B-5C40-4B15-8766-3CF1C58F985A}") == WindowsProvider.powerShell)
        #expect(WindowsGUID("{A0C1853B-5C40-4B15-8766-3CF1C58F98}") == nil)
        #expect(WindowsGUID("{A0C1853B-5C40-4B15-8766-3CF1C58F98ZZ}") == nil)
    }

    @Test func headerErrorsNameTheField() {
        let p = Fixtures.scriptBlock(pid: 1, text: "x", id: "i", path: "", at: at(0)).record.encoded()
        for n in 0..<ETWRecordLayout.headerSize {
            #expect(throws: ETWDecodeError.self) { try ETWRecord(payload: Array(p[0..<n])) }
        }
        do { _ = try ETWRecord(payload: Array(p[0..<30])); Issue.record("decoded a cut header") } catch {
            #expect(error.description == "header: Keyword at offset 30: record is 30 bytes, the header alone is 56")
        }
        // A whole header whose length disagrees with what follows.
        do { _ = try ETWRecord(payload: Array(p.dropLast())); Issue.record("decoded a short record") } catch {
            #expect(error.field == "UserDataLength" && error.offset == 50)
        }
        var bad = p
        bad[53] = 1
        do { _ = try ETWRecord(payload: bad); Issue.record("reserved accepted") } catch {
            #expect(error.field == "reserved" && error.offset == 52)
        }
    }

    @Test func filetimeAndAddresses() throws {
        #expect(FileTime.unixSeconds(116_444_736_000_000_000) == 0)
        #expect(FileTime.unixSeconds(t0) == 1_714_564_800)
        #expect(FileTime.unixSeconds(116_444_736_000_000_000 + 15_000_000) == 1.5)
        #expect(NetAddress.ipv6(ipv6("2001:db8::10")) == "2001:db8::10")
        #expect(NetAddress.ipv6(ipv6("fe80::1")) == "fe80::1")
        #expect(NetAddress.ipv6(ipv6("::")) == "::")
        #expect(NetAddress.ipv6(ipv6("1:0:0:2:0:0:0:3")) == "1:0:0:2::3")
        #expect(NetAddress.ipv6(ipv6("::ffff:c000:0201")) == "::ffff:192.0.2.1")
        var r = UserDataReader([2, 0, 0x01, 0xBB, 192, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0, 0], pointerSize: 8)
        #expect(try r.sockaddr("sa", length: 16) == ("192.0.2.7", 443))
        var six: [UInt8] = [23, 0, 0x00, 0x50, 0, 0, 0, 0] + ipv6("2001:db8::1") + [0, 0, 0, 0]
        var r6 = UserDataReader(six, pointerSize: 8)
        #expect(try r6.sockaddr("sa", length: 28) == ("2001:db8::1", 80))
        six[0] = 99
        var bad = UserDataReader(six, pointerSize: 8)
        #expect(
            throws: ETWDecodeError(
                part: "user data", field: "sa", offset: 0,
                reason: "address family 99, expected 2 (AF_INET) or 23 (AF_INET6)")
        ) {
            try bad.sockaddr("sa", length: 28)
        }
    }

    @Test func sidsAndStrings() throws {
        var b = UserDataBuilder()
        b.sid("S", at: 0, "S-1-5-21-1004336348-1177238915-682003330-512")
        b.sid("L", at: nil, "S-1-16-8192")
        b.utf16z("U", at: nil, "C:\\Ünïcødé\\😀.txt")
        b.ansiz("A", at: nil, "cmd.exe")
        var r = UserDataReader(b.bytes, pointerSize: 8)
        #expect(try r.sid("S") == "S-1-5-21-1004336348-1177238915-682003330-512")
        #expect(try r.sid("L") == "S-1-16-8192")
        #expect(try r.utf16z("U") == "C:\\Ünïcødé\\😀.txt")
        #expect(try r.ansiz("A") == "cmd.exe")
        #expect(r.remaining == 0)
        var noTerm = UserDataReader([0x41, 0, 0x42, 0], pointerSize: 8)
        #expect(throws: ETWDecodeError(part: "user data", field: "ImageName", offset: 0, reason: "no UTF-16 terminator")) {
            try noTerm.utf16z("ImageName")
        }
        var badSid = UserDataReader([2, 1, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0], pointerSize: 8)
        #expect(throws: ETWDecodeError.self) { try badSid.sid("Sid") }
    }
}

@Suite("Windows event decoder")
struct DecoderTests {
    @Test func processStartStopAndImageLoad() throws {
        var d = decoder()
        let explorer = try d.decode(
            Fixtures.processStartV3(
                pid: 700, ppid: 600, created: at(0), image: vol + "\\Windows\\explorer.exe",
                label: "S-1-16-8192"
            ).record)
        #expect(explorer.count == 1)
        let cmd = try d.decode(
            Fixtures.processStartV3(
                pid: 1234, ppid: 700, created: at(1),
                image: vol + "\\Windows\\System32\\cmd.exe", session: 2
            ).record)
        let e = try #require(cmd.first)
        #expect(e.logsource == LogSource(product: "windows", category: "process_creation"))
        #expect(e.timestamp == 1_714_564_801)
        #expect(
            fields(e) == [
                "ProcessId": "1234", "Image": "C:\\Windows\\System32\\cmd.exe", "TerminalSessionId": "2",
                "IntegrityLevel": "High", "ParentProcessId": "700", "ParentImage": "C:\\Windows\\explorer.exe"
            ])
        // The manifest carries no command line, user or working directory: absent, not invented.
        #expect(e["CommandLine"] == nil && e["User"] == nil && e["CurrentDirectory"] == nil)

        let load = try d.decode(Fixtures.imageLoad(pid: 1234, image: vol + "\\Windows\\System32\\amsi.dll", at: at(2)).record)
        #expect(load.count == 1)
        #expect(load[0].logsource.category == "image_load")
        #expect(
            fields(load[0]) == [
                "ProcessId": "1234", "Image": "C:\\Windows\\System32\\cmd.exe",
                "ImageLoaded": "C:\\Windows\\System32\\amsi.dll"
            ])
        // The 32-bit layout: pointers are 4 bytes, so ProcessID sits at offset 8, not 16.
        let load32 = try d.decode(Fixtures.imageLoad(pid: 1234, image: vol + "\\Windows\\SysWOW64\\x.dll", at: at(2), pointerSize: 4).record)
        #expect(fields(load32[0])["ImageLoaded"] == "C:\\Windows\\SysWOW64\\x.dll" && fields(load32[0])["ProcessId"] == "1234")

        let stop = try d.decode(Fixtures.processStopV2(pid: 1234, created: at(1), exited: at(9), name: "cmd.exe", code: 3).record)
        #expect(stop[0].logsource.category == "process_termination")
        #expect(fields(stop[0]) == ["ProcessId": "1234", "Image": "C:\\Windows\\System32\\cmd.exe", "ExitCode": "3"])
        #expect(d.processes.process(pid: 1234, createTime: at(1))?.exitTime == at(9))

        let v0 = try d.decode(Fixtures.processStartV0(pid: 55, ppid: 1234, created: at(3), image: vol + "\\t\\old.exe").record)
        #expect(
            fields(v0[0]) == [
                "ProcessId": "55", "Image": "C:\\t\\old.exe", "TerminalSessionId": "0", "ParentProcessId": "1234",
                "ParentImage": "C:\\Windows\\System32\\cmd.exe"
            ])
        #expect(d.counters == .init(decoded: 6, events: 6, unknown: 0, malformed: 0, filtered: 0))
    }

    @Test func olderVersionsAndRundowns() throws {
        var d = decoder()
        // Rundowns describe processes running when tracing began: cached, no event.
        #expect(
            try d.decode(
                Fixtures.processStartV1V2(
                    version: 2, pid: 20, ppid: 4, created: at(-100), image: vol + "\\Windows\\explorer.exe",
                    rundown: true
                ).record
            ).isEmpty)
        #expect(try d.decode(Fixtures.rundownV1(pid: 21, ppid: 4, created: at(-100), image: vol + "\\Windows\\System32\\lsass.exe").record).isEmpty)
        #expect(d.processes.process(pid: 21, createTime: at(-100))?.integrityLevel == "System")
        let v1 = try d.decode(Fixtures.processStartV1V2(version: 1, pid: 30, ppid: 20, created: at(1), image: vol + "\\t\\one.exe").record)
        #expect(
            fields(v1[0]) == [
                "ProcessId": "30", "Image": "C:\\t\\one.exe", "TerminalSessionId": "1", "ParentProcessId": "20",
                "ParentImage": "C:\\Windows\\explorer.exe"
            ])
        let v2 = try d.decode(Fixtures.processStartV1V2(version: 2, pid: 31, ppid: 21, created: at(2), image: vol + "\\t\\two.exe").record)
        #expect(
            fields(v2[0]) == [
                "ProcessId": "31", "Image": "C:\\t\\two.exe", "TerminalSessionId": "1", "ParentProcessId": "21",
                "ParentImage": "C:\\Windows\\System32\\lsass.exe"
            ])
        let s0 = try d.decode(Fixtures.processStopV0V1(version: 0, pid: 30, created: at(1), exited: at(3), name: "one.exe").record)
        #expect(fields(s0[0]) == ["ProcessId": "30", "Image": "C:\\t\\one.exe", "ExitCode": "1"])
        // A stop whose start was never seen: the stop's own short ANSI name.
        let s1 = try d.decode(Fixtures.processStopV0V1(version: 1, pid: 99, created: at(1), exited: at(3), name: "ghost.exe").record)
        #expect(fields(s1[0]) == ["ProcessId": "99", "Image": "ghost.exe", "ExitCode": "1"])
        let dv = try d.decode(
            Fixtures.deleteValue(
                pid: 31, key: 1, keyName: "\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
                value: "Updater", at: at(4)
            ).record)
        #expect(dv.map(\.logsource.category) == ["registry_delete", "registry_event"])
        #expect(
            fields(dv[0]) == [
                "EventType": "DeleteValue", "ProcessId": "31", "Image": "C:\\t\\two.exe",
                "TargetObject": "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater"
            ])
    }

    @Test func pidReuseNeverMixesTwoProcesses() throws {
        var d = decoder()
        _ = try d.decode(Fixtures.processStartV3(pid: 4000, ppid: 4, created: at(0), image: vol + "\\Windows\\System32\\winword.exe").record)
        let child1 = try d.decode(Fixtures.processStartV3(pid: 4100, ppid: 4000, created: at(1), image: vol + "\\t\\a.exe").record)
        #expect(fields(child1[0])["ParentImage"] == "C:\\Windows\\System32\\winword.exe")
        _ = try d.decode(Fixtures.processStopV2(pid: 4000, created: at(0), exited: at(2), name: "WINWORD.EXE").record)
        // Pid 4000 comes back as another program.
        _ = try d.decode(Fixtures.processStartV3(pid: 4000, ppid: 4, created: at(3), image: vol + "\\Windows\\notepad.exe").record)
        // An event of the old process, delivered late (stamped before its exit) keeps the old image…
        let late = try d.decode(Fixtures.imageLoad(pid: 4000, image: vol + "\\x.dll", at: at(1.5)).record)
        #expect(fields(late[0])["Image"] == "C:\\Windows\\System32\\winword.exe")
        // …an event after the reuse gets the new one…
        let now = try d.decode(Fixtures.imageLoad(pid: 4000, image: vol + "\\y.dll", at: at(4)).record)
        #expect(fields(now[0])["Image"] == "C:\\Windows\\notepad.exe")
        // …an event between the exit and the reuse belongs to neither…
        let gap = try d.decode(Fixtures.imageLoad(pid: 4000, image: vol + "\\z.dll", at: at(2.5)).record)
        #expect(fields(gap[0])["Image"] == nil)
        // …and the first child's parent is still the first process, not the pid's new owner.
        let first = try #require(d.processes.process(pid: 4100, createTime: at(1)))
        #expect(d.processes.parent(of: first)?.image == "C:\\Windows\\System32\\winword.exe")
        let child2 = try d.decode(Fixtures.processStartV3(pid: 4200, ppid: 4000, created: at(5), image: vol + "\\t\\b.exe").record)
        #expect(fields(child2[0])["ParentImage"] == "C:\\Windows\\notepad.exe")
        // Before any process with the pid existed: nothing.
        #expect(d.processes.lookup(pid: 4000, at: at(-1)) == nil)
    }

    @Test func cacheForgetsEndedProcessesAndStaysBounded() {
        var c = WindowsProcessCache()
        c.maxEntries = 8
        for i in 0..<6 { c.start(WindowsProcess(pid: UInt32(10 + i), createTime: at(Double(i)), parentPid: 4, image: "p\(i)")) }
        _ = c.stop(pid: 10, createTime: at(0), exitTime: at(10))
        _ = c.stop(pid: 11, createTime: at(1), exitTime: at(10))
        // Within the retention a late event still finds an ended process; after it, gone.
        #expect(c.lookup(pid: 10, at: at(9))?.image == "p0")
        _ = c.stop(pid: 12, createTime: at(2), exitTime: at(100))
        #expect(c.process(pid: 10, createTime: at(0)) == nil && c.process(pid: 11, createTime: at(1)) == nil)
        #expect(c.process(pid: 12, createTime: at(2))?.exitTime == at(100) && c.count == 4)
        // Full: the ended one goes first, then the oldest running ones, down to 3/4.
        for i in 0..<5 { c.start(WindowsProcess(pid: UInt32(20 + i), createTime: at(200 + Double(i)), parentPid: 4, image: "q\(i)")) }
        #expect(c.count <= 8)
        #expect(c.process(pid: 12, createTime: at(2)) == nil, "the ended process went first")
        #expect(c.process(pid: 24, createTime: at(204))?.image == "q4", "the newest stays")
    }

    @Test func fileEvents() throws {
        var d = decoder()
        _ = try d.decode(Fixtures.processStartV3(pid: 300, ppid: 4, created: at(0), image: vol + "\\Windows\\System32\\dns.exe").record)
        let obj: UInt64 = 0xFFFF_B000_0000_0010
        let open = try d.decode(Fixtures.fileCreate(pid: 300, object: obj, name: vol + "\\t\\r.txt", disposition: 1, at: at(1)).record)
        #expect(open.isEmpty, "a plain open is no file_event")
        let overwrite = try d.decode(Fixtures.fileCreate(pid: 300, object: obj + 1, name: vol + "\\t\\o.txt", disposition: 5, at: at(1)).record)
        #expect(overwrite[0].logsource.category == "file_event")
        #expect(fields(overwrite[0]) == ["ProcessId": "300", "Image": "C:\\Windows\\System32\\dns.exe", "TargetFilename": "C:\\t\\o.txt"])
        let new = try d.decode(
            Fixtures.fileCreate(
                pid: 300, object: obj + 2, name: vol + "\\t\\n.kirbi", disposition: 3, at: at(1),
                newFile: true
            ).record)
        #expect(fields(new[0])["TargetFilename"] == "C:\\t\\n.kirbi")
        // The first write to an open file is a file_change named from its Create; later ones are not repeated.
        // The v0 layout, 32- and 64-bit: ThreadId pointer before FileObject.
        for p in [4, 8] {
            let v0 = try d.decode(
                Fixtures.fileCreateV0(
                    pid: 300, object: 0x40 + UInt64(p), name: vol + "\\t\\v0-\(p).txt", disposition: 0,
                    at: at(1), pointerSize: p
                ).record)
            #expect(fields(v0[0]) == ["ProcessId": "300", "Image": "C:\\Windows\\System32\\dns.exe", "TargetFilename": "C:\\t\\v0-\(p).txt"])
        }
        let w1 = try d.decode(Fixtures.fileWrite(pid: 300, object: obj, key: 9, at: at(2)).record)
        #expect(w1.count == 1 && w1[0].logsource.category == "file_change")
        #expect(fields(w1[0]) == ["ProcessId": "300", "Image": "C:\\Windows\\System32\\dns.exe", "TargetFilename": "C:\\t\\r.txt"])
        #expect(try d.decode(Fixtures.fileWrite(pid: 300, object: obj, key: 9, at: at(2)).record).isEmpty)
        #expect(try d.decode(Fixtures.fileWrite(pid: 300, object: 0xDEAD, key: 0xBEEF, at: at(2)).record).isEmpty, "unknown object")
        let del = try d.decode(Fixtures.filePath(26, pid: 300, object: 7, path: vol + "\\Windows\\Prefetch\\X.EXE-1234.pf", at: at(3)).record)
        #expect(del[0].logsource.category == "file_delete")
        #expect(
            fields(del[0]) == [
                "ProcessId": "300", "Image": "C:\\Windows\\System32\\dns.exe",
                "TargetFilename": "C:\\Windows\\Prefetch\\X.EXE-1234.pf"
            ])
        let ren = try d.decode(Fixtures.filePath(27, pid: 300, object: obj, path: vol + "\\t\\r.txt.locked", at: at(3)).record)
        #expect(ren[0].logsource.category == "file_rename")
        #expect(
            fields(ren[0]) == [
                "ProcessId": "300", "Image": "C:\\Windows\\System32\\dns.exe", "SourceFilename": "C:\\t\\r.txt",
                "TargetFilename": "C:\\t\\r.txt.locked"
            ])
    }

    @Test func networkEvents() throws {
        var d = decoder()
        _ = try d.decode(Fixtures.processStartV3(pid: 500, ppid: 4, created: at(0), image: vol + "\\Windows\\System32\\certutil.exe").record)
        let out = try d.decode(
            Fixtures.tcpV4(
                12, pid: 500, local: [10, 0, 0, 5], localPort: 50123, remote: [93, 184, 216, 34],
                remotePort: 443, at: at(1)
            ).record)
        #expect(out[0].logsource.category == "network_connection")
        #expect(
            fields(out[0]) == [
                "ProcessId": "500", "Image": "C:\\Windows\\System32\\certutil.exe", "Protocol": "tcp",
                "Initiated": "true", "SourceIsIpv6": "false", "SourceIp": "10.0.0.5", "SourcePort": "50123",
                "DestinationIsIpv6": "false", "DestinationIp": "93.184.216.34", "DestinationPort": "443"
            ])
        let inbound = try d.decode(
            Fixtures.tcpV6(
                31, pid: 500, local: ipv6("2001:db8::5"), localPort: 3389,
                remote: ipv6("2001:db8:1::77"), remotePort: 61000, at: at(1)
            ).record)
        #expect(
            fields(inbound[0]) == [
                "ProcessId": "500", "Image": "C:\\Windows\\System32\\certutil.exe", "Protocol": "tcp",
                "Initiated": "false", "SourceIsIpv6": "true", "SourceIp": "2001:db8:1::77",
                "SourcePort": "61000", "DestinationIsIpv6": "true", "DestinationIp": "2001:db8::5",
                "DestinationPort": "3389"
            ])
        let udp6 = try d.decode(
            Fixtures.udpV6(
                59, pid: 500, local: ipv6("2001:db8::5"), localPort: 5353, remote: ipv6("2001:db8::9"),
                remotePort: 40000, at: at(1)
            ).record)
        #expect(
            fields(udp6[0]) == [
                "ProcessId": "500", "Image": "C:\\Windows\\System32\\certutil.exe", "Protocol": "udp",
                "Initiated": "false", "SourceIsIpv6": "true", "SourceIp": "2001:db8::9", "SourcePort": "40000",
                "DestinationIsIpv6": "true", "DestinationIp": "2001:db8::5", "DestinationPort": "5353"
            ])
        let udp = Fixtures.udpV4(42, pid: 500, local: [10, 0, 0, 5], localPort: 53000, remote: [8, 8, 8, 8], remotePort: 53, at: at(1))
        let u1 = try d.decode(udp.record)
        #expect(fields(u1[0])["Protocol"] == "udp" && fields(u1[0])["DestinationPort"] == "53" && fields(u1[0])["Initiated"] == "true")
        // The same flow's next datagrams within a minute are not reported again; after it, once more.
        #expect(try d.decode(udp.record).isEmpty)
        var later = udp.record
        later.timestamp = at(62)
        #expect(try d.decode(later).count == 1)
    }

    @Test func registryEvents() throws {
        var d = decoder()
        _ = try d.decode(Fixtures.processStartV3(pid: 800, ppid: 4, created: at(0), image: vol + "\\Windows\\regedit.exe").record)
        let add = try d.decode(
            Fixtures.createKey(
                pid: 800, key: 0xA1, base: "\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft",
                relative: "Windows\\CurrentVersion\\Explorer\\VolumeCaches\\Evil", disposition: 1,
                at: at(1)
            ).record)
        #expect(add.map(\.logsource.category) == ["registry_add", "registry_event"])
        #expect(
            fields(add[0]) == [
                "EventType": "CreateKey", "ProcessId": "800", "Image": "C:\\Windows\\regedit.exe",
                "TargetObject": "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Explorer\\VolumeCaches\\Evil"
            ])
        #expect(fields(add[1]) == fields(add[0]))
        // Opening an existing key, or a failed call, reports nothing but names the key object.
        #expect(
            try d.decode(
                Fixtures.createKey(
                    pid: 800, key: 0xA2, base: "", relative: "\\REGISTRY\\USER\\S-1-5-21-1-2-3-1001\\Software\\Run",
                    disposition: 2, id: 2, at: at(1)
                ).record
            ).isEmpty)
        #expect(
            try d.decode(
                Fixtures.createKey(
                    pid: 800, key: 0xA3, base: "", relative: "\\REGISTRY\\MACHINE\\X", disposition: 1,
                    status: 0xC000_0022, at: at(1)
                ).record
            ).isEmpty)
        // A set on a key named only by its object: the name it was opened under.
        let set = try d.decode(
            Fixtures.setValue(
                pid: 800, key: 0xA2, keyName: "", value: "Updater", type: 4, data: [0, 0, 0, 0],
                at: at(2)
            ).record)
        #expect(set.map(\.logsource.category) == ["registry_set", "registry_event"])
        #expect(
            fields(set[0]) == [
                "EventType": "SetValue", "ProcessId": "800", "Image": "C:\\Windows\\regedit.exe",
                "TargetObject": "HKU\\S-1-5-21-1-2-3-1001\\Software\\Run\\Updater", "Details": "DWORD (0x00000000)",
                "ValueType": "REG_DWORD"
            ])
        let str = try d.decode(
            Fixtures.setValue(
                pid: 800, key: 0xB0, keyName: "\\REGISTRY\\MACHINE\\SOFTWARE\\Run", value: "",
                type: 2, data: utf16z("%TEMP%\\x.exe"), at: at(2)
            ).record)
        #expect(fields(str[0])["TargetObject"] == "HKLM\\SOFTWARE\\Run\\(Default)" && fields(str[0])["Details"] == "%TEMP%\\x.exe")
        // A string's type, which the Details text no longer tells, for ECS registry.data.type.
        #expect(fields(str[0])["ValueType"] == "REG_EXPAND_SZ")
        let del = try d.decode(
            Fixtures.deleteKey(
                pid: 800, key: 0xA4, name: "\\REGISTRY\\MACHINE\\SOFTWARE\\Classes\\CLSID\\{X}",
                at: at(3)
            ).record)
        #expect(del.map(\.logsource.category) == ["registry_delete", "registry_event"])
        #expect(
            fields(del[0]) == [
                "EventType": "DeleteKey", "ProcessId": "800", "Image": "C:\\Windows\\regedit.exe",
                "TargetObject": "HKLM\\SOFTWARE\\Classes\\CLSID\\{X}"
            ])
        #expect(WindowsEventDecoder.registryPath("\\REGISTRY\\MACHINEX\\Y") == "\\REGISTRY\\MACHINEX\\Y")
        #expect(WindowsEventDecoder.registryPath("\\Registry\\Machine") == "HKLM")
        #expect(WindowsEventDecoder.registryDetails(type: 11, size: 8, data: [2, 0, 0, 0, 1, 0, 0, 0]) == "QWORD (0x00000001-0x00000002)")
        #expect(WindowsEventDecoder.registryDetails(type: 3, size: 2, data: [1, 2]) == "Binary Data")
        #expect(WindowsEventDecoder.registryDetails(type: 7, size: 8, data: utf16z("a") + utf16z("b") + [0, 0]) == "a b")
    }

    @Test func dnsAndPowerShell() throws {
        var d = decoder()
        _ = try d.decode(Fixtures.processStartV3(pid: 900, ppid: 4, created: at(0), image: vol + "\\t\\tor.exe").record)
        #expect(try d.decode(Fixtures.dnsQuery(pid: 900, name: "abcdefgh.onion", at: at(1)).record).isEmpty)
        // The completion reported by another process (the DNS cache service) names the asker.
        let done = try d.decode(Fixtures.dnsCompleted(pid: 1500, name: "abcdefgh.onion", status: 9003, results: "", at: at(2)).record)
        #expect(done[0].logsource.category == "dns_query")
        #expect(
            fields(done[0]) == [
                "ProcessId": "900", "Image": "C:\\t\\tor.exe", "QueryName": "abcdefgh.onion",
                "QueryStatus": "9003", "QueryResults": ""
            ])
        let ok = try d.decode(
            Fixtures.dnsCompleted(
                pid: 900, name: "example.org", status: 0,
                results: "type:  5 edge.example.net;::ffff:93.184.216.34;", at: at(3)
            ).record)
        #expect(fields(ok[0])["QueryResults"] == "type:  5 edge.example.net;::ffff:93.184.216.34;")
        let ps = try d.decode(
            Fixtures.scriptBlock(
                pid: 900, text: "Invoke-Expression $x", id: "0b4a8c3e-6e64-4c59-9d0c-1b2f5a4c7d11",
                path: "C:\\t\\a.ps1", at: at(4)
            ).record)
        #expect(ps[0].logsource == LogSource(product: "windows", category: "ps_script"))
        #expect(
            fields(ps[0]) == [
                "MessageNumber": "1", "MessageTotal": "1", "ScriptBlockText": "Invoke-Expression $x",
                "ScriptBlockId": "0b4a8c3e-6e64-4c59-9d0c-1b2f5a4c7d11", "Path": "C:\\t\\a.ps1",
                "ProcessId": "900", "Image": "C:\\t\\tor.exe"
            ])
    }

    @Test func unknownEventsAreCountedAndSkipped() throws {
        var d = decoder()
        let other = ETWRecord(
            providerID: WindowsGUID("{11111111-2222-3333-4444-555555555555}")!, eventID: 1, version: 0, processID: 1,
            timestamp: at(0), userData: [1, 2, 3])
        #expect(try d.decode(payload: other.encoded()).isEmpty)
        var newer = Fixtures.processStartV3(pid: 1, ppid: 2, created: at(0), image: "x").record
        newer.version = 9
        #expect(try d.decode(payload: newer.encoded()).isEmpty)
        var thread = newer
        thread.eventID = 3
        thread.version = 0
        #expect(try d.decode(payload: thread.encoded()).isEmpty)
        #expect(d.counters.unknown == 3 && d.counters.malformed == 0 && d.counters.decoded == 0)
        #expect(throws: ETWDecodeError.self) { try d.decode(payload: [1, 2, 3]) }
        #expect(d.counters.malformed == 1)
    }

    /// Every cut of every fixture: the whole payload cut anywhere in the header names a header
    /// field; the user data cut anywhere (UserDataLength adjusted, as a provider writing
    /// less would) throws an error naming the field the cut falls in, at that field's offset.
    @Test(arguments: Fixtures.all.indices)
    func everyTruncationIsANamedError(_ i: Int) throws {
        let f = Fixtures.all[i]
        var d = decoder()
        // Whole, it decodes (a write or a query start may report nothing on its own).
        _ = try d.decode(f.record)
        #expect(d.counters.decoded == 1, "\(f.name) decodes whole")
        let payload = f.record.encoded()
        for n in 0..<payload.count {
            var d = decoder()
            do {
                _ = try d.decode(payload: Array(payload[0..<n]))
                Issue.record("\(f.name): a payload cut at \(n) decoded")
            } catch {
                #expect(error.part == "header", "\(f.name) cut at \(n): \(error)")
            }
        }
        for n in 0..<f.record.userData.count {
            var cut = f.record
            cut.userData = Array(cut.userData[0..<n])
            var d = decoder()
            do {
                _ = try d.decode(payload: cut.encoded())
                Issue.record("\(f.name): user data cut at \(n) decoded")
            } catch {
                let field = try #require(f.layout.field(containing: n))
                #expect(
                    error.part == "user data" && error.field == field.name && error.offset == field.start,
                    "\(f.name) cut at \(n) is inside \(field.name)@\(field.start): \(error)")
            }
            #expect(d.counters.malformed == 1)
        }
    }
}

/// Deterministic generator for the mutation sweep (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Windows event decoder, mutated input")
struct DecoderMutationTests {
    /// Bytes flipped, set to edge values, sizes and counts rewritten, data appended: each
    /// mutated record decodes or throws a decode error; nothing traps. One decoder sees all
    /// of them, so the caches it keeps across records are exercised too.
    @Test(arguments: Fixtures.all.indices)
    func mutatedRecordsNeverTrap(_ i: Int) {
        let f = Fixtures.all[i]
        var rng = SplitMix(state: UInt64(i) &* 0x1234_5678_9ABC)
        var d = decoder()
        var thrown = 0, decoded = 0
        for _ in 0..<3000 {
            var data = f.record.userData
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0..<5, using: &rng) {
                case 0 where !data.isEmpty: data[Int.random(in: 0..<data.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                case 1 where !data.isEmpty: data[Int.random(in: 0..<data.count, using: &rng)] = [0, 0xFF, 0x7F, 0x80, 1].randomElement(using: &rng)!
                case 2 where !data.isEmpty: data.removeLast(Int.random(in: 0...min(8, data.count), using: &rng))
                case 3: data.append(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
                default:
                    // A field rewritten whole (sizes, counts, SID sub-authority counts…).
                    if let field = f.layout.fields.randomElement(using: &rng), field.end <= data.count {
                        for o in field.start..<field.end { data[o] = [0, 0xFF].randomElement(using: &rng)! }
                    }
                }
            }
            var r = f.record
            r.userData = data
            r.flags = Bool.random(using: &rng) ? r.flags : r.flags ^ 0x20
            do {
                _ = try d.decode(payload: r.encoded())
                decoded += 1
            } catch {
                #expect(!error.field.isEmpty && error.offset >= 0 && error.offset <= data.count)
                thrown += 1
            }
        }
        #expect(thrown + decoded == 3000)
        #expect(d.counters.malformed == UInt64(thrown))
    }
}
