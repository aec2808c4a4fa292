import EDRCore
import EDRRegex

/// Accumulates indicators; `build()` freezes them into an `IOCSet`.
public struct IOCSetBuilder: Sendable {
    var domains = DomainSet()
    var ips = IPSet()
    var hashes = DigestSet()
    var paths = PathRegexSet()
    var labels = LabelTable()
    /// Domains validated during `load(bytes:)` and inserted in batches (ranges into its buffer).
    var pendingDomains: [(Int, Int, UInt32)] = []
    var batching = false

    public init() {}

    public enum LineKind: Sendable {
        /// domains.txt: domains; IP literals and CIDRs are accepted too and go to the IP set.
        case domain
        /// ips.txt: IPv4/IPv6 addresses and CIDRs.
        case ip
        /// hashes.txt: MD5/SHA-1/SHA-256 hex digests.
        case hash
        /// paths_regex.txt: PCRE2 patterns matched against file paths.
        case pathRegex
        /// LOKI c2 lists: domains and addresses mixed.
        case mixed
    }

    /// Adds a domain (or, leniently, an IP/CIDR). Throws a message on invalid input.
    public mutating func addDomain(_ value: String, label: String? = nil) throws(IOCValueError) {
        try addString(value, .domain, label ?? "")
    }

    public mutating func addIP(_ value: String, label: String? = nil) throws(IOCValueError) {
        try addString(value, .ip, label ?? "")
    }

    public mutating func addHash(_ value: String, label: String? = nil) throws(IOCValueError) {
        try addString(value, .hash, label ?? "")
    }

    private mutating func addString(_ value: String, _ kind: LineKind, _ label: String) throws(IOCValueError) {
        var v = value
        let r: Result<Void, IOCValueError> = v.withUTF8 { b in
            Result { () throws(IOCValueError) in try addValue(b, 0, b.count, kind: kind, label: label) }
        }
        try r.get()
    }

    /// Adds a path regex; `exclude` is an optional false-positive regex (LOKI's third field).
    public mutating func addPathRegex(_ pattern: String, label: String? = nil, exclude: String? = nil) throws(IOCValueError) {
        let p: PCREPattern
        do throws(PCREPattern.CompileError) {
            p = try PCREPattern(pattern)
        } catch {
            throw IOCValueError("invalid regex at offset \(error.offset): \(error.message)")
        }
        var ex: PCREPattern?
        if let exclude, !exclude.isEmpty {
            do throws(PCREPattern.CompileError) {
                ex = try PCREPattern(exclude)
            } catch {
                throw IOCValueError("invalid exclusion regex at offset \(error.offset): \(error.message)")
            }
        }
        paths.insert(.init(pattern: p, label: labels.intern(label ?? ""), exclude: ex))
    }

    /// Moves everything `other` holds into this builder.
    public mutating func absorb(_ other: consuming IOCSetBuilder) {
        let map = labels.absorb(other.labels)
        other.domains.remapLabels(map)
        other.ips.remapLabels(map)
        other.hashes.remapLabels(map)
        if domains.count == 0 { domains = other.domains } else if other.domains.count > 0 { domains.insertAll(of: other.domains) }
        ips.appendAll(of: other.ips)
        hashes.appendAll(of: other.hashes)
        for e in other.paths.entries {
            paths.insert(.init(pattern: e.pattern, label: map[Int(e.label)], exclude: e.exclude))
        }
    }

    public consuming func build() -> IOCSet {
        var b = self
        b.ips.finish()
        b.hashes.finish()
        b.paths.finish()
        b.labels.freeze()
        return IOCSet(b)
    }
}

public struct IOCValueError: Error, Sendable, CustomStringConvertible {
    public var message: String
    init(_ m: String) { message = m }
    public var description: String { message }
}
