/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Interface enumeration from lkd's kernel: getifaddrs, if_nameindex,
 * if_nametoindex and if_indextoname. glibc answers them over sockets it
 * makes internally, which never reach a preloaded library, so a program
 * under lkrun would list the host's interfaces while its sockets live in
 * lkd. When the program's AF_INET, AF_INET6 or AF_NETLINK sockets are
 * lkd's (LKD_HIJACK's net=), these hooks ask lkd's kernel instead: an
 * rtnetlink dump (RTM_GETLINK, RTM_GETADDR) for the lists, SIOCGIFINDEX
 * and SIOCGIFNAME for one name or index, on a kernel socket of the
 * library's own (with a placeholder like any kernel fd, closed after).
 *
 * What the lists hold follows glibc: getifaddrs gives every link as an
 * AF_PACKET entry (hardware address, broadcast address, struct
 * rtnl_link_stats in ifa_data), then every address (IPv4 with its
 * IFA_LABEL as name, its broadcast or, on point-to-point links, its peer;
 * IPv6 link-local ones with the link as scope id), each with its link's
 * flags; if_nameindex every link, in the kernel's order.
 *
 * The matching free functions release what these hooks allocated and
 * hand anything else to libc: lists are remembered until freed, so a list
 * libc made (a program that called getifaddrs before the hooks applied,
 * or one with net=none) is still freed by libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "rumpclient/hijack.h"
#include "rumpclient/lkclient.h"

/* Whether lkd answers: the program's network is lkd's. */
static int from_lkd(void)
{
	return program_attached() &&
	       (g_cfg.families & (FAM_INET | FAM_INET6 | FAM_NETLINK));
}

/* ---- lists made here, until freed ------------------------------------ */

struct made {
	const void *list;
	struct made *next;
};
static struct made *g_made;
static pthread_mutex_t g_made_lock = PTHREAD_MUTEX_INITIALIZER;

static int remember(const void *list)
{
	struct made *m = malloc(sizeof(*m));
	if (m == NULL) return -1;
	m->list = list;
	pthread_mutex_lock(&g_made_lock);
	m->next = g_made;
	g_made = m;
	pthread_mutex_unlock(&g_made_lock);
	return 0;
}

/* 1 if `list` was made here (and is now forgotten), else 0. */
static int forget(const void *list)
{
	int found = 0;
	pthread_mutex_lock(&g_made_lock);
	for (struct made **p = &g_made; *p; p = &(*p)->next) {
		if ((*p)->list == list) {
			struct made *m = *p;
			*p = m->next;
			free(m);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&g_made_lock);
	return found;
}

/* Frees `list` with free_made if these hooks made it, else with libc's
 * function `name` (*slot caches it). */
static void release(void *list, void (*free_made)(void *), void **slot, const char *name)
{
	if (list == NULL) return;
	if (forget(list)) {
		free_made(list);
		return;
	}
	((void (*)(void *))libc_fn(slot, name))(list);
}

/* ---- asking lkd's kernel --------------------------------------------- */

/* A kernel rtnetlink socket of the library's own, or -1/errno. */
static int kernel_socket(void)
{
	pthread_mutex_lock(&g_fdlock);
	int fd = adopt_locked(lk_sys_socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE),
			      1, 0, FD_INTERNAL);
	pthread_mutex_unlock(&g_fdlock);
	return fd;
}

static void close_socket(int fd)
{
	int err = errno;
	close_kernel(fd);
	errno = err;
}

/* A link as RTM_NEWLINK describes it. */
struct link {
	int index;
	unsigned flags;
	unsigned short type;
	char name[IFNAMSIZ];
	unsigned char addr[32], brd[32];
	int addr_len, brd_len;	/* -1: absent */
	int has_stats;
	struct rtnl_link_stats stats;
};

/* An address as RTM_NEWADDR describes it. */
struct addr {
	int family, prefix, index;
	unsigned char address[16], local[16], brd[16];
	int has_address, has_local, has_brd;
	char label[IFNAMSIZ];
};

struct found {
	struct link *links;
	size_t nlinks;
	struct addr *addrs;
	size_t naddrs;
	int failed;	/* out of memory */
};

static void *grow(void *array, size_t n, size_t size)
{
	/* Doubling at powers of two. */
	if (n & (n - 1)) return array;
	return realloc(array, (n ? 2 * n : 1) * size);
}

