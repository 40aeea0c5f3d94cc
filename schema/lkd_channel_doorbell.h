/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The doorbells of a channel (lkd_channel.h), for both sides: a futex word
 * that counts calls (req_seq for the server, resp_seq for the client) and a
 * flag saying that the other side sleeps on it.
 *
 * The waiting policy, in order:
 *   1. The word already changed: return, nothing else happens.
 *   2. Spin, if this waiter's adaptive policy (struct lkd_doorbell_spin)
 *      says spinning pays, fewer than max_spinners waiters sharing its
 *      counter spin now, and the peer did not say the answer will be slow
 *      (lkd_doorbell_spin.slow, checked during the spin too): `pause` until the word changes or the budget
 *      (a time, at most max_ns) runs out, calling sched_yield every
 *      LKD_DOORBELL_YIELD_PAUSES pauses so that a spinner never starves
 *      the thread it waits for when both share a CPU. An answer that comes
 *      within the spin costs no system call on either side: the ringer
 *      sees no sleeper and does not wake.
 *   3. Announce the sleep and FUTEX_WAIT. The announcement and the
 *      re-check of the word are sequentially consistent on both sides, so
 *      either the ringer sees the sleeper's flag and wakes it, or the
 *      sleeper sees the new value and does not sleep: a wake-up cannot be
 *      lost. A cold call therefore costs at most one FUTEX_WAKE per
 *      direction (and the sleeper's FUTEX_WAIT).
 *
 * Adaptive spinning (after gVisor's systrap): each wait that spun is a hit
 * (the word changed within the spin) or a miss. Every
 * LKD_DOORBELL_WINDOW spinning waits the hit rate is checked; below
 * 1/LKD_DOORBELL_MIN_HIT_RATIO the waiter stops spinning for an off
 * period of waits, then spins again for one window (a probe). A failed
 * probe doubles the off period (up to LKD_DOORBELL_OFF_MAX waits), a
 * window that pays resets it. A waiter whose peer answers slowly thus
 * spends almost nothing on spinning, and one whose peer speeds up finds
 * out within an off period.
 *
 * The mapping is shared between processes: the futex operations are the
 * shared (not FUTEX_PRIVATE_FLAG) kind. The spin state is private to one
 * waiter (one thread); the spinner counter is shared by the waiters of one
 * process (never placed in the channel: a client must not be able to stop
 * the server's workers from spinning, or make them all spin).
 *
 * Tests may define LKD_DOORBELL_FUTEX and LKD_DOORBELL_YIELD before
 * including this header to count or intercept the system calls it makes.
 */
#ifndef LKD_SCHEMA_LKD_CHANNEL_DOORBELL_H
#define LKD_SCHEMA_LKD_CHANNEL_DOORBELL_H

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef LKD_DOORBELL_FUTEX
#define LKD_DOORBELL_FUTEX(word, op, val, timeout) \
	syscall(SYS_futex, (word), (op), (val), (timeout), NULL, 0)
#endif
#ifndef LKD_DOORBELL_YIELD
#define LKD_DOORBELL_YIELD() sched_yield()
#endif

/* Pauses without progress between two sched_yield calls of a spinner. */
#define LKD_DOORBELL_YIELD_PAUSES 1024u
/* Spinning waits per measurement window. */
#define LKD_DOORBELL_WINDOW 32u
/* Spinning pays while at least 1 in this many spinning waits is a hit. */
#define LKD_DOORBELL_MIN_HIT_RATIO 4u
/* Waits without spinning after a window that did not pay: the first
 * period, and the longest after repeated failed probes. */
#define LKD_DOORBELL_OFF_MIN 16u
#define LKD_DOORBELL_OFF_MAX 1024u

/* One waiter's spin policy. Initialise with lkd_doorbell_spin_init; only
 * the waiting thread touches it. */
struct lkd_doorbell_spin {
	uint64_t max_ns;	/* longest spin per wait; 0: never spin */
	uint32_t *spinners;	/* waiters spinning now (shared), or NULL */
	uint32_t max_spinners;	/* cap on *spinners */
	/* If non-zero, this wait spins at most cap_ns (the waiter sets it
	 * before each wait: e.g. the peer was asleep, so its answer comes
	 * no sooner than its wake-up). */
	uint64_t cap_ns;
	/* Optional: the peer's "this answer will be slow" word. A spin ends
	 * at once when *slow == slow_value (the waiter sets both before each
	 * wait), neither a hit nor a miss. NULL: none. */
	const uint32_t *slow;
	uint32_t slow_value;
	/* If set, a sleep a signal handler interrupted (FUTEX_WAIT's EINTR)
	 * ends the wait, with `interrupted` set, for the waiter to act on. */
	int return_on_signal;
	int interrupted;
	/* Adaptive state. */
	uint64_t budget_ns;	/* this wait's spin: max_ns, or 0 while off */
	uint32_t window_waits;
	uint32_t window_hits;
	uint32_t off_left;	/* waits until the next probe (while off) */
	uint32_t off_period;	/* the next off period */
	/* Counters, for reports and tests. */
	uint64_t hits;		/* waits answered while spinning */
	uint64_t misses;	/* waits that spun the whole budget, then slept */
	uint64_t capped;	/* waits that slept at once: too many spinners */
};

static inline void lkd_doorbell_spin_init(struct lkd_doorbell_spin *s,
					  uint64_t max_ns, uint32_t *spinners,
					  uint32_t max_spinners)
{
	s->max_ns = max_ns;
	s->spinners = spinners;
	s->max_spinners = max_spinners;
	s->cap_ns = 0;
	s->slow = NULL;
	s->slow_value = 0;
	s->return_on_signal = 0;
	s->interrupted = 0;
	s->budget_ns = max_ns;
	s->window_waits = 0;
	s->window_hits = 0;
	s->off_left = 0;
	s->off_period = LKD_DOORBELL_OFF_MIN;
	s->hits = 0;
	s->misses = 0;
	s->capped = 0;
}

/* The spin budget of the next wait (0: sleep at once); counts down an off
 * period and starts a probe when it ends. */
static inline uint64_t lkd_doorbell_spin_next(struct lkd_doorbell_spin *s)
{
	if (s->budget_ns || !s->max_ns)
		return s->budget_ns;
	if (s->off_left) {
		s->off_left--;
		return 0;
	}
	s->budget_ns = s->max_ns;	/* probe */
	return s->budget_ns;
}

/* Records the outcome of a wait that spun; ends a window when it is full. */
static inline void lkd_doorbell_spin_account(struct lkd_doorbell_spin *s,
					     int hit)
{
	if (hit)
		s->hits++, s->window_hits++;
	else
		s->misses++;
	if (++s->window_waits < LKD_DOORBELL_WINDOW)
		return;
	if (s->window_hits * LKD_DOORBELL_MIN_HIT_RATIO < s->window_waits) {
		s->budget_ns = 0;
		s->off_left = s->off_period;
		if (s->off_period < LKD_DOORBELL_OFF_MAX)
			s->off_period *= 2;
	} else {
		s->off_period = LKD_DOORBELL_OFF_MIN;
	}
	s->window_waits = 0;
	s->window_hits = 0;
}

/* Takes a spinner slot; 0 if max_spinners waiters spin already. */
static inline int lkd_doorbell_spin_enter(struct lkd_doorbell_spin *s)
{
	if (!s->spinners)
		return 1;
	if (__atomic_add_fetch(s->spinners, 1, __ATOMIC_RELAXED) <= s->max_spinners)
		return 1;
	__atomic_sub_fetch(s->spinners, 1, __ATOMIC_RELAXED);
	s->capped++;
	return 0;
}

static inline void lkd_doorbell_spin_leave(struct lkd_doorbell_spin *s)
{
	if (s->spinners)
		__atomic_sub_fetch(s->spinners, 1, __ATOMIC_RELAXED);
}

static inline uint64_t lkd_doorbell_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void lkd_doorbell_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Wakes one thread asleep on `word`, whether or not it said so (e.g. to
 * make a waiter look at its `stop` flag). */
static inline void lkd_doorbell_wake(uint32_t *word)
{
	LKD_DOORBELL_FUTEX(word, FUTEX_WAKE, 1, NULL);
}

/* Wakes the side sleeping on `word` if it said it sleeps. Call after
 * storing the new value of `word` (release). Returns 1 if it had to wake
 * that side (it slept, or was about to), else 0. */
static inline int lkd_doorbell_ring(uint32_t *word, uint32_t *sleeping)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(sleeping, __ATOMIC_SEQ_CST))
		return 0;
	lkd_doorbell_wake(word);
	return 1;
}

/* Spins until *word != old (returns 1, the new value in *v), `budget_ns`
 * passed (returns 0), or *slow == slow_value (returns -1; `slow` may be
 * NULL). */
static inline int lkd_doorbell_spin_for(uint32_t *word, uint32_t old,
					uint64_t budget_ns, const uint32_t *slow,
					uint32_t slow_value, uint32_t *v)
{
	uint64_t start = lkd_doorbell_now_ns();
	unsigned i;

	for (i = 1;; i++) {
		lkd_doorbell_pause();
		*v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
		if (*v != old)
			return 1;
		if (slow && __atomic_load_n(slow, __ATOMIC_RELAXED) == slow_value)
			return -1;
		if ((i & 63) == 0 && lkd_doorbell_now_ns() - start >= budget_ns)
			return 0;
		if (i % LKD_DOORBELL_YIELD_PAUSES == 0)
			LKD_DOORBELL_YIELD();
	}
}

/*
 * Waits until *word != old, *stop (if not NULL) becomes non-zero, or
 * `timeout_ns` of sleeping passed (0: no limit). Spins first as `spin`
 * (NULL: never) decides; see the policy above. Returns the new value of
 * *word (== old on stop or timeout). `stop` is checked only around
 * sleeps: whoever sets it must also FUTEX_WAKE `word`. `*slept` (if not
 * NULL) says whether the wait slept on the futex.
 */
static inline uint32_t lkd_doorbell_wait(uint32_t *word, uint32_t old,
					 uint32_t *sleeping,
					 const volatile uint32_t *stop,
					 struct lkd_doorbell_spin *spin,
					 uint64_t timeout_ns, int *slept)
{
	uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
	uint64_t budget;

	if (slept)
		*slept = 0;
	if (v != old)
		return v;
	budget = spin ? lkd_doorbell_spin_next(spin) : 0;
	if (budget && spin->cap_ns && budget > spin->cap_ns)
		budget = spin->cap_ns;
	if (budget && lkd_doorbell_spin_enter(spin)) {
		int hit = lkd_doorbell_spin_for(word, old, budget, spin->slow,
						spin->slow_value, &v);

		lkd_doorbell_spin_leave(spin);
		if (hit >= 0)
			lkd_doorbell_spin_account(spin, hit);
		if (hit > 0)
			return v;
	}
	for (;;) {
		struct timespec ts, *tsp = NULL;

		__atomic_store_n(sleeping, 1, __ATOMIC_SEQ_CST);
		v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
		if (v != old || (stop && *stop)) {
			__atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
			return v;
		}
		if (timeout_ns) {
			ts.tv_sec = timeout_ns / 1000000000u;
			ts.tv_nsec = timeout_ns % 1000000000u;
			tsp = &ts;
		}
		if (slept)
			*slept = 1;
		if (LKD_DOORBELL_FUTEX(word, FUTEX_WAIT, old, tsp) < 0 &&
		    (errno == ETIMEDOUT ||
		     (errno == EINTR && spin && spin->return_on_signal))) {
			if (errno == EINTR)
				spin->interrupted = 1;
			__atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
			return __atomic_load_n(word, __ATOMIC_ACQUIRE);
		}
		__atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
	}
}

#endif /* LKD_SCHEMA_LKD_CHANNEL_DOORBELL_H */
