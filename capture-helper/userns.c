/*
 * Running `tcpstate-lab run` without root: a user namespace of its own.
 *
 * unshare(CLONE_NEWUSER | CLONE_NEWNET) makes the helper root of a new user
 * namespace (its uid and gid mapped to 0, nothing else mapped) inside a new,
 * empty network namespace owned by it.  That network namespace takes the
 * place of the host's: the lab's two namespaces are created from it, the
 * thread returns to it between steps (setns needs CAP_SYS_ADMIN over the
 * target's owner, which the helper has there and not over the host's), and
 * everything the lab does happens in namespaces the new user namespace owns,
 * where the helper has CAP_NET_ADMIN and CAP_NET_RAW: the veth pair
 * (rtnetlink), the nftables rules (libnftables), the per-namespace
 * net.ipv4.tcp_* sysctls, the libpcap capture on the veth and sock_diag.
 * The host is never reachable from there.
 *
 * What a user namespace does not give: tracefs (it cannot be mounted in a
 * user namespace and the host's is root's), so run falls back to sock_diag
 * alone, with a warning.  Files are created with the caller's own uid and
 * permissions.
 *
 * The kernel refuses when user namespaces are disabled
 * (kernel.unprivileged_userns_clone=0 on some kernels, user.max_user_namespaces
 * = 0, a seccomp or LSM policy): the caller then reports the errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lab.h"

static int write_proc(const char *path, const char *text, char *err, size_t cap)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int e = errno;
    close(fd);
    if (w != (ssize_t)len) {
        snprintf(err, cap, "writing %s: %s", path, w < 0 ? strerror(e) : "short write");
        return -1;
    }
    return 0;
}

int lab_userns_enter(char *err, size_t cap)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
        int e = errno;
        snprintf(err, cap, "unshare(CLONE_NEWUSER|CLONE_NEWNET): %s%s", strerror(e),
                 e == ENOSPC  ? ": user.max_user_namespaces reached or 0"
                 : e == EPERM ? ": user namespaces not allowed to this user "
                                "(kernel.unprivileged_userns_clone, a seccomp or LSM policy)"
                              : "");
        return -1;
    }
    char map[64];
    /* an unprivileged process may map only its own ids, and its gid only
     * once setgroups is denied */
    if (write_proc("/proc/self/setgroups", "deny", err, cap) != 0)
        return -1;
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    if (write_proc("/proc/self/uid_map", map, err, cap) != 0)
        return -1;
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    if (write_proc("/proc/self/gid_map", map, err, cap) != 0)
        return -1;
    return 0;
}
