/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * liblkhijack.so: runs unmodified programs on lkd's kernel (LD_PRELOAD,
 * in the spirit of NetBSD's librumphijack; our own design). Sockets of the
 * configured families (LKD_HIJACK, below) are created in the program's
 * kernel process inside lkd through liblkclient; everything else (files,
 * pipes, eventfds, AF_UNIX by default) stays on the host.
 *
 * Same number on both sides. For every kernel fd the library holds a host
 * placeholder (an open /dev/null, close-on-exec as the kernel fd is) at
 * the same number, and moves the kernel fd to that number (dup3 inside
 * the kernel process). The host therefore never hands out a number the
 * kernel uses, numbers stay small and dense (FD_SET, arrays indexed by fd),
 * pollfd/fd_set/epoll data never need rewriting, and fork and exec inherit
 * the slot. Invariant: every kernel fd number has a host placeholder at the
 * same number (only a freshly created kernel fd, before it is moved, has
 * none).
 *
 * Mixed waits. A poll/select/epoll over kernel fds first asks the kernel
 * with a zero timeout. If nothing is ready, the calling thread's waiter (a
 * helper thread, one per waiting program thread, not per call) blocks in
 * the kernel on the kernel fds plus a kernel eventfd, and writes a host
 * eventfd when the kernel side is ready. The program's thread waits on the
 * host (its host fds plus that eventfd, with its timeout and signal mask,
 * so signals interrupt it as on Linux); afterwards the waiter is cancelled
 * through the kernel eventfd and both sides are harvested with zero
 * timeouts. epoll: the program's epoll is a host epoll; kernel fds added
 * to it go into a kernel epoll paired with it, with the program's own
 * epoll_data, which comes back untouched (nothing is classified by
 * data.fd).
 *
 * Hooks pass host fds straight to the host with raw system calls, so every
 * hook is safe before initialisation and from inside libraries
 * (liblkclient's own sockets and event loop run through them).
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

#include "rumpclient/lkclient.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- configuration (LKD_HIJACK) ------------------------------------ */

/*
 * LKD_HIJACK="net=inet,inet6,netlink,packet;unix=host;prefix=/lkd"
 *   net=    socket families created in lkd (default: all four)
 *   unix=   host (default) or lkd: where AF_UNIX sockets live
 *   prefix= paths under it are opened in lkd's file systems, the prefix
 *           stripped (default: none)
 */
static struct {
	unsigned families;	/* bit per family below */
	char prefix[256];
	size_t prefix_len;
} g_cfg;

enum { FAM_INET = 1, FAM_INET6 = 2, FAM_NETLINK = 4, FAM_PACKET = 8, FAM_UNIX = 16 };

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
		} else {
			goto bad;
		}
		s += len;
		if (*s == ';') s++;
		continue;
bad:
		fprintf(stderr, "liblkhijack: bad LKD_HIJACK entry '%.*s' (expected "
			"net=inet,inet6,netlink,packet,unix|none; unix=host|lkd; prefix=/PATH)\n",
			(int)len, s);
		return -1;
	}
	return 0;
}

static int family_bit(int domain)
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

#define MAX_FD 65536
enum { FD_HOST = 0, FD_KERNEL = 1, FD_INTERNAL = 2 };
static unsigned char g_kind[MAX_FD];
/* For a host epoll fd: 1 + the kernel epoll paired with it, or 0. */
static int g_kep[MAX_FD];

/*
 * Host fds of the library itself (liblkclient's session socket, its event
 * loop's fds, the channels' memfds, the waiters' eventfds). Programs that
 * close every fd they did not open (a child before exec, Python's
 * close_fds) must not cut the process off lkd: closing one of these from
 * the program is a no-op. Found by looking at /proc/self/fd around the
 * attach, and as the fds that arrive on a library socket.
 */
static unsigned char g_lib[MAX_FD];

/*
 * Blocking mode of kernel sockets as the program set it, so that a call
 * that would block can wait where signals reach it (rx_blocking). Unknown
 * for other kernel fds and for sockets inherited across exec: those calls
 * go to lkd as they are. Only a hint: "blocking" is checked with F_GETFL
 * before waiting (another process may share the open file).
 */
enum { NB_UNKNOWN = 0, NB_NONBLOCK = 1, NB_BLOCK = 2 };
static unsigned char g_nb[MAX_FD];

static void set_nb(int fd, int mode)
{
	if (fd >= 0 && fd < MAX_FD) __atomic_store_n(&g_nb[fd], (unsigned char)mode, __ATOMIC_RELAXED);
}
static int nb_of(int fd)
{
	return fd >= 0 && fd < MAX_FD ? __atomic_load_n(&g_nb[fd], __ATOMIC_RELAXED) : NB_UNKNOWN;
}

static pthread_mutex_t g_fdlock = PTHREAD_MUTEX_INITIALIZER;
/* Kernel fds created outside g_fdlock (a blocking accept) and not yet
 * placed: while any exists, a placement checks its target is free in the
 * kernel too. */
static int g_unlocked_creations;
static int g_attached;

/* Set around liblkclient calls that make libc calls themselves (attach,
 * fork, exec), so that those reach the host as they are. */
static __thread int t_in_lib __attribute__((tls_model("initial-exec")));

static inline int kind(int fd)
{
	if (fd < 0 || fd >= MAX_FD) return FD_HOST;
	return __atomic_load_n(&g_kind[fd], __ATOMIC_ACQUIRE);
}
static inline int is_kernel(int fd) { return kind(fd) != FD_HOST && !t_in_lib; }
static inline void set_kind(int fd, int k) { __atomic_store_n(&g_kind[fd], (unsigned char)k, __ATOMIC_RELEASE); }

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

static void attach_or_die(void);

/*
 * Moves fresh kernel fd `k` to a number whose host placeholder it gets
 * (>= min), marks it `what` and returns that number; on failure closes k
 * and returns -1. Called with g_fdlock held. `mine`: the caller counted
 * itself in g_unlocked_creations.
 */
static int place(int k, int cloexec, int min, int what, int mine)
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
static int adopt_locked(int k, int cloexec, int min, int what)
{
	if (k < 0) return -1;
	return place(k, cloexec, min, what, 0);
}

/* Closes both sides of kernel fd `fd`. */
static int close_kernel(int fd)
{
	int r = lk_sys_close(fd);
	int err = errno;
	set_nb(fd, NB_UNKNOWN);
	set_kind(fd, FD_HOST);
	syscall(SYS_close, fd);
	errno = err;
	return r;
}

static void forget_kep_of(int epfd)
{
	int kep = g_kep[epfd] - 1;
	if (kep < 0) return;
	g_kep[epfd] = 0;
	if (kind(kep) == FD_INTERNAL) close_kernel(kep);
}

/* ---- the library's own fds ----------------------------------------- */

