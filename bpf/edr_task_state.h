/* The calling task: its ids, cgroup and comm for a record's context, whether it is the
 * agent's own, and what its syscall's entry saw for the exit hook. */
#ifndef EDR_TASK_STATE_H
#define EDR_TASK_STATE_H

/* What a syscall's entry saw, for its exit. One map per family (they attach separately). */
struct edr_sys_state {
    __u64 args[6];
    __u32 id;
    __u32 aux;
    __u8 addr[28];        /* a sockaddr read at entry */
    __u32 addrlen;
};

/* A task: ids as process.bpf.c fills them, cgroup, comm. io_uring completions name the
 * request's owner, which need not be the task the tracepoint runs in. */
static __always_inline void fill_ctx_of(struct edr_ctx *c, struct task_struct *task)
{
    struct task_struct *parent = BPF_CORE_READ(task, real_parent);
    const struct cred *cred = BPF_CORE_READ(task, real_cred);
    c->ids.pid = BPF_CORE_READ(task, tgid);
    c->ids.tid = BPF_CORE_READ(task, pid);
    c->ids.ppid = BPF_CORE_READ(parent, tgid);
    c->ids.uid = BPF_CORE_READ(cred, uid.val);
    c->ids.euid = BPF_CORE_READ(cred, euid.val);
    c->ids.gid = BPF_CORE_READ(cred, gid.val);
    c->ids.egid = BPF_CORE_READ(cred, egid.val);
    c->ids.loginuid = BPF_CORE_READ(task, loginuid.val);
    struct task_struct *leader = BPF_CORE_READ(task, group_leader);
    c->ids.start_boottime_ns = BPF_CORE_READ(leader, start_boottime);
    struct task_struct *pleader = BPF_CORE_READ(parent, group_leader);
    c->ids.parent_start_boottime_ns = BPF_CORE_READ(pleader, start_boottime);
    c->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
    BPF_CORE_READ_STR_INTO(&c->comm, task, comm);
    note_cgroup_of(task, c->cgroup_id);
}

/* The calling task. */
static __always_inline void fill_ctx(struct edr_ctx *c)
{
    fill_ctx_of(c, (struct task_struct *)bpf_get_current_task());
}

static __always_inline int current_is_agent(void)
{
    return is_agent((struct task_struct *)bpf_get_current_task());
}

#endif