static void add_link(const struct nlmsghdr *h, struct found *f)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	struct link *links = grow(f->links, f->nlinks, sizeof(*links));
	if (links == NULL) {
		f->failed = 1;
		return;
	}
	f->links = links;
	struct link *l = &links[f->nlinks++];
	memset(l, 0, sizeof(*l));
	l->index = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	l->type = ifi->ifi_type;
	l->addr_len = l->brd_len = -1;
	int len = (int)IFLA_PAYLOAD(h);
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		size_t n = RTA_PAYLOAD(a);
		switch (a->rta_type) {
		case IFLA_IFNAME:
			memcpy(l->name, RTA_DATA(a), n < IFNAMSIZ ? n : IFNAMSIZ - 1);
			break;
		case IFLA_ADDRESS:
			l->addr_len = n < sizeof(l->addr) ? (int)n : (int)sizeof(l->addr);
			memcpy(l->addr, RTA_DATA(a), (size_t)l->addr_len);
			break;
		case IFLA_BROADCAST:
			l->brd_len = n < sizeof(l->brd) ? (int)n : (int)sizeof(l->brd);
			memcpy(l->brd, RTA_DATA(a), (size_t)l->brd_len);
			break;
		case IFLA_STATS:
			l->has_stats = 1;
			memcpy(&l->stats, RTA_DATA(a), n < sizeof(l->stats) ? n : sizeof(l->stats));
			break;
		}
	}
}

static void add_addr(const struct nlmsghdr *h, struct found *f)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return;
	struct addr *addrs = grow(f->addrs, f->naddrs, sizeof(*addrs));
	if (addrs == NULL) {
		f->failed = 1;
		return;
	}
	f->addrs = addrs;
	struct addr *d = &addrs[f->naddrs++];
	memset(d, 0, sizeof(*d));
	d->family = ifa->ifa_family;
	d->prefix = ifa->ifa_prefixlen;
	d->index = (int)ifa->ifa_index;
	const size_t alen = d->family == AF_INET ? 4 : 16;
	int len = (int)IFA_PAYLOAD(h);
	for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		size_t n = RTA_PAYLOAD(a);
		unsigned char *to = NULL;
		switch (a->rta_type) {
		case IFA_ADDRESS: to = d->address; d->has_address = n == alen; break;
		case IFA_LOCAL: to = d->local; d->has_local = n == alen; break;
		case IFA_BROADCAST: to = d->brd; d->has_brd = n == alen; break;
		case IFA_LABEL:
			memcpy(d->label, RTA_DATA(a), n < IFNAMSIZ ? n : IFNAMSIZ - 1);
			break;
		}
		if (to != NULL && n == alen) memcpy(to, RTA_DATA(a), alen);
	}
}

/* One dump (RTM_GETLINK or RTM_GETADDR) on kernel socket fd into f. 0 or
 * -1/errno. */
static int dump(int fd, int type, struct found *f)
{
	static unsigned seq_counter;
	struct {
		struct nlmsghdr h;
		union {
			struct ifinfomsg link;
			struct ifaddrmsg addr;
		} body;
	} req;
	memset(&req, 0, sizeof(req));
	const unsigned seq = __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED);
	req.h.nlmsg_len = NLMSG_LENGTH(type == RTM_GETLINK ? sizeof(req.body.link)
							   : sizeof(req.body.addr));
	req.h.nlmsg_type = (unsigned short)type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = seq;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (lk_sys_sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel,
			  sizeof(kernel)) < 0)
		return -1;
	/* A dump's batches are at most 32 KiB. */
	const size_t size = 64 * 1024;
	void *buf = malloc(size);
	if (buf == NULL) {
		errno = ENOMEM;
		return -1;
	}
	int r = 1;
	while (r > 0) {
		ssize_t n = lk_sys_recvfrom(fd, buf, size, 0, NULL, NULL);
		if (n < 0) {
			if (errno == EINTR) continue;
			r = -1;
			break;
		}
		int left = (int)n;
		for (struct nlmsghdr *h = buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq) continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				r = 0;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				errno = e->error ? -e->error : EIO;
				r = -1;
				break;
			}
			if (h->nlmsg_type == RTM_NEWLINK) add_link(h, f);
			if (h->nlmsg_type == RTM_NEWADDR) add_addr(h, f);
		}
	}
	free(buf);
	if (r == 0 && f->failed) {
		errno = ENOMEM;
		r = -1;
	}
	return r;
}

