import Testing
import Foundation
import EDRCore

/// Telemetry end to end: a real agent, real actions by a real process (a Python script that
/// talks only to loopback addresses), and the normalized events checked field by field in the
/// alerts that catch-all and SigmaHQ rules raise on them.
///
/// Every address that could be swapped with another is distinct: the IPv4 listener is
/// 127.0.0.21 and its clients bind 127.0.0.22; the DNS server is 127.0.0.53, its answer
/// 127.0.0.77 (where the next connection goes) and the querying socket 127.0.0.88. (IPv6
/// loopback has only ::1, so there source and destination are the same address; the ports differ.)
@Suite("Telemetry end to end", .serialized, .enabled(if: runningAsRoot, "the agent loads eBPF: run as root"))
struct TelemetryTests {
    static let python = "/usr/bin/python3.11"

    static func rule(_ category: String, _ id: Int, selection: String) -> String {
        """
        title: E2E telemetry \(category)
        id: 00000000-0000-4000-9000-\(String(format: "%012d", id))
        status: test
        logsource:
            product: linux
            category: \(category)
        detection:
            selection:
                \(selection)
            condition: selection
        level: low
        """
    }

    /// What the script does, in order. Everything it touches lives under `dir`.
    static let script = #"""
        import os, sys, json, socket, threading, ctypes, time
        d, marker = sys.argv[1], sys.argv[2]
        out = {"pid": os.getpid()}
        # Files: create, write (modify), rename, delete; then relative paths from another cwd.
        a = f"{d}/{marker}-a.txt"
        with open(a, "w") as f: f.write("x")
        with open(a, "r+") as f: f.write("y")
        os.rename(a, f"{d}/{marker}-b.txt")
        os.unlink(f"{d}/{marker}-b.txt")
        os.mkdir(f"{d}/sub"); os.chdir(f"{d}/sub")
        with open(f"../{marker}-rel.txt", "w") as f: f.write("z")
        os.rename(f"../{marker}-rel.txt", f"./{marker}-rel2.txt")
        dfd = os.open(d, os.O_RDONLY)
        os.unlink(f"sub/{marker}-rel2.txt", dir_fd=dfd)
        os.close(dfd)
        os.makedirs(f"{d}/etc", exist_ok=True)
        with open(f"{d}/etc/doas.conf", "w") as f: f.write("permit nopass root\n")   # SigmaHQ: doas.conf creation
        # A file that exists, opened read-only: no file event of any kind.
        with open(f"{d}/{marker}-ro.txt", "r") as f: out["ro"] = f.read()
        # Network: refused and accepted, IPv4 and IPv6, with the inbound accept. The IPv4 client
        # binds another loopback address than the listener's.
        for fam, host, client, key in ((socket.AF_INET, "127.0.0.21", "127.0.0.22", "v4"), (socket.AF_INET6, "::1", "::1", "v6")):
            l = socket.socket(fam); l.bind((host, 0)); l.listen(4)
            port = l.getsockname()[1]
            c = socket.socket(fam); c.bind((client, 0)); c.connect((host, port))
            s, peer = l.accept()
            out[key] = {"port": port, "client_port": c.getsockname()[1], "peer": peer[0]}
            s.close(); c.close()
            r = socket.socket(fam)
            r.bind((host, 0)); out[key]["refused_port"] = r.getsockname()[1]; r.close()   # a free port: nobody listens
            r = socket.socket(fam); r.bind((client, 0))
            try: r.connect((host, out[key]["refused_port"]))
            except ConnectionRefusedError: out[key]["refused"] = True
            r.close(); l.close()
        # DNS: a stub resolver on 127.0.0.53:53 answers pool.minexmr.com with 127.0.0.77; the
        # query comes from 127.0.0.88.
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(("127.0.0.53", 53)); srv.settimeout(5)
        def serve():
            for _ in range(3):
                q, addr = srv.recvfrom(512)
                end = 12
                while q[end]: end += q[end] + 1
                end += 5
                last = b"\x4e" if b"unconnected" in q else b"\x4f" if b"readanswer" in q else b"\x4d"   # .78, .79, .77
                srv.sendto(q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00" + q[12:end] +
                           b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00" + last, addr)
        t = threading.Thread(target=serve); t.start()
        def question(name, qid):
            return qid + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\x00\x00\x01\x00\x01"
        query = question(b"pool.minexmr.com", b"\xab\xcd")
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(5); c.bind(("127.0.0.88", 0)); c.connect(("127.0.0.53", 53))
        c.send(query); answer = c.recv(512); out["dns_answer"] = len(answer); out["dns_client_port"] = c.getsockname()[1]
        c.close()
        # The same from a socket that never called connect: sendto, then recv (no address).
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5); u.bind(("127.0.0.89", 0))
        u.sendto(question(b"xmr.unconnected.example", b"\xbe\xef"), ("127.0.0.53", 53)); answer2 = u.recv(512)
        out["unconnected_answered"] = socket.inet_ntoa(answer2[-4:]); u.close()
        # ... and one that reads its answer with read(2).
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.89", 0))   # blocking: read(2) waits
        u.sendto(question(b"xmr.readanswer.example", b"\xca\xfe"), ("127.0.0.53", 53)); answer3 = os.read(u.fileno(), 512)
        out["read_answered"] = socket.inet_ntoa(answer3[-4:]); u.close()
        t.join(); srv.close()
        answered = socket.inet_ntoa(answer[-4:]); out["answered"] = answered
        l = socket.socket(); l.bind((out["unconnected_answered"], 0)); l.listen(1); out["unconnected_port"] = l.getsockname()[1]
        c = socket.socket(); c.bind(("127.0.0.89", 0)); c.connect((out["unconnected_answered"], out["unconnected_port"])); c.close(); l.close()
        # The next connection goes to the answered address, from yet another loopback address.
        l = socket.socket(); l.bind((answered, 0)); l.listen(1); out["mining_port"] = l.getsockname()[1]
        c = socket.socket(); c.bind(("127.0.0.88", 0)); c.connect((answered, out["mining_port"])); out["mining_client_port"] = c.getsockname()[1]
        c.close(); l.close()
        # Fileless: exec of a memfd.
        fd = os.memfd_create(f"{marker}-memfd", 0); out["memfd_fd"] = fd
        os.write(fd, open("/bin/true", "rb").read())
        pid = os.fork()
        if pid == 0:
            os.execv(f"/proc/self/fd/{fd}", [f"{marker}-memfd-true"])
        os.waitpid(pid, 0); out["memfd_child"] = pid
        # ptrace attach to a child of ours.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        child = os.fork()
        if child == 0:
            time.sleep(10); os._exit(0)
        out["ptrace_rc"] = libc.ptrace(16, child, None, None)
        if out["ptrace_rc"] == 0: os.waitpid(child, 0); libc.ptrace(17, child, None, None)
        os.kill(child, 9); os.waitpid(child, 0); out["ptrace_child"] = child
        with open(f"{d}/result.json", "w") as f: json.dump(out, f)
        """#

    /// Run as uid/gid 61999 (no such user: the name is the number): a file created, a refused
    /// connection.
    static let nonRootScript = #"""
        import os, sys, socket, json
        d, marker = sys.argv[1], sys.argv[2]
        with open(f"{d}/{marker}-nonroot.txt", "w") as f: f.write("n")
        s = socket.socket(); s.bind(("127.0.0.24", 0)); client_port = s.getsockname()[1]
        try: s.connect(("127.0.0.23", 9))
        except ConnectionRefusedError: pass
        port_after = s.getsockname()[1]   # still the bound port after the refusal
        s.close()
        with open(f"{d}/nonroot.json", "w") as f:
            json.dump({"pid": os.getpid(), "uid": os.getuid(), "euid": os.geteuid(), "client_port": client_port, "port_after": port_after}, f)
        """#
    static let spareUID = 61999

    @Test func networkFilesDnsAndPostExecActivity() throws {
        let marker = "edrtel" + String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10)).lowercased()
        var rules: [String: String] = [
            "net.yml": Self.rule("network_connection", 1, selection: "Image|endswith: '/python3.11'"),
            "create.yml": Self.rule("file_event", 2, selection: "TargetFilename|contains: '\(marker)'"),
            "change.yml": Self.rule("file_change", 3, selection: "TargetFilename|contains: '\(marker)'"),
            "rename.yml": Self.rule("file_rename", 4, selection: "SourceFilename|contains: '\(marker)'"),
            "delete.yml": Self.rule("file_delete", 5, selection: "TargetFilename|contains: '\(marker)'"),
            "dns.yml": Self.rule("dns_query", 6, selection: "QueryName: 'pool.minexmr.com'"),
            "dns2.yml": Self.rule("dns_query", 12, selection: "QueryName: 'xmr.unconnected.example'"),
            "dns3.yml": Self.rule("dns_query", 13, selection: "QueryName: 'xmr.readanswer.example'"),
            "ptrace.yml": Self.rule("process_access", 7, selection: "GrantedAccess: 'PTRACE_ATTACH'"),
            "memfd.yml": Self.rule("memfd_create", 8, selection: "MemfdName|contains: '\(marker)'"),
            "fileless.yml": Self.rule("fileless_exec", 9, selection: "Image|contains: '\(marker)'"),
            "exec.yml": Self.rule("process_creation", 10, selection: "CommandLine|contains: '\(marker)-memfd-true'"),
            "nonroot.yml": Self.rule("process_creation", 11, selection: "CommandLine|contains: '\(marker)-nonroot'")
        ]
        // SigmaHQ's own Linux rules for the categories, unchanged.
        let sigmaHQ = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux")
        for sub in ["network_connection", "file_event"] {
            let dir = sigmaHQ.appendingPathComponent(sub)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yml") }
            try #require(!files.isEmpty, "no SigmaHQ rules in \(dir.path)")
            for f in files { rules["sigmahq-\(f)"] = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8) }
        }
        let agent = try AgentHarness(extraRules: rules)
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        for hook in ["edr_sys_enter", "edr_sys_exit", "edr_fileless_exec", "edr_cgroup_exec", "edr_exec", "edr_exit", "edr_fork"] {
            #expect(agent.output.contains("\(hook):attached"), "\(hook) not attached:\n\(agent.output)")
        }

        let work = agent.dir.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        // The file the script only reads (created here, by this process, before the script runs).
        try "read me\n".write(toFile: work.path + "/\(marker)-ro.txt", atomically: false, encoding: .utf8)
        let scriptPath = agent.dir.appendingPathComponent("actions.py").path
        try Self.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let pid = try spawnChild(Self.python, [scriptPath, work.path, marker])
        var status: Int32 = 0
        try #require(waitForChild(pid, &status, timeout: 120), "action script still running after 120 s")
        try #require(status == 0, "action script failed (status \(status))")

        // The same kind of activity by a user who is not root.
        let nonRootDir = work.appendingPathComponent("nonroot")
        try FileManager.default.createDirectory(at: nonRootDir, withIntermediateDirectories: true)
        chmod(nonRootDir.path, 0o777)
        let nonRootScript = agent.dir.appendingPathComponent("nonroot.py").path
        try Self.nonRootScript.write(toFile: nonRootScript, atomically: true, encoding: .utf8)
        chmod(nonRootScript, 0o644)
        let nonRootPID = try spawnChild(
            "/usr/bin/setpriv",
            [
                "--reuid=\(Self.spareUID)", "--regid=\(Self.spareUID)", "--clear-groups",
                Self.python, nonRootScript, nonRootDir.path, "\(marker)-nonroot"
            ])
        try #require(waitForChild(nonRootPID, &status, timeout: 60), "non-root script still running after 60 s")
        try #require(status == 0, "non-root script failed (status \(status))")
        let resultData = try Data(contentsOf: work.appendingPathComponent("result.json"))
        let result = try #require(try JSONSerialization.jsonObject(with: resultData) as? [String: Any])
        let w = work.path

        func event(_ a: [String: Any]) -> [String: Any] { a.path("edr", "event") as? [String: Any] ?? [:] }
        func category(_ a: [String: Any]) -> String? { a.path("edr", "logsource", "category") as? String }
        func findAlert(_ cat: String, _ what: String, pid: pid_t = pid, _ match: @escaping ([String: Any]) -> Bool) -> [String: Any]? {
            let a = agent.waitForAlert(timeout: 30) { a in category(a) == cat && (event(a)["ProcessId"] as? Int) == Int(pid) && match(event(a)) }
            if a == nil {
                Issue.record("no \(cat) alert for \(what); alerts: \(agent.alerts().filter { category($0) == cat }.map(event))\n\(agent.output.suffix(3000))")
            }
            return a
        }
        func find(_ cat: String, _ what: String, pid: pid_t = pid, _ match: @escaping ([String: Any]) -> Bool) -> [String: Any]? {
            findAlert(cat, what, pid: pid, match).map(event)
        }

        // Files, absolute paths whatever the call was relative to.
        let created = find("file_event", "create") { ($0["TargetFilename"] as? String) == "\(w)/\(marker)-a.txt" }
        #expect(created?["Image"] as? String == Self.python)
        #expect(created?["User"] as? String == "root")
        #expect((created?["ProcessGuid"] as? String)?.count == 38)
        _ = find("file_change", "write-open of an existing file") { ($0["TargetFilename"] as? String) == "\(w)/\(marker)-a.txt" }
        _ = find("file_rename", "rename") {
            ($0["SourceFilename"] as? String) == "\(w)/\(marker)-a.txt" && ($0["TargetFilename"] as? String) == "\(w)/\(marker)-b.txt"
        }
        _ = find("file_delete", "unlink") { ($0["TargetFilename"] as? String) == "\(w)/\(marker)-b.txt" }
        _ = find("file_event", "create relative to another cwd") { ($0["TargetFilename"] as? String) == "\(w)/\(marker)-rel.txt" }
        _ = find("file_rename", "relative rename") {
            ($0["SourceFilename"] as? String) == "\(w)/\(marker)-rel.txt" && ($0["TargetFilename"] as? String) == "\(w)/sub/\(marker)-rel2.txt"
        }
        _ = find("file_delete", "unlinkat relative to a directory fd") { ($0["TargetFilename"] as? String) == "\(w)/sub/\(marker)-rel2.txt" }
        #expect(
            agent.waitForAlert { a in (a.path("rule", "name") as? String) == "Linux Doas Conf File Creation" && (event(a)["ProcessId"] as? Int) == Int(pid) }
                != nil,
            "SigmaHQ doas.conf rule did not fire")

        // Network: accepted and refused, v4 and v6, and the inbound side.
        for (key, server, client) in [("v4", "127.0.0.21", "127.0.0.22"), ("v6", "::1", "::1")] {
            let info = try #require(result[key] as? [String: Any])
            let port = try #require(info["port"] as? Int), clientPort = try #require(info["client_port"] as? Int)
            let refusedPort = try #require(info["refused_port"] as? Int)
            #expect(info["refused"] as? Bool == true)
            #expect(info["peer"] as? String == client)
            let out = find("network_connection", "\(key) connect") {
                ($0["Syscall"] as? String) == "connect" && ($0["DestinationPort"] as? Int) == port
            }
            #expect(out?["Initiated"] as? Bool == true && out?["Protocol"] as? String == "tcp" && out?["Result"] as? String == "success")
            #expect(out?["DestinationIp"] as? String == server, "\(key) connect: \(out ?? [:])")
            #expect(out?["SourceIp"] as? String == client, "\(key) connect: \(out ?? [:])")
            #expect(out?["SourcePort"] as? Int == clientPort)
            #expect(out?["SourceIsIpv6"] as? Bool == (key == "v6") && out?["DestinationIsIpv6"] as? Bool == (key == "v6"))
            // Inbound: the peer is the source.
            let inbound = find("network_connection", "\(key) accept") {
                ($0["Syscall"] as? String) == "accept" && ($0["DestinationPort"] as? Int) == port
            }
            #expect(inbound?["Initiated"] as? Bool == false && inbound?["SourcePort"] as? Int == clientPort)
            #expect(inbound?["SourceIp"] as? String == client, "\(key) accept: \(inbound ?? [:])")
            #expect(inbound?["DestinationIp"] as? String == server, "\(key) accept: \(inbound ?? [:])")
            let refused = find("network_connection", "\(key) refused connect") {
                ($0["Syscall"] as? String) == "connect" && ($0["DestinationPort"] as? Int) == refusedPort
            }
            #expect(refused?["Result"] as? String == "refused" && refused?["DestinationIp"] as? String == server)
            #expect(refused?["SourceIp"] as? String == client, "\(key) refused: \(refused ?? [:])")
            // bind: the listener's and the free port's sockets, each bound to the server address.
            for bound in [port, refusedPort] {
                let b = find("network_connection", "\(key) bind to \(bound)") {
                    ($0["Syscall"] as? String) == "bind" && ($0["DestinationPort"] as? Int) == bound
                }
                #expect(b?["DestinationIp"] as? String == server && b?["Initiated"] as? Bool == false && b?["Result"] as? String == "success")
            }
        }

        // DNS: the query with its answer, then a connection that carries the name.
        // The answer: header 12 + question 22 + answer record 16 bytes.
        #expect(result["dns_answer"] as? Int == 50)
        #expect(result["answered"] as? String == "127.0.0.77")
        let dns = find("dns_query", "stub resolver query") { ($0["QueryName"] as? String) == "pool.minexmr.com" }
        #expect(dns?["QueryType"] as? String == "A" && dns?["QueryStatus"] as? String == "0" && dns?["Protocol"] as? String == "udp")
        #expect(dns?["QueryResults"] as? String == "127.0.0.77;")
        #expect(dns?["DnsServer"] as? String == "127.0.0.53")
        let miningPort = try #require(result["mining_port"] as? Int), miningClientPort = try #require(result["mining_client_port"] as? Int)
        let named = find("network_connection", "connect after the DNS answer") {
            ($0["Syscall"] as? String) == "connect" && ($0["DestinationPort"] as? Int) == miningPort
        }
        #expect(named?["DestinationHostname"] as? String == "pool.minexmr.com")
        #expect(named?["DestinationIp"] as? String == "127.0.0.77")
        #expect(named?["SourceIp"] as? String == "127.0.0.88" && named?["SourcePort"] as? Int == miningClientPort)
        // The unconnected socket: sendto, answered through recv (no address: the kernel's
        // socket has no peer either); the answer still names the next connection.
        #expect(result["unconnected_answered"] as? String == "127.0.0.78")
        let dns2 = find("dns_query", "query from an unconnected socket") { ($0["QueryName"] as? String) == "xmr.unconnected.example" }
        #expect(dns2?["QueryStatus"] as? String == "0" && dns2?["QueryResults"] as? String == "127.0.0.78;", "\(dns2 ?? [:])")
        #expect(dns2?["DnsServer"] as? String == "127.0.0.53", "\(dns2 ?? [:])")
        let unconnectedPort = try #require(result["unconnected_port"] as? Int)
        let named2 = find("network_connection", "connect after the unconnected DNS answer") {
            ($0["Syscall"] as? String) == "connect" && ($0["DestinationPort"] as? Int) == unconnectedPort
        }
        #expect(named2?["DestinationHostname"] as? String == "xmr.unconnected.example", "\(named2 ?? [:])")
        #expect(result["read_answered"] as? String == "127.0.0.79")
        let dns3 = find("dns_query", "answer read with read(2)") { ($0["QueryName"] as? String) == "xmr.readanswer.example" }
        #expect(dns3?["QueryStatus"] as? String == "0" && dns3?["QueryResults"] as? String == "127.0.0.79;", "\(dns3 ?? [:])")
        #expect(
            agent.waitForAlert { a in
                (a.path("rule", "name") as? String) == "Linux Crypto Mining Pool Connections" && (event(a)["ProcessId"] as? Int) == Int(pid)
            } != nil,
            "SigmaHQ crypto mining rule did not fire on DestinationHostname")

        // memfd_create by the script, then the exec of the memfd by its child.
        let memfd = find("memfd_create", "memfd_create") { ($0["MemfdName"] as? String) == "\(marker)-memfd" }
        let memfdFD = try #require(result["memfd_fd"] as? Int)
        #expect(memfd?["Result"] as? String == "fd \(memfdFD)")
        let memfdChild = try #require(result["memfd_child"] as? Int)
        let fileless = agent.waitForAlert(timeout: 20) { a in category(a) == "fileless_exec" && (event(a)["ProcessId"] as? Int) == memfdChild }
        #expect(
            fileless.map(event)?["Image"] as? String == "/memfd:\(marker)-memfd",
            "no fileless_exec alert:\n\(agent.alerts().filter { category($0) == "fileless_exec" }.map(event))")
        let memfdExec = agent.waitForAlert(timeout: 20) { a in category(a) == "process_creation" && (event(a)["ProcessId"] as? Int) == memfdChild }
        #expect(memfdExec.map(event)?["Image"] as? String == "/memfd:\(marker)-memfd", "process_creation of the memfd: \(memfdExec.map(event) ?? [:])")

        // ptrace attach: source and target.
        #expect(result["ptrace_rc"] as? Int == 0)
        let target = try #require(result["ptrace_child"] as? Int)
        let access = find("process_access", "ptrace attach") { ($0["TargetProcessId"] as? Int) == target }
        #expect(access?["SourceProcessId"] as? Int == Int(pid) && access?["SourceImage"] as? String == Self.python)
        #expect(access?["TargetImage"] as? String == Self.python && access?["Result"] as? String == "success")
        #expect((access?["TargetProcessGUID"] as? String)?.count == 38)
        #expect(access?["TargetProcessGUID"] as? String != access?["SourceProcessGUID"] as? String)

        // The non-root run: its user everywhere, as name (no passwd entry: the number) and id.
        let nonRoot = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: nonRootDir.appendingPathComponent("nonroot.json"))) as? [String: Any])
        #expect(nonRoot["pid"] as? Int == Int(nonRootPID) && nonRoot["uid"] as? Int == Self.spareUID && nonRoot["euid"] as? Int == Self.spareUID)
        // (setpriv itself, run by root, execs first under the same pid: the python exec is the one after setresuid.)
        let nonRootExec = findAlert("process_creation", "exec as uid \(Self.spareUID)", pid: nonRootPID) { ($0["Image"] as? String) == Self.python }
        #expect(nonRootExec.map(event)?["User"] as? String == "\(Self.spareUID)", "\(nonRootExec ?? [:])")
        #expect(nonRootExec?.path("user", "id") as? String == "\(Self.spareUID)" && nonRootExec?.path("user", "name") as? String == "\(Self.spareUID)")
        #expect(nonRootExec.map(event)?["Image"] as? String == Self.python)
        let nonRootFile = findAlert("file_event", "file created as uid \(Self.spareUID)", pid: nonRootPID) {
            ($0["TargetFilename"] as? String) == "\(nonRootDir.path)/\(marker)-nonroot-nonroot.txt"
        }
        #expect(nonRootFile.map(event)?["User"] as? String == "\(Self.spareUID)", "\(nonRootFile ?? [:])")
        #expect(nonRootFile?.path("user", "id") as? String == "\(Self.spareUID)")
        let nonRootNet = findAlert("network_connection", "connect as uid \(Self.spareUID)", pid: nonRootPID) {
            ($0["Syscall"] as? String) == "connect" && ($0["DestinationIp"] as? String) == "127.0.0.23"
        }
        #expect(nonRootNet.map(event)?["User"] as? String == "\(Self.spareUID)" && nonRootNet.map(event)?["SourceIp"] as? String == "127.0.0.24")
        #expect(nonRootNet.map(event)?["Result"] as? String == "refused" && nonRootNet.map(event)?["DestinationPort"] as? Int == 9)
        #expect(nonRoot["port_after"] as? Int == nonRoot["client_port"] as? Int)
        // The socket still names its port after the refusal (getsockname): so does the sensor
        // (it reads inet_sport; skc_num is released when the connect fails).
        #expect(nonRootNet.map(event)?["SourcePort"] as? Int == nonRoot["client_port"] as? Int, "\(nonRootNet.map(event) ?? [:]) \(nonRoot)")
        #expect(nonRootNet?.path("user", "id") as? String == "\(Self.spareUID)")
        // And root's activity was root's.
        #expect(created?["User"] as? String == "root")

        // Negative checks last, when every event of the script has long been processed.
        // The write-open of an existing file is a change, not a create: one create for a.txt.
        let creates = agent.alerts().filter {
            category($0) == "file_event" && (event($0)["ProcessId"] as? Int) == Int(pid) && (event($0)["TargetFilename"] as? String) == "\(w)/\(marker)-a.txt"
        }
        #expect(creates.count == 1, "file_event alerts for a.txt: \(creates.map(event))")
        // The read-only open of an existing file is no file event of any kind.
        let readOnly = agent.alerts().filter {
            (category($0) ?? "").hasPrefix("file_") && (event($0)["TargetFilename"] as? String) == "\(w)/\(marker)-ro.txt"
                && (event($0)["ProcessId"] as? Int) == Int(pid)
        }
        #expect(readOnly.isEmpty, "a read-only open was reported: \(readOnly.map(event))")
        #expect(result["ro"] as? String == "read me\n")
    }

    /// bash's /dev/tcp to ::1 is what SigmaHQ's "Linux Reverse Shell Indicator" looks for
    /// (its filter only spares 127.0.0.1 and 0.0.0.0).
    @Test func sigmaHQReverseShellRuleOnBashDevTcp() throws {
        let dir = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/corpora/sigmahq/rules/linux/network_connection")
        let name = "net_connection_lnx_back_connect_shell_dev.yml"
        let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
        let agent = try AgentHarness(extraRules: [name: text])
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        // A listener on ::1 so the connection succeeds; the shell closes at once.
        let listener = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr = in6addr_loopback
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        listen(listener, 4)
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin6_port))
        let bash = try spawnChild("/bin/bash", ["-c", "exec 3<>/dev/tcp/::1/\(port); exec 3>&-"])
        var status: Int32 = 0
        try #require(waitForChild(bash, &status, timeout: 60), "bash still running after 60 s")
        let alert = try #require(
            agent.waitForAlert(timeout: 30) { a in
                (a.path("rule", "name") as? String) == "Linux Reverse Shell Indicator" && (a.path("process", "pid") as? Int) == Int(bash)
            },
            "reverse shell rule did not fire:\n\(agent.output.suffix(2000))")
        #expect(alert.path("edr", "event", "DestinationIp") as? String == "::1")
        #expect(alert.path("edr", "event", "DestinationPort") as? Int == port)
        #expect(alert.path("edr", "event", "Image") as? String == "/usr/bin/bash")
        #expect(alert.path("rule", "id") as? String == "83dcd9f6-9ca8-4af7-a16e-a1c7a6b51871")
    }

    /// Issue 12: connect's destination must not depend on the caller's memory. The sockaddr
    /// lies in a page that is mapped but not yet faulted in, so the sensor cannot read it at
    /// entry (the kernel faults it in during the call): the record used to be dropped. Both
    /// the accepted and the refused connect are reported with the kernel's own destination.
    @Test func connectDestinationsComeFromTheKernel() throws {
        let agent = try AgentHarness(extraRules: ["kernel.yml": Self.rule("network_connection", 41, selection: "DestinationIp: '127.0.0.71'")])
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        let dir = NSTemporaryDirectory() + "edr-kaddr-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = """
            import ctypes, json, mmap, os, socket, struct, sys
            d = sys.argv[1]
            libc = ctypes.CDLL(None, use_errno=True)
            l = socket.socket(); l.bind(("127.0.0.71", 0)); l.listen(4); port = l.getsockname()[1]
            r = socket.socket(); r.bind(("127.0.0.71", 0)); refused = r.getsockname()[1]; r.close()
            out = {"pid": os.getpid(), "port": port, "refused_port": refused, "rc": {}}
            for key, p in (("ok", port), ("refused", refused)):
                path = f"{d}/sockaddr-{key}"
                with open(path, "wb") as f: f.write(struct.pack("<H", 2) + struct.pack(">H", p) + socket.inet_aton("127.0.0.71") + bytes(4088))
                fd = os.open(path, os.O_RDWR); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                mm = mmap.mmap(fd, 4096, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)   # nothing touched: no page yet
                buf = ctypes.c_char.from_buffer(mm)
                c = socket.socket(); c.bind(("127.0.0.72", 0))
                out["rc"][key] = libc.connect(c.fileno(), ctypes.byref(buf), 16)
                out[key + "_client_port"] = c.getsockname()[1]
                del buf; c.close(); mm.close(); os.close(fd)
            l.close()
            print(json.dumps(out))
            """
        let run = try runWithDeadline(Self.python, ["-c", script, dir], timeout: 60)
        try #require(run.status == 0, "\(run.output)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any], "\(run.output)")
        let rc = out["rc"] as? [String: Int] ?? [:]
        #expect(rc["ok"] == 0 && rc["refused"] == -1, "\(out)")
        let pid = try #require(out["pid"] as? Int)
        for (key, portKey, result) in [("ok", "port", "success"), ("refused", "refused_port", "refused")] {
            let port = try #require(out[portKey] as? Int)
            let alert = agent.waitForAlert(timeout: 30) { a in
                (a.path("edr", "event", "ProcessId") as? Int) == pid && (a.path("edr", "event", "DestinationPort") as? Int) == port
                    && (a.path("edr", "event", "Syscall") as? String) == "connect"
            }
            let e = alert?.path("edr", "event") as? [String: Any] ?? [:]
            #expect(alert != nil, "the \(key) connect from an unfaulted sockaddr was not reported:\n\(agent.output.suffix(1500))")
            #expect(e["DestinationIp"] as? String == "127.0.0.71" && e["Result"] as? String == result, "\(key): \(e)")
            #expect(e["SourceIp"] as? String == "127.0.0.72" && e["SourcePort"] as? Int == out[key + "_client_port"] as? Int, "\(key): \(e)")
            #expect(e["DestinationFromUserMemory"] == nil, "\(key): the kernel's destination, not the caller's memory: \(e)")
        }
    }

    /// Issue 12: a 64-bit program creates a file through the 32-bit gate (int 0x80), which the
    /// x86_64 file telemetry cannot decode: the bundled rule names the process and the call.
    @Test func thirtyTwoBitSyscallsAreReportedAsUnmonitored() throws {
        let source = repoRoot.appendingPathComponent("Tests/EndToEndTests/Fixtures/int80_creat.c").path
        let dir = NSTemporaryDirectory() + "edr-int80-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cc = try runWithDeadline("/usr/bin/cc", ["-O2", "-o", dir + "/int80_creat", source], timeout: 120)
        try #require(cc.status == 0, "\(cc.output)")
        let agent = try AgentHarness()
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")
        let pid = try spawnChild(dir + "/int80_creat", [dir + "/created-by-int80"])
        var status: Int32 = 0
        try #require(waitForChild(pid, &status, timeout: 30))
        #expect(status == 0 && FileManager.default.fileExists(atPath: dir + "/created-by-int80"), "int 0x80 creat failed")
        let alert = agent.waitForAlert(timeout: 30) { a in
            (a.path("rule", "name") as? String) == "32-Bit System Calls Unseen By File And Network Telemetry"
                && (a.path("edr", "event", "ProcessId") as? Int) == Int(pid)
        }
        let event = alert?.path("edr", "event") as? [String: Any] ?? [:]
        #expect(alert != nil, "no compat_syscall alert:\n\(agent.output.suffix(2000))")
        #expect(event["SyscallName"] as? String == "creat" && event["SyscallNumber"] as? Int == 8, "\(event)")
        #expect(event["Image"] as? String == dir + "/int80_creat", "\(event)")
        #expect((event["Count"] as? Int ?? 0) >= 1, "\(event)")
    }

    /// Issue 12: 20,000 threads blocked in accept() each hold a syscall state in the sensor's
    /// programs; the per-thread state used to live in one 16,384-entry map, which such a flood
    /// kept full, silencing every process's file and network telemetry. A connect by another
    /// process during the flood must still be reported.
    @Test func aThreadFloodCannotSilenceOtherProcesses() throws {
        let source = repoRoot.appendingPathComponent("Tests/EndToEndTests/Fixtures/thread_flood.c").path
        let dir = NSTemporaryDirectory() + "edr-flood-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cc = try runWithDeadline("/usr/bin/cc", ["-O2", "-pthread", "-o", dir + "/thread_flood", source], timeout: 120)
        try #require(cc.status == 0, "\(cc.output)")
        let agent = try AgentHarness(extraRules: ["victim.yml": Self.rule("network_connection", 40, selection: "DestinationIp: '127.0.0.62'")])
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")

        let flood = Process()
        flood.executableURL = URL(fileURLWithPath: dir + "/thread_flood")
        flood.arguments = ["20000"]
        let out = Pipe()
        flood.standardOutput = out
        flood.standardError = out
        try flood.run()
        // SIGKILL: the test runner's threads block SIGTERM, and a spawned child inherits that mask.
        defer { kill(flood.processIdentifier, SIGKILL); flood.waitUntilExit() }
        // Wait for "ready" (every thread blocked), at most 120 s.
        var ready = false
        let deadline = Date().addingTimeInterval(120)
        var text = ""
        while Date() < deadline && flood.isRunning {
            var p = pollfd(fd: out.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 500) == 1 {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
                if text.contains("ready 20000") { ready = true; break }
            }
        }
        try #require(ready, "the flood did not start 20,000 threads: \(text)")
        print("flood: 20,000 threads blocked in accept()")

        // The victim: another process connects while the flood holds its 20,000 states.
        let script = """
            import socket, json, sys
            l = socket.socket(); l.bind(("127.0.0.62", 0)); l.listen(1); port = l.getsockname()[1]
            c = socket.socket(); c.bind(("127.0.0.63", 0)); c.connect(("127.0.0.62", port))
            print(json.dumps({"port": port})); c.close(); l.close()
            """
        let victim = try runWithDeadline(Self.python, ["-c", script], timeout: 60)
        print("flood: victim \(victim.status) \(victim.output)")
        try #require(victim.status == 0, "\(victim.output)")
        let port = try #require((try JSONSerialization.jsonObject(with: Data(victim.output.utf8)) as? [String: Any])?["port"] as? Int)
        let alert = agent.waitForAlert(timeout: 30) { a in
            (a.path("edr", "event", "DestinationPort") as? Int) == port && (a.path("edr", "event", "Syscall") as? String) == "connect"
        }
        #expect(alert != nil, "the connect during the flood was not reported:\n\(agent.output.suffix(2000))")
    }
}

/// waitpid with a deadline: false if the child is still running after `timeout` seconds (it is
/// then killed and reaped, so nothing is left behind).
func waitForChild(_ pid: pid_t, _ status: inout Int32, timeout: Double) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return true }
        if r < 0 && errno != EINTR { return false }
        usleep(20_000)
    }
    kill(pid, SIGKILL)
    waitpid(pid, &status, 0)
    return false

}
