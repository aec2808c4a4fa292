#ifndef CSECCOMP_H
#define CSECCOMP_H
#ifdef __linux__
#include <stdint.h>
#include <stddef.h>
#include <seccomp.h>

// SCMP_ACT_* are function-like macros; these re-export them.
uint32_t edr_scmp_act_allow(void);
uint32_t edr_scmp_act_errno(uint16_t err);
uint32_t edr_scmp_act_kill_process(void);

// seccomp_rule_add is variadic; these are the fixed-arity forms the agent uses.
int edr_seccomp_rule(scmp_filter_ctx ctx, uint32_t action, int syscall_nr);
int edr_seccomp_rule_arg_eq(scmp_filter_ctx ctx, uint32_t action, int syscall_nr, unsigned arg, uint64_t value);
int edr_seccomp_rule_arg_ne(scmp_filter_ctx ctx, uint32_t action, int syscall_nr, unsigned arg, uint64_t value);
int edr_seccomp_rule_arg_masked_eq(scmp_filter_ctx ctx, uint32_t action, int syscall_nr, unsigned arg, uint64_t mask, uint64_t value);

/// Sets TSYNC so that seccomp_load applies the filter to every thread of the process.
int edr_seccomp_set_tsync(scmp_filter_ctx ctx, int on);

/// Exports the filter as classic BPF into a malloc'd buffer (*out, *len bytes). 0 or -errno.
int edr_seccomp_export(scmp_filter_ctx ctx, uint8_t **out, size_t *len);
#endif
#endif
