/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * liblkhijack's state: the LKD_HIJACK configuration, the fd table with
 * its host placeholders (hijack.c says why), the library's own fds, and
 * attaching to lkd when the library loads.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE  /* we define the functions it would wrap */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "rumpclient/hijack.h"
#include "rumpclient/lkclient.h"


/* ---- configuration (LKD_HIJACK) ------------------------------------ */

/*
 * LKD_HIJACK="net=inet,inet6,netlink,packet;unix=host;prefix=/lkd"
 *   net=    socket families created in lkd (default: all four)
 *   unix=   host (default) or lkd: where AF_UNIX sockets live
 *   prefix= paths under it are opened in lkd's file systems, the prefix
 *           stripped (default: none)
 *   epoll=  deferred (default) or immediate: whether epoll_ctl changes on
 *           kernel fds wait for the next epoll_wait (hijack_epoll.c)
 */
struct hijack_config g_cfg;

static int parse_families(const char *v, size_t n, unsigned *out)
{
	unsigned f = 0;
	while (n > 0) {
		size_t len = 0;
		while (len < n && v[len] != ',') len++;
#define FAM(name, bit) if (len == strlen(name) && !strncmp(v, name, len)) f |= bit; else
		FAM("inet", FAM_INET) FAM("inet6", FAM_INET6) FAM("netlink", FAM_NETLINK)
		FAM("packet", FAM_PACKET) FAM("unix", FAM_UNIX)
		if (len == 4 && !strncmp(v, "none", 4)) {} else return -1;
#undef FAM
		v += len;
		n -= len;
		if (n > 0) { v++; n--; }
	}
	*out = f;
	return 0;
}

/* 0, or -1 after printing what is wrong. */
static int parse_config(const char *s)
{
	g_cfg.families = FAM_INET | FAM_INET6 | FAM_NETLINK | FAM_PACKET;
	g_cfg.prefix_len = 0;
	g_cfg.epoll_defer = 1;
	if (s == NULL) return 0;
	while (*s) {
		size_t len = strcspn(s, ";");
		const char *eq = memchr(s, '=', len);
		if (eq == NULL) goto bad;
		size_t klen = (size_t)(eq - s), vlen = len - klen - 1;
		const char *v = eq + 1;
		unsigned unix_bit = g_cfg.families & FAM_UNIX;
		if (klen == 3 && !strncmp(s, "net", 3)) {
			if (parse_families(v, vlen, &g_cfg.families) < 0) goto bad;
			g_cfg.families |= unix_bit;
		} else if (klen == 4 && !strncmp(s, "unix", 4)) {
			if (vlen == 4 && !strncmp(v, "host", 4)) g_cfg.families &= ~FAM_UNIX;
			else if (vlen == 3 && !strncmp(v, "lkd", 3)) g_cfg.families |= FAM_UNIX;
			else goto bad;
		} else if (klen == 6 && !strncmp(s, "prefix", 6)) {
			if (vlen == 0 || v[0] != '/' || vlen >= sizeof(g_cfg.prefix)) goto bad;
			memcpy(g_cfg.prefix, v, vlen);
			while (vlen > 1 && g_cfg.prefix[vlen - 1] == '/') vlen--;
			g_cfg.prefix[vlen] = 0;
			g_cfg.prefix_len = vlen;
		} else if (klen == 5 && !strncmp(s, "epoll", 5)) {
			if (vlen == 8 && !strncmp(v, "deferred", 8)) g_cfg.epoll_defer = 1;
			else if (vlen == 9 && !strncmp(v, "immediate", 9)) g_cfg.epoll_defer = 0;
			else goto bad;
		} else {
			goto bad;
		}
		s += len;
		if (*s == ';') s++;
		continue;
bad:
		fprintf(stderr, "liblkhijack: bad LKD_HIJACK entry '%.*s' (expected "
			"net=inet,inet6,netlink,packet,unix|none; unix=host|lkd; prefix=/PATH; "
			"epoll=deferred|immediate)\n",
			(int)len, s);
		return -1;
	}
	return 0;
}

int family_bit(int domain)
{
	switch (domain) {
	case AF_INET: return FAM_INET;
	case AF_INET6: return FAM_INET6;
	case AF_NETLINK: return FAM_NETLINK;
	case AF_PACKET: return FAM_PACKET;
	case AF_UNIX: return FAM_UNIX;
	default: return 0;
	}
}

/* ---- the fd table -------------------------------------------------- */

unsigned char g_kind[MAX_FD];
int g_kep[MAX_FD];
int g_ep_host[MAX_FD];

/*
 * Host fds of the library itself (liblkclient's session socket, its event
 * loop's fds, the channels' memfds, the waiters' eventfds). Programs that
 * close every fd they did not open (a child before exec, Python's
 * close_fds) must not cut the process off lkd: closing one of these from
 * the program is a no-op. Found by looking at /proc/self/fd around the
 * attach, and as the fds that arrive on a library socket.
 */
