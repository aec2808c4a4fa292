import EDRCore
import EDRDetect
import EDRSigma
@testable import EDRWindowsEvents
import Foundation
import Testing

/// ../shared/corpora relative to the repository root (found from this file's path).
func corpusRoot() -> String {
    var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    for _ in 0..<3 { url.deleteLastPathComponent() }  // file → EDRWindowsEventsTests → Tests → repo
    return url.deletingLastPathComponent().appendingPathComponent("shared/corpora").path
}

/// SigmaHQ's Windows rules, as a Windows detector loads them (logsources it does not
/// collect inert). Loaded once for every test here.
let windowsRules: SigmaEngine? = {
    let dir = corpusRoot() + "/sigmahq/rules/windows"
    guard FileManager.default.fileExists(atPath: dir) else { return nil }
    return try? SigmaEngine.load(paths: [dir], options: SigmaOptions(collectedLogSources: DetectorLogSources.windows))
}()

/// A scenario: records that set the scene (process starts, opens), then the record that
/// does the thing, and the same thing done harmlessly.
struct RuleCase: CustomTestStringConvertible, Sendable {
    var id: String
    var title: String
    var category: String
    var setup: [Fixture]
    var malicious: Fixture
    var benign: Fixture
    var testDescription: String { "\(category): \(title)" }
}

let hklm = "\\REGISTRY\\MACHINE"
let hku = "\\REGISTRY\\USER\\S-1-5-21-1004336348-1177238915-682003330-1001"

func start(_ pid: UInt32, _ ppid: UInt32, _ image: String, _ s: Double = 0) -> Fixture {
    Fixtures.processStartV3(pid: pid, ppid: ppid, created: at(s), image: vol + image)
}