/* Links (and, if `addrs`, addresses) of lkd's kernel. 0 or -1/errno. */
static int ask_lkd(struct found *f, int addrs)
{
	memset(f, 0, sizeof(*f));
	int fd = kernel_socket();
	if (fd < 0) return -1;
	int r = dump(fd, RTM_GETLINK, f);
	if (r == 0 && addrs) r = dump(fd, RTM_GETADDR, f);
	close_socket(fd);
	return r;
}

static void found_free(struct found *f)
{
	free(f->links);
	free(f->addrs);
}

/* ---- getifaddrs ------------------------------------------------------ */

union any_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_ll ll;
	struct sockaddr_storage room;	/* hardware addresses over 8 bytes */
};

/* One entry of a list made here, in one allocation: freeifaddrs frees
 * each entry of a list it was given by these hooks. */
struct entry {
	struct ifaddrs ifa;
	char name[IFNAMSIZ];
	union any_addr addr, netmask, other;
	struct rtnl_link_stats stats;
};

static const struct link *link_of(const struct found *f, int index)
{
	for (size_t i = 0; i < f->nlinks; i++)
		if (f->links[i].index == index) return &f->links[i];
	return NULL;
}

static void hw_addr(union any_addr *to, const struct link *l, const unsigned char *a, int len)
{
	const size_t room = sizeof(*to) - offsetof(struct sockaddr_ll, sll_addr);
	to->ll.sll_family = AF_PACKET;
	to->ll.sll_ifindex = l->index;
	to->ll.sll_hatype = l->type;
	to->ll.sll_halen = (unsigned char)((size_t)len < room ? (size_t)len : room);
	memcpy(to->ll.sll_addr, a, to->ll.sll_halen);
}

static void ip_addr(union any_addr *to, int family, const unsigned char *a, int index)
{
	if (family == AF_INET) {
		to->in.sin_family = AF_INET;
		memcpy(&to->in.sin_addr, a, 4);
		return;
	}
	to->in6.sin6_family = AF_INET6;
	memcpy(&to->in6.sin6_addr, a, 16);
	if (IN6_IS_ADDR_LINKLOCAL(&to->in6.sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&to->in6.sin6_addr))
		to->in6.sin6_scope_id = (uint32_t)index;
}

static void netmask(union any_addr *to, int family, int prefix)
{
	unsigned char mask[16] = {0};
	for (int i = 0; i < prefix && i < 128; i++) mask[i / 8] |= (unsigned char)(0x80 >> (i % 8));
	ip_addr(to, family, mask, 0);
}

static struct entry *entry_new(struct entry ***tail, const char *name, unsigned flags)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (e == NULL) return NULL;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->ifa.ifa_name = e->name;
	e->ifa.ifa_flags = flags;
	**tail = e;
	*tail = (struct entry **)&e->ifa.ifa_next;
	return e;
}

static void entries_free(struct ifaddrs *ifa)
{
	while (ifa != NULL) {
		struct ifaddrs *next = ifa->ifa_next;
		free(ifa);	/* the entry it begins */
		ifa = next;
	}
}

/* The list of f's links and addresses; NULL with errno ENOMEM. */
static struct ifaddrs *entries_of(const struct found *f)
{
	struct entry *head = NULL, **tail = &head;
	for (size_t i = 0; i < f->nlinks; i++) {
		const struct link *l = &f->links[i];
		struct entry *e = entry_new(&tail, l->name, l->flags);
		if (e == NULL) goto oom;
		if (l->addr_len >= 0) {
			hw_addr(&e->addr, l, l->addr, l->addr_len);
			e->ifa.ifa_addr = &e->addr.sa;
		}
		if (l->brd_len >= 0) {
			hw_addr(&e->other, l, l->brd, l->brd_len);
			e->ifa.ifa_broadaddr = &e->other.sa;
		}
		if (l->has_stats) {
			e->stats = l->stats;
			e->ifa.ifa_data = &e->stats;
		}
	}
	for (size_t i = 0; i < f->naddrs; i++) {
		const struct addr *d = &f->addrs[i];
		const struct link *l = link_of(f, d->index);
		if (l == NULL || !(d->has_local || d->has_address)) continue;
		struct entry *e = entry_new(&tail, d->label[0] ? d->label : l->name, l->flags);
		if (e == NULL) goto oom;
		/* IFA_LOCAL is the address itself where the kernel gives one
		 * (IPv4); IFA_ADDRESS is then the peer of a point-to-point link. */
		const unsigned char *self = d->has_local ? d->local : d->address;
		ip_addr(&e->addr, d->family, self, d->index);
		e->ifa.ifa_addr = &e->addr.sa;
		netmask(&e->netmask, d->family, d->prefix);
		e->ifa.ifa_netmask = &e->netmask.sa;
		if (d->has_local && d->has_address && memcmp(d->local, d->address, 16) != 0 &&
		    (l->flags & IFF_POINTOPOINT)) {
			ip_addr(&e->other, d->family, d->address, d->index);
			e->ifa.ifa_dstaddr = &e->other.sa;
		} else if (d->has_brd && (l->flags & IFF_BROADCAST)) {
			ip_addr(&e->other, d->family, d->brd, d->index);
			e->ifa.ifa_broadaddr = &e->other.sa;
		}
	}
	return head ? &head->ifa : NULL;
oom:
	entries_free(head ? &head->ifa : NULL);
	errno = ENOMEM;
	return NULL;
}

