// Credentials: IDs, capabilities, prctl, seccomp, per-thread file system IDs.
#include "internal.h"

int berth_setgroups(size_t n, const gid_t *g) { return (int)syscall(SYS_setgroups, n, g); }

int berth_setresuid(uid_t r, uid_t e, uid_t s) { return (int)syscall(SYS_setresuid, r, e, s); }

int berth_setresgid(gid_t r, gid_t e, gid_t s) { return (int)syscall(SYS_setresgid, r, e, s); }

int berth_capset(uint64_t eff, uint64_t perm, uint64_t inh) {
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    data[0].effective = (uint32_t)eff; data[1].effective = (uint32_t)(eff >> 32);
    data[0].permitted = (uint32_t)perm; data[1].permitted = (uint32_t)(perm >> 32);
    data[0].inheritable = (uint32_t)inh; data[1].inheritable = (uint32_t)(inh >> 32);
    return (int)syscall(SYS_capset, &hdr, data);
}

int berth_prctl(int o, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) { return prctl(o, a2, a3, a4, a5); }

int berth_seccomp_set_filter(const void *ins, unsigned short count, unsigned int flags) {
    struct sock_fprog prog = { count, (struct sock_filter *)ins };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int berth_enter_fsids(uid_t uid, gid_t gid) {
    int bits = prctl(PR_GET_SECUREBITS);
    prctl(PR_SET_SECUREBITS, bits | SECBIT_NO_SETUID_FIXUP);
    setfsgid(gid);
    setfsuid(uid);
    return bits;
}

void berth_leave_fsids(int bits) {
    setfsuid(0);
    setfsgid(0);
    prctl(PR_SET_SECUREBITS, bits);
}
