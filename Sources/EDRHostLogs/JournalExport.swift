import EDRCore
#if canImport(Glibc)
import Glibc
#endif

/// Splits journalctl's export format (systemd's "Journal Export Format") into entries: fields
/// `NAME=value\n`, binary fields `NAME\n` + 64-bit little-endian size + bytes + `\n`, entries
/// separated by an empty line.
public struct JournalExportParser: Sendable {
    private var buffer: [UInt8] = []
    private var fields: [(name: String, value: [UInt8])] = []
    /// Fields forwarded to the detector (the rest, and the cursor, stay here).
    public static let kept: Set<String> = [
        "MESSAGE", "SYSLOG_IDENTIFIER", "SYSLOG_PID", "_PID", "_HOSTNAME", "__REALTIME_TIMESTAMP", "SYSLOG_FACILITY",
        "PRIORITY", "_COMM", "_SYSTEMD_UNIT", "_UID"
    ]

    public init() {}

    /// Complete entries in what was fed so far, each with its cursor.
    public mutating func feed(_ bytes: [UInt8]) throws -> [(cursor: String, fields: [(name: String, value: [UInt8])])] {
        buffer += bytes
        var out: [(cursor: String, fields: [(name: String, value: [UInt8])])] = []
        var i = 0
        while let nl = buffer[i...].firstIndex(of: 0x0A) {
            if nl == i {
                // End of entry.
                i = nl + 1
                let cursor = fields.first { $0.name == "__CURSOR" }.map { String(decoding: $0.value, as: UTF8.self) }
                guard let cursor else { throw EDRError("journal export: an entry without __CURSOR") }
                out.append((cursor, fields.filter { Self.kept.contains($0.name) }))
                fields = []
                continue
            }
            let line = buffer[i..<nl]
            if let eq = line.firstIndex(of: 0x3D) {
                fields.append((String(decoding: line[..<eq], as: UTF8.self), Array(line[(eq + 1)...])))
                i = nl + 1
            } else {
                // Binary field: size and data follow the name.
                guard buffer.count >= nl + 1 + 8 else { break }
                let size = buffer.readLE(UInt64.self, at: nl + 1)
                guard size <= 16 << 20 else { throw EDRError("journal export: field \(String(decoding: line, as: UTF8.self)) of \(size) bytes") }
                let end = nl + 1 + 8 + Int(size)
                guard buffer.count >= end + 1 else { break }
                fields.append((String(decoding: line, as: UTF8.self), Array(buffer[(nl + 9)..<end])))
                i = end + 1
            }
        }
        buffer.removeFirst(i)
        return out
    }
}

/// `journalctl -o export --follow` as a child of edr-logs, started before edr-logs confines
/// itself (it then runs with edr-logs' uid and groups, NoNewPrivs and the pre-exec filter):
/// the journal's own reader does the file format, this process only reads its output.
public final class JournalFollower {
    public let fd: Int32
    public let pid: pid_t
    private var parser = JournalExportParser()

    /// Whether journald runs here (its runtime directory exists).
    public static var available: Bool { access("/run/systemd/journal", F_OK) == 0 }

    public init(afterCursor: String?) throws {
        let candidates: [String] = ["/usr/bin/journalctl", "/bin/journalctl"]
        let exe = candidates.first { access($0, X_OK) == 0 }
        guard let exe else { throw EDRError("journalctl not found (install systemd, or set [logs] journal = false)") }
        var args = [exe, "-o", "export", "--follow", "--no-pager", "--all"]
        if let c = afterCursor { args.append("--after-cursor=" + c) } else { args.append("--lines=0") }
        var p: [Int32] = [-1, -1]
        guard pipe(&p) == 0 else { throw SystemError("pipe") }
        for x in p { _ = fcntl(x, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, p[1], 1)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        let envStrings: [String] = ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "SYSTEMD_PAGER="]
        let env: [UnsafeMutablePointer<CChar>?] = envStrings.map { strdup($0) } + [nil]
        defer { for x in cArgs + env { free(x) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, exe, &actions, nil, cArgs, env)
        close(p[1])
        guard rc == 0 else { close(p[0]); throw EDRError("starting journalctl: \(String(cString: strerror(rc)))") }
        fd = p[0]
        pid = child
    }

    /// Entries available now (the pipe is read once; call when poll says it is readable).
    /// nil at end of output (journalctl exited).
    public func read() throws -> [(cursor: String, fields: [(name: String, value: [UInt8])])]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { return [] }
        if n <= 0 { return nil }
        return try parser.feed(Array(buf[0..<n]))
    }
}
