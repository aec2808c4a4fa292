import Testing
import Foundation
import EDRCore

/// io_uring end to end: a real agent and a liburing program (Tests/EndToEndTests/Fixtures/uring_actions.c)
/// that creates, truncates, renames and deletes files and connects and accepts over IPv4 and
/// IPv6 through io_uring only — relative to a directory descriptor, through a symlink, into a
/// direct descriptor, with IOSQE_CQE_SKIP_SUCCESS, from an SQPOLL ring — and sends DNS queries
/// and reads their answers through io_uring, then does the same
/// with plain syscalls. Every io_uring event must be there with the syscall twin's category
/// and fields plus `IoUring: true` and its opcode; the syscall events must carry no mark.
@Suite("io_uring end to end", .serialized, .enabled(if: runningAsRoot, "the agent loads eBPF: run as root"))
struct IoUringTests {
    /// Compiles the workload with the system compiler and liburing (Debian: liburing-dev).
    static func buildWorkload(into dir: URL) throws -> String {
        let source = repoRoot.appendingPathComponent("Tests/EndToEndTests/Fixtures/uring_actions.c").path
        let binary = dir.appendingPathComponent("uring_actions").path
        let pid = try spawnChild("/usr/bin/cc", ["-O1", "-Wall", "-o", binary, source, "-luring"])
        var status: Int32 = 0
        try #require(waitForChild(pid, &status, timeout: 120), "cc still running after 120 s")
        try #require(status == 0, "cc \(source) -luring failed (status \(status)): is liburing-dev installed? (`make deps`)")
        return binary
    }

