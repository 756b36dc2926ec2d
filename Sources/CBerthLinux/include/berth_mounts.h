// Mounts: mount, pivot_root, overlay through the new mount API, idmapped binds, statfs.
#ifndef BERTH_MOUNTS_H
#define BERTH_MOUNTS_H

#include <stdint.h>
#include <sys/types.h>

int berth_pivot_root(const char *new_root, const char *put_old);
int berth_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data);
int berth_umount2(const char *target, int flags);
/// statfs(2) f_type (filesystem magic), or -1.
long berth_statfs_type(const char *path);
/// Mounts overlayfs with the new mount API, one `lowerdir+` per layer (kernel 6.8+), so the
/// number of layers is not bounded by a one-page option string. `lowers` is NUL-separated,
/// nearest layer first. With `userns_fd` >= 0 every layer is an idmapped clone, `upper` and
/// `work` are names under `upper_parent`, and the overlay is created as `uid`/`gid`. Returns 0,
/// or -1 with errno (EINVAL when the kernel lacks lowerdir+).
int berth_mount_overlay(const char *lowers, unsigned long lowers_len, const char *upper_parent, const char *upper,
                        const char *work, const char *target, int readonly, int userns_fd, uid_t uid, gid_t gid);
/// An idmapped bind of `source` at `target` (the vfs driver's rootfs under --userns-remap).
int berth_mount_idmapped_bind(const char *source, const char *target, int userns_fd);

#endif