/* Marks in `open` the host fds open now (raw getdents: no hook, no malloc). */
static void open_fds(unsigned char *open)
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

static unsigned char g_before[MAX_FD], g_after[MAX_FD];

/* After an attach: what opened since open_fds(g_before) is the library's,
 * and so is what was the library's and is open (after a fork the child's
 * new connection reuses the numbers of the parent's); the rest is not. */
static void protect_new_fds(void)
{
	open_fds(g_after);
	for (int fd = 0; fd < MAX_FD; fd++)
		g_lib[fd] = g_after[fd] && (g_lib[fd] || !g_before[fd]);
}

static inline int is_lib(int fd) { return fd >= 0 && fd < MAX_FD && g_lib[fd]; }

/* Fds received on a library socket (a channel's memfd) are the library's. */
static void protect_received(int fd, const struct msghdr *m)
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

static void init_fds_from_env(void)
{
	/* Kernel fds kept across exec, by number (set by our execve). */
	const char *s = getenv("LKD_HIJACK_FDS");
	if (s == NULL) return;
	while (*s) {
		char *end;
		long fd = strtol(s, &end, 10);
		if (end == s) break;
		if (fd >= 0 && fd < MAX_FD) set_kind((int)fd, FD_KERNEL);
		s = *end == ',' ? end + 1 : end;
	}
	unsetenv("LKD_HIJACK_FDS");
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* LKD_HIJACK and LKD_SERVER as this program got them, for the programs
 * it execs. */
static char g_cfg_env[512], g_server_env[512];

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
	init_fds_from_env();
	__atomic_store_n(&g_attached, 1, __ATOMIC_RELEASE);
}

static void attach_or_die(void)
{
	if (!__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE)) pthread_once(&g_once, do_attach);
}

__attribute__((constructor)) static void hijack_init(void) { attach_or_die(); }

/* ---- the waiter: kernel readiness as a host eventfd ----------------- */

struct waiter {
	pid_t pid;		/* the process it was made in */
	pthread_t thread;
	int hev;		/* host eventfd the waiter writes */
	int kev;		/* kernel eventfd that cancels its wait */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pollfd *kfds;	/* the kernel fds, then kev */
	nfds_t n, cap;
	int armed, done, kev_written, quit;
};

static __thread struct waiter *t_waiter __attribute__((tls_model("initial-exec")));
static pthread_key_t g_waiter_key;
static pthread_once_t g_waiter_key_once = PTHREAD_ONCE_INIT;

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	uint64_t one = 1, v;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->armed && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit) break;
		int drain = w->kev_written;
		w->kev_written = 0;
		pthread_mutex_unlock(&w->mu);
		if (drain) lk_sys_read(w->kev, &v, sizeof(v));
		lk_sys_poll(w->kfds, w->n, -1);
		syscall(SYS_write, w->hev, &one, sizeof(one));
		pthread_mutex_lock(&w->mu);
		w->armed = 0;
		w->done = 1;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	close_kernel(w->kev);
	g_lib[w->hev] = 0;
	syscall(SYS_close, w->hev);
	free(w->kfds);
	free(w);
	return NULL;
}

static void waiter_stop(void *arg)
{
	struct waiter *w = arg;
	if (w == NULL || w->pid != getpid()) return;
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void make_waiter_key(void) { pthread_key_create(&g_waiter_key, waiter_stop); }

static struct waiter *this_waiter(void)
{
	struct waiter *w = t_waiter;
	/* After fork the parent's waiter thread does not exist here. */
	if (w != NULL && w->pid == getpid()) return w;
	pthread_once(&g_waiter_key_once, make_waiter_key);
	w = calloc(1, sizeof(*w));
	if (w == NULL) return NULL;
	w->pid = getpid();
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->hev = (int)syscall(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->hev >= 0 && w->hev < MAX_FD) g_lib[w->hev] = 1;
	pthread_mutex_lock(&g_fdlock);
	w->kev = adopt_locked(lk_sys_eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), 1, 0, FD_INTERNAL);
	pthread_mutex_unlock(&g_fdlock);
	if (w->hev < 0 || w->kev < 0) goto fail;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);  /* signals are the program's threads' */
	int r = pthread_create(&w->thread, NULL, waiter_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) { errno = r; goto fail; }
	pthread_detach(w->thread);
	t_waiter = w;
	pthread_setspecific(g_waiter_key, w);
	return w;
fail:
	if (w->hev >= 0) syscall(SYS_close, w->hev);
	if (w->kev >= 0) close_kernel(w->kev);
	free(w);
	return NULL;
}

