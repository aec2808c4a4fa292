#ifndef CYARA_H
#define CYARA_H
#include <yara.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>

// ---------------------------------------------------------------------------
// libyara: macro constants and struct accessors re-exported for Swift.
// YR_RULE / YR_META fields are declared through DECLARE_REFERENCE unions, so
// Swift reads them through these helpers instead of touching the layout.
// ---------------------------------------------------------------------------

static inline int edr_yr_callback_msg_rule_matching(void) { return CALLBACK_MSG_RULE_MATCHING; }
static inline int edr_yr_callback_msg_too_many_matches(void) { return CALLBACK_MSG_TOO_MANY_MATCHES; }
static inline int edr_yr_callback_continue(void) { return CALLBACK_CONTINUE; }
static inline int edr_yr_callback_abort(void) { return CALLBACK_ABORT; }
static inline int edr_yr_error_level_error(void) { return YARA_ERROR_LEVEL_ERROR; }
static inline int edr_yr_error_level_warning(void) { return YARA_ERROR_LEVEL_WARNING; }
static inline int edr_yr_error_success(void) { return ERROR_SUCCESS; }
static inline int edr_yr_error_scan_timeout(void) { return ERROR_SCAN_TIMEOUT; }
static inline int edr_yr_error_insufficient_memory(void) { return ERROR_INSUFFICIENT_MEMORY; }
static inline int edr_yr_error_could_not_map_file(void) { return ERROR_COULD_NOT_MAP_FILE; }
static inline int edr_yr_error_too_many_matches(void) { return ERROR_TOO_MANY_MATCHES; }
static inline int edr_yr_meta_type_integer(void) { return META_TYPE_INTEGER; }
static inline int edr_yr_meta_type_string(void) { return META_TYPE_STRING; }
static inline int edr_yr_meta_type_boolean(void) { return META_TYPE_BOOLEAN; }

static inline const char *edr_yr_rule_identifier(const YR_RULE *rule) { return rule->identifier; }
static inline const char *edr_yr_rule_namespace(const YR_RULE *rule) {
    return rule->ns != NULL ? rule->ns->name : NULL;
}
/// Tags are stored back to back, each NUL-terminated, the list ending with an empty string.
static inline const char *edr_yr_rule_tags(const YR_RULE *rule) { return rule->tags; }
/// First meta of a rule, or NULL when the rule has none.
static inline const YR_META *edr_yr_rule_first_meta(const YR_RULE *rule) { return rule->metas; }
/// Next meta after `meta`, or NULL when `meta` is the rule's last.
static inline const YR_META *edr_yr_meta_next(const YR_META *meta) {
    return META_IS_LAST_IN_RULE(meta) ? NULL : meta + 1;
}
static inline const char *edr_yr_meta_identifier(const YR_META *meta) { return meta->identifier; }
static inline const char *edr_yr_meta_string(const YR_META *meta) { return meta->string; }
static inline int64_t edr_yr_meta_integer(const YR_META *meta) { return meta->integer; }
static inline int32_t edr_yr_meta_type(const YR_META *meta) { return meta->type; }

/// Adds a rule file by path. The path is opened here, in the compiling process, never by
/// the scanner; `file_name` is what error messages and `include` resolution use.
/// Returns the number of errors, or -1 when the file can't be opened.
static inline int edr_yr_compiler_add_path(YR_COMPILER *compiler, const char *path, const char *ns) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    int errors = yr_compiler_add_file(compiler, f, ns, path);
    fclose(f);
    return errors;
}

// ---------------------------------------------------------------------------
// MD5, SHA-1 and SHA-256, computed together over one read of a file.
// Small portable implementations (RFC 1321, FIPS 180-4); no external library.
// ---------------------------------------------------------------------------

