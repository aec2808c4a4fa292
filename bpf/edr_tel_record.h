/* The per-CPU scratch record every telemetry family builds its record in (too large for
 * the BPF stack), then submits (submit() in edr_common.h). */
#ifndef EDR_TEL_RECORD_H
#define EDR_TEL_RECORD_H

/* One record of any telemetry family is built here: too large for the BPF stack. */
#define EDR_TEL_SCRATCH 24576
struct edr_tel_buf {
    __u8 b[EDR_TEL_SCRATCH];
};
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct edr_tel_buf);
} edr_tel_scratch SEC(".maps") __weak;

static __always_inline struct edr_tel_buf *tel_scratch(void)
{
    __u32 zero = 0;
    return bpf_map_lookup_elem(&edr_tel_scratch, &zero);
}

#endif
