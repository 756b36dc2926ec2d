#define _GNU_SOURCE
#include "CBerthLinux.h"
#include <spawn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

pid_t berth_clone(unsigned long flags) {
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

pid_t berth_clone3_into_cgroup(unsigned long flags, int cgroup_fd) {
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

int berth_unshare(int flags) { return unshare(flags); }
int berth_setns(int fd, int nstype) { return setns(fd, nstype); }
int berth_pivot_root(const char *n, const char *o) { return (int)syscall(SYS_pivot_root, n, o); }
int berth_mount(const char *s, const char *t, const char *f, unsigned long fl, const char *d) { return mount(s, t, f, fl, d); }
int berth_umount2(const char *t, int f) { return umount2(t, f); }
int berth_sethostname(const char *n, size_t l) { return sethostname(n, l); }
int berth_setdomainname(const char *n, size_t l) { return setdomainname(n, l); }

int berth_openat2(int dirfd, const char *path, int flags, int mode, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)flags;
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? (uint64_t)mode : 0;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int berth_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int berth_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }
int berth_spawn_actions_closefrom(void *actions, int from) { return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, from); }
int berth_close_range_cloexec(unsigned int first) { return (int)syscall(SYS_close_range, first, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */); }
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

int berth_capget(uint64_t *eff, uint64_t *perm, uint64_t *inh) {
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) != 0) return -1;
    *eff = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
    *perm = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
    *inh = (uint64_t)data[0].inheritable | ((uint64_t)data[1].inheritable << 32);
    return 0;
}

int berth_prctl(int o, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) { return prctl(o, a2, a3, a4, a5); }

int berth_seccomp_set_filter(const void *ins, unsigned short count, unsigned int flags) {
    struct sock_fprog prog = { count, (struct sock_filter *)ins };
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

int berth_set_controlling_tty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }

int berth_ptsname_unlock(int master, char *buf, size_t len) {
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0) return -1;
    return ptsname_r(master, buf, len);
}

int berth_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row; *cols = ws.ws_col;
    return 0;
}

int berth_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws = { rows, cols, 0, 0 };
    return ioctl(fd, TIOCSWINSZ, &ws);
}

size_t berth_termios_size(void) { return sizeof(struct termios); }

int berth_make_raw(int fd, void *saved, size_t saved_len) {
    struct termios t;
    if (saved_len < sizeof(t) || tcgetattr(fd, &t) != 0) return -1;
    memcpy(saved, &t, sizeof(t));
    cfmakeraw(&t);
    return tcsetattr(fd, TCSANOW, &t);
}

int berth_restore_termios(int fd, const void *saved, size_t saved_len) {
    if (saved_len < sizeof(struct termios)) return -1;
    return tcsetattr(fd, TCSANOW, (const struct termios *)saved);
}

int berth_send_fd(int sock, int fd, const char *name) {
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof(control));
    struct iovec iov = { (void *)name, strlen(name) };
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov; msg.msg_iovlen = 1;
    msg.msg_control = control; msg.msg_controllen = sizeof(control);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, 0) < 0 ? -1 : 0;
}

int berth_recv_fd(int sock, char *name, size_t name_len) {
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { name, name_len > 0 ? name_len - 1 : 0 };
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov; msg.msg_iovlen = 1;
    msg.msg_control = control; msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return -1;
    if (name_len > 0) name[n] = 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) { errno = EBADMSG; return -1; }
    int fd; memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

static void fill_set(sigset_t *set, uint64_t signals) {
    sigemptyset(set);
    for (int s = 1; s < 64; s++) if (signals & (1ULL << s)) sigaddset(set, s);
}

int berth_signalfd(uint64_t signals) {
    sigset_t set; fill_set(&set, signals);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

int berth_block_signals(uint64_t signals) {
    sigset_t set; fill_set(&set, signals);
    return sigprocmask(SIG_BLOCK, &set, NULL);
}

int berth_unblock_all_signals(void) {
    sigset_t set; sigemptyset(&set);
    return sigprocmask(SIG_SETMASK, &set, NULL);
}

int berth_reset_signal_handlers(void) {
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        signal(s, SIG_DFL);
    }
    return 0;
}

