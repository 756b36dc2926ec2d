// Processes: clone, pidfds, spawn and exec, limits, memfd, the subreaper.
#ifndef BERTH_PROCESS_H
#define BERTH_PROCESS_H

#include <stdint.h>
#include <sys/types.h>

/// Fork-like clone: the child continues on a copy of the caller's stack (no new stack),
/// entering the namespaces named by `flags` (CLONE_NEW*) at once. Returns 0 in the child.
pid_t berth_clone(unsigned long flags);
/// berth_clone through clone3, the child born in the cgroup v2 directory `cgroup_fd`
/// (CLONE_INTO_CGROUP, Linux 5.7): it never has to be moved there.
pid_t berth_clone_into(unsigned long flags, int cgroup_fd);
int berth_pidfd_open(pid_t pid);
int berth_pidfd_send_signal(int pidfd, int sig);
int berth_close_range_cloexec(unsigned int first);
/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+, hidden from Swift's Glibc module); `actions` is a posix_spawn_file_actions_t *.
int berth_spawn_actions_closefrom(void *actions, int from);
int berth_execve(const char *path, char *const argv[], char *const envp[]);
/// memfd_create with MFD_CLOEXEC (used to hold an exported seccomp program).
int berth_memfd(const char *name);
/// Gives freed heap pages (malloc_trim), the stack pages below the caller's frame and the pages
/// of its program still the file's back to the kernel: what a long-lived process that has
/// finished its work for now (a shim with nothing to do) no longer uses.
void berth_release_idle_memory(void);
/// The same for a process about to fork children that share its memory (the shim template),
/// except the unwritten pages of its data: a child inherits those mapped (fork copies the page
/// table of a mapping with written pages) and would otherwise fault each in again, while the
/// text it runs it faults in either way (fork copies no page table of a mapping never written).
void berth_release_before_forking(void);
/// Fills the heap's free chunks, so that forked children allocate on pages of their own.
void berth_fill_heap_holes(void);
int berth_setrlimit(int resource, uint64_t soft, uint64_t hard);
/// pipe2(fds, O_CLOEXEC) and accept4(..., SOCK_CLOEXEC), which Swift's Glibc does not export.
int berth_pipe_cloexec(int fds[2]);
/// Marks the caller a child subreaper: orphaned descendants are reparented to it.
int berth_set_subreaper(void);

#endif
