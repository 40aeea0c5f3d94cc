/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * liblkclient: system calls of the Linux kernel that runs inside lkd, for
 * ordinary programs (in the spirit of NetBSD's librumpclient).
 *
 * lk_init() attaches the calling process to lkd (LKD_SERVER, default
 * unix:///run/lkd/lkd.sock): lkd creates a kernel process with this
 * process's uid and gid. Every lk_sys_*() then runs in that kernel
 * process and returns what the libc function of the same name would:
 * -1 with errno on failure. File descriptors are the kernel process's own,
 * unrelated to the host's. Each host thread gets its own channel to lkd on
 * its first call, so a call that blocks blocks only its thread.
 *
 * Structures are the kernel's. Where the host's layout differs (struct
 * stat) lk_sys_fstat translates; lk_syscall() passes everything through
 * untouched. If lkd goes away, calls fail with ENOTCONN (never hang); a
 * thread over lkd's --max_client_threads gets EAGAIN (and may try again).
 * A signal the kernel raises for the process (SIGPIPE on a write to a
 * closed connection) is raised in the calling host process, as a real
 * kernel would deliver it.
 */
#ifndef LKD_RUMPCLIENT_LKCLIENT_H
#define LKD_RUMPCLIENT_LKCLIENT_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Attach (idempotent). 0, or -1 with errno (ECONNREFUSED/ENOENT: lkd not
 * running; EINVAL: bad LKD_SERVER; EPROTO: lkd refused the attach, e.g.
 * another protocol version). lk_errmsg() says more. A program
 * started by lk_exec() re-attaches to its kernel process here. */
int lk_init(void);
/* The last attach, fork or exec error in words (empty if none). */
const char *lk_errmsg(void);
/* Detach: the kernel process exits, its fds close. */
void lk_fini(void);
/* The kernel process's pid inside lkd, or -1 when not attached. */
int lk_kernel_pid(void);

/* fork(2) for both sides: the kernel process is duplicated (the child's
 * fds are the parent's, shared as fork shares them) and the host child
 * attaches to the copy. Returns as fork() does. */
pid_t lk_fork(void);
/* execve(2) keeping the kernel process: the new program (which calls
 * lk_init) keeps the fds not marked close-on-exec. Returns only on
 * failure (-1, errno). */
int lk_exec(const char *path, char *const argv[], char *const envp[]);

/* After a set*id call (setuid, setresgid, setgroups, ... by number,
 * lk_syscall) changed the calling thread's task, which the kernel checked:
 * lkd gives every task of the kernel process the same credentials, as
 * glibc does for a host process's threads. Tasks in a call take them when
 * that call ends; later threads and lk_fork children inherit them.
 * 0, or -1 with errno (ENOTCONN: not attached). */
int lk_commit_cred(void);

/* Any served call by number (LKD_NR_*, the kernel's generic numbers), no
 * translation. -1/errno; ENOSYS for calls lkd does not serve. */
long lk_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/* One call of a batch (lk_batch): number and arguments as lk_syscall
 * takes them, and its result (>= 0) or -errno once the batch was made. */
struct lk_call {
	long nr;
	long args[6];
	long result;
};

/* The most calls in one batch. */
#define LK_BATCH_MAX 64

/* Makes `n` calls (1..LK_BATCH_MAX) in one round trip to lkd, which makes
 * them in order as the calling thread's task. 0 when the batch was made:
 * each call's result in calls[i].result, every call made even if one
 * fails, except that one a signal ends (-EINTR) ends the batch and those
 * after it are not made (-ECANCELED). -1/errno when nothing was made:
 * EINVAL (n out of range, or a call passing anything but plain buffers: a
 * path, a msghdr, a length through a pointer), ENOSYS (a call lkd does not
 * serve, or an lkd without batches), EMSGSIZE (more than a channel
 * holds), ENOTCONN. */
int lk_batch(struct lk_call *calls, unsigned n);

/*
 * Signals: a call blocked inside lkd is interrupted when a signal handler
 * runs in the calling thread meanwhile (lkd interrupts it in the kernel):
 * it fails with EINTR as on Linux, or goes on where Linux restarts it
 * (read, write, send*, recv*, accept, connect... when every handler has
 * SA_RESTART; poll and epoll_wait never restart).
 *
 * Waits on host and kernel fds at once, for programs that mix them (a
 * helper thread per waiting thread watches the kernel side and is
 * cancelled afterwards, so nothing stays running in lkd):
 */
/* Blocks until an entry of `host` (host fds) or `kernel` (kernel fds) may
 * be ready (1), `timeout` passes (0; NULL: none) or a signal arrives
 * (-1, EINTR), waiting with signal mask `mask` (NULL: the thread's). Fills
 * no revents: poll both sides with a zero timeout afterwards. Call it with
 * signals blocked and pass the mask to wait under (as ppoll), or a signal
 * arriving just before the wait is only seen after it. */
int lk_wait(const struct pollfd *host, nfds_t nh, const struct pollfd *kernel, nfds_t nk,
	    const struct timespec *timeout, const sigset_t *mask);
/* lk_wait() for `events` on kernel socket fd, bounded by its `timeo_opt`
 * (SO_RCVTIMEO, SO_SNDTIMEO): 1 when they may be there; 0 when the
 * timeout passed (errno EAGAIN); -1 with errno EINTR (a signal, after
 * restarting where Linux restarts unless `restart` is 0: the caller
 * already did part of its work), or EAGAIN when the socket is non-blocking
 * (the caller's call answers for itself). */
int lk_wait_socket(int fd, short events, int timeo_opt, const sigset_t *mask, int restart);
/* For a library that mirrors kernel fd numbers on the host (liblkhijack):
 * the fds liblkclient makes for its own use (a waiter's eventfds) go
 * through it. make_kernel_fd calls make(arg), which creates the kernel fd
 * (or returns -1), and returns the number to use (the fd moved there) or
 * -1, so that it can create and place it under its own lock;
 * kernel_fd_close closes one; host_fd says a host fd of liblkclient's was
 * opened (1) or is about to be closed (0). A NULL member: liblkclient does
 * that itself. Set once, before any wait. */
struct lk_fd_hooks {
	int (*make_kernel_fd)(int (*make)(void *arg), void *arg);
	int (*kernel_fd_close)(int kernel_fd);
	void (*host_fd)(int host_fd, int open);
};
void lk_set_fd_hooks(const struct lk_fd_hooks *hooks);

/* Sockets */
int lk_sys_socket(int domain, int type, int protocol);
int lk_sys_socketpair(int domain, int type, int protocol, int sv[2]);
int lk_sys_bind(int fd, const struct sockaddr *addr, socklen_t len);
int lk_sys_listen(int fd, int backlog);
int lk_sys_accept(int fd, struct sockaddr *addr, socklen_t *len);
int lk_sys_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int lk_sys_connect(int fd, const struct sockaddr *addr, socklen_t len);
ssize_t lk_sys_send(int fd, const void *buf, size_t len, int flags);
ssize_t lk_sys_recv(int fd, void *buf, size_t len, int flags);
ssize_t lk_sys_sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *to, socklen_t tolen);
ssize_t lk_sys_recvfrom(int fd, void *buf, size_t len, int flags,
			struct sockaddr *from, socklen_t *fromlen);
