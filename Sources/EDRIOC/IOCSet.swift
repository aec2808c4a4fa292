import EDRCore
import Foundation

/// What `IOCSet.load(directory:)` produced.
public struct IOCLoadResult: Sendable {
    public var set: IOCSet
    /// One entry per rejected line (file:line: why); those lines are skipped.
    public var diagnostics: [IOCDiagnostic]
    /// Files read, in order.
    public var files: [String]
}

/// Indicator counts by type.
public struct IOCCounts: Sendable, Hashable, CustomStringConvertible {
    public var domains = 0
    public var ips = 0
    public var hashes = 0
    public var paths = 0
    public var total: Int { domains + ips + hashes + paths }
    public var description: String { "domains=\(domains) ips=\(ips) hashes=\(hashes) paths=\(paths)" }
}

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
        let p: PCRE2Pattern
        switch PCRE2Pattern.compile(pattern) {
        case .success(let c): p = c
        case .failure(let e): throw IOCValueError("invalid regex at offset \(e.offset): \(e.message)")
        }
        var ex: PCRE2Pattern?
        if let exclude, !exclude.isEmpty {
            switch PCRE2Pattern.compile(exclude) {
            case .success(let c): ex = c
            case .failure(let e): throw IOCValueError("invalid exclusion regex at offset \(e.offset): \(e.message)")
            }
        }
        paths.insert(.init(pattern: p, label: labels.intern(label ?? ""), exclude: ex))
    }

    mutating func addValue(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, kind: LineKind, label: String) throws(IOCValueError) {
        guard s < e else { throw IOCValueError("empty value") }
        switch kind {
        case .hash:
            guard DigestSet.kind(forHexLength: e - s) != nil else {
                throw IOCValueError("hash must be 32 (MD5), 40 (SHA-1) or 64 (SHA-256) hex digits, got \(e - s) characters")
            }
            guard let (k, entry) = DigestSet.parse(b, s, e) else { throw IOCValueError("hash has a non-hex character") }
            var en = entry
            en.label = labels.intern(label)
            hashes.insert(kind: k, en)
        case .ip:
            guard let (a, len) = IOCSetBuilder.parseNetwork(b, s, e) else {
                throw IOCValueError("not an IPv4/IPv6 address or CIDR")
            }
            ips.insert(a, prefix: len, label: labels.intern(label))
        case .domain, .mixed:
            if let (a, len) = IOCSetBuilder.parseNetwork(b, s, e) {
                ips.insert(a, prefix: len, label: labels.intern(label))
                return
            }
            try addDomainBytes(b, s, e, label: label)
        case .pathRegex:
            throw IOCValueError("use addPathRegex")
        }
    }

    /// Address with optional /prefix; host bits are cleared by the set.
    static func parseNetwork(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> (IPAddress, Int)? {
        var slash = -1
        for i in s..<e where b[i] == UInt8(ascii: "/") { slash = i; break }
        let end = slash >= 0 ? slash : e
        guard let a = IPAddress.parse(b, s, end) else { return nil }
        let maxLen = a.v6 ? 128 : 32
        var len = maxLen
        if slash >= 0 {
            guard slash + 1 < e, e - slash - 1 <= 3 else { return nil }
            var n = 0
            for i in (slash + 1)..<e {
                guard b[i] &- 48 < 10 else { return nil }
                n = n * 10 + Int(b[i] - 48)
            }
            // An IPv4-mapped IPv6 CIDR (::ffff:a.b.c.d/120) keeps its IPv4 meaning.
            if !a.v6 && b[s..<end].contains(UInt8(ascii: ":")) { n -= 96 }
            guard n >= 0 && n <= maxLen else { return nil }
            len = n
        }
        return (a, len)
    }

    mutating func addDomainBytes(_ b: UnsafeBufferPointer<UInt8>, _ s0: Int, _ e0: Int, label: String) throws(IOCValueError) {
        var s = s0, e = e0
        while e > s && b[e - 1] == UInt8(ascii: ".") { e -= 1 }
        if e - s > 2 && b[s] == UInt8(ascii: "*") && b[s + 1] == UInt8(ascii: ".") { s += 2 }
        while s < e && b[s] == UInt8(ascii: ".") { s += 1 }
        guard s < e else { throw IOCValueError("empty domain") }
        guard e - s <= 253 else { throw IOCValueError("domain longer than 253 characters") }
        var labelLen = 0
        var dots = 0
        for i in s..<e {
            let c = DomainSet.lower(b[i])
            let ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
            guard ok else {
                if c == UInt8(ascii: "/") || c == UInt8(ascii: ":") {
                    throw IOCValueError("not a domain (URL or path?): only host names are accepted")
                }
                throw IOCValueError("invalid character '\(String(decoding: [b[i]], as: UTF8.self))' in domain")
            }
            if c == UInt8(ascii: ".") {
                guard labelLen > 0 else { throw IOCValueError("empty label in domain") }
                labelLen = 0
                dots += 1
            } else {
                labelLen += 1
                guard labelLen <= 63 else { throw IOCValueError("domain label longer than 63 characters") }
            }
        }
        guard dots > 0 else {
            throw IOCValueError("single-label domain (would match a whole TLD or local names)")
        }
        if batching {
            pendingDomains.append((s, e, labels.intern(label)))
            if pendingDomains.count == 64 { flushDomains(b) }
        } else {
            domains.insert(b, s, e, label: labels.intern(label))
        }
    }

    mutating func flushDomains(_ b: UnsafeBufferPointer<UInt8>) {
        guard !pendingDomains.isEmpty else { return }
        pendingDomains.withUnsafeBufferPointer { domains.insertBatch(b, $0) }
        pendingDomains.removeAll(keepingCapacity: true)
    }

    /// Parses one list file's bytes. Lines: `value[(;|whitespace)label]`, `#` comments, blanks.
    /// Path regex lines: `regex[;label[;exclude-regex]]` (split at unescaped `;` outside [...]);
    /// spaces belong to the regex, a tab also ends it.
    public mutating func load(contents: [UInt8], kind: LineKind, fileName: String) -> [IOCDiagnostic] {
        contents.withUnsafeBufferPointer { load(bytes: $0, kind: kind, fileName: fileName) }
    }

    /// Same as `load(contents:...)` on borrowed bytes (e.g. a mapped file).
    public mutating func load(bytes b: UnsafeBufferPointer<UInt8>, kind: LineKind, fileName: String) -> [IOCDiagnostic] {
        var diags: [IOCDiagnostic] = []
        batching = true
        defer {
            flushDomains(b)
            batching = false
        }
        do {
            let n = b.count
            // Size the tables once from the line count.
            var lines = 0
            for c in b where c == 0x0A { lines += 1 }
            switch kind {
            case .domain, .mixed: domains.reserve(domains.count + lines)
            case .ip: ips.reserveV4(lines)
            default: break
            }
            var lineStart = 0
            var lineNo = 0
            if n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { lineStart = 3 }
            while lineStart < n {
                lineNo += 1
                var lineEnd = lineStart
                while lineEnd < n && b[lineEnd] != 0x0A { lineEnd += 1 }
                let next = lineEnd + 1
                var s = lineStart, e = lineEnd
                while s < e && (b[s] == 0x20 || b[s] == 0x09) { s += 1 }
                while e > s && (b[e - 1] == 0x20 || b[e - 1] == 0x09 || b[e - 1] == 0x0D) { e -= 1 }
                lineStart = next
                if s == e || b[s] == UInt8(ascii: "#") { continue }
                do throws(IOCValueError) {
                    if kind == .pathRegex {
                        try loadPathLine(b, s, e)
                    } else {
                        var v = s
                        while v < e && b[v] != UInt8(ascii: ";") && b[v] != 0x20 && b[v] != 0x09 { v += 1 }
                        var l = v
                        while l < e && (b[l] == 0x20 || b[l] == 0x09 || b[l] == UInt8(ascii: ";")) { l += 1 }
                        if l < e && b[l] == UInt8(ascii: "#") {
                            l += 1
                            while l < e && (b[l] == 0x20 || b[l] == 0x09) { l += 1 }
                        }
                        let label = l < e ? String(decoding: UnsafeBufferPointer(rebasing: b[l..<e]), as: UTF8.self) : ""
                        try addValue(b, s, v, kind: kind, label: label)
                    }
                } catch {
                    let text = String(decoding: UnsafeBufferPointer(rebasing: b[s..<min(e, s + 80)]), as: UTF8.self)
                    diags.append(IOCDiagnostic(file: fileName, line: lineNo, message: "\(error.message): \(text)"))
                }
            }
        }
        return diags
    }

    private mutating func loadPathLine(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) throws(IOCValueError) {
        var fields: [String] = []
        var start = s
        var i = s
        var inClass = false
        while i < e {
            let c = b[i]
            if c == UInt8(ascii: "\\") { i += 2; continue }
            if inClass {
                if c == UInt8(ascii: "]") { inClass = false }
            } else if c == UInt8(ascii: "[") {
                inClass = true
                // A ']' right after '[' or '[^' is literal.
                if i + 1 < e && b[i + 1] == UInt8(ascii: "^") { i += 1 }
                if i + 1 < e && b[i + 1] == UInt8(ascii: "]") { i += 1 }
            } else if c == UInt8(ascii: ";") || (c == 0x09 && fields.isEmpty) {
                fields.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
                start = i + 1
                if fields.count == 2 { break }
            }
            i += 1
        }
        fields.append(String(decoding: UnsafeBufferPointer(rebasing: b[min(start, e)..<e]), as: UTF8.self))
        let pattern = fields[0].trimmingCharacters(in: .whitespaces)
        guard !pattern.isEmpty else { throw IOCValueError("empty regex") }
        let label = fields.count > 1 ? fields[1].trimmingCharacters(in: .whitespaces) : ""
        let exclude = fields.count > 2 ? fields[2].trimmingCharacters(in: .whitespaces) : ""
        try addPathRegex(pattern, label: label.isEmpty ? nil : label, exclude: exclude.isEmpty ? nil : exclude)
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

    /// Files `load(directory:)` reads, by name, and how their lines are parsed.
    public static let standardFiles: [(name: String, kind: IOCSetBuilder.LineKind)] = [
        ("domains.txt", .domain), ("ips.txt", .ip), ("hashes.txt", .hash), ("paths_regex.txt", .pathRegex),
    ]

    /// Loads domains.txt, ips.txt, hashes.txt and paths_regex.txt from `directory` (any may be
    /// absent). Other `.txt` files named like LOKI/signature-base lists are read too: a name
    /// containing "c2" → domains and IPs mixed, "hash" → digests, "filename" → path regexes
    /// (`regex;score[;exclude]`). Bad lines are reported and skipped.
    public static func load(directory: String) -> IOCLoadResult { load(directories: [directory]) }

    /// Several directories merged into one set (same file rules as `load(directory:)`); on a
    /// duplicate indicator the first directory's label wins. All files are parsed in parallel.
    public static func load(directories: [String]) -> IOCLoadResult {
        var builder = IOCSetBuilder()
        var diags: [IOCDiagnostic] = []
        var files: [String] = []
        var plan: [(String, IOCSetBuilder.LineKind)] = []
        for directory in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
                diags.append(IOCDiagnostic(file: directory, line: 0, message: "cannot read directory"))
                continue
            }
            let dir = directory as NSString
            for (name, kind) in standardFiles where names.contains(name) { plan.append((dir.appendingPathComponent(name), kind)) }
            for name in names.sorted() where name.hasSuffix(".txt") && !standardFiles.contains(where: { $0.name == name }) {
                let lower = name.lowercased()
                if lower.contains("c2") { plan.append((dir.appendingPathComponent(name), .mixed)) }
                else if lower.contains("hash") { plan.append((dir.appendingPathComponent(name), .hash)) }
                else if lower.contains("filename") { plan.append((dir.appendingPathComponent(name), .pathRegex)) }
            }
        }
        // Files are parsed in parallel, each into its own builder, then merged in order.
        final class Slot: @unchecked Sendable {
            var builder = IOCSetBuilder()
            var diags: [IOCDiagnostic] = []
            var read = false
        }
        let slots = plan.map { _ in Slot() }
        let work = plan
        DispatchQueue.concurrentPerform(iterations: plan.count) { k in
            let (path, kind) = work[k]
            // Mapped, not copied: large lists don't cost their size twice while parsing.
            guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
                slots[k].diags.append(IOCDiagnostic(file: path, line: 0, message: "cannot read file"))
                return
            }
            slots[k].read = true
            slots[k].diags = data.withUnsafeBytes { raw in
                slots[k].builder.load(bytes: raw.bindMemory(to: UInt8.self), kind: kind, fileName: path)
            }
            // Sort in parallel too; merging already-sorted single sources keeps them sorted.
            slots[k].builder.ips.finish()
        }
        for (k, slot) in slots.enumerated() {
            if slot.read { files.append(plan[k].0) }
            diags.append(contentsOf: slot.diags)
            if k == 0 { builder = slot.builder } else { builder.absorb(slot.builder) }
            slot.builder = IOCSetBuilder()
        }
        return IOCLoadResult(set: builder.build(), diagnostics: diags, files: files)
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

    // MARK: Events

    /// Indicator hits on a normalized event:
    /// - DestinationIp always; SourceIp only when `Initiated` is false (inbound: the source is
    ///   the remote peer; on outbound connections it is this host).
    /// - DestinationHostname, QueryName: domains (or IPs when they hold a literal).
    /// - QueryResults: `;`-separated answers, each an address or a name ("type: 5 x.example").
    /// - Image, TargetFilename, ImageLoaded: path regexes.
    /// - Hashes ("SHA256=...,MD5=..."), md5/sha1/sha256 fields: digests.
    /// - CommandLine: URLs, host names and IPv4/IPv6 literals found in it.
    public func match(event: Event) -> [IOCMatch] {
        var out: [IOCMatch] = []
        let names = event.names, values = event.values
        let hasNet = domains.count > 0 || ips.count > 0
        var sourceIp: Int?
        var inbound = false
        for i in names.indices {
            guard let kind = IOCSet.fieldKind(names[i]) else { continue }
            let name = names[i]
            switch kind {
            case .initiated:
                if case .bool(let b) = values[i] { inbound = !b } else { inbound = values[i].stringValue?.lowercased() == "false" }
            case .destinationIp:
                if ips.count > 0 { forEachString(values[i]) { matchHosts($0, name, split: false, &out) } }
            case .sourceIp:
                sourceIp = i
            case .host:
                if hasNet { forEachString(values[i]) { matchHosts($0, name, split: false, &out) } }
            case .queryResults:
                if hasNet { forEachString(values[i]) { matchHosts($0, name, split: true, &out) } }
            case .path:
                if paths.count > 0 { forEachString(values[i]) { v in for h in matchPath(v) { append(.path, h, name, v, &out) } } }
            case .hashes:
                if hashes.count > 0 { forEachString(values[i]) { matchHashes($0, name, &out) } }
            case .commandLine:
                if hasNet {
                    forEachString(values[i]) { v in
                        var v = v
                        v.withUTF8 { b in
                            IOCSet.scanNetworkTokens(b) { s, e in matchHost(b, s, e, name, &out) }
                        }
                    }
                }
            }
        }
        if inbound, let i = sourceIp, ips.count > 0 {
            forEachString(values[i]) { matchHosts($0, names[i], split: false, &out) }
        }
        return out
    }

    enum FieldKind { case initiated, destinationIp, sourceIp, host, queryResults, path, hashes, commandLine }

    /// Field names this matcher reads; dispatched on length first (most fields are skipped).
    @inline(__always)
    static func fieldKind(_ name: String) -> FieldKind? {
        switch name.utf8.count {
        case 3: return name == "md5" || name == "MD5" ? .hashes : nil
        case 4: return name == "sha1" || name == "SHA1" ? .hashes : nil
        case 5: return name == "Image" ? .path : nil
        case 6: return name == "Hashes" || name == "sha256" || name == "SHA256" ? .hashes : nil
        case 8: return name == "SourceIp" ? .sourceIp : nil
        case 9: return name == "Initiated" ? .initiated : (name == "QueryName" ? .host : nil)
        case 11: return name == "CommandLine" ? .commandLine : (name == "ImageLoaded" ? .path : nil)
        case 12: return name == "QueryResults" ? .queryResults : nil
        case 13: return name == "DestinationIp" ? .destinationIp : nil
        case 14: return name == "TargetFilename" ? .path : nil
        case 19: return name == "DestinationHostname" ? .host : nil
        default: return nil
        }
    }

    private func forEachString(_ v: FieldValue, _ body: (String) -> Void) {
        switch v {
        case .array(let a): for x in a { forEachString(x, body) }
        case .null: break
        default: if let s = v.stringValue, !s.isEmpty { body(s) }
        }
    }

    private func append(_ type: IOCType, _ hit: IOCHit, _ field: String, _ observed: String, _ out: inout [IOCMatch]) {
        if out.contains(where: { $0.type == type && $0.indicator == hit.indicator && $0.field == field }) { return }
        out.append(IOCMatch(type: type, indicator: hit.indicator, label: hit.label, field: field, observed: observed))
    }

    /// A whole value (split: false) or a list of answers (split: true, Sysmon QueryResults:
    /// "type: 5 alias.example;::ffff:1.2.3.4;"), each an address or a host name.
    private func matchHosts(_ v: String, _ field: String, split: Bool, _ out: inout [IOCMatch]) {
        var v = v
        v.withUTF8 { b in
            if !split {
                var s = 0, e = b.count
                while s < e && b[s] == 0x20 { s += 1 }
                while e > s && b[e - 1] == 0x20 { e -= 1 }
                matchHost(b, s, e, field, &out)
                return
            }
            var i = 0
            let n = b.count
            while i < n {
                while i < n && (b[i] == 0x3B || b[i] == 0x20 || b[i] == 0x2C || b[i] == 0x09) { i += 1 }
                var j = i
                while j < n && !(b[j] == 0x3B || b[j] == 0x20 || b[j] == 0x2C || b[j] == 0x09) { j += 1 }
                if j > i {
                    var digits = true
                    for k in i..<j where b[k] &- 48 >= 10 { digits = false; break }
                    let isType = j - i == 5 && b[i] == UInt8(ascii: "t") && b[j - 1] == UInt8(ascii: ":")
                    if !digits && !isType { matchHost(b, i, j, field, &out) }
                }
                i = j
            }
        }
    }

    /// b[s..<e] as an address literal, else as a host name.
    private func matchHost(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int, _ field: String, _ out: inout [IOCMatch]) {
        guard s < e else { return }
        if let a = IPAddress.parse(b, s, e) {
            guard let (net, len, label) = ips.lookup(a) else { return }
            let full = net.v6 ? 128 : 32
            let hit = IOCHit(indicator: len == full ? net.string : "\(net.string)/\(len)", label: labels.label(label))
            append(.ip, hit, field, String(decoding: UnsafeBufferPointer(rebasing: b[s..<e]), as: UTF8.self), &out)
        } else if let i = domains.lookup(b, s, e) {
            let hit = IOCHit(indicator: domains.value(i), label: labels.label(domains.labelIDs[i]))
            append(.domain, hit, field, String(decoding: UnsafeBufferPointer(rebasing: b[s..<e]), as: UTF8.self), &out)
        }
    }

    /// "SHA256=...,MD5=..." (Sysmon Hashes) or a bare digest.
    private func matchHashes(_ v: String, _ field: String, _ out: inout [IOCMatch]) {
        var v = v
        v.withUTF8 { b in
            var i = 0
            let n = b.count
            while i < n {
                while i < n && (b[i] == 0x2C || b[i] == 0x3B || b[i] == 0x20) { i += 1 }
                var j = i
                var eq = -1
                while j < n && !(b[j] == 0x2C || b[j] == 0x3B || b[j] == 0x20) {
                    if b[j] == 0x3D && eq < 0 { eq = j }
                    j += 1
                }
                let s = eq >= 0 ? eq + 1 : i
                if j - s >= 32, let (k, e) = DigestSet.parse(b, s, j), let label = hashes.lookup(kind: k, e) {
                    let hit = IOCHit(indicator: DigestSet.hex(kind: k, e), label: labels.label(label))
                    append(.hash, hit, field, String(decoding: UnsafeBufferPointer(rebasing: b[s..<j]), as: UTF8.self), &out)
                }
                i = j
            }
        }
    }

    /// Host names and IP literals in a command line: URL hosts, `user@host`, `host:port`,
    /// bracketed IPv6, bare IPv4/IPv6 literals and dotted names whose last label is alphabetic.
    public static func networkTokens(in commandLine: String) -> [String] {
        var out: [String] = []
        var s = commandLine
        s.withUTF8 { b in
            scanNetworkTokens(b) { from, to in
                let t = UnsafeBufferPointer(rebasing: b[from..<to])
                if let a = IPAddress.parse(b, from, to), a.v6 { out.append(a.string) } else { out.append(String(decoding: t, as: UTF8.self)) }
            }
        }
        return out
    }

    /// Calls `found` with the byte range of each host/IP candidate in a command line.
    static func scanNetworkTokens(_ b: UnsafeBufferPointer<UInt8>, _ found: (Int, Int) -> Void) {
        let n = b.count
        var i = 0
        @inline(__always) func isDelim(_ c: UInt8) -> Bool {
            switch c {
            case 0x20, 0x09, 0x0A, 0x0D, 0x22, 0x27, 0x60, 0x2C, 0x3B, 0x28, 0x29, 0x3C, 0x3E, 0x7C, 0x26,
                 0x7B, 0x7D, 0x3D, 0x40, 0x5C, 0x2A, 0x24, 0x21, 0x5E:
                return true
            default: return false
            }
        }
        while i < n {
            while i < n && isDelim(b[i]) { i += 1 }
            var j = i
            while j < n && !isDelim(b[j]) { j += 1 }
            if j > i { token(b, i, j, found) }
            i = j
        }
    }

    private static func token(_ b: UnsafeBufferPointer<UInt8>, _ s0: Int, _ e0: Int, _ found: (Int, Int) -> Void) {
        var s = s0, e = e0
        // Strip a URL scheme.
        var k = s
        while k + 2 < e {
            if b[k] == UInt8(ascii: ":") && b[k + 1] == UInt8(ascii: "/") && b[k + 2] == UInt8(ascii: "/") { s = k + 3; break }
            if b[k] == UInt8(ascii: "/") { break }
            k += 1
        }
        if s + 1 < e && b[s] == UInt8(ascii: "/") && b[s + 1] == UInt8(ascii: "/") { s += 2 }
        // bash's /dev/tcp/HOST/PORT and /dev/udp/HOST/PORT.
        if e - s > 9 && b[s] == UInt8(ascii: "/") && b[s + 1] == UInt8(ascii: "d") && b[s + 4] == UInt8(ascii: "/") {
            let dev = String(decoding: UnsafeBufferPointer(rebasing: b[s..<(s + 9)]), as: UTF8.self)
            if dev == "/dev/tcp/" || dev == "/dev/udp/" { s += 9 }
        }
        guard s < e else { return }
        // Host ends at the first path, query or fragment character.
        var h = s
        if b[s] == UInt8(ascii: "[") {
            while h < e && b[h] != UInt8(ascii: "]") { h += 1 }
            guard h < e else { return }
            if let a = IPAddress.parse(b, s + 1, h), a.v6 { found(s + 1, h) }
            return
        }
        while h < e && b[h] != UInt8(ascii: "/") && b[h] != UInt8(ascii: "?") && b[h] != UInt8(ascii: "#") { h += 1 }
        e = h
        guard s < e else { return }
        var colons = 0
        for x in s..<e where b[x] == UInt8(ascii: ":") { colons += 1 }
        if colons >= 2 {
            if let a = IPAddress.parse(b, s, e), a.v6 { found(s, e) }
            return
        }
        if colons == 1 {
            // host:port
            var c = s
            while b[c] != UInt8(ascii: ":") { c += 1 }
            e = c
        }
        while e > s && (b[e - 1] == UInt8(ascii: ".") || b[e - 1] == UInt8(ascii: "-")) { e -= 1 }
        while s < e && (b[s] == UInt8(ascii: ".") || b[s] == UInt8(ascii: "-")) { s += 1 }
        guard e - s >= 3 else { return }
        if IPAddress.parseV4(b, s, e) != nil {
            found(s, e)
            return
        }
        // Dotted host name: [A-Za-z0-9-_.], at least one dot, alphabetic last label of 2+.
        var dots = 0
        var lastDot = -1
        for x in s..<e {
            let c = b[x]
            if c == UInt8(ascii: ".") {
                if x == lastDot + 1 && lastDot >= 0 { return }
                dots += 1
                lastDot = x
                continue
            }
            let lc = c | 0x20
            guard (lc >= 97 && lc <= 122) || (c >= 48 && c <= 57) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") else { return }
        }
        guard dots > 0, e - lastDot - 1 >= 2 else { return }
        for x in (lastDot + 1)..<e {
            let lc = b[x] | 0x20
            guard lc >= 97 && lc <= 122 else { return }
        }
        found(s, e)
    }
}
