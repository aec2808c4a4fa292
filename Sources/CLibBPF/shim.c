#ifdef __linux__
#include "CLibBPF.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int edr_verbose = 0;
static char edr_last_error[1024];

static int edr_print(enum libbpf_print_level level, const char *fmt, va_list args) {
    if (level == LIBBPF_WARN) {
        va_list copy;
        va_copy(copy, args);
        vsnprintf(edr_last_error, sizeof(edr_last_error), fmt, copy);
        va_end(copy);
    }
    if (!edr_verbose && level != LIBBPF_WARN) return 0;
    return vfprintf(stderr, fmt, args);
}

void edr_libbpf_set_verbose(int verbose) {
    edr_verbose = verbose;
    libbpf_set_print(edr_print);
}

const char *edr_libbpf_last_error(void) { return edr_last_error; }
#endif