/* With control messages (IP_PKTINFO, IP_TOS, IP_TTL, IPV6_PKTINFO,
 * IPV6_HOPLIMIT, IPV6_TCLASS, SO_TIMESTAMPING, ...: what the kernel takes
 * for the socket), the kernel's sendmsg; the message and its control data
 * must then fit a channel's data area (else EMSGSIZE; over 20480 bytes of
 * control data ENOBUFS, as Linux by default). SCM_RIGHTS: EOPNOTSUPP (lkd
 * passes no descriptors between processes; host AF_UNIX sockets do). */
ssize_t lk_sys_sendmsg(int fd, const struct msghdr *msg, int flags);
/* The kernel's recvmsg: msg_flags (MSG_TRUNC, MSG_CTRUNC, ...),
 * msg_namelen and msg_controllen as it sets them; control messages in the
 * kernel's layout (the host's on x86-64). */
ssize_t lk_sys_recvmsg(int fd, struct msghdr *msg, int flags);
int lk_sys_shutdown(int fd, int how);
int lk_sys_setsockopt(int fd, int level, int name, const void *val,
		      socklen_t len);
int lk_sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int lk_sys_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int lk_sys_getpeername(int fd, struct sockaddr *addr, socklen_t *len);

/* Descriptors and I/O */
ssize_t lk_sys_read(int fd, void *buf, size_t len);
ssize_t lk_sys_write(int fd, const void *buf, size_t len);
ssize_t lk_sys_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t lk_sys_writev(int fd, const struct iovec *iov, int iovcnt);
ssize_t lk_sys_pread(int fd, void *buf, size_t len, off_t off);
ssize_t lk_sys_pwrite(int fd, const void *buf, size_t len, off_t off);
int lk_sys_close(int fd);
/* arg: a value, or for the lock commands (F_GETLK, F_SETLK, F_SETLKW,
 * F_OFD_*) a struct flock *, for F_GETOWN_EX/F_SETOWN_EX a struct
 * f_owner_ex *. Other commands that take pointers: EPERM. */
