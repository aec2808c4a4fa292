// SPDX-License-Identifier: GPL-2.0
/* Process lifecycle hooks: exec, exit, fork. tp_btf attach points need no tracefs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "edr_events.h"
#include "edr_common.h"

char LICENSE[] SEC("license") = "GPL";

/* One exec record is built here (it is too large for the BPF stack), then copied into the
 * ring buffer at its real size. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct edr_exec_record);
} edr_exec_scratch SEC(".maps");

static long path_step(__u32 index, void *ctx)
{
    __u32 zero = 0;
    struct edr_exec_record *r = bpf_map_lookup_elem(&edr_exec_scratch, &zero);
    if (!r)
        return 1;
    return edr_walk_step(ctx, r->data, EDR_EXEC_DATA_MAX);
}

/* Appends the components of a path, leaf first, each NUL-terminated, at data[start...].
 * Returns the bytes written; sets *truncated when the path did not fit. A component may start
 * until EDR_PATH_MAX bytes are written. */
static __always_inline __u32 put_path(__u32 start, struct dentry *dentry, struct vfsmount *vfsmnt,
                                      int *truncated)
{
    struct edr_walk w;
    edr_walk_init(&w, dentry, vfsmnt, start, EDR_PATH_MAX + EDR_NAME_MAX - 1);
    bpf_loop(EDR_PATH_DEPTH, path_step, &w, 0);
    if (!w.done)
        w.truncated = 1; /* deeper than EDR_PATH_DEPTH, or out of room */
    *truncated = w.truncated;
    return w.len;
}

static __always_inline void fill_ids(struct edr_task_ids *ids, struct task_struct *task)
{
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    const struct cred *cred = BPF_CORE_READ(task, real_cred);
    ids->pid = BPF_CORE_READ(task, tgid);
    ids->tid = BPF_CORE_READ(task, pid);
    ids->ppid = BPF_CORE_READ(parent, tgid);
    ids->uid = BPF_CORE_READ(cred, uid.val);
    ids->euid = BPF_CORE_READ(cred, euid.val);
    ids->gid = BPF_CORE_READ(cred, gid.val);
    ids->egid = BPF_CORE_READ(cred, egid.val);
    ids->loginuid = BPF_CORE_READ(task, loginuid.val);
    struct task_struct *leader = BPF_CORE_READ(task, group_leader);
    ids->start_boottime_ns = BPF_CORE_READ(leader, start_boottime);
    struct task_struct *pleader = BPF_CORE_READ(parent, group_leader);
    ids->parent_start_boottime_ns = BPF_CORE_READ(pleader, start_boottime);
}

/* The file's identity as fstat would report it: inode, size, ctime, device (kernel dev_t). */
static __always_inline void file_identity(struct file *file, __u64 *ino, __u64 *size, __u64 *ctime_ns, __u32 *dev)
{
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    *ino = BPF_CORE_READ(inode, i_ino);
    *size = (__u64)BPF_CORE_READ(inode, i_size);
    *dev = BPF_CORE_READ(inode, i_sb, s_dev);
    *ctime_ns = 0;
    if (bpf_core_field_exists(inode->i_ctime_sec))
        /* Multigrain timestamps keep a "queried" flag in bit 31 of the nanoseconds. */
        *ctime_ns = (__u64)BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ull
                  + (BPF_CORE_READ(inode, i_ctime_nsec) & 0x3fffffff);
}

#define EDR_S_IFMT 00170000
#define EDR_S_IFREG 0100000
#define EDR_FMODE_EXEC 0x20          /* __FMODE_EXEC in f_flags: opened by exec, never by open() */
#define EDR_TASK_WORKS_WALKED 32

/* The file execve named when it is not what runs (a #! script): by this tracepoint exec_binprm
 * has swapped bprm->file for the interpreter and dropped the script's last reference, so its
 * struct file waits, intact, on the task's task_works list for its final __fput on the return
 * to user space. Entries are pushed at the head, and the script's was the first pushed during
 * this exec (files closed later in the exec — close-on-exec descriptors, the old image — come
 * after it): the deepest entry that is a consistent regular file opened by exec (its dentry's
 * inode is its inode, __FMODE_EXEC in its flags) is the script. A list longer than the walk
 * (a process that closes many close-on-exec files at exec) is not guessed at: NULL, as when
 * nothing matched (the record then carries the name execve was given and no identity).
 * binfmt_misc's open-binary mode keeps the file in bprm->executable instead. */
