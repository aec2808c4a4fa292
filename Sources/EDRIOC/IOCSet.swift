import EDRCore

/// Indicator counts by type.
public struct IOCCounts: Sendable, Hashable, CustomStringConvertible {
    public var domains = 0
    public var ips = 0
    public var hashes = 0
    public var paths = 0
    public var total: Int { domains + ips + hashes + paths }
    public var description: String { "domains=\(domains) ips=\(ips) hashes=\(hashes) paths=\(paths)" }
}

/// An immutable indicator set: domains (exact and parent), IPv4/IPv6 addresses and CIDRs
/// (longest prefix), MD5/SHA-1/SHA-256 digests and path regexes. Thread-safe.
public final class IOCSet: Sendable {
    let domains: DomainSet
    let ips: IPSet
    let hashes: DigestSet
    let paths: PathRegexSet
    let labels: LabelTable

    init(_ b: IOCSetBuilder) {
        domains = b.domains
        ips = b.ips
        hashes = b.hashes
        paths = b.paths
        labels = b.labels
    }

    /// An empty set.
    public convenience init() { self.init(IOCSetBuilder()) }

    public var counts: IOCCounts {
        IOCCounts(domains: domains.count, ips: ips.count, hashes: hashes.count, paths: paths.count)
    }

    /// Approximate bytes held by the indicator tables (labels excluded).
    public var approximateMemoryBytes: Int {
        domains.memoryBytes + ips.memoryBytes + hashes.memoryBytes
    }

    public var isEmpty: Bool { counts.total == 0 }

    /// How the path regexes are prefiltered: (by required literal, in OR-ed chunks, run alone).
    public var pathPrefilterStats: (literal: Int, chunked: Int, standalone: Int) { paths.prefilterStats }
    /// Path regexes with no required literal (run on every path, OR-ed in chunks).
    public var pathPatternsWithoutLiteral: [String] {
        paths.entries.map(\.pattern.source).filter { RegexLiteral.required($0) == nil }
    }

    /// Which digest lengths the set holds (compute only those when hashing files).
    public var digestKinds: (md5: Bool, sha1: Bool, sha256: Bool) { hashes.kindsPresent }

    /// Hits for a file's digests (any may be nil), reported with `field` (e.g. "Hashes").
    public func match(md5: String?, sha1: String?, sha256: String?, field: String = "Hashes") -> [IOCMatch] {
        var out: [IOCMatch] = []
        for d in [md5, sha1, sha256] {
            guard let d, let h = matchHash(d) else { continue }
            append(.hash, h, field, d, &out)
        }
        return out
    }

    // MARK: Single-value lookups

    /// The listed domain equal to `host` or its most specific listed parent.
    public func matchDomain(_ host: String) -> IOCHit? {
        guard let i = domains.lookup(host) else { return nil }
        return IOCHit(indicator: domains.value(i), label: labels.label(domains.labelIDs[i]))
    }

    /// The longest listed prefix containing `address` (IPv4, IPv6, or IPv4-mapped IPv6).
    public func matchIP(_ address: String) -> IOCHit? {
        guard let a = IPAddress.parse(address) else { return nil }
        return matchIP(a)
    }

    func matchIP(_ a: IPAddress) -> IOCHit? {
        guard let (net, len, label) = ips.lookup(a) else { return nil }
        let full = net.v6 ? 128 : 32
        return IOCHit(indicator: len == full ? net.string : "\(net.string)/\(len)", label: labels.label(label))
    }

    /// An MD5/SHA-1/SHA-256 hex digest (case-insensitive).
    public func matchHash(_ digest: String) -> IOCHit? {
        guard let (k, e) = DigestSet.parse(digest), let label = hashes.lookup(kind: k, e) else { return nil }
        return IOCHit(indicator: DigestSet.hex(kind: k, e), label: labels.label(label))
    }

    /// Every path regex matching `path`.
    public func matchPath(_ path: String) -> [IOCHit] {
        var p = path
        return p.withUTF8 { b in
            paths.matches(b).map { IOCHit(indicator: paths.entries[$0].pattern.source, label: labels.label(paths.entries[$0].label)) }
        }
    }
}
