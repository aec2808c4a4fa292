#ifdef __linux__
#include "CCap.h"
#include <ctype.h>
#include <string.h>

char *edr_cap_name(int cap) { return cap_to_name((cap_value_t)cap); }
void edr_cap_free(void *p) { cap_free(p); }
int edr_cap_from_name(const char *name) {
    char lower[64];
    size_t n = strlen(name);
    if (n >= sizeof(lower)) return -1;
    for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)name[i]);
    cap_value_t v;
    if (cap_from_name(lower, &v) != 0) return -1;
    return (int)v;
}
int edr_cap_max_bits(void) { return (int)cap_max_bits(); }
#endif
