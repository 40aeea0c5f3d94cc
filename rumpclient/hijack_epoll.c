/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * liblkhijack's epoll_ctl on kernel fds, deferred to the next wait and
 * coalesced per fd.
 *
 * Why. Level-triggered event loops change a socket's interest set
 * several times between two waits. redis's ae (which redis-benchmark and
 * wrk use too) turns "reply read, now send" into MOD, DEL, ADD and "request
 * sent, now read" into DEL, ADD: five epoll_ctl calls per request, each a
 * round trip to lkd that moves no data, against one send and one receive.
 * Nobody can see an interest set change until the next epoll_wait on that
 * epoll, so the library records what the program asked and applies, at
 * that wait, only the difference between what lkd's epoll holds and what
 * the program wants: one MOD per socket per loop, or nothing.
 *
 * Answers stay Linux's. epoll_ctl's answer depends only on whether the fd
 * is in the set (EEXIST, ENOENT) once the fd and the event mask are known
 * to be acceptable, so a change is deferred only when this mirror knows
 * the answer:
 *   - it knows whether the fd is in lkd's epoll because it saw the call
 *     that put it there or took it out succeed (an fd it has not seen, or
 *     whose number was closed or replaced since, is asked of lkd at once);
 *   - an ADD is deferred only for an open file that an ADD already
 *     accepted (EPERM for files that cannot be polled comes from lkd);
 *   - edge-triggered, one-shot, exclusive and wake-up registrations are
 *     never deferred: a MOD re-arms or re-reports them, which is visible;
 *   - nothing is deferred while a thread waits on that epoll (it must see
 *     an added fd at once), or after a fork (the other process shares lkd's
 *     epoll and may change it behind this mirror's back).
 * Pending changes are applied, in order per fd, before the wait, before
 * any change that is not deferred, and before the fd's number is closed or
 * replaced (dup2), so a change never reaches another open file.
 *
 * A wait's changes go to lkd as one batch (lk_batch), sent under the
 * mirror's lock before the wait rather than in one batch with it: a change
 * another thread makes while the wait blocks is made at once, and must not
 * reach lkd before changes the program made earlier.
 * LKD_HIJACK="epoll=immediate" turns deferral off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#include "rumpclient/hijack.h"
#include "rumpclient/lkclient.h"
#include "lkd/sysnr.h"

enum { EPM_UNKNOWN = 0, EPM_ABSENT = 1, EPM_PRESENT = 2 };

/* One fd's registration in one kernel epoll. */
struct epm_entry {
	uint8_t have;		/* what lkd's epoll holds: EPM_* */
	uint8_t want;		/* what the program asked since, if dirty */
	uint8_t dirty;		/* want not applied yet (the fd is in `dirty`) */
	uint8_t pollable;	/* an ADD of the open file at this number succeeded */
	uint32_t have_events, want_events;
	uint64_t have_data, want_data;
};

#define EPM_CHUNK 256		/* entries per lazily mapped chunk */
#define EPM_DIRTY_MAX 1024	/* pending fds before a forced flush */
#define EPM_MAX 64		/* mirrored epolls; more are served immediately */

/* The mirror of the kernel epoll paired with one host epoll fd. */
struct epm {
	pthread_mutex_t lock;
	int kep;		/* lkd's epoll; -1 once the program closed its epoll */
	int shared;		/* forked since: another process may change it */
	int waiters;		/* threads in a wait on it */
	int ndirty;
	int dirty[EPM_DIRTY_MAX];
	struct epm_entry *chunk[MAX_FD / EPM_CHUNK];
};

/* Events whose registration is never deferred (see the header). */
#define EPM_SPECIAL (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)

static struct epm *g_epm[MAX_FD];	/* by host epoll fd */
static struct epm *g_epm_list[EPM_MAX];
static int g_epm_n;
static pthread_mutex_t g_epm_list_lock = PTHREAD_MUTEX_INITIALIZER;

static void *map_zeroed(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Forgets every entry and pending change. */
static void clear_locked(struct epm *m)
{
	for (size_t i = 0; i < MAX_FD / EPM_CHUNK; i++)
		if (m->chunk[i]) memset(m->chunk[i], 0, EPM_CHUNK * sizeof(struct epm_entry));
	m->ndirty = 0;
}

/* The mirror made for host epoll fd `epfd`, if any. */
static struct epm *mirror_at(int epfd)
{
	return epfd >= 0 && epfd < MAX_FD ? __atomic_load_n(&g_epm[epfd], __ATOMIC_ACQUIRE) : NULL;
}

/* The mirror of host epoll `epfd` (paired with kernel epoll `kep`), made
 * on first use; NULL when deferral is off or no mirror can be had. */
static struct epm *epm_of(int epfd, int kep)
{
	if (!g_cfg.epoll_defer || epfd < 0 || epfd >= MAX_FD) return NULL;
	struct epm *m = mirror_at(epfd);
	if (m && __atomic_load_n(&m->kep, __ATOMIC_RELAXED) == kep) return m;
	pthread_mutex_lock(&g_epm_list_lock);
	m = g_epm[epfd];
	if (!m && g_epm_n < EPM_MAX && (m = map_zeroed(sizeof(*m))) != NULL) {
		pthread_mutex_init(&m->lock, NULL);
		m->kep = -1;
		g_epm_list[g_epm_n++] = m;
		__atomic_store_n(&g_epm[epfd], m, __ATOMIC_RELEASE);
	}
	if (m) {
		pthread_mutex_lock(&m->lock);
		if (m->kep != kep) {  /* a new epoll at this number: start empty */
			clear_locked(m);
			m->shared = 0;
			__atomic_store_n(&m->kep, kep, __ATOMIC_RELAXED);
		}
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_unlock(&g_epm_list_lock);
	return m;
}

/* fd's entry (under m->lock); NULL if it has none and `make` is 0. */
static struct epm_entry *entry(struct epm *m, int fd, int make)
{
	if (fd < 0 || fd >= MAX_FD) return NULL;
	struct epm_entry **c = &m->chunk[fd / EPM_CHUNK];
	if (!*c) {
		if (!make) return NULL;
		*c = map_zeroed(EPM_CHUNK * sizeof(struct epm_entry));
		if (!*c) return NULL;
	}
	return &(*c)[fd % EPM_CHUNK];
}

/* Records what a change lkd answered (0 or -errno) leaves in its epoll. */
static void learn(struct epm_entry *e, int op, const struct epoll_event *ev, long result)
{
	if (result == 0) {
		if (op == EPOLL_CTL_DEL) {
			e->have = EPM_ABSENT;
		} else {
			e->have = EPM_PRESENT;
			e->have_events = ev->events;
			e->have_data = ev->data.u64;
			e->pollable = 1;
		}
	} else if (result == -ENOENT && op != EPOLL_CTL_ADD) {
		e->have = EPM_ABSENT;
	} else {
		e->have = EPM_UNKNOWN;
	}
}

/* The change that takes lkd's epoll from what it holds for the fd to what
 * the program wants (0: none, it was changed back), in *ev; the entry is
 * no longer pending. */
static int pending_op(struct epm_entry *e, struct epoll_event *ev)
{
	if (!e->dirty) return 0;
	e->dirty = 0;
	if (e->want == e->have &&
	    (e->want == EPM_ABSENT ||
	     (e->want_events == e->have_events && e->want_data == e->have_data)))
		return 0;
	ev->events = e->want_events;
	ev->data.u64 = e->want_data;
	return e->have == EPM_ABSENT ? EPOLL_CTL_ADD
	       : e->want == EPM_ABSENT ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
}

/* Records lkd's answer (0 or -errno) to a deferred change. */
static void applied(struct epm_entry *e, int fd, int op, const struct epoll_event *ev, long result)
{
	learn(e, op, ev, result);
	if (result < 0) {
		/* Unexpected (the mirror knew the answer), and too late to
		 * tell the program: said on stderr. The fd is asked of lkd
		 * at once from now on. */
		e->pollable = 0;
		fprintf(stderr, "liblkhijack: a deferred epoll_ctl (op %d) on fd %d failed: %s\n",
			op, fd, strerror((int)-result));
	}
}

/* Sends deferred change `op` on fd to lkd alone and records the answer;
 * errno is left as it was. */
static void send_one(struct epm *m, int fd, struct epm_entry *e, int op, struct epoll_event *ev)
{
	int err = errno;
	int r = lk_sys_epoll_ctl(m->kep, op, fd, ev);
	applied(e, fd, op, ev, r < 0 ? -errno : 0);
	errno = err;
}

/* Applies fd's pending change to lkd's epoll (under m->lock). */
static void apply(struct epm *m, int fd, struct epm_entry *e)
{
	struct epoll_event ev;
	int op = pending_op(e, &ev);
	if (op) send_one(m, fd, e, op, &ev);
}

/* 1 once lkd answered that it makes no batches (an older lkd). */
static int g_no_batch;

/* Sends changes calls[0..n) (epoll_ctl on fds[i], events in evs[i]) as
 * one batch, or one by one to an lkd without batches, and records what
 * lkd answered. */
static void send_changes(struct epm *m, struct lk_call *calls, const int *fds,
			 struct epoll_event *evs, unsigned n)
{
	if (n > 1 && !__atomic_load_n(&g_no_batch, __ATOMIC_RELAXED)) {
		int err = errno;
		int made = lk_batch(calls, n) == 0;
		if (!made && errno == ENOSYS) __atomic_store_n(&g_no_batch, 1, __ATOMIC_RELAXED);
		errno = err;
		if (made) {
			for (unsigned i = 0; i < n; i++)
				applied(entry(m, fds[i], 0), fds[i], (int)calls[i].args[1], &evs[i],
					calls[i].result);
			return;
		}
	}
	for (unsigned i = 0; i < n; i++)
		send_one(m, fds[i], entry(m, fds[i], 0), (int)calls[i].args[1], &evs[i]);
}

/* Applies every pending change, in one batch per LK_BATCH_MAX. */
static void flush_locked(struct epm *m)
{
	struct lk_call calls[LK_BATCH_MAX];
	struct epoll_event evs[LK_BATCH_MAX];
	int fds[LK_BATCH_MAX];
	unsigned n = 0;
	for (int i = 0; i < m->ndirty; i++) {
		const int fd = m->dirty[i];
		struct epm_entry *e = entry(m, fd, 0);
		if (!e) continue;
		if (n == LK_BATCH_MAX) {
			send_changes(m, calls, fds, evs, n);
			n = 0;
		}
		const int op = pending_op(e, &evs[n]);
		if (!op) continue;
		fds[n] = fd;
		calls[n] = (struct lk_call){.nr = LKD_NR_epoll_ctl,
					    .args = {m->kep, op, fd, (long)&evs[n]}};
		n++;
	}
	if (n) send_changes(m, calls, fds, evs, n);
	m->ndirty = 0;
}

/* Whether the change can wait for the next wait (under m->lock). */
static int may_defer(const struct epm *m, const struct epm_entry *e, int op, int fd,
		     const struct epoll_event *ev)
{
	if (m->shared || m->waiters || fd == m->kep || kind(fd) != FD_KERNEL) return 0;
	const int seen = e->dirty ? e->want : e->have;
	const uint32_t seen_events = e->dirty ? e->want_events : e->have_events;
	if (seen == EPM_UNKNOWN) return 0;
	if (seen == EPM_PRESENT && (seen_events & EPM_SPECIAL)) return 0;
	switch (op) {
	case EPOLL_CTL_DEL:
		return 1;
	case EPOLL_CTL_ADD:
		/* An EEXIST is known; an ADD of a file not yet accepted is not. */
		if (seen == EPM_ABSENT && !e->pollable) return 0;
		/* fallthrough */
	case EPOLL_CTL_MOD:
		return ev != NULL && !(ev->events & EPM_SPECIAL);
	default:
		return 0;
	}
}

int epm_ctl(int epfd, int kep, int op, int fd, struct epoll_event *ev)
{
	struct epm *m = epm_of(epfd, kep);
	if (!m) return lk_sys_epoll_ctl(kep, op, fd, ev);
	pthread_mutex_lock(&m->lock);
	struct epm_entry *e = entry(m, fd, 1);
	int r;
	if (e && may_defer(m, e, op, fd, ev)) {
		const int seen = e->dirty ? e->want : e->have;
		if (op == EPOLL_CTL_ADD && seen == EPM_PRESENT) {
			errno = EEXIST;
			r = -1;
		} else if (op != EPOLL_CTL_ADD && seen == EPM_ABSENT) {
			errno = ENOENT;
			r = -1;
		} else {
			if (op == EPOLL_CTL_DEL) {
				e->want = EPM_ABSENT;
			} else {
				e->want = EPM_PRESENT;
				e->want_events = ev->events;
				e->want_data = ev->data.u64;
			}
			if (!e->dirty) {
				if (m->ndirty == EPM_DIRTY_MAX) flush_locked(m);
				e->dirty = 1;
				m->dirty[m->ndirty++] = fd;
			}
			r = 0;
		}
	} else {
		if (e) apply(m, fd, e);  /* this fd's changes stay in order */
		r = lk_sys_epoll_ctl(kep, op, fd, ev);
		if (e) learn(e, op, ev, r < 0 ? -errno : 0);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

void epm_wait_begin(int epfd)
{
	struct epm *m = mirror_at(epfd);
	if (!m) return;
	pthread_mutex_lock(&m->lock);
	if (m->kep >= 0) flush_locked(m);
	m->waiters++;
	pthread_mutex_unlock(&m->lock);
}

void epm_wait_end(int epfd)
{
	struct epm *m = mirror_at(epfd);
	if (!m) return;
	pthread_mutex_lock(&m->lock);
	m->waiters--;
	pthread_mutex_unlock(&m->lock);
}

/* Every mirror, under its lock. */
static void each_mirror(void (*fn)(struct epm *, int), int arg)
{
	pthread_mutex_lock(&g_epm_list_lock);
	for (int i = 0; i < g_epm_n; i++) {
		struct epm *m = g_epm_list[i];
		pthread_mutex_lock(&m->lock);
		if (m->kep >= 0) fn(m, arg);
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_unlock(&g_epm_list_lock);
}

static void fd_closing(struct epm *m, int fd)
{
	struct epm_entry *e = entry(m, fd, 0);
	if (!e) return;
	apply(m, fd, e);
	/* lkd drops the fd from its epoll if this was the file's last fd,
	 * keeps it otherwise: unknown either way. */
	e->have = EPM_UNKNOWN;
	e->pollable = 0;
}

void epm_fd_closing(int fd)
{
	if (__atomic_load_n(&g_epm_n, __ATOMIC_ACQUIRE)) each_mirror(fd_closing, fd);
}

void epm_forget(int epfd)
{
	struct epm *m = mirror_at(epfd);
	if (!m) return;
	pthread_mutex_lock(&m->lock);
	m->ndirty = 0;  /* its kernel epoll is being closed */
	__atomic_store_n(&m->kep, -1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&m->lock);
}

static void flush_one(struct epm *m, int unused)
{
	(void)unused;
	flush_locked(m);
}

static void mark_shared(struct epm *m, int unused)
{
	(void)unused;
	m->shared = 1;
}

void epm_before_fork(void)
{
	if (__atomic_load_n(&g_epm_n, __ATOMIC_ACQUIRE)) each_mirror(flush_one, 0);
}

void epm_after_fork(int child)
{
	if (!__atomic_load_n(&g_epm_n, __ATOMIC_ACQUIRE)) return;
	if (!child) {
		each_mirror(mark_shared, 0);
		return;
	}
	/* The child's only thread: locks other threads held at the fork are
	 * theirs no more, and nobody waits. A change another thread deferred
	 * during the fork is the parent's to apply. */
	pthread_mutex_init(&g_epm_list_lock, NULL);
	for (int i = 0; i < g_epm_n; i++) {
		struct epm *m = g_epm_list[i];
		pthread_mutex_init(&m->lock, NULL);
		clear_locked(m);
		m->waiters = 0;
		m->shared = 1;
	}
}
