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
 * timeouts. The waiter is liblkclient's (lk_wait), whose own blocking calls
 * wait the same way; its kernel eventfd gets a placeholder through
 * lk_set_fd_hooks (hijack_state.c). epoll: the program's epoll is a host epoll; kernel fds added
 * to it go into a kernel epoll paired with it, with the program's own
 * epoll_data, which comes back untouched (nothing is classified by
 * data.fd).
 *
 * Hooks pass host fds straight to the host with raw system calls, so every
 * hook is safe before initialisation and from inside libraries
 * (liblkclient's own sockets and event loop run through them).
 *
 * This file has the hooks for descriptors, sockets, I/O, paths under the
 * prefix, fork and exec; hijack_state.c the configuration, the fd table
 * and attaching; hijack_wait.c the waits; hijack_dir.c the directory
 * streams on lkd's directories (hijack.h).
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
#include <sys/file.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "lkd/sysnr.h"
#include "rumpclient/hijack.h"
#include "rumpclient/lkclient.h"


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
	/* Raw: the wait above took signals; liblkclient's accept would ask
	 * again whether a connection waits. */
	long k = lk_syscall(LKD_NR_accept4, fd, (long)addr, (long)len, flags, 0, 0);
	int r = -1;
	if (k >= 0) {
		pthread_mutex_lock(&g_fdlock);
		r = place((int)k, !!(flags & SOCK_CLOEXEC), 0, FD_KERNEL, 1);
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
	epm_fd_closing(newfd);  /* its number gets another open file */
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
		epm_fd_closing(newfd);
		lk_sys_close(newfd);
		set_kind(newfd, FD_HOST);
	}
	if (use_dup2) return (int)syscall(SYS_dup2, oldfd, newfd);
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

/* dup3 (use_dup2 0) or dup2 (1, flags 0). */
static int dup_fd(int oldfd, int newfd, int flags, int use_dup2)
{
	if (!is_kernel(oldfd)) return dup_host_over(oldfd, newfd, flags, use_dup2);
	if (!use_dup2 && oldfd == newfd) { errno = EINVAL; return -1; }
	return dup_kernel_to(oldfd, newfd, flags);
}

/* Onto 0, 1 or 2, the standard stream follows (hijack_stdio.c). */
static int dup_onto(int oldfd, int newfd, int flags, int use_dup2)
{
	if (newfd < 0 || newfd > 2 || oldfd == newfd) return dup_fd(oldfd, newfd, flags, use_dup2);
	std_fd_will_change(newfd);
	int r = dup_fd(oldfd, newfd, flags, use_dup2);
	if (r >= 0) follow_std_fd(newfd);
	return r;
}
EXPORT int dup3(int oldfd, int newfd, int flags) { return dup_onto(oldfd, newfd, flags, 0); }
EXPORT int dup2(int oldfd, int newfd) { return dup_onto(oldfd, newfd, 0, 1); }

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
	case SIOCGIFNAME: case SIOCGIFINDEX: case SIOCGIFFLAGS: case SIOCSIFFLAGS:
	case SIOCGIFADDR: case SIOCSIFADDR: case SIOCGIFNETMASK: case SIOCSIFNETMASK:
	case SIOCGIFBRDADDR: case SIOCSIFBRDADDR: case SIOCGIFMTU: case SIOCSIFMTU:
	case SIOCGIFHWADDR: case SIOCGIFTXQLEN: case SIOCGIFCONF:
		/* One link's struct ifreq, or every link's (SIOCGIFCONF), asked of
		 * lkd's kernel (liblkclient). */
		return lk_sys_ioctl(fd, req, arg);
	case SIOCETHTOOL:
		/* Not served (its struct ifreq points at a command-sized
		 * struct): EOPNOTSUPP, Linux's answer for an ethtool command a
		 * driver lacks, which libpcap (tcpdump) takes as "no time stamp
		 * information" and goes on. */
		if (lk_sys_fcntl(fd, F_GETFD, 0) < 0) return -1;
		errno = EOPNOTSUPP;
		return -1;
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
	if (!is_kernel(fd)) return (int)syscall(SYS_connect, fd, a, l);
	if (nb_of(fd) != NB_BLOCK) return lk_sys_connect(fd, a, l);
	return connect_wait(fd, a, l);
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
	if (!is_kernel(fd)) return syscall(SYS_sendto, fd, b, n, flags, NULL, 0);
	struct tx a = {.fd = fd, .buf = b, .n = n, .flags = flags};
	return transmit(&a);
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
	if (!is_kernel(fd)) return syscall(SYS_sendto, fd, b, n, flags, to, tl);
	struct tx a = {.fd = fd, .buf = b, .n = n, .flags = flags, .to = to, .tolen = tl};
	return transmit(&a);
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
	ROUTE(fd, syscall(SYS_sendmsg, fd, m, flags), transmit_msg(fd, m, flags));
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
	/* Spares liblkclient finding out the socket's mode on EAGAIN. */
	if (nb_of(fd) == NB_NONBLOCK) flags |= MSG_DONTWAIT;
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
	if (!is_kernel(fd)) return syscall(SYS_write, fd, b, n);
	if (nb_of(fd) != NB_BLOCK) return lk_sys_write(fd, b, n);
	struct tx a = {.fd = fd, .buf = b, .n = n};  /* a socket: write is send */
	return transmit(&a);
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
	if (!is_kernel(fd)) return syscall(SYS_writev, fd, iov, n);
	if (nb_of(fd) != NB_BLOCK) return lk_sys_writev(fd, iov, n);
	if (n < 0 || n > 1024) {
		errno = EINVAL;
		return -1;
	}
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
	return transmit_msg(fd, &m, 0);
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

/*
 * flock, fallocate and fadvise on kernel files. glibc's posix_fallocate
 * falls back to writing zeros with internal calls when fallocate fails,
 * and flock on the placeholder would grant every lock: both are lkd's
 * calls here (posix_fallocate and posix_fadvise return the error rather
 * than setting errno, as POSIX has them).
 */
EXPORT int flock(int fd, int op)
{
	ROUTE(fd, (int)syscall(SYS_flock, fd, op), (int)lk_syscall(LKD_NR_flock, fd, op, 0, 0, 0, 0));
}
EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	ROUTE(fd, (int)syscall(SYS_fallocate, fd, mode, off, len),
	      (int)lk_syscall(LKD_NR_fallocate, fd, mode, off, len, 0, 0));
}
EXPORT int fallocate64(int fd, int mode, off_t off, off_t len) { return fallocate(fd, mode, off, len); }
EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	if (!is_kernel(fd)) {
		LIBC(posix_fallocate);
		return host(fd, off, len);
	}
	if (off < 0 || len <= 0) return EINVAL;
	if (lk_syscall(LKD_NR_fallocate, fd, 0, off, len, 0, 0) == 0) return 0;
	if (errno != EOPNOTSUPP) return errno;
	/* As glibc's fallback for file systems without fallocate (lkd's
	 * ramfs root): the file grows to the range's end. */
	struct stat st;
	if (fstat(fd, &st) < 0) return errno;
	if (!S_ISREG(st.st_mode)) return ENODEV;
	if (st.st_size < off + len && ftruncate(fd, off + len) < 0) return errno;
	return 0;
}
EXPORT int posix_fallocate64(int fd, off_t off, off_t len) { return posix_fallocate(fd, off, len); }
EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	if (!is_kernel(fd)) return syscall(SYS_fadvise64, fd, off, len, advice) < 0 ? errno : 0;
	return lk_syscall(LKD_NR_fadvise64, fd, off, len, advice, 0, 0) < 0 ? errno : 0;
}
EXPORT int posix_fadvise64(int fd, off_t off, off_t len, int advice)
{
	return posix_fadvise(fd, off, len, advice);
}

