/* Cgroup names: sent in a record of their own the first time (then at most once a minute)
 * a cgroup id appears, so records carry only the id. */
#ifndef EDR_CGROUP_NAMES_H
#define EDR_CGROUP_NAMES_H

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

#endif