    @Test func fileAndNetworkOperationsThroughIoUring() throws {
        let marker = "edruring" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10)).lowercased()
        let rules: [String: String] = [
            "create.yml": TelemetryTests.rule("file_event", 101, selection: "TargetFilename|contains: '\(marker)'"),
            "change.yml": TelemetryTests.rule("file_change", 102, selection: "TargetFilename|contains: '\(marker)'"),
            "rename.yml": TelemetryTests.rule("file_rename", 103, selection: "SourceFilename|contains: '\(marker)'"),
            "delete.yml": TelemetryTests.rule("file_delete", 104, selection: "TargetFilename|contains: '\(marker)'"),
            "net.yml": TelemetryTests.rule("network_connection", 105, selection: "Image|endswith: '/uring_actions'"),
            "dns.yml": TelemetryTests.rule("dns_query", 106, selection: "QueryName|endswith: '.example'")
        ]
        let agent = try AgentHarness(extraRules: rules)
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        for hook in ["edr_uring_submit", "edr_uring_complete"] {
            #expect(agent.output.contains("\(hook):attached"), "\(hook) not attached:\n\(agent.output)")
        }

        let work = agent.dir.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let binary = try Self.buildWorkload(into: agent.dir)
        let pid = try spawnChild(binary, [work.path, marker])
        var status: Int32 = 0
        try #require(waitForChild(pid, &status, timeout: 120), "uring_actions still running after 120 s")
        try #require(status == 0, "uring_actions failed (status \(status))")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: work.appendingPathComponent("uring.json"))) as? [String: Any])
        #expect(result["pid"] as? Int == Int(pid))
        let w = work.path

        func event(_ a: [String: Any]) -> [String: Any] { a.path("edr", "event") as? [String: Any] ?? [:] }
        func category(_ a: [String: Any]) -> String? { a.path("edr", "logsource", "category") as? String }
        func mine(_ a: [String: Any], _ cat: String) -> Bool { category(a) == cat && (event(a)["ProcessId"] as? Int) == Int(pid) }
        func find(_ cat: String, _ what: String, _ match: @escaping ([String: Any]) -> Bool) -> [String: Any]? {
            let a = agent.waitForAlert(timeout: 30) { a in mine(a, cat) && match(event(a)) }
            if a == nil {
                Issue.record("no \(cat) alert for \(what); alerts: \(agent.alerts().filter { category($0) == cat }.map(event))\n\(agent.output.suffix(3000))")
            }
            return a.map(event)
        }
        func isUring(_ e: [String: Any]?, _ op: String) -> Bool {
            e?["IoUring"] as? Bool == true && e?["IoUringOp"] as? String == op
        }

        // Files. Create relative to a directory descriptor (from another cwd): absolute, marked.
        #expect((result["create_fd"] as? Int ?? -1) >= 0)
        let created = find("file_event", "io_uring openat O_CREAT relative to a dirfd") {
            ($0["TargetFilename"] as? String) == "\(w)/\(marker)-u-create.txt"
        }
        #expect(isUring(created, "IORING_OP_OPENAT"), "\(created ?? [:])")
        #expect(created?["Image"] as? String == binary && created?["User"] as? String == "root")
        #expect((created?["ProcessGuid"] as? String)?.count == 38)
        // Write-open with O_TRUNC of an existing file: a change.
        let changed = find("file_change", "io_uring openat O_TRUNC of an existing file") {
            ($0["TargetFilename"] as? String) == "\(w)/\(marker)-u-create.txt"
        }
        #expect(isUring(changed, "IORING_OP_OPENAT") && changed?["Truncated"] as? Bool == true, "\(changed ?? [:])")
        // Through a symlink in the cwd: the file where it really is.
        let viaLink = find("file_event", "io_uring openat through a symlink") {
            ($0["TargetFilename"] as? String) == "\(w)/real/\(marker)-u-sym.txt"
        }
        #expect(isUring(viaLink, "IORING_OP_OPENAT"), "\(viaLink ?? [:])")
        // Into a direct descriptor (never in the process's descriptor table).
        #expect(result["direct"] as? Int == 0)
        let direct = find("file_event", "io_uring openat into a direct descriptor") {
            ($0["TargetFilename"] as? String) == "\(w)/\(marker)-u-direct.txt"
        }
        #expect(isUring(direct, "IORING_OP_OPENAT"), "\(direct ?? [:])")
        // Rename from the dirfd to a name relative to the cwd (DIR/sub).
        #expect(result["rename"] as? Int == 0)
        let renamed = find("file_rename", "io_uring renameat") {
            ($0["SourceFilename"] as? String) == "\(w)/\(marker)-u-create.txt"
        }
        #expect(renamed?["TargetFilename"] as? String == "\(w)/sub/\(marker)-u-renamed.txt", "\(renamed ?? [:])")
        #expect(isUring(renamed, "IORING_OP_RENAMEAT"), "\(renamed ?? [:])")
        #expect(result["unlink"] as? Int == 0)
        let deleted = find("file_delete", "io_uring unlinkat relative to the cwd") {
            ($0["TargetFilename"] as? String) == "\(w)/sub/\(marker)-u-renamed.txt"
        }
        #expect(isUring(deleted, "IORING_OP_UNLINKAT") && deleted?["IsDirectory"] as? Bool == false, "\(deleted ?? [:])")
        #expect(deleted?["IoUringResultUnseen"] == nil)
        #expect(result["rmdir"] as? Int == 0)
        let rmdir = find("file_delete", "io_uring unlinkat AT_REMOVEDIR") { ($0["TargetFilename"] as? String) == "\(w)/\(marker)-u-dir" }
        #expect(isUring(rmdir, "IORING_OP_UNLINKAT") && rmdir?["IsDirectory"] as? Bool == true, "\(rmdir ?? [:])")
        // IOSQE_CQE_SKIP_SUCCESS: no completion, reported at submission and said so.
        #expect(result["skip_gone"] as? Int == 1)
        let skipped = find("file_delete", "io_uring unlinkat with IOSQE_CQE_SKIP_SUCCESS") {
            ($0["TargetFilename"] as? String) == "\(w)/\(marker)-u-skip.txt" && ($0["IoUring"] as? Bool) == true
        }
        #expect(skipped?["IoUringResultUnseen"] as? Bool == true, "\(skipped ?? [:])")
        // SQPOLL: the kernel's submission thread belongs to this process.
        #expect(result["sqpoll"] as? Int == 0 && (result["sqpoll_fd"] as? Int ?? -1) >= 0)
        let sqpoll = find("file_event", "io_uring openat from an SQPOLL ring") {
            ($0["TargetFilename"] as? String) == "\(w)/\(marker)-u-sqpoll.txt"
        }
        #expect(isUring(sqpoll, "IORING_OP_OPENAT") && sqpoll?["Image"] as? String == binary, "\(sqpoll ?? [:])")

        // Network: connect and accept, IPv4 between two loopback addresses and IPv6, and a
        // refused connect (io_uring reports the final result, not "in progress").
        for (key, server, client) in [("v4", "127.0.0.31", "127.0.0.32"), ("v6", "::1", "::1")] {
            let info = try #require(result[key] as? [String: Any])
            let port = try #require(info["port"] as? Int), clientPort = try #require(info["client_port"] as? Int)
            #expect(info["connect"] as? Int == 0 && info["accepted"] as? Int == 1 && info["refused"] as? Int == -111, "\(key): \(info)")
            let out = find("network_connection", "\(key) io_uring connect") {
                ($0["Syscall"] as? String) == "connect" && ($0["DestinationPort"] as? Int) == port
            }
            #expect(isUring(out, "IORING_OP_CONNECT"), "\(key) connect: \(out ?? [:])")
            #expect(out?["Initiated"] as? Bool == true && out?["Protocol"] as? String == "tcp" && out?["Result"] as? String == "success")
            #expect(out?["DestinationIp"] as? String == server && out?["SourceIp"] as? String == client, "\(key) connect: \(out ?? [:])")
            #expect(out?["SourcePort"] as? Int == clientPort)
            #expect(out?["SourceIsIpv6"] as? Bool == (key == "v6") && out?["DestinationIsIpv6"] as? Bool == (key == "v6"))
            let inbound = find("network_connection", "\(key) io_uring accept") {
                ($0["Syscall"] as? String) == "accept" && ($0["DestinationPort"] as? Int) == port
            }
            #expect(isUring(inbound, "IORING_OP_ACCEPT"), "\(key) accept: \(inbound ?? [:])")
            #expect(inbound?["Initiated"] as? Bool == false && inbound?["SourcePort"] as? Int == clientPort)
            #expect(inbound?["SourceIp"] as? String == client && inbound?["DestinationIp"] as? String == server, "\(key) accept: \(inbound ?? [:])")
            let refusedPort = try #require(info["refused_port"] as? Int)
            let refused = find("network_connection", "\(key) refused io_uring connect") {
                ($0["Syscall"] as? String) == "connect" && ($0["DestinationPort"] as? Int) == refusedPort
            }
            #expect(isUring(refused, "IORING_OP_CONNECT") && refused?["Result"] as? String == "refused", "\(key) refused: \(refused ?? [:])")
            #expect(refused?["DestinationIp"] as? String == server && refused?["SourceIp"] as? String == client)
            #expect(refused?["SourcePort"] as? Int == info["refused_client_port"] as? Int, "\(key) refused: \(refused ?? [:])")
        }

        // DNS through io_uring: connect + send + recv, and unconnected sendmsg + recvmsg to the
        // workload's own resolver on 127.0.0.53:53; the answer names the next connection.
        let dnsSend = try #require(result["dns_send"] as? [String: Any])
        #expect(dnsSend["connect"] as? Int == 0 && dnsSend["sent"] as? Int == 38 && dnsSend["answer"] as? Int == 54, "\(dnsSend)")
        let q1 = find("dns_query", "io_uring send/recv query") { ($0["QueryName"] as? String) == "a.uring-send.example" }
        #expect(isUring(q1, "IORING_OP_SEND") && q1?["QueryResults"] as? String == "127.0.0.81;" && q1?["QueryStatus"] as? String == "0", "\(q1 ?? [:])")
        #expect(q1?["DnsServer"] as? String == "127.0.0.53" && q1?["Protocol"] as? String == "udp", "\(q1 ?? [:])")
        let dnsMsg = try #require(result["dns_sendmsg"] as? [String: Any])
        #expect(dnsMsg["sent"] as? Int == 41 && dnsMsg["answer"] as? Int == 57 && dnsMsg["last"] as? Int == 82, "\(dnsMsg)")
        let q2 = find("dns_query", "io_uring sendmsg/recvmsg query from an unconnected socket") { ($0["QueryName"] as? String) == "b.uring-sendmsg.example" }
        #expect(
            isUring(q2, "IORING_OP_SENDMSG") && q2?["QueryResults"] as? String == "127.0.0.82;" && q2?["DnsServer"] as? String == "127.0.0.53",
            "\(q2 ?? [:])")
        let named = try #require(result["named"] as? [String: Any])
        let namedPort = try #require(named["port"] as? Int)
        let toAnswer = find("network_connection", "io_uring connect to the answered address") {
            ($0["Syscall"] as? String) == "connect" && ($0["DestinationPort"] as? Int) == namedPort
        }
        #expect(
            toAnswer?["DestinationIp"] as? String == "127.0.0.81" && toAnswer?["DestinationHostname"] as? String == "a.uring-send.example",
            "\(toAnswer ?? [:])")

        // The same by plain syscalls: reported as before, with no io_uring mark.
        let sysCreate = find("file_event", "open(2) O_CREAT") { ($0["TargetFilename"] as? String) == "\(w)/\(marker)-s-create.txt" }
        let sysRename = find("file_rename", "rename(2)") { ($0["SourceFilename"] as? String) == "\(w)/\(marker)-s-create.txt" }
        let sysDelete = find("file_delete", "unlink(2)") { ($0["TargetFilename"] as? String) == "\(w)/\(marker)-s-renamed.txt" }
        let sys = try #require(result["syscall"] as? [String: Any])
        let sysPort = try #require(sys["port"] as? Int)
        let sysConnect = find("network_connection", "connect(2)") { ($0["Syscall"] as? String) == "connect" && ($0["DestinationPort"] as? Int) == sysPort }
        let sysAccept = find("network_connection", "accept(2)") { ($0["Syscall"] as? String) == "accept" && ($0["DestinationPort"] as? Int) == sysPort }
        for (name, e) in [("create", sysCreate), ("rename", sysRename), ("delete", sysDelete), ("connect", sysConnect), ("accept", sysAccept)] {
            #expect(e != nil && e?["IoUring"] == nil && e?["IoUringOp"] == nil, "syscall \(name) marked as io_uring: \(e ?? [:])")
        }
        #expect(sysConnect?["DestinationIp"] as? String == "127.0.0.33" && sysConnect?["SourceIp"] as? String == "127.0.0.34")

        // Negative checks last: the failed unlink and the read-only open left no event, and
        // each io_uring create was reported once.
        let missing = agent.alerts().filter {
            mine($0, "file_delete") && (event($0)["TargetFilename"] as? String)?.hasSuffix("\(marker)-u-missing.txt") == true
        }
        #expect(result["unlink_missing"] as? Int == -2 && missing.isEmpty, "failed unlinkat reported: \(missing.map(event))")
        let creates = agent.alerts().filter { mine($0, "file_event") && (event($0)["TargetFilename"] as? String) == "\(w)/\(marker)-u-create.txt" }
        #expect(creates.count == 1, "file_event alerts for u-create.txt: \(creates.map(event))")
        // The read-only open is the third open of u-create.txt: only the O_TRUNC one is a change.
        let changes = agent.alerts().filter { mine($0, "file_change") && (event($0)["TargetFilename"] as? String) == "\(w)/\(marker)-u-create.txt" }
        #expect((result["ro_fd"] as? Int ?? -1) >= 0 && changes.count == 1, "file_change alerts for u-create.txt: \(changes.map(event))")
    }
}