/*
 * mmap of a kernel file. lkd's memory is not the program's, so a private
 * mapping (git reads its config, index and packs so) is filled with a
 * copy read from lkd: anonymous memory with the file's bytes, zeros past
 * its end as Linux gives up to the page's end, the protection asked for.
 * Its later changes are the program's own, as a private mapping's are. A
 * shared mapping, whose changes other processes and the file must see
 * (sqlite's WAL index), cannot be made: ENODEV, as Linux says for files
 * that have no mmap.
 */
static void *mmap_kernel(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if ((flags & MAP_TYPE) != MAP_PRIVATE || len == 0 || off < 0 ||
	    (off & (sysconf(_SC_PAGESIZE) - 1))) {
		errno = (flags & MAP_TYPE) != MAP_PRIVATE ? ENODEV : EINVAL;
		return MAP_FAILED;
	}
	void *p = (void *)syscall(SYS_mmap, addr, len, PROT_READ | PROT_WRITE,
				  (flags & ~MAP_TYPE) | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return MAP_FAILED;
	size_t done = 0;
	while (done < len) {
		ssize_t got = pread(fd, (char *)p + done, len - done, off + (off_t)done);
		if (got < 0 && errno == EINTR) continue;
		if (got < 0) {
			int err = errno;
			syscall(SYS_munmap, p, len);
			errno = err;
			return MAP_FAILED;
		}
		if (got == 0) break;
		done += (size_t)got;
	}
	if (prot != (PROT_READ | PROT_WRITE) && syscall(SYS_mprotect, p, len, prot) < 0) {
		int err = errno;
		syscall(SYS_munmap, p, len);
		errno = err;
		return MAP_FAILED;
	}
	return p;
}
EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!(flags & MAP_ANONYMOUS) && is_kernel(fd)) return mmap_kernel(addr, len, prot, flags, fd, off);
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

/*
 * copy_file_range between two kernel fds is lkd's own (the copy stays in
 * its kernel); between a kernel fd and a host one it is EXDEV, two file
 * systems, which cp and python's shutil answer with a plain copy (the
 * host's call on the placeholder would say EINVAL, or copy /dev/null).
 */
EXPORT ssize_t copy_file_range(int in, loff_t *off_in, int out, loff_t *off_out, size_t len,
			       unsigned int flags)
{
	const int k_in = is_kernel(in), k_out = is_kernel(out);
	if (!k_in && !k_out) return syscall(SYS_copy_file_range, in, off_in, out, off_out, len, flags);
	if (k_in != k_out) {
		errno = EXDEV;
		return -1;
	}
	return lk_syscall(LKD_NR_copy_file_range, in, (long)off_in, out, (long)off_out, (long)len,
			  flags);
}

/*
 * splice and tee move data through a pipe, which is the host's: with a
 * kernel fd on either side the host's call would read or write the
 * placeholder (/dev/null: an early EOF, data dropped). EINVAL, which
 * Linux gives for fds it cannot splice, sends programs to read and write.
 */
EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len,
		      unsigned int flags)
{
	if (is_kernel(in) || is_kernel(out)) {
		errno = EINVAL;
		return -1;
	}
	return syscall(SYS_splice, in, off_in, out, off_out, len, flags);
}
EXPORT ssize_t tee(int in, int out, size_t len, unsigned int flags)
{
	if (is_kernel(in) || is_kernel(out)) {
		errno = EINVAL;
		return -1;
	}
	return syscall(SYS_tee, in, out, len, flags);
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

/* ---- paths under the prefix, stat ---------------------------------- */

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

/* Whether the first `n` bytes of `name` are one of the prefix's path
 * components ("lkd" of /lkd, "mnt" or "lkd" of /mnt/lkd). */
static int prefix_has_component(const char *name, size_t n)
{
	const char *c = g_cfg.prefix;
	while (*c) {
		while (*c == '/') c++;
		size_t len = strcspn(c, "/");
		if (len == n && !memcmp(c, name, n)) return 1;
		c += len;
	}
	return 0;
}

/*
 * A relative path from a host directory fd that leads into the prefix:
 * rsync walks to its destination one component at a time from an fd of
 * "/" (openat of "/", then fstatat and openat of "lkd" under it), so its
 * host fd of "/" and the name "lkd/..." are lkd's root. Only a path whose
 * first component is one of the prefix's is looked at, so that find and
 * fts, which make every call relative to a directory fd, do not pay for
 * the readlink of the fd's path. The result lives in one of two buffers
 * of the calling thread (a rename asks for two at once).
 */
static const char *host_dir_path_into_prefix(int dirfd, const char *path)
{
	if (g_cfg.prefix_len <= 1 || dirfd < 0 || t_in_lib) return NULL;
	const size_t first = strcspn(path, "/");
	if (first == 0 || !prefix_has_component(path, first)) return NULL;
	char link[32], dir[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	const long n = syscall(SYS_readlinkat, AT_FDCWD, link, dir, sizeof(dir) - 1);
	if (n <= 0 || dir[0] != '/') return NULL;
	dir[n] = 0;
	static __thread char full[2][PATH_MAX];
	static __thread int which;
	which ^= 1;
	const int len = snprintf(full[which], PATH_MAX, "%s/%s", strcmp(dir, "/") ? dir : "", path);
	if (len <= 0 || len >= PATH_MAX) return NULL;
	return lkd_path(AT_FDCWD, full[which]);
}

int to_lkd(int *dirfd, const char **path)
{
	const char *inside = lkd_path(*dirfd, *path);
	if (inside == NULL && *dirfd >= 0 && *path && (*path)[0] != '/' && !is_kernel(*dirfd))
		inside = host_dir_path_into_prefix(*dirfd, *path);
	if (inside != NULL) {
		attach_or_die();
		*dirfd = AT_FDCWD;
		*path = inside;
		return 1;
	}
	if (*dirfd == AT_FDCWD) return cwd_in_lkd() && *path && (*path)[0] != '/';
	return is_kernel(*dirfd) && *path && (*path)[0] != '/';
}

/* to_lkd(), or an empty path with AT_EMPTY_PATH on a kernel fd: the call
 * is about that fd itself. */
static int at_lkd(int *dirfd, const char **path, int flags)
{
	if ((flags & AT_EMPTY_PATH) && opaque_ptr(*path) && !(*path)[0] && is_kernel(*dirfd))
		return 1;
	return to_lkd(dirfd, path);
}


EXPORT int fstat(int fd, struct stat *st)
{
	ROUTE(fd, (int)syscall(SYS_fstat, fd, st), lk_sys_fstat(fd, st));
}
EXPORT int fstat64(int fd, struct stat64 *st) { return fstat(fd, (struct stat *)st); }
EXPORT int __fxstat(int ver, int fd, struct stat *st) { (void)ver; return fstat(fd, st); }
EXPORT int __fxstat64(int ver, int fd, struct stat64 *st) { (void)ver; return fstat(fd, (struct stat *)st); }

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	if ((flags & AT_EMPTY_PATH) && opaque_ptr(path) && !path[0] && is_kernel(dirfd))
		return lk_sys_fstat(dirfd, st);
	if (to_lkd(&dirfd, &path)) return lk_sys_fstatat(dirfd, path, st, flags);
	return (int)syscall(SYS_newfstatat, dirfd, path, st, flags);
}
EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}
EXPORT int stat(const char *path, struct stat *st) { return fstatat(AT_FDCWD, path, st, 0); }
EXPORT int stat64(const char *path, struct stat64 *st)
{
	return fstatat(AT_FDCWD, path, (struct stat *)st, 0);
}
EXPORT int lstat(const char *path, struct stat *st)
{
	return fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}
EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
}
/* The legacy names binaries built before glibc 2.33 call. */
EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return fstatat(AT_FDCWD, path, st, 0);
}
EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	(void)ver;
	return fstatat(AT_FDCWD, path, (struct stat *)st, 0);
}
EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}
EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	(void)ver;
	return fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
}
EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return fstatat(dirfd, path, st, flags);
}
EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	(void)ver;
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

/* statx of a kernel fd or a path lkd serves: 1 and lkd's answer in
 * *result; 0 for the host's. */
static int statx_lkd(int dirfd, const char *path, int flags, unsigned int mask,
		     struct statx *stx, int *result)
{
	if ((flags & AT_EMPTY_PATH) && opaque_ptr(path) && !path[0] && is_kernel(dirfd)) {
		*result = lk_sys_statx(dirfd, path, flags, mask, stx);
		return 1;
	}
	if (!to_lkd(&dirfd, &path)) return 0;
	*result = lk_sys_statx(dirfd, path, flags, mask, stx);
	return 1;
}

EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx)
{
	int r;
	if (statx_lkd(dirfd, path, flags, mask, stx, &r)) return r;
	return (int)syscall(SYS_statx, dirfd, path, flags, mask, stx);
}

/*
 * syscall(2) itself. libuv (node) makes statx with syscall(SYS_statx)
 * rather than glibc's statx, so node's fs.stat of a file under the prefix
 * went to the host; that number is served here like the statx above.
 * Every other number goes to glibc's syscall as it came: this library's
 * own raw calls pass here too, and so do liblkclient's futex calls, for a
 * few nanoseconds each.
 */
EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_statx && !t_in_lib) {
		int r;
		if (statx_lkd((int)a[0], (const char *)a[1], (int)a[2], (unsigned int)a[3],
			      (struct statx *)a[4], &r))
			return r;
	}
	LIBC(syscall);
	return host(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* ---- directories and names under the prefix ------------------------ */

EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	if (to_lkd(&dirfd, &path)) return lk_sys_mkdirat(dirfd, path, mode);
	return (int)syscall(SYS_mkdirat, dirfd, path, mode);
}
EXPORT int mkdir(const char *path, mode_t mode) { return mkdirat(AT_FDCWD, path, mode); }
EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	if (to_lkd(&dirfd, &path)) return lk_sys_unlinkat(dirfd, path, flags);
	return (int)syscall(SYS_unlinkat, dirfd, path, flags);
}
EXPORT int unlink(const char *path) { return unlinkat(AT_FDCWD, path, 0); }
EXPORT int rmdir(const char *path) { return unlinkat(AT_FDCWD, path, AT_REMOVEDIR); }
/* Both names in lkd, or both on the host; one in each is two file
 * systems: EXDEV, as Linux says for a rename across them. */
