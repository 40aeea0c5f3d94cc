/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * liblkhijack's insides, shared by its files (nothing here is
 * exported: the library is built with hidden visibility, and only the
 * hooked libc names, marked EXPORT, leave it):
 *   hijack_state.c  LKD_HIJACK, the fd table, placeholders, the library's
 *                   own fds, attaching to lkd
 *   hijack_wait.c   waits on both kernels: poll, select, epoll,
 *                   blocking receives, sends, accepts and connects, over
 *                   liblkclient's waiter (lk_wait, lkclient_wait.c)
 *   hijack.c        the other hooks: descriptors, sockets, I/O, files
 *                   under the prefix, fork and exec
 *   hijack_cred.c   the set*id family, for the kernel process too
 *   hijack_ifaddrs.c  getifaddrs, if_nameindex, if_nametoindex and
 *                   if_indextoname from lkd's kernel
 *   hijack_epoll.c  epoll_ctl on kernel fds, deferred to the next wait
 *   hijack_dir.c    directory streams (opendir, readdir, scandir, ...)
 *                   and getdents64 on lkd's directories
 * See hijack.c for the design.
 */
#ifndef LKD_RUMPCLIENT_HIJACK_H
#define LKD_RUMPCLIENT_HIJACK_H

#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>

struct epoll_event;

#define EXPORT __attribute__((visibility("default")))

/* glibc declares some pointer arguments nonnull (fstatat's path, execvpe's
 * file), so a compiler may drop a hook's NULL check as dead code; a
 * program that passes NULL anyway must get the errno libc would give, not
 * a crash inside the hook. The empty asm hides the pointer's origin. */
static inline const void *opaque_ptr(const void *p)
{
	__asm__("" : "+r"(p));
	return p;
}

/* ---- configuration (hijack_state.c) ---------------------------------- */

enum { FAM_INET = 1, FAM_INET6 = 2, FAM_NETLINK = 4, FAM_PACKET = 8, FAM_UNIX = 16 };
struct hijack_config {
	unsigned families;	/* FAM_* bits: socket families created in lkd */
	char prefix[256];	/* paths under it open in lkd; "" none */
	size_t prefix_len;
	int epoll_defer;	/* epoll_ctl on kernel fds waits for the next wait */
};
extern struct hijack_config g_cfg;
/* The FAM_* bit of a socket domain, 0 for others. */
int family_bit(int domain);
/* "LKD_HIJACK=..." / "LKD_SERVER=..." as this program got them ("" if
 * unset), for the programs it execs. */
extern char g_cfg_env[512], g_server_env[512];

/* 1 while the working directory is inside lkd (a chdir or fchdir into
 * the prefix, or inherited across exec through LKD_HIJACK_CWD): relative
 * paths with AT_FDCWD then go to lkd, whose kernel process has that
 * directory as its own cwd. The host's cwd stays where it was. */
extern int g_cwd_in_lkd;

/* libc's own function `name` (the next definition after this library),
 * cached in *slot: for hooks that hand a call on to libc. */
