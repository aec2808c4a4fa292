/* Records the kernel side hands to user space. Shared by the BPF programs and, by layout,
 * by the detector's decoder (Sources/EDRDetect/KernelRecords.swift). All little-endian,
 * naturally aligned, no padding surprises: every struct is a multiple of 8 bytes. */
#ifndef EDR_EVENTS_H
#define EDR_EVENTS_H

#define EDR_RECORD_VERSION 1

#define EDR_ARGS_MAX 8192       /* bytes of NUL-separated argv kept per exec */
#define EDR_PATH_MAX 4096       /* bytes of path components kept per path */
#define EDR_NAME_MAX 256        /* one path component, NUL included */
#define EDR_PATH_DEPTH 64       /* path components walked per path */
#define EDR_ENV_MAX 8192        /* bytes of NUL-separated envp kept per exec (filtered in user space) */
#define EDR_EXEC_DATA_MAX (EDR_ARGS_MAX + 3 * (EDR_PATH_MAX + EDR_NAME_MAX) + EDR_ENV_MAX)

enum edr_record_kind {
    EDR_REC_EXEC = 1,
    EDR_REC_EXIT = 2,
    EDR_REC_FORK = 3,
    /* Telemetry (docs/telemetry.md): one record layout per family. */
    EDR_REC_NET = 10,
    EDR_REC_FILE = 11,
    EDR_REC_DNS = 12,
    EDR_REC_ATTACK = 13,
    EDR_REC_CGROUP = 14,
};

enum edr_exec_flags {
    EDR_EXEC_ARGS_TRUNCATED = 1 << 0,
    EDR_EXEC_PATH_TRUNCATED = 1 << 1,
    EDR_EXEC_CWD_TRUNCATED = 1 << 2,
    EDR_EXEC_ARGS_FAULT = 1 << 3,
    /* The file named in execve was not what runs: a #! script (or a binfmt_misc file) whose
     * interpreter is the executable above. */
    EDR_EXEC_SCRIPT = 1 << 4,
    EDR_EXEC_SCRIPT_TRUNCATED = 1 << 5,
    /* The script's own file was not found: script_len bytes are bprm->filename as passed to
     * execve (maybe relative), not components; the script identity is zero. */
    EDR_EXEC_SCRIPT_NAME_ONLY = 1 << 6,
    EDR_EXEC_ENV_TRUNCATED = 1 << 7,
    EDR_EXEC_ENV_FAULT = 1 << 8,
};

/* Where an event can be lost, per hook family; index = family * EDR_CTR_N + counter. */
enum edr_counter {
    EDR_CTR_SEEN = 0,       /* the hook ran */
    EDR_CTR_SUBMITTED = 1,  /* a record reached the ring buffer */
    EDR_CTR_RING_FULL = 2,  /* the ring buffer had no room: the record is lost */
    EDR_CTR_TOO_LARGE = 3,  /* the record could not be built within its bounds */
    EDR_CTR_NO_STATE = 4,   /* no state slot (task storage, pending map) to carry a call from entry to exit */
    EDR_CTR_N = 5,
};

enum edr_family {
    EDR_FAMILY_EXEC = 0,
    EDR_FAMILY_EXIT = 1,
    EDR_FAMILY_FORK = 2,
    EDR_FAMILY_NET = 3,
    EDR_FAMILY_FILE = 4,
    EDR_FAMILY_DNS = 5,
    EDR_FAMILY_ATTACK = 6,
    EDR_FAMILY_CGROUP = 7,
    EDR_FAMILY_N = 16,
};

struct edr_record_header {
    __u16 kind;
    __u16 version;
    __u32 size;           /* bytes of the whole record */
    __u64 ktime_boot_ns;  /* bpf_ktime_get_boot_ns() */
};

struct edr_task_ids {
    __u32 pid;            /* thread-group id */
    __u32 tid;
    __u32 ppid;
    __u32 uid;
    __u32 euid;
    __u32 gid;
    __u32 egid;
    __u32 loginuid;
    __u64 start_boottime_ns;
    __u64 parent_start_boottime_ns;
};

/* data[] holds, in order: argv (args_len bytes, NUL-separated), the executable's path
 * components leaf first (path_len bytes, each NUL-terminated), the cwd's components
 * (cwd_len bytes), the script's path components (script_len bytes; EDR_EXEC_SCRIPT only), then
 * envp as the new program sees it (env_len bytes, NUL-separated, at most EDR_ENV_MAX).
 * Components are reversed and joined in user space, not in the kernel; the environment is
 * filtered there too (only configured names reach an event). */
struct edr_exec_record {
    struct edr_record_header h;
    struct edr_task_ids ids;
    __u64 cgroup_id;
    __u32 flags;
    __u32 argc;
    __u16 args_len;
    __u16 path_len;
    __u16 cwd_len;
    __u16 script_len;
    char comm[16];
    /* The executed file's identity (its inode, as fstat would report it): the sensor opens
     * /proc/PID/exe for the detector only for a file it has not passed recently. */
    __u64 exe_ino;
    __u64 exe_size;
    __u64 exe_ctime_ns;   /* 0: unknown on this kernel */
    __u32 exe_dev;        /* kernel dev_t (major << 20 | minor) */
    __u32 exe_reserved;
    /* The script's identity, as above (zero unless EDR_EXEC_SCRIPT found its file). */
    __u64 script_ino;
    __u64 script_size;
    __u64 script_ctime_ns;
    __u32 script_dev;
    __u16 env_len;
    __u16 reserved;
    __u8 data[EDR_EXEC_DATA_MAX];
};

struct edr_exit_record {
    struct edr_record_header h;
    struct edr_task_ids ids;
    __u32 exit_code;
    __u32 reserved;
    char comm[16];
};

struct edr_fork_record {
    struct edr_record_header h;
    struct edr_task_ids ids;   /* the child; ppid is the forking process */
    char comm[16];
};

/* Telemetry records (network, files, DNS, post-exec activity, cgroups) share this layout. */
#include "edr_telemetry.h"

/* The detector reads these records by offset (Sources/EDRDetect/KernelRecords.swift,
 * TelemetryRecords.swift); KernelLayoutTests checks it member by member against the BTF of
 * bpf/edr_layout.c. A change here that moves what the Swift side reads fails to compile first:
 * change EDR_RECORD_VERSION and the decoder with it. */
_Static_assert(sizeof(struct edr_record_header) == 16, "record header");
_Static_assert(sizeof(struct edr_task_ids) == 48, "task ids");
_Static_assert(__builtin_offsetof(struct edr_exec_record, data) == 168, "exec record fixed part");
_Static_assert(sizeof(struct edr_exit_record) == 88, "exit record");
_Static_assert(sizeof(struct edr_fork_record) == 80, "fork record");
_Static_assert(sizeof(struct edr_ctx) == 72, "telemetry context");
_Static_assert(sizeof(struct edr_net_record) == 136, "net record");
_Static_assert(__builtin_offsetof(struct edr_file_record, data) == 112, "file record fixed part");
_Static_assert(__builtin_offsetof(struct edr_dns_record, data) == 136, "dns record fixed part");
_Static_assert(__builtin_offsetof(struct edr_attack_record, data) == 144, "attack record fixed part");
_Static_assert(sizeof(struct edr_cgroup_record) == 288, "cgroup record");
_Static_assert(EDR_CTR_N == 5 && EDR_FAMILY_N == 16, "counter map shape (KernelCounters in Wire.swift)");

#endif