EXPORT int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		     unsigned int flags)
{
	int old_lkd = to_lkd(&olddirfd, &oldpath), new_lkd = to_lkd(&newdirfd, &newpath);
	if (old_lkd != new_lkd) {
		errno = EXDEV;
		return -1;
	}
	if (old_lkd) return lk_sys_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
	return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}
EXPORT int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	return renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}
EXPORT int rename(const char *oldpath, const char *newpath)
{
	return renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

/* ---- other path calls under the prefix ----------------------------- */

/*
 * access and friends, chmod, chown, readlink, symlink, link, utimes and
 * truncate. glibc makes several of them (lchmod, euidaccess, utimes,
 * futimens, ...) through its own internal calls, which a preload never
 * sees, so each name is hooked and turned into the one *at call lkd
 * serves. Host paths go to the host as before (raw system calls, or libc
 * where glibc emulates something the system call lacks).
 */

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	if (at_lkd(&dirfd, &path, flags)) {
		/* faccessat has no flags argument; faccessat2 does. */
		if (flags) return (int)lk_syscall(LKD_NR_faccessat2, dirfd, (long)path, mode, flags, 0, 0);
		return (int)lk_syscall(LKD_NR_faccessat, dirfd, (long)path, mode, 0, 0, 0);
	}
	if (flags == 0) return (int)syscall(SYS_faccessat, dirfd, path, mode);
	/* glibc checks AT_EACCESS by hand where faccessat2 is missing. */
	static void *fn;
	int (*host)(int, const char *, int, int) =
		(int (*)(int, const char *, int, int))libc_fn(&fn, "faccessat");
	return host(dirfd, path, mode, flags);
}
EXPORT int access(const char *path, int mode) { return faccessat(AT_FDCWD, path, mode, 0); }
EXPORT int euidaccess(const char *path, int mode)
{
	return faccessat(AT_FDCWD, path, mode, AT_EACCESS);
}
EXPORT int eaccess(const char *path, int mode) __attribute__((alias("euidaccess")));

EXPORT int fchmod(int fd, mode_t mode)
{
	ROUTE(fd, (int)syscall(SYS_fchmod, fd, mode), (int)lk_syscall(LKD_NR_fchmod, fd, mode, 0, 0, 0, 0));
}
/* The system call has no flags. AT_SYMLINK_NOFOLLOW is what lchmod asks:
 * Linux cannot change a symbolic link's mode, so glibc says EOPNOTSUPP for
 * a link and changes anything else; lkd's answer is the same. */
EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	int lkd_dirfd = dirfd;
	const char *inside = path;
	if (!to_lkd(&lkd_dirfd, &inside)) {
		if (flags == 0) return (int)syscall(SYS_fchmodat, dirfd, path, mode);
		static void *fn;
		int (*host)(int, const char *, mode_t, int) =
			(int (*)(int, const char *, mode_t, int))libc_fn(&fn, "fchmodat");
		return host(dirfd, path, mode, flags);
	}
	if (flags & ~AT_SYMLINK_NOFOLLOW) {
		errno = EINVAL;
		return -1;
	}
	if (flags) {
		struct stat st;
		if (lk_sys_fstatat(lkd_dirfd, inside, &st, AT_SYMLINK_NOFOLLOW) < 0) return -1;
		if (S_ISLNK(st.st_mode)) {
			errno = EOPNOTSUPP;
			return -1;
		}
	}
	return (int)lk_syscall(LKD_NR_fchmodat, lkd_dirfd, (long)inside, mode, 0, 0, 0);
}
EXPORT int chmod(const char *path, mode_t mode) { return fchmodat(AT_FDCWD, path, mode, 0); }
EXPORT int lchmod(const char *path, mode_t mode)
{
	return fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW);
}

EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
	ROUTE(fd, (int)syscall(SYS_fchown, fd, uid, gid),
	      (int)lk_syscall(LKD_NR_fchown, fd, uid, gid, 0, 0, 0));
}
EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	if (at_lkd(&dirfd, &path, flags))
		return (int)lk_syscall(LKD_NR_fchownat, dirfd, (long)path, uid, gid, flags, 0);
	return (int)syscall(SYS_fchownat, dirfd, path, uid, gid, flags);
}
EXPORT int chown(const char *path, uid_t uid, gid_t gid)
{
	return fchownat(AT_FDCWD, path, uid, gid, 0);
}
EXPORT int lchown(const char *path, uid_t uid, gid_t gid)
{
	return fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW);
}

EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t n)
{
	if (!to_lkd(&dirfd, &path)) return syscall(SYS_readlinkat, dirfd, path, buf, n);
	/* A link's target is shorter than PATH_MAX: a larger buffer (readlink
	 * callers often pass huge ones) need not cross the channel whole. */
	if (n > PATH_MAX) n = PATH_MAX;
	return lk_syscall(LKD_NR_readlinkat, dirfd, (long)path, (long)buf, (long)n, 0, 0);
}
EXPORT ssize_t readlink(const char *path, char *buf, size_t n)
{
	return readlinkat(AT_FDCWD, path, buf, n);
}
EXPORT ssize_t __readlink_chk(const char *path, char *buf, size_t n, size_t buflen)
{
	if (n > buflen) __chk_fail();
	return readlinkat(AT_FDCWD, path, buf, n);
}
EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *buf, size_t n, size_t buflen)
{
	if (n > buflen) __chk_fail();
	return readlinkat(dirfd, path, buf, n);
}

