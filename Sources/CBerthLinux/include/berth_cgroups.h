// cgroup v2 device filters: loading and attaching the eBPF program.
#ifndef BERTH_CGROUPS_H
#define BERTH_CGROUPS_H

#include <stdint.h>
#include <sys/types.h>

/// Loads a CGROUP_DEVICE program and attaches it to the cgroup: 0, or -1 with errno when the load
/// failed (the verifier's log in `log`), -2 when the attach failed.
int berth_bpf_attach_device_filter(int cgroup_fd, const void *insns, unsigned int count, char *log, unsigned int log_size);

#endif