#define EDR_HASH_MD5 1u
#define EDR_HASH_SHA1 2u
#define EDR_HASH_SHA256 4u
static inline uint32_t edr_hash_kind_md5(void) { return EDR_HASH_MD5; }
static inline uint32_t edr_hash_kind_sha1(void) { return EDR_HASH_SHA1; }
static inline uint32_t edr_hash_kind_sha256(void) { return EDR_HASH_SHA256; }

typedef struct {
    uint32_t kinds;           // EDR_HASH_* bits: which digests to compute
    uint32_t md5[4];
    uint32_t sha1[5];
    uint32_t sha256[8];
    uint64_t length;          // bytes fed so far
    uint8_t block[64];        // pending partial block
    uint32_t used;            // bytes in `block`
} edr_hash_ctx;

static inline uint32_t edr_rotl32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }
static inline uint32_t edr_rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
static inline uint32_t edr_load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint32_t edr_load_le32(const uint8_t *p) {
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | (uint32_t)p[0];
}

#define EDR_MD5_STEP(f, a, b, c, d, x, t, r) \
    do { a += f(b, c, d) + (x) + (uint32_t)(t); a = edr_rotl32(a, r) + b; } while (0)
#define EDR_MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define EDR_MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define EDR_MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define EDR_MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))

static inline void edr_md5_block(uint32_t s[4], const uint8_t *p) {
    uint32_t m[16];
    for (int i = 0; i < 16; i++) m[i] = edr_load_le32(p + 4 * i);
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3];
    EDR_MD5_STEP(EDR_MD5_F, a, b, c, d, m[0], 0xd76aa478, 7);
    EDR_MD5_STEP(EDR_MD5_F, d, a, b, c, m[1], 0xe8c7b756, 12);
    EDR_MD5_STEP(EDR_MD5_F, c, d, a, b, m[2], 0x242070db, 17);
    EDR_MD5_STEP(EDR_MD5_F, b, c, d, a, m[3], 0xc1bdceee, 22);
    EDR_MD5_STEP(EDR_MD5_F, a, b, c, d, m[4], 0xf57c0faf, 7);
    EDR_MD5_STEP(EDR_MD5_F, d, a, b, c, m[5], 0x4787c62a, 12);
    EDR_MD5_STEP(EDR_MD5_F, c, d, a, b, m[6], 0xa8304613, 17);
    EDR_MD5_STEP(EDR_MD5_F, b, c, d, a, m[7], 0xfd469501, 22);
    EDR_MD5_STEP(EDR_MD5_F, a, b, c, d, m[8], 0x698098d8, 7);
    EDR_MD5_STEP(EDR_MD5_F, d, a, b, c, m[9], 0x8b44f7af, 12);
    EDR_MD5_STEP(EDR_MD5_F, c, d, a, b, m[10], 0xffff5bb1, 17);
    EDR_MD5_STEP(EDR_MD5_F, b, c, d, a, m[11], 0x895cd7be, 22);
    EDR_MD5_STEP(EDR_MD5_F, a, b, c, d, m[12], 0x6b901122, 7);
    EDR_MD5_STEP(EDR_MD5_F, d, a, b, c, m[13], 0xfd987193, 12);
    EDR_MD5_STEP(EDR_MD5_F, c, d, a, b, m[14], 0xa679438e, 17);
    EDR_MD5_STEP(EDR_MD5_F, b, c, d, a, m[15], 0x49b40821, 22);
    EDR_MD5_STEP(EDR_MD5_G, a, b, c, d, m[1], 0xf61e2562, 5);
    EDR_MD5_STEP(EDR_MD5_G, d, a, b, c, m[6], 0xc040b340, 9);
    EDR_MD5_STEP(EDR_MD5_G, c, d, a, b, m[11], 0x265e5a51, 14);
    EDR_MD5_STEP(EDR_MD5_G, b, c, d, a, m[0], 0xe9b6c7aa, 20);
    EDR_MD5_STEP(EDR_MD5_G, a, b, c, d, m[5], 0xd62f105d, 5);
    EDR_MD5_STEP(EDR_MD5_G, d, a, b, c, m[10], 0x02441453, 9);
    EDR_MD5_STEP(EDR_MD5_G, c, d, a, b, m[15], 0xd8a1e681, 14);
    EDR_MD5_STEP(EDR_MD5_G, b, c, d, a, m[4], 0xe7d3fbc8, 20);
    EDR_MD5_STEP(EDR_MD5_G, a, b, c, d, m[9], 0x21e1cde6, 5);
    EDR_MD5_STEP(EDR_MD5_G, d, a, b, c, m[14], 0xc33707d6, 9);
    EDR_MD5_STEP(EDR_MD5_G, c, d, a, b, m[3], 0xf4d50d87, 14);
    EDR_MD5_STEP(EDR_MD5_G, b, c, d, a, m[8], 0x455a14ed, 20);
    EDR_MD5_STEP(EDR_MD5_G, a, b, c, d, m[13], 0xa9e3e905, 5);
    EDR_MD5_STEP(EDR_MD5_G, d, a, b, c, m[2], 0xfcefa3f8, 9);
    EDR_MD5_STEP(EDR_MD5_G, c, d, a, b, m[7], 0x676f02d9, 14);
    EDR_MD5_STEP(EDR_MD5_G, b, c, d, a, m[12], 0x8d2a4c8a, 20);
    EDR_MD5_STEP(EDR_MD5_H, a, b, c, d, m[5], 0xfffa3942, 4);
    EDR_MD5_STEP(EDR_MD5_H, d, a, b, c, m[8], 0x8771f681, 11);
    EDR_MD5_STEP(EDR_MD5_H, c, d, a, b, m[11], 0x6d9d6122, 16);
    EDR_MD5_STEP(EDR_MD5_H, b, c, d, a, m[14], 0xfde5380c, 23);
    EDR_MD5_STEP(EDR_MD5_H, a, b, c, d, m[1], 0xa4beea44, 4);
    EDR_MD5_STEP(EDR_MD5_H, d, a, b, c, m[4], 0x4bdecfa9, 11);
    EDR_MD5_STEP(EDR_MD5_H, c, d, a, b, m[7], 0xf6bb4b60, 16);
    EDR_MD5_STEP(EDR_MD5_H, b, c, d, a, m[10], 0xbebfbc70, 23);
    EDR_MD5_STEP(EDR_MD5_H, a, b, c, d, m[13], 0x289b7ec6, 4);
    EDR_MD5_STEP(EDR_MD5_H, d, a, b, c, m[0], 0xeaa127fa, 11);
    EDR_MD5_STEP(EDR_MD5_H, c, d, a, b, m[3], 0xd4ef3085, 16);
    EDR_MD5_STEP(EDR_MD5_H, b, c, d, a, m[6], 0x04881d05, 23);
    EDR_MD5_STEP(EDR_MD5_H, a, b, c, d, m[9], 0xd9d4d039, 4);
    EDR_MD5_STEP(EDR_MD5_H, d, a, b, c, m[12], 0xe6db99e5, 11);
    EDR_MD5_STEP(EDR_MD5_H, c, d, a, b, m[15], 0x1fa27cf8, 16);
    EDR_MD5_STEP(EDR_MD5_H, b, c, d, a, m[2], 0xc4ac5665, 23);
    EDR_MD5_STEP(EDR_MD5_I, a, b, c, d, m[0], 0xf4292244, 6);
    EDR_MD5_STEP(EDR_MD5_I, d, a, b, c, m[7], 0x432aff97, 10);
    EDR_MD5_STEP(EDR_MD5_I, c, d, a, b, m[14], 0xab9423a7, 15);
    EDR_MD5_STEP(EDR_MD5_I, b, c, d, a, m[5], 0xfc93a039, 21);
    EDR_MD5_STEP(EDR_MD5_I, a, b, c, d, m[12], 0x655b59c3, 6);
    EDR_MD5_STEP(EDR_MD5_I, d, a, b, c, m[3], 0x8f0ccc92, 10);
    EDR_MD5_STEP(EDR_MD5_I, c, d, a, b, m[10], 0xffeff47d, 15);
    EDR_MD5_STEP(EDR_MD5_I, b, c, d, a, m[1], 0x85845dd1, 21);
    EDR_MD5_STEP(EDR_MD5_I, a, b, c, d, m[8], 0x6fa87e4f, 6);
    EDR_MD5_STEP(EDR_MD5_I, d, a, b, c, m[15], 0xfe2ce6e0, 10);
    EDR_MD5_STEP(EDR_MD5_I, c, d, a, b, m[6], 0xa3014314, 15);
    EDR_MD5_STEP(EDR_MD5_I, b, c, d, a, m[13], 0x4e0811a1, 21);
    EDR_MD5_STEP(EDR_MD5_I, a, b, c, d, m[4], 0xf7537e82, 6);
    EDR_MD5_STEP(EDR_MD5_I, d, a, b, c, m[11], 0xbd3af235, 10);
    EDR_MD5_STEP(EDR_MD5_I, c, d, a, b, m[2], 0x2ad7d2bb, 15);
    EDR_MD5_STEP(EDR_MD5_I, b, c, d, a, m[9], 0xeb86d391, 21);
    s[0] += a; s[1] += b; s[2] += c; s[3] += d;
}

