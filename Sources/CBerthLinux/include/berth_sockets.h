// Unix sockets: SCM_RIGHTS, accept4.
#ifndef BERTH_SOCKETS_H
#define BERTH_SOCKETS_H

#include <stdint.h>
#include <sys/types.h>

/// SCM_RIGHTS over a unix socket (CMSG_* are macros).
int berth_send_fd(int sock, int fd, const char *name);
int berth_recv_fd(int sock, char *name, size_t name_len);
/// A message carrying at most one descriptor (fd < 0: none); EINTR retried, never SIGPIPE.
ssize_t berth_send_message(int sock, const void *bytes, size_t len, int fd);
/// Receives one; *fd is the descriptor it carried (close-on-exec), or -1.
ssize_t berth_recv_message(int sock, void *bytes, size_t len, int *fd);
int berth_accept_cloexec(int fd);

#endif
