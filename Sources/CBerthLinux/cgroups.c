// cgroup v2 device filters: loading and attaching the eBPF program.
#include "internal.h"

int berth_bpf_attach_device_filter(int cgroup_fd, const void *insns, unsigned int count, char *log, unsigned int log_size) {
    static const char license[] = "Apache";
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = count;
    attr.license = (uint64_t)(uintptr_t)license;
    int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
    if (prog < 0 && errno != EPERM && log != NULL && log_size > 0) {
        /* Again with the verifier's log: only a refused program pays for it. */
        int saved = errno;
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = log_size;
        attr.log_level = 1;
        prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
        if (prog < 0) errno = saved;
    }
    if (prog < 0) return -1;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
    int saved = errno;
    close(prog);
    errno = saved;
    return rc == 0 ? 0 : -2;
}
