/// Walks a regular expression's bytes the way PCRE2 reads its structure, for the callers that
/// must find a byte that means something *outside* escapes and character classes: an IOC line's
/// `;` separators (IOCParser), a top-level `|` or a group's closing `)` (the literal prefilter).
/// An escape (`\` and the byte after it) and a class (`[...]`, where a `]` right after `[` or
/// `[^` is literal) are stepped over whole; every other byte goes to `visit`.
public enum RegexScanner {
    /// Calls `visit(index, byte)` for each byte of `bytes[start..<end]` outside escapes and
    /// classes until it returns false. Returns where the walk stopped (the index `visit` refused,
    /// or `end`) and whether it ended inside an unterminated class.
    @inlinable
    public static func walk<C: RandomAccessCollection>(
        _ bytes: C, from start: Int, to end: Int,
        _ visit: (Int, UInt8) -> Bool
    ) -> (stop: Int, inClass: Bool)
    where C.Element == UInt8, C.Index == Int {
        var i = start
        var inClass = false
        while i < end {
            let c = bytes[i]
            if c == UInt8(ascii: "\\") { i += 2; continue }
            if inClass {
                if c == UInt8(ascii: "]") { inClass = false }
            } else if c == UInt8(ascii: "[") {
                inClass = true
                if i + 1 < end && bytes[i + 1] == UInt8(ascii: "^") { i += 1 }
                if i + 1 < end && bytes[i + 1] == UInt8(ascii: "]") { i += 1 }
            } else if !visit(i, c) {
                return (i, false)
            }
            i += 1
        }
        return (min(i, end), inClass)
    }
}
