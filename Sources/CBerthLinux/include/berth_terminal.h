// Terminals: controlling tty, pty names, window size, raw mode.
#ifndef BERTH_TERMINAL_H
#define BERTH_TERMINAL_H

#include <stdint.h>
#include <sys/types.h>

/// Terminal ioctls (ioctl is variadic, so Swift cannot call it).
int berth_set_controlling_tty(int fd);
int berth_ptsname_unlock(int master, char *buf, size_t len);
int berth_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int berth_set_winsize(int fd, unsigned short rows, unsigned short cols);
int berth_make_raw(int fd, void *saved, size_t saved_len);
int berth_restore_termios(int fd, const void *saved, size_t saved_len);
size_t berth_termios_size(void);

#endif
