// SPDX-License-Identifier: GPL-2.0
/* Syscall hooks: one raw_tp/sys_enter and one raw_tp/sys_exit program for the whole agent.
 * They run on every syscall of every process, so each family's hook is an inline function
 * here and not a program of its own: being invoked costs more than most hooks' work (each
 * family leaves on the syscall number first). Families: network.hooks.c, file.hooks.c,
 * dns.hooks.c, attack.hooks.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "edr_events.h"
#include "edr_common.h"
#include "edr_telemetry_bpf.h"

char LICENSE[] SEC("license") = "GPL";

#include "network.hooks.c"
#include "file.hooks.c"
#include "dns.hooks.c"
#include "attack.hooks.c"

/* The families' syscalls are disjoint, so exactly one family runs per call; branching and
 * returning (not calling all four in turn) also keeps the verifier from exploring every
 * combination of the four bodies. */
static __always_inline int edr_family(long id)
{
    if (id == NR_connect || id == NR_accept || id == NR_accept4 || id == NR_listen || id == NR_bind)
        return 1;
    if (is_open_call(id) || id == NR_unlink || id == NR_unlinkat || id == NR_rmdir || id == NR_rename ||
        id == NR_renameat || id == NR_renameat2)
        return 2;
    if (id == NR_sendto || id == NR_sendmsg || id == NR_sendmmsg || id == NR_write || id == NR_recvfrom ||
        id == NR_recvmsg || id == NR_read)
        return 3;
    if (attack_op(id))
        return 4;
    return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(edr_sys_enter, struct pt_regs *regs, long id)
{
    switch (edr_family(id)) {
    case 1: return edr_net_enter(regs, id);
    case 2: return edr_file_enter(regs, id);
    case 3: return edr_dns_enter(regs, id);
    case 4: return edr_attack_enter(regs, id);
    default: return 0;
    }
}

SEC("raw_tp/sys_exit")
int BPF_PROG(edr_sys_exit, struct pt_regs *regs, long ret)
{
    long id = exit_syscall_id(regs);
    switch (edr_family(id)) {
    case 1: return edr_net_exit(regs, ret, id);
    case 2: return edr_file_exit(regs, ret, id);
    case 3: return edr_dns_exit(regs, ret, id);
    case 4: return edr_attack_exit(regs, ret, id);
    default: return 0;
    }
}
