// Namespaces: unshare, setns, hostnames, a user namespace held by an fd, ownership.
#include "internal.h"

int berth_unshare(int flags) { return unshare(flags); }

int berth_setns(int fd, int nstype) { return setns(fd, nstype); }

int berth_sethostname(const char *n, size_t l) { return sethostname(n, l); }

int berth_setdomainname(const char *n, size_t l) { return setdomainname(n, l); }

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

/* Whether namespace `ns_fd` is owned by user namespace `userns_fd` (NS_GET_USERNS). */
int berth_ns_owned_by(int ns_fd, int userns_fd) {
    int owner = ioctl(ns_fd, _IO(0xb7, 0x1));
    if (owner < 0) return 0;
    struct stat a, b;
    int same = fstat(owner, &a) == 0 && fstat(userns_fd, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
    close(owner);
    return same;
}
