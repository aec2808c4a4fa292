/// Host names and IP literals found in command lines, for the domain and address tables.
extension IOCSet {
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
