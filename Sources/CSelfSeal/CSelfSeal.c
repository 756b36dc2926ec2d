// CVE-2019-5736: a container process can reach the binary of a process that entered its
// namespaces through /proc/<pid>/exe (or by exec'ing /proc/self/exe as its entrypoint) and,
// once no process runs that binary any more, reopen it for writing and replace the host's file.
// So a program that creates or enters a container (berth-runtime's create, run and exec; the
// shim template every container's init and exec'd processes are forked from; a pod's PID
// namespace init) first re-executes itself from a binary no one can write: a detached read-only
// bind mount of its own file (open_tree + mount_setattr: no copy, no mount visible anywhere, the
// fd alone keeps it), or where that is not possible a sealed memfd copy (25 MB copied: 15 ms).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CSelfSeal.h"

static const int required_seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

static void refuse(const char *what) {
    dprintf(2, "%s: cannot re-execute from a read-only copy of itself (%s: %s); refusing to start a container from a writable binary\n",
            program_invocation_short_name, what, strerror(errno));
    _exit(1);
}

/// Read-only already: a sealed memfd, or a file on a read-only mount (ours, or the host's).
static int is_protected(int self) {
    int seals = fcntl(self, F_GET_SEALS);
    if (seals >= 0 && (seals & required_seals) == required_seals) return 1;
    struct statvfs st;
    return fstatvfs(self, &st) == 0 && (st.f_flag & ST_RDONLY);
}

/// A private read-only bind mount of the binary, attached nowhere; -1 if the kernel or our
/// privileges do not allow it.
static int read_only_clone(void) {
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) return -1;
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
        close(tree);
        return -1;
    }
    return tree;
}

static int sealed_copy(int self) {
    struct stat st;
    if (fstat(self, &st) < 0) refuse("fstat");
    int copy = memfd_create(program_invocation_short_name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (copy < 0) refuse("memfd_create");
    for (off_t done = 0; done < st.st_size;) {
        ssize_t n = sendfile(copy, self, NULL, (size_t)(st.st_size - done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) refuse("copy");
        done += n;
    }
    if (fcntl(copy, F_ADD_SEALS, required_seals) < 0) refuse("seal");
    return copy;
}

void berth_run_sealed(char **argv, char **envp) {
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0) refuse("open /proc/self/exe");
    if (is_protected(self)) {
        close(self);
        return;
    }
    int binary = read_only_clone();
    if (binary < 0) binary = sealed_copy(self);
    close(self);
    syscall(SYS_execveat, binary, "", argv, envp, AT_EMPTY_PATH);
    refuse("execveat");
}
