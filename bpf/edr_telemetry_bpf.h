/* Kernel-side helpers of the telemetry hook families (network, file, dns, attack): syscall
 * numbers, the calling task's context, descriptor → file → socket, path walks and user
 * strings into a shared per-CPU scratch record, per-thread syscall state, cgroup names.
 * Included after edr_events.h and edr_common.h. */
#ifndef EDR_TELEMETRY_BPF_H
#define EDR_TELEMETRY_BPF_H

#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_listen 50
#define NR_bind 49
#define NR_rename 82
#define NR_rmdir 84
#define NR_creat 85
#define NR_unlink 87
#define NR_ptrace 101
#define NR_syslog 103
#define NR_setuid 105
#define NR_setgid 106
#define NR_setreuid 113
#define NR_setregid 114
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_setfsuid 122
#define NR_setfsgid 123
#define NR_capset 126
#define NR_mount 165
#define NR_init_module 175
#define NR_openat 257
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_accept4 288
#define NR_sendmmsg 307
#define NR_finit_module 313
#define NR_renameat2 316
#define NR_memfd_create 319
#define NR_bpf 321
#define NR_openat2 437
#elif defined(__TARGET_ARCH_arm64)
/* asm-generic numbers: no open, creat, unlink, rmdir, rename (glibc uses the *at forms). */
#define NR_read 63
#define NR_write 64
#define NR_open -1
#define NR_connect 203
#define NR_accept 202
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define NR_listen 201
#define NR_bind 200
#define NR_rename -1
#define NR_rmdir -1
#define NR_creat -1
#define NR_unlink -1
#define NR_ptrace 117
#define NR_syslog 116
#define NR_setuid 146
#define NR_setgid 144
#define NR_setreuid 145
#define NR_setregid 143
#define NR_setresuid 147
#define NR_setresgid 149
#define NR_setfsuid 151
#define NR_setfsgid 152
#define NR_capset 91
#define NR_mount 40
#define NR_init_module 105
#define NR_openat 56
#define NR_unlinkat 35
#define NR_renameat 38
#define NR_accept4 242
#define NR_sendmmsg 269
#define NR_finit_module 273
#define NR_renameat2 276
#define NR_memfd_create 279
#define NR_bpf 280
#define NR_openat2 437
#else
#error "syscall numbers for this architecture are missing"
#endif

/* libbpf < 1.2 has no PT_REGS_PARM6_CORE_SYSCALL. */
#if defined(__TARGET_ARCH_x86)
#define EDR_SYSCALL_PARM6(regs) BPF_CORE_READ((regs), r9)
#else
#define EDR_SYSCALL_PARM6(regs) BPF_CORE_READ((regs), regs[5])
#endif

#define EDR_AT_FDCWD -100
#define EDR_S_IFMT 00170000
#define EDR_S_IFSOCK 0140000
#define EDR_S_IFREG 0100000
#define EDR_AF_INET 2
#define EDR_AF_INET6 10
#define EDR_FMODE_WRITE 0x2
#define EDR_FMODE_CREATED 0x100000
#define EDR_O_ACCMODE 3
#define EDR_O_CREAT 0100
#define EDR_O_TRUNC 01000
#define EDR_O_TMPFILE 020000000

/* One record of any telemetry family is built here: too large for the BPF stack. */
#define EDR_TEL_SCRATCH 24576
struct edr_tel_buf {
    __u8 b[EDR_TEL_SCRATCH];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct edr_tel_buf);
} edr_tel_scratch SEC(".maps") __weak;

/* What a syscall's entry saw, for its exit. One map per family (they attach separately). */
struct edr_sys_state {
    __u64 args[6];
    __u32 id;
    __u32 aux;
    __u8 addr[28];        /* a sockaddr read at entry */
    __u32 addrlen;
};

