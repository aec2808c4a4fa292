import Glibc
import Logging
import Testing
@testable import EDRCore

/// The agent logs through swift-log: its own `Log.*` calls and any library's `Logger` come out
/// as the same lines on standard error.
@Suite("Logging", .serialized)
struct LogTests {
    /// Runs `body` with standard error redirected into a pipe; returns what was written.
    func capturingStandardError(_ body: () -> Void) -> String {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        let saved = dup(2)
        dup2(fds[1], 2)
        body()
        dup2(saved, 2)
        close(saved)
        close(fds[1])
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &chunk, chunk.count)
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        close(fds[0])
        return String(decoding: out, as: UTF8.self)
    }

    @Test func ourLinesAndALibrarysLinesLookTheSame() throws {
        Log.setup(component: "edr-logtest", level: .info)
        let text = capturingStandardError {
            Log.info("detector connected")
            Log.debug("below the level: never built")
            var library = Logger(label: "edr-logtest")
            library.logLevel = .info
            library.warning("from a library", metadata: ["peer": "sensor"])
        }
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(lines)")
        let pid = getpid()
        // "2026-12-02T03:04:05.678Z edr-logtest[123] info: detector connected"
        let first = try #require(lines.first)
        #expect(first.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z edr-logtest\[\d+\] info: detector connected/) != nil, "\(first)")
        #expect(first.contains("[\(pid)]"))
        #expect(lines.last?.hasSuffix("edr-logtest[\(pid)] warning: from a library peer=sensor") == true, "\(lines)")
    }

    @Test func theJournalGetsAPriorityAndNoTimestamp() {
        #expect(Log.priority(.error) == 3 && Log.priority(.warning) == 4 && Log.priority(.info) == 6 && Log.priority(.debug) == 7)
        Log.setup(component: "edr-logtest", level: .info)
        let plain = Log.line(.warning, component: "edr-x", "m")
        #expect(plain.hasSuffix(" edr-x[\(getpid())] warning: m\n") && !plain.hasPrefix("<"))
    }
}
