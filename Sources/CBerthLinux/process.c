// Processes: clone, pidfds, spawn and exec, limits, memfd, the subreaper.
#include "internal.h"
#include <malloc.h>
#include <stdio.h>
#include <sys/mman.h>

pid_t berth_clone(unsigned long flags) {
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

pid_t berth_clone_into(unsigned long flags, int cgroup_fd) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = flags | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

int berth_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int berth_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }

int berth_spawn_actions_closefrom(void *actions, int from) { return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, from); }

int berth_close_range_cloexec(unsigned int first) { return (int)syscall(SYS_close_range, first, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */); }

int berth_execve(const char *path, char *const argv[], char *const envp[]) { return execve(path, argv, envp); }

int berth_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int berth_setrlimit(int resource, uint64_t soft, uint64_t hard) {
    struct rlimit rl = { (rlim_t)soft, (rlim_t)hard };
    return setrlimit(resource, &rl);
}

int berth_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/* The stack pages below the caller's frame hold nothing live once a deep call (decoding a
 * spec, creating the container) has returned, yet stay charged to the process for its life.
 * A margin below the frame is kept for the calls this one makes. */
static void release_dead_stack(void) {
    char here;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t keep = ((uintptr_t)&here - 16384) & ~(uintptr_t)(page - 1);
    char line[256];
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return;
    uintptr_t low = 0, high = 0;
    while (fgets(line, sizeof line, maps)) {
        if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", &low, &high) == 2) break;
        low = high = 0;
    }
    fclose(maps);
    if (low && keep > low && keep < high) madvise((void *)low, keep - low, MADV_DONTNEED);
}

void berth_release_idle_memory(void) {
    malloc_trim(0);
    release_dead_stack();
}

int berth_set_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
