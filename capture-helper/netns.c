/*
 * The lab's two network namespaces and the veth pair between them.
 *
 * The namespaces are made with unshare(CLONE_NEWNET) and are only held by
 * file descriptors (and the sockets created in them) of this process: no
 * name under /run/netns, no helper process.  When the process exits, however
 * it exits, the kernel drops them, with their veth pair, rules and sysctls.
 * The veth pair is created from inside the client's namespace with its peer
 * moved into the server's namespace by file descriptor (rtnetlink,
 * IFLA_NET_NS_FD), so no interface ever exists in the host's namespace.
 *
 * Everything that depends on the current namespace (sysctl files, sockets)
 * is done after lab_ns_enter(), which checks with fstat that the thread
 * really is in the lab namespace before anything is touched.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/stat.h>

#include "lab.h"

static int ns_ids(int fd, dev_t *dev, ino_t *ino)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

int lab_ns_create(lab_ns *n, char *err, size_t cap)
{
    n->host_fd = n->fd[0] = n->fd[1] = -1;
    n->ifindex[0] = n->ifindex[1] = 0;
    n->host_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (n->host_fd < 0) {
        snprintf(err, cap, "cannot open /proc/thread-self/ns/net: %s", strerror(errno));
        return -1;
    }
    for (int side = 0; side < 2; side++) {
        if (unshare(CLONE_NEWNET) != 0) {
            snprintf(err, cap, "cannot create a network namespace: %s", strerror(errno));
            lab_ns_destroy(n);
            return -1;
        }
        n->fd[side] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (n->fd[side] < 0 || ns_ids(n->fd[side], &n->dev[side], &n->ino[side]) != 0) {
            snprintf(err, cap, "cannot open the new namespace: %s", strerror(errno));
            lab_ns_destroy(n);
            return -1;
        }
    }
    lab_ns_leave(n);
    return 0;
}

int lab_ns_enter(const lab_ns *n, int side)
{
    if (side < 0 || side > 1 || n->fd[side] < 0)
        return -1;
    if (setns(n->fd[side], CLONE_NEWNET) != 0)
        return -1;
    /* refuse to go on unless the thread is in that namespace */
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    dev_t dev;
    ino_t ino;
    int ok = ns_ids(fd, &dev, &ino) == 0 && dev == n->dev[side] && ino == n->ino[side];
    close(fd);
    return ok ? 0 : -1;
}

void lab_ns_leave(const lab_ns *n)
{
    if (n->host_fd >= 0 && setns(n->host_fd, CLONE_NEWNET) != 0) {
        /* cannot happen for a process that could create namespaces; stay
         * in the lab namespace rather than anywhere else */
    }
}

void lab_ns_destroy(lab_ns *n)
{
    lab_ns_leave(n);
    for (int i = 0; i < 2; i++)
        if (n->fd[i] >= 0) {
            close(n->fd[i]);
            n->fd[i] = -1;
        }
    if (n->host_fd >= 0) {
        close(n->host_fd);
        n->host_fd = -1;
    }
}

/* ---- rtnetlink --------------------------------------------------------- */

static int rtnl_do(struct mnl_socket *nl, struct nlmsghdr *nlh, char *err, size_t cap,
                   const char *what)
{
    static uint32_t seq;
    nlh->nlmsg_seq = ++seq;
    nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        snprintf(err, cap, "%s: %s", what, strerror(errno));
        return -1;
    }
    char buf[MNL_SOCKET_BUFFER_SIZE];
    ssize_t r = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (r < 0) {
        snprintf(err, cap, "%s: %s", what, strerror(errno));
        return -1;
    }
    if (mnl_cb_run(buf, (size_t)r, seq, mnl_socket_get_portid(nl), NULL, NULL) < 0) {
        snprintf(err, cap, "%s: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

static struct mnl_socket *rtnl_open(void)
{
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl)
        return NULL;
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        mnl_socket_close(nl);
        return NULL;
    }
    return nl;
}