unsigned char g_lib[MAX_FD];

/*
 * Blocking mode of kernel sockets as the program set it, so that a call
 * that would block can wait where signals reach it. Unknown
 * for other kernel fds and for sockets inherited across exec: those calls
 * go to lkd as they are (hijack_wait.c, receive). Only a hint: "blocking" is checked with F_GETFL
 * before waiting (another process may share the open file).
 */
unsigned char g_nb[MAX_FD];

pthread_mutex_t g_fdlock = PTHREAD_MUTEX_INITIALIZER;
/* Kernel fds created outside g_fdlock (a blocking accept) and not yet
 * placed: while any exists, a placement checks its target is free in the
 * kernel too. */
int g_unlocked_creations;
int g_attached;

/* Set around liblkclient calls that make libc calls themselves (attach,
 * fork, exec), so that those reach the host as they are. */
__thread int t_in_lib __attribute__((tls_model("initial-exec")));


/* A host placeholder at the lowest free number >= min. */
static int reserve(int min, int cloexec)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0) fd = (int)syscall(SYS_memfd_create, "lkd-fd", MFD_CLOEXEC);
	if (fd < 0) return -1;
	if (fd < min) {
		int h = (int)syscall(SYS_fcntl, fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, min);
		int err = errno;
		syscall(SYS_close, fd);
		errno = err;
		return h;
	}
	if (!cloexec) syscall(SYS_fcntl, fd, F_SETFD, 0);
	return fd;
}


/*
 * Moves fresh kernel fd `k` to a number whose host placeholder it gets
 * (>= min), marks it `what` and returns that number; on failure closes k
 * and returns -1. Called with g_fdlock held. `mine`: the caller counted
 * itself in g_unlocked_creations.
 */
int place(int k, int cloexec, int min, int what, int mine)
{
	int aside[16], naside = 0, h, result = -1;
	for (;;) {
		h = reserve(min, cloexec);
		if (h < 0 || h >= MAX_FD) {
			if (h >= 0) syscall(SYS_close, h);
			errno = EMFILE;
			goto out;
		}
		if (h == k) break;
		/* Someone else's fresh kernel fd may sit at h. */
		if (__atomic_load_n(&g_unlocked_creations, __ATOMIC_ACQUIRE) > mine &&
		    lk_sys_fcntl(h, F_GETFD, 0) >= 0 && naside < 16) {
			aside[naside++] = h;
			continue;
		}
		if (lk_sys_dup3(k, h, cloexec ? O_CLOEXEC : 0) < 0) {
			int err = errno;
			syscall(SYS_close, h);
			errno = err;
			goto out;
		}
		lk_sys_close(k);
		k = h;
		break;
	}
	set_kind(h, what);
	result = h;
out:
	if (result < 0) {
		int err = errno;
		lk_sys_close(k);
		errno = err;
	}
	for (int i = 0; i < naside; i++) syscall(SYS_close, aside[i]);
	return result;
}

/* Places a kernel fd created under g_fdlock (k < 0: the creation failed). */
int adopt_locked(int k, int cloexec, int min, int what)
{
	if (k < 0) return -1;
	return place(k, cloexec, min, what, 0);
}

/* Closes both sides of kernel fd `fd`. */
int close_kernel(int fd)
{
	epm_fd_closing(fd);
	int r = lk_sys_close(fd);
	int err = errno;
	set_nb(fd, NB_UNKNOWN);
	set_kind(fd, FD_HOST);
	syscall(SYS_close, fd);
	errno = err;
	return r;
}

void forget_kep_of(int epfd)
{
	int kep = g_kep[epfd] - 1;
	__atomic_store_n(&g_ep_host[epfd], 0, __ATOMIC_RELAXED);
	if (kep < 0) return;
	epm_forget(epfd);
	g_kep[epfd] = 0;
	if (kind(kep) == FD_INTERNAL) close_kernel(kep);
}

/* ---- the library's own fds ----------------------------------------- */

/* Marks in `open` the host fds open now (raw getdents: no hook, no malloc). */
void open_fds(unsigned char *open)
{
	memset(open, 0, MAX_FD);
	int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0) return;
	char buf[4096];
	long n;
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long at = 0; at < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + at);
			char *end;
			long fd = strtol(d->d_name, &end, 10);
			if (end != d->d_name && *end == 0 && fd >= 0 && fd < MAX_FD && fd != dir)
				open[fd] = 1;
			at += d->d_reclen;
		}
	}
	syscall(SYS_close, dir);
}

unsigned char g_before[MAX_FD];
static unsigned char g_after[MAX_FD];

/* After an attach: what opened since open_fds(g_before) is the library's,
 * and so is what was the library's and is open (after a fork the child's
 * new connection reuses the numbers of the parent's); the rest is not. */
void protect_new_fds(void)
{
	open_fds(g_after);
	for (int fd = 0; fd < MAX_FD; fd++)
		g_lib[fd] = g_after[fd] && (g_lib[fd] || !g_before[fd]);
}


