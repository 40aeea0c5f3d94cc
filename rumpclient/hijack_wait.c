/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * liblkhijack's waits on both kernels. A poll/select/epoll over kernel
 * fds first asks the kernel with a zero timeout. If nothing is ready, the
 * thread waits with lk_wait() (liblkclient's lkclient_wait.c, the one
 * mechanism for both libraries): a waiter thread blocks in the kernel on
 * the kernel fds and writes a host eventfd when they are ready, while the
 * program's thread waits on the host (its host fds plus that eventfd, with
 * its timeout and signal mask, so signals interrupt it as on Linux); then
 * the waiter is cancelled and both sides are harvested with zero timeouts.
 * Blocking receives, sends, accepts and connects on kernel sockets wait
 * the same way (lk_wait_socket).
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
 * A call that may wait blocks signals from its start until its host wait,
 * which unblocks them atomically (ppoll with the mask the call had, or the
 * one it was given): a signal that comes while lkd is being asked then
 * interrupts the wait instead of running its handler just before it, and
 * the call returns EINTR as on Linux. (Left unblocked, it would wait for
 * the next event: the classic lost wake-up.)
 */
struct sig_hold {
	sigset_t old;
	int on;
};

static void hold_signals(struct sig_hold *s, int may_wait)
{
	s->on = may_wait;
	if (may_wait) {
		sigset_t all;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &s->old);
	}
}

