/* Descriptor → file → socket: a task's open files and the inet sockets behind them, user
 * sockaddrs, and the descriptors the DNS hooks watch. */
#ifndef EDR_FILES_H
#define EDR_FILES_H

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

#endif