static int waiter_arm(struct waiter *w, const struct pollfd *k, nfds_t nk)
{
	if (nk + 1 > w->cap) {
		struct pollfd *p = realloc(w->kfds, (nk + 1) * sizeof(*p));
		if (p == NULL) { errno = ENOMEM; return -1; }
		w->kfds = p;
		w->cap = nk + 1;
	}
	pthread_mutex_lock(&w->mu);
	memcpy(w->kfds, k, nk * sizeof(*k));
	w->kfds[nk] = (struct pollfd){.fd = w->kev, .events = POLLIN};
	w->n = nk + 1;
	w->done = 0;
	w->armed = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* Cancels the waiter's kernel wait if it still runs, and waits for it. */
static void waiter_finish(struct waiter *w)
{
	uint64_t one = 1, v;
	pthread_mutex_lock(&w->mu);
	if (!w->done) {
		w->kev_written = 1;
		pthread_mutex_unlock(&w->mu);
		lk_sys_write(w->kev, &one, sizeof(one));
		pthread_mutex_lock(&w->mu);
		while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	syscall(SYS_read, w->hev, &v, sizeof(v));
}

/* ---- mixed poll: the core of every wait ----------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int host_ppoll(struct pollfd *f, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	struct timespec copy, *tp = NULL;
	if (t) { copy = *t; tp = &copy; }
	return (int)syscall(SYS_ppoll, f, n, tp, mask, mask ? _NSIG / 8 : 0);
}

/* now + t, or 0 for no timeout. */
static int64_t deadline_of(const struct timespec *t)
{
	return t ? now_ns() + t->tv_sec * 1000000000LL + t->tv_nsec : 0;
}

/* The time left until `deadline` in *left; 0 once it has passed. */
static int time_left(int64_t deadline, struct timespec *left)
{
	int64_t rest = deadline - now_ns();
	if (rest <= 0) return 0;
	left->tv_sec = rest / 1000000000;
	left->tv_nsec = rest % 1000000000;
	return 1;
}

/*
 * Blocks until an entry of h (host fds) or k (kernel fds) may be ready
 * (1), `left` passes (0; NULL: no timeout) or a signal arrives (-1/EINTR).
 * Fills no revents: the caller harvests both sides with zero timeouts.
 */
static int mixed_block(const struct pollfd *h, nfds_t nh, const struct pollfd *k, nfds_t nk,
		       const struct timespec *left, const sigset_t *mask)
{
	struct waiter *w = this_waiter();
	if (w == NULL) return -1;
	struct pollfd small[16], *hw = small;
	if (nh + 1 > 16) {
		hw = malloc((nh + 1) * sizeof(*hw));
		if (hw == NULL) { errno = ENOMEM; return -1; }
	}
	if (nh) memcpy(hw, h, nh * sizeof(*h));
	hw[nh] = (struct pollfd){.fd = w->hev, .events = POLLIN};
	int r = -1, err = ENOMEM;
	if (waiter_arm(w, k, nk) == 0) {
		r = host_ppoll(hw, nh + 1, left, mask);
		err = errno;
		waiter_finish(w);
	}
	if (hw != small) free(hw);
	if (r < 0) {
		errno = err;
		return -1;
	}
	return r > 0;
}

/*
 * Waits until an entry of h (host fds) or k (kernel fds) is ready, the
 * timeout (NULL: none) passes or a signal arrives. Fills every revents;
 * returns the number of ready entries, or -1/errno (EINTR).
 */
static int mixed_poll(struct pollfd *h, nfds_t nh, struct pollfd *k, nfds_t nk,
		      const struct timespec *timeout, const sigset_t *mask)
{
	const struct timespec zero = {0, 0};
	const int64_t deadline = deadline_of(timeout);
	int last = timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0;
	for (;;) {
		int kr = lk_sys_poll(k, nk, 0);
		if (kr < 0) return -1;
		int hr = nh ? host_ppoll(h, nh, &zero, NULL) : 0;
		if (hr < 0) return -1;
		if (kr + hr > 0 || last) return kr + hr;
		struct timespec left;
		if (timeout && !time_left(deadline, &left)) return 0;
		int r = mixed_block(h, nh, k, nk, timeout ? &left : NULL, mask);
		if (r < 0) return -1;
		if (r == 0) last = 1;  /* timed out: one more look, then return */
	}
}

/* Splits pollfds into host and kernel ones, waits, merges back. */
static int split_poll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	struct pollfd small[64], *all = small;
	if (2 * n > 64) {
		all = malloc(2 * n * sizeof(*all));
		if (all == NULL) { errno = ENOMEM; return -1; }
	}
	struct pollfd *h = all, *k = all + n;
	nfds_t nh = 0, nk = 0;
	for (nfds_t i = 0; i < n; i++) {
		if (is_kernel(fds[i].fd)) k[nk++] = fds[i];
		else h[nh++] = fds[i];
	}
	int r = mixed_poll(h, nh, k, nk, t, mask);
	if (r >= 0) {
		nfds_t ih = 0, ik = 0;
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = is_kernel(fds[i].fd) ? k[ik++].revents : h[ih++].revents;
	}
	if (all != small) free(all);
	return r;
}

static int any_kernel(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (is_kernel(fds[i].fd)) return 1;
	return 0;
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	if (!any_kernel(fds, n)) return (int)host_ppoll(fds, n, t, mask);
	return split_poll(fds, n, t, mask);
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	struct timespec t = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
	return ppoll(fds, n, timeout_ms < 0 ? NULL : &t, NULL);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	extern void __chk_fail(void) __attribute__((noreturn));
	if (fdslen / sizeof(*fds) < n) __chk_fail();
	return poll(fds, n, timeout);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
		       const sigset_t *mask, size_t fdslen)
{
	extern void __chk_fail(void) __attribute__((noreturn));
	if (fdslen / sizeof(*fds) < n) __chk_fail();
	return ppoll(fds, n, t, mask);
}

/* select through poll: the same readiness rules as Linux's select. */
static int select_common(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timespec *t,
			 const sigset_t *mask)
{
	if (nfds < 0 || nfds > FD_SETSIZE) { errno = EINVAL; return -1; }
	struct pollfd fds[FD_SETSIZE];
	nfds_t n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (r && FD_ISSET(fd, r)) ev |= POLLIN;
		if (w && FD_ISSET(fd, w)) ev |= POLLOUT;
		if (e && FD_ISSET(fd, e)) ev |= POLLPRI;
		if (ev) fds[n++] = (struct pollfd){.fd = fd, .events = ev};
	}
	int64_t start = t ? now_ns() : 0;
	int rc = split_poll(fds, n, t, mask);
	if (t) {
		int64_t left = (int64_t)t->tv_sec * 1000000000 + t->tv_nsec - (now_ns() - start);
		if (left < 0) left = 0;
		t->tv_sec = left / 1000000000;
		t->tv_nsec = left % 1000000000;
	}
	if (rc < 0) return -1;
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].revents & POLLNVAL) { errno = EBADF; return -1; }
	if (r) FD_ZERO(r);
	if (w) FD_ZERO(w);
	if (e) FD_ZERO(e);
	int count = 0;
	for (nfds_t i = 0; i < n; i++) {
		short ev = fds[i].events, re = fds[i].revents;
		if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR))) { FD_SET(fds[i].fd, r); count++; }
		if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR))) { FD_SET(fds[i].fd, w); count++; }
		if ((ev & POLLPRI) && (re & POLLPRI)) { FD_SET(fds[i].fd, e); count++; }
	}
	return count;
}

static int sets_have_kernel(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) &&
		    is_kernel(fd))
			return 1;
	return 0;
}

EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	if (!sets_have_kernel(nfds, r, w, e)) return (int)syscall(SYS_select, nfds, r, w, e, tv);
	struct timespec t;
	if (tv) { t.tv_sec = tv->tv_sec; t.tv_nsec = tv->tv_usec * 1000; }
	int rc = select_common(nfds, r, w, e, tv ? &t : NULL, NULL);
	if (tv) { tv->tv_sec = t.tv_sec; tv->tv_usec = t.tv_nsec / 1000; }
	return rc;
}

EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
		   const sigset_t *mask)
{
	struct timespec copy;
	if (t) copy = *t;
	if (!sets_have_kernel(nfds, r, w, e)) {
		struct { const sigset_t *ss; size_t len; } data = {mask, _NSIG / 8};
		return (int)syscall(SYS_pselect6, nfds, r, w, e, t ? &copy : NULL, mask ? &data : NULL);
	}
	return select_common(nfds, r, w, e, t ? &copy : NULL, mask);
}

/* ---- epoll --------------------------------------------------------- */

