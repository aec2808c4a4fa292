import EDRCore
import Foundation
import Testing
@testable import EDRYara
#if canImport(Glibc)
import Glibc
#endif

private let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var t = 1000.0
    func now() -> Double { lock.lock(); defer { lock.unlock() }; return t }
    func advance(_ s: Double) { lock.lock(); t += s; lock.unlock() }
}

private func identity(_ n: UInt64) -> FileIdentity {
    FileIdentity(device: 1, inode: n, size: 10, ctimeSeconds: 1, ctimeNanoseconds: 0)
}

@Suite struct CacheTests {
    @Test func identityChangesWhenFileReplaced() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeFile(dir + "/exe", Array("version one".utf8))
        var fd = openFD(path)
        let first = try #require(FileIdentity(fd: fd))
        #expect(FileIdentity(fd: fd) == first)
        close(fd)
        // Replaced by rename (new inode), as package managers and droppers do.
        try writeFile(dir + "/exe.new", Array("version two".utf8))
        #expect(rename(dir + "/exe.new", path) == 0)
        fd = openFD(path)
        let second = try #require(FileIdentity(fd: fd))
        close(fd)
        #expect(second != first)
        #expect(second.inode != first.inode)
        // Rewritten in place with the same number of bytes (same inode, same size): ctime changes.
        usleep(20_000)
        let sameSize = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        sameSize.write(Data("VERSION TWO".utf8))
        try sameSize.close()
        fd = openFD(path)
        let rewritten = try #require(FileIdentity(fd: fd))
        close(fd)
        #expect(rewritten.inode == second.inode && rewritten.device == second.device)
        #expect(rewritten.size == second.size)
        #expect(rewritten != second, "a same-size rewrite in place must change the identity (ctime)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "VERSION TWO")
        // Rewritten in place and grown (same inode): size and ctime change.
        usleep(20_000)
        try FileHandle(forWritingAtPath: path).map { h in
            h.seekToEndOfFile()
            h.write(Data("appended".utf8))
            h.closeFile()
        }
        fd = openFD(path)
        let third = try #require(FileIdentity(fd: fd))
        close(fd)
        #expect(third.inode == second.inode)
        #expect(third.size == second.size + 8)
        #expect(third != second && third != rewritten)
        // A cache keyed by identity misses on the replaced file.
        let cache = ScanCache<String>()
        cache.insert(first, "verdict one")
        #expect(cache.lookup(first) == "verdict one")
        #expect(cache.lookup(second) == nil)
        #expect(cache.lookup(third) == nil)
        cache.insert(second, "verdict two")
        #expect(cache.lookup(rewritten) == nil, "a same-size rewrite must miss the cache")
        #expect(cache.lookup(second) == "verdict two")
    }

    @Test func lruEvictionAndCounters() {
        let cache = ScanCache<Int>(capacity: 3)
        for i in 1...3 { cache.insert(identity(UInt64(i)), i) }
        #expect(cache.lookup(identity(1)) == 1)  // 1 becomes most recent
        cache.insert(identity(4), 4)  // evicts 2, the least recent
        #expect(cache.lookup(identity(2)) == nil)
        #expect(cache.lookup(identity(3)) == 3)
        #expect(cache.lookup(identity(4)) == 4)
        #expect(cache.lookup(identity(1)) == 1)
        let s = cache.statistics
        #expect(s.hits == 4)
        #expect(s.misses == 1)
        #expect(s.evictions == 1)
        #expect(s.count == 3)
        #expect(abs(s.hitRatio - 0.8) < 1e-9)
        // Reinserting an existing key updates it without evicting.
        cache.insert(identity(3), 33)
        #expect(cache.count == 3)
        #expect(cache.lookup(identity(3)) == 33)
    }

    @Test func ttlExpiry() {
        let clock = ManualClock()
        let cache = ScanCache<Int>(capacity: 10, ttl: 60, now: { clock.now() })
        cache.insert(identity(1), 1)
        clock.advance(59)
        #expect(cache.lookup(identity(1)) == 1)
        clock.advance(2)
        #expect(cache.lookup(identity(1)) == nil)
        #expect(cache.statistics.expirations == 1)
        #expect(cache.count == 0)
    }

    @Test func defaultsAreTenThousandAndSixHours() {
        let cache = ScanCache<Int>()
        #expect(cache.capacity == 10_000)
        #expect(cache.ttl == 6 * 3600)
        for i in 0..<10_050 { cache.insert(identity(UInt64(i)), i) }
        #expect(cache.count == 10_000)
        #expect(cache.lookup(identity(0)) == nil)
        #expect(cache.lookup(identity(10_049)) == 10_049)
    }
}

