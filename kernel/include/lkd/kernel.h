/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lkd entry API: the only global symbols of the library kernel.
 *
 * Linux 6.1 runs inside the calling process through the arch port in
 * kernel/arch/lkd. This header is the whole surface the rest of lkd sees.
 *
 * Conventions:
 *  - Every function returns 0 or a non-negative value on success and a
 *    negative errno value on failure (-EINVAL, ...). Nothing here sets errno.
 *  - Functions may be called from any host thread. A host thread that calls
 *    lkd_syscall() hands the call to its kernel task, which runs it on a
 *    stack of its own: on the calling thread if the kernel's (single) CPU is
 *    free, else on the thread that holds it; the caller waits either way. A
 *    call that blocks in the kernel (accept, read on an empty pipe, ...)
 *    sleeps in the kernel scheduler and lets the other host threads' calls
 *    run; no host thread is woken for a kernel context switch. A thread's
 *    next call usually finds its task still `current` and runs at once
 *    (kernel/arch/lkd/kernel/cpu.c).
 *  - Syscall numbers and structure layouts are the kernel's own generic ABI
 *    (include/uapi/asm-generic/unistd.h, generic struct stat, ...). Pointer
 *    arguments are plain host pointers: the kernel reads and writes the
 *    caller's memory directly.
 *
 * Process model: the kernel holds "kernel processes" (own fd table, cwd,
 * credentials). A host thread is bound to at most one task of one process at
 * a time. A thread that calls lkd_syscall() without being bound is bound to a
 * new task of the "host process" (a child of pid 1 created at boot, root
 * credentials), which is what the daemon itself uses.
 */
#ifndef LKD_KERNEL_H
#define LKD_KERNEL_H

#include <lkd/hostops.h>
#include <lkd/virtio_host.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------
 * Boot and halt
 * --------------------------------------------------------------------- */

/*
 * Boot the kernel. `ops` must stay valid until lkd_halt() returns.
 * `cmdline` is the kernel command line; lkd understands in addition:
 *   mem=<size>[KMG]   kernel memory (default 256M)
 *   quiet / loglevel= as usual (console output goes to ops->console_write)
 * Returns when the kernel has finished initialisation (all initcalls run,
 * devices probed). Only one kernel per host process, and a halted kernel
 * cannot be started again in the same process: -EALREADY.
 */
int lkd_start(const struct lkd_hostops *ops, const char *cmdline);

/*
 * Halt the kernel: every kernel process is killed (its sockets closed),
 * file systems are synced (not unmounted: unmount first for a clean image,
 * as the daemon does; otherwise the next mount replays the journal), and
 * no host thread runs kernel code again. Host threads still bound lose
 * their tasks; later calls return -ENODEV. Must not be called from a bound
 * thread inside a syscall.
 */
int lkd_halt(void);

/* ---------------------------------------------------------------------
 * System calls
 * --------------------------------------------------------------------- */

/*
 * Run system call `nr` with six arguments (unused ones ignored) as the task
 * bound to the calling host thread. Returns the kernel's result or -errno;
 * -ENOSYS for an unknown or unsupported number; -ENODEV when the kernel is
 * not running; -ESRCH when the bound process has been killed.
 */
long lkd_syscall(long nr, const long args[6]);

/*
 * Signals the kernel raised for the calling thread's process during its last
 * calls (e.g. SIGPIPE on a write to a closed socket), as a bit mask
 * (bit n-1 for signal n), cleared by the call. lkd never runs user signal
 * handlers; the caller decides what to do with them.
 */
unsigned long long lkd_take_signals(void);

/* ---------------------------------------------------------------------
 * Tasks without a host thread: asynchronous calls
 * --------------------------------------------------------------------- */

/*
 * A kernel task (thread) of some process that no host thread is bound to.
 * Its calls are submitted and complete asynchronously: the submitting
 * thread does not wait, and the host thread that completes the call (the
 * one running the kernel when the call returns: the submitter itself if
 * the call did not block, otherwise whichever thread runs the kernel then)
 * reports it. This is how lkd's daemon answers a client's call straight
 * from the kernel, with no host thread parked on each blocked call.
 */