static inline void edr_sha1_block(uint32_t s[5], const uint8_t *p) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) w[i] = edr_load_be32(p + 4 * i);
    for (int i = 16; i < 80; i++) w[i] = edr_rotl32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
        else { f = b ^ c ^ d; k = 0xca62c1d6; }
        uint32_t t = edr_rotl32(a, 5) + f + e + k + w[i];
        e = d; d = c; c = edr_rotl32(b, 30); b = a; a = t;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e;
}

static inline void edr_sha256_block(uint32_t s[8], const uint8_t *p) {
    static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = edr_load_be32(p + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = edr_rotr32(w[i - 15], 7) ^ edr_rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = edr_rotr32(w[i - 2], 17) ^ edr_rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = edr_rotr32(e, 6) ^ edr_rotr32(e, 11) ^ edr_rotr32(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K[i] + w[i];
        uint32_t S0 = edr_rotr32(a, 2) ^ edr_rotr32(a, 13) ^ edr_rotr32(a, 22);
        uint32_t mj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + mj;
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}


// SHA-1 and SHA-256 with the x86 SHA extensions, chosen at run time when the CPU has them.
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define EDR_HAVE_SHA_NI_CODE 1

__attribute__((target("sha,sse4.1,ssse3")))
static inline void edr_sha256_ni_blocks(uint32_t s[8], const uint8_t *p, size_t nblocks) {
    static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    const __m128i MASK = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&s[0]);
    __m128i st1 = _mm_loadu_si128((const __m128i *)&s[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);
    st1 = _mm_shuffle_epi32(st1, 0x1B);
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);   // ABEF
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);        // CDGH
    while (nblocks--) {
        __m128i save0 = st0, save1 = st1;
        __m128i w[16];
        for (int g = 0; g < 16; g++) {
            if (g < 4) {
                w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), MASK);
            } else {
                __m128i t = _mm_sha256msg1_epu32(w[g - 4], w[g - 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(w[g - 1], w[g - 2], 4));
                w[g] = _mm_sha256msg2_epu32(t, w[g - 1]);
            }
            __m128i msg = _mm_add_epi32(w[g], _mm_loadu_si128((const __m128i *)&K[4 * g]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
            msg = _mm_shuffle_epi32(msg, 0x0E);
            st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
        p += 64;
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);           // FEBA
    st1 = _mm_shuffle_epi32(st1, 0xB1);           // DCHG
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);        // DCBA
    st1 = _mm_alignr_epi8(st1, tmp, 8);           // ABEF
    _mm_storeu_si128((__m128i *)&s[0], st0);
    _mm_storeu_si128((__m128i *)&s[4], st1);
}

#define EDR_SHA1_RNDS4(abcd, e, f) \
    ((f) == 0 ? _mm_sha1rnds4_epu32(abcd, e, 0) : (f) == 1 ? _mm_sha1rnds4_epu32(abcd, e, 1) \
     : (f) == 2 ? _mm_sha1rnds4_epu32(abcd, e, 2) : _mm_sha1rnds4_epu32(abcd, e, 3))

__attribute__((target("sha,sse4.1,ssse3")))
static inline void edr_sha1_ni_blocks(uint32_t s[5], const uint8_t *p, size_t nblocks) {
    const __m128i MASK = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)s), 0x1B);
    __m128i e0 = _mm_set_epi32((int)s[4], 0, 0, 0);
    while (nblocks--) {
        __m128i abcd_save = abcd, e_save = e0, e1 = _mm_setzero_si128();
        __m128i w[20];
        for (int g = 0; g < 20; g++) {
            if (g < 4) {
                w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), MASK);
            } else {
                __m128i t = _mm_xor_si128(_mm_sha1msg1_epu32(w[g - 4], w[g - 3]), w[g - 2]);
                w[g] = _mm_sha1msg2_epu32(t, w[g - 1]);
            }
            int f = g / 5;
            if (g == 0) {
                e0 = _mm_add_epi32(e0, w[0]);
                e1 = abcd;
                abcd = EDR_SHA1_RNDS4(abcd, e0, 0);
            } else if (g & 1) {
                e1 = _mm_sha1nexte_epu32(e1, w[g]);
                e0 = abcd;
                abcd = EDR_SHA1_RNDS4(abcd, e1, f);
            } else {
                e0 = _mm_sha1nexte_epu32(e0, w[g]);
                e1 = abcd;
                abcd = EDR_SHA1_RNDS4(abcd, e0, f);
            }
        }
        e0 = _mm_sha1nexte_epu32(e0, e_save);
        abcd = _mm_add_epi32(abcd, abcd_save);
        p += 64;
    }
    abcd = _mm_shuffle_epi32(abcd, 0x1B);
    _mm_storeu_si128((__m128i *)s, abcd);
    s[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

static inline int edr_cpu_has_sha_ni(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") ? 1 : 0;
    }
    return cached;
}
#else
#define EDR_HAVE_SHA_NI_CODE 0
static inline int edr_cpu_has_sha_ni(void) { return 0; }
#endif

