// Declarations Swift's Glibc module lacks. One-line syscall wrappers and fd-passing only;
// _GNU_SOURCE lives in the .c file because defining it here breaks the Clang module build.
#ifndef CBERTH_LINUX_H
#define CBERTH_LINUX_H

#include <stdint.h>
#include <sys/types.h>

/// Fork-like clone: the child continues on a copy of the caller's stack (no new stack),
/// entering the namespaces named by `flags` (CLONE_NEW*) at once. Returns 0 in the child.
pid_t berth_clone(unsigned long flags);
/// clone3 with CLONE_INTO_CGROUP (cgroup v2): the child is born inside `cgroup_fd`.
pid_t berth_clone3_into_cgroup(unsigned long flags, int cgroup_fd);
int berth_unshare(int flags);
int berth_setns(int fd, int nstype);
int berth_pivot_root(const char *new_root, const char *put_old);
int berth_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data);
int berth_umount2(const char *target, int flags);
int berth_sethostname(const char *name, size_t len);
int berth_setdomainname(const char *name, size_t len);
/// openat2(2) with `resolve` flags (RESOLVE_IN_ROOT etc.).
int berth_openat2(int dirfd, const char *path, int flags, int mode, uint64_t resolve);
int berth_pidfd_open(pid_t pid);
int berth_pidfd_send_signal(int pidfd, int sig);
int berth_close_range_cloexec(unsigned int first);
/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+, hidden from Swift's Glibc module); `actions` is a posix_spawn_file_actions_t *.
int berth_spawn_actions_closefrom(void *actions, int from);
int berth_setgroups(size_t n, const gid_t *groups);
int berth_setresuid(uid_t r, uid_t e, uid_t s);
int berth_setresgid(gid_t r, gid_t e, gid_t s);

/// Capability sets as three 64-bit masks (kernel ABI version 3).
int berth_capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);
int berth_capget(uint64_t *effective, uint64_t *permitted, uint64_t *inheritable);
int berth_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
/// Installs a classic BPF filter (an array of `struct sock_filter`, 8 bytes each).
int berth_seccomp_set_filter(const void *instructions, unsigned short count, unsigned int flags);

/// Terminal ioctls (ioctl is variadic, so Swift cannot call it).
int berth_set_controlling_tty(int fd);
int berth_ptsname_unlock(int master, char *buf, size_t len);
int berth_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int berth_set_winsize(int fd, unsigned short rows, unsigned short cols);
int berth_make_raw(int fd, void *saved, size_t saved_len);
int berth_restore_termios(int fd, const void *saved, size_t saved_len);
size_t berth_termios_size(void);

/// SCM_RIGHTS over a unix socket (CMSG_* are macros).
int berth_send_fd(int sock, int fd, const char *name);
int berth_recv_fd(int sock, char *name, size_t name_len);

/// signalfd for the blocked set `signals` (a bit per signal number, 1..63).
int berth_signalfd(uint64_t signals);
int berth_block_signals(uint64_t signals);
int berth_unblock_all_signals(void);
int berth_reset_signal_handlers(void);
/// Reads one signalfd_siginfo: returns the signal number, or -1.
int berth_read_signalfd(int fd, int *pid, int *status);

int berth_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor);
int berth_mkfifo(const char *path, unsigned int mode);
int berth_execve(const char *path, char *const argv[], char *const envp[]);

/// Errno helpers: Swift's `errno` is fine, but strerror text is lower-cased Go-style by the caller.
int berth_errno(void);
/// memfd_create with MFD_CLOEXEC (used to hold an exported seccomp program).
int berth_memfd(const char *name);
/// statfs(2) f_type (filesystem magic), or -1.
long berth_statfs_type(const char *path);
int berth_setrlimit(int resource, uint64_t soft, uint64_t hard);
int berth_mknodat(int dirfd, const char *name, unsigned int mode, unsigned int major, unsigned int minor);
/// Loads a CGROUP_DEVICE program and attaches it to the cgroup: 0, or -1 with errno when the load
/// failed (the verifier's log in `log`), -2 when the attach failed.
int berth_bpf_attach_device_filter(int cgroup_fd, const void *insns, unsigned int count, char *log, unsigned int log_size);
#endif

/// Extended attributes (sys/xattr.h is not in Swift's Glibc module). `l` variants do not follow.
long berth_lgetxattr(const char *path, const char *name, void *value, unsigned long size);
long berth_llistxattr(const char *path, char *list, unsigned long size);
int berth_setxattr(const char *path, const char *name, const void *value, unsigned long size);
/// Major and minor numbers of a dev_t.
unsigned int berth_major(unsigned long dev);
unsigned int berth_minor(unsigned long dev);

/// Mounts overlayfs with the new mount API, one `lowerdir+` per layer (kernel 6.8+), so the
/// number of layers is not bounded by a one-page option string. `lowers` is NUL-separated,
/// nearest layer first. With `userns_fd` >= 0 every layer is an idmapped clone, `upper` and
/// `work` are names under `upper_parent`, and the overlay is created as `uid`/`gid`. Returns 0,
/// or -1 with errno (EINVAL when the kernel lacks lowerdir+).
int berth_mount_overlay(const char *lowers, unsigned long lowers_len, const char *upper_parent, const char *upper,
                        const char *work, const char *target, int readonly, int userns_fd, uid_t uid, gid_t gid);
/// An idmapped bind of `source` at `target` (the vfs driver's rootfs under --userns-remap).
int berth_mount_idmapped_bind(const char *source, const char *target, int userns_fd);
/// An fd holding a new user namespace with these maps, for idmapped mounts.
int berth_make_userns(const char *uid_map, const char *gid_map);
/// Whether a namespace (fd) is owned by a user namespace (fd): 1 or 0.
int berth_ns_owned_by(int ns_fd, int userns_fd);
/// This thread's file system IDs set to a remapped root, capabilities kept; returns what
/// `berth_leave_fsids` restores.
int berth_enter_fsids(uid_t uid, gid_t gid);
void berth_leave_fsids(int bits);

/// copy_file_range(2) from the current offsets (reflinks or in-kernel copy where the fs can).
long berth_copy_file_range(int in_fd, int out_fd, unsigned long length);

/// pipe2(fds, O_CLOEXEC) and accept4(..., SOCK_CLOEXEC), which Swift's Glibc does not export.
int berth_pipe_cloexec(int fds[2]);
int berth_accept_cloexec(int fd);
/// Marks the caller a child subreaper: orphaned descendants are reparented to it.
int berth_set_subreaper(void);
