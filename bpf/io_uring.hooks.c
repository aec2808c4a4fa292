// SPDX-License-Identifier: GPL-2.0
/* io_uring telemetry: file create/modify/delete/rename, connect, accept, bind and listen
 * asked for through an io_uring submission queue never pass the syscall hooks
 * (syscalls.bpf.c sees one io_uring_enter, or nothing at all with SQPOLL). These two programs
 * report them as the same net and file records as their syscall twins, marked
 * EDR_VIA_IO_URING with the request's opcode.
 *
 * tp_btf/io_uring_submit_req runs once per request after its prep (the struct filename
 * copies of the paths are in req->cmd); tp_btf/io_uring_complete when its CQE is posted. Both
 * run only for io_uring requests, never on an ordinary syscall.
 *   - open: built at completion from the opened file itself (FMODE_CREATED, its own dentry
 *     walk), as the syscall hook does; direct descriptors are read from the ring's file table.
 *   - unlink, rename: the names are freed by the time the request completes, so the record is
 *     built at submission (the kernel's copy of each name, the dirfd's or the cwd's directory
 *     walked in the kernel) and kept per request until its completion gives the result.
 *     IOSQE_CQE_SKIP_SUCCESS posts no completion on success: such requests are reported at
 *     submission with EDR_VIA_RESULT_UNSEEN.
 *   - connect, accept, bind, listen: at completion, from the socket's own ends; connect's
 *     destination from the kernel's copy of the address (req->async_data).
 *   - DNS: send, sendmsg, recv, recvmsg on a socket connected to port 53 or an unconnected
 *     UDP socket naming (or, for answers, having queried) port 53, at completion: the
 *     payload from the caller's buffer, the address from the kernel's copy while the request
 *     still holds it, else from the caller's msghdr (as the syscall hooks read both). Buffers
 *     the kernel picks (IOSQE_BUFFER_SELECT), zero-copy sends, multishot receives and a SEND
 *     that names its address (sqe->addr2) on an unconnected socket are not followed.
 * Who: the request's owner task (req->tctx->task), whatever thread the tracepoint runs in:
 * an io-wq worker, the SQPOLL thread or a kworker running fallback work. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "edr_events.h"
#include "edr_common.h"
#include "edr_telemetry_bpf.h"

/* Included by syscalls.bpf.c after the other families, whose maps and DNS record builder
 * (dns.hooks.c: emit_as) these programs share; they are programs of their own, not
 * dispatched: the tracepoints fire only for io_uring requests. */

/* UAPI opcodes (include/uapi/linux/io_uring.h): fixed numbers, never renumbered. */
#define EDR_IORING_OP_SENDMSG 9
#define EDR_IORING_OP_RECVMSG 10
#define EDR_IORING_OP_ACCEPT 13
#define EDR_IORING_OP_CONNECT 16
#define EDR_IORING_OP_OPENAT 18
#define EDR_IORING_OP_SEND 26
#define EDR_IORING_OP_RECV 27
#define EDR_IORING_OP_OPENAT2 28
#define EDR_IORING_OP_RENAMEAT 35
#define EDR_IORING_OP_UNLINKAT 36
#define EDR_IORING_OP_BIND 56
#define EDR_IORING_OP_LISTEN 57
#define EDR_IORING_FILE_INDEX_ALLOC 0xffffffffU
#define EDR_REQ_F_FIXED_FILE (1ULL << 0)
#define EDR_REQ_F_BUFFER_SELECT (1ULL << 5)
#define EDR_REQ_F_CQE_SKIP (1ULL << 6)
#define EDR_AT_REMOVEDIR 0x200
#define EDR_FFS_MASK (~3UL)    /* io_rsrc_node.file_ptr: FFS_NOWAIT | FFS_ISREG in the low bits */

/* Unlink and rename records built at submission, keyed by the request, until completion.
 * Not preallocated: entries exist only while such a request is in flight. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u64);
    __type(value, struct edr_file_record);
} edr_uring_pending SEC(".maps");

/* Before 6.13 the owner was req->task. */
struct io_kiocb___old {
    struct task_struct *task;
};

