#ifndef CCAP_H
#define CCAP_H
#ifdef __linux__
#include <stdint.h>
#include <sys/capability.h>

/// Name of a capability number ("cap_bpf"), or NULL. The caller frees with edr_cap_free.
char *edr_cap_name(int cap);
void edr_cap_free(void *p);
#endif
#endif
