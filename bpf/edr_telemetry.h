/* Telemetry record layouts (network, files, DNS, post-exec activity, cgroup names), included
 * by edr_events.h. Decoded by Sources/EDRDetect/TelemetryRecords.swift; docs/telemetry.md
 * maps them to Sigma categories. Same rules as edr_events.h: little-endian, naturally
 * aligned, every fixed part a multiple of 8 bytes. */
#ifndef EDR_TELEMETRY_H
#define EDR_TELEMETRY_H

#define EDR_USTR_MAX 4096                   /* one path string read from user memory */
#define EDR_DIR_MAX (EDR_PATH_MAX + EDR_NAME_MAX) /* components of a directory walked in the kernel */
#define EDR_FILE_DATA_MAX (2 * (EDR_DIR_MAX + EDR_USTR_MAX))
#define EDR_DNS_MAX 512                     /* DNS payload bytes kept per message */
#define EDR_ATTACK_STR_MAX 512              /* user strings of one post-exec record */
#define EDR_ATTACK_DATA_MAX (EDR_ATTACK_STR_MAX + EDR_DIR_MAX)
#define EDR_CGROUP_NAME_MAX 128

/* Who did it: the calling task. 72 bytes. */
struct edr_ctx {
    struct edr_task_ids ids;
    __u64 cgroup_id;
    char comm[16];
};

/* ---- network: EDR_REC_NET, family EDR_FAMILY_NET ---- */
enum edr_net_op {
    EDR_NET_CONNECT = 1,  /* outbound: result 0, -EINPROGRESS (-115), -ECONNREFUSED (-111), ... */
    EDR_NET_ACCEPT = 2,   /* inbound: the accepted socket, both ends */
    EDR_NET_LISTEN = 3,
    EDR_NET_BIND = 4,     /* an IPv4/IPv6 socket bound to a local address (result 0 only) */
};

/* Addresses in network byte order (IPv4 in the first 4 bytes), ports in host order.
 * s = the local end, d = the remote end. */
struct edr_net_record {
    struct edr_record_header h;
    struct edr_ctx ctx;
    __u8 op;
    __u8 protocol;        /* IPPROTO_TCP 6, IPPROTO_UDP 17, other */
    __u16 family;         /* AF_INET 2, AF_INET6 10 */
    __s32 result;         /* syscall return value (io_uring: the completion's res) */
    __u16 sport;
    __u16 dport;
    __u32 flags;          /* EDR_NET_FROM_USER, EDR_VIA_* below */
    __u8 saddr[16];
    __u8 daddr[16];
};
/* The destination came from the caller's memory (read at entry), not from the kernel: the
 * socket had no peer and the kernel recorded no SYN (a failed UDP connect, say). */
#define EDR_NET_FROM_USER 1

/* ---- files: EDR_REC_FILE, family EDR_FAMILY_FILE ---- */
enum edr_file_op {
    EDR_FILE_CREATE = 1,  /* open*()/creat() that created the file (FMODE_CREATED) */
    EDR_FILE_MODIFY = 2,  /* opened an existing file for writing or with O_TRUNC */
    EDR_FILE_DELETE = 3,  /* unlink, unlinkat */
    EDR_FILE_RENAME = 4,  /* rename, renameat, renameat2 */
    EDR_FILE_RMDIR = 5,   /* rmdir, unlinkat(AT_REMOVEDIR) */
};

enum edr_file_flags {
    EDR_FILE_PATH_TRUNCATED = 1 << 0,  /* a section did not fit */
    EDR_FILE_READ_FAULT = 1 << 1,      /* a user string could not be read */
};

/* How the operation was asked for, in the flags of net, file and DNS records (bits 2 and up, so
 * they never meet the file flags above). A record without EDR_VIA_IO_URING came from a
 * syscall. io_uring records (bpf/io_uring.bpf.c) carry the request's IORING_OP_* opcode in
 * bits 8-15 and the completion's res as their result. */
enum edr_via_flags {
    EDR_VIA_IO_URING = 1 << 2,
    EDR_VIA_RESULT_UNSEEN = 1 << 3,    /* IOSQE_CQE_SKIP_SUCCESS: no completion to read, reported at submission */
};
#define EDR_VIA_OPCODE_SHIFT 8

/* data[] holds four sections, lengths in len[]: dir1 (a directory's components, leaf first,
 * each NUL-terminated, walked in the kernel: the dirfd's or the cwd's), name1 (the path the
 * process passed, as it passed it, NUL-terminated), dir2 and name2 (the rename's target).
 * For open/creat, dir1 holds the opened file's own components and name1 is empty. A name
 * that starts with '/' is absolute and its dir section is empty. */
