import EDRCore
import Testing
@testable import EDRRegex

private func matches(_ p: PCREPattern, _ text: String) -> Bool {
    let md = PCREMatchData()
    var t = text
    return t.withUTF8 { p.matches($0, md.pointer) }
}

private func matches(_ p: PCREPattern, bytes: [UInt8]) -> Bool {
    let md = PCREMatchData()
    return bytes.withUnsafeBufferPointer { p.matches($0, md.pointer) }
}

@Suite("PCRE2 wrapper", .serialized)
struct PCREPatternTests {
    @Test func searchesUnanchoredWithTheOptionsGiven() throws {
        let plain = try PCREPattern("ev[i]l\\.sh$")
        #expect(matches(plain, "/tmp/evil.sh"))
        #expect(!matches(plain, "/tmp/EVIL.sh"))
        #expect(!matches(plain, "/tmp/evil.sh.bak"))
        #expect(matches(try PCREPattern("ev[i]l\\.sh$", options: [.caseless]), "/tmp/EVIL.sh"))
        #expect(!matches(try PCREPattern("^b$"), "a\nb\nc"))
        #expect(matches(try PCREPattern("^b$", options: [.multiline]), "a\nb\nc"))
        #expect(!matches(try PCREPattern("a.b"), "a\nb"))
        #expect(matches(try PCREPattern("a.b", options: [.dotAll]), "a\nb"))
        // UTF: a dot is one character, not one byte.
        #expect(matches(try PCREPattern("^.$", options: [.utf]), "é"))
        #expect(!matches(try PCREPattern("^.$"), "é"))
        #expect(plain.source == "ev[i]l\\.sh$")
    }

    @Test func withoutUTFAnyBytesAreASubject() throws {
        // IOC path regexes see raw path bytes, which need not be UTF-8.
        let p = try PCREPattern("\\xff\\x00x")
        #expect(matches(p, bytes: [0x2F, 0xFF, 0x00, 0x78]))
        #expect(!matches(p, bytes: [0x2F, 0xFE, 0x00, 0x78]))
    }

    @Test func anEmptySubjectIsMatchedAsEmpty() throws {
        #expect(matches(try PCREPattern("^$"), bytes: []))
        #expect(!matches(try PCREPattern("a"), bytes: []))
    }

    @Test func aBadPatternNamesTheOffsetAndTheReason() {
        #expect {
            try PCREPattern("ab(c")
        } throws: { error in
            guard let e = error as? PCREPattern.CompileError else { return false }
            return e.offset == 4 && e.message.contains("missing closing parenthesis")
                && "\(e)" == "at offset 4: \(e.message)"
        }
    }

    /// The one place the JIT switch is read: patterns compiled while it is off run without
    /// JIT code (the confined children may not map executable memory).
    @Test func theJITSwitchIsHonouredAtCompileTime() throws {
        let saved = RegexJIT.enabled
        defer { RegexJIT.enabled = saved }
        RegexJIT.enabled = false
        let interpreted = try PCREPattern("jit[0-9]+")
        #expect(!interpreted.isJITCompiled)
        RegexJIT.enabled = true
        let jitted = try PCREPattern("jit[0-9]+")
        #expect(jitted.isJITCompiled == PCREPattern.jitSupported)
        #if arch(x86_64) || arch(arm64)
        // Debian's PCRE2 has JIT on these: the comparison above is not vacuous here.
        #expect(PCREPattern.jitSupported)
        #endif
        // Both give the same answers.
        for text in ["jit42", "jit", "xjit7y"] {
            #expect(matches(interpreted, text) == matches(jitted, text))
        }
    }
}