/// 1 when SHA-1/SHA-256 use the CPU's SHA instructions. `edr_hash_force_portable` turns them off
/// (tests compare both paths).
static int edr_hash_portable_only = 0;
static inline void edr_hash_force_portable(int on) { edr_hash_portable_only = on; }
static inline int edr_hash_uses_sha_ni(void) { return !edr_hash_portable_only && edr_cpu_has_sha_ni(); }

/// Runs the selected algorithms over `nblocks` whole 64-byte blocks, one algorithm at a
/// time per 16 KiB so the data stays in cache.
static inline void edr_hash_blocks(edr_hash_ctx *ctx, const uint8_t *p, size_t nblocks) {
    int ni = edr_hash_uses_sha_ni();
    while (nblocks > 0) {
        size_t n = nblocks < 256 ? nblocks : 256;
        if (ctx->kinds & EDR_HASH_MD5)
            for (size_t i = 0; i < n; i++) edr_md5_block(ctx->md5, p + 64 * i);
#if EDR_HAVE_SHA_NI_CODE
        if (ni) {
            if (ctx->kinds & EDR_HASH_SHA1) edr_sha1_ni_blocks(ctx->sha1, p, n);
            if (ctx->kinds & EDR_HASH_SHA256) edr_sha256_ni_blocks(ctx->sha256, p, n);
        } else
#endif
        {
            (void)ni;
            if (ctx->kinds & EDR_HASH_SHA1)
                for (size_t i = 0; i < n; i++) edr_sha1_block(ctx->sha1, p + 64 * i);
            if (ctx->kinds & EDR_HASH_SHA256)
                for (size_t i = 0; i < n; i++) edr_sha256_block(ctx->sha256, p + 64 * i);
        }
        p += 64 * n;
        nblocks -= n;
    }
}

