import EDRYara
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// File hashing throughput (`FileHashes.compute`, the call the scan worker makes) over one
/// large file and over many small files, both in the page cache, beside coreutils'
/// md5sum + sha1sum + sha256sum on the large file. `run()` prints the figures; no assertions.
/// Throughput is bytes per second of the hashing thread's CPU time (open, pread and close
/// included), which a shared machine inflates far less than wall-clock time; wall-clock
/// medians are printed beside it.
public enum HashBenchmark {
    public struct Figures: Sendable {
        /// MB/s (10^6 bytes per CPU second) of the three digests in one pass over the large file, one per round.
        public var largeAll: [Double]
        /// MB/s of SHA-256 alone over the large file, one per round.
        public var largeSHA256: [Double]
        /// MB/s of the three digests over the small files (open, fstat, pread, close included).
        public var smallAll: [Double]
        /// CPU microseconds per small file, one per round.
        public var smallMicroseconds: [Double]
        /// Wall-clock MB/s of the three digests over the large file, one per round.
        public var largeAllWall: [Double]
    }

    /// - Parameters:
    ///   - largeBytes: size of the large file.
    ///   - smallFiles: number of small files; sizes are 0 to `smallMaxBytes`, spread evenly.
    ///   - rounds: each figure is measured this many times, alternating; median and best printed.
    @discardableResult
    public static func run(
        largeBytes: Int = 256 << 20, smallFiles: Int = 4096, smallMaxBytes: Int = 32 << 10,
        rounds: Int = 7
    ) -> Figures? {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hash-bench-\(getpid())").path
        guard (try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)) != nil else {
            print("hash bench: cannot create \(dir)")
            return nil
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // Deterministic pseudo-random contents (no digest shortcut on repeated bytes).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func fill(_ buf: UnsafeMutableRawBufferPointer) {
            let words = buf.count / 8
            let p = buf.baseAddress!
            for i in 0..<words {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                p.storeBytes(of: state, toByteOffset: 8 * i, as: UInt64.self)
            }
            for i in (8 * words)..<buf.count { buf[i] = UInt8(truncatingIfNeeded: state >> (i % 8)) }
        }
        let large = dir + "/large"
        guard write(path: large, bytes: largeBytes, fill: fill) else { return nil }
        var small: [String] = []
        var smallTotal = 0
        for i in 0..<smallFiles {
            let size = smallFiles > 1 ? i * smallMaxBytes / (smallFiles - 1) : smallMaxBytes
            let p = dir + "/s\(i)"
            guard write(path: p, bytes: size, fill: fill) else { return nil }
            small.append(p)
            smallTotal += size
        }
        print("Hash implementation: \(FileHashes.implementation)")
        print(
            "Hash targets: 1 file of \(f(Double(largeBytes) / 1e6)) MB; \(smallFiles) files of 0–\(smallMaxBytes) bytes, "
                + "\(f(Double(smallTotal) / 1e6)) MB in all (page cache warm)")

        func hash(_ path: String, _ kinds: HashKinds) -> Bool {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            return FileHashes.compute(fd: fd, kinds: kinds) != nil
        }
        var lastWall = 0.0
        /// CPU seconds of this thread; the wall-clock seconds go to `lastWall`.
        func seconds(_ body: () -> Void) -> Double {
            func now(_ clock: clockid_t) -> Double {
                var t = timespec()
                clock_gettime(clock, &t)
                return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
            }
            let w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID)
            body()
            let c1 = now(CLOCK_THREAD_CPUTIME_ID), w1 = now(CLOCK_MONOTONIC)
            lastWall = w1 - w0
            return c1 - c0
        }
        // Warm the page cache.
        _ = hash(large, .all)
        for p in small { _ = hash(p, .all) }

        var figures = Figures(largeAll: [], largeSHA256: [], smallAll: [], smallMicroseconds: [], largeAllWall: [])
        for _ in 0..<rounds {
            figures.largeAll.append(Double(largeBytes) / 1e6 / seconds { _ = hash(large, .all) })
            figures.largeAllWall.append(Double(largeBytes) / 1e6 / lastWall)
            figures.largeSHA256.append(Double(largeBytes) / 1e6 / seconds { _ = hash(large, [.sha256]) })
            let s = seconds { for p in small { _ = hash(p, .all) } }
            figures.smallAll.append(Double(smallTotal) / 1e6 / s)
            figures.smallMicroseconds.append(s * 1e6 / Double(smallFiles))
        }
        func line(_ name: String, _ v: [Double], _ unit: String) {
            let sorted = v.sorted()
            print(
                "\(name): median \(f(sorted[sorted.count / 2])) \(unit), best \(f(unit == "µs" ? sorted.first! : sorted.last!)) "
                    + "\(unit) (\(v.count) rounds: \(v.map(f).joined(separator: ", ")))")
        }
        line("MD5+SHA-1+SHA-256, one pass, large file, per CPU second", figures.largeAll, "MB/s")
        line("the same, per wall-clock second", figures.largeAllWall, "MB/s")
        line("SHA-256 alone, large file, per CPU second", figures.largeSHA256, "MB/s")
        line("MD5+SHA-1+SHA-256, small files, per CPU second", figures.smallAll, "MB/s")
        line("MD5+SHA-1+SHA-256, CPU per small file", figures.smallMicroseconds, "µs")

        // Reference: coreutils, three separate passes over the large file (wall clock).
        var coreutils: [Double] = []
        for _ in 0..<min(rounds, 3) {
            var total = 0.0
            for tool in ["md5sum", "sha1sum", "sha256sum"] {
                guard let t = YaraBenchmark.shell("/usr/bin/" + tool, [large]) else { total = .nan; break }
                total += t
            }
            if total.isFinite { coreutils.append(Double(largeBytes) / 1e6 / total) }
        }
        if !coreutils.isEmpty { line("coreutils md5sum+sha1sum+sha256sum, large file, per wall-clock second (reference)", coreutils, "MB/s") }
        return figures
    }

    private static func write(path: String, bytes: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { print("hash bench: cannot create \(path)"); return false }
        defer { close(fd) }
        let chunk = 1 << 20
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buf.deallocate() }
        var left = bytes
        while left > 0 {
            let n = min(left, chunk)
            fill(UnsafeMutableRawBufferPointer(rebasing: buf[0..<n]))
            guard Glibc.write(fd, buf.baseAddress, n) == n else { print("hash bench: write \(path) failed"); return false }
            left -= n
        }
        return true
    }

    static func f(_ d: Double) -> String { String(format: d < 10 ? "%.2f" : "%.1f", d) }
}