int berth_read_signalfd(int fd, int *pid, int *status) {
    struct signalfd_siginfo info;
    if (read(fd, &info, sizeof(info)) != sizeof(info)) return -1;
    *pid = (int)info.ssi_pid; *status = info.ssi_status;
    return (int)info.ssi_signo;
}

int berth_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor) {
    return mknod(path, mode, makedev(major, minor));
}
int berth_mkfifo(const char *path, unsigned int mode) { return mkfifo(path, mode); }
int berth_execve(const char *path, char *const argv[], char *const envp[]) { return execve(path, argv, envp); }
int berth_errno(void) { return errno; }
int berth_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

#include <linux/bpf.h>
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

#include <sys/vfs.h>
long berth_statfs_type(const char *path) {
    struct statfs st;
    if (statfs(path, &st) != 0) return -1;
    return (long)st.f_type;
}

#include <sys/resource.h>
int berth_setrlimit(int resource, uint64_t soft, uint64_t hard) {
    struct rlimit rl = { (rlim_t)soft, (rlim_t)hard };
    return setrlimit(resource, &rl);
}
int berth_mknodat(int dirfd, const char *name, unsigned int mode, unsigned int major, unsigned int minor) {
    return mknodat(dirfd, name, mode, makedev(major, minor));
}

long berth_lgetxattr(const char *path, const char *name, void *value, unsigned long size) {
    return lgetxattr(path, name, value, size);
}

long berth_llistxattr(const char *path, char *list, unsigned long size) {
    return llistxattr(path, list, size);
}

int berth_setxattr(const char *path, const char *name, const void *value, unsigned long size) {
    return setxattr(path, name, value, size, 0);
}

unsigned int berth_major(unsigned long dev) { return major(dev); }
unsigned int berth_minor(unsigned long dev) { return minor(dev); }

#include <linux/mount.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <sys/fsuid.h>
#include <sys/wait.h>

/* A detached clone of `path` whose IDs read through `userns_fd`'s mapping (no idmap: -1). */
static int clone_tree(int dirfd, const char *path, int userns_fd) {
    int t = (int)syscall(SYS_open_tree, dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (t < 0 || userns_fd < 0) return t;
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd };
    if (syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
        int saved = errno;
        close(t);
        errno = saved;
        return -1;
    }
    return t;
}

/* Layers passed as detached idmapped mounts live only as long as the overlay that holds them:
   nothing to unmount afterwards. Upper and work must share a parent (one idmapped clone). The
   overlay keeps its creator's credentials for copy-up, so with an idmap it is created with the
   remapped root's fsuid/fsgid (capabilities kept): files it writes land on disk as real IDs. */
int berth_mount_overlay(const char *lowers, unsigned long lowers_len, const char *upper_parent, const char *upper,
                        const char *work, const char *target, int readonly, int userns_fd, uid_t uid, gid_t gid) {
    int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    int saved, parent = -1, mnt = -1;
    /* A detached tree is dissolved when its last fd closes: the clones stay open until the
       overlay has taken its own private clones of them, at create. */
    int *layers = userns_fd >= 0 ? calloc(lowers_len, sizeof(int)) : NULL;
    unsigned long count = 0;
    if (userns_fd >= 0 && !layers) { close(fs); errno = ENOMEM; return -1; }
    for (unsigned long i = 0; i < lowers_len; i += strlen(lowers + i) + 1) {
        if (userns_fd < 0) {
            if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir+", lowers + i, 0) < 0) goto fail;
            continue;
        }
        int layer = clone_tree(AT_FDCWD, lowers + i, userns_fd);
        if (layer < 0) goto fail;
        layers[count++] = layer;
        if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "lowerdir+", NULL, layer) < 0) goto fail;
    }
    if (upper && userns_fd >= 0) {
        if ((parent = clone_tree(AT_FDCWD, upper_parent, userns_fd)) < 0) goto fail;
        int u = openat(parent, upper, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int w = openat(parent, work, O_PATH | O_DIRECTORY | O_CLOEXEC);
        int rc = (u < 0 || w < 0) ? -1 : (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "upperdir", NULL, u);
        if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "workdir", NULL, w);
        saved = errno;
        if (u >= 0) close(u);
        if (w >= 0) close(w);
        errno = saved;
        if (rc < 0) goto fail;
    } else {
        if (upper && syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0) goto fail;
        if (work && syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0) goto fail;
    }
    int bits = prctl(PR_GET_SECUREBITS);
    if (userns_fd >= 0) {
        prctl(PR_SET_SECUREBITS, bits | SECBIT_NO_SETUID_FIXUP);
        setfsuid(uid);
        setfsgid(gid);
    }
    int created = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    saved = errno;
    if (userns_fd >= 0) {
        setfsuid(0);
        setfsgid(0);
        prctl(PR_SET_SECUREBITS, bits);
    }
    errno = saved;
    if (created < 0) goto fail;
    mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, readonly ? MOUNT_ATTR_RDONLY : 0);
    if (mnt < 0) goto fail;
    int rc = (int)syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    saved = errno;
    close(mnt);
    goto done;
