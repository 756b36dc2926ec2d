// Credentials: IDs, capabilities, prctl, seccomp, per-thread file system IDs.
#ifndef BERTH_CREDENTIALS_H
#define BERTH_CREDENTIALS_H

#include <stdint.h>
#include <sys/types.h>

int berth_setgroups(size_t n, const gid_t *groups);
int berth_setresuid(uid_t r, uid_t e, uid_t s);
int berth_setresgid(gid_t r, gid_t e, gid_t s);
/// Capability sets as three 64-bit masks (kernel ABI version 3).
int berth_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);
int berth_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
/// Installs a classic BPF filter (an array of `struct sock_filter`, 8 bytes each).
int berth_seccomp_set_filter(const void *instructions, unsigned short count, unsigned int flags);
/// This thread's file system IDs set to a remapped root, capabilities kept; returns what
/// `berth_leave_fsids` restores.
int berth_enter_fsids(uid_t uid, gid_t gid);
void berth_leave_fsids(int bits);

#endif
