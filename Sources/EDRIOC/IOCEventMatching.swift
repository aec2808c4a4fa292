import EDRCore

/// Indicator lookups routed by field: which fields of a normalized event are looked up in
/// which table.
extension IOCSet {
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

    func append(_ type: IOCType, _ hit: IOCHit, _ field: String, _ observed: String, _ out: inout [IOCMatch]) {
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
}
