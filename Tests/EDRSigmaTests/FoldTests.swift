import EDRCore
@testable import EDRSigma
import Testing

/// The fold buffer the literal scans read: values lowercased eight bytes at a time, integers
/// written as digits. Checked against the byte-at-a-time fold and against `String` formatting,
/// through the engine (what a rule sees), at every length around the eight-byte steps.
struct FoldTests {
    /// Whether the one-rule engine of `detection` matches; the rule must load.
    private func hit(_ detection: String, _ fields: [(String, FieldValue)]) throws -> Bool {
        let r = matches(detection, fields)
        try #require(r != nil, "the rule did not load: \(detection)")
        return r ?? false
    }

    @Test func eightBytesAtATimeLowercaseAsOneAtATime() {
        for b in 0..<128 {
            for pos in 0..<8 {
                var bytes = [UInt8](repeating: UInt8(ascii: "Q"), count: 8)
                bytes[pos] = UInt8(b)
                let w = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                let out = withUnsafeBytes(of: Fold.lower8(w)) { Array($0) }
                #expect(out == bytes.map(Fold.lower), "byte \(b) at \(pos)")
            }
        }
    }

    @Test func valuesOfEveryLengthMatchTheirLowercaseLiterals() throws {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{/\\-_ 09".utf8)
        for n in 1...40 {
            let value = String(decoding: (0..<n).map { alphabet[($0 * 7 + n) % alphabet.count] }, as: UTF8.self)
            let lower = value.lowercased()
            // The whole value, its last byte (after the eight-byte steps), and a keyword.
            let last = String(lower.suffix(1)).replacingOccurrences(of: "\\", with: "\\\\")
            let whole = lower.replacingOccurrences(of: "\\", with: "\\\\")
            #expect(try hit("sel:\n    CommandLine: '\(whole)'\ncondition: sel", [("CommandLine", .string(value))]), "\(value)")
            #expect(try hit("sel:\n    CommandLine|endswith: '\(last)'\ncondition: sel", [("CommandLine", .string(value))]), "\(value)")
            #expect(try hit("keywords:\n    - '\(whole)'\ncondition: keywords", [("CommandLine", .string(value))]), "\(value)")
            // One byte off: no match.
            #expect(try hit("sel:\n    CommandLine: '\(whole)x'\ncondition: sel", [("CommandLine", .string(value))]) == false)
        }
    }

    @Test func nonASCIIAfterTheFirstEightBytesFoldsByScalar() throws {
        // 'É' (two bytes) after nine ASCII bytes, 'Σ' inside the first eight.
        #expect(try hit("sel:\n    Image|contains: 'abcdefghié'\ncondition: sel", [("Image", "ABCDEFGHIÉ")]))
        #expect(try hit("sel:\n    Image|contains: 'aσbcdefghij'\ncondition: sel", [("Image", "AΣBCDEFGHIJ")]))
        #expect(try hit("keywords:\n    - 'xyzé'\ncondition: keywords", [("Image", "WXYZÉ"), ("pid", 12)]))
    }

    @Test func integersAreTheirDecimalDigits() throws {
        let values: [Int64] = [0, 7, -7, 9, 10, 99, 100, 12345, -100_000, 999_999_999, 1_000_000_000, .max, .min]
        for i in values {
            let text = String(i)
            #expect(try hit("keywords:\n    - '\(text)'\ncondition: keywords", [("pid", .int(i))]), "\(text)")
            #expect(try hit("sel:\n    pid|startswith: '\(text)'\ncondition: sel", [("pid", .int(i))]), "\(text)")
            #expect(try hit("sel:\n    pid|endswith: '\(text)'\ncondition: sel", [("pid", .int(i))]), "\(text)")
            // A digit more on either side does not match.
            #expect(try hit("keywords:\n    - '\(text)1'\ncondition: keywords", [("pid", .int(i))]) == false, "\(text)1")
            #expect(try hit("sel:\n    pid|startswith: '1\(text)'\ncondition: sel", [("pid", .int(i))]) == false, "1\(text)")
        }
    }
}
