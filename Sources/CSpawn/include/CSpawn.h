#ifndef CSPAWN_H
#define CSPAWN_H
#ifdef __linux__
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// What a confined child is: everything here is applied between fork and execve, so the
/// child's first instruction already runs with its final identity, capabilities and filter.
struct edr_spawn_spec {
    const char *path;
    char *const *argv;
    char *const *envp;
    const int *fds;          /* fds[i] becomes descriptor 3+i in the child; all others close */
    int nfds;
    int stdout_fd;           /* -1 keeps the parent's */
    int stderr_fd;           /* -1 keeps the parent's */
    int set_ids;             /* change to uid/gid below */
    uid_t uid;
    gid_t gid;
    uint64_t caps;           /* capability bits kept: bounding, permitted, effective, inheritable (+ambient if uid != 0) */
    int no_new_privs;
    const void *seccomp_filter; /* struct sock_filter[], or NULL */
    size_t seccomp_len;         /* bytes */
    int exec_fd;             /* >= 0: execveat(exec_fd, "", AT_EMPTY_PATH) instead of execve(path) */
    int unshare_flags;       /* CLONE_NEW* namespaces entered before the uid change (0: none) */
    int pdeathsig;           /* signal sent to the child when the supervisor dies; 0 for none */
    int new_process_group;
    const gid_t *groups;     /* supplementary groups besides gid (edr-logs: systemd-journal, adm) */
    int ngroups;
};

/// Which step failed in the child (reported with its errno).
enum edr_spawn_stage {
    EDR_SPAWN_OK = 0,
    EDR_SPAWN_FORK, EDR_SPAWN_PIPE, EDR_SPAWN_SIGNALS, EDR_SPAWN_FDS, EDR_SPAWN_BOUNDING,
    EDR_SPAWN_GROUPS, EDR_SPAWN_GID, EDR_SPAWN_KEEPCAPS, EDR_SPAWN_UID, EDR_SPAWN_CAPSET,
    EDR_SPAWN_AMBIENT, EDR_SPAWN_PDEATHSIG, EDR_SPAWN_NNP, EDR_SPAWN_SECCOMP, EDR_SPAWN_EXEC,
    EDR_SPAWN_UNSHARE,
};

/// Forks, confines and executes. Returns 0 and sets *pid on success; on failure returns the
/// failing stage and sets *err to its errno (the child, if any, has been reaped).
int edr_spawn(const struct edr_spawn_spec *spec, pid_t *pid, int *err);

/// Name of a stage for error messages.
const char *edr_spawn_stage_name(int stage);

/// The highest capability number the kernel knows (from /proc/sys/kernel/cap_last_cap).
int edr_cap_last_cap(void);
#endif
#endif