struct lkd_task;

/*
 * Completion of a submitted call: the kernel's result or -errno (-ESRCH if
 * the task died first), and the signals the kernel raised for the task
 * meanwhile (as lkd_take_signals). Runs exactly once per accepted
 * submission, with the kernel's CPU held: it must be short, must not
 * block, and must not call any lkd_* function. It may run before
 * lkd_task_submit returns, on the submitting thread.
 */
typedef void (*lkd_call_done_fn)(void *arg, long ret, unsigned long long signals);

/*
 * A new task of process `pid`, for lkd_task_submit. Returns its tid and
 * sets *task, or -errno (-ESRCH: no such process).
 */
int lkd_task_create(int pid, struct lkd_task **task);

/*
 * Submit system call `nr` for `task` and return at once. Returns 0 when
 * the call was accepted (done(arg, ...) will run once), or -errno without
 * calling done: -ENOSYS, -ENODEV as lkd_syscall, -ESRCH if the task died.
 * One call per task at a time: a submission while the previous call of the
 * task is still in flight waits for that call to complete first. Pointer
 * arguments must stay valid until done runs.
 */
int lkd_task_submit(struct lkd_task *task, long nr, const long args[6],
		    lkd_call_done_fn done, void *arg);

/* One system call of a batch (lkd_task_submit_batch). */
struct lkd_call {
	long nr;
	long args[6];
};

/* The most calls one batch may carry. */
#define LKD_BATCH_MAX 64

/*
 * Submit `n` calls (1..LKD_BATCH_MAX) for `task` as one submission: the
 * task makes them in order, as it would make them one by one, and done
 * runs once, after the last, with the last one's result. results[i] gets
 * call i's result or -errno (a number lkd_syscall refuses fails that call
 * alone, -ENOSYS). A call that ends with -EINTR (a signal, or
 * lkd_task_interrupt) ends the batch: the calls after it are not made and
 * get -ECANCELED. Returns as lkd_task_submit; `calls` and `results` must
 * stay valid until done runs.
 */
int lkd_task_submit_batch(struct lkd_task *task, const struct lkd_call *calls,
			  unsigned int n, long *results, lkd_call_done_fn done,
			  void *arg);

/*
 * Interrupt the call of `task` in flight, as a signal with a handler would
 * on Linux: a call that sleeps interruptibly (or would) ends with -EINTR;
 * one that completes first completes as usual. Only the submitter (whose
 * last submission is the call meant) should ask, from any host thread; it
 * does not wait, and a request for a call already done is ignored.
 */
void lkd_task_interrupt(struct lkd_task *task);

/*
 * The task exits and the handle is freed. A call still in flight is waited
 * for first (killing the task's process ends it).
 */
void lkd_task_release(struct lkd_task *task);

/* ---------------------------------------------------------------------
 * Kernel processes
 * --------------------------------------------------------------------- */

/* Credentials for a new process. */
struct lkd_cred {
	unsigned int uid;
	unsigned int gid;
	/* Capability bit mask (bit n = capability n), both permitted and
	 * effective. LKD_CAPS_ALL for "everything root has". */
	unsigned long long caps;
};
#define LKD_CAPS_ALL (~0ULL)
#define LKD_CAPS_NONE (0ULL)

/*
 * Create a new kernel process with an empty fd table, cwd "/" and the given
 * credentials. Returns its pid (> 0) or -errno.
 */
int lkd_proc_create(const struct lkd_cred *cred);

/*
 * Fork process `pid`: the child gets a copy of the parent's fd table (open
 * files shared, as fork(2) does), cwd and credentials. Returns the child's
 * pid or -errno (-ESRCH: no such lkd process).
 */
int lkd_proc_fork(int pid);

/*
 * What a successful execve(2) does to process `pid`'s fd table: every fd
 * marked close-on-exec is closed, the others stay open. The host side
 * replaced the program; lkd only sees the fd table. Returns 0 or -errno
 * (-ESRCH: no such lkd process).
 */