let ruleCases: [RuleCase] = [
    RuleCase(
        id: "be344333-921d-4c4d-8bb8-e584cf584780", title: "Potentially Suspicious Event Viewer Child Process",
        category: "process_creation", setup: [start(100, 4, "\\Windows\\System32\\eventvwr.exe")],
        malicious: start(101, 100, "\\Windows\\System32\\cmd.exe", 1),
        benign: start(102, 100, "\\Windows\\System32\\mmc.exe", 1)),
    RuleCase(
        id: "7be5fb68-f9ef-476d-8b51-0256ebece19e", title: "Suspicious Execution of Hostname",
        category: "process_creation", setup: [],
        malicious: start(110, 4, "\\Windows\\System32\\HOSTNAME.EXE"),
        benign: start(111, 4, "\\Windows\\System32\\whoami.exe")),
    RuleCase(
        id: "ec8c4047-fad9-416a-8c81-0f479353d7f6", title: "Diagnostic Library Sdiageng.DLL Loaded By Msdt.EXE",
        category: "image_load", setup: [start(120, 4, "\\Windows\\System32\\msdt.exe"), start(121, 4, "\\Windows\\System32\\rundll32.exe")],
        malicious: Fixtures.imageLoad(pid: 120, image: vol + "\\Windows\\System32\\sdiageng.dll", at: at(1)),
        benign: Fixtures.imageLoad(pid: 121, image: vol + "\\Windows\\System32\\sdiageng.dll", at: at(1))),
    RuleCase(
        id: "37774c23-25a1-4adb-bb6d-8bb9fd59c0f8", title: "Suspicious Volume Shadow Copy Vssapi.dll Load",
        category: "image_load",
        setup: [start(130, 4, "\\Users\\Public\\stealer.exe"), start(131, 4, "\\Windows\\System32\\vssadmin.exe")],
        malicious: Fixtures.imageLoad(pid: 130, image: vol + "\\Windows\\System32\\vssapi.dll", at: at(1)),
        // Filtered by `Image|startswith: 'C:\Windows\System32\'`: the device path became C:.
        benign: Fixtures.imageLoad(pid: 131, image: vol + "\\Windows\\System32\\vssapi.dll", at: at(1))),
    RuleCase(
        id: "9e099d99-44c2-42b6-a6d8-54c3545cab29", title: "HackTool - Mimikatz Kirbi File Creation",
        category: "file_event", setup: [start(140, 4, "\\Users\\Public\\m.exe")],
        malicious: Fixtures.fileCreate(
            pid: 140, object: 0x10, name: vol + "\\Users\\Public\\ticket.kirbi", disposition: 2,
            at: at(1), newFile: true),
        benign: Fixtures.fileCreate(
            pid: 140, object: 0x11, name: vol + "\\Users\\Public\\ticket.txt", disposition: 2,
            at: at(1), newFile: true)),
    RuleCase(
        id: "0a1f9d29-6465-4776-b091-7f43b26e4c89", title: "Prefetch File Deleted",
        category: "file_delete", setup: [start(150, 4, "\\Users\\Public\\wiper.exe")],
        malicious: Fixtures.filePath(26, pid: 150, object: 0x20, path: vol + "\\Windows\\Prefetch\\CMD.EXE-4A81B364.pf", at: at(1)),
        benign: Fixtures.filePath(26, pid: 150, object: 0x21, path: vol + "\\Temp\\Prefetch\\CMD.EXE-4A81B364.pf", at: at(1))),
    RuleCase(
        id: "9f383dc0-fdeb-4d56-acbc-9f9f4f8f20f3", title: "Unusual File Modification by dns.exe",
        category: "file_change",
        setup: [
            start(160, 4, "\\Windows\\System32\\dns.exe"),
            Fixtures.fileCreate(pid: 160, object: 0x30, name: vol + "\\Windows\\System32\\evil.dll", disposition: 1, at: at(1)),
            Fixtures.fileCreate(pid: 160, object: 0x31, name: vol + "\\Windows\\System32\\dns\\dns.log", disposition: 1, at: at(1))
        ],
        malicious: Fixtures.fileWrite(pid: 160, object: 0x30, key: 0x130, at: at(2)),
        benign: Fixtures.fileWrite(pid: 160, object: 0x31, key: 0x131, at: at(2))),
    RuleCase(
        id: "0dba975d-a193-4ed1-a067-424df57570d1", title: "Uncommon Network Connection Initiated By Certutil.EXE",
        category: "network_connection", setup: [start(170, 4, "\\Windows\\System32\\certutil.exe")],
        malicious: Fixtures.tcpV4(12, pid: 170, local: [10, 0, 0, 5], localPort: 50000, remote: [93, 184, 216, 34], remotePort: 443, at: at(1)),
        benign: Fixtures.tcpV4(12, pid: 170, local: [10, 0, 0, 5], localPort: 50001, remote: [93, 184, 216, 34], remotePort: 8443, at: at(1))),
    RuleCase(
        id: "d4f4e0be-cf12-439f-9e25-4e2cdcf7df5a", title: "Potential Persistence Via Disk Cleanup Handler - Registry",
        category: "registry_add", setup: [start(180, 4, "\\Windows\\regedit.exe")],
        malicious: Fixtures.createKey(
            pid: 180, key: 0x40, base: hklm + "\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Explorer",
            relative: "VolumeCaches\\Evil Handler", disposition: 1, at: at(1)),
        benign: Fixtures.createKey(
            pid: 180, key: 0x41, base: hklm + "\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Explorer",
            relative: "VolumeCaches\\Thumbnail Cache", disposition: 1, at: at(1))),
    RuleCase(
        id: "aa37cbb0-da36-42cb-a90f-fdf216fc7467", title: "AMSI Disabled via Registry Modification",
        category: "registry_set", setup: [start(190, 4, "\\Windows\\System32\\reg.exe")],
        malicious: Fixtures.setValue(
            pid: 190, key: 0x50, keyName: hku + "\\Software\\Microsoft\\Windows Script\\Settings",
            value: "AmsiEnable", type: 4, data: [0, 0, 0, 0], at: at(1)),
        benign: Fixtures.setValue(
            pid: 190, key: 0x50, keyName: hku + "\\Software\\Microsoft\\Windows Script\\Settings",
            value: "AmsiEnable", type: 4, data: [1, 0, 0, 0], at: at(1))),
    RuleCase(
        id: "41d1058a-aea7-4952-9293-29eaaf516465", title: "Removal Of AMSI Provider Registry Keys",
        category: "registry_delete",
        setup: [start(200, 4, "\\Users\\Public\\x.exe"), start(201, 4, "\\Program Files\\Windows Defender\\MsMpEng.exe")],
        malicious: Fixtures.deleteKey(
            pid: 200, key: 0x60, name: hklm + "\\SOFTWARE\\Microsoft\\AMSI\\Providers\\{2781761E-28E0-4109-99FE-B9D127C57AFE}", at: at(1)),
        benign: Fixtures.deleteKey(
            pid: 201, key: 0x61, name: hklm + "\\SOFTWARE\\Microsoft\\AMSI\\Providers\\{2781761E-28E0-4109-99FE-B9D127C57AFE}", at: at(1))),
    RuleCase(
        id: "55e29995-75e7-451a-bef0-6225e2f13597", title: "Potential Credential Dumping Via LSASS SilentProcessExit Technique",
        category: "registry_event", setup: [start(210, 4, "\\Windows\\System32\\reg.exe")],
        malicious: Fixtures.setValue(
            pid: 210, key: 0x70, keyName: hklm + "\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SilentProcessExit\\lsass.exe",
            value: "ReportingMode", type: 4, data: [2, 0, 0, 0], at: at(1)),
        benign: Fixtures.setValue(
            pid: 210, key: 0x71, keyName: hklm + "\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SilentProcessExit\\notepad.exe",
            value: "ReportingMode", type: 4, data: [2, 0, 0, 0], at: at(1))),
    RuleCase(
        id: "b55ca2a3-7cff-4dda-8bdd-c7bfa63bf544", title: "DNS Query Tor .Onion Address - Sysmon",
        category: "dns_query", setup: [start(220, 4, "\\Users\\Public\\tor.exe")],
        malicious: Fixtures.dnsCompleted(
            pid: 220, name: "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
            status: 9003, results: "", at: at(1)),
        benign: Fixtures.dnsCompleted(pid: 220, name: "duckduckgo.com", status: 0, results: "::ffff:52.142.124.215;", at: at(1))),
    RuleCase(
        id: "189e3b02-82b2-4b90-9662-411eb64486d4", title: "Potential Invoke-Mimikatz PowerShell Script",
        category: "ps_script", setup: [start(230, 4, "\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")],
        malicious: Fixtures.scriptBlock(
            pid: 230, text: "Invoke-Mimikatz -Command '\"privilege::debug\" \"sekurlsa::logonpasswords\"'",
            id: "7f1c0a52-3d1e-4f7b-9a44-2a1d6c3e9b01", path: "", at: at(1)),
        benign: Fixtures.scriptBlock(
            pid: 230, text: "Get-ChildItem -Path C:\\Users -Recurse | Measure-Object",
            id: "7f1c0a52-3d1e-4f7b-9a44-2a1d6c3e9b02", path: "", at: at(1)))
]