static inline void edr_hash_block(edr_hash_ctx *ctx, const uint8_t *p) { edr_hash_blocks(ctx, p, 1); }

static inline void edr_hash_init(edr_hash_ctx *ctx, uint32_t kinds) {
    static const uint32_t md5_iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
    static const uint32_t sha1_iv[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
    static const uint32_t sha256_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                          0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->md5, md5_iv, sizeof md5_iv);
    memcpy(ctx->sha1, sha1_iv, sizeof sha1_iv);
    memcpy(ctx->sha256, sha256_iv, sizeof sha256_iv);
    ctx->length = 0;
    ctx->used = 0;
    ctx->kinds = kinds;
}

static inline void edr_hash_update(edr_hash_ctx *ctx, const void *data, size_t len) {
    const uint8_t *p = (const uint8_t *)data;
    ctx->length += len;
    if (ctx->used > 0) {
        size_t take = 64 - ctx->used;
        if (take > len) take = len;
        memcpy(ctx->block + ctx->used, p, take);
        ctx->used += (uint32_t)take;
        p += take;
        len -= take;
        if (ctx->used < 64) return;
        edr_hash_block(ctx, ctx->block);
        ctx->used = 0;
    }
    if (len >= 64) {
        size_t n = len / 64;
        edr_hash_blocks(ctx, p, n);
        p += 64 * n;
        len -= 64 * n;
    }
    if (len > 0) {
        memcpy(ctx->block, p, len);
        ctx->used = (uint32_t)len;
    }
}