/* The kernel epoll paired with host epoll `epfd`, created on first use. */
static int kernel_epoll_of(int epfd)
{
	if (epfd < 0 || epfd >= MAX_FD) { errno = EBADF; return -1; }
	pthread_mutex_lock(&g_fdlock);
	int kep = g_kep[epfd] - 1;
	if (kep < 0) {
		kep = adopt_locked(lk_sys_epoll_create1(EPOLL_CLOEXEC), 1, 0, FD_INTERNAL);
		if (kep >= 0) g_kep[epfd] = kep + 1;
	}
	pthread_mutex_unlock(&g_fdlock);
	return kep;
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (!is_kernel(fd)) return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
	if (syscall(SYS_fcntl, epfd, F_GETFD) < 0) return -1;  /* EBADF as the host says */
	int kep = kernel_epoll_of(epfd);
	if (kep < 0) return -1;
	return lk_sys_epoll_ctl(kep, op, fd, ev);
}

static int epoll_common(int epfd, struct epoll_event *evs, int max, const struct timespec *t,
			const sigset_t *mask)
{
	int kep = (epfd >= 0 && epfd < MAX_FD) ? g_kep[epfd] - 1 : -1;
	if (kep < 0 || t_in_lib) {
		struct timespec copy;
		if (t) copy = *t;
		return (int)syscall(SYS_epoll_pwait2, epfd, evs, max, t ? &copy : NULL, mask,
				    _NSIG / 8);
	}
	if (max <= 0) { errno = EINVAL; return -1; }
	/* Harvest first (one kernel call when the kernel side has events,
	 * which under load is most of the time), block only when both sides
	 * are empty. */
	const int64_t deadline = deadline_of(t);
	int last = t && t->tv_sec == 0 && t->tv_nsec == 0;
	for (;;) {
		int n = lk_sys_epoll_wait(kep, evs, max, 0);
		if (n < 0) return -1;
		if (n < max) {
			int m = (int)syscall(SYS_epoll_pwait, epfd, evs + n, max - n, 0, NULL, 0);
			if (m < 0) return -1;  /* EBADF: not an epoll */
			n += m;
		}
		if (n > 0 || last) return n;
		struct timespec left;
		if (t && !time_left(deadline, &left)) return 0;
		const struct pollfd h = {.fd = epfd, .events = POLLIN}, k = {.fd = kep, .events = POLLIN};
		int r = mixed_block(&h, 1, &k, 1, t ? &left : NULL, mask);
		if (r < 0) return -1;
		if (r == 0) last = 1;
	}
}

EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout_ms)
{
	struct timespec t = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
	return epoll_common(epfd, evs, max, timeout_ms < 0 ? NULL : &t, NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout_ms,
		       const sigset_t *mask)
{
	struct timespec t = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
	return epoll_common(epfd, evs, max, timeout_ms < 0 ? NULL : &t, mask);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max, const struct timespec *t,
			const sigset_t *mask)
{
	return epoll_common(epfd, evs, max, t, mask);
}

/* ---- blocking calls on kernel sockets ------------------------------ */

/*
 * A blocking receive or accept on a kernel socket would block inside lkd,
 * out of reach of the program's signals. Instead it is tried without
 * blocking, and when nothing is there the thread waits as poll does
 * (mixed_block: a signal with a handler interrupts it), then tries again.
 * After a signal the call fails with EINTR, unless every installed
 * handler asked for SA_RESTART and the socket has no timeout, as Linux
 * restarts it then. SO_RCVTIMEO bounds the wait (EAGAIN), as in Linux.
 */
static int restartable(void)
{
	for (int sig = 1; sig < _NSIG; sig++) {
		struct sigaction sa;
		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0) continue;
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN) continue;
		if (!(sa.sa_flags & SA_RESTART)) return 0;
	}
	return 1;
}

/* 1: `events` may be there, try again; 0: EAGAIN (timed out, or the
 * socket is non-blocking after all); -1: errno (EINTR). */
static int wait_blocking(int fd, short events)
{
	int fl = lk_sys_fcntl(fd, F_GETFL, 0);
	if (fl < 0) return -1;
	if (fl & O_NONBLOCK) {
		set_nb(fd, NB_NONBLOCK);
		errno = EAGAIN;
		return 0;
	}
	struct timeval tv = {0, 0};
	socklen_t len = sizeof(tv);
	struct timespec ts, *tp = NULL;
	if (lk_sys_getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0 &&
	    (tv.tv_sec || tv.tv_usec)) {
		ts.tv_sec = tv.tv_sec;
		ts.tv_nsec = tv.tv_usec * 1000;
		tp = &ts;
	}
	const struct pollfd k = {.fd = fd, .events = events};
	for (;;) {
		int r = mixed_block(NULL, 0, &k, 1, tp, NULL);
		if (r > 0) return 1;
		if (r == 0) {
			errno = EAGAIN;
			return 0;
		}
		if (errno != EINTR || tp != NULL || !restartable()) return -1;
	}
}

struct rx {
	int fd;
	void *buf;
	size_t n;
	int flags;
	struct sockaddr *from;
	socklen_t *fromlen;
	struct msghdr *msg;	/* recvmsg/readv; else buf, n, from */
};

static ssize_t receive_once(const struct rx *a, int flags)
{
	if (a->msg) return lk_sys_recvmsg(a->fd, a->msg, flags);
	return lk_sys_recvfrom(a->fd, a->buf, a->n, flags, a->from, a->fromlen);
}

static ssize_t receive(const struct rx *a)
{
	/* MSG_WAITALL waits for all of it inside lkd, as asked. */
	if (nb_of(a->fd) != NB_BLOCK || (a->flags & (MSG_DONTWAIT | MSG_WAITALL)))
		return receive_once(a, a->flags);
	for (;;) {
		ssize_t r = receive_once(a, a->flags | MSG_DONTWAIT);
		if (r >= 0 || errno != EAGAIN) return r;
		if (wait_blocking(a->fd, POLLIN) <= 0) return -1;
	}
}

/* Before a blocking accept: until a connection waits (0) or -1/errno. */
static int accept_wait(int fd)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = lk_sys_poll(&p, 1, 0);
		if (r != 0) return r < 0 ? -1 : 0;
		r = wait_blocking(fd, POLLIN);
		if (r < 0) return -1;
		if (r == 0) return nb_of(fd) == NB_NONBLOCK ? 0 : -1;
	}
}

/* ---- creating and closing descriptors ------------------------------ */

