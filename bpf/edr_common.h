/* Maps and helpers every hook family shares: the ring buffer, the loss counters and the
 * set of the agent's own processes, which are filtered out here, in the kernel. */
#ifndef EDR_COMMON_H
#define EDR_COMMON_H

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 * 1024 * 1024); /* resized by the loader from config */
} edr_events SEC(".maps") __weak; /* weak: every hook file includes this header */

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, EDR_FAMILY_N * EDR_CTR_N);
    __type(key, __u32);
    __type(value, __u64);
} edr_counters SEC(".maps") __weak;

/* Thread-group ids of the agent's own processes (key: tgid). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u8);
} edr_agent_pids SEC(".maps") __weak;

/* Written by the sensor through a shared mapping (no system call): 1 while it sleeps a batch
 * delay instead of waiting on the ring, so records then ask for no wake-up (see submit). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
    __uint(map_flags, BPF_F_MMAPABLE);
} edr_consumer SEC(".maps") __weak;

static __always_inline void count(__u32 family, __u32 counter)
{
    __u32 key = family * EDR_CTR_N + counter;
    __u64 *v = bpf_map_lookup_elem(&edr_counters, &key);
    if (v)
        *v += 1;
}

/* The agent's own processes: the supervisor and the sensor are in edr_agent_pids, and every
 * other agent process (edr-detect, edr-respond, restarted or not) is a child of the supervisor. */
static __always_inline int is_agent(struct task_struct *task)
{
    __u32 tgid = BPF_CORE_READ(task, tgid);
    if (bpf_map_lookup_elem(&edr_agent_pids, &tgid))
        return 1;
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    __u32 ptgid = BPF_CORE_READ(parent, tgid);
    return bpf_map_lookup_elem(&edr_agent_pids, &ptgid) != 0;
}

/* The kernel's default (adaptive) notification wakes the sensor only for a record written
 * when it had read everything: the first record of a burst. While the sensor sleeps its batch
 * delay (edr_consumer says so) records ask for no wake-up at all. Past this much waiting a
 * record forces one, which the sensor watches for in both states: a flood is drained every
 * 256 KiB, however long the batch delay. */
#define EDR_WAKEUP_BYTES (256 * 1024)

/* Copies a built record into the ring buffer and counts the outcome. */
static __always_inline void submit(__u32 family, void *record, __u64 size)
{
    __u32 zero = 0;
    __u32 *batching = bpf_map_lookup_elem(&edr_consumer, &zero);
    __u64 flags = bpf_ringbuf_query(&edr_events, BPF_RB_AVAIL_DATA) + size >= EDR_WAKEUP_BYTES
        ? BPF_RB_FORCE_WAKEUP
        : (batching && *batching ? BPF_RB_NO_WAKEUP : 0);
    if (bpf_ringbuf_output(&edr_events, record, size, flags) == 0)
        count(family, EDR_CTR_SUBMITTED);
    else
        count(family, EDR_CTR_RING_FULL);
}

/* One step of a path walk, leaf first, each component NUL-terminated, through bpf_loop (a plain
 * loop over 64 components would be unrolled into more states than the verifier accepts).
 * Shared by the exec record (process.bpf.c) and the telemetry records (edr_tel_paths.h);
 * each step callback looks up its own per-CPU scratch buffer and calls this. */
struct edr_walk {
    struct dentry *dentry;
    struct vfsmount *vfsmnt;
    struct mount *mnt;
    __u32 start;
    __u32 len;
    __u32 limit;   /* the walk stops (truncated) once len + EDR_NAME_MAX would pass this */
    int truncated;
    int done;
};

static __always_inline void edr_walk_init(struct edr_walk *w, struct dentry *dentry, struct vfsmount *vfsmnt,
                                          __u32 start, __u32 limit)
{
    w->dentry = dentry;
    w->vfsmnt = vfsmnt;
    w->mnt = (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
    w->start = start;
    w->len = 0;
    w->limit = limit;
    w->truncated = 0;
    w->done = 0;
}

static __always_inline long edr_walk_step(struct edr_walk *w, __u8 *buf, __u32 buf_size)
{
    /* Locals, not w->field, inside BPF_CORE_READ: only kernel types are relocated. */
    struct dentry *dentry = w->dentry;
    struct vfsmount *vfsmnt = w->vfsmnt;
    struct mount *mnt = w->mnt;
    struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
    struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
    /* A memfd, pipe or socket is a lone dentry, its own parent: keep its name. */
    int pseudo = dentry == parent && dentry != mnt_root;
    if (!pseudo && (dentry == mnt_root || dentry == parent)) {
        struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);
        if (dentry != mnt_root || mp == mnt || !mp) {
            w->done = 1; /* the root of the root mount, or of a detached one */
            return 1;
        }
        w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
        w->mnt = mp;
        w->vfsmnt = (struct vfsmount *)((void *)mp + bpf_core_field_offset(struct mount, mnt));
        return 0;
    }
    const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
    __u32 off = w->start + w->len;
    if (w->len + EDR_NAME_MAX > w->limit || off > buf_size - EDR_NAME_MAX) {
        w->truncated = 1;
        return 1;
    }
    long n = bpf_probe_read_kernel_str(buf + off, EDR_NAME_MAX, name);
    if (n <= 0) {
        w->done = 1;
        return 1;
    }
    w->len += (__u32)n;
    w->dentry = parent;
    if (pseudo) {
        w->done = 1;
        return 1;
    }
    return 0;
}

#endif