static __always_inline struct task_struct *req_owner(struct io_kiocb *req)
{
    if (bpf_core_field_exists(req->tctx))
        return BPF_CORE_READ(req, tctx, task);
    return BPF_CORE_READ((struct io_kiocb___old *)req, task);
}

static __always_inline __u32 via_flags(__u8 opcode)
{
    return EDR_VIA_IO_URING | ((__u32)opcode << EDR_VIA_OPCODE_SHIFT);
}

/* A direct descriptor (registered file slot) of the ring. */
static __always_inline struct file *fixed_file(struct io_kiocb *req, __u32 index)
{
    struct io_ring_ctx *ctx = BPF_CORE_READ(req, ctx);
    unsigned int nr = BPF_CORE_READ(ctx, file_table.data.nr);
    if (index >= nr)
        return 0;
    struct io_rsrc_node **nodes = BPF_CORE_READ(ctx, file_table.data.nodes);
    struct io_rsrc_node *node = 0;
    bpf_probe_read_kernel(&node, sizeof(node), &nodes[index]);
    if (!node)
        return 0;
    return (struct file *)(BPF_CORE_READ(node, file_ptr) & EDR_FFS_MASK);
}

/* The file an open or accept installed: the descriptor res in the owner's table, or the
 * direct descriptor its file_slot named (res 0) or the kernel chose (res = the slot). */
static __always_inline struct file *installed_file(struct io_kiocb *req, struct task_struct *owner, __u32 slot, int res)
{
    if (slot == 0)
        return fd_file_of(owner, res);
    return fixed_file(req, slot == EDR_IORING_FILE_INDEX_ALLOC ? (__u32)res : slot - 1);
}

/* Copies a kernel string (a struct filename's name) to scratch offset start. */
static __always_inline __u32 tel_put_kstr(__u32 start, const char *ptr, int *truncated, int *fault)
{
    struct edr_tel_buf *r = tel_scratch();
    if (!r || !ptr)
        return 0;
    if (start > EDR_TEL_SCRATCH - EDR_USTR_MAX)
        return 0;
    long n = bpf_probe_read_kernel_str(r->b + start, EDR_USTR_MAX, ptr);
    if (n <= 0) {
        *fault = 1;
        return 0;
    }
    if (n == EDR_USTR_MAX)
        *truncated = 1;
    return (__u32)n;
}

/* dir (relative names only: the dirfd's or the owner's cwd, walked now) and name sections. */
static __always_inline void put_dir_and_kname(struct edr_file_record *r, int section, struct task_struct *owner,
                                              long dirfd, struct filename *fn, __u32 *off, int *truncated, int *fault)
{
    const char *name = BPF_CORE_READ(fn, name);
    char first = 0;
    __u32 dlen = 0, nlen = 0;
    bpf_probe_read_kernel(&first, 1, name);
    if (first != '/' && *off <= FILE_DATA_OFF + EDR_DIR_MAX + EDR_USTR_MAX)
        dlen = tel_put_dir_of(owner, *off, EDR_DIR_MAX, dirfd, truncated);
    *off += dlen;
    if (*off <= FILE_DATA_OFF + 2 * EDR_DIR_MAX + EDR_USTR_MAX)
        nlen = tel_put_kstr(*off, name, truncated, fault);
    *off += nlen;
    if (section == 0) {
        r->len[0] = (__u16)dlen;
        r->len[1] = (__u16)nlen;
    } else {
        r->len[2] = (__u16)dlen;
        r->len[3] = (__u16)nlen;
    }
}