static const uint8_t mac_c[6] = {0x02, 0x77, 0x00, 0x00, 0x00, 0x01};
static const uint8_t mac_s[6] = {0x02, 0x77, 0x00, 0x00, 0x00, 0x02};

static int add_veth(struct mnl_socket *nl, int peer_ns_fd, char *err, size_t cap)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
    ifm->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, LAB_IFNAME_CLIENT);
    mnl_attr_put(nlh, IFLA_ADDRESS, sizeof mac_c, mac_c);
    struct nlattr *linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    /* the peer's own ifinfomsg comes first inside VETH_INFO_PEER */
    struct ifinfomsg *pifm = mnl_nlmsg_get_payload_tail(nlh);
    memset(pifm, 0, sizeof *pifm);
    pifm->ifi_family = AF_UNSPEC;
    nlh->nlmsg_len += MNL_ALIGN(sizeof *pifm);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, LAB_IFNAME_SERVER);
    mnl_attr_put(nlh, IFLA_ADDRESS, sizeof mac_s, mac_s);
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_ns_fd);
    mnl_attr_nest_end(nlh, peer);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, linkinfo);
    return rtnl_do(nl, nlh, err, cap, "creating the veth pair");
}

static int link_up(struct mnl_socket *nl, int ifindex, char *err, size_t cap)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = ifindex;
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    return rtnl_do(nl, nlh, err, cap, "setting the link up");
}

static int add_addr(struct mnl_socket *nl, int ifindex, int ipv6, const char *addr, char *err,
                    size_t cap)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    uint8_t a[16];
    if (inet_pton(ipv6 ? AF_INET6 : AF_INET, addr, a) != 1) {
        snprintf(err, cap, "bad address %s", addr);
        return -1;
    }
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
    ifa->ifa_family = ipv6 ? AF_INET6 : AF_INET;
    ifa->ifa_prefixlen = ipv6 ? 64 : 24;
    ifa->ifa_flags = ipv6 ? IFA_F_NODAD : 0; /* usable at once: no duplicate detection */
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (unsigned)ifindex;
    size_t alen = ipv6 ? 16 : 4;
    mnl_attr_put(nlh, IFA_LOCAL, alen, a);
    mnl_attr_put(nlh, IFA_ADDRESS, alen, a);
    if (ipv6)
        mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
    return rtnl_do(nl, nlh, err, cap, "adding an address");
}

/* A permanent neighbour entry for the peer: no ARP or neighbour discovery
 * on the wire, and no first SYN held back while the peer's address is
 * being resolved. */
static int add_neigh(struct mnl_socket *nl, int ifindex, int ipv6, const char *addr,
                     const uint8_t mac[6], char *err, size_t cap)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    uint8_t a[16];
    if (inet_pton(ipv6 ? AF_INET6 : AF_INET, addr, a) != 1) {
        snprintf(err, cap, "bad address %s", addr);
        return -1;
    }
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWNEIGH;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
    struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof *nd);
    nd->ndm_family = ipv6 ? AF_INET6 : AF_INET;
    nd->ndm_ifindex = ifindex;
    nd->ndm_state = NUD_PERMANENT;
    mnl_attr_put(nlh, NDA_DST, ipv6 ? 16 : 4, a);
    mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
    return rtnl_do(nl, nlh, err, cap, "adding a neighbour entry");
}