EXPORT int socket(int domain, int type, int protocol)
{
	if (t_in_lib || !(g_cfg.families & family_bit(domain)) ||
	    !__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE)) {
		if (!t_in_lib && !__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE) && family_bit(domain)) {
			attach_or_die();
			return socket(domain, type, protocol);
		}
		return (int)syscall(SYS_socket, domain, type, protocol);
	}
	pthread_mutex_lock(&g_fdlock);
	int fd = adopt_locked(lk_sys_socket(domain, type, protocol), !!(type & SOCK_CLOEXEC), 0,
			      FD_KERNEL);
	pthread_mutex_unlock(&g_fdlock);
	if (fd >= 0) set_nb(fd, (type & SOCK_NONBLOCK) ? NB_NONBLOCK : NB_BLOCK);
	return fd;
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	if (!is_kernel(fd)) return (int)syscall(SYS_accept4, fd, addr, len, flags);
	if (nb_of(fd) == NB_BLOCK && accept_wait(fd) < 0) return -1;
	/* May block: the kernel fd is made outside the lock, placed under it. */
	__atomic_add_fetch(&g_unlocked_creations, 1, __ATOMIC_ACQ_REL);
	int k = lk_sys_accept4(fd, addr, len, flags);
	int r = -1;
	if (k >= 0) {
		pthread_mutex_lock(&g_fdlock);
		r = place(k, !!(flags & SOCK_CLOEXEC), 0, FD_KERNEL, 1);
		pthread_mutex_unlock(&g_fdlock);
		if (r >= 0) set_nb(r, (flags & SOCK_NONBLOCK) ? NB_NONBLOCK : NB_BLOCK);
	}
	int err = errno;
	__atomic_sub_fetch(&g_unlocked_creations, 1, __ATOMIC_ACQ_REL);
	errno = err;
	return r;
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

/* A pair in lkd for a family that lives there (AF_UNIX with unix=lkd). */
EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	if (t_in_lib || !(g_cfg.families & family_bit(domain)) ||
	    !__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE))
		return (int)syscall(SYS_socketpair, domain, type, protocol, sv);
	int k[2], cloexec = !!(type & SOCK_CLOEXEC);
	pthread_mutex_lock(&g_fdlock);
	int r = lk_sys_socketpair(domain, type, protocol, k);
	if (r == 0) {
		sv[0] = place(k[0], cloexec, 0, FD_KERNEL, 0);
		sv[1] = sv[0] < 0 ? -1 : place(k[1], cloexec, 0, FD_KERNEL, 0);
		if (sv[1] >= 0) {
			set_nb(sv[0], (type & SOCK_NONBLOCK) ? NB_NONBLOCK : NB_BLOCK);
			set_nb(sv[1], (type & SOCK_NONBLOCK) ? NB_NONBLOCK : NB_BLOCK);
		} else {
			int err = errno;
			if (sv[0] >= 0) close_kernel(sv[0]);
			else lk_sys_close(k[1]);
			errno = err;
			r = -1;
		}
	}
	pthread_mutex_unlock(&g_fdlock);
	return r;
}

EXPORT int close(int fd)
{
	/* Not the program's to close. (The library's own closes happen in
	 * lk_fork, whose protect_new_fds then recomputes the table.) */
	if (is_lib(fd) && !t_in_lib) return 0;
	int k = kind(fd);
	if (k == FD_HOST || t_in_lib) {
		if (fd >= 0 && fd < MAX_FD && g_kep[fd]) {
			pthread_mutex_lock(&g_fdlock);
			forget_kep_of(fd);
			pthread_mutex_unlock(&g_fdlock);
		}
		return (int)syscall(SYS_close, fd);
	}
	return close_kernel(fd);
}

static void close_kernel_range(unsigned first, unsigned last, int cloexec_only)
{
	for (unsigned fd = first; fd <= last && fd < MAX_FD; fd++) {
		if (g_kep[fd] && !cloexec_only) {
			pthread_mutex_lock(&g_fdlock);
			forget_kep_of((int)fd);
			pthread_mutex_unlock(&g_fdlock);
		}
		if (kind((int)fd) == FD_HOST) continue;
		if (cloexec_only) lk_sys_fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		else close_kernel((int)fd);
	}
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	if (first > last) { errno = EINVAL; return -1; }
	if (t_in_lib) return (int)syscall(SYS_close_range, first, last, flags);
	close_kernel_range(first, last, flags & CLOSE_RANGE_CLOEXEC);
	/* The host side in pieces between the library's own fds. */
	unsigned from = first;
	for (unsigned fd = first; fd <= last && fd < MAX_FD; fd++) {
		if (!g_lib[fd]) continue;
		if (fd > from && syscall(SYS_close_range, from, fd - 1, flags) < 0) return -1;
		from = fd + 1;
	}
	return from <= last ? (int)syscall(SYS_close_range, from, last, flags) : 0;
}

EXPORT void closefrom(int lowfd)
{
	if (lowfd < 0) lowfd = 0;
	close_range((unsigned)lowfd, ~0u, 0);
}

/* newfd as the host and the kernel see it after dup2/dup3 of a kernel fd. */
static int dup_kernel_to(int oldfd, int newfd, int flags)
{
	if (newfd < 0 || newfd >= MAX_FD) { errno = EBADF; return -1; }
	if (oldfd == newfd) return newfd;
	pthread_mutex_lock(&g_fdlock);
	int r = lk_sys_dup3(oldfd, newfd, flags);
	if (r >= 0) {
		if (g_kep[newfd]) forget_kep_of(newfd);
		/* The host's newfd becomes a placeholder too (closing what was there). */
		if (syscall(SYS_dup3, oldfd, newfd, flags & O_CLOEXEC) < 0) {
			int err = errno;
			lk_sys_close(newfd);
			errno = err;
			r = -1;
		} else {
			set_kind(newfd, FD_KERNEL);
			set_nb(newfd, nb_of(oldfd));  /* one open file, one mode */
		}
	}
	pthread_mutex_unlock(&g_fdlock);
	return r;
}

static int dup_host_over(int oldfd, int newfd, int flags, int use_dup2)
{
	if (is_kernel(newfd) && oldfd != newfd) {
		/* The kernel fd at newfd is closed, as dup2 closes it. */
		if (syscall(SYS_fcntl, oldfd, F_GETFD) < 0) return -1;
		lk_sys_close(newfd);
		set_kind(newfd, FD_HOST);
	}
	if (use_dup2) return (int)syscall(SYS_dup2, oldfd, newfd);
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	if (!is_kernel(oldfd)) return dup_host_over(oldfd, newfd, flags, 0);
	if (oldfd == newfd) { errno = EINVAL; return -1; }
	return dup_kernel_to(oldfd, newfd, flags);
}

EXPORT int dup2(int oldfd, int newfd)
{
	if (!is_kernel(oldfd)) return dup_host_over(oldfd, newfd, 0, 1);
	return dup_kernel_to(oldfd, newfd, 0);
}

EXPORT int dup(int fd)
{
	if (!is_kernel(fd)) return (int)syscall(SYS_dup, fd);
	pthread_mutex_lock(&g_fdlock);
	int r = adopt_locked(lk_sys_dup(fd), 0, 0, FD_KERNEL);
	pthread_mutex_unlock(&g_fdlock);
	if (r >= 0) set_nb(r, nb_of(fd));
	return r;
}

