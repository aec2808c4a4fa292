// SPDX-License-Identifier: GPL-2.0
/* Syscall hooks: one raw_tp/sys_enter and one raw_tp/sys_exit program for the whole agent.
 * They run on every syscall of every process, so each family's hook is an inline function
 * here and not a program of its own: being invoked costs more than most hooks' work (each
 * family leaves on the syscall number first). Families: network.hooks.c, file.hooks.c,
 * dns.hooks.c, attack.hooks.c; io_uring.hooks.c reports the same operations asked for through
 * io_uring. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "edr_events.h"
#include "edr_common.h"
#include "edr_telemetry_bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* A syscall's state between entry and exit (its arguments, a sockaddr read at entry), kept
 * in the calling thread's own task storage. A thread is in at most one syscall at a time and
 * the families' syscalls are disjoint, so one slot per thread serves all four families. It
 * used to be one 16,384-entry hash map per family keyed by thread id: 16,384 threads blocked
 * in accept() or in opening a FIFO kept it full and silenced every other process's file and
 * network telemetry. Task storage has no capacity to fill: each thread's slot lives and dies
 * with the thread. A slot that cannot be created (memory) is counted as loss. */
struct edr_task_slot {
    struct edr_sys_state s;
    __u32 family; /* EDR_FAMILY_* + 1 of the syscall in flight, 0 when none */
};
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct edr_task_slot);
} edr_task_state SEC(".maps");

/* Records `s` for the current thread's syscall of `family`; 0 on success. */
static __always_inline int state_put(__u32 family, const struct edr_sys_state *s)
{
    struct edr_task_slot *t =
        bpf_task_storage_get(&edr_task_state, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!t)
        return -1;
    t->s = *s;
    t->family = family + 1;
    return 0;
}

/* Takes (and clears) the current thread's state for `family`; 1 when there was one. */
static __always_inline int state_take(__u32 family, struct edr_sys_state *out)
{
    struct edr_task_slot *t = bpf_task_storage_get(&edr_task_state, bpf_get_current_task_btf(), 0, 0);
    if (!t || t->family != family + 1)
        return 0;
    *out = t->s;
    t->family = 0;
    return 1;
}

#include "network.hooks.c"
#include "file.hooks.c"
#include "dns.hooks.c"
#include "attack.hooks.c"
/* Not dispatched: two tp_btf programs that run only for io_uring requests. */
#include "io_uring.hooks.c"

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
    if (in_compat_syscall_now())
        return edr_compat_enter(id);
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