int lab_ns_link(lab_ns *n, int ipv6, char *err, size_t cap)
{
    static const char *const ifname[2] = {LAB_IFNAME_CLIENT, LAB_IFNAME_SERVER};
    static const char *const a4[2] = {LAB_ADDR4_CLIENT, LAB_ADDR4_SERVER};
    static const char *const a6[2] = {LAB_ADDR6_CLIENT, LAB_ADDR6_SERVER};
    int rc = -1;
    /* IPv6 on the veth: off for IPv4 runs (no router solicitations on the
     * wire), on without duplicate address detection for IPv6 runs */
    for (int side = 0; side < 2; side++) {
        if (ipv6) {
            lab_ns_proc_write(n, side, "net/ipv6/conf/default/accept_dad", "0");
            lab_ns_proc_write(n, side, "net/ipv6/conf/default/router_solicitations", "0");
        } else {
            lab_ns_proc_write(n, side, "net/ipv6/conf/default/disable_ipv6", "1");
        }
    }
    if (lab_ns_enter(n, LAB_CLIENT) != 0) {
        snprintf(err, cap, "cannot enter the client namespace");
        goto out;
    }
    struct mnl_socket *nl = rtnl_open();
    if (!nl) {
        snprintf(err, cap, "rtnetlink: %s", strerror(errno));
        goto out;
    }
    int r = add_veth(nl, n->fd[LAB_SERVER], err, cap);
    mnl_socket_close(nl);
    if (r)
        goto out;
    for (int side = 0; side < 2; side++) {
        if (lab_ns_enter(n, side) != 0) {
            snprintf(err, cap, "cannot enter the %s namespace", LAB_SIDE_NAME(side));
            goto out;
        }
        nl = rtnl_open();
        if (!nl) {
            snprintf(err, cap, "rtnetlink: %s", strerror(errno));
            goto out;
        }
        int idx = (int)if_nametoindex(ifname[side]);
        int lo = (int)if_nametoindex("lo");
        if (!idx) {
            snprintf(err, cap, "%s missing in the %s namespace", ifname[side],
                     LAB_SIDE_NAME(side));
            mnl_socket_close(nl);
            goto out;
        }
        n->ifindex[side] = idx;
        r = add_addr(nl, idx, ipv6, ipv6 ? a6[side] : a4[side], err, cap);
        if (!r)
            r = link_up(nl, idx, err, cap);
        if (!r)
            r = add_neigh(nl, idx, ipv6, ipv6 ? a6[1 - side] : a4[1 - side],
                          side == LAB_CLIENT ? mac_s : mac_c, err, cap);
        if (!r && lo)
            r = link_up(nl, lo, err, cap);
        mnl_socket_close(nl);
        if (r)
            goto out;
    }
    rc = 0;
out:
    lab_ns_leave(n);
    return rc;
}

/* ---- sysctls ------------------------------------------------------------- */

static int safe_name(const char *s)
{
    if (!*s || strstr(s, ".."))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '/' ||
              *s == '-'))
            return 0;
    return 1;
}

int lab_ns_proc_write(const lab_ns *n, int side, const char *path, const char *value)
{
    char p[256];
    if (!safe_name(path) || strncmp(path, "net/", 4) != 0)
        return -1;
    snprintf(p, sizeof p, "/proc/sys/%s", path);
    int rc = -1;
    if (lab_ns_enter(n, side) == 0) { /* never written from the host namespace */
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            size_t len = strlen(value);
            rc = write(fd, value, len) == (ssize_t)len ? 0 : -1;
            close(fd);
        }
    }
    lab_ns_leave(n);
    return rc;
}

int lab_ns_sysctl_set(const lab_ns *n, int side, const char *name, const char *value)
{
    char p[128];
    snprintf(p, sizeof p, "net/ipv4/%s", name);
    return lab_ns_proc_write(n, side, p, value);
}

int lab_ns_sysctl_get(const lab_ns *n, int side, const char *name, char *out, size_t cap)
{
    char p[160];
    if (!safe_name(name))
        return -1;
    snprintf(p, sizeof p, "/proc/sys/net/ipv4/%s", name);
    int rc = -1;
    if (lab_ns_enter(n, side) == 0) {
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t r = read(fd, out, cap - 1);
            if (r > 0) {
                out[r] = '\0';
                char *e = out + strcspn(out, "\n");
                *e = '\0';
                for (char *c = out; *c; c++)
                    if (*c == '\t')
                        *c = ' ';
                rc = 0;
            }
            close(fd);
        }
    }
    lab_ns_leave(n);
    return rc;
}
