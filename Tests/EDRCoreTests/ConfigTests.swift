import Testing
import Foundation
@testable import EDRCore

@Suite("Configuration")
struct ConfigTests {
    func write(_ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edr-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("edr.toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsWithoutFile() throws {
        let c = try AgentConfig.load(file: nil, environment: [:])
        #expect(c == AgentConfig())
        #expect(c.response.enabled == false)
        #expect(c.detect.user == "", "empty: a dynamic uid of its own")
        #expect(c.response.user == "")
        #expect(c.response.dryRun == false && c.response.maxKillsPerMinute == 100)
        #expect(c.response.protectedExecutables.contains("/usr/sbin/sshd"))
    }

    @Test func responseKeysAreCheckedByName() throws {
        var c = AgentConfig()
        try c.apply(
            toml: "[response]\ndry_run = true\nmax_kills_per_minute = 7\nprotected_users = [\"root\"]\nprotected_executables = [\"/usr/bin/x\", \"/opt/\"]",
            origin: "t.toml")
        #expect(c.response.dryRun && c.response.maxKillsPerMinute == 7 && c.response.protectedUsers == ["root"])
        #expect(c.response.protectedExecutables == ["/usr/bin/x", "/opt/"])
        #expect(throws: ConfigError("t.toml: response.protected_executables[0]: \"sshd\" is not an absolute path")) {
            var d = AgentConfig()
            try d.apply(toml: "[response]\nprotected_executables = [\"sshd\"]", origin: "t.toml")
        }
        #expect(throws: ConfigError("t.toml: response.max_kills_per_minute must be between 0 and 100000, not -1")) {
            var d = AgentConfig()
            try d.apply(toml: "[response]\nmax_kills_per_minute = -1", origin: "t.toml")
        }
    }

    @Test func fileThenEnvironmentPrecedence() throws {
        let path = try write(
            """
            [sigma]
            rules = ["rules", "/abs/rules"]
            [alerts]
            path = "/tmp/a.ndjson"
            [response]
            enabled = true
            min_level = "high"
            """)
        let fromFile = try AgentConfig.load(file: path, environment: [:])
        #expect(fromFile.sigma.rules == [directoryName(of: path) + "/rules", "/abs/rules"])
        #expect(fromFile.alerts.path == "/tmp/a.ndjson")
        #expect(fromFile.response.enabled && fromFile.response.minLevel == "high")

        let env = [
            "EDR__RESPONSE__ENABLED": "false", "EDR__ALERTS__PATH": "\"/tmp/b.ndjson\"",
            "EDR__SIGMA__RULES": "[\"/x\"]", "EDR__SENSOR__RING_BUFFER_MIB": "32", "HOME": "/root",
            "EDR__DETECT__USER": "edr-detect"
        ]
        let both = try AgentConfig.load(file: path, environment: env)
        #expect(both.response.enabled == false)
        #expect(both.response.minLevel == "high")  // untouched by the environment
        #expect(both.alerts.path == "/tmp/b.ndjson")
        #expect(both.sigma.rules == ["/x"])
        #expect(both.sensor.ringBufferMiB == 32)
        #expect(both.detect.user == "edr-detect")  // bare word taken as a string
    }

    @Test func unknownKeysAreNamed() throws {
        let path = try write("[sigma]\nrulez = []\n")
        #expect { try AgentConfig.load(file: path, environment: [:]) } throws: { e in
            "\(e)".contains("unknown key 'sigma.rulez'") && "\(e)".contains(path)
        }
        let section = try write("[sigmaa]\nrules = []\n")
        #expect { try AgentConfig.load(file: section, environment: [:]) } throws: { e in "\(e)".contains("unknown section [sigmaa]") }
        #expect { try AgentConfig.load(file: nil, environment: ["EDR__ALERTS__PAHT": "x"]) } throws: { e in
            "\(e)".contains("EDR__ALERTS__PAHT") && "\(e)".contains("alerts.paht")
        }
        #expect { try AgentConfig.load(file: nil, environment: ["EDR__NOPE": "x"]) } throws: { e in "\(e)".contains("EDR__SECTION__KEY") }
    }

    @Test func typeAndRangeErrorsNameTheKey() throws {
        let wrongType = try write("[response]\nenabled = \"yes\"\n")
        #expect { try AgentConfig.load(file: wrongType, environment: [:]) } throws: { e in "\(e)".contains("response.enabled must be true or false") }
        let level = try write("[response]\nmin_level = \"severe\"\n")
        #expect { try AgentConfig.load(file: level, environment: [:]) } throws: { e in "\(e)".contains("min_level must be") }
        let ring = try write("[sensor]\nring_buffer_mib = 3\n")
        #expect { try AgentConfig.load(file: ring, environment: [:]) } throws: { e in "\(e)".contains("power of two") }
        #expect { try AgentConfig.load(file: nil, environment: ["EDR__SIGMA__RULES": "[1, 2]"]) } throws: { e in
            "\(e)".contains("EDR__SIGMA__RULES[0] must be a string")
        }
    }

    @Test func telemetryEnvironmentNames() throws {
        #expect(AgentConfig().telemetry.environment == ["LD_PRELOAD", "LD_LIBRARY_PATH"])
        let listed = try AgentConfig.load(file: try write("[telemetry]\nenvironment = [\"LD_AUDIT\", \"BASH_FUNC_x%%\"]\n"), environment: [:])
        #expect(listed.telemetry.environment == ["LD_AUDIT", "BASH_FUNC_x%%"])
        let none = try AgentConfig.load(file: nil, environment: ["EDR__TELEMETRY__ENVIRONMENT": "[]"])
        #expect(none.telemetry.environment == [])
        let withEquals = try write("[telemetry]\nenvironment = [\"LD_PRELOAD\", \"A=B\"]\n")
        #expect { try AgentConfig.load(file: withEquals, environment: [:]) } throws: { e in
            "\(e)".contains("telemetry.environment[1]: \"A=B\" is not an environment variable name")
        }
        let empty = try write("[telemetry]\nenvironment = [\"\"]\n")
        #expect { try AgentConfig.load(file: empty, environment: [:]) } throws: { e in "\(e)".contains("telemetry.environment[0]") }
        let wrongType = try write("[telemetry]\nenvironment = \"LD_PRELOAD\"\n")
        #expect { try AgentConfig.load(file: wrongType, environment: [:]) } throws: { e in
            "\(e)".contains("telemetry.environment must be an array of strings")
        }
        let unknown = try write("[telemetry]\nenv = []\n")
        #expect { try AgentConfig.load(file: unknown, environment: [:]) } throws: { e in "\(e)".contains("unknown key 'telemetry.env'") }
    }

    @Test func logsSection() throws {
        let d = AgentConfig().logs
        #expect(!d.enabled && d.journal && d.files == ["/var/log/auth.log", "/var/log/syslog"] && d.stateDir == "/var/lib/edr")
        #expect(d.groups == ["systemd-journal", "adm"] && d.user.isEmpty)
        let c = try AgentConfig.load(
            file: try write("[logs]\nenabled = true\njournal = false\nfiles = [\"/srv/log/app.log\"]\nstate_dir = \"/srv/state\"\ngroups = [\"adm\"]\n"),
            environment: [:])
        #expect(c.logs.enabled && !c.logs.journal && c.logs.files == ["/srv/log/app.log"] && c.logs.stateDir == "/srv/state" && c.logs.groups == ["adm"])
        let unknown = try write("[logs]\nfile = []\n")
        #expect { try AgentConfig.load(file: unknown, environment: [:]) } throws: { e in "\(e)".contains("unknown key 'logs.file'") }
        let relative = try write("[logs]\nfiles = [\"/var/log/syslog\", \"auth.log\"]\n")
        #expect { try AgentConfig.load(file: relative, environment: [:]) } throws: { e in
            "\(e)".contains("logs.files[1]: \"auth.log\" must be an absolute path")
        }
        #expect { try AgentConfig.load(file: nil, environment: ["EDR__LOGS__STATE_DIR": "\"state\""]) } throws: { e in
            "\(e)".contains("EDR__LOGS__STATE_DIR: \"state\" must be an absolute path")
        }
    }

    @Test func syntaxErrorsGiveFileAndLine() throws {
        let path = try write("[sigma]\nrules = [\"a\"\n[alerts]\n")
        #expect { try AgentConfig.load(file: path, environment: [:]) } throws: { e in "\(e)".hasPrefix(path + ":") }
        #expect { try AgentConfig.load(file: "/nonexistent/edr.toml", environment: [:]) } throws: { e in "\(e)".contains("cannot read") }
    }

    @Test func bundledConfigLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let c = try AgentConfig.load(file: root.appendingPathComponent("config/edr.toml").path, environment: [:])
        #expect(c.sigma.rules.count == 1 && c.sigma.rules[0].hasSuffix("/rules/sigma"))
        #expect(c.response.enabled == false)
    }
}