/* The link's name decides where it is made; its target is only text. */
EXPORT int symlinkat(const char *target, int dirfd, const char *path)
{
	if (to_lkd(&dirfd, &path))
		return (int)lk_syscall(LKD_NR_symlinkat, (long)target, dirfd, (long)path, 0, 0, 0);
	return (int)syscall(SYS_symlinkat, target, dirfd, path);
}
EXPORT int symlink(const char *target, const char *path)
{
	return symlinkat(target, AT_FDCWD, path);
}

/* A hard link between lkd and the host crosses file systems: EXDEV. */
EXPORT int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	int old_lkd = at_lkd(&olddirfd, &oldpath, flags), new_lkd = to_lkd(&newdirfd, &newpath);
	if (old_lkd != new_lkd) {
		errno = EXDEV;
		return -1;
	}
	if (old_lkd)
		return (int)lk_syscall(LKD_NR_linkat, olddirfd, (long)oldpath, newdirfd,
				       (long)newpath, flags, 0);
	return (int)syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath, flags);
}
EXPORT int link(const char *oldpath, const char *newpath)
{
	return linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

/* utimensat; a NULL path is Linux's futimens: the times of dirfd itself,
 * no flags (glibc declares utimensat's path nonnull, hence a name of our
 * own for the callers that pass NULL). */
static int set_times(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	if (opaque_ptr(path) == NULL) {
		if (!is_kernel(dirfd)) return (int)syscall(SYS_utimensat, dirfd, path, times, flags);
		if (flags) {
			errno = EINVAL;
			return -1;
		}
		/* lkd takes no NULL path; the empty one names the fd too. */
		return (int)lk_syscall(LKD_NR_utimensat, dirfd, (long)"", (long)times, AT_EMPTY_PATH,
				       0, 0);
	}
	if (at_lkd(&dirfd, &path, flags))
		return (int)lk_syscall(LKD_NR_utimensat, dirfd, (long)path, (long)times, flags, 0, 0);
	return (int)syscall(SYS_utimensat, dirfd, path, times, flags);
}
EXPORT int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	return set_times(dirfd, path, times, flags);
}
EXPORT int futimens(int fd, const struct timespec times[2]) { return set_times(fd, NULL, times, 0); }

/* timevals as utimensat's timespecs (NULL: now); -1/EINVAL for a
 * microsecond count out of range, as glibc checks. */
static int tv_to_ts(const struct timeval tv[2], struct timespec ts[2])
{
	for (int i = 0; i < 2; i++) {
		if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000) {
			errno = EINVAL;
			return -1;
		}
		ts[i].tv_sec = tv[i].tv_sec;
		ts[i].tv_nsec = tv[i].tv_usec * 1000;
	}
	return 0;
}
EXPORT int futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
	struct timespec ts[2];
	if (tv && tv_to_ts(tv, ts) < 0) return -1;
	return set_times(dirfd, path, tv ? ts : NULL, 0);
}
EXPORT int utimes(const char *path, const struct timeval tv[2])
{
	return futimesat(AT_FDCWD, path, tv);
}
EXPORT int futimes(int fd, const struct timeval tv[2]) { return futimesat(fd, NULL, tv); }
EXPORT int lutimes(const char *path, const struct timeval tv[2])
{
	struct timespec ts[2];
	if (tv && tv_to_ts(tv, ts) < 0) return -1;
	return set_times(AT_FDCWD, path, tv ? ts : NULL, AT_SYMLINK_NOFOLLOW);
}
EXPORT int utime(const char *path, const struct utimbuf *times)
{
	struct timespec ts[2];
	if (times) {
		ts[0] = (struct timespec){.tv_sec = times->actime};
		ts[1] = (struct timespec){.tv_sec = times->modtime};
	}
	return set_times(AT_FDCWD, path, times ? ts : NULL, 0);
}

EXPORT int truncate(const char *path, off_t len)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path)) return (int)lk_syscall(LKD_NR_truncate, (long)path, len, 0, 0, 0, 0);
	return (int)syscall(SYS_truncate, path, len);
}
EXPORT int truncate64(const char *path, off_t len) { return truncate(path, len); }

/*
 * Reading extended attributes (ls -l asks for a file's ACL). A NULL or
 * empty buffer asks only for the size: lkd takes no NULL buffer, so an
 * empty one of ours goes instead. Larger than XATTR_SIZE_MAX (64 KiB) is
 * never needed: the kernel answers no more.
 */
static ssize_t xattr_lkd(long nr, long target, const char *name, void *buf, size_t n)
{
	char none;
	if (buf == NULL || n == 0) {
		buf = &none;
		n = 0;
	}
	if (n > 65536) n = 65536;
	if (name == NULL) return lk_syscall(nr, target, (long)buf, (long)n, 0, 0, 0);
	return lk_syscall(nr, target, (long)name, (long)buf, (long)n, 0, 0);
}
EXPORT ssize_t getxattr(const char *path, const char *name, void *buf, size_t n)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path)) return xattr_lkd(LKD_NR_getxattr, (long)path, name, buf, n);
	return syscall(SYS_getxattr, path, name, buf, n);
}
EXPORT ssize_t lgetxattr(const char *path, const char *name, void *buf, size_t n)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path)) return xattr_lkd(LKD_NR_lgetxattr, (long)path, name, buf, n);
	return syscall(SYS_lgetxattr, path, name, buf, n);
}
EXPORT ssize_t fgetxattr(int fd, const char *name, void *buf, size_t n)
{
	ROUTE(fd, syscall(SYS_fgetxattr, fd, name, buf, n),
	      xattr_lkd(LKD_NR_fgetxattr, fd, name, buf, n));
}
EXPORT ssize_t listxattr(const char *path, char *buf, size_t n)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path)) return xattr_lkd(LKD_NR_listxattr, (long)path, NULL, buf, n);
	return syscall(SYS_listxattr, path, buf, n);
}
EXPORT ssize_t llistxattr(const char *path, char *buf, size_t n)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path)) return xattr_lkd(LKD_NR_llistxattr, (long)path, NULL, buf, n);
	return syscall(SYS_llistxattr, path, buf, n);
}
EXPORT ssize_t flistxattr(int fd, char *buf, size_t n)
{
	ROUTE(fd, syscall(SYS_flistxattr, fd, buf, n), xattr_lkd(LKD_NR_flistxattr, fd, NULL, buf, n));
}