/* Connect to port 53 marks the descriptor for the DNS hooks' read()/write(), as connect(2) does. */
static __always_inline void note_dns_descriptor(struct io_kiocb *req)
{
    if (BPF_CORE_READ(req, flags) & EDR_REQ_F_FIXED_FILE)
        return; /* a direct descriptor is no number read(2) could use */
    struct io_async_msghdr *am = BPF_CORE_READ(req, async_data);
    __u8 a[4] = {};
    if (!am || bpf_probe_read_kernel(a, sizeof(a), &am->addr) != 0)
        return;
    __u16 fam = a[0] | (a[1] << 8);
    if ((fam != EDR_AF_INET && fam != EDR_AF_INET6) || a[2] != 0 || a[3] != 53)
        return;
    int fd = BPF_CORE_READ(req, cqe.fd);
    __u64 key = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)fd;
    __u8 one = 1;
    bpf_map_update_elem(&edr_dns_fds, &key, &one, BPF_ANY);
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(edr_uring_submit, struct io_kiocb *req)
{
    __u8 opcode = BPF_CORE_READ(req, opcode);
    if (opcode == EDR_IORING_OP_CONNECT) {
        note_dns_descriptor(req);
        return 0;
    }
    if (opcode != EDR_IORING_OP_UNLINKAT && opcode != EDR_IORING_OP_RENAMEAT)
        return 0;
    struct task_struct *owner = req_owner(req);
    if (!owner || is_agent(owner))
        return 0;
    count(EDR_FAMILY_FILE, EDR_CTR_SEEN);
    struct edr_file_record *r = (struct edr_file_record *)tel_scratch();
    if (!r)
        return 0;
    r->h.kind = EDR_REC_FILE;
    r->h.version = EDR_RECORD_VERSION;
    r->h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ctx_of(&r->ctx, owner);
    r->result = 0;
    r->open_flags = 0;
    r->len[0] = r->len[1] = r->len[2] = r->len[3] = 0;
    int truncated = 0, fault = 0;
    __u32 off = FILE_DATA_OFF;
    void *cmd = &req->cmd;
    if (opcode == EDR_IORING_OP_UNLINKAT) {
        struct io_unlink *u = cmd;
        r->op = (BPF_CORE_READ(u, flags) & EDR_AT_REMOVEDIR) ? EDR_FILE_RMDIR : EDR_FILE_DELETE;
        put_dir_and_kname(r, 0, owner, BPF_CORE_READ(u, dfd), BPF_CORE_READ(u, filename), &off, &truncated, &fault);
    } else {
        struct io_rename *rn = cmd;
        r->op = EDR_FILE_RENAME;
        put_dir_and_kname(r, 0, owner, BPF_CORE_READ(rn, old_dfd), BPF_CORE_READ(rn, oldpath), &off, &truncated,
                          &fault);
        put_dir_and_kname(r, 1, owner, BPF_CORE_READ(rn, new_dfd), BPF_CORE_READ(rn, newpath), &off, &truncated,
                          &fault);
    }
    r->flags = (truncated ? EDR_FILE_PATH_TRUNCATED : 0) | (fault ? EDR_FILE_READ_FAULT : 0) | via_flags(opcode);
    __u64 size = off;
    if (size > sizeof(*r)) {
        count(EDR_FAMILY_FILE, EDR_CTR_TOO_LARGE);
        return 0;
    }
    r->h.size = (__u32)size;
    if (BPF_CORE_READ(req, flags) & EDR_REQ_F_CQE_SKIP) {
        /* No completion will be posted if it succeeds: report the request as submitted. */
        r->flags |= EDR_VIA_RESULT_UNSEEN;
        submit(EDR_FAMILY_FILE, r, size);
        return 0;
    }
    __u64 key = (__u64)req;
    if (bpf_map_update_elem(&edr_uring_pending, &key, r, BPF_ANY) != 0)
        count(EDR_FAMILY_FILE, EDR_CTR_NO_STATE);
    return 0;
}

static __always_inline int complete_pending(struct io_kiocb *req, int res)
{
    __u64 key = (__u64)req;
    struct edr_file_record *r = bpf_map_lookup_elem(&edr_uring_pending, &key);
    if (!r)
        return 0;
    if (res >= 0) {
        r->result = res;
        __u64 size = r->h.size;
        if (size <= sizeof(*r))
            submit(EDR_FAMILY_FILE, r, size);
    } /* failed calls changed nothing */
    bpf_map_delete_elem(&edr_uring_pending, &key);
    return 0;
}

