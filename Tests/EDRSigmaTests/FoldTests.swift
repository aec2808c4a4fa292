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

    /// Two-byte sequences fold from a table: every one of them (valid, overlong, with a bad
    /// continuation byte, cut off at the end), alone and between ASCII, folds as the Unicode
    /// tables say, and a value with Latin-1 letters matches its lowercase literal.
    @Test func twoByteSequencesFoldAsTheUnicodeTablesSay() throws {
        func table(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            bytes.withUnsafeBufferPointer { Fold.foldUTF8($0) { out.append($0) } }
            return out
        }
        func unicode(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            bytes.withUnsafeBufferPointer { u in
                var i = 0
                while i < u.count {
                    let b = u[i]
                    let len = b >= 0xF0 ? 4 : (b >= 0xE0 ? 3 : (b >= 0xC0 ? 2 : 1))
                    if b < 0x80 {
                        out.append(Fold.lower(b)); i += 1
                    } else if len == 1 || i + len > u.count {
                        out.append(b); i += 1
                    } else {
                        i += Fold.foldScalar(u, i, len) { out.append($0) }
                    }
                }
            }
            return out
        }
        var changed = 0
        for b in UInt8(0xC0)...0xDF {
            for c in 0...UInt8(255) {
                for bytes in [[b, c], Array("Ab".utf8) + [b, c] + Array("Cd".utf8), [UInt8(ascii: "X"), b]] {
                    let got = table(bytes)
                    #expect(got == unicode(bytes), "\(bytes)")
                    if got != bytes.map(Fold.lower) { changed += 1 }
                }
            }
        }
        #expect(changed > 500)  // the table holds the mappings, not a copy of its input
        #expect(table(Array("ÉÀÖ®İ".utf8)) == Array("éàö®i̇".utf8))
        #expect(try hit("sel:\n    Product|contains: 'microsoft® windows® opérating'\ncondition: sel", [("Product", "Microsoft® Windows® OPÉRATING System")]))
        #expect(
            try hit("sel:\n    Product|contains: 'microsoft® windows® operating'\ncondition: sel", [("Product", "Microsoft® Windows® OPÉRATING System")])
                == false)
    }

    /// Values mixing ASCII runs of every length with one- to four-byte scalars: the event side
    /// (eight ASCII bytes at a time, resumed after the first non-ASCII byte) folds each as the
    /// rule side folds its literal (`Fold.fold`), so each matches itself exactly and nothing
    /// one character longer.
    @Test func mixedValuesFoldAsTheirLiterals() throws {
        var rng = SplitMix64(seed: 7)
        let ascii = Array("abcXYZ019 .:-_")
        let other: [Character] = ["é", "É", "ß", "İ", "Σ", "®", "Ж", "™", "😀", "ǅ", "Ω"]
        for round in 0..<150 {
            var s = ""
            for _ in 0..<(1 + Int(rng.next() % 6)) {
                for _ in 0..<Int(rng.next() % 19) { s.append(ascii[Int(rng.next() % UInt64(ascii.count))]) }
                if rng.next() % 3 != 0 { s.append(other[Int(rng.next() % UInt64(other.count))]) }
            }
            if s.isEmpty { continue }
            #expect(try hit("sel:\n    Product: '\(s)'\ncondition: sel", [("Product", .string(s))]), "round \(round): \(s)")
            #expect(try hit("sel:\n    Product: '\(s)x'\ncondition: sel", [("Product", .string(s))]) == false, "round \(round): \(s)")
            let upper = s.uppercased(), lower = s.lowercased()
            let same = Fold.fold(Array(upper.utf8)) == Fold.fold(Array(lower.utf8))
            #expect(try hit("sel:\n    Product: '\(upper)'\ncondition: sel", [("Product", .string(lower))]) == same, "round \(round): \(s)")
        }
        // The fold buffer (4 KiB at first) grows after the ASCII prefix is folded: the prefix is kept.
        let grows = String(repeating: "AbCd", count: 25) + String(repeating: "É", count: 1400)
        #expect(try hit("sel:\n    Product: '\(grows.lowercased())'\ncondition: sel", [("Product", .string(grows))]))
        let long = String(repeating: "AbCdEfGh", count: 700) + "É" + String(repeating: "Q", count: 13)
        let ends = "é" + String(repeating: "q", count: 13)
        #expect(try hit("sel:\n    Product|startswith: 'abcdefghabcd'\n    Product|endswith: '\(ends)'\ncondition: sel", [("Product", .string(long))]))
        #expect(try hit("sel:\n    Product: '\(long.lowercased())'\ncondition: sel", [("Product", .string(long))]))
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