void *libc_fn(void **slot, const char *name);
/* In a hook named `name`: `host`, libc's function of that name. */
#define LIBC(name) \
	static void *name##_fn; \
	__typeof__(&name) host = (__typeof__(&name))libc_fn(&name##_fn, #name)

/* ---- the fd table (hijack_state.c) ----------------------------------- */

#define MAX_FD 65536
enum { FD_HOST = 0, FD_KERNEL = 1, FD_INTERNAL = 2 };
extern unsigned char g_kind[MAX_FD];
/* For a host epoll fd: 1 + the kernel epoll paired with it, or 0. */
extern int g_kep[MAX_FD];
/* For a host epoll fd: host fds added to it and not deleted (atomic). A
 * host fd closed without EPOLL_CTL_DEL leaves the count high, which only
 * costs the slower wait. */
extern int g_ep_host[MAX_FD];
/* Host fds of the library itself (liblkclient's session socket, event
 * loop and channel memfds, the waiters' eventfds): not the program's to
 * close. */
extern unsigned char g_lib[MAX_FD];
/* Blocking mode of kernel sockets as the program set it (NB_*), a hint
 * that hijack_wait.c's blocking receives check with F_GETFL. */
enum { NB_UNKNOWN = 0, NB_NONBLOCK = 1, NB_BLOCK = 2 };
extern unsigned char g_nb[MAX_FD];

/* Guards placements (a kernel fd moved to its placeholder's number). */
extern pthread_mutex_t g_fdlock;
/* Kernel fds created outside g_fdlock and not placed yet. */
extern int g_unlocked_creations;
/* 1 once attached to lkd. */
extern int g_attached;
/* Set around liblkclient calls that make libc calls themselves (attach,
 * fork, exec), so that those reach the host as they are. */
extern __thread int t_in_lib __attribute__((tls_model("initial-exec")));

/* Whether a hook acts for the program: attached, and not called from
 * inside liblkclient. */
static inline int program_attached(void)
{
	return !t_in_lib && __atomic_load_n(&g_attached, __ATOMIC_ACQUIRE);
}
/* Whether the program's working directory is lkd's (g_cwd_in_lkd), for a
 * call of the program's. */
static inline int cwd_in_lkd(void)
{
	return !t_in_lib && __atomic_load_n(&g_cwd_in_lkd, __ATOMIC_RELAXED);
}

static inline int kind(int fd)
{
	if (fd < 0 || fd >= MAX_FD) return FD_HOST;
	return __atomic_load_n(&g_kind[fd], __ATOMIC_ACQUIRE);
}
static inline int is_kernel(int fd) { return kind(fd) != FD_HOST && !t_in_lib; }
static inline void set_kind(int fd, int k)
{
	__atomic_store_n(&g_kind[fd], (unsigned char)k, __ATOMIC_RELEASE);
}
static inline void set_nb(int fd, int mode)
{
	if (fd >= 0 && fd < MAX_FD) __atomic_store_n(&g_nb[fd], (unsigned char)mode, __ATOMIC_RELAXED);
}
static inline int nb_of(int fd)
{
	return fd >= 0 && fd < MAX_FD ? __atomic_load_n(&g_nb[fd], __ATOMIC_RELAXED) : NB_UNKNOWN;
}
static inline int is_lib(int fd) { return fd >= 0 && fd < MAX_FD && g_lib[fd]; }

/* Moves fresh kernel fd k to a number >= min whose host placeholder it
 * gets, marks it `what` (FD_KERNEL, FD_INTERNAL), returns the number; on
 * failure closes k, -1/errno. Under g_fdlock; `mine`: the caller counted
 * itself in g_unlocked_creations. */
int place(int k, int cloexec, int min, int what, int mine);
/* place() for a kernel fd created under g_fdlock (k < 0: failed). */
int adopt_locked(int k, int cloexec, int min, int what);
/* Closes both sides of kernel fd `fd`; the kernel's result. */
int close_kernel(int fd);
/* Closes the kernel epoll paired with host epoll `epfd`. Under g_fdlock. */
void forget_kep_of(int epfd);

/* ---- stdio (hijack_stdio.c) ------------------------------------------ */

/* Around a change of what fd 0, 1 or 2 refers to (dup2, dup3): flushes
 * the standard stream before, and after makes it a stream of ours if the
 * fd is a kernel one now (glibc's streams would use the host placeholder),
 * or glibc's again if it is a host one. */
void std_fd_will_change(int fd);
void follow_std_fd(int fd);
/* Called once attached: streams are flushed at exit while lkd still
 * listens. */
void flush_streams_at_exit(void);

/* ---- the library's own fds (hijack_state.c) -------------------------- */

/* Marks in `open` the host fds open now. */
void open_fds(unsigned char *open);
/* Filled by the caller with open_fds() before an attach or fork. */
extern unsigned char g_before[MAX_FD];
/* After it: g_lib = what opened since g_before, and what was the
 * library's and is still open. */
void protect_new_fds(void);
/* Fds received on a library socket are the library's. */
void protect_received(int fd, const struct msghdr *m);

/* Attaches to lkd once, or ends the program with a message (exit 126). */
void attach_or_die(void);

/* ---- paths under the prefix (hijack.c) ------------------------------- */

/* Whether a call on (*dirfd, *path) goes to lkd: a path under the prefix
 * (then *dirfd and *path become lkd's: AT_FDCWD and the path inside, and
 * the library is attached) or one relative to a kernel directory fd.
 * Never under t_in_lib. */
int to_lkd(int *dirfd, const char **path);

/* ---- epoll_ctl, deferred (hijack_epoll.c) ---------------------------- */

/* epoll_ctl(kep, op, fd, ev) for the program's epoll `epfd`: applied now,
 * or recorded for the next wait when its answer is known (then 0, EEXIST
 * or ENOENT without asking lkd). */
int epm_ctl(int epfd, int kep, int op, int fd, struct epoll_event *ev);
/* Around a wait on `epfd`'s kernel epoll: applies what is pending; while a
 * thread waits, changes are applied at once. */
void epm_wait_begin(int epfd);
void epm_wait_end(int epfd);
/* Before kernel fd number `fd` is closed or replaced: applies its pending
 * changes, then forgets what lkd's epolls hold for it. */
void epm_fd_closing(int fd);
/* The program's epoll `epfd` is being closed (under g_fdlock). */
void epm_forget(int epfd);
/* Around fork: everything pending applied before; after it, in both
 * processes, nothing deferred on the epolls they now share. */
void epm_before_fork(void);
void epm_after_fork(int child);

/* ---- blocking calls (hijack_wait.c) ---------------------------------- */

/* A receive on a kernel fd: recvfrom (buf, n, from) or recvmsg (msg). */
struct rx {
	int fd;
	void *buf;
	size_t n;
	int flags;
	struct sockaddr *from;
	socklen_t *fromlen;
	struct msghdr *msg;
};
/* The receive; on a blocking socket a wait signals can interrupt (also
 * for MSG_WAITALL, which then returns what came). */
ssize_t receive(const struct rx *a);
/* A send on a kernel fd: sendto of buf, n (to, tolen). */
struct tx {
	int fd;
	const void *buf;
	size_t n;
	int flags;
	const struct sockaddr *to;
	socklen_t tolen;
};
/* The send; on a blocking socket, all of it unless a signal or
 * SO_SNDTIMEO comes first, waiting where signals reach the thread. */
ssize_t transmit(const struct tx *a);
/* transmit() of a msghdr's iovecs; with control messages lkd's sendmsg,
 * waiting as transmit() does. */
ssize_t transmit_msg(int fd, const struct msghdr *m, int flags);
/* connect on a kernel socket; when it blocks, a wait signals can
 * interrupt. */
int connect_wait(int fd, const struct sockaddr *addr, socklen_t len);
/* Before accept on a blocking socket: 0 when a connection waits (or the
 * socket turned out non-blocking), -1/errno (EINTR, EAGAIN). */
int accept_wait(int fd);

#endif /* LKD_RUMPCLIENT_HIJACK_H */
