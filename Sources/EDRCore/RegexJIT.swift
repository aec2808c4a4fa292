/// PCRE2's JIT writes machine code into executable memory; the agent's confined children
/// forbid executable mappings, so they turn it off before compiling any pattern.
public enum RegexJIT {
    public nonisolated(unsafe) static var enabled = true
}
