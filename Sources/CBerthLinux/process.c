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

/* Two kinds of pages stay charged to a long-lived process after a deep piece of work without
 * being used again. The stack below the caller's frame holds nothing live once a deep call
 * (decoding a spec, creating the container) has returned; a margin is kept for the calls this
 * one makes. And the program's own file pages: a process forked from one that ran much more code
 * (a shim from the shim template) maps every page of text and of unwritten data the parent
 * touched, and every first touch maps the 64 KiB around it (the kernel's fault-around), though
 * the page cache holds them once; its own loop runs a small part, which faults back in when next
 * run. Only pages the kernel can read again from the file go: a page of a private file mapping
 * that is still the file's (pagemap's "file page" bit), never one written since (relocated
 * data, a static's value), nor one swapped out, which MADV_DONTNEED would lose. */
static void release_file_pages(int pagemap, uintptr_t low, uintptr_t high, long page) {
    uint64_t entries[512];
    uintptr_t run = 0, at = low;
    while (at < high) {
        size_t count = (high - at) / (uintptr_t)page;
        if (count > 512) count = 512;
        ssize_t got = pread(pagemap, entries, count * 8, (off_t)(at / (uintptr_t)page * 8));
        if (got <= 0) break;
        for (size_t i = 0; i < (size_t)got / 8; i++, at += (uintptr_t)page) {
            int present = (entries[i] >> 63) & 1, file = (entries[i] >> 61) & 1;
            if (present && file) { if (!run) run = at; continue; }
            if (run) madvise((void *)run, at - run, MADV_DONTNEED);
            run = 0;
        }
    }
    if (run) madvise((void *)run, at - run, MADV_DONTNEED);
}

static void release_unused_mappings(int data_too) {
    char here;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t keep = ((uintptr_t)&here - 16384) & ~(uintptr_t)(page - 1);
    char line[512];
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return;
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    uintptr_t low, high;
    char perms[8];
    while (fgets(line, sizeof line, maps)) {
        if (sscanf(line, "%lx-%lx %7s", &low, &high, perms) != 3) continue;
        if (strstr(line, "[stack]")) {
            if (keep > low && keep < high) madvise((void *)low, keep - low, MADV_DONTNEED);
        } else if (perms[3] == 'p' && (data_too || perms[2] == 'x') && strchr(line, '/') && pagemap >= 0) {
            release_file_pages(pagemap, low, high, page);
        }
    }
    if (pagemap >= 0) close(pagemap);
    fclose(maps);
}

void berth_release_idle_memory(void) {
    malloc_trim(0);
    release_unused_mappings(1);
}

void berth_release_before_forking(void) {
    malloc_trim(0);
    release_unused_mappings(0);
}

/* A process that forks long-lived children (the shim template) shares its heap with them
 * copy-on-write. A child's allocation that lands in a hole of a shared page, or a free that
 * links a chunk there, copies the whole page; a few dozen such holes were a shim's biggest cost.
 * Filling every hole with an allocation that is never freed (large sizes first, so a hole takes
 * one or two and its interior pages, released by malloc_trim, stay untouched) sends the
 * children's allocations to fresh pages at the top of the heap, packed together. */
void berth_fill_heap_holes(void) {
    malloc_trim(0);
    char *start = (char *)sbrk(0) - mallinfo2().arena;
    for (size_t size = (size_t)1 << 20; size >= 16; size /= 2) {
        char *top = (char *)sbrk(0) - mallinfo2().keepcost;  /* the top chunk's start */
        for (;;) {
            char *p = malloc(size);
            if (!p) return;
            if (p < start || p >= top) { free(p); break; }
        }
    }
}

int berth_set_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