struct edr_file_record {
    struct edr_record_header h;
    struct edr_ctx ctx;
    __u32 op;
    __s32 result;
    __u32 open_flags;
    __u32 flags;
    __u16 len[4];
    __u8 data[EDR_FILE_DATA_MAX];
};

/* ---- DNS: EDR_REC_DNS, family EDR_FAMILY_DNS ---- */
enum edr_dns_direction {
    EDR_DNS_QUERY = 1,   /* sent to port 53 */
    EDR_DNS_ANSWER = 2,  /* received from port 53 */
};

/* The raw DNS message (for TCP, with its 2-byte length prefix when the process sent it in
 * the same call). Parsed in the detector, never here or in the sensor. */
struct edr_dns_record {
    struct edr_record_header h;
    struct edr_ctx ctx;
    __u8 direction;
    __u8 protocol;
    __u16 family;
    __u32 payload_len;    /* bytes the syscall carried; captured <= EDR_DNS_MAX of them */
    __u16 sport;          /* local */
    __u16 dport;          /* remote */
    __u16 captured;
    __u16 flags;          /* EDR_VIA_* (io_uring) */
    __u8 saddr[16];
    __u8 daddr[16];
    __u8 data[EDR_DNS_MAX];
};

/* ---- what attackers do after exec: EDR_REC_ATTACK, family EDR_FAMILY_ATTACK ---- */
enum edr_attack_op {
    EDR_ATK_PTRACE = 1,        /* args[0] request, target_pid */
    EDR_ATK_INIT_MODULE = 2,   /* args[0] image length; str: parameters */
    EDR_ATK_FINIT_MODULE = 3,  /* args[0] fd, args[1] flags; str: parameters; path: the module file */
    EDR_ATK_BPF_PROG_LOAD = 4, /* args[0] prog type, args[1] insn count; str: prog name */
    EDR_ATK_SETUID = 5,        /* args[0..2]: the ids passed (-1 as 0xffffffff) */
    EDR_ATK_SETGID = 6,
    EDR_ATK_SETREUID = 7,
    EDR_ATK_SETREGID = 8,
    EDR_ATK_SETRESUID = 9,
    EDR_ATK_SETRESGID = 10,
    EDR_ATK_SETFSUID = 11,
    EDR_ATK_SETFSGID = 12,
    EDR_ATK_CAPSET = 13,       /* target_pid; args[0] effective, args[1] permitted, args[2] inheritable (low 32 bits) */
    EDR_ATK_MEMFD_CREATE = 14, /* args[0] flags; str: name; result: the fd */
    EDR_ATK_MOUNT = 15,        /* args[0] flags; str: source NUL target NUL fstype NUL */
    EDR_ATK_FILELESS_EXEC = 16,/* exec of a file with no link (memfd, O_TMPFILE, deleted); path: its name */
    EDR_ATK_COMPAT_SYSCALL = 17,/* a 32-bit syscall (int 0x80): args[0] its ia32 number, args[1] 32-bit calls of
                                 * this process since its last report (at most one record a second each) */
    EDR_ATK_SYSLOG = 18,       /* syslog(2) actions that clear or silence the kernel log (4-8 only):
                                 * args[0] the action, args[1] len */
};

/* data[]: str (str_len bytes, NUL-separated strings) then path components leaf first
 * (path_len bytes). */
struct edr_attack_record {
    struct edr_record_header h;
    struct edr_ctx ctx;
    __u32 op;
    __s32 result;
    __u64 args[4];
    __u32 target_pid;
    __u32 flags;          /* EDR_FILE_PATH_TRUNCATED, EDR_FILE_READ_FAULT */
    __u16 str_len;
    __u16 path_len;
    __u32 reserved;
    __u8 data[EDR_ATTACK_DATA_MAX];
};

/* ---- cgroup names: EDR_REC_CGROUP, family EDR_FAMILY_CGROUP ----
 * Sent the first time a cgroup id is seen (and again after a minute), so the detector maps
 * cgroup ids to container ids without reading /sys or /proc. */
struct edr_cgroup_record {
    struct edr_record_header h;
    __u64 cgroup_id;
    __u32 level;
    __u32 reserved;
    char name[EDR_CGROUP_NAME_MAX];    /* leaf, NUL-padded */
    char parent[EDR_CGROUP_NAME_MAX];  /* its parent */
};

#endif