/* Cgroup ids whose names were sent, with the boot time they were sent at. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, __u64);
} edr_cgroup_seen SEC(".maps") __weak;

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct edr_cgroup_record);
} edr_cgroup_scratch SEC(".maps") __weak;

/* Before 6.15 kernfs_node's parent was called parent. */
struct kernfs_node___old {
    struct kernfs_node *parent;
};

static __always_inline struct edr_tel_buf *tel_scratch(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&edr_tel_scratch, &zero);
}

/* Sends the current cgroup's name once a minute at most per cgroup id. */
static __always_inline void note_cgroup_of(struct task_struct *task, __u64 cgid)
{
    __u64 now = bpf_ktime_get_boot_ns();
    __u64 *sent = bpf_map_lookup_elem(&edr_cgroup_seen, &cgid);
    if (sent && now - *sent < 60ULL * 1000000000ULL)
        return;
    bpf_map_update_elem(&edr_cgroup_seen, &cgid, &now, BPF_ANY);
    count(EDR_FAMILY_CGROUP, EDR_CTR_SEEN);
    __u32 zero = 0;
    struct edr_cgroup_record *r = bpf_map_lookup_elem(&edr_cgroup_scratch, &zero);
    if (!r)
        return;
    struct cgroup *cg = BPF_CORE_READ(task, cgroups, dfl_cgrp);
    struct kernfs_node *kn = BPF_CORE_READ(cg, kn);
    struct kernfs_node *parent;
    if (bpf_core_field_exists(kn->__parent))
        parent = BPF_CORE_READ(kn, __parent);
    else
        parent = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
    r->h.kind = EDR_REC_CGROUP;
    r->h.version = EDR_RECORD_VERSION;
    r->h.size = sizeof(*r);
    r->h.ktime_boot_ns = now;
    r->cgroup_id = cgid;
    r->level = BPF_CORE_READ(cg, level);
    r->reserved = 0;
    __builtin_memset(r->name, 0, sizeof(r->name));
    __builtin_memset(r->parent, 0, sizeof(r->parent));
    const char *name = BPF_CORE_READ(kn, name);
    bpf_probe_read_kernel_str(r->name, sizeof(r->name), name);
    if (parent) {
        const char *pname = BPF_CORE_READ(parent, name);
        bpf_probe_read_kernel_str(r->parent, sizeof(r->parent), pname);
    }
    submit(EDR_FAMILY_CGROUP, r, sizeof(*r));
}

static __always_inline void note_cgroup(__u64 cgid)
{
    note_cgroup_of((struct task_struct *)bpf_get_current_task(), cgid);
}

/* A task: ids as process.bpf.c fills them, cgroup, comm. io_uring completions name the
 * request's owner, which need not be the task the tracepoint runs in. */
static __always_inline void fill_ctx_of(struct edr_ctx *c, struct task_struct *task)
{
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    const struct cred *cred = BPF_CORE_READ(task, real_cred);
    c->ids.pid = BPF_CORE_READ(task, tgid);
    c->ids.tid = BPF_CORE_READ(task, pid);
    c->ids.ppid = BPF_CORE_READ(parent, tgid);
    c->ids.uid = BPF_CORE_READ(cred, uid.val);
    c->ids.euid = BPF_CORE_READ(cred, euid.val);
    c->ids.gid = BPF_CORE_READ(cred, gid.val);
    c->ids.egid = BPF_CORE_READ(cred, egid.val);
    c->ids.loginuid = BPF_CORE_READ(task, loginuid.val);
    struct task_struct *leader = BPF_CORE_READ(task, group_leader);
    c->ids.start_boottime_ns = BPF_CORE_READ(leader, start_boottime);
    struct task_struct *pleader = BPF_CORE_READ(parent, group_leader);
    c->ids.parent_start_boottime_ns = BPF_CORE_READ(pleader, start_boottime);
    c->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
    BPF_CORE_READ_STR_INTO(&c->comm, task, comm);
    note_cgroup_of(task, c->cgroup_id);
}

