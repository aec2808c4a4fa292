// SPDX-License-Identifier: GPL-2.0
/* What attackers do after exec: ptrace attach/seize, kernel module loads, BPF program loads
 * by other processes, uid/gid/capability changes, memfd_create, mount, syslog(2) clearing the
 * kernel log — each reported at
 * syscall exit with its result — and exec of a file with no name (memfd, O_TMPFILE,
 * deleted), seen at sched_process_exec. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "edr_events.h"
#include "edr_common.h"
#include "edr_telemetry_bpf.h"

/* Included by syscalls.bpf.c: one program per syscall direction dispatches to these. */

#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define BPF_PROG_LOAD_CMD 5

#define ATK_DATA_OFF __builtin_offsetof(struct edr_attack_record, data)

static __always_inline __u32 attack_op(long id)
{
    if (id == NR_ptrace) return EDR_ATK_PTRACE;
    if (id == NR_init_module) return EDR_ATK_INIT_MODULE;
    if (id == NR_finit_module) return EDR_ATK_FINIT_MODULE;
    if (id == NR_bpf) return EDR_ATK_BPF_PROG_LOAD;
    if (id == NR_setuid) return EDR_ATK_SETUID;
    if (id == NR_setgid) return EDR_ATK_SETGID;
    if (id == NR_setreuid) return EDR_ATK_SETREUID;
    if (id == NR_setregid) return EDR_ATK_SETREGID;
    if (id == NR_setresuid) return EDR_ATK_SETRESUID;
    if (id == NR_setresgid) return EDR_ATK_SETRESGID;
    if (id == NR_setfsuid) return EDR_ATK_SETFSUID;
    if (id == NR_setfsgid) return EDR_ATK_SETFSGID;
    if (id == NR_capset) return EDR_ATK_CAPSET;
    if (id == NR_memfd_create) return EDR_ATK_MEMFD_CREATE;
    if (id == NR_mount) return EDR_ATK_MOUNT;
    if (id == NR_syslog) return EDR_ATK_SYSLOG;
    return 0;
}

