@testable import EDRDetect
import Testing

/// The pid → process cache, keyed with its own hash (`PIDKey`): every pid the kernel can hand
/// out is found again after the table has grown many times, a pid reused by a later process
/// names that process only, and a full cache drops exited processes first.
struct ProcessCacheTests {
    private func entry(_ pid: Int32, start: UInt64, exited: UInt64? = nil) -> ProcessEntry {
        ProcessEntry(
            pid: pid, ppid: 1, startTicks: start, image: "/bin/p\(pid)", args: [], commandLine: "p\(pid)", cwd: "/",
            uid: 0, user: "root", loginuid: 0, guid: "g\(pid)-\(start)", parentGuid: nil, cgroupID: 0, exitedAtNanos: exited)
    }

    @Test func everyPidIsFoundAfterTheTableGrew() {
        var cache = ProcessCache(capacity: 1 << 20)
        // Sequential pids, pids a power of two apart (the same low bits), and the extremes of
        // pid_max (4,194,304) and of the type.
        var pids = Array(Int32(1)...Int32(30_000))
        pids += (0..<4000).map { Int32($0) << 10 }.filter { $0 > 30_000 }
        pids += [4_194_303, 4_194_304, Int32.max, Int32.max - 1]
        for (i, p) in pids.enumerated() { cache.upsert(entry(p, start: UInt64(i)), now: 0) }
        #expect(cache.count == pids.count)
        for (i, p) in pids.enumerated() {
            #expect(cache.lookup(pid: p)?.startTicks == UInt64(i))
            #expect(cache.lookup(pid: p, startTicks: UInt64(i))?.guid == "g\(p)-\(i)")
            #expect(cache.lookup(pid: p, startTicks: UInt64(i) + 1) == nil)
        }
        #expect(cache.lookup(pid: 30_001) == nil)
        #expect(cache.lookup(pid: 0) == nil)
        #expect(cache.lookup(pid: -1) == nil)
    }

    @Test func aReusedPidNamesTheLaterProcessOnly() {
        var cache = ProcessCache()
        cache.upsert(entry(4242, start: 100), now: 0)
        cache.markExited(pid: 4242, startTicks: 100, now: 5)
        cache.upsert(entry(4242, start: 900), now: 10)
        #expect(cache.lookup(pid: 4242, startTicks: 100) == nil)
        #expect(cache.lookup(pid: 4242)?.startTicks == 900)
        #expect(cache.lookup(pid: 4242)?.exitedAtNanos == nil)
        // The exit of the earlier process does not mark the later one.
        cache.markExited(pid: 4242, startTicks: 100, now: 20)
        #expect(cache.lookup(pid: 4242)?.exitedAtNanos == nil)
    }

    @Test func aFullCacheDropsExitedProcessesFirst() {
        var cache = ProcessCache(capacity: 1000, exitedRetentionNanos: 100)
        for p in Int32(1)...1000 { cache.upsert(entry(p, start: UInt64(p), exited: p <= 300 ? 0 : nil), now: 0) }
        cache.upsert(entry(5000, start: 5000), now: 1_000)
        #expect(cache.count == 701)
        #expect(cache.evictions == 300)
        #expect(cache.lookup(pid: 300) == nil && cache.lookup(pid: 301) != nil && cache.lookup(pid: 5000) != nil)
    }
}