@Suite("SigmaHQ Windows rules on decoded ETW records")
struct SigmaHQTests {
    /// Decodes a scenario through the frame payloads (as the detector gets them) and
    /// evaluates every event of its last record.
    func matches(_ engine: SigmaEngine, setup: [Fixture], last: Fixture) throws -> (events: [Event], rules: [SigmaRuleInfo]) {
        var d = WindowsEventDecoder()
        d.deviceMap = [vol: "C:"]
        for f in setup { _ = try d.decode(payload: f.record.encoded()) }
        let events = try d.decode(payload: last.record.encoded())
        return (events, events.flatMap { engine.evaluate($0).map(\.rule) })
    }

    @Test(arguments: ruleCases)
    func ruleFiresOnTheActivityAndNotOnTheBenignOne(_ c: RuleCase) throws {
        let engine = try #require(windowsRules, "SigmaHQ corpus missing at \(corpusRoot())")
        let rule = try #require(engine.rules.first { $0.id == c.id }, "rule \(c.id) is not loaded (inert or missing)")
        #expect(rule.title == c.title)
        #expect(rule.logsource.category == c.category)
        let bad = try matches(engine, setup: c.setup, last: c.malicious)
        #expect(bad.events.contains { $0.logsource.category == c.category }, "decoded \(bad.events.map(\.logsource))")
        #expect(
            bad.rules.contains { $0.id == c.id && $0.title == c.title },
            "\(c.title) did not fire on \(bad.events.map { fields($0) }); fired: \(bad.rules.map(\.title))")
        let good = try matches(engine, setup: c.setup, last: c.benign)
        #expect(!good.events.isEmpty, "the benign record decodes to an event")
        #expect(!good.rules.contains { $0.id == c.id }, "\(c.title) fired on the benign \(good.events.map { fields($0) })")
    }

    /// The Windows detector's logsource declaration: every ETW category loads, what ETW
    /// cannot see (process_access, pipes, WMI …) and Linux's are inert.
    @Test func windowsDetectorLoadsWhatItCollects() throws {
        let engine = try #require(windowsRules)
        let loaded = Set(engine.rules.compactMap(\.logsource.category))
        for c in [
            "process_creation", "image_load", "file_event", "file_delete", "file_change", "file_rename", "network_connection",
            "registry_add", "registry_delete", "registry_set", "registry_event", "dns_query", "ps_script"
        ] {
            #expect(loaded.contains(c), "\(c) rules are not loaded")
        }
        for c in ["process_access", "pipe_created", "create_remote_thread", "ps_module", "driver_load"] { #expect(!loaded.contains(c)) }
        #expect(!DetectorLogSources.windows.contains { $0.product == "linux" })
        #expect(DetectorLogSources.collected(on: .linux) == DetectorLogSources.linux)
        #expect(DetectorLogSources.collected == DetectorLogSources.linux, "this build runs on Linux")
    }
}