/* Fds received on a library socket (a channel's memfd) are the library's. */
void protect_received(int fd, const struct msghdr *m)
{
	if (!is_lib(fd) || m->msg_controllen == 0) return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
		int *fds = (int *)CMSG_DATA(c);
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++)
			if (fds[i] >= 0 && fds[i] < MAX_FD) g_lib[fds[i]] = 1;
	}
}

/* ---- initialisation ------------------------------------------------ */

/* An inherited kernel socket's blocking mode, asked of the kernel: the
 * blocking calls on it wait where signals reach the thread only when it is
 * known (NB_BLOCK). Other kernel fds (files under the prefix) stay
 * NB_UNKNOWN: their reads and writes are plain. */
static void learn_blocking_mode(int fd)
{
	int type;
	socklen_t len = sizeof(type);
	if (lk_sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return;
	int fl = lk_sys_fcntl(fd, F_GETFL, 0);
	if (fl >= 0) set_nb(fd, (fl & O_NONBLOCK) ? NB_NONBLOCK : NB_BLOCK);
}

static void init_fds_from_env(void)
{
	/* Kernel fds kept across exec, by number (set by our execve). */
	const char *s = getenv("LKD_HIJACK_FDS");
	if (s == NULL) return;
	while (*s) {
		char *end;
		long fd = strtol(s, &end, 10);
		if (end == s) break;
		if (fd >= 0 && fd < MAX_FD) {
			set_kind((int)fd, FD_KERNEL);
			learn_blocking_mode((int)fd);
		}
		s = *end == ',' ? end + 1 : end;
	}
	unsetenv("LKD_HIJACK_FDS");
}

/* liblkclient's own fds (its waiters' eventfds): a kernel one is made and
 * placed under g_fdlock like any kernel fd (else a placement could move a
 * program's fd onto its number inside the kernel), a host one is the
 * library's, not the program's to close. */
static int make_kernel_fd(int (*make)(void *arg), void *arg)
{
	pthread_mutex_lock(&g_fdlock);
	int fd = adopt_locked(make(arg), 1, 0, FD_INTERNAL);
	pthread_mutex_unlock(&g_fdlock);
	return fd;
}

static int closed_kernel_fd(int fd) { return close_kernel(fd); }

static void host_fd_of_lib(int fd, int open)
{
	if (fd >= 0 && fd < MAX_FD) g_lib[fd] = (unsigned char)open;
}

static const struct lk_fd_hooks g_fd_hooks = {
	.make_kernel_fd = make_kernel_fd,
	.kernel_fd_close = closed_kernel_fd,
	.host_fd = host_fd_of_lib,
};

int g_cwd_in_lkd;

/* A working directory in lkd, kept across exec (set by our execve): the
 * kernel process keeps its cwd, so only this side needs telling. */
static void init_cwd_from_env(void)
{
	const char *s = getenv("LKD_HIJACK_CWD");
	if (s == NULL) return;
	if (g_cfg.prefix_len > 0 && !strcmp(s, "lkd")) __atomic_store_n(&g_cwd_in_lkd, 1, __ATOMIC_RELAXED);
	unsetenv("LKD_HIJACK_CWD");
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* LKD_HIJACK and LKD_SERVER as this program got them, for the programs
 * it execs. */
char g_cfg_env[512], g_server_env[512];

static void do_attach(void)
{
	const char *cfg = getenv("LKD_HIJACK");
	if (parse_config(cfg) < 0) _exit(126);
	if (cfg) snprintf(g_cfg_env, sizeof(g_cfg_env), "LKD_HIJACK=%s", cfg);
	const char *server = getenv("LKD_SERVER");
	if (server) snprintf(g_server_env, sizeof(g_server_env), "LKD_SERVER=%s", server);
	open_fds(g_before);
	t_in_lib++;
	int r = lk_init();
	t_in_lib--;
	protect_new_fds();
	if (r < 0) {
		/* Never run on the host's stack instead. */
		fprintf(stderr, "liblkhijack: cannot attach to lkd (%s): %s\n",
			getenv("LKD_SERVER") ? getenv("LKD_SERVER") : "unix:///run/lkd/lkd.sock",
			lk_errmsg()[0] ? lk_errmsg() : strerror(errno));
		_exit(126);
	}
	lk_set_fd_hooks(&g_fd_hooks);
	init_fds_from_env();
	init_cwd_from_env();
	for (int fd = 0; fd <= 2; fd++) follow_std_fd(fd);
	flush_streams_at_exit();
	__atomic_store_n(&g_attached, 1, __ATOMIC_RELEASE);
}

void attach_or_die(void)
{
	if (!__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE)) pthread_once(&g_once, do_attach);
}

__attribute__((constructor)) static void hijack_init(void) { attach_or_die(); }

void *libc_fn(void **slot, const char *name)
{
	void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (fn == NULL) {
		fn = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, fn, __ATOMIC_RELEASE);
	}
	return fn;
}
