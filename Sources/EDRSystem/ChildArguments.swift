import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Descriptors every child receives from the supervisor, and the plain `--key value`
/// arguments it passes them. Children are started by `edr run`, not by hand.
public enum ChildFD {
    /// The control channel to the supervisor (ControlChannel): status lines and heartbeats
    /// up, connected peer sockets down. Under a systemd unit: the notification socket
    /// (`Systemd.connectNotifySocket`), spoken to in sd_notify's terms.
    public nonisolated(unsafe) static var control: Int32 = 3
    /// Whether `control` is systemd's notification socket rather than the supervisor's channel.
    public nonisolated(unsafe) static var controlIsSystemd = false
    /// Detector: the alert stream (append-only; standard output under its systemd unit).
    public nonisolated(unsafe) static var primary: Int32 = 4
}

public struct ChildArguments {
    public private(set) var values: [String: String] = [:]
    public private(set) var flags: Set<String> = []

    public init(_ args: [String], flags known: Set<String> = []) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            guard a.hasPrefix("--") else { throw EDRError("unexpected argument \(a)") }
            let key = String(a.dropFirst(2))
            if known.contains(key) {
                flags.insert(key)
                i += 1
            } else {
                guard i + 1 < args.count else { throw EDRError("\(a) needs a value") }
                values[key] = args[i + 1]
                i += 2
            }
        }
    }

    public func string(_ key: String) throws -> String {
        guard let v = values[key] else { throw EDRError("missing --\(key)") }
        return v
    }

    public func int(_ key: String) throws -> Int {
        guard let v = Int(try string(key)) else { throw EDRError("--\(key) must be an integer") }
        return v
    }

    public func strings(_ key: String) -> [String] {
        guard let v = values[key], !v.isEmpty else { return [] }
        return v.split(separator: "\u{1F}").map(String.init)
    }

    /// Joins a list for one argument (unit separator: never in a path a user means).
    public static func join(_ items: [String]) -> String { items.joined(separator: "\u{1F}") }
}

/// Reports readiness (or anything) to the supervisor on the control channel.
public func reportStatus(_ line: String) {
    ControlChannel.send(line)
}

extension String {
    func replacingNewlines() -> String { String(map { $0.isNewline ? " " : $0 }) }
}