static __always_inline int edr_attack_enter(struct pt_regs *regs, long id)
{
    __u32 op = attack_op(id);
    if (!op)
        return 0;
    struct edr_sys_state s = {};
    s.id = (__u32)id;
    s.aux = op;
    s.args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
    s.args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
    s.args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
    s.args[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
    s.args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
    if (op == EDR_ATK_PTRACE && s.args[0] != PTRACE_ATTACH && s.args[0] != PTRACE_SEIZE)
        return 0;
    if (op == EDR_ATK_BPF_PROG_LOAD && s.args[0] != BPF_PROG_LOAD_CMD)
        return 0;
    /* syslog(2): only the actions that clear the kernel log or silence the console
     * (READ_CLEAR 4, CLEAR 5, CONSOLE_OFF 6, CONSOLE_ON 7, CONSOLE_LEVEL 8); dmesg asks for
     * the buffer size on every run. */
    if (op == EDR_ATK_SYSLOG && (s.args[0] < 4 || s.args[0] > 8))
        return 0;
    count(EDR_FAMILY_ATTACK, EDR_CTR_SEEN);
    if (current_is_agent())
        return 0;
    if (state_put(EDR_FAMILY_ATTACK, &s) != 0)
        count(EDR_FAMILY_ATTACK, EDR_CTR_NO_STATE);
    return 0;
}

/* Appends a NUL-terminated user string (at most EDR_ATTACK_STR_MAX / 2 bytes). */
static __always_inline __u32 put_small_ustr(__u32 off, const void *p, int *fault)
{
    struct edr_tel_buf *b = tel_scratch();
    if (!b || !p || off > ATK_DATA_OFF + EDR_ATTACK_STR_MAX / 2)
        return 0;
    long n = bpf_probe_read_user_str(b->b + off, EDR_ATTACK_STR_MAX / 4, p);
    if (n <= 0) {
        *fault = 1;
        return 0;
    }
    return (__u32)n;
}

static __always_inline void start_record(struct edr_attack_record *r, __u32 op, long ret)
{
    r->h.kind = EDR_REC_ATTACK;
    r->h.version = EDR_RECORD_VERSION;
    r->h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ctx(&r->ctx);
    r->op = op;
    r->result = (__s32)ret;
    r->args[0] = r->args[1] = r->args[2] = r->args[3] = 0;
    r->target_pid = 0;
    r->flags = 0;
    r->str_len = 0;
    r->path_len = 0;
    r->reserved = 0;
}

static __always_inline void finish(struct edr_attack_record *r, __u32 off)
{
    __u64 size = off;
    if (size > sizeof(*r)) {
        count(EDR_FAMILY_ATTACK, EDR_CTR_TOO_LARGE);
        return;
    }
    r->h.size = (__u32)size;
    submit(EDR_FAMILY_ATTACK, r, size);
}

static __always_inline int edr_attack_exit(struct pt_regs *regs, long ret, long id)
{
    if (id >= 0 && !(attack_op(id)))
        return 0;
    struct edr_sys_state s;
    if (!state_take(EDR_FAMILY_ATTACK, &s))
        return 0;
    struct edr_attack_record *r = (struct edr_attack_record *)tel_scratch();
    if (!r)
        return 0;
    __u32 op = s.aux;
    start_record(r, op, ret);
    __u32 off = ATK_DATA_OFF;
    int fault = 0, truncated = 0;
    __u32 n = 0;

    if (op == EDR_ATK_PTRACE) {
        r->args[0] = s.args[0];
        r->target_pid = (__u32)s.args[1];
    } else if (op == EDR_ATK_INIT_MODULE) {
        r->args[0] = s.args[1];
        n = put_small_ustr(off, (const void *)s.args[2], &fault);
    } else if (op == EDR_ATK_FINIT_MODULE) {
        r->args[0] = s.args[0];
        r->args[1] = s.args[2];
        n = put_small_ustr(off, (const void *)s.args[1], &fault);
    } else if (op == EDR_ATK_BPF_PROG_LOAD) {
        __u32 attr[4] = {};
        bpf_probe_read_user(attr, sizeof(attr), (const void *)s.args[1]);
        r->args[0] = attr[0]; /* prog_type */
        r->args[1] = attr[1]; /* insn_cnt */
        char name[16] = {};
        /* union bpf_attr, BPF_PROG_LOAD: prog_name[16] at offset 48 */
        bpf_probe_read_user(name, sizeof(name), (const char *)s.args[1] + 48);
        name[15] = 0;
        struct edr_tel_buf *b = tel_scratch();
        if (b && off < EDR_TEL_SCRATCH - 32) {
            n = bpf_probe_read_kernel_str(b->b + off, 16, name);
            if ((long)n < 0)
                n = 0;
        }
    } else if (op == EDR_ATK_CAPSET) {
        __u32 hdr[2] = {};
        __u32 data[3] = {};
        bpf_probe_read_user(hdr, sizeof(hdr), (const void *)s.args[0]);
        bpf_probe_read_user(data, sizeof(data), (const void *)s.args[1]);
        r->target_pid = hdr[1];
        r->args[0] = data[0];
        r->args[1] = data[1];
        r->args[2] = data[2];
    } else if (op == EDR_ATK_MEMFD_CREATE) {
        r->args[0] = s.args[1];
        n = put_small_ustr(off, (const void *)s.args[0], &fault);
    } else if (op == EDR_ATK_MOUNT) {
        r->args[0] = s.args[3];
        n = put_small_ustr(off, (const void *)s.args[0], &fault);
        __u32 m = put_small_ustr(off + n, (const void *)s.args[1], &fault);
        n += m;
        m = put_small_ustr(off + n, (const void *)s.args[2], &fault);
        n += m;
    } else if (op == EDR_ATK_SYSLOG) {
        r->args[0] = s.args[0];
        r->args[1] = s.args[2];
    } else {
        /* set*id: the ids passed */
        r->args[0] = (__u32)s.args[0];
        r->args[1] = (__u32)s.args[1];
        r->args[2] = (__u32)s.args[2];
    }
    r->str_len = (__u16)n;
    off += n;
    if (op == EDR_ATK_FINIT_MODULE && off <= ATK_DATA_OFF + EDR_ATTACK_STR_MAX) {
        __u32 p = tel_put_file_path(off, EDR_DIR_MAX, fd_file((long)s.args[0]), &truncated);
        r->path_len = (__u16)p;
        off += p;
    }
    r->flags = (truncated ? EDR_FILE_PATH_TRUNCATED : 0) | (fault ? EDR_FILE_READ_FAULT : 0);
    finish(r, off);
    return 0;
}

/* 32-bit syscalls (int 0x80 or a 32-bit program) carry ia32 numbers: the families above, which
 * read x86_64 numbers and arguments, would misread them, so they are not decoded. They are
 * reported instead, so a process that uses them to slip past file and network telemetry is
 * named: one record per process and second, with the count since the last. */
#if defined(__TARGET_ARCH_x86)
#define EDR_TS_COMPAT 0x0002
struct edr_compat_seen {
    __u64 last_ns;
    __u64 pending;
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, struct edr_compat_seen);
} edr_compat_seen SEC(".maps");