/* The calling task. */
static __always_inline void fill_ctx(struct edr_ctx *c)
{
    fill_ctx_of(c, (struct task_struct *)bpf_get_current_task());
}

/* Descriptors that were connect()ed to port 53, keyed tgid << 32 | fd: read() and write() are
 * the commonest syscalls, so the DNS hooks look at their descriptor only when it is in here,
 * instead of walking every process's fd table on every read and write. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, __u8);
} edr_dns_fds SEC(".maps") __weak;

static __always_inline __u64 dns_fd_key(long fd)
{
    return (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)fd;
}

/* The syscall number at raw_tp/sys_exit, so an exit hook can leave before its state-map
 * lookup for the many syscalls it never cares about (that lookup would run on every syscall
 * of every process). */
static __always_inline long exit_syscall_id(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
    return (long)BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
    return (long)BPF_CORE_READ(regs, syscallno);
#else
    return -1;
#endif
}

static __always_inline int current_is_agent(void)
{
    return is_agent((struct task_struct *)bpf_get_current_task());
}

/* A task's open file at descriptor fd, or NULL. */
static __always_inline struct file *fd_file_of(struct task_struct *task, long fd)
{
    if (fd < 0)
        return 0;
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    unsigned int max = BPF_CORE_READ(fdt, max_fds);
    if ((unsigned long)fd >= max)
        return 0;
    struct file **fds = BPF_CORE_READ(fdt, fd);
    struct file *f = 0;
    bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
    return f;
}

/* The calling task's open file at descriptor fd, or NULL. */
static __always_inline struct file *fd_file(long fd)
{
    return fd_file_of((struct task_struct *)bpf_get_current_task(), fd);
}

/* The sock behind a socket file, or NULL when the file is not a socket. */
static __always_inline struct sock *file_sock(struct file *f)
{
    if (!f)
        return 0;
    umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
    if ((mode & EDR_S_IFMT) != EDR_S_IFSOCK)
        return 0;
    struct socket *sock = BPF_CORE_READ(f, private_data);
    return BPF_CORE_READ(sock, sk);
}

/* Local and remote ends of an inet sock (ports in host order). 0 if not AF_INET/AF_INET6. */
static __always_inline int sock_ends(struct sock *sk, __u16 *family, __u8 *protocol, __u8 saddr[16], __u16 *sport,
                                     __u8 daddr[16], __u16 *dport)
{
    __u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (fam != EDR_AF_INET && fam != EDR_AF_INET6)
        return 0;
    *family = fam;
    *protocol = (__u8)BPF_CORE_READ(sk, sk_protocol);
    /* inet_sport, not skc_num: a refused connect releases the port number (skc_num = 0) but
       the socket still names it (getsockname reads inet_sport). */
    *sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
    *dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (fam == EDR_AF_INET) {
        __u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
        __u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
        __builtin_memcpy(saddr, &s, 4);
        __builtin_memcpy(daddr, &d, 4);
    } else {
        /* Not BPF_CORE_READ_INTO: it would copy sizeof(*saddr), one byte. */
        bpf_core_read(saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
        bpf_core_read(daddr, 16, &sk->__sk_common.skc_v6_daddr);
    }
    return 1;
}

/* A user sockaddr (already copied): family, port (host order), address. 0 if not inet. */
static __always_inline int parse_sockaddr(const __u8 *a, __u32 len, __u16 *family, __u16 *port, __u8 addr[16])
{
    __u16 fam = a[0] | (a[1] << 8);
    if (fam == EDR_AF_INET && len >= 8) {
        *family = fam;
        *port = (a[2] << 8) | a[3];
        __builtin_memcpy(addr, a + 4, 4);
        return 1;
    }
    if (fam == EDR_AF_INET6 && len >= 24) {
        *family = fam;
        *port = (a[2] << 8) | a[3];
        __builtin_memcpy(addr, a + 8, 16);
        return 1;
    }
    return 0;
}

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