static __always_inline struct file *script_file(struct task_struct *task, struct linux_binprm *bprm)
{
    struct file *executable = BPF_CORE_READ(bprm, executable);
    if (executable)
        return executable;
    struct callback_head *cb = BPF_CORE_READ(task, task_works);
    struct file *found = 0;
    for (int i = 0; i < EDR_TASK_WORKS_WALKED; i++) {
        if (!cb)
            return found;
        struct file *f = (struct file *)((void *)cb - bpf_core_field_offset(struct file, f_task_work));
        struct inode *inode = BPF_CORE_READ(f, f_inode);
        umode_t mode = BPF_CORE_READ(inode, i_mode);
        if (inode && BPF_CORE_READ(f, f_path.dentry, d_inode) == inode && (mode & EDR_S_IFMT) == EDR_S_IFREG
            && (BPF_CORE_READ(f, f_flags) & EDR_FMODE_EXEC))
            found = f;
        cb = BPF_CORE_READ(cb, next);
    }
    return cb ? 0 : found;
}

static __always_inline int on_exec(struct task_struct *task, struct linux_binprm *bprm)
{
    count(EDR_FAMILY_EXEC, EDR_CTR_SEEN);
    if (is_agent(task))
        return 0;
    __u32 zero = 0;
    struct edr_exec_record *r = bpf_map_lookup_elem(&edr_exec_scratch, &zero);
    if (!r)
        return 0;

    r->h.kind = EDR_REC_EXEC;
    r->h.version = EDR_RECORD_VERSION;
    r->h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ids(&r->ids, task);
    r->cgroup_id = bpf_get_current_cgroup_id();
    r->flags = 0;
    r->argc = BPF_CORE_READ(bprm, argc);
    r->reserved = 0;
    bpf_get_current_comm(r->comm, sizeof(r->comm));

    /* argv as the new program sees it: the new mm is in place at this tracepoint. */
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    __u64 arg_start = BPF_CORE_READ(mm, arg_start);
    __u64 arg_end = BPF_CORE_READ(mm, arg_end);
    __u64 alen = arg_end > arg_start ? arg_end - arg_start : 0;
    if (alen > EDR_ARGS_MAX) {
        alen = EDR_ARGS_MAX;
        r->flags |= EDR_EXEC_ARGS_TRUNCATED;
    }
    if (alen > 0 && bpf_probe_read_user(r->data, alen, (void *)arg_start) != 0) {
        alen = 0;
        r->flags |= EDR_EXEC_ARGS_FAULT;
    }
    r->args_len = (__u16)alen;

    int truncated = 0;
    struct file *file = BPF_CORE_READ(bprm, file);
    file_identity(file, &r->exe_ino, &r->exe_size, &r->exe_ctime_ns, &r->exe_dev);
    r->exe_reserved = 0;
    struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
    struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
    __u32 plen = put_path((__u32)alen, dentry, vfsmnt, &truncated);
    if (truncated)
        r->flags |= EDR_EXEC_PATH_TRUNCATED;
    r->path_len = (__u16)plen;

    truncated = 0;
    struct fs_struct *fs = BPF_CORE_READ(task, fs);
    dentry = BPF_CORE_READ(fs, pwd.dentry);
    vfsmnt = BPF_CORE_READ(fs, pwd.mnt);
    __u32 start = (__u32)alen + plen;
    __u32 clen = 0;
    if (start <= EDR_ARGS_MAX + EDR_PATH_MAX + EDR_NAME_MAX)
        clen = put_path(start, dentry, vfsmnt, &truncated);
    if (truncated)
        r->flags |= EDR_EXEC_CWD_TRUNCATED;
    r->cwd_len = (__u16)clen;
    start += clen;

    /* A script: bprm->interp was changed from bprm->filename to the interpreter's name. */
    __u32 slen = 0;
    r->script_ino = 0;
    r->script_size = 0;
    r->script_ctime_ns = 0;
    r->script_dev = 0;
    if (BPF_CORE_READ(bprm, interp) != BPF_CORE_READ(bprm, filename)) {
        r->flags |= EDR_EXEC_SCRIPT;
        struct file *script = script_file(task, bprm);
        if (script && start <= EDR_ARGS_MAX + 2 * (EDR_PATH_MAX + EDR_NAME_MAX)) {
            file_identity(script, &r->script_ino, &r->script_size, &r->script_ctime_ns, &r->script_dev);
            truncated = 0;
            slen = put_path(start, BPF_CORE_READ(script, f_path.dentry), BPF_CORE_READ(script, f_path.mnt), &truncated);
            if (truncated)
                r->flags |= EDR_EXEC_SCRIPT_TRUNCATED;
        } else if (start <= EDR_ARGS_MAX + 2 * (EDR_PATH_MAX + EDR_NAME_MAX)) {
            long n = bpf_probe_read_kernel_str(r->data + start, EDR_PATH_MAX, BPF_CORE_READ(bprm, filename));
            if (n > 0) {
                slen = (__u32)n;
                r->flags |= EDR_EXEC_SCRIPT_NAME_ONLY;
            }
        }
    }
    r->script_len = (__u16)slen;
    start += slen;

    /* envp, bounded: what follows argv on the new stack. */
    __u64 env_start = BPF_CORE_READ(mm, env_start);
    __u64 env_end = BPF_CORE_READ(mm, env_end);
    __u64 elen = env_end > env_start ? env_end - env_start : 0;
    if (elen > EDR_ENV_MAX) {
        elen = EDR_ENV_MAX;
        r->flags |= EDR_EXEC_ENV_TRUNCATED;
    }
    if (elen > 0) {
        if (start > EDR_EXEC_DATA_MAX - EDR_ENV_MAX) {
            elen = 0;
            r->flags |= EDR_EXEC_ENV_TRUNCATED;
        } else if (bpf_probe_read_user(r->data + start, elen, (void *)env_start) != 0) {
            elen = 0;
            r->flags |= EDR_EXEC_ENV_FAULT;
        }
    }
    r->env_len = (__u16)elen;
    start += elen;

    __u64 size = sizeof(*r) - sizeof(r->data) + start;
    if (size > sizeof(*r)) {
        count(EDR_FAMILY_EXEC, EDR_CTR_TOO_LARGE);
        return 0;
    }
    r->h.size = (__u32)size;
    submit(EDR_FAMILY_EXEC, r, size);
    return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(edr_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    return on_exec(p, bprm);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(edr_exit, struct task_struct *p)
{
    count(EDR_FAMILY_EXIT, EDR_CTR_SEEN);
    /* Only the end of a whole process matters, not of each of its threads. */
    if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid) || is_agent(p))
        return 0;
    struct edr_exit_record r = {};
    r.h.kind = EDR_REC_EXIT;
    r.h.version = EDR_RECORD_VERSION;
    r.h.size = sizeof(r);
    r.h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ids(&r.ids, p);
    r.exit_code = BPF_CORE_READ(p, exit_code);
    BPF_CORE_READ_STR_INTO(&r.comm, p, comm);
    submit(EDR_FAMILY_EXIT, &r, sizeof(r));
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(edr_fork, struct task_struct *parent, struct task_struct *child)
{
    count(EDR_FAMILY_FORK, EDR_CTR_SEEN);
    /* A new thread is not a new process. */
    if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid) || is_agent(parent))
        return 0;
    struct edr_fork_record r = {};
    r.h.kind = EDR_REC_FORK;
    r.h.version = EDR_RECORD_VERSION;
    r.h.size = sizeof(r);
    r.h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ids(&r.ids, child);
    /* The child's real_parent may be a reaper when CLONE_PARENT is used; report the forker. */
    r.ids.ppid = BPF_CORE_READ(parent, tgid);
    BPF_CORE_READ_STR_INTO(&r.comm, child, comm);
    submit(EDR_FAMILY_FORK, &r, sizeof(r));
    return 0;
}