/*
 * Setting and removing extended attributes (cp -a, tar --xattrs, python's
 * os.setxattr). An empty value crosses as an empty buffer of ours: lkd
 * takes no NULL buffer.
 */
static int setxattr_lkd(long nr, long target, const char *name, const void *value, size_t n,
			int flags)
{
	char none = 0;
	if (value == NULL || n == 0) {
		value = &none;
		n = 0;
	}
	return (int)lk_syscall(nr, target, (long)name, (long)value, (long)n, flags, 0);
}
EXPORT int setxattr(const char *path, const char *name, const void *value, size_t n, int flags)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path))
		return setxattr_lkd(LKD_NR_setxattr, (long)path, name, value, n, flags);
	return (int)syscall(SYS_setxattr, path, name, value, n, flags);
}
EXPORT int lsetxattr(const char *path, const char *name, const void *value, size_t n, int flags)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path))
		return setxattr_lkd(LKD_NR_lsetxattr, (long)path, name, value, n, flags);
	return (int)syscall(SYS_lsetxattr, path, name, value, n, flags);
}
EXPORT int fsetxattr(int fd, const char *name, const void *value, size_t n, int flags)
{
	ROUTE(fd, (int)syscall(SYS_fsetxattr, fd, name, value, n, flags),
	      setxattr_lkd(LKD_NR_fsetxattr, fd, name, value, n, flags));
}
EXPORT int removexattr(const char *path, const char *name)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path))
		return (int)lk_syscall(LKD_NR_removexattr, (long)path, (long)name, 0, 0, 0, 0);
	return (int)syscall(SYS_removexattr, path, name);
}
EXPORT int lremovexattr(const char *path, const char *name)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path))
		return (int)lk_syscall(LKD_NR_lremovexattr, (long)path, (long)name, 0, 0, 0, 0);
	return (int)syscall(SYS_lremovexattr, path, name);
}
EXPORT int fremovexattr(int fd, const char *name)
{
	ROUTE(fd, (int)syscall(SYS_fremovexattr, fd, name),
	      (int)lk_syscall(LKD_NR_fremovexattr, fd, (long)name, 0, 0, 0, 0));
}

/*
 * Special files: FIFOs, sockets' names, device nodes (the kernel checks
 * CAP_MKNOD). glibc's mkfifo calls its mknodat internally, out of our
 * reach, so mkfifo and mkfifoat are hooked too; __xmknod* are the names of
 * binaries built before glibc 2.33.
 */
EXPORT int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	if (to_lkd(&dirfd, &path))
		return (int)lk_syscall(LKD_NR_mknodat, dirfd, (long)path, mode, (long)dev, 0, 0);
	return (int)syscall(SYS_mknodat, dirfd, path, mode, dev);
}
EXPORT int mknod(const char *path, mode_t mode, dev_t dev)
{
	return mknodat(AT_FDCWD, path, mode, dev);
}
EXPORT int __xmknodat(int ver, int dirfd, const char *path, mode_t mode, dev_t *dev)
{
	(void)ver;
	return mknodat(dirfd, path, mode, dev ? *dev : 0);
}
EXPORT int __xmknod(int ver, const char *path, mode_t mode, dev_t *dev)
{
	(void)ver;
	return mknodat(AT_FDCWD, path, mode, dev ? *dev : 0);
}
EXPORT int mkfifoat(int dirfd, const char *path, mode_t mode)
{
	return mknodat(dirfd, path, (mode & 07777) | S_IFIFO, 0);
}
EXPORT int mkfifo(const char *path, mode_t mode) { return mkfifoat(AT_FDCWD, path, mode); }

/*
 * The working directory. chdir into the prefix (or fchdir to a directory
 * opened in lkd) moves the kernel process's cwd and leaves the host's
 * where it was; from then on relative paths go to lkd (to_lkd) and getcwd
 * answers the prefix and lkd's cwd, until a chdir or fchdir back to the
 * host. A relative path can never leave lkd: ".." of the prefix is lkd's
 * root. Programs a program execs keep the directory (execve).
 */
static void set_cwd_in_lkd(int in_lkd)
{
	if (!t_in_lib) __atomic_store_n(&g_cwd_in_lkd, in_lkd, __ATOMIC_RELAXED);
}
EXPORT int chdir(const char *path)
{
	int dirfd = AT_FDCWD;
	if (opaque_ptr(path) && to_lkd(&dirfd, &path)) {
		int r = lk_sys_chdir(path);
		if (r == 0) set_cwd_in_lkd(1);
		return r;
	}
	int r = (int)syscall(SYS_chdir, path);
	if (r == 0) set_cwd_in_lkd(0);
	return r;
}
EXPORT int fchdir(int fd)
{
	if (is_kernel(fd)) {
		int r = (int)lk_syscall(LKD_NR_fchdir, fd, 0, 0, 0, 0, 0);
		if (r == 0) set_cwd_in_lkd(1);
		return r;
	}
	int r = (int)syscall(SYS_fchdir, fd);
	if (r == 0) set_cwd_in_lkd(0);
	return r;
}
/* lkd's cwd as a host path: the prefix, then lkd's path ("/" is the
 * prefix itself). As glibc's getcwd: a NULL buffer is allocated (of `size`
 * bytes, or as needed when 0). */
