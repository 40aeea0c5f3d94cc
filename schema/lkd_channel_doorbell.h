/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The doorbells of a channel (lkd_channel.h), for both sides: a futex word
 * that counts calls (req_seq for the server, resp_seq for the client) and a
 * flag saying that the other side sleeps on it.
 *
 * Waiting spins for at most `spin_ns` (a call that comes back within a few
 * microseconds costs no system call at all), then announces the sleep and
 * sleeps on the futex. The announcement and the re-check of the word are
 * sequentially consistent on both sides, so either the ringer sees the
 * sleeper's flag and wakes it, or the sleeper sees the new value and does
 * not sleep: a wake-up cannot be lost.
 *
 * The mapping is shared between processes: the futex operations are the
 * shared (not FUTEX_PRIVATE_FLAG) kind.
 */
#ifndef LKD_SCHEMA_LKD_CHANNEL_DOORBELL_H
#define LKD_SCHEMA_LKD_CHANNEL_DOORBELL_H

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

/* Wakes the side sleeping on `word` if it said it sleeps. Call after
 * storing the new value of `word` (release). */
static inline void lkd_doorbell_ring(uint32_t *word, uint32_t *sleeping)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(sleeping, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/*
 * Waits until *word != old, *stop (if not NULL) becomes non-zero, or
 * `timeout_ns` of sleeping passed (0: no limit). Returns the new value of
 * *word (== old on stop or timeout). `stop` is checked only around
 * sleeps: whoever sets it must also FUTEX_WAKE `word`.
 */
static inline uint32_t lkd_doorbell_wait(uint32_t *word, uint32_t old,
					 uint32_t *sleeping,
					 const volatile uint32_t *stop,
					 uint64_t spin_ns, uint64_t timeout_ns)
{
	uint32_t v;
	uint64_t start = 0;
	unsigned i;

	for (i = 0;; i++) {
		v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
		if (v != old)
			return v;
		if ((i & 63) == 0) {
			uint64_t now = lkd_doorbell_now_ns();

			if (i == 0)
				start = now;
			else if (now - start >= spin_ns)
				break;
		}
		lkd_doorbell_pause();
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
		if (syscall(SYS_futex, word, FUTEX_WAIT, old, tsp, NULL, 0) < 0 &&
		    errno == ETIMEDOUT) {
			__atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
			return __atomic_load_n(word, __ATOMIC_ACQUIRE);
		}
		__atomic_store_n(sleeping, 0, __ATOMIC_RELAXED);
	}
}

#endif /* LKD_SCHEMA_LKD_CHANNEL_DOORBELL_H */