static __always_inline int in_compat_syscall_now(void)
{
    struct task_struct *t = bpf_get_current_task_btf();
    return (t->thread_info.status & EDR_TS_COMPAT) != 0;
}

static __always_inline int edr_compat_enter(long id)
{
    count(EDR_FAMILY_ATTACK, EDR_CTR_SEEN);
    if (current_is_agent())
        return 0;
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;
    __u64 now = bpf_ktime_get_boot_ns();
    struct edr_compat_seen *seen = bpf_map_lookup_elem(&edr_compat_seen, &tgid);
    __u64 calls = 1;
    if (seen) {
        if (now - seen->last_ns < 1000000000ULL) {
            __sync_fetch_and_add(&seen->pending, 1);
            return 0;
        }
        calls += seen->pending;
        seen->last_ns = now;
        seen->pending = 0;
    } else {
        struct edr_compat_seen first = { .last_ns = now, .pending = 0 };
        bpf_map_update_elem(&edr_compat_seen, &tgid, &first, BPF_ANY);
    }
    struct edr_attack_record *r = (struct edr_attack_record *)tel_scratch();
    if (!r)
        return 0;
    start_record(r, EDR_ATK_COMPAT_SYSCALL, 0);
    r->args[0] = (__u64)id;
    r->args[1] = calls;
    finish(r, ATK_DATA_OFF);
    return 0;
}
#else
static __always_inline int in_compat_syscall_now(void) { return 0; }
static __always_inline int edr_compat_enter(long id) { return 0; }
#endif

/* Exec of a file that has no link: memfd_create, O_TMPFILE, or unlinked after opening. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(edr_fileless_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    struct file *file = BPF_CORE_READ(bprm, file);
    unsigned int nlink = BPF_CORE_READ(file, f_inode, __i_nlink);
    if (nlink != 0)
        return 0;
    count(EDR_FAMILY_ATTACK, EDR_CTR_SEEN);
    if (current_is_agent())
        return 0;
    struct edr_attack_record *r = (struct edr_attack_record *)tel_scratch();
    if (!r)
        return 0;
    start_record(r, EDR_ATK_FILELESS_EXEC, 0);
    int truncated = 0;
    __u32 off = ATK_DATA_OFF;
    __u32 n = tel_put_file_path(off, EDR_DIR_MAX, file, &truncated);
    r->path_len = (__u16)n;
    r->flags = truncated ? EDR_FILE_PATH_TRUNCATED : 0;
    finish(r, off + n);
    return 0;
}

/* Every exec also makes sure its cgroup's name has been sent (for ContainerId). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(edr_cgroup_exec, struct task_struct *p)
{
    if (current_is_agent())
        return 0;
    note_cgroup(bpf_get_current_cgroup_id());
    return 0;
}
