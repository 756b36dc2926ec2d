// Files: openat2, device nodes, fifos, xattrs, copy_file_range.
#ifndef BERTH_FILES_H
#define BERTH_FILES_H

#include <stdint.h>
#include <sys/types.h>

/// openat2(2) with `resolve` flags (RESOLVE_IN_ROOT etc.).
int berth_openat2(int dirfd, const char *path, int flags, int mode, uint64_t resolve);
int berth_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor);
int berth_mkfifo(const char *path, unsigned int mode);
int berth_mknodat(int dirfd, const char *name, unsigned int mode, unsigned int major, unsigned int minor);
/// Extended attributes (sys/xattr.h is not in Swift's Glibc module). `l` variants do not follow.
long berth_lgetxattr(const char *path, const char *name, void *value, unsigned long size);
long berth_llistxattr(const char *path, char *list, unsigned long size);
int berth_setxattr(const char *path, const char *name, const void *value, unsigned long size);
/// Major and minor numbers of a dev_t.
unsigned int berth_major(unsigned long dev);
unsigned int berth_minor(unsigned long dev);
/// copy_file_range(2) from the current offsets (reflinks or in-kernel copy where the fs can).
long berth_copy_file_range(int in_fd, int out_fd, unsigned long length);
/// Sets the file system's "top of a directory hierarchy" flag (FS_TOPDIR_FL, ext2/3/4's Orlov
/// hint) on a directory: 0, or -1 with errno (ENOTTY, EOPNOTSUPP where the fs has no such flag).
int berth_mark_top_directory(const char *path);

#endif