static __always_inline int complete_open(struct io_kiocb *req, __u8 opcode, int res)
{
    if (res < 0)
        return 0;
    struct task_struct *owner = req_owner(req);
    if (!owner || is_agent(owner))
        return 0;
    count(EDR_FAMILY_FILE, EDR_CTR_SEEN);
    struct io_open *o = (void *)&req->cmd;
    __u64 oflags = BPF_CORE_READ(o, how.flags);
    struct file *opened = installed_file(req, owner, BPF_CORE_READ(o, file_slot), res);
    if (!opened)
        return 0;
    __u32 fmode = BPF_CORE_READ(opened, f_mode);
    umode_t imode = BPF_CORE_READ(opened, f_inode, i_mode);
    if ((imode & EDR_S_IFMT) != EDR_S_IFREG)
        return 0;
    __u32 op;
    if (fmode & EDR_FMODE_CREATED)
        op = EDR_FILE_CREATE;
    else if ((fmode & EDR_FMODE_WRITE) || (oflags & EDR_O_TRUNC))
        op = EDR_FILE_MODIFY;
    else
        return 0;
    struct edr_file_record *r = (struct edr_file_record *)tel_scratch();
    if (!r)
        return 0;
    r->h.kind = EDR_REC_FILE;
    r->h.version = EDR_RECORD_VERSION;
    r->h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ctx_of(&r->ctx, owner);
    r->op = op;
    r->result = res;
    r->open_flags = (__u32)oflags;
    r->len[0] = r->len[1] = r->len[2] = r->len[3] = 0;
    int truncated = 0;
    __u32 n = tel_put_file_path(FILE_DATA_OFF, EDR_DIR_MAX, opened, &truncated);
    r->len[0] = (__u16)n;
    r->flags = (truncated ? EDR_FILE_PATH_TRUNCATED : 0) | via_flags(opcode);
    __u64 size = FILE_DATA_OFF + n;
    if (size > sizeof(*r)) {
        count(EDR_FAMILY_FILE, EDR_CTR_TOO_LARGE);
        return 0;
    }
    r->h.size = (__u32)size;
    submit(EDR_FAMILY_FILE, r, size);
    return 0;
}

static __always_inline int complete_net(struct io_kiocb *req, __u8 opcode, int res)
{
    if (opcode != EDR_IORING_OP_CONNECT && res < 0)
        return 0; /* failed accepts, binds and listens are not reported, as for the syscalls */
    if ((opcode == EDR_IORING_OP_BIND || opcode == EDR_IORING_OP_LISTEN) && res != 0)
        return 0;
    struct task_struct *owner = req_owner(req);
    if (!owner || is_agent(owner))
        return 0;
    struct file *f;
    if (opcode == EDR_IORING_OP_ACCEPT) {
        struct io_accept *a = (void *)&req->cmd;
        f = installed_file(req, owner, BPF_CORE_READ(a, file_slot), res);
    } else {
        f = BPF_CORE_READ(req, file);
    }
    struct sock *sk = file_sock(f);
    if (!sk)
        return 0;
    count(EDR_FAMILY_NET, EDR_CTR_SEEN);
    struct edr_net_record *r = (struct edr_net_record *)tel_scratch();
    if (!r)
        return 0;
    __builtin_memset(r, 0, sizeof(*r));
    if (!sock_ends(sk, &r->family, &r->protocol, r->saddr, &r->sport, r->daddr, &r->dport))
        return 0;
    if (opcode == EDR_IORING_OP_CONNECT) {
        r->op = EDR_NET_CONNECT;
        /* The destination as asked, from the kernel's copy: a refused connect leaves the
           socket's own unset. */
        struct io_async_msghdr *am = BPF_CORE_READ(req, async_data);
        __u8 a[28] = {};
        __u16 fam = 0, port = 0;
        __u8 addr[16] = {};
        if (am && bpf_probe_read_kernel(a, sizeof(a), &am->addr) == 0 && parse_sockaddr(a, sizeof(a), &fam, &port, addr)) {
            r->dport = port;
            __builtin_memcpy(r->daddr, addr, 16);
            r->family = fam;
        }
    } else if (opcode == EDR_IORING_OP_ACCEPT) {
        r->op = EDR_NET_ACCEPT;
    } else {
        r->op = opcode == EDR_IORING_OP_BIND ? EDR_NET_BIND : EDR_NET_LISTEN;
    }
    r->h.kind = EDR_REC_NET;
    r->h.version = EDR_RECORD_VERSION;
    r->h.size = sizeof(*r);
    r->h.ktime_boot_ns = bpf_ktime_get_boot_ns();
    fill_ctx_of(&r->ctx, owner);
    r->result = res;
    r->flags = via_flags(opcode);
    submit(EDR_FAMILY_NET, r, sizeof(*r));
    return 0;
}