fail:
    saved = errno;
    rc = -1;
done:
    close(fs);
    if (parent >= 0) close(parent);
    for (unsigned long i = 0; i < count; i++) close(layers[i]);
    free(layers);
    errno = saved;
    return rc;
}

int berth_mount_idmapped_bind(const char *source, const char *target, int userns_fd) {
    int t = clone_tree(AT_FDCWD, source, userns_fd);
    if (t < 0) return -1;
    int rc = (int)syscall(SYS_move_mount, t, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    int saved = errno;
    close(t);
    errno = saved;
    return rc;
}

/* A user namespace with these maps ("0 100000 65536"), held by the returned fd: a child unshares
   it and waits while the parent writes its maps. Only async-signal-safe calls in the child. */
int berth_make_userns(const char *uid_map, const char *gid_map) {
    int ready[2], release[2];
    if (pipe2(ready, O_CLOEXEC) < 0) return -1;
    if (pipe2(release, O_CLOEXEC) < 0) { close(ready[0]); close(ready[1]); return -1; }
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(ready[0]); close(ready[1]); close(release[0]); close(release[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        close(ready[0]);
        close(release[1]);  /* or its own copy would keep the read below from ever ending */
        char c = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
        (void)!write(ready[1], &c, 1);
        (void)!read(release[0], &c, 1);
        _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    char c = 'n', path[64];
    int fd = -1, saved = EPERM;
    if (read(ready[0], &c, 1) == 1 && c == 'y') {
        const char *maps[2] = { uid_map, gid_map };
        const char *files[2] = { "uid_map", "gid_map" };
        int ok = 1;
        for (int i = 0; i < 2 && ok; i++) {
            snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, files[i]);
            int m = open(path, O_WRONLY | O_CLOEXEC);
            ok = m >= 0 && write(m, maps[i], strlen(maps[i])) == (ssize_t)strlen(maps[i]);
            if (!ok) saved = errno;
            if (m >= 0) close(m);
        }
        if (ok) {
            snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            saved = errno;
        }
    }
    (void)!write(release[1], "x", 1);
    close(release[1]);
    close(ready[0]);
    waitpid(pid, NULL, 0);
    errno = saved;
    return fd;
}

long berth_copy_file_range(int in_fd, int out_fd, unsigned long length) {
    return (long)copy_file_range(in_fd, NULL, out_fd, NULL, length, 0);
}

int berth_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
int berth_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }
int berth_set_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

/* Whether namespace `ns_fd` is owned by user namespace `userns_fd` (NS_GET_USERNS). */
int berth_ns_owned_by(int ns_fd, int userns_fd) {
    int owner = ioctl(ns_fd, _IO(0xb7, 0x1));
    if (owner < 0) return 0;
    struct stat a, b;
    int same = fstat(owner, &a) == 0 && fstat(userns_fd, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
    close(owner);
    return same;
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