/// Writes the three digests: md5_out[16], sha1_out[20], sha256_out[32].
static inline void edr_hash_final(edr_hash_ctx *ctx, uint8_t *md5_out, uint8_t *sha1_out, uint8_t *sha256_out) {
    uint64_t bits = ctx->length * 8;
    uint8_t pad[72];
    size_t padlen = (ctx->used < 56) ? (56 - ctx->used) : (120 - ctx->used);
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    // Both padding schemes share the 0x80 and zero bytes; only the length's byte order differs.
    uint8_t block[128];
    memcpy(block, ctx->block, ctx->used);
    memcpy(block + ctx->used, pad, padlen);
    size_t total = ctx->used + padlen + 8;
    uint8_t *lenp = block + ctx->used + padlen;
    uint32_t md5s[4], sha1s[5], sha256s[8];
    memcpy(md5s, ctx->md5, sizeof md5s);
    memcpy(sha1s, ctx->sha1, sizeof sha1s);
    memcpy(sha256s, ctx->sha256, sizeof sha256s);
    for (int i = 0; i < 8; i++) lenp[i] = (uint8_t)(bits >> (8 * i));          // little endian
    for (size_t off = 0; off < total; off += 64) edr_md5_block(md5s, block + off);
    for (int i = 0; i < 8; i++) lenp[i] = (uint8_t)(bits >> (56 - 8 * i));     // big endian
    edr_hash_ctx tail = *ctx;
    memcpy(tail.sha1, sha1s, sizeof sha1s);
    memcpy(tail.sha256, sha256s, sizeof sha256s);
    tail.kinds = ctx->kinds & (EDR_HASH_SHA1 | EDR_HASH_SHA256);
    edr_hash_blocks(&tail, block, total / 64);
    memcpy(sha1s, tail.sha1, sizeof sha1s);
    memcpy(sha256s, tail.sha256, sizeof sha256s);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) md5_out[4 * i + j] = (uint8_t)(md5s[i] >> (8 * j));
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) sha1_out[4 * i + j] = (uint8_t)(sha1s[i] >> (24 - 8 * j));
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) sha256_out[4 * i + j] = (uint8_t)(sha256s[i] >> (24 - 8 * j));
}

#endif
