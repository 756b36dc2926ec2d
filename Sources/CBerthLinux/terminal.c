// Terminals: controlling tty, pty names, window size, raw mode.
#include "internal.h"

int berth_set_controlling_tty(int fd) { return ioctl(fd, TIOCSCTTY, 0); }

int berth_ptsname_unlock(int master, char *buf, size_t len) {
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0) return -1;
    return ptsname_r(master, buf, len);
}

int berth_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row; *cols = ws.ws_col;
    return 0;
}

int berth_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws = { rows, cols, 0, 0 };
    return ioctl(fd, TIOCSWINSZ, &ws);
}

size_t berth_termios_size(void) { return sizeof(struct termios); }

int berth_make_raw(int fd, void *saved, size_t saved_len) {
    struct termios t;
    if (saved_len < sizeof(t) || tcgetattr(fd, &t) != 0) return -1;
    memcpy(saved, &t, sizeof(t));
    cfmakeraw(&t);
    return tcsetattr(fd, TCSANOW, &t);
}

int berth_restore_termios(int fd, const void *saved, size_t saved_len) {
    if (saved_len < sizeof(struct termios)) return -1;
    return tcsetattr(fd, TCSANOW, (const struct termios *)saved);
}
