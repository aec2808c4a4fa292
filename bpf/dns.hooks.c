// SPDX-License-Identifier: GPL-2.0
/* DNS telemetry: the raw bytes of every message a process sends to port 53 (sendto, sendmsg,
 * sendmmsg — the first two messages, as glibc sends A and AAAA together — and write) and of
 * the answers it receives from port 53 (recvfrom, recvmsg, read). Nothing is parsed here: the
 * detector parses the name, type and answers. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "edr_events.h"
#include "edr_common.h"
#include "edr_telemetry_bpf.h"

/* Included by syscalls.bpf.c: one program per syscall direction dispatches to these. */

#define DNS_PORT 53
#define NR_recvmsg_id NR_recvmsg

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct edr_dns_record);
} edr_dns_scratch SEC(".maps");

/* The server an unconnected UDP socket last sent a query to (sendto/sendmsg naming port 53),
 * keyed by the socket: an answer it then reads with recv() or read() carries no address, and
 * the socket has no peer, so this is where the answer came from. LRU: a flood of sockets only
 * pushes out old ones. */
struct edr_dns_peer {
    __u16 family;
    __u16 port;
    __u8 addr[16];
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, struct edr_dns_peer);
} edr_dns_peers SEC(".maps");

/* struct user_msghdr / struct iovec, the parts read here (64-bit layout). */
struct u_msghdr {
    void *name;
    int namelen;
    int pad;
    void *iov;
    __u64 iovlen;
};
struct u_iovec {
    void *base;
    __u64 len;
};

/* Builds and submits one message record. ends come from the socket; addr, when given, is the
 * peer the process named (sendto/sendmsg) or was told (recvfrom/recvmsg). Returns 1 for a
 * query an unconnected socket sent to port 53 (its answer may come through read()). */
static __always_inline int emit_as(struct task_struct *task, __u16 via, struct sock *sk, __u8 direction, const __u8 *addr,
                                   __u32 addrlen, const void *buf, __u64 len)
{
    __u32 zero = 0;
    struct edr_dns_record *r = bpf_map_lookup_elem(&edr_dns_scratch, &zero);
    if (!r)
        return 0;
    r->family = 0;
    if (!sock_ends(sk, &r->family, &r->protocol, r->saddr, &r->sport, r->daddr, &r->dport))
        return 0;
    int unconnected = r->dport == 0;
    int named = 0;
    if (addr) {
        __u16 fam = 0, port = 0;
        __u8 a[16] = {};
        if (parse_sockaddr(addr, addrlen, &fam, &port, a)) {
            r->family = fam;
            r->dport = port;
            __builtin_memcpy(r->daddr, a, 16);
            named = 1;
        }
    }
    __u64 skey = (__u64)sk;
    int registered = 0;
    if (unconnected && !named && direction == EDR_DNS_ANSWER) {
        struct edr_dns_peer *p = bpf_map_lookup_elem(&edr_dns_peers, &skey);
        if (p) {
            r->family = p->family;
            r->dport = p->port;
            __builtin_memcpy(r->daddr, p->addr, 16);
        }
    }
    if (r->dport != DNS_PORT)
        return 0;
    if (unconnected && named && direction == EDR_DNS_QUERY) {
        struct edr_dns_peer p = { .family = r->family, .port = r->dport };
        __builtin_memcpy(p.addr, r->daddr, 16);
        bpf_map_update_elem(&edr_dns_peers, &skey, &p, BPF_ANY);
        registered = 1;
    }
    if (r->protocol != 6 && r->protocol != 17)
        return 0;
    count(EDR_FAMILY_DNS, EDR_CTR_SEEN);
    if (is_agent(task))
        return registered;
    __u32 cap = len > EDR_DNS_MAX ? EDR_DNS_MAX : (__u32)len;
    if (cap > EDR_DNS_MAX)
        cap = EDR_DNS_MAX;
    if (bpf_probe_read_user(r->data, cap, buf) != 0)
        cap = 0;
    r->h.kind = EDR_REC_DNS;
    r->h.version = EDR_RECORD_VERSION;
    r->h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ctx_of(&r->ctx, task);
    r->direction = direction;
    r->payload_len = (__u32)len;
    r->captured = (__u16)cap;
    r->flags = via;
    __u64 size = __builtin_offsetof(struct edr_dns_record, data) + cap;
    if (size > sizeof(*r)) {
        count(EDR_FAMILY_DNS, EDR_CTR_TOO_LARGE);
        return registered;
    }
    r->h.size = (__u32)size;
    submit(EDR_FAMILY_DNS, r, size);
    return registered;
}

/* The calling task's message (syscalls); io_uring.hooks.c names the request's owner. */
static __always_inline int emit(struct sock *sk, __u8 direction, const __u8 *addr, __u32 addrlen, const void *buf,
                                 __u64 len)
{
    return emit_as((struct task_struct *)bpf_get_current_task(), 0, sk, direction, addr, addrlen, buf, len);
}

/* Copies a user sockaddr with fixed-size reads (the verifier wants constant sizes): 28
 * bytes (sockaddr_in6), or 16 (sockaddr_in) when 28 would cross into an unmapped page. */
static __always_inline __u32 read_sockaddr(__u8 addr[28], const void *ua, __u32 ualen)
{
    if (ualen >= 28 && bpf_probe_read_user(addr, 28, ua) == 0)
        return 28;
    if (ualen >= 16 && bpf_probe_read_user(addr, 16, ua) == 0)
        return 16;
    return 0;
}