int lkd_proc_exec(int pid);

/*
 * Moves process `pid` into the network namespace whose nsfs file is `path`
 * in the kernel's file system (ip-netns(8)'s /run/netns/NAME, as lkd's
 * admin plane keeps them): setns(2) as the process's leader, from which
 * every task bound to the process afterwards is cloned. Tasks bound before
 * stay where they are: call it before the first lkd_bind. Returns 0 or
 * -errno (-ENOENT: no such namespace, -EINVAL: not a network namespace,
 * -ESRCH: no such lkd process).
 */
int lkd_proc_set_netns(int pid, const char *path);

/*
 * Every task of process `pid` takes the credentials its task `tid` has now
 * (uids, gids, groups, capabilities): what glibc's set*id() broadcast does
 * for the threads of a host process, for a kernel process whose task
 * `tid` just ran setuid(2) or a sibling. The kernel checked that call;
 * this spreads its result and checks nothing more. The leader (from which
 * later threads and forks are cloned) and every task between calls take
 * them before this returns; a task inside a call takes them when that
 * call ends, before its next one (as its own commit_creds, run from task
 * work). Waits for the call of a thread bound with lkd_bind that starts
 * meanwhile. Returns 0 or -errno (-ESRCH: no such process, or `tid` is
 * not one of its tasks; -ENOMEM).
 */
int lkd_proc_commit_cred(int pid, int tid);

/*
 * Kill process `pid` (as SIGKILL would): its threads end, all its fds are
 * closed (sockets shut down as on a real kernel). Host threads bound to its
 * tasks get -ESRCH from their next call. Waits until the process is gone.
 */
int lkd_proc_exit(int pid);

/*
 * Whether process `pid` was hit by a fatal signal (killed inside the
 * kernel: SIGKILL from the OOM killer, or a signal a client had the kernel
 * send it): that signal's number; 0 while it lives or if it is ending
 * without a signal; -ESRCH once it is gone altogether. Its threads get
 * -ESRCH from their calls once it is dead.
 */
int lkd_proc_fatal_signal(int pid);

/*
 * Bind the calling host thread to a new task (thread) of process `pid`.
 * A thread already bound is unbound first. Returns the task's tid or
 * -errno (-ESRCH: no such lkd process).
 */
int lkd_bind(int pid);

/*
 * The task bound to the calling thread exits; the thread is unbound.
 * A no-op for an unbound thread. Host threads that end while bound are
 * unbound automatically (TLS destructor).
 */
void lkd_unbind(void);

/* ---------------------------------------------------------------------
 * Devices (hooks for the device models in hostops/)
 * --------------------------------------------------------------------- */

/* struct lkd_mmio_ops: the device window's callbacks (lkd/virtio_host.h). */

/*
 * Register a virtio-mmio device window of `size` bytes (at most 4096)
 * before lkd_start(); may be called before the hostops are known. The
 * kernel announces it on its command line (virtio_mmio.device=) so the
 * kernel's own virtio drivers probe it at boot, in registration order.
 * Returns the interrupt number the device raises with lkd_irq_raise(), or
 * -errno (-EBUSY after start, -EINVAL for bad ops or size, -ENOSPC when
 * the table is full). The kernel keeps `ops` and `dev` and calls ops with
 * dev from the host thread running kernel code until lkd_halt() returns
 * (there is no removal): both must stay valid that long.
 */
int lkd_virtio_mmio_add(const struct lkd_mmio_ops *ops, void *dev,
			unsigned long size);

/*
 * Raise interrupt `irq`. Any host thread, any time; never waits for the
 * kernel. If no host thread is running kernel code, the caller runs the
 * handler itself right away (and whatever the handler's soft interrupts
 * do, e.g. the network stack's receive path), then returns; otherwise the
 * thread in the kernel runs it soon. So the caller must not hold a lock
 * that the device's own mmio read/write callbacks take: those may be
 * called from inside the handler, on the caller's thread.
 */
void lkd_irq_raise(int irq);

#ifdef __cplusplus
}
#endif

#endif /* LKD_KERNEL_H */
