// Unix sockets: SCM_RIGHTS, accept4.
#ifndef BERTH_SOCKETS_H
#define BERTH_SOCKETS_H

#include <stdint.h>
#include <sys/types.h>

/// SCM_RIGHTS over a unix socket (CMSG_* are macros).
int berth_send_fd(int sock, int fd, const char *name);
int berth_recv_fd(int sock, char *name, size_t name_len);
int berth_accept_cloexec(int fd);

#endif