static char *getcwd_lkd(char *buf, size_t size)
{
	char inside[PATH_MAX];
	if (lk_sys_getcwd(inside, sizeof(inside)) == NULL) return NULL;
	const char *rest = strcmp(inside, "/") ? inside : (g_cfg.prefix_len ? "" : "/");
	const size_t need = g_cfg.prefix_len + strlen(rest) + 1;
	if (buf == NULL) {
		if (size != 0 && size < need) {
			errno = ERANGE;
			return NULL;
		}
		buf = malloc(size ? size : need);
		if (buf == NULL) {
			errno = ENOMEM;
			return NULL;
		}
	} else if (size < need) {
		errno = size == 0 ? EINVAL : ERANGE;
		return NULL;
	}
	memcpy(buf, g_cfg.prefix, g_cfg.prefix_len);
	memcpy(buf + g_cfg.prefix_len, rest, strlen(rest) + 1);
	return buf;
}
EXPORT char *getcwd(char *buf, size_t size)
{
	if (cwd_in_lkd()) return getcwd_lkd(buf, size);
	LIBC(getcwd);
	return host(buf, size);
}
EXPORT char *__getcwd_chk(char *buf, size_t size, size_t buflen)
{
	if (size > buflen) abort();  /* glibc's __chk_fail: a buffer overflow */
	return getcwd(buf, size);
}
EXPORT char *getwd(char *buf)
{
	if (getcwd(buf, PATH_MAX) == NULL) {
		/* getwd's contract: the message in the buffer. */
		snprintf(buf, PATH_MAX, "%s", strerror(errno));
		return NULL;
	}
	return buf;
}
/* glibc's compares $PWD with "." through internal calls, which see the
 * host's cwd. */
EXPORT char *get_current_dir_name(void)
{
	if (cwd_in_lkd()) return getcwd_lkd(NULL, 0);
	LIBC(get_current_dir_name);
	return host();
}

/*
 * File system statistics (df, python's os.statvfs, gnulib's fts). lkd's
 * struct statfs is the generic 64-bit one, which is x86-64's. glibc's
 * statvfs asks statfs internally, so it is hooked and converted here.
 */
_Static_assert(sizeof(struct statfs) == 120, "struct statfs is not the kernel's");
EXPORT int statfs(const char *path, struct statfs *b)
{
	int dirfd = AT_FDCWD;
	if (to_lkd(&dirfd, &path)) return (int)lk_syscall(LKD_NR_statfs, (long)path, (long)b, 0, 0, 0, 0);
	return (int)syscall(SYS_statfs, path, b);
}
EXPORT int statfs64(const char *path, struct statfs64 *b) { return statfs(path, (struct statfs *)b); }
EXPORT int fstatfs(int fd, struct statfs *b)
{
	ROUTE(fd, (int)syscall(SYS_fstatfs, fd, b), (int)lk_syscall(LKD_NR_fstatfs, fd, (long)b, 0, 0, 0, 0));
}
EXPORT int fstatfs64(int fd, struct statfs64 *b) { return fstatfs(fd, (struct statfs *)b); }

/* struct statvfs from struct statfs, as Linux's fields map. */
static void to_statvfs(const struct statfs *f, struct statvfs *v)
{
	memset(v, 0, sizeof(*v));
	v->f_bsize = (unsigned long)f->f_bsize;
	v->f_frsize = (unsigned long)(f->f_frsize ? f->f_frsize : f->f_bsize);
	v->f_blocks = f->f_blocks;
	v->f_bfree = f->f_bfree;
	v->f_bavail = f->f_bavail;
	v->f_files = f->f_files;
	v->f_ffree = f->f_ffree;
	v->f_favail = f->f_ffree;
	v->f_fsid = (unsigned)f->f_fsid.__val[0] | (unsigned long)(unsigned)f->f_fsid.__val[1] << 32;
	/* Linux's ST_VALID (0x20, not in its uapi headers) only says f_flags
	 * is filled in; statvfs has no such bit. */
	v->f_flag = (unsigned long)f->f_flags & ~0x20UL;
	v->f_namemax = (unsigned long)f->f_namelen;
}
EXPORT int statvfs(const char *path, struct statvfs *v)
{
	int dirfd = AT_FDCWD;
	const char *inside = path;
	struct statfs f;
	if (!to_lkd(&dirfd, &inside)) {
		static void *fn;
		int (*host)(const char *, struct statvfs *) =
			(int (*)(const char *, struct statvfs *))libc_fn(&fn, "statvfs");
		return host(path, v);
	}
	if (statfs(path, &f) < 0) return -1;
	to_statvfs(&f, v);
	return 0;
}
EXPORT int statvfs64(const char *path, struct statvfs64 *v) { return statvfs(path, (struct statvfs *)v); }
EXPORT int fstatvfs(int fd, struct statvfs *v)
{
	struct statfs f;
	if (!is_kernel(fd)) {
		static void *fn;
		int (*host)(int, struct statvfs *) = (int (*)(int, struct statvfs *))libc_fn(&fn, "fstatvfs");
		return host(fd, v);
	}
	if (fstatfs(fd, &f) < 0) return -1;
	to_statvfs(&f, v);
	return 0;
}
EXPORT int fstatvfs64(int fd, struct statvfs64 *v) { return fstatvfs(fd, (struct statvfs *)v); }

/* ---- files under the prefix ---------------------------------------- */

static int open_common(int dirfd, const char *path, int flags, mode_t mode)
{
	if (!to_lkd(&dirfd, &path)) return (int)syscall(SYS_openat, dirfd, path, flags, mode);
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

/*
 * Temporary files and directories (sed -i, python's tempfile, mkdtemp):
 * glibc's mkstemp family opens with internal calls, so a template lkd
 * serves is filled and opened here, as glibc does it: the X's replaced
 * from a random source, O_CREAT|O_EXCL, retried on EEXIST.
 */
static int fill_template(char *tmpl, int suffix, char **xs)
{
	size_t len = opaque_ptr(tmpl) ? strlen(tmpl) : 0;
	if (suffix < 0 || len < 6 + (size_t)suffix ||
	    memcmp(tmpl + len - suffix - 6, "XXXXXX", 6) != 0) {
		errno = EINVAL;
		return -1;
	}
	*xs = tmpl + len - suffix - 6;
	return 0;
}

static void next_name(char *xs)
{
	static const char letters[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint64_t)ts.tv_nsec * 6364136223846793005ull + (uint64_t)getpid();
	}
	for (int i = 0; i < 6; i++, r /= 62) xs[i] = letters[r % 62];
}

