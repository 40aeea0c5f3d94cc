/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * lkd hostops: the only way the library kernel reaches the host.
 *
 * The kernel (kernel/arch/lkd) calls the host exclusively through one
 * `struct lkd_hostops` table handed to lkd_start(). The header is
 * freestanding C (no libc types) so that both kernel code and host code can
 * include it. The host side (hostops/posix_hostops.cc) implements it for
 * POSIX Linux hosts.
 *
 * Contracts. Unless stated otherwise each entry:
 *  - may be called from any host thread, including threads that are not
 *    running kernel code;
 *  - must not call back into the kernel;
 *  - returns 0 / a non-NULL handle on success and a negative errno value
 *    (or NULL) on failure.
 * "May block" means the call can put the host thread to sleep. Kernel code
 * never sleeps in a host call (a context switch is ctx_switch, idling
 * leaves the CPU): the kernel blocks only outside the CPU, a caller waiting
 * for its own call's completion (sem_down) or lkd_start() waiting for the
 * boot.
 *
 * Versioning: the kernel refuses a table whose `version` differs from
 * LKD_HOSTOPS_VERSION. Add entries only at the end and bump the version.
 * Version 4 removed thread_self and tls_free, which nothing used.
 */
#ifndef LKD_HOSTOPS_H
#define LKD_HOSTOPS_H

