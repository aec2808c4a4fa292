#ifndef CCAP_H
#define CCAP_H
#ifdef __linux__
#include <stdint.h>
#include <sys/capability.h>

/// Name of a capability number ("cap_bpf"), or NULL. The caller frees with edr_cap_free.
char *edr_cap_name(int cap);
void edr_cap_free(void *p);
/// Capability number for a name such as "cap_kill" or "CAP_KILL"; -1 if unknown.
int edr_cap_from_name(const char *name);
/// Highest capability number the running kernel knows.
int edr_cap_max_bits(void);
#endif
#endif
