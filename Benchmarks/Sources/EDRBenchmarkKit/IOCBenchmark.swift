import EDRCore
import EDRIOC
import Foundation

/// Load and matching figures for the IOC engine. `run()` prints them; no assertions.
public enum IOCBenchmark {
    public struct Figures: Sendable {
        public var domains: Int
        public var ips: Int
        public var loadSeconds: Double
        public var rssBeforeMiB: Double
        public var rssAfterMiB: Double
        public var peakRSSMiB: Double
        public var tableMiB: Double
        public var events: Int
        public var nsPerEvent: Double
        public var matchedEvents: Int
    }

    /// Generates `domainCount` domains and `ipCount` addresses (~90% IPv4 hosts, 5% IPv4 CIDRs,
    /// 5% IPv6) into a temp dir, loads them (plus `extraDirectory`, e.g. signature-base's
    /// lists, for realistic path regexes and hashes), then matches `events` synthetic events.
    @discardableResult
    public static func run(
        domainCount: Int = 1_000_000, ipCount: Int = 1_000_000, events: Int = 1_000_000,
        extraDirectory: String? = "/work/shared/corpora/signature-base/iocs"
    ) -> Figures {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ioc-bench-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 42)
        let tlds = ["com", "net", "org", "info", "ru", "cn", "io", "xyz", "top", "biz"]
        func word(_ n: Int) -> String {
            let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
            return String(decoding: (0..<n).map { _ in letters[Int(rng.next() % UInt64(letters.count))] }, as: UTF8.self)
        }
        var domainsText = "# generated\n"
        domainsText.reserveCapacity(domainCount * 24)
        var sampleDomains: [String] = []
        for i in 0..<domainCount {
            let d = (i % 3 == 0 ? word(4) + "." : "") + word(6 + Int(rng.next() % 8)) + "." + tlds[i % tlds.count]
            domainsText += i % 4 == 0 ? "\(d);campaign \(i % 500)\n" : "\(d)\n"
            if i % 1000 == 0 { sampleDomains.append(d) }
        }
        var ipsText = "# generated\n"
        ipsText.reserveCapacity(ipCount * 18)
        var sampleIPs: [String] = []
        for i in 0..<ipCount {
            let r = rng.next()
            let a = "\(11 + r % 213).\(r >> 8 & 255).\(r >> 16 & 255).\(r >> 24 & 255)"
            switch i % 20 {
            case 0: ipsText += "\(a)/\(16 + r >> 32 % 9);range\n"
            case 1: ipsText += "2001:db8:\(String(r >> 16 & 0xffff, radix: 16)):\(String(r & 0xffff, radix: 16))::\(String(r >> 32 & 0xffff, radix: 16))\n"
            default: ipsText += i % 4 == 0 ? "\(a);c2 \(i % 300)\n" : "\(a)\n"
            }
            if i % 1000 == 2 { sampleIPs.append(a) }
        }
        try? domainsText.write(toFile: dir + "/domains.txt", atomically: false, encoding: .utf8)
        try? ipsText.write(toFile: dir + "/ips.txt", atomically: false, encoding: .utf8)
        domainsText = ""
        ipsText = ""

        let rssBefore = ProcessMemory.rssMiB()
        let t0 = Date()
        let cpu0 = ProcessMemory.cpuSeconds()
        let loaded = IOCSet.load(directory: dir)
        let loadSeconds = Date().timeIntervalSince(t0)
        let loadCPU = ProcessMemory.cpuSeconds() - cpu0
        let rssAfter = ProcessMemory.rssMiB()
        let set = loaded.set
        print(
            "IOC load: \(set.counts) in \(fmt(loadSeconds)) s wall (\(fmt(loadCPU)) s CPU, files parsed in parallel); RSS \(fmt(rssBefore)) → \(fmt(rssAfter)) MiB "
                + "(+\(fmt(rssAfter - rssBefore))), peak \(fmt(ProcessMemory.peakMiB())) MiB, "
                + "tables \(fmt(Double(set.approximateMemoryBytes) / 1048576)) MiB, \(loaded.diagnostics.count) rejected lines")

        // Combined set for matching: generated network indicators plus real hashes and path regexes.
        var matchSet = set
        if let extra = extraDirectory, FileManager.default.fileExists(atPath: extra) {
            var b = IOCSetBuilder()
            for name in ["domains.txt", "ips.txt"] {
                if let d = FileManager.default.contents(atPath: dir + "/" + name) {
                    _ = b.load(contents: [UInt8](d), kind: name == "ips.txt" ? .ip : .domain, fileName: name)
                }
            }
            for (name, kind) in [("c2-iocs.txt", IOCSetBuilder.LineKind.mixed), ("hash-iocs.txt", .hash), ("filename-iocs.txt", .pathRegex)] {
                if let d = FileManager.default.contents(atPath: extra + "/" + name) {
                    _ = b.load(contents: [UInt8](d), kind: kind, fileName: name)
                }
            }
            matchSet = b.build()
            print("IOC match set: \(matchSet.counts) (generated + signature-base c2/hash/filename lists)")
        }

