#ifndef CPCRE2_H
#define CPCRE2_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

// Function-like macros and constants re-exported for Swift.
static inline uint32_t edr_pcre2_caseless(void) { return PCRE2_CASELESS; }
static inline uint32_t edr_pcre2_multiline(void) { return PCRE2_MULTILINE; }
static inline uint32_t edr_pcre2_dotall(void) { return PCRE2_DOTALL; }
static inline uint32_t edr_pcre2_utf(void) { return PCRE2_UTF; }
static inline uint32_t edr_pcre2_no_utf_check(void) { return PCRE2_NO_UTF_CHECK; }
static inline uint32_t edr_pcre2_jit_complete(void) { return PCRE2_JIT_COMPLETE; }
#endif