static int fcntl_kernel(int fd, int cmd, long arg)
{
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC: {
		pthread_mutex_lock(&g_fdlock);
		int r = adopt_locked(lk_sys_dup(fd), cmd == F_DUPFD_CLOEXEC, (int)arg, FD_KERNEL);
		pthread_mutex_unlock(&g_fdlock);
		if (r >= 0) set_nb(r, nb_of(fd));
		return r;
	}
	case F_SETFL: {
		int r = lk_sys_fcntl(fd, cmd, arg);
		if (r >= 0 && nb_of(fd) != NB_UNKNOWN)
			set_nb(fd, (arg & O_NONBLOCK) ? NB_NONBLOCK : NB_BLOCK);
		return r;
	}
	case F_SETFD: {
		int r = lk_sys_fcntl(fd, cmd, arg);
		if (r >= 0) syscall(SYS_fcntl, fd, F_SETFD, arg);  /* the placeholder follows */
		return r;
	}
	default:
		return lk_sys_fcntl(fd, cmd, arg);
	}
}

static long fcntl_any(int fd, int cmd, va_list ap)
{
	long arg = va_arg(ap, long);
	if (!is_kernel(fd)) return syscall(SYS_fcntl, fd, cmd, arg);
	return fcntl_kernel(fd, cmd, arg);
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long r = fcntl_any(fd, cmd, ap);
	va_end(ap);
	return (int)r;
}

EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!is_kernel(fd)) return (int)syscall(SYS_ioctl, fd, req, arg);
	switch (req) {
	case FIONREAD:
		return lk_sys_ioctl(fd, req, arg);
	case FIONBIO: {
		int r = lk_sys_ioctl(fd, req, arg);
		if (r >= 0 && arg && nb_of(fd) != NB_UNKNOWN)
			set_nb(fd, *(int *)arg ? NB_NONBLOCK : NB_BLOCK);
		return r;
	}
	case FIOCLEX:
	case FIONCLEX:
		return fcntl_kernel(fd, F_SETFD, req == FIOCLEX ? FD_CLOEXEC : 0);
	default:
		/* Other ioctls are not served by lkd yet (README, known limits). */
		if (lk_sys_fcntl(fd, F_GETFD, 0) < 0) return -1;
		errno = ENOTTY;
		return -1;
	}
}

/* ---- sockets ------------------------------------------------------- */

#define ROUTE(fd, host, kernel) return is_kernel(fd) ? (kernel) : (host)

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t l)
{
	ROUTE(fd, (int)syscall(SYS_connect, fd, a, l), lk_sys_connect(fd, a, l));
}
EXPORT int bind(int fd, const struct sockaddr *a, socklen_t l)
{
	ROUTE(fd, (int)syscall(SYS_bind, fd, a, l), lk_sys_bind(fd, a, l));
}
EXPORT int listen(int fd, int backlog)
{
	ROUTE(fd, (int)syscall(SYS_listen, fd, backlog), lk_sys_listen(fd, backlog));
}
EXPORT int shutdown(int fd, int how)
{
	ROUTE(fd, (int)syscall(SYS_shutdown, fd, how), lk_sys_shutdown(fd, how));
}
EXPORT int getsockname(int fd, struct sockaddr *a, socklen_t *l)
{
	ROUTE(fd, (int)syscall(SYS_getsockname, fd, a, l), lk_sys_getsockname(fd, a, l));
}
EXPORT int getpeername(int fd, struct sockaddr *a, socklen_t *l)
{
	ROUTE(fd, (int)syscall(SYS_getpeername, fd, a, l), lk_sys_getpeername(fd, a, l));
}
EXPORT int getsockopt(int fd, int level, int name, void *v, socklen_t *l)
{
	ROUTE(fd, (int)syscall(SYS_getsockopt, fd, level, name, v, l),
	      lk_sys_getsockopt(fd, level, name, v, l));
}
EXPORT int setsockopt(int fd, int level, int name, const void *v, socklen_t l)
{
	ROUTE(fd, (int)syscall(SYS_setsockopt, fd, level, name, v, l),
	      lk_sys_setsockopt(fd, level, name, v, l));
}
EXPORT ssize_t send(int fd, const void *b, size_t n, int flags)
{
	ROUTE(fd, syscall(SYS_sendto, fd, b, n, flags, NULL, 0), lk_sys_send(fd, b, n, flags));
}
EXPORT ssize_t recv(int fd, void *b, size_t n, int flags)
{
	if (!is_kernel(fd)) return syscall(SYS_recvfrom, fd, b, n, flags, NULL, NULL);
	struct rx a = {.fd = fd, .buf = b, .n = n, .flags = flags};
	return receive(&a);
}
EXPORT ssize_t sendto(int fd, const void *b, size_t n, int flags, const struct sockaddr *to,
		      socklen_t tl)
{
	ROUTE(fd, syscall(SYS_sendto, fd, b, n, flags, to, tl),
	      lk_sys_sendto(fd, b, n, flags, to, tl));
}
EXPORT ssize_t recvfrom(int fd, void *b, size_t n, int flags, struct sockaddr *from,
			socklen_t *fl)
{
	if (!is_kernel(fd)) return syscall(SYS_recvfrom, fd, b, n, flags, from, fl);
	struct rx a = {.fd = fd, .buf = b, .n = n, .flags = flags, .from = from, .fromlen = fl};
	return receive(&a);
}
EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	ROUTE(fd, syscall(SYS_sendmsg, fd, m, flags), lk_sys_sendmsg(fd, m, flags));
}
EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	if (is_kernel(fd)) {
		struct rx a = {.fd = fd, .flags = flags, .msg = m};
		return receive(&a);
	}
	ssize_t r = syscall(SYS_recvmsg, fd, m, flags);
	if (r >= 0) protect_received(fd, m);
	return r;
}

EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	if (!is_kernel(fd)) return (int)syscall(SYS_sendmmsg, fd, v, n, flags);
	unsigned i;
	for (i = 0; i < n; i++) {
		ssize_t r = lk_sys_sendmsg(fd, &v[i].msg_hdr, flags);
		if (r < 0) return i > 0 ? (int)i : -1;
		v[i].msg_len = (unsigned)r;
	}
	return (int)i;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
{
	if (!is_kernel(fd)) return (int)syscall(SYS_recvmmsg, fd, v, n, flags, t);
	unsigned i;
	for (i = 0; i < n; i++) {
		/* After the first message, only what is already there. */
		ssize_t r = lk_sys_recvmsg(fd, &v[i].msg_hdr, i ? flags | MSG_DONTWAIT : flags);
		if (r < 0) return i > 0 ? (int)i : -1;
		v[i].msg_len = (unsigned)r;
		if (flags & MSG_WAITFORONE) flags |= MSG_DONTWAIT;
	}
	return (int)i;
}

/* ---- reading and writing ------------------------------------------- */