static void release_signals(const struct sig_hold *s)
{
	if (s->on) pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

/* The mask during the host wait: the caller's own (ppoll, pselect,
 * epoll_pwait), else the one the thread had. */
static const sigset_t *wait_mask(const struct sig_hold *s, const sigset_t *mask)
{
	return mask ? mask : &s->old;
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
	int last = timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0, result;
	struct sig_hold hold;
	hold_signals(&hold, !last);
	for (;;) {
		int kr = lk_sys_poll(k, nk, 0);
		int hr = kr < 0 ? -1 : nh ? host_ppoll(h, nh, &zero, NULL) : 0;
		if (kr < 0 || hr < 0) {
			result = -1;
			break;
		}
		if (kr + hr > 0 || last) {
			result = kr + hr;
			break;
		}
		struct timespec left;
		if (timeout && !time_left(deadline, &left)) {
			result = 0;
			break;
		}
		int r = lk_wait(h, nh, k, nk, timeout ? &left : NULL, wait_mask(&hold, mask));
		if (r < 0) {
			result = -1;
			break;
		}
		if (r == 0) last = 1;  /* timed out: one more look, then return */
	}
	release_signals(&hold);
	return result;
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
	if (!is_kernel(fd)) {
		int r = (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
		if (r == 0 && epfd >= 0 && epfd < MAX_FD && op != EPOLL_CTL_MOD)
			__atomic_add_fetch(&g_ep_host[epfd], op == EPOLL_CTL_ADD ? 1 : -1,
					   __ATOMIC_RELAXED);
		return r;
	}
	if (syscall(SYS_fcntl, epfd, F_GETFD) < 0) return -1;  /* EBADF as the host says */
	int kep = kernel_epoll_of(epfd);
	if (kep < 0) return -1;
	return epm_ctl(epfd, kep, op, fd, ev);
}

/* epoll_common's wait on kernel epoll `kep` paired with host epoll `epfd`. */
static int epoll_kernel(int epfd, int kep, struct epoll_event *evs, int max,
			const struct timespec *t, const sigset_t *mask)
{
	/* Only kernel fds in it (and no mask to apply): the kernel epoll
	 * alone, blocking inside lkd. A signal with a handler still ends it
	 * with EINTR (liblkclient interrupts the call in lkd), with no waiter
	 * thread's hand-off on the way. */
	if (!mask && __atomic_load_n(&g_ep_host[epfd], __ATOMIC_RELAXED) <= 0) {
		int ms = -1;
		if (t) {
			const int64_t ns = (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
			ms = ns > (int64_t)INT32_MAX * 1000000 ? INT32_MAX : (int)((ns + 999999) / 1000000);
		}
		return lk_sys_epoll_wait(kep, evs, max, ms);
	}
	/* Harvest first (one kernel call when the kernel side has events,
	 * which under load is most of the time), block only when both sides
	 * are empty. */
	const int64_t deadline = deadline_of(t);
	int last = t && t->tv_sec == 0 && t->tv_nsec == 0, n;
	struct sig_hold hold;
	hold_signals(&hold, !last);
	for (;;) {
		n = lk_sys_epoll_wait(kep, evs, max, 0);
		if (n < 0) break;
		if (n < max) {
			int m = (int)syscall(SYS_epoll_pwait, epfd, evs + n, max - n, 0, NULL, 0);
			if (m < 0) {  /* EBADF: not an epoll */
				n = -1;
				break;
			}
			n += m;
		}
		if (n > 0 || last) break;
		struct timespec left;
		if (t && !time_left(deadline, &left)) break;
		const struct pollfd h = {.fd = epfd, .events = POLLIN}, k = {.fd = kep, .events = POLLIN};
		int r = lk_wait(&h, 1, &k, 1, t ? &left : NULL, wait_mask(&hold, mask));
		if (r < 0) {
			n = -1;
			break;
		}
		if (r == 0) last = 1;
	}
	release_signals(&hold);
	return n;
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
	epm_wait_begin(epfd);  /* deferred epoll_ctl changes first */
	int n = epoll_kernel(epfd, kep, evs, max, t, mask);
	int err = errno;
	epm_wait_end(epfd);
	errno = err;
	return n;
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
 * A blocking receive, send, accept or connect on a kernel socket would
 * block inside lkd, out of reach of the program's signals. Instead it is
 * tried without blocking, and when nothing is there the thread waits as
 * poll does (lk_wait_socket: a signal with a handler interrupts it), then
 * tries again. After a signal the call fails with EINTR, unless every
 * installed handler asked for SA_RESTART and the socket has no timeout, as
 * Linux restarts it then. SO_RCVTIMEO bounds the wait (EAGAIN), as in
 * Linux.
 *
 * 1: `events` may be there, try again; 0: EAGAIN (timed out, or the socket
 * is non-blocking after all, which the table then says); -1: errno
 * (EINTR). `restart` 0: the call already did part of its work.
 */
static int wait_blocking(int fd, short events, int timeo_opt, const sigset_t *mask, int restart)
{
	int r = lk_wait_socket(fd, events, timeo_opt, mask, restart);
	if (r < 0 && errno == EAGAIN) {
		set_nb(fd, NB_NONBLOCK);
		return 0;
	}
	return r;
}

/*
 * Runs `attempt` (a call on kernel socket fd that does not block) until it
 * gives something else than EAGAIN, waiting for `events` between tries as
 * wait_blocking() does: -1/EINTR when a signal interrupts, EAGAIN after
 * the socket's `timeo_opt`.
 */
static ssize_t retry_blocking(int fd, short events, int timeo_opt,
			      ssize_t (*attempt)(const void *arg), const void *arg)
{
	struct sig_hold hold;
	hold_signals(&hold, 1);
	ssize_t r;
	for (;;) {
		r = attempt(arg);
		if (r >= 0 || errno != EAGAIN) break;
		if (wait_blocking(fd, events, timeo_opt, &hold.old, 1) <= 0) {
			r = -1;
			break;
		}
	}
	int err = errno;
	release_signals(&hold);
	errno = err;
	return r;
}

static ssize_t receive_once(const struct rx *a, int flags)
{
	if (a->msg) return lk_sys_recvmsg(a->fd, a->msg, flags);
	return lk_sys_recvfrom(a->fd, a->buf, a->n, flags, a->from, a->fromlen);
}

static ssize_t receive_nonblocking(const void *arg)
{
	const struct rx *a = arg;
	return receive_once(a, a->flags | MSG_DONTWAIT);
}

/* Moves a receive's buffers `n` bytes on (after a piece of MSG_WAITALL). */
static void advance(struct rx *a, size_t n)
{
	if (a->msg == NULL) {
		a->buf = (char *)a->buf + n;
		a->n -= n;
		return;
	}
	struct msghdr *m = a->msg;
	while (m->msg_iovlen > 0 && n >= m->msg_iov[0].iov_len) {
		n -= m->msg_iov[0].iov_len;
		m->msg_iov++;
		m->msg_iovlen--;
	}
	if (m->msg_iovlen > 0) {
		m->msg_iov[0].iov_base = (char *)m->msg_iov[0].iov_base + n;
		m->msg_iov[0].iov_len -= n;
	}
}

static int is_stream(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);
	return lk_sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/*
 * MSG_WAITALL on a blocking socket, as Linux's stream receive: pieces taken
 * without blocking until all of it came, the stream ended, an error, a
 * timeout or a signal; then what came, or the error if nothing did (a
 * signal before anything came restarts it where Linux restarts). A
 * datagram socket returns its one message, as Linux does.
 */
static ssize_t receive_all(const struct rx *a)
{
	struct rx piece = *a;
	struct msghdr m;
	struct iovec *iov = NULL;
	size_t want = a->n, done = 0;
	if (a->msg) {
		/* A copy of the caller's iovecs, which advance() moves on. */
		m = *a->msg;
		want = 0;
		for (size_t i = 0; i < m.msg_iovlen; i++) want += m.msg_iov[i].iov_len;
		iov = malloc((m.msg_iovlen ? m.msg_iovlen : 1) * sizeof(*iov));
		if (iov == NULL) {
			errno = ENOMEM;
			return -1;
		}
		if (m.msg_iovlen) memcpy(iov, m.msg_iov, m.msg_iovlen * sizeof(*iov));
		m.msg_iov = iov;
		piece.msg = &m;
	}
	const int flags = (a->flags & ~MSG_WAITALL) | MSG_DONTWAIT;
	struct sig_hold hold;
	hold_signals(&hold, 1);
	ssize_t result = 0;
	int stream = -1;  /* asked once a piece falls short */
	for (;;) {
		ssize_t r = receive_once(&piece, flags);
		if (r > 0) {
			done += (size_t)r;
			if (done >= want) break;
			if (stream < 0) stream = is_stream(a->fd);
			if (!stream) break;
			advance(&piece, (size_t)r);
			continue;
		}
		if (r == 0) break;  /* the end of the stream */
		if (errno != EAGAIN ||
		    wait_blocking(a->fd, POLLIN, SO_RCVTIMEO, &hold.old, done == 0) <= 0) {
			result = -1;
			break;
		}
	}
	int err = errno;
	release_signals(&hold);
	if (a->msg) {
		a->msg->msg_namelen = m.msg_namelen;
		a->msg->msg_controllen = m.msg_controllen;
		a->msg->msg_flags = m.msg_flags;
		free(iov);
	}
	if (done > 0) return (ssize_t)done;
	errno = err;
	return result;
}

ssize_t receive(const struct rx *a)
{
	/* MSG_ERRQUEUE never waits on Linux (an empty queue is EAGAIN at
	 * once); MSG_PEEK with MSG_WAITALL waits for all of it inside lkd. */
	if (nb_of(a->fd) == NB_NONBLOCK)  /* spares liblkclient asking the mode */
		return receive_once(a, a->flags | MSG_DONTWAIT);
	if (nb_of(a->fd) != NB_BLOCK || (a->flags & (MSG_DONTWAIT | MSG_ERRQUEUE)) ||
	    (a->flags & (MSG_WAITALL | MSG_PEEK)) == (MSG_WAITALL | MSG_PEEK))
		return receive_once(a, a->flags);
	if (a->flags & MSG_WAITALL) return receive_all(a);
	return retry_blocking(a->fd, POLLIN, SO_RCVTIMEO, receive_nonblocking, a);
}

/*
 * A blocking connect: started without blocking (O_NONBLOCK set for the
 * call and put back at once) and waited for as poll waits, so that a
 * signal interrupts it: EINTR, the connection going on as on Linux, or a
 * restart under SA_RESTART. SO_SNDTIMEO bounds it (EINPROGRESS, as Linux).
 * The outcome is the socket's SO_ERROR, which Linux's connect also takes.
 */
int connect_wait(int fd, const struct sockaddr *addr, socklen_t len)
{
	int fl = lk_sys_fcntl(fd, F_GETFL, 0);
	if (fl < 0) return -1;
	if (fl & O_NONBLOCK) {
		set_nb(fd, NB_NONBLOCK);
		return lk_sys_connect(fd, addr, len);
	}
	struct sig_hold hold;
	hold_signals(&hold, 1);
	lk_sys_fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	int r = lk_sys_connect(fd, addr, len);
	int err = errno;
	lk_sys_fcntl(fd, F_SETFL, fl);
	if (r < 0 && err == EINPROGRESS) {
		int w = wait_blocking(fd, POLLOUT, SO_SNDTIMEO, &hold.old, 1);
		if (w > 0) {
			int soerr = 0;
			socklen_t n = sizeof(soerr);
			r = lk_sys_getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &n);
			err = errno;
			if (r == 0 && soerr != 0) {
				r = -1;
				err = soerr;
			}
		} else {
			err = w == 0 ? EINPROGRESS : errno;
		}
	}
	release_signals(&hold);
	errno = err;
	return r;
}

/* Before a blocking accept: until a connection waits (0) or -1/errno. */
int accept_wait(int fd)
{
	struct sig_hold hold;
	hold_signals(&hold, 1);
	int r;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		r = lk_sys_poll(&p, 1, 0);
		if (r != 0) {
			r = r < 0 ? -1 : 0;
			break;
		}
		r = wait_blocking(fd, POLLIN, SO_RCVTIMEO, &hold.old, 1);
		if (r < 0) break;
		if (r == 0) {
			r = nb_of(fd) == NB_NONBLOCK ? 0 : -1;
			break;
		}
	}
	int err = errno;
	release_signals(&hold);
	errno = err;
	return r;
}


ssize_t transmit(const struct tx *a)
{
	if (nb_of(a->fd) != NB_BLOCK || (a->flags & MSG_DONTWAIT))
		return lk_sys_sendto(a->fd, a->buf, a->n, a->flags, a->to, a->tolen);
	/* As Linux: all of it, unless a signal or a timeout comes first
	 * (then what went, or -1 if nothing did). */
	struct sig_hold hold;
	hold_signals(&hold, 1);
	size_t done = 0;
	ssize_t result;
	for (;;) {
		ssize_t r = lk_sys_sendto(a->fd, (const char *)a->buf + done, a->n - done,
					  a->flags | MSG_DONTWAIT, a->to, a->tolen);
		if (r >= 0) {
			done += (size_t)r;
			if (done >= a->n) {
				result = (ssize_t)done;
				break;
			}
			continue;
		}
		if (errno != EAGAIN ||
		    wait_blocking(a->fd, POLLOUT, SO_SNDTIMEO, &hold.old, done == 0) <= 0) {
			result = done > 0 ? (ssize_t)done : -1;
			break;
		}
	}
	int err = errno;
	release_signals(&hold);
	errno = err;
	return result;
}

/* sendmsg with control messages: the kernel's own sendmsg, tried without
 * blocking and waited for as transmit() waits, so that a signal reaches
 * the thread. */
struct control_tx {
	int fd;
	const struct msghdr *m;
	int flags;
};

static ssize_t send_control_nonblocking(const void *arg)
{
	const struct control_tx *a = arg;
	return lk_sys_sendmsg(a->fd, a->m, a->flags | MSG_DONTWAIT);
}

ssize_t transmit_msg(int fd, const struct msghdr *m, int flags)
{
	if (nb_of(fd) != NB_BLOCK || (flags & MSG_DONTWAIT))
		return lk_sys_sendmsg(fd, m, flags);
	size_t total = 0, sent = 0;
	for (size_t i = 0; i < m->msg_iovlen; i++) total += m->msg_iov[i].iov_len;
	if (m->msg_controllen != 0) {
		/* A datagram goes whole; a stream may take part of it, and the
		 * rest follows as plain sends, as Linux goes on sending a
		 * blocking stream message after its control messages. */
		const struct control_tx a = {.fd = fd, .m = m, .flags = flags};
		ssize_t r = retry_blocking(fd, POLLOUT, SO_SNDTIMEO, send_control_nonblocking, &a);
		if (r < 0 || (size_t)r >= total) return r;
		sent = (size_t)r;
	}
	char *buf = malloc(total ? total : 1);
	if (buf == NULL) {
		errno = ENOMEM;
		return sent > 0 ? (ssize_t)sent : -1;
	}
	for (size_t i = 0, at = 0; i < m->msg_iovlen; at += m->msg_iov[i].iov_len, i++)
		memcpy(buf + at, m->msg_iov[i].iov_base, m->msg_iov[i].iov_len);
	struct tx a = {.fd = fd, .buf = buf + sent, .n = total - sent, .flags = flags,
		       .to = m->msg_name, .tolen = m->msg_namelen};
	ssize_t r = transmit(&a);
	int err = errno;
	free(buf);
	errno = err;
	if (r < 0) return sent > 0 ? (ssize_t)sent : -1;
	return (ssize_t)(sent + (size_t)r);
}