int lk_sys_fcntl(int fd, int cmd, long arg);
/* FIONREAD and FIONBIO (an int), one link's struct ifreq requests:
 * SIOCGIFNAME, SIOCGIFINDEX, SIOC[GS]IFFLAGS, SIOC[GS]IFADDR,
 * SIOC[GS]IFNETMASK, SIOC[GS]IFBRDADDR, SIOC[GS]IFMTU, SIOCGIFHWADDR,
 * SIOCGIFTXQLEN, and SIOCGIFCONF (a struct ifconf: its buffer, at most a
 * channel's data area, else EMSGSIZE). Others: EPERM. */
int lk_sys_ioctl(int fd, unsigned long req, void *arg);
int lk_sys_poll(struct pollfd *fds, nfds_t n, int timeout_ms);
int lk_sys_epoll_create1(int flags);
int lk_sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int lk_sys_epoll_wait(int epfd, struct epoll_event *evs, int max,
		      int timeout_ms);
int lk_sys_dup(int fd);
int lk_sys_dup3(int fd, int newfd, int flags);
int lk_sys_eventfd(unsigned int initval, int flags);
int lk_sys_pipe2(int fds[2], int flags);

/* Files */
int lk_sys_openat(int dirfd, const char *path, int flags, mode_t mode);
off_t lk_sys_lseek(int fd, off_t off, int whence);
int lk_sys_fstat(int fd, struct stat *st);
/* fstatat(2): flags AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH; translated to the
 * host's struct stat as lk_sys_fstat. */
int lk_sys_fstatat(int dirfd, const char *path, struct stat *st, int flags);
struct statx;
int lk_sys_statx(int dirfd, const char *path, int flags, unsigned int mask,
		 struct statx *stx);
int lk_sys_mkdirat(int dirfd, const char *path, mode_t mode);
int lk_sys_unlinkat(int dirfd, const char *path, int flags);
int lk_sys_renameat(int olddirfd, const char *oldpath, int newdirfd,
		    const char *newpath);
/* renameat2(2): RENAME_NOREPLACE, RENAME_EXCHANGE, ... */
int lk_sys_renameat2(int olddirfd, const char *oldpath, int newdirfd,
		     const char *newpath, unsigned int flags);
ssize_t lk_sys_getdents64(int fd, void *buf, size_t len);
int lk_sys_fsync(int fd);
int lk_sys_ftruncate(int fd, off_t len);
int lk_sys_chdir(const char *path);
char *lk_sys_getcwd(char *buf, size_t size);
pid_t lk_sys_getpid(void);

#ifdef __cplusplus
}
#endif

#endif /* LKD_RUMPCLIENT_LKCLIENT_H */