EXPORT ssize_t read(int fd, void *b, size_t n)
{
	if (!is_kernel(fd)) return syscall(SYS_read, fd, b, n);
	if (nb_of(fd) != NB_BLOCK) return lk_sys_read(fd, b, n);
	struct rx a = {.fd = fd, .buf = b, .n = n};  /* a socket: read is recv */
	return receive(&a);
}
EXPORT ssize_t write(int fd, const void *b, size_t n)
{
	ROUTE(fd, syscall(SYS_write, fd, b, n), lk_sys_write(fd, b, n));
}
EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	if (!is_kernel(fd)) return syscall(SYS_readv, fd, iov, n);
	if (nb_of(fd) != NB_BLOCK) return lk_sys_readv(fd, iov, n);
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
	struct rx a = {.fd = fd, .msg = &m};
	return receive(&a);
}
EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	ROUTE(fd, syscall(SYS_writev, fd, iov, n), lk_sys_writev(fd, iov, n));
}
EXPORT ssize_t pread(int fd, void *b, size_t n, off_t off)
{
	ROUTE(fd, syscall(SYS_pread64, fd, b, n, off), lk_sys_pread(fd, b, n, off));
}
EXPORT ssize_t pwrite(int fd, const void *b, size_t n, off_t off)
{
	ROUTE(fd, syscall(SYS_pwrite64, fd, b, n, off), lk_sys_pwrite(fd, b, n, off));
}
EXPORT ssize_t pread64(int fd, void *b, size_t n, off_t off) { return pread(fd, b, n, off); }
EXPORT ssize_t pwrite64(int fd, const void *b, size_t n, off_t off) { return pwrite(fd, b, n, off); }

extern void __chk_fail(void) __attribute__((noreturn));

EXPORT ssize_t __read_chk(int fd, void *b, size_t n, size_t buflen)
{
	if (n > buflen) __chk_fail();
	return read(fd, b, n);
}
EXPORT ssize_t __recv_chk(int fd, void *b, size_t n, size_t buflen, int flags)
{
	if (n > buflen) __chk_fail();
	return recv(fd, b, n, flags);
}
EXPORT ssize_t __recvfrom_chk(int fd, void *b, size_t n, size_t buflen, int flags,
			      struct sockaddr *from, socklen_t *fl)
{
	if (n > buflen) __chk_fail();
	return recvfrom(fd, b, n, flags, from, fl);
}
EXPORT ssize_t __pread_chk(int fd, void *b, size_t n, off_t off, size_t buflen)
{
	if (n > buflen) __chk_fail();
	return pread(fd, b, n, off);
}
EXPORT ssize_t __pread64_chk(int fd, void *b, size_t n, off_t off, size_t buflen)
{
	if (n > buflen) __chk_fail();
	return pread(fd, b, n, off);
}

/*
 * sendfile across the two kernels: read from `in`, write to `out`, and
 * advance the file position only by what `out` took.
 */
EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
	if (!is_kernel(out) && !is_kernel(in)) return syscall(SYS_sendfile, out, in, offset, count);
	char buf[65536];
	size_t n = count < sizeof(buf) ? count : sizeof(buf);
	off_t pos = offset ? *offset : lseek(in, 0, SEEK_CUR);
	if (pos < 0) return -1;
	ssize_t got = pread(in, buf, n, pos);
	if (got <= 0) return got;
	ssize_t put = write(out, buf, (size_t)got);
	if (put < 0) return -1;
	if (offset) *offset = pos + put;
	else if (lseek(in, pos + put, SEEK_SET) < 0) return -1;
	return put;
}

EXPORT ssize_t sendfile64(int out, int in, off_t *offset, size_t count)
{
	return sendfile(out, in, offset, count);
}

EXPORT off_t lseek(int fd, off_t off, int whence)
{
	ROUTE(fd, syscall(SYS_lseek, fd, off, whence), lk_sys_lseek(fd, off, whence));
}
EXPORT off_t lseek64(int fd, off_t off, int whence) { return lseek(fd, off, whence); }

EXPORT int fsync(int fd)
{
	ROUTE(fd, (int)syscall(SYS_fsync, fd), lk_sys_fsync(fd));
}
/* liblkclient has no fdatasync of its own: fsync does more, never less. */
EXPORT int fdatasync(int fd)
{
	ROUTE(fd, (int)syscall(SYS_fdatasync, fd), lk_sys_fsync(fd));
}
EXPORT int ftruncate(int fd, off_t len)
{
	ROUTE(fd, (int)syscall(SYS_ftruncate, fd, len), lk_sys_ftruncate(fd, len));
}
EXPORT int ftruncate64(int fd, off_t len) { return ftruncate(fd, len); }

/* ---- stat of kernel fds -------------------------------------------- */

EXPORT int fstat(int fd, struct stat *st)
{
	ROUTE(fd, (int)syscall(SYS_fstat, fd, st), lk_sys_fstat(fd, st));
}
EXPORT int fstat64(int fd, struct stat64 *st) { return fstat(fd, (struct stat *)st); }
EXPORT int __fxstat(int ver, int fd, struct stat *st) { (void)ver; return fstat(fd, st); }
EXPORT int __fxstat64(int ver, int fd, struct stat64 *st) { (void)ver; return fstat(fd, (struct stat *)st); }

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	if ((flags & AT_EMPTY_PATH) && path && !path[0] && is_kernel(dirfd))
		return lk_sys_fstat(dirfd, st);
	return (int)syscall(SYS_newfstatat, dirfd, path, st, flags);
}
EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

/* ---- files under the prefix ---------------------------------------- */

/* The path inside lkd for a host path under the prefix, or NULL. */
static const char *lkd_path(int dirfd, const char *path)
{
	if (g_cfg.prefix_len == 0 || path == NULL || path[0] != '/' || t_in_lib) {
		(void)dirfd;
		return NULL;
	}
	if (strncmp(path, g_cfg.prefix, g_cfg.prefix_len) != 0) return NULL;
	const char *rest = path + g_cfg.prefix_len;
	if (*rest == 0) return "/";
	return *rest == '/' ? rest : NULL;
}