#ifdef __cplusplus
extern "C" {
#endif

#define LKD_HOSTOPS_VERSION 4

/* Opaque host objects. The kernel never looks inside them. */
struct lkd_host_sem;
struct lkd_host_mutex;
struct lkd_host_timer;
struct lkd_host_tls_key;

struct lkd_hostops {
	/* Must be LKD_HOSTOPS_VERSION. */
	unsigned int version;

	/* ---------------------------------------------------------------
	 * Console and failure
	 * --------------------------------------------------------------- */

	/*
	 * Write kernel log/console bytes. Called with the kernel CPU held;
	 * must not block for long (buffer or drop rather than wait on a
	 * slow reader). `len` bytes, not NUL-terminated.
	 */
	void (*console_write)(const char *buf, unsigned int len);

	/*
	 * The kernel hit an unrecoverable state (panic, BUG). Never returns.
	 * The host should print `msg` and abort the process.
	 */
	void (*panic)(const char *msg) __attribute__((noreturn));

	/* ---------------------------------------------------------------
	 * Memory
	 * --------------------------------------------------------------- */

	/*
	 * Allocate `size` bytes aligned to at least `align` (a power of two,
	 * at most 2 MiB). Used once at boot for the kernel's physical memory
	 * and for small host-side bookkeeping. Returns NULL on failure.
	 */
	void *(*mem_alloc)(unsigned long size, unsigned long align);
	/* Free memory from mem_alloc. NULL is ignored. */
	void (*mem_free)(void *ptr);

	/* ---------------------------------------------------------------
	 * Threads and thread-local storage
	 * --------------------------------------------------------------- */

	/*
	 * Start a detached host thread running fn(arg) on a stack of at
	 * least `stack_size` bytes (0: host default). The thread ends when
	 * fn returns. Returns 0 or -errno. (Only lkd_start() uses it, for
	 * the thread that boots the kernel: kernel tasks have no host
	 * threads of their own, see the execution contexts below.)
	 */
	int (*thread_create)(void (*fn)(void *arg), void *arg,
			     unsigned long stack_size);

	/*
	 * A TLS key whose value is per host thread. `destructor` (may be
	 * NULL) runs on a thread's exit with its non-NULL value, on that
	 * thread. Returns NULL on failure. A key lives as long as the
	 * process (the kernel allocates one, at boot).
	 */
	struct lkd_host_tls_key *(*tls_alloc)(void (*destructor)(void *));
	int (*tls_set)(struct lkd_host_tls_key *key, void *value);
	void *(*tls_get)(struct lkd_host_tls_key *key);

	/* ---------------------------------------------------------------
	 * Synchronisation
	 * --------------------------------------------------------------- */

	/*
	 * Counting semaphore with initial count `count`. sem_down may block
	 * (after a short bounded spin, so that a completion posted from the
	 * other core does not always pay for a futex sleep and wake-up);
	 * sem_up never blocks and may be called from any thread, including
	 * one that runs kernel code. A waiter may free the semaphore as soon
	 * as its sem_down returns, while the sem_up that released it is still
	 * returning: sem_up touches the semaphore no more once it has posted.
	 */
	struct lkd_host_sem *(*sem_alloc)(int count);
	void (*sem_free)(struct lkd_host_sem *sem);
	void (*sem_up)(struct lkd_host_sem *sem);
	void (*sem_down)(struct lkd_host_sem *sem);

	/* Plain (non-recursive) mutex. lock may block. */
	struct lkd_host_mutex *(*mutex_alloc)(void);
	void (*mutex_free)(struct lkd_host_mutex *mutex);
	void (*mutex_lock)(struct lkd_host_mutex *mutex);
	void (*mutex_unlock)(struct lkd_host_mutex *mutex);

	/* ---------------------------------------------------------------
	 * Time
	 * --------------------------------------------------------------- */

	/* Host CLOCK_MONOTONIC in nanoseconds. Never blocks. */
	unsigned long long (*time_monotonic_ns)(void);
	/* Host CLOCK_REALTIME in nanoseconds since the epoch. Never blocks. */
	unsigned long long (*time_realtime_ns)(void);

	/*
	 * One-shot timers, all served by a single host timer thread (never a
	 * thread per expiry). `fn(arg)` runs on the timer thread; it must be
	 * short and must not call timer_* entries of the same timer.
	 * timer_set arms (or re-arms) the timer to fire once after
	 * `delta_ns` from now; timer_cancel disarms it (a callback already
	 * running may still finish). timer_free cancels and frees; after it
	 * returns fn is not running and will not run.
	 */
	struct lkd_host_timer *(*timer_alloc)(void (*fn)(void *arg), void *arg);
	int (*timer_set)(struct lkd_host_timer *timer,
			 unsigned long long delta_ns);
	void (*timer_cancel)(struct lkd_host_timer *timer);
	void (*timer_free)(struct lkd_host_timer *timer);

	/* ---------------------------------------------------------------
	 * Execution contexts (version 2)
	 *
	 * Every kernel task runs on a stack of its own, as a user-level
	 * context: a context switch in the kernel is a ctx_switch on
	 * whichever host thread holds the kernel's CPU, and wakes no host
	 * thread. A saved context may be resumed by any host thread, as long
	 * as only one runs it at a time (the kernel's CPU guarantees that).
	 * --------------------------------------------------------------- */

	/*
	 * Allocate a stack of `size` bytes (a multiple of 4096) with an
	 * inaccessible guard page below it, so that an overflow faults
	 * instead of corrupting memory. Returns the lowest usable address,
	 * or NULL. Any thread; may block briefly (mmap).
	 */
	void *(*stack_alloc)(unsigned long size);
	/* Free a stack from stack_alloc (same size). Never the running one. */
	void (*stack_free)(void *stack, unsigned long size);

	/*
	 * A new context on the stack [stack, stack + size) that, when first
	 * switched to, calls fn(). fn must never return. Returns an opaque
	 * context handle for ctx_switch, or NULL. Never blocks.
	 */
	void *(*ctx_make)(void *stack, unsigned long size, void (*fn)(void));
	/*
	 * Save the calling context into *save and resume context `to` (from
	 * ctx_make, or saved by an earlier ctx_switch). Returns when some
	 * host thread switches back to what was saved in *save. Makes no
	 * system call; the signal mask and thread-local storage stay the
	 * calling host thread's. Never blocks.
	 */
	void (*ctx_switch)(void **save, void *to);

	/* ---------------------------------------------------------------
	 * Entropy (version 3)
	 * --------------------------------------------------------------- */

	/*
	 * Fill up to `len` bytes at `buf` with output of the host's
	 * cryptographically secure random number generator (on Linux:
	 * getrandom(2)). The kernel seeds and reseeds its own CRNG from it:
	 * TCP initial sequence numbers, SYN cookies and ephemeral ports
	 * depend on it.
	 *
	 * Called by the host thread that runs kernel code, in any kernel
	 * context (interrupts off, spinlocks held), so it never blocks: a
	 * host whose own generator is not seeded yet answers -EAGAIN rather
	 * than wait. `buf` belongs to the caller and is not used after the
	 * call returns.
	 *
	 * Returns the number of bytes written, from the start of `buf`. A
	 * short count (less than `len`, possibly 0) means only those bytes
	 * are random and the rest of `buf` is untouched. A negative errno
	 * means nothing was written; the kernel then runs on its own
	 * entropy sources (timer jitter) and its CRNG may stay unready.
	 */
	long (*getrandom)(void *buf, unsigned long len);
};

#ifdef __cplusplus
}
#endif

#endif /* LKD_HOSTOPS_H */