/// Waits until every accepted job has completed, at most `timeout` seconds (a stuck worker
/// fails the test instead of hanging it); then `waitUntilIdle` returns at once.
func waitForCompletion(_ worker: ScanWorker, timeout: Double = 60) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let s = worker.statistics
        if s.completed == s.submitted { worker.waitUntilIdle(); return true }
        usleep(5_000)
    }
    return false
}

final class Collected: @unchecked Sendable {
    let lock = NSLock()
    var results: [ScanJobResult] = []
    func add(_ r: ScanJobResult) { lock.lock(); results.append(r); lock.unlock() }
    var all: [ScanJobResult] { lock.lock(); defer { lock.unlock() }; return results }
}

@Suite struct WorkerTests {
    @Test func scansCachesAndAllowlists() throws {
        let rules = try #require(YaraRules.compile(directories: [repoRoot + "/rules/yara"]).rules)
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bad = try writeFile(dir + "/bad", Array("x \(marker) y".utf8))
        let good = try writeFile(dir + "/good", Array("harmless".utf8))
        var options = ScanWorkerOptions()
        options.threads = 2
        options.allowlistPrefixes = [dir + "/allowed"]
        let collected = Collected()
        let worker = try ScanWorker(rules: rules, options: options) { collected.add($0) }
        #expect(worker.submit(ScanJob(fd: openFD(bad), path: bad, token: 1)))
        #expect(worker.submit(ScanJob(fd: openFD(good), path: good, token: 2)))
        try #require(waitForCompletion(worker), "the worker did not finish jobs 1-2")
        #expect(worker.submit(ScanJob(fd: openFD(bad), path: bad, token: 3)))
        #expect(worker.submit(ScanJob(fd: openFD(good), path: dir + "/allowed/good", token: 4)))
        #expect(worker.submit(ScanJob(fd: openFD(good), path: dir + "/allowedx/good", token: 5)))
        try #require(waitForCompletion(worker), "the worker did not finish jobs 3-5")
        worker.shutdown()
        let byToken = Dictionary(uniqueKeysWithValues: collected.all.map { ($0.job.token, $0) })
        #expect(byToken.count == 5)
        #expect(byToken[1]?.outcome == .scanned)
        #expect(byToken[1]?.verdict?.matches.map(\.rule) == ["EDR_Test_Marker"])
        #expect(byToken[1]?.verdict?.hashes?.md5 == (try coreutilsDigest("md5sum", bad)))
        #expect(byToken[1]?.verdict?.hashes?.sha256 == (try coreutilsDigest("sha256sum", bad)))
        #expect(byToken[2]?.verdict?.matches.isEmpty == true)
        #expect(byToken[3]?.outcome == .cached)
        #expect(byToken[3]?.verdict?.matches.map(\.rule) == ["EDR_Test_Marker"])
        #expect(byToken[4]?.outcome == .allowlisted)
        #expect(byToken[5]?.outcome == .cached)
        let s = worker.statistics
        #expect(s.submitted == 5 && s.completed == 5 && s.dropped == 0)
        #expect(s.cached == 2 && s.scanned == 2 && s.allowlisted == 1 && s.matched == 2)
        #expect(worker.cache.statistics.hits == 2)
        #expect(!worker.isAllowlisted(dir + "/allowedx"))
        #expect(worker.isAllowlisted(dir + "/allowed"))
    }

    @Test func fullQueueDropsAndCounts() throws {
        let dir = try makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeFile(dir + "/f", Array("data".utf8))
        var options = ScanWorkerOptions()
        options.queueCapacity = 2
        let gate = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let collected = Collected()
        // Hash-only worker (no rules); the handler blocks so the queue fills up.
        // Every wait has a deadline: a broken worker fails the test, it does not hang it.
        let worker = try ScanWorker(rules: nil, options: options) { r in
            started.signal()
            _ = gate.wait(timeout: .now() + 60)
            collected.add(r)
        }
        defer { for _ in 0..<4 { gate.signal() } }
        #expect(worker.submit(ScanJob(fd: openFD(path), path: path, token: 1)))
        // job 1 is in the handler: the queue is empty again
        try #require(started.wait(timeout: .now() + 60) == .success, "job 1 never reached the handler")
        #expect(worker.submit(ScanJob(fd: openFD(path), path: path, token: 2)))
        #expect(worker.submit(ScanJob(fd: openFD(path), path: path, token: 3)))
        #expect(!worker.submit(ScanJob(fd: openFD(path), path: path, token: 4)))
        #expect(worker.statistics.dropped == 1)
        for _ in 0..<3 { gate.signal() }
        try #require(waitForCompletion(worker), "the worker did not finish after the gate opened")
        worker.shutdown()
        #expect(collected.all.map(\.job.token).sorted() == [1, 2, 3])
        #expect(collected.all.first { $0.job.token == 1 }?.verdict?.hashes?.md5 == "8d777f385d3dfec8815d20f7496026dc")
        #expect(!worker.submit(ScanJob(fd: openFD(path), path: path, token: 5)))
    }
}