EXPORT int getifaddrs(struct ifaddrs **out)
{
	static void *fn;
	if (!from_lkd()) return ((int (*)(struct ifaddrs **))libc_fn(&fn, "getifaddrs"))(out);
	struct found f;
	if (ask_lkd(&f, 1) < 0) {
		found_free(&f);
		return -1;
	}
	*out = NULL;
	struct ifaddrs *list = f.nlinks ? entries_of(&f) : NULL;
	int r = 0;
	if (f.nlinks && list == NULL) r = -1;
	if (list != NULL && remember(list) < 0) {
		entries_free(list);
		errno = ENOMEM;
		r = -1;
		list = NULL;
	}
	found_free(&f);
	*out = list;
	return r;
}

static void free_entries(void *list) { entries_free(list); }

EXPORT void freeifaddrs(struct ifaddrs *ifa)
{
	static void *fn;
	release(ifa, free_entries, &fn, "freeifaddrs");
}

/* ---- if_nameindex and friends --------------------------------------- */

EXPORT struct if_nameindex *if_nameindex(void)
{
	static void *fn;
	if (!from_lkd()) return ((struct if_nameindex * (*)(void)) libc_fn(&fn, "if_nameindex"))();
	struct found f;
	if (ask_lkd(&f, 0) < 0) {
		found_free(&f);
		return NULL;
	}
	/* One allocation: the array, its terminator, then the names. */
	const size_t array = (f.nlinks + 1) * sizeof(struct if_nameindex);
	struct if_nameindex *list = malloc(array + f.nlinks * IFNAMSIZ);
	if (list != NULL && remember(list) < 0) {
		free(list);
		list = NULL;
	}
	if (list == NULL) {
		found_free(&f);
		errno = ENOBUFS;
		return NULL;
	}
	char *names = (char *)list + array;
	for (size_t i = 0; i < f.nlinks; i++) {
		list[i].if_index = (unsigned)f.links[i].index;
		list[i].if_name = names + i * IFNAMSIZ;
		memcpy(list[i].if_name, f.links[i].name, IFNAMSIZ);
	}
	list[f.nlinks].if_index = 0;
	list[f.nlinks].if_name = NULL;
	found_free(&f);
	return list;
}

EXPORT void if_freenameindex(struct if_nameindex *list)
{
	static void *fn;
	release(list, free, &fn, "if_freenameindex");
}

/* One struct ifreq request on a kernel socket; the kernel's result. */
static int ifreq_call(unsigned long request, struct ifreq *ifr)
{
	int fd = kernel_socket();
	if (fd < 0) return -1;
	int r = lk_sys_ioctl(fd, request, ifr);
	close_socket(fd);
	return r;
}

EXPORT unsigned int if_nametoindex(const char *name)
{
	static void *fn;
	if (!from_lkd()) return ((unsigned (*)(const char *))libc_fn(&fn, "if_nametoindex"))(name);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(name) >= IFNAMSIZ) {
		errno = ENODEV;
		return 0;
	}
	strcpy(ifr.ifr_name, name);
	if (ifreq_call(SIOCGIFINDEX, &ifr) < 0) return 0;
	return (unsigned)ifr.ifr_ifindex;
}

EXPORT char *if_indextoname(unsigned int index, char name[IF_NAMESIZE])
{
	static void *fn;
	if (!from_lkd())
		return ((char *(*)(unsigned, char *))libc_fn(&fn, "if_indextoname"))(index, name);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_ifindex = (int)index;
	if (ifreq_call(SIOCGIFNAME, &ifr) < 0) {
		/* As glibc: an unknown index is ENXIO. */
		if (errno == ENODEV) errno = ENXIO;
		return NULL;
	}
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
	return name;
}
