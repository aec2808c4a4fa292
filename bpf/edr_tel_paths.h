/* Paths and user strings written into the scratch record: dentry walks (edr_walk_step in
 * edr_common.h) for files, directories and working directories, NUL-terminated user strings. */
#ifndef EDR_TEL_PATHS_H
#define EDR_TEL_PATHS_H

/* Path walk into the scratch record (edr_walk_step in edr_common.h). */
static long tel_path_step(__u32 index, void *ctx)
{
    struct edr_tel_buf *r = tel_scratch();
    if (!r)
        return 1;
    return edr_walk_step(ctx, r->b, EDR_TEL_SCRATCH);
}

/* Appends the components of (dentry, vfsmnt) at scratch offset start, at most limit bytes. */
static __always_inline __u32 tel_put_path(__u32 start, __u32 limit, struct dentry *dentry, struct vfsmount *vfsmnt,
                                          int *truncated)
{
    if (!dentry || !vfsmnt)
        return 0;
    struct edr_walk w;
    edr_walk_init(&w, dentry, vfsmnt, start, limit);
    bpf_loop(EDR_PATH_DEPTH, tel_path_step, &w, 0);
    if (!w.done)
        w.truncated = 1;
    if (w.truncated)
        *truncated = 1;
    return w.len;
}

static __always_inline __u32 tel_put_file_path(__u32 start, __u32 limit, struct file *f, int *truncated)
{
    if (!f)
        return 0;
    struct dentry *dentry = BPF_CORE_READ(f, f_path.dentry);
    struct vfsmount *vfsmnt = BPF_CORE_READ(f, f_path.mnt);
    return tel_put_path(start, limit, dentry, vfsmnt, truncated);
}

/* The directory a relative path of dirfd is resolved against: task's cwd or dirfd's file. */
static __always_inline __u32 tel_put_dir_of(struct task_struct *task, __u32 start, __u32 limit, long dirfd,
                                            int *truncated)
{
    if ((int)dirfd == EDR_AT_FDCWD) {
        struct fs_struct *fs = BPF_CORE_READ(task, fs);
        struct dentry *dentry = BPF_CORE_READ(fs, pwd.dentry);
        struct vfsmount *vfsmnt = BPF_CORE_READ(fs, pwd.mnt);
        return tel_put_path(start, limit, dentry, vfsmnt, truncated);
    }
    return tel_put_file_path(start, limit, fd_file_of(task, dirfd), truncated);
}

static __always_inline __u32 tel_put_dir(__u32 start, __u32 limit, long dirfd, int *truncated)
{
    return tel_put_dir_of((struct task_struct *)bpf_get_current_task(), start, limit, dirfd, truncated);
}

/* Copies a NUL-terminated user string to scratch offset start (at most EDR_USTR_MAX bytes).
 * Returns the bytes written, NUL included; 0 on a fault. */
static __always_inline __u32 tel_put_ustr(__u32 start, const void *ptr, int *truncated, int *fault)
{
    struct edr_tel_buf *r = tel_scratch();
    if (!r || !ptr)
        return 0;
    if (start > EDR_TEL_SCRATCH - EDR_USTR_MAX)
        return 0;
    long n = bpf_probe_read_user_str(r->b + start, EDR_USTR_MAX, ptr);
    if (n <= 0) {
        *fault = 1;
        return 0;
    }
    if (n == EDR_USTR_MAX)
        *truncated = 1;
    return (__u32)n;
}

/* Is the first byte at scratch offset start a '/'? */
static __always_inline int tel_is_absolute(__u32 start)
{
    struct edr_tel_buf *r = tel_scratch();
    if (!r || start >= EDR_TEL_SCRATCH)
        return 0;
    return r->b[start] == '/';
}

#endif