static int open_common(int dirfd, const char *path, int flags, mode_t mode)
{
	const char *inside = lkd_path(dirfd, path);
	if (inside == NULL) {
		if (is_kernel(dirfd) && path && path[0] != '/')
			goto kernel;  /* relative to a kernel directory */
		return (int)syscall(SYS_openat, dirfd, path, flags, mode);
	}
	attach_or_die();
	dirfd = AT_FDCWD;
	path = inside;
kernel:;
	pthread_mutex_lock(&g_fdlock);
	int fd = adopt_locked(lk_sys_openat(dirfd, path, flags, mode), !!(flags & O_CLOEXEC), 0,
			      FD_KERNEL);
	pthread_mutex_unlock(&g_fdlock);
	return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(AT_FDCWD, path, flags, mode);
}
/* The 64-bit twins are the same functions on x86-64. */
EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));
EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common(dirfd, path, flags, mode);
}
EXPORT int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));
EXPORT int __open_2(const char *path, int flags) { return open_common(AT_FDCWD, path, flags, 0); }
EXPORT int __open64_2(const char *path, int flags) { return open_common(AT_FDCWD, path, flags, 0); }
EXPORT int __openat_2(int dirfd, const char *path, int flags) { return open_common(dirfd, path, flags, 0); }
EXPORT int __openat64_2(int dirfd, const char *path, int flags) { return open_common(dirfd, path, flags, 0); }
EXPORT int creat(const char *path, mode_t mode)
{
	return open_common(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
EXPORT int creat64(const char *path, mode_t mode) { return creat(path, mode); }

/* ---- processes ----------------------------------------------------- */

static pid_t host_fork(void)
{
	static pid_t (*real_fork)(void);
	if (real_fork == NULL) real_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
	return real_fork();
}

EXPORT pid_t fork(void)
{
	if (t_in_lib || !__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE)) return host_fork();
	/* No placement half done while the kernel process is copied. */
	pthread_mutex_lock(&g_fdlock);
	open_fds(g_before);
	t_in_lib++;
	pid_t pid = lk_fork();
	int err = errno;
	t_in_lib--;
	if (pid == 0) protect_new_fds();
	pthread_mutex_unlock(&g_fdlock);
	if (pid < 0) {
		fprintf(stderr, "liblkhijack: fork: %s\n", lk_errmsg());
		errno = err;
	}
	return pid;
}

/* vfork's child shares the parent's memory; ours must attach on its own. */
EXPORT pid_t vfork(void) { return fork(); }

EXPORT int daemon(int nochdir, int noclose)
{
	pid_t pid = fork();
	if (pid < 0) return -1;
	if (pid > 0) _exit(0);
	if (setsid() < 0) return -1;
	if (!nochdir && chdir("/") < 0) return -1;
	if (!noclose) {
		int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
		if (fd < 0) return -1;
		for (int i = 0; i < 3; i++) dup2(fd, i);
		if (fd > 2) close(fd);
	}
	return 0;
}

extern char **environ;

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	if (t_in_lib || !__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE))
		return (int)syscall(SYS_execve, path, argv, envp);
	/* The kernel fds the new program keeps: those without close-on-exec. */
	size_t cap = 64, len = 0;
	char *list = malloc(cap);
	if (list == NULL) { errno = ENOMEM; return -1; }
	len = (size_t)snprintf(list, cap, "LKD_HIJACK_FDS=");
	for (int fd = 0; fd < MAX_FD; fd++) {
		if (kind(fd) != FD_KERNEL) continue;
		long fl = syscall(SYS_fcntl, fd, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC)) continue;
		if (len + 16 > cap) {
			char *p = realloc(list, cap *= 2);
			if (p == NULL) { free(list); errno = ENOMEM; return -1; }
			list = p;
		}
		len += (size_t)snprintf(list + len, cap - len, "%s%d",
					list[len - 1] == '=' ? "" : ",", fd);
	}
	/*
	 * The new program keeps its kernel process, so it must load this
	 * library whatever environment it is given (env -i, sudo, a daemon's
	 * clean environment): else it would run on the host's stack with the
	 * kernel process orphaned. LD_PRELOAD, LKD_HIJACK and LKD_SERVER are
	 * carried over unless envp already names them.
	 */
	Dl_info self;
	char preload[PATH_MAX + 16] = "";
	if (dladdr((void *)execve, &self) && self.dli_fname)
		snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", self.dli_fname);
	size_t n = 0;
	int has_preload = 0, has_cfg = 0, has_server = 0;
	for (; envp && envp[n]; n++) {
		if (!strncmp(envp[n], "LD_PRELOAD=", 11) && strstr(envp[n], "liblkhijack")) has_preload = 1;
		if (!strncmp(envp[n], "LKD_HIJACK=", 11)) has_cfg = 1;
		if (!strncmp(envp[n], "LKD_SERVER=", 11)) has_server = 1;
	}
	char **env = malloc((n + 5) * sizeof(*env));
	if (env == NULL) { free(list); errno = ENOMEM; return -1; }
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(envp[i], "LKD_HIJACK_FDS=", 15)) continue;
		if (!has_preload && preload[0] && !strncmp(envp[i], "LD_PRELOAD=", 11)) continue;
		env[j++] = envp[i];
	}
	if (!has_preload && preload[0]) env[j++] = preload;
	if (!has_cfg && g_cfg_env[0]) env[j++] = g_cfg_env;
	if (!has_server && g_server_env[0]) env[j++] = g_server_env;
	env[j++] = list;
	env[j] = NULL;
	t_in_lib++;
	int r = lk_exec(path, argv, env);
	int err = errno;
	t_in_lib--;
	free(env);
	free(list);
	errno = err;
	return r;
}

EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (file == NULL || *file == 0) { errno = ENOENT; return -1; }
	if (strchr(file, '/')) return execve(file, argv, envp);
	const char *path = getenv("PATH");
	if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
	int saw_eacces = 0;
	size_t flen = strlen(file);
	while (*path) {
		size_t dlen = strcspn(path, ":");
		char full[PATH_MAX];
		if (dlen + flen + 2 <= sizeof(full)) {
			if (dlen == 0) {
				memcpy(full, file, flen + 1);
			} else {
				memcpy(full, path, dlen);
				full[dlen] = '/';
				memcpy(full + dlen + 1, file, flen + 1);
			}
			execve(full, argv, envp);
			if (errno == EACCES) saw_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR) return -1;
		}
		path += dlen;
		if (*path == ':') path++;
	}
	errno = saw_eacces ? EACCES : ENOENT;
	return -1;
}

EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }

/* execl, execle, execlp: the list as an argv. */
#define ARGV_FROM_LIST(arg0, ap, argv)                                   \
	size_t argc_ = 1;                                               \
	va_start(ap, arg0);                                             \
	while (va_arg(ap, char *) != NULL) argc_++;                     \
	va_end(ap);                                                     \
	char *argv[argc_ + 1];                                          \
	argv[0] = (char *)(arg0);                                       \
	va_start(ap, arg0);                                             \
	for (size_t i_ = 1; i_ <= argc_; i_++) argv[i_] = va_arg(ap, char *);

EXPORT int execl(const char *path, const char *arg0, ...)
{
	va_list ap;
	ARGV_FROM_LIST(arg0, ap, argv);
	va_end(ap);
	return execve(path, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg0, ...)
{
	va_list ap;
	ARGV_FROM_LIST(arg0, ap, argv);
	va_end(ap);
	return execvpe(file, argv, environ);
}

EXPORT int execle(const char *path, const char *arg0, ...)
{
	va_list ap;
	ARGV_FROM_LIST(arg0, ap, argv);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}
