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
 * delay it does not watch the ring, so records then cost no wake-up at all. Past this much
 * waiting, force a wake-up anyway. */
#define EDR_WAKEUP_BYTES (256 * 1024)

/* Copies a built record into the ring buffer and counts the outcome. */
static __always_inline void submit(__u32 family, void *record, __u64 size)
{
    __u64 flags = bpf_ringbuf_query(&edr_events, BPF_RB_AVAIL_DATA) + size >= EDR_WAKEUP_BYTES
        ? BPF_RB_FORCE_WAKEUP : 0;
    if (bpf_ringbuf_output(&edr_events, record, size, flags) == 0)
        count(family, EDR_CTR_SUBMITTED);
    else
        count(family, EDR_CTR_RING_FULL);
}

#endif