        // Realistic mix: 40% process starts, 30% connections, 20% DNS, 10% file writes;
        // about 1% of events carry a listed indicator.
        let sample = makeEvents(count: 4096, domains: sampleDomains, ips: sampleIPs, rng: &rng)
        var matched = 0
        var total = 0
        let t1 = DispatchTime.now().uptimeNanoseconds
        let cpu1 = ProcessMemory.cpuSeconds()
        var k = 0
        while total < events {
            let m = matchSet.match(event: sample[k])
            if !m.isEmpty { matched += 1 }
            total += 1
            k = (k + 1) & 4095
        }
        let ns = Double(DispatchTime.now().uptimeNanoseconds - t1) / Double(max(1, total))
        let cpuNs = (ProcessMemory.cpuSeconds() - cpu1) * 1e9 / Double(max(1, total))
        // Per category.
        var parts: [String] = []
        for cat in ["process_creation", "network_connection", "dns_query", "file_event"] {
            let evs = sample.filter { $0.logsource.category == cat }
            let n = 200_000
            let c = ProcessMemory.cpuSeconds()
            var j = 0
            for _ in 0..<n {
                _ = matchSet.match(event: evs[j])
                j += 1
                if j == evs.count { j = 0 }
            }
            parts.append("\(cat) \(fmt((ProcessMemory.cpuSeconds() - c) * 1e9 / Double(n))) ns")
        }
        print("IOC per category (CPU): " + parts.joined(separator: ", "))
        print(
            "IOC inline match: \(total) events, \(fmt(ns)) ns/event wall (\(fmt(cpuNs)) ns CPU), \(matched) events matched (\(fmt(100 * Double(matched) / Double(max(1, total))))%)"
        )
        return Figures(
            domains: set.counts.domains, ips: set.counts.ips, loadSeconds: loadSeconds,
            rssBeforeMiB: rssBefore, rssAfterMiB: rssAfter, peakRSSMiB: ProcessMemory.peakMiB(),
            tableMiB: Double(set.approximateMemoryBytes) / 1048576, events: total, nsPerEvent: ns,
            matchedEvents: matched)
    }

    static func makeEvents(count: Int, domains: [String], ips: [String], rng: inout SplitMix64) -> [Event] {
        let images = [
            "/usr/bin/bash", "/usr/bin/curl", "/usr/bin/python3.11", "/usr/lib/systemd/systemd-journald",
            "/usr/bin/git", "/usr/sbin/sshd", "/opt/app/bin/server", "/usr/bin/apt-get"
        ]
        let benignHosts = ["deb.debian.org", "github.com", "api.internal.corp.example", "pypi.org", "ntp.ubuntu.com", "registry.npmjs.org"]
        var out: [Event] = []
        for i in 0..<count {
            let bad = rng.next() % 100 == 0
            let host = bad && !domains.isEmpty ? "x." + domains[Int(rng.next() % UInt64(domains.count))] : benignHosts[i % benignHosts.count]
            let ip = bad && !ips.isEmpty ? ips[Int(rng.next() % UInt64(ips.count))] : "10.\(rng.next() % 256).\(rng.next() % 256).\(rng.next() % 256)"
            let image = images[i % images.count]
            switch i % 10 {
            case 0, 1, 2, 3:
                out.append(
                    Event(
                        logsource: LogSource(product: "linux", category: "process_creation"),
                        fields: [
                            ("Image", .string(image)),
                            ("CommandLine", .string("\(image) --config /etc/app/config.yaml -v https://\(host)/api/v1/items?id=\(i) --retries 3")),
                            ("ParentImage", "/usr/bin/bash"), ("User", "app"), ("CurrentDirectory", "/home/app"),
                            ("Hashes", .string("SHA256=\(String(repeating: "ab", count: 32))"))
                        ]))
            case 4, 5, 6:
                out.append(
                    Event(
                        logsource: LogSource(product: "linux", category: "network_connection"),
                        fields: [
                            ("Image", .string(image)), ("Initiated", true), ("SourceIp", "10.0.0.5"), ("SourcePort", 51234),
                            ("DestinationIp", .string(ip)), ("DestinationPort", 443), ("DestinationHostname", .string(host))
                        ]))
            case 7, 8:
                out.append(
                    Event(
                        logsource: LogSource(product: "linux", category: "dns_query"),
                        fields: [
                            ("Image", .string(image)), ("QueryName", .string(host)),
                            ("QueryResults", .string("type: 5 edge.\(host);\(ip);::ffff:\(ip);"))
                        ]))
            default:
                out.append(
                    Event(
                        logsource: LogSource(product: "linux", category: "file_event"),
                        fields: [
                            ("Image", .string(image)), ("TargetFilename", .string("/var/lib/app/cache/\(i)/object-\(rng.next() % 1000).bin"))
                        ]))
            }
        }
        return out
    }

    static func fmt(_ d: Double) -> String { String(format: d < 10 ? "%.3f" : "%.1f", d) }
}

/// Resident set size of this process from /proc/self/status.
enum ProcessMemory {
    static func field(_ name: String) -> Double {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix(name + ":") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }
    static func rssMiB() -> Double { field("VmRSS") }
    /// User + system CPU seconds of this process.
    static func cpuSeconds() -> Double {
        var ru = rusage()
        getrusage(RUSAGE_SELF.rawValue, &ru)
        return Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6 + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
    }
    static func peakMiB() -> Double { field("VmHWM") }
}
