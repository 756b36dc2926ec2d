// Unix sockets: SCM_RIGHTS, accept4.
#include "internal.h"

ssize_t berth_send_message(int sock, const void *bytes, size_t len, int fd) {
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof(control));
    struct iovec iov = { (void *)bytes, len };
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov; msg.msg_iovlen = 1;
    if (fd >= 0) {
        msg.msg_control = control; msg.msg_controllen = sizeof(control);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    do n = sendmsg(sock, &msg, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
    return n;
}

ssize_t berth_recv_message(int sock, void *bytes, size_t len, int *fd) {
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { bytes, len };
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov; msg.msg_iovlen = 1;
    msg.msg_control = control; msg.msg_controllen = sizeof(control);
    *fd = -1;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n;
}

int berth_send_fd(int sock, int fd, const char *name) {
    return berth_send_message(sock, name, strlen(name), fd) < 0 ? -1 : 0;
}

int berth_recv_fd(int sock, char *name, size_t name_len) {
    int fd;
    ssize_t n = berth_recv_message(sock, name, name_len > 0 ? name_len - 1 : 0, &fd);
    if (n < 0) return -1;
    if (name_len > 0) name[n] = 0;
    if (fd < 0) { errno = EBADMSG; return -1; }
    return fd;
}

int berth_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }
