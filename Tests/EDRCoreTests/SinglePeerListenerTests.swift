import EDRSystem
import Testing
import Foundation
@testable import EDRCore

/// The named-socket discipline for the systemd units: one peer of the expected uid; a second
/// connection, or one from another uid, is refused and reported, never swapped in.
@Suite("Single-peer listener", .serialized)
struct SinglePeerListenerTests {
    final class Socket {
        let dir = NSTemporaryDirectory() + "edr-spl-" + UUID().uuidString.prefix(8)
        var path: String { dir + "/s.sock" }
        let fd: Int32
        init() throws {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
            chmod(dir, 0o755)
            fd = try UnixSocket.listen(path: dir + "/s.sock", mode: 0o777)
        }
        deinit {
            close(fd)
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// True when the other end closed this connection (read gives EOF or a reset).
    func closedByPeer(_ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 5_000) == 1 else { return false }
        var b: UInt8 = 0
        return recv(fd, &b, 1, Int32(MSG_DONTWAIT)) <= 0
    }

    @Test func admitsOnePeerAndRefusesASecondWhileItLives() throws {
        let s = try Socket()
        let l = SinglePeerListener(listener: s.fd, expectedUID: getuid(), name: "sensor.sock")
        let first = try UnixSocket.connect(path: s.path)
        defer { close(first) }
        let a = l.acceptPending()
        let admitted = try #require(a.admitted)
        #expect(a.refusals.isEmpty && l.peer == admitted && l.admitted == 1)

        // A second client while the first lives: refused, closed at once; the first stays.
        let second = try UnixSocket.connect(path: s.path)
        defer { close(second) }
        let b = l.acceptPending()
        #expect(b.admitted == nil)
        #expect(b.refusals.count == 1)
        #expect(b.refusals.first?.reason == "sensor.sock: a peer is already connected (a second connection is refused, not swapped in)")
        #expect(b.refusals.first?.pid == getpid())
        #expect(closedByPeer(second))
        #expect(l.peer == admitted && l.peerIsLive)
        // The first connection still works both ways.
        var byte: UInt8 = 7
        #expect(send(first, &byte, 1, 0) == 1)
        var got: UInt8 = 0
        #expect(recv(l.peer, &got, 1, 0) == 1 && got == 7)

        // Once the first hangs up, the next client of the expected uid is admitted.
        close(first)
        usleep(10_000)
        #expect(!l.peerIsLive)
        let third = try UnixSocket.connect(path: s.path)
        defer { close(third) }
        let c = l.acceptPending()
        #expect(c.admitted != nil && c.refusals.isEmpty && l.admitted == 2 && l.refusedCount == 1)
    }

    @Test(.enabled(if: getuid() == 0, "needs root to connect as another uid"))
    func refusesAnotherUid() throws {
        let s = try Socket()
        let l = SinglePeerListener(listener: s.fd, expectedUID: 0, name: "respond.sock")
        // A stranger connects (and waits for the answer: EOF means refused).
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = [
            "--reuid=4242", "--regid=4242", "--clear-groups", "/usr/bin/python3", "-c",
            "import socket, sys; c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); c.settimeout(10); sys.stdout.write('eof' if c.recv(1) == b'' else 'data')",
            s.path
        ]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var r: (admitted: Int32?, refusals: [SinglePeerListener.Refusal]) = (nil, [])
        let deadline = Date().addingTimeInterval(10)
        while r.refusals.isEmpty && r.admitted == nil && Date() < deadline {
            r = l.acceptPending()
            usleep(10_000)
        }
        #expect(r.admitted == nil && l.peer == -1)
        #expect(r.refusals.first?.uid == 4242)
        #expect(r.refusals.first?.reason == "respond.sock: uid 4242 is not the expected 0")
        p.waitUntilExit()
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "eof")
    }
}