/* One sendmsg-style message: its name (if any) and first iovec. */
static __always_inline int send_msghdr(struct sock *sk, const void *umsg)
{
    struct u_msghdr m = {};
    if (bpf_probe_read_user(&m, sizeof(m), umsg) != 0)
        return 0;
    __u8 addr[28] = {};
    __u32 alen = 0;
    if (m.name && m.namelen >= 8) {
        alen = read_sockaddr(addr, m.name, (__u32)m.namelen);
    }
    struct u_iovec iov = {};
    if (m.iovlen < 1 || bpf_probe_read_user(&iov, sizeof(iov), m.iov) != 0)
        return 0;
    return emit(sk, EDR_DNS_QUERY, alen ? addr : 0, alen, iov.base, iov.len);
}

/* A socket that may carry DNS: inet, UDP or TCP, and either connected to port 53 or (UDP)
 * unconnected. */
static __always_inline struct sock *dns_candidate(long fd, int allow_unconnected)
{
    struct sock *sk = file_sock(fd_file(fd));
    if (!sk)
        return 0;
    __u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (fam != EDR_AF_INET && fam != EDR_AF_INET6)
        return 0;
    __u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (dport == DNS_PORT)
        return sk;
    __u8 proto = (__u8)BPF_CORE_READ(sk, sk_protocol);
    if (allow_unconnected && dport == 0 && proto == 17)
        return sk;
    return 0;
}

static __always_inline int edr_dns_enter(struct pt_regs *regs, long id)
{
    if (id != NR_sendto && id != NR_sendmsg && id != NR_sendmmsg && id != NR_write && id != NR_recvfrom &&
        id != NR_recvmsg && id != NR_read)
        return 0;
    long fd = (long)PT_REGS_PARM1_CORE_SYSCALL(regs);
    if (id == NR_read || id == NR_write) {
        __u64 dkey = dns_fd_key(fd);
        if (!bpf_map_lookup_elem(&edr_dns_fds, &dkey))
            return 0;
    }
    int is_send = id == NR_sendto || id == NR_sendmsg || id == NR_sendmmsg || id == NR_write;
    /* write: only sockets connected to port 53 (it has no address argument). read: those, and
     * unconnected UDP sockets that sent a query (both are in edr_dns_fds). */
    struct sock *sk = dns_candidate(fd, id != NR_write);
    if (!sk)
        return 0;
    if (is_send) {
        int unconnected_query = 0;
        if (id == NR_write || id == NR_sendto) {
            const void *buf = (const void *)PT_REGS_PARM2_CORE_SYSCALL(regs);
            __u64 len = PT_REGS_PARM3_CORE_SYSCALL(regs);
            __u8 addr[28] = {};
            __u32 alen = 0;
            if (id == NR_sendto) {
                const void *ua = (const void *)PT_REGS_PARM5_CORE_SYSCALL(regs);
                __u32 ualen = (__u32)EDR_SYSCALL_PARM6(regs);
                if (ua && ualen >= 8) {
                    alen = read_sockaddr(addr, ua, ualen);
                }
            }
            unconnected_query = emit(sk, EDR_DNS_QUERY, alen ? addr : 0, alen, buf, len);
        } else if (id == NR_sendmsg) {
            unconnected_query = send_msghdr(sk, (const void *)PT_REGS_PARM2_CORE_SYSCALL(regs));
        } else {
            const __u8 *vec = (const __u8 *)PT_REGS_PARM2_CORE_SYSCALL(regs);
            __u32 vlen = (__u32)PT_REGS_PARM3_CORE_SYSCALL(regs);
            if (vlen >= 1)
                unconnected_query = send_msghdr(sk, vec);
            if (vlen >= 2)
                unconnected_query |= send_msghdr(sk, vec + 64); /* sizeof(struct mmsghdr) */
        }
        if (unconnected_query) {
            /* Its answer may come through read(), which is looked at only for these fds. */
            __u64 dkey = dns_fd_key(fd);
            __u8 one = 1;
            bpf_map_update_elem(&edr_dns_fds, &dkey, &one, BPF_ANY);
        }
        return 0;
    }
    if (current_is_agent())
        return 0;
    struct edr_sys_state s = {};
    s.id = (__u32)id;
    s.args[0] = fd;
    s.args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
    s.args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
    s.args[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
    if (state_put(EDR_FAMILY_DNS, &s) != 0)
        count(EDR_FAMILY_DNS, EDR_CTR_NO_STATE);
    return 0;
}

static __always_inline int edr_dns_exit(struct pt_regs *regs, long ret, long id)
{
    if (id >= 0 && !(id == NR_sendto || id == NR_sendmsg || id == NR_sendmmsg || id == NR_write || id == NR_recvfrom || id == NR_recvmsg || id == NR_read))
        return 0;
    struct edr_sys_state s;
    if (!state_take(EDR_FAMILY_DNS, &s))
        return 0;
    if (ret <= 0)
        return 0;
    struct sock *sk = file_sock(fd_file((long)s.args[0]));
    if (!sk)
        return 0;
    const void *buf = (const void *)s.args[1];
    __u64 len = (__u64)ret;
    const void *ua = 0;
    if (s.id == NR_recvfrom) {
        ua = (const void *)s.args[4];
    } else if (s.id == NR_recvmsg) {
        struct u_msghdr m = {};
        if (bpf_probe_read_user(&m, sizeof(m), (const void *)s.args[1]) != 0)
            return 0;
        struct u_iovec iov = {};
        if (m.iovlen < 1 || bpf_probe_read_user(&iov, sizeof(iov), m.iov) != 0)
            return 0;
        buf = iov.base;
        if (len > iov.len)
            len = iov.len;
        ua = m.name;
    }
    __u8 addr[28] = {};
    __u32 alen = 0;
    if (ua)
        alen = read_sockaddr(addr, ua, 28);
    emit(sk, EDR_DNS_ANSWER, alen ? addr : 0, alen, buf, len);
    return 0;
}
