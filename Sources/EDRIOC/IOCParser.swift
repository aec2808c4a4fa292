import EDRCore
import EDRRegex
import Foundation

/// Reading list files: one line at a time, straight from the (mapped) bytes, each value
/// validated and inserted; bad lines come back as diagnostics naming file and line.
extension IOCSetBuilder {
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
        _ = RegexScanner.walk(b, from: s, to: e) { i, c in
            guard c == UInt8(ascii: ";") || (c == 0x09 && fields.isEmpty) else { return true }
            fields.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
            start = i + 1
            return fields.count < 2
        }
        fields.append(String(decoding: UnsafeBufferPointer(rebasing: b[min(start, e)..<e]), as: UTF8.self))
        let pattern = fields[0].trimmingCharacters(in: .whitespaces)
        guard !pattern.isEmpty else { throw IOCValueError("empty regex") }
        let label = fields.count > 1 ? fields[1].trimmingCharacters(in: .whitespaces) : ""
        let exclude = fields.count > 2 ? fields[2].trimmingCharacters(in: .whitespaces) : ""
        try addPathRegex(pattern, label: label.isEmpty ? nil : label, exclude: exclude.isEmpty ? nil : exclude)
    }
}
