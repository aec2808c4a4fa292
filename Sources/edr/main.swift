import ArgumentParser
import EDRCore
import EDRSystem
import EDRSupervisor
#if canImport(Glibc)
import Glibc
#endif

struct EDR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edr",
        abstract: "An endpoint detection and response agent: eBPF sensor, sandboxed Sigma detector, confined responder.",
        subcommands: [RunCommand.self, VersionCommand.self] + EDRExtraCommands.all)
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")
    func run() {
        print("edr \(AgentVersion.version) (ECS \(AgentVersion.ecsVersion), wire protocol \(Wire.protocolVersion))")
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent in the foreground: spawn, confine and supervise edr-sensor, edr-detect and edr-respond.")

    @Option(name: .long, help: "TOML configuration file (defaults are built in).")
    var config: String?

    @Flag(name: .long, help: "Print one readable line per alert (default when standard output is a terminal).")
    var printAlerts = false

    func run() throws {
        Log.setup(component: "edr", level: .info)
        let path = config.map(absolutePath)
        let cfg: AgentConfig
        do {
            cfg = try AgentConfig.load(file: path, environment: environment())
        } catch {
            throw ValidationError("\(error)")
        }
        Log.setup(component: "edr", level: Log.Level(name: cfg.agent.logLevel) ?? .info)
        var options = Supervisor.Options(
            config: cfg, binDirectory: executableDirectory(),
            printAlerts: printAlerts || isatty(1) != 0, configPath: path)
        options.detectorProbe = ProcessEnvironment.value("EDR_DETECT_PROBE")
        let supervisor = Supervisor(options: options)
        let code = try supervisor.run()
        if code != 0 { throw ExitCode(code) }
    }
}

enum ProcessEnvironment {
    static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

func environment() -> [String: String] { processEnvironment() }

func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, 4096) != nil else { return path }
    return String(cString: buf) + "/" + path
}

/// The directory of this executable; its siblings edr-sensor, edr-detect, edr-respond and
/// edr.bpf.o live there.
func executableDirectory() -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    guard n > 0 else { return "." }
    return directoryName(of: String(cString: buf))
}

EDR.main()
