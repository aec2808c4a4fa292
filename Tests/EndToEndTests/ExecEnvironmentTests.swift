import Testing
import Foundation
import EDRCore

/// Runs `path` with exactly `environment` (no inherited variable) and waits for it.
func runWithEnvironment(_ path: String, _ args: [String], environment: [String]) throws -> pid_t {
    var pid: pid_t = 0
    let argv = ([path] + args).map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0) } + [nil]
    defer { for p in argv + envp { free(p) } }
    let rc = posix_spawn(&pid, path, nil, nil, argv, envp)
    guard rc == 0 else { throw EDRError("posix_spawn \(path): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(30)
    while waitpid(pid, &status, WNOHANG) == 0 {
        guard Date() < deadline else { kill(pid, SIGKILL); waitpid(pid, nil, 0); throw EDRError("\(path) did not exit within 30 s") }
        usleep(10_000)
    }
    return pid
}

/// The environment at exec, as an attacker would use it: LD_PRELOAD on a plain command, a
/// variable nobody asked for (a secret) that must never leave the detector, and an
/// environment padded past the kernel's 8 KiB cap to push LD_PRELOAD out of sight.
@Suite("Environment at exec", .serialized, .enabled(if: runningAsRoot, "the agent loads eBPF: run as root"))
struct ExecEnvironmentTests {
    static func token() -> String { String(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12)).lowercased() }

    static func rule(_ title: String, _ t: String, _ selection: String) -> String {
        """
        title: \(title)
        id: 0d1c2b3a-0000-4000-8000-\(t)
        status: test
        level: high
        logsource: {product: linux, category: process_creation}
        detection:
          selection:
        \(selection)
          condition: selection
        """
    }

    @Test func ldPreloadIsAFieldRulesMatchAndOnlyListedVariablesAppear() throws {
        let t = Self.token()
        let lib = "/tmp/x-\(t).so"
        let agent = try AgentHarness(
            extraRules: [
                "preload.yml": Self.rule("e2e LD_PRELOAD \(t)", t, "    Env.LD_PRELOAD|endswith: '/x-\(t).so'")
            ],
            extraConfig: """
                [telemetry]
                environment = ["LD_PRELOAD", "LD_LIBRARY_PATH", "EDR_E2E_LISTED"]
                """)
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")

        let secret = "EDR_E2E_SECRET=hunter2-\(t)"
        let pid = try runWithEnvironment(
            "/bin/true", ["preload-\(t)"],
            environment: [
                "PATH=/usr/bin:/bin", secret, "LD_PRELOAD=\(lib)", "EDR_E2E_LISTED=listed-\(t)", "LD_LIBRARY_PATH=/tmp/lib-\(t)"
            ])
        let alert = try #require(
            agent.waitForAlert(timeout: 30) { a in
                (a.path("rule", "name") as? String) == "e2e LD_PRELOAD \(t)" && (a.path("process", "pid") as? Int) == Int(pid)
            }, "no alert for LD_PRELOAD:\n\(agent.output.suffix(3000))")
        #expect(alert.path("edr", "event", "Env.LD_PRELOAD") as? String == lib)
        #expect(alert.path("edr", "event", "Env.LD_LIBRARY_PATH") as? String == "/tmp/lib-\(t)")
        #expect(alert.path("edr", "event", "Env.EDR_E2E_LISTED") as? String == "listed-\(t)")
        let listed = ["LD_PRELOAD=\(lib)", "EDR_E2E_LISTED=listed-\(t)", "LD_LIBRARY_PATH=/tmp/lib-\(t)"]
        #expect(alert.path("edr", "event", "Environment") as? [String] == listed)
        #expect(alert.path("process", "env_vars") as? [String] == listed)
        #expect(alert.path("edr", "event", "Truncated") == nil)
        // Neither the unlisted variable nor PATH reaches any alert.
        let text = try String(contentsOfFile: agent.alertsPath, encoding: .utf8)
        #expect(!text.contains("hunter2-\(t)") && !text.contains("EDR_E2E_SECRET"), "an unlisted variable left the detector")
        #expect(alert.path("edr", "event", "Env.PATH") == nil)

        // A variable given twice: ld.so uses the last LD_PRELOAD, getenv the first; both are shown.
        let twice = try runWithEnvironment(
            "/bin/true", ["twice-\(t)"],
            environment: [
                "LD_PRELOAD=/tmp/first-\(t).so", "LD_PRELOAD=\(lib)"
            ])
        let both = try #require(
            agent.waitForAlert(timeout: 30) { a in
                (a.path("rule", "name") as? String) == "e2e LD_PRELOAD \(t)" && (a.path("process", "pid") as? Int) == Int(twice)
            }, "no alert for the second LD_PRELOAD:\n\(agent.output.suffix(3000))")
        #expect(both.path("edr", "event", "Env.LD_PRELOAD") as? [String] == ["/tmp/first-\(t).so", lib])
    }

    /// 200 KiB of environment: nothing breaks, the event says the environment was cut, and a
    /// LD_PRELOAD placed past the cap is not invented; one placed before the cap is still seen.
    @Test func aHugeEnvironmentIsCutAndSaysSo() throws {
        let t = Self.token()
        let agent = try AgentHarness(extraRules: [
            "huge.yml": Self.rule("e2e huge environment \(t)", t, "    CommandLine|contains: 'huge-\(t)'")
        ])
        defer { _ = agent.stop() }
        try #require(agent.waitFor("edr: ready", timeout: 60), "agent did not become ready:\n\(agent.output)")

        // One string may not exceed 128 KiB (MAX_ARG_STRLEN): fifty 4 KiB variables.
        let padding = (0..<50).map { "EDR_E2E_PAD\($0)=" + String(repeating: "p", count: 4096) }
        let late = try runWithEnvironment("/bin/true", ["huge-\(t)", "late"], environment: padding + ["LD_PRELOAD=/tmp/late-\(t).so"])
        let early = try runWithEnvironment("/bin/true", ["huge-\(t)", "early"], environment: ["LD_PRELOAD=/tmp/early-\(t).so"] + padding)
        for (pid, what) in [(late, "late"), (early, "early")] {
            let alert = try #require(
                agent.waitForAlert(timeout: 30) { a in
                    (a.path("rule", "name") as? String) == "e2e huge environment \(t)" && (a.path("process", "pid") as? Int) == Int(pid)
                }, "no alert for the \(what) exec with a 200 KiB environment:\n\(agent.output.suffix(3000))")
            #expect((alert.path("edr", "event", "Truncated") as? [String])?.contains("Environment") == true, "\(alert)")
            #expect(alert.path("edr", "event", "CommandLine") as? String == "/bin/true huge-\(t) \(what)")
            if what == "late" {
                #expect(alert.path("edr", "event", "Env.LD_PRELOAD") == nil)
            } else {
                #expect(alert.path("edr", "event", "Env.LD_PRELOAD") as? String == "/tmp/early-\(t).so")
            }
        }
        // The agent is still whole: a small exec afterwards is reported without truncation.
        let small = try runWithEnvironment("/bin/true", ["huge-\(t)", "small"], environment: ["LD_PRELOAD=/tmp/small-\(t).so"])
        let after = try #require(
            agent.waitForAlert(timeout: 30) { a in
                (a.path("rule", "name") as? String) == "e2e huge environment \(t)" && (a.path("process", "pid") as? Int) == Int(small)
            }, "no alert after the huge environments:\n\(agent.output.suffix(3000))")
        #expect(after.path("edr", "event", "Truncated") == nil)
        #expect(after.path("edr", "event", "Env.LD_PRELOAD") as? String == "/tmp/small-\(t).so")
    }
}
