// Signals: masks and signalfd.
#ifndef BERTH_SIGNALS_H
#define BERTH_SIGNALS_H

#include <stdint.h>
#include <sys/types.h>

/// signalfd for the blocked set `signals` (a bit per signal number, 1..63).
int berth_signalfd(uint64_t signals);
int berth_block_signals(uint64_t signals);
int berth_unblock_all_signals(void);
/// Reads one signalfd_siginfo: returns the signal number, or -1.
int berth_read_signalfd(int fd, int *pid, int *status);

#endif
