/* Not a BPF program: never loaded, never linked into edr.bpf.o. Compiled with the same
 * compiler and flags as the programs so that its BTF describes every record and counter
 * declared in edr_events.h, including the ones no program names as a type (exit and fork
 * records are built on the stack; the counter enums are used as constants only).
 * Tests/EDRDetectTests/KernelLayoutTests.swift reads it and checks the Swift side against it. */
#include "vmlinux.h"
#include "edr_events.h"

struct edr_exit_record edr_layout_exit;
struct edr_fork_record edr_layout_fork;
struct edr_exec_record edr_layout_exec;
struct edr_net_record edr_layout_net;
struct edr_file_record edr_layout_file;
struct edr_dns_record edr_layout_dns;
struct edr_attack_record edr_layout_attack;
struct edr_cgroup_record edr_layout_cgroup;
enum edr_record_kind edr_layout_kind;
enum edr_counter edr_layout_counter;
enum edr_family edr_layout_family;
