/* Kernel-side helpers of the telemetry hook families (network, file, dns, attack), one header
 * per job. Included after edr_events.h and edr_common.h; the order below is the order they
 * depend on each other (and keeps the maps in the object in their old order). */
#ifndef EDR_TELEMETRY_BPF_H
#define EDR_TELEMETRY_BPF_H

#include "edr_kernel_abi.h"      /* syscall numbers, register access, kernel constants */
#include "edr_tel_record.h"      /* the per-CPU scratch record */
#include "edr_cgroup_names.h"    /* cgroup name records */
#include "edr_task_state.h"      /* the calling task's context, per-thread syscall state */
#include "edr_files.h"           /* descriptor -> file -> socket, sockaddrs, DNS descriptors */
#include "edr_tel_paths.h"       /* paths and user strings into the scratch record */

#endif
