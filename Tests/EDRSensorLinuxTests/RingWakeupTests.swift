import CLibBPF
import EDRCore
import Foundation
import Testing

@testable import EDRSensorLinux

#if canImport(Glibc)
import Glibc
#endif

/// The wake-up protocol between the BPF programs and the sensor's loop, on the real kernel with
/// the real object: while the sensor sleeps a batch delay (`edr_consumer` set) records ask for
/// no wake-up, and past 256 KiB waiting one is forced, which the loop watches for.
@Suite("Ring wake-ups", .serialized, .enabled(if: getuid() == 0, "loads eBPF programs: run as root"))
struct RingWakeupTests {
    static let object = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/bpf/edr.bpf.o").path

    final class Tally {
        var records = 0
        var bytes = 0
    }

    static func run(_ args: [String]) throws {
        var pid: pid_t = 0
        let argv = (["/bin/true"] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let rc = posix_spawn(&pid, "/bin/true", nil, nil, argv, environ)
        guard rc == 0 else { throw EDRError("posix_spawn: \(rc)") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    @Test func recordsAskForNoWakeUpWhileTheSensorBatchesUntil256KiBWait() throws {
        let programs = try BPFPrograms(objectPath: Self.object, ringBufferBytes: 4 << 20)
        let flag = try programs.mapConsumerFlag()
        defer { munmap(flag, Int(getpagesize())) }
        let tally = Tally()
        let rb = try #require(
            ring_buffer__new(
                try programs.mapFD("edr_events"),
                { ctx, _, size in
                    let t = Unmanaged<Tally>.fromOpaque(ctx!).takeUnretainedValue()
                    t.records += 1
                    t.bytes += (Int(size) + 8 + 7) & ~7
                    return 0
                }, Unmanaged.passUnretained(tally).toOpaque(), nil))
        defer { ring_buffer__free(rb) }
        let epoll = ring_buffer__epoll_fd(rb)
        func woken(within ms: Int32) -> Bool {
            var p = pollfd(fd: epoll, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, ms) > 0
        }
        /// Records read and the ring bytes they took (an 8-byte header each, rounded up to 8).
        func drain() -> (records: Int, bytes: Int) {
            tally.records = 0
            tally.bytes = 0
            ring_buffer__consume(rb)
            return (tally.records, tally.bytes)
        }
        /// Reads everything, as the sensor's loop does before it sleeps: a wake-up that came
        /// for records now read is spent (the host's other processes keep writing records).
        func caughtUp() {
            repeat { _ = drain() } while woken(within: 0)
        }

        // Quiet: the first record after the reader caught up wakes it.
        flag.pointee = 0
        caughtUp()
        try Self.run(["quiet"])
        #expect(woken(within: 2000), "no wake-up for an exec while the sensor waits on the ring")
        #expect(drain().records >= 1)

        // Batching: records are written, but nobody is woken for them.
        flag.pointee = 1
        caughtUp()
        for _ in 0..<5 { try Self.run(["batching"]) }
        let early = woken(within: 300)
        let batched = drain()
        #expect(!early || batched.bytes >= 256 * 1024, "woken for \(batched.records) records (\(batched.bytes) bytes) while batching")
        #expect(batched.records >= 5, "the execs' records were not written: \(batched)")

        // Batching, but a flood: past 256 KiB waiting a record forces a wake-up.
        caughtUp()
        let padding = (0..<70).map { "pad\($0)-" + String(repeating: "z", count: 95) }
        var forced = false
        for i in 0..<200 {
            try Self.run(["flood-\(i)"] + padding)
            if woken(within: 0) {
                forced = true
                break
            }
        }
        let flood = drain()
        #expect(forced, "no forced wake-up after \(flood.bytes) bytes")
        #expect(flood.bytes >= 256 * 1024, "woken after only \(flood.bytes) bytes")
        flag.pointee = 0
    }

    @Test func theLoopWatchesTheRingWhenAWakeUpMeansAFlood() {
        #expect(Sensor.watchesRing(paused: false, busy: false, flagMapped: true))
        #expect(Sensor.watchesRing(paused: false, busy: false, flagMapped: false))
        #expect(Sensor.watchesRing(paused: false, busy: true, flagMapped: true))
        // Without the flag the next record would wake it: it sleeps the delay out.
        #expect(!Sensor.watchesRing(paused: false, busy: true, flagMapped: false))
        // The replay buffer is full: nothing is drained until an acknowledgement.
        #expect(!Sensor.watchesRing(paused: true, busy: false, flagMapped: true))
        #expect(!Sensor.watchesRing(paused: true, busy: true, flagMapped: true))
    }
}
