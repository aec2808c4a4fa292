import CPCRE2
import EDRCore

/// A compiled PCRE2 pattern: the one place the agent compiles regular expressions (Sigma's `re`
/// modifier, IOC path regexes). The compiled code is immutable and shared across threads; match
/// data belongs to the caller (one `PCREMatchData` per thread). JIT-compiled unless
/// `RegexJIT.enabled` is off, as it is in the confined children, which may not map executable
/// memory.
public final class PCREPattern: @unchecked Sendable {
    /// PCRE2 compile options.
    public struct Options: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let caseless = Options(rawValue: edr_pcre2_caseless())
        public static let multiline = Options(rawValue: edr_pcre2_multiline())
        public static let dotAll = Options(rawValue: edr_pcre2_dotall())
        /// Pattern and subjects are UTF-8; subjects are then matched without a UTF check (the
        /// caller passes valid UTF-8).
        public static let utf = Options(rawValue: edr_pcre2_utf())
    }

    /// Why a pattern does not compile: PCRE2's message and the offset in the pattern.
    public struct CompileError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var offset: Int
        public var description: String { "at offset \(offset): \(message)" }
    }

    public let source: String
    @usableFromInline let code: OpaquePointer
    @usableFromInline let matchOptions: UInt32

    public init(_ source: String, options: Options = []) throws(CompileError) {
        var err: Int32 = 0
        var off: Int = 0
        let code: OpaquePointer? =
            source.utf8.withContiguousStorageIfAvailable { bp in
                pcre2_compile_8(bp.baseAddress, bp.count, options.rawValue, &err, &off, nil)
            }
            ?? Array(source.utf8).withUnsafeBufferPointer { bp in
                pcre2_compile_8(bp.baseAddress, bp.count, options.rawValue, &err, &off, nil)
            }
        guard let code else {
            var buf = [UInt8](repeating: 0, count: 256)
            let n = pcre2_get_error_message_8(err, &buf, buf.count)
            let msg = n > 0 ? String(decoding: buf[0..<Int(n)], as: UTF8.self) : "error \(err)"
            throw CompileError(message: msg, offset: off)
        }
        if RegexJIT.enabled { _ = pcre2_jit_compile_8(code, edr_pcre2_jit_complete()) }
        self.code = code
        self.source = source
        matchOptions = options.contains(.utf) ? edr_pcre2_no_utf_check() : 0
    }

    deinit { pcre2_code_free_8(code) }

    /// Whether this pattern runs as JIT code (`RegexJIT.enabled` when it was compiled, and a
    /// PCRE2 built with JIT for this machine).
    public var isJITCompiled: Bool {
        var size = 0
        return pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_JITSIZE), &size) == 0 && size > 0
    }

    /// Whether this machine's PCRE2 can JIT-compile at all.
    public static var jitSupported: Bool {
        var yes: UInt32 = 0
        return pcre2_config_8(UInt32(PCRE2_CONFIG_JIT), &yes) >= 0 && yes == 1
    }

    /// Unanchored search of `subject`. `matchData` is a `PCREMatchData.pointer` the caller owns.
    @inlinable
    public func matches(_ subject: UnsafeBufferPointer<UInt8>, _ matchData: OpaquePointer) -> Bool {
        if let base = subject.baseAddress {
            return pcre2_match_8(code, base, subject.count, 0, matchOptions, matchData, nil) >= 0
        }
        var empty: UInt8 = 0
        return pcre2_match_8(code, &empty, 0, 0, matchOptions, matchData, nil) >= 0
    }
}

/// PCRE2's working memory for one match at a time: one per thread, reused across matches.
public final class PCREMatchData {
    public let pointer: OpaquePointer

    public init() { pointer = pcre2_match_data_create_8(1, nil) }

    deinit { pcre2_match_data_free_8(pointer) }
}