/* The kernel's copy of the address a send named or a receive was told, or 0. */
static __always_inline __u32 msg_addr(struct io_kiocb *req, __u8 addr[28])
{
    struct io_async_msghdr *am = BPF_CORE_READ(req, async_data);
    if (!am)
        return 0;
    /* async_data is recycled between requests: its addr is this request's only when the
       message names it. */
    void *name = BPF_CORE_READ(am, msg.msg_name);
    if (name != (void *)&am->addr)
        return 0;
    if (bpf_probe_read_kernel(addr, 28, &am->addr) != 0)
        return 0;
    return 28;
}

static __always_inline int complete_dns(struct io_kiocb *req, __u8 opcode, int res)
{
    if (res <= 0 || BPF_CORE_READ(req, flags) & EDR_REQ_F_BUFFER_SELECT)
        return 0;
    int is_send = opcode == EDR_IORING_OP_SEND || opcode == EDR_IORING_OP_SENDMSG;
    struct sock *sk = file_sock(BPF_CORE_READ(req, file));
    if (!sk)
        return 0;
    __u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (fam != EDR_AF_INET && fam != EDR_AF_INET6)
        return 0;
    __u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (dport != DNS_PORT && !(dport == 0 && BPF_CORE_READ(sk, sk_protocol) == 17))
        return 0;
    struct task_struct *owner = req_owner(req);
    if (!owner)
        return 0;
    struct io_sr_msg *sr = (void *)&req->cmd;
    const void *buf;
    __u64 len = (__u64)res;
    __u8 addr[28] = {};
    __u32 alen = msg_addr(req, addr);
    if (opcode == EDR_IORING_OP_SEND || opcode == EDR_IORING_OP_RECV) {
        buf = BPF_CORE_READ(sr, buf);
    } else {
        /* The caller's msghdr and its first iovec, as the syscall hooks read them. */
        struct u_msghdr m = {};
        struct u_iovec iov = {};
        if (bpf_probe_read_user(&m, sizeof(m), BPF_CORE_READ(sr, umsg)) != 0 || m.iovlen < 1 ||
            bpf_probe_read_user(&iov, sizeof(iov), m.iov) != 0)
            return 0;
        buf = iov.base;
        if (len > iov.len)
            len = iov.len;
        /* A completed sendmsg/recvmsg has usually handed its async_data back to the ring's
           cache already: the name as the caller's msghdr holds it, as the syscall hooks do. */
        if (!alen && m.name && m.namelen >= 8)
            alen = read_sockaddr(addr, m.name, (__u32)m.namelen);
    }
    emit_as(owner, via_flags(opcode), sk, is_send ? EDR_DNS_QUERY : EDR_DNS_ANSWER, alen ? addr : 0, alen, buf, len);
    return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(edr_uring_complete, struct io_ring_ctx *ring, void *request, struct io_uring_cqe *cqe)
{
    struct io_kiocb *req = request;
    if (!req)
        return 0; /* auxiliary CQEs (multishot, msg_ring) carry no request */
    __u8 opcode = BPF_CORE_READ(req, opcode);
    int res = BPF_CORE_READ(cqe, res);
    switch (opcode) {
    case EDR_IORING_OP_UNLINKAT:
    case EDR_IORING_OP_RENAMEAT:
        return complete_pending(req, res);
    case EDR_IORING_OP_OPENAT:
    case EDR_IORING_OP_OPENAT2:
        return complete_open(req, opcode, res);
    case EDR_IORING_OP_SEND:
    case EDR_IORING_OP_SENDMSG:
    case EDR_IORING_OP_RECV:
    case EDR_IORING_OP_RECVMSG:
        return complete_dns(req, opcode, res);
    case EDR_IORING_OP_CONNECT:
    case EDR_IORING_OP_ACCEPT:
    case EDR_IORING_OP_BIND:
    case EDR_IORING_OP_LISTEN:
        return complete_net(req, opcode, res);
    default:
        return 0;
    }
}
