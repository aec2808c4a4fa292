import CPCRE2
import EDRCore

/// A compiled PCRE2 pattern (JIT-compiled where the platform supports it).
final class PCRERegex: @unchecked Sendable {
    let code: OpaquePointer
    let pattern: String

    /// flags: 1 = i, 2 = m, 4 = s (Sigma `re` sub-modifiers).
    init(_ pattern: String, flags: UInt32) throws {
        var opts = edr_pcre2_utf()
        if flags & 1 != 0 { opts |= edr_pcre2_caseless() }
        if flags & 2 != 0 { opts |= edr_pcre2_multiline() }
        if flags & 4 != 0 { opts |= edr_pcre2_dotall() }
        var err: Int32 = 0
        var off: Int = 0
        let bytes = Array(pattern.utf8)
        let c: OpaquePointer? = bytes.withUnsafeBufferPointer { bp in
            pcre2_compile_8(bp.baseAddress, bp.count, opts, &err, &off, nil)
        }
        guard let c else {
            var buf = [UInt8](repeating: 0, count: 256)
            let n = pcre2_get_error_message_8(err, &buf, buf.count)
            let msg = n > 0 ? String(decoding: buf[0..<Int(n)], as: UTF8.self) : "error \(err)"
            throw RuleError("invalid regular expression at offset \(off): \(msg)")
        }
        if RegexJIT.enabled { _ = pcre2_jit_compile_8(c, edr_pcre2_jit_complete()) }
        code = c
        self.pattern = pattern
    }

    deinit { pcre2_code_free_8(code) }

    /// Unanchored search. `md` is a caller-owned match data block (one per thread).
    @inline(__always)
    func matches(_ text: UnsafeBufferPointer<UInt8>, _ md: OpaquePointer) -> Bool {
        let base = text.baseAddress ?? UnsafePointer(bitPattern: 1)!
        let rc = pcre2_match_8(code, base, text.count, 0, edr_pcre2_no_utf_check(), md, nil)
        return rc >= 0
    }
}

final class PCREMatchData {
    let md: OpaquePointer
    init() { md = pcre2_match_data_create_8(1, nil) }
    deinit { pcre2_match_data_free_8(md) }
}
