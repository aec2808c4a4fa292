// SPDX-License-Identifier: GPL-2.0
/* Network telemetry: connect (with its result), accept (both ends of the new socket), listen,
 * bind (IPv4/IPv6 only, successful only).
 * The sys_enter hook copies connect's sockaddr; raw_tp/sys_exit reads the socket's own ends. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "edr_events.h"
#include "edr_common.h"
#include "edr_telemetry_bpf.h"

/* Included by syscalls.bpf.c: one program per syscall direction dispatches to these. */

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct edr_net_record);
} edr_net_scratch SEC(".maps");

/* Where each TCP socket's SYN went, from the kernel's own state change (CLOSE → SYN_SENT,
 * inside connect, with the kernel's copy of the address): a refused connect disconnects the
 * socket, and this is then the kernel's word on its destination. LRU keyed by the socket. */
struct edr_connect_dest {
    __u16 family;
    __u16 port;
    __u8 addr[16];
};
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 8192);
    __type(key, __u64);
    __type(value, struct edr_connect_dest);
} edr_connect_dest SEC(".maps");

#define EDR_TCP_SYN_SENT 2

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(edr_tcp_syn_sent, const struct sock *sk, const int oldstate, const int newstate)
{
    if (newstate != EDR_TCP_SYN_SENT)
        return 0;
    struct edr_connect_dest d = {};
    d.family = BPF_CORE_READ(sk, __sk_common.skc_family);
    d.port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (d.family == EDR_AF_INET) {
        __u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
        __builtin_memcpy(d.addr, &a, 4);
    } else if (d.family == EDR_AF_INET6) {
        bpf_core_read(d.addr, 16, &sk->__sk_common.skc_v6_daddr);
    } else {
        return 0;
    }
    __u64 skey = (__u64)sk;
    bpf_map_update_elem(&edr_connect_dest, &skey, &d, BPF_ANY);
    return 0;
}

static __always_inline int edr_net_enter(struct pt_regs *regs, long id)
{
    if (id != NR_connect && id != NR_accept && id != NR_accept4 && id != NR_listen && id != NR_bind)
        return 0;
    if (current_is_agent())
        return 0;
    struct edr_sys_state s = {};
    s.id = (__u32)id;
    s.args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
    if (id == NR_bind) {
        /* Most binds are AF_UNIX/AF_NETLINK: leave before touching the state map. */
        __u16 fam = 0;
        if (bpf_probe_read_user(&fam, sizeof(fam), (void *)PT_REGS_PARM2_CORE_SYSCALL(regs)) != 0)
            return 0;
        if (fam != EDR_AF_INET && fam != EDR_AF_INET6)
            return 0;
    }
    if (id == NR_connect) {
        /* The caller's copy, kept only as the last resort at exit (the kernel's own record of
         * the destination comes first). A page that is not resident yet cannot be read here
         * (the syscall itself will fault it in): the state is kept anyway, with no copy. */
        void *addr = (void *)PT_REGS_PARM2_CORE_SYSCALL(regs);
        __u32 len = (__u32)PT_REGS_PARM3_CORE_SYSCALL(regs);
        if (len >= 28 && bpf_probe_read_user(s.addr, 28, addr) == 0)
            len = 28;
        else if (len >= 16 && bpf_probe_read_user(s.addr, 16, addr) == 0)
            len = 16;
        else
            len = 0;
        __u16 fam = s.addr[0] | (s.addr[1] << 8);
        if (len && fam != EDR_AF_INET && fam != EDR_AF_INET6)
            return 0; /* AF_UNIX, AF_NETLINK, AF_UNSPEC (disconnect), ... */
        s.addrlen = len;
        if (s.addr[2] == 0 && s.addr[3] == 53) { /* port 53, network byte order, both families */
            __u64 dkey = dns_fd_key((long)s.args[0]);
            __u8 one = 1;
            bpf_map_update_elem(&edr_dns_fds, &dkey, &one, BPF_ANY);
        }
    }
    count(EDR_FAMILY_NET, EDR_CTR_SEEN);
    if (state_put(EDR_FAMILY_NET, &s) != 0)
        count(EDR_FAMILY_NET, EDR_CTR_NO_STATE);
    return 0;
}

static __always_inline int edr_net_exit(struct pt_regs *regs, long ret, long id)
{
    if (id >= 0 && !(id == NR_connect || id == NR_accept || id == NR_accept4 || id == NR_listen || id == NR_bind))
        return 0;
    struct edr_sys_state s;
    if (!state_take(EDR_FAMILY_NET, &s))
        return 0;
    __u32 zero = 0;
    struct edr_net_record *r = bpf_map_lookup_elem(&edr_net_scratch, &zero);
    if (!r)
        return 0;
    __builtin_memset(r, 0, sizeof(*r));

    struct sock *sk;
    if (s.id == NR_connect) {
        r->op = EDR_NET_CONNECT;
        sk = file_sock(fd_file((long)s.args[0]));
    } else if (s.id == NR_listen || s.id == NR_bind) {
        if (ret != 0)
            return 0;
        r->op = s.id == NR_bind ? EDR_NET_BIND : EDR_NET_LISTEN;
        sk = file_sock(fd_file((long)s.args[0]));
    } else {
        if (ret < 0)
            return 0; /* EAGAIN on a non-blocking listener, ... */
        r->op = EDR_NET_ACCEPT;
        sk = file_sock(fd_file(ret));
    }
    if (!sk)
        return 0;
    if (!sock_ends(sk, &r->family, &r->protocol, r->saddr, &r->sport, r->daddr, &r->dport))
        return 0;
    if (s.id == NR_connect && r->dport == 0) {
        /* The socket names no peer: the connect failed (a refused TCP connect disconnects the
         * socket). The kernel's record of where its SYN went comes first; the caller's copy,
         * read at entry from memory another thread could change, only when there is none. */
        __u64 skey = (__u64)sk;
        struct edr_connect_dest *d = bpf_map_lookup_elem(&edr_connect_dest, &skey);
        if (d) {
            r->family = d->family;
            r->dport = d->port;
            __builtin_memcpy(r->daddr, d->addr, 16);
        } else {
            __u16 fam = 0, port = 0;
            __u8 addr[16] = {};
            if (parse_sockaddr(s.addr, s.addrlen, &fam, &port, addr)) {
                r->dport = port;
                __builtin_memcpy(r->daddr, addr, 16);
                r->family = fam;
                r->flags |= EDR_NET_FROM_USER;
            }
        }
    }
    if (s.id == NR_connect && r->dport == 0)
        return 0; /* neither the socket, the kernel nor the caller's memory say where: not inet */
    r->h.kind = EDR_REC_NET;
    r->h.version = EDR_RECORD_VERSION;
    r->h.size = sizeof(*r);
    r->h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ctx(&r->ctx);
    r->result = (__s32)ret;
    submit(EDR_FAMILY_NET, r, sizeof(*r));
    return 0;
}
