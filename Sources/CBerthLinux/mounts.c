// Mounts: mount, pivot_root, overlay through the new mount API, idmapped binds, statfs.
#include "internal.h"

int berth_pivot_root(const char *n, const char *o) { return (int)syscall(SYS_pivot_root, n, o); }

int berth_mount(const char *s, const char *t, const char *f, unsigned long fl, const char *d) { return mount(s, t, f, fl, d); }

int berth_umount2(const char *t, int f) { return umount2(t, f); }

long berth_statfs_type(const char *path) {
    struct statfs st;
    if (statfs(path, &st) != 0) return -1;
    return (long)st.f_type;
}

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
