// Namespaces: unshare, setns, hostnames, a user namespace held by an fd, ownership.
#ifndef BERTH_NAMESPACES_H
#define BERTH_NAMESPACES_H

#include <stdint.h>
#include <sys/types.h>

int berth_unshare(int flags);
int berth_setns(int fd, int nstype);
int berth_sethostname(const char *name, size_t len);
int berth_setdomainname(const char *name, size_t len);
/// An fd holding a new user namespace with these maps, for idmapped mounts.
int berth_make_userns(const char *uid_map, const char *gid_map);
/// Whether a namespace (fd) is owned by a user namespace (fd): 1 or 0.
int berth_ns_owned_by(int ns_fd, int userns_fd);

#endif