/* 1 if `tmpl` names a place lkd serves (then *fd or *made is the result). */
static int temp_in_lkd(char *tmpl, int suffix, int flags, int dir, int *result)
{
	int dirfd = AT_FDCWD;
	const char *p = tmpl;
	if (!opaque_ptr(tmpl) || !to_lkd(&dirfd, &p)) return 0;
	char *xs;
	if (fill_template(tmpl, suffix, &xs) < 0) {
		*result = -1;
		return 1;
	}
	for (int tries = 0; tries < 238328; tries++) {
		next_name(xs);
		int r = dir ? mkdir(tmpl, 0700)
			    : open(tmpl, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT | O_EXCL, 0600);
		if (r >= 0 || errno != EEXIST) {
			*result = r;
			return 1;
		}
	}
	errno = EEXIST;
	*result = -1;
	return 1;
}

#define MKSTEMP_HOOK(name, args, call, suffix, flags)                       \
	EXPORT int name args                                                \
	{                                                                   \
		int fd;                                                     \
		if (temp_in_lkd(tmpl, suffix, flags, 0, &fd)) return fd;    \
		LIBC(name);                                                 \
		return host call;                                           \
	}
MKSTEMP_HOOK(mkstemp, (char *tmpl), (tmpl), 0, 0)
MKSTEMP_HOOK(mkstemp64, (char *tmpl), (tmpl), 0, 0)
MKSTEMP_HOOK(mkostemp, (char *tmpl, int fl), (tmpl, fl), 0, fl)
MKSTEMP_HOOK(mkostemp64, (char *tmpl, int fl), (tmpl, fl), 0, fl)
MKSTEMP_HOOK(mkstemps, (char *tmpl, int sfx), (tmpl, sfx), sfx, 0)
MKSTEMP_HOOK(mkstemps64, (char *tmpl, int sfx), (tmpl, sfx), sfx, 0)
MKSTEMP_HOOK(mkostemps, (char *tmpl, int sfx, int fl), (tmpl, sfx, fl), sfx, fl)
MKSTEMP_HOOK(mkostemps64, (char *tmpl, int sfx, int fl), (tmpl, sfx, fl), sfx, fl)

EXPORT char *mkdtemp(char *tmpl)
{
	int r;
	if (temp_in_lkd(tmpl, 0, 0, 1, &r)) return r < 0 ? NULL : tmpl;
	LIBC(mkdtemp);
	return host(tmpl);
}

/* ---- processes ----------------------------------------------------- */

static pid_t host_fork(void)
{
	static pid_t (*real_fork)(void);
	if (real_fork == NULL) real_fork = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
	return real_fork();
}

EXPORT pid_t fork(void)
{
	if (!program_attached()) return host_fork();
	epm_before_fork();  /* the child sees what the program asked */
	/* No placement half done while the kernel process is copied. */
	pthread_mutex_lock(&g_fdlock);
	open_fds(g_before);
	t_in_lib++;
	pid_t pid = lk_fork();
	int err = errno;
	t_in_lib--;
	if (pid == 0) protect_new_fds();
	if (pid >= 0) epm_after_fork(pid == 0);
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

/* Whether the effective ids may read `path` (as the loader will open
 * it), asked of the host kernel directly. */
static int readable_by_us(const char *path)
{
	long r = syscall(SYS_faccessat2, AT_FDCWD, path, R_OK, AT_EACCESS);
	if (r < 0 && errno == ENOSYS)
		r = syscall(SYS_access, path, R_OK);	/* before Linux 5.8 */
	return r == 0;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	if (!program_attached()) return (int)syscall(SYS_execve, path, argv, envp);
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
	if (dladdr((void *)execve, &self) && self.dli_fname) {
		snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", self.dli_fname);
		/*
		 * The loader ignores a preload it cannot read (one warning
		 * line), and the new program would then run on the host's
		 * stack: after a setuid() away from root, for one, when the
		 * library sits in root's home. Fail the exec instead, as
		 * lkrun fails closed.
		 */
		if (!readable_by_us(self.dli_fname)) {
			fprintf(stderr, "liblkhijack: not executing %s: uid %d cannot read %s, so "
				"it would run on the host's stack (install the library where "
				"every user can read it)\n", path, (int)geteuid(), self.dli_fname);
			free(list);
			errno = EACCES;
			return -1;
		}
	}
	size_t n = 0;
	int has_preload = 0, has_cfg = 0, has_server = 0;
	for (; envp && envp[n]; n++) {
		if (!strncmp(envp[n], "LD_PRELOAD=", 11) && strstr(envp[n], "liblkhijack")) has_preload = 1;
		if (!strncmp(envp[n], "LKD_HIJACK=", 11)) has_cfg = 1;
		if (!strncmp(envp[n], "LKD_SERVER=", 11)) has_server = 1;
	}
	char **env = malloc((n + 6) * sizeof(*env));
	if (env == NULL) { free(list); errno = ENOMEM; return -1; }
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(envp[i], "LKD_HIJACK_FDS=", 15)) continue;
		if (!strncmp(envp[i], "LKD_HIJACK_CWD=", 15)) continue;
		if (!has_preload && preload[0] && !strncmp(envp[i], "LD_PRELOAD=", 11)) continue;
		env[j++] = envp[i];
	}
	if (!has_preload && preload[0]) env[j++] = preload;
	if (!has_cfg && g_cfg_env[0]) env[j++] = g_cfg_env;
	if (!has_server && g_server_env[0]) env[j++] = g_server_env;
	env[j++] = list;
	if (__atomic_load_n(&g_cwd_in_lkd, __ATOMIC_RELAXED)) env[j++] = "LKD_HIJACK_CWD=lkd";
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
	if (opaque_ptr(file) == NULL || *file == 0) { errno = ENOENT; return -1; }
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

