#ifndef CLIBBPF_H
#define CLIBBPF_H
#ifdef __linux__
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

/// Silence libbpf's default stderr printer unless verbose; errors are reported by the caller.
void edr_libbpf_set_verbose(int verbose);
/// The last libbpf message at warning level or above (for error reports).
const char *edr_libbpf_last_error(void);
#endif
#endif
