// Signals: masks and signalfd.
#include "internal.h"

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

int berth_read_signalfd(int fd, int *pid, int *status) {
    struct signalfd_siginfo info;
    if (read(fd, &info, sizeof(info)) != sizeof(info)) return -1;
    *pid = (int)info.ssi_pid; *status = info.ssi_status;
    return (int)info.ssi_signo;
}
