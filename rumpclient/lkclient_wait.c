/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Waits on lkd's kernel that host signals interrupt (lkclient.h: lk_wait,
 * lk_wait_socket), for liblkclient's own blocking calls and for
 * liblkhijack's waits: one mechanism for both.
 *
 * A call blocked inside lkd is out of the reach of the program's signals
 * (the channel has no way to cancel it). So nothing that may wait for long
 * waits there: the calling thread's waiter (a helper thread, one per
 * waiting program thread, not per call) blocks in the kernel on the kernel
 * fds plus a kernel eventfd and writes a host eventfd when they are ready.
 * The program's thread waits on the host (its host fds plus that eventfd,
 * with its timeout and signal mask, so signals interrupt it as on Linux);
 * then the waiter is cancelled through the kernel eventfd: nothing is left
 * running in the kernel. The caller then makes its call without blocking.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lkd/sysnr.h"
#include "rumpclient/lkclient.h"
#include "rumpclient/lkclient_internal.h"

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
	int armed, done, quit;
};

static __thread struct waiter *t_waiter __attribute__((tls_model("initial-exec")));
static struct lk_fd_hooks g_hooks;

void lk_set_fd_hooks(const struct lk_fd_hooks *hooks)
{
	g_hooks = *hooks;
}

/* Closes a waiter's eventfds (those that were made). */
static void forget_fds(struct waiter *w)
{
	if (w->kev >= 0) {
		if (g_hooks.kernel_fd_close) g_hooks.kernel_fd_close(w->kev);
		else lk_sys_close(w->kev);
	}
	if (w->hev >= 0) {
		if (g_hooks.host_fd) g_hooks.host_fd(w->hev, 0);
		syscall(SYS_close, w->hev);
	}
}

static int make_eventfd(void *arg)
{
	(void)arg;
	return lk_sys_eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

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
		pthread_mutex_unlock(&w->mu);
		/*
		 * A cancel is drained only by the poll that saw it: a cancel
		 * written after the poll ended (it ended for a kernel fd) stays
		 * and makes the next poll return at once, a spurious wake-up
		 * the callers' loops absorb. Draining before the poll instead
		 * could swallow a cancel meant for this poll, which would then
		 * never end.
		 */
		struct pollfd *cancel = &w->kfds[w->n - 1];
		cancel->revents = 0;
		/* Raw calls: this thread blocks inside lkd on purpose. */
		lk_syscall(LKD_NR_ppoll, (long)w->kfds, (long)w->n, 0, 0, 8, 0);
		if (cancel->revents & POLLIN) lk_syscall(LKD_NR_read, w->kev, (long)&v, sizeof(v), 0, 0, 0);
		syscall(SYS_write, w->hev, &one, sizeof(one));
		pthread_mutex_lock(&w->mu);
		w->armed = 0;
		w->done = 1;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	forget_fds(w);
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
	w->kev = -1;
	w->hev = (int)syscall(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->hev >= 0 && g_hooks.host_fd) g_hooks.host_fd(w->hev, 1);
	w->kev = g_hooks.make_kernel_fd ? g_hooks.make_kernel_fd(make_eventfd, NULL)
				       : make_eventfd(NULL);
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
	forget_fds(w);
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
		pthread_mutex_unlock(&w->mu);
		lk_syscall(LKD_NR_write, w->kev, (long)&one, sizeof(one), 0, 0, 0);
		pthread_mutex_lock(&w->mu);
		while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	syscall(SYS_read, w->hev, &v, sizeof(v));
}

static int host_ppoll(struct pollfd *f, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	struct timespec copy, *tp = NULL;
	if (t) { copy = *t; tp = &copy; }
	return (int)syscall(SYS_ppoll, f, n, tp, mask, mask ? _NSIG / 8 : 0);
}

int lk_wait(const struct pollfd *h, nfds_t nh, const struct pollfd *k, nfds_t nk,
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

/* A signal a fault raises in the faulting thread, synchronously: it never
 * interrupts a wait, so its handler (a sanitizer's, a runtime's SIGSEGV)
 * says nothing about restarting one. */
static int synchronous_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
	       sig == SIGTRAP || sig == SIGSYS;
}

int lkclient_signal_handlers(int *all_restart)
{
	/* sigaction() fails (EINVAL) for glibc's own signals (32, 33), which
	 * must not become the errno of the call that asked. */
	const int saved = errno;
	int any = 0, all = 1;
	for (int sig = 1; sig < _NSIG; sig++) {
		struct sigaction sa;
		if (sig == SIGKILL || sig == SIGSTOP || synchronous_signal(sig) ||
		    sigaction(sig, NULL, &sa) < 0)
			continue;
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN) continue;
		any = 1;
		if (!(sa.sa_flags & SA_RESTART)) all = 0;
	}
	if (all_restart) *all_restart = all;
	errno = saved;
	return any;
}

/* Whether Linux would restart a call a signal interrupted: which signal
 * it was is not known here, so every installed handler of a signal that
 * can interrupt a wait must have asked for SA_RESTART. */
static int restartable(void)
{
	int all;
	lkclient_signal_handlers(&all);
	return all;
}

int lk_wait_socket(int fd, short events, int timeo_opt, const sigset_t *mask, int restart)
{
	int fl = lk_sys_fcntl(fd, F_GETFL, 0);
	if (fl < 0) return -1;
	if (fl & O_NONBLOCK) {
		errno = EAGAIN;
		return -1;
	}
	struct timeval tv = {0, 0};
	socklen_t len = sizeof(tv);
	struct timespec ts, *tp = NULL;
	if (lk_sys_getsockopt(fd, SOL_SOCKET, timeo_opt, &tv, &len) == 0 &&
	    (tv.tv_sec || tv.tv_usec)) {
		ts.tv_sec = tv.tv_sec;
		ts.tv_nsec = tv.tv_usec * 1000;
		tp = &ts;
	}
	const struct pollfd k = {.fd = fd, .events = events};
	for (;;) {
		int r = lk_wait(NULL, 0, &k, 1, tp, mask);
		if (r > 0) return 1;
		if (r == 0) {
			errno = EAGAIN;
			return 0;
		}
		if (errno != EINTR || tp != NULL || !restart || !restartable()) return -1;
	}
}

