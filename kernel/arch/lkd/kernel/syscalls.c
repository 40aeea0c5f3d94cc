// SPDX-License-Identifier: GPL-2.0
/*
 * System call entry: the asm-generic 64-bit table, called directly on the
 * calling host thread as the task bound to it (threads.c, proc.c).
 */
#include <linux/errno.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/syscalls.h>
#include <linux/task_work.h>
#include <asm/unistd.h>
#include <lkd/kernel.h>

#include "internal.h"

typedef long (*lkd_syscall_fn)(long, long, long, long, long, long);

/* Entries with no meaning in a library kernel (no user register state to
 * return to or to copy; no user address space to map). */
#define sys_rt_sigreturn	sys_ni_syscall
#define sys_clone		sys_ni_syscall
#define sys_clone3		sys_ni_syscall
#define sys_mmap		sys_ni_syscall

#undef __SYSCALL
#define __SYSCALL(nr, call) [nr] = (lkd_syscall_fn)(void (*)(void))(call),

static const lkd_syscall_fn syscall_table[__NR_syscalls] = {
	[0 ... __NR_syscalls - 1] = (lkd_syscall_fn)(void (*)(void))sys_ni_syscall,
#include <uapi/asm/unistd.h>
};

static bool is_restart(long ret)
{
	return ret == -ERESTARTSYS || ret == -ERESTARTNOINTR ||
	       ret == -ERESTARTNOHAND || ret == -ERESTART_RESTARTBLOCK;
}

/* Makes call `nr`, as the bound task. */
static long run_one(long nr, const long args[6])
{
	struct pt_regs *regs = current_pt_regs();
	long ret;

	regs->syscall_nr = nr;
	memcpy(regs->args, args, sizeof(regs->args));
	ret = syscall_table[nr](args[0], args[1], args[2], args[3], args[4],
				args[5]);
	/*
	 * Interrupted by a signal. No handler runs in lkd (signals go to the
	 * host), so, as for a signal whose action is to be ignored, the call
	 * restarts; a fatal signal ends the task on the way out instead.
	 */
	while (is_restart(ret)) {
		struct lkd_task_host *th = current_thread_info()->host;

		if (lkd_collect_signals(th)) {
			ret = -EINTR;
			break;
		}
		/* A notify signal is no signal: once its work is done it must
		 * not make the restarted call fail again at once. */
		if (test_thread_flag(TIF_NOTIFY_SIGNAL)) {
			clear_thread_flag(TIF_NOTIFY_SIGNAL);
			if (task_work_pending(current))
				task_work_run();
		}
		/* lkd_task_interrupt asked to end this call. */
		if (th->interrupted) {
			th->interrupted = false;
			ret = -EINTR;
			break;
		}
		if (ret == -ERESTART_RESTARTBLOCK)
			ret = current->restart_block.fn(&current->restart_block);
		else
			ret = syscall_table[nr](args[0], args[1], args[2],
						args[3], args[4], args[5]);
	}
	regs->ret = ret;
	return ret;
}

/* Runs as the bound task. */
static long run_syscall(void *arg)
{
	struct lkd_syscall_args *c = arg;

	return run_one(c->nr, c->args);
}

/* 0, or why call `nr` cannot be made at all. */
static long check_call(long nr)
{
	if (!lkd_running)
		return -ENODEV;
	if (nr < 0 || nr >= __NR_syscalls ||
	    syscall_table[nr] == (lkd_syscall_fn)(void (*)(void))sys_ni_syscall)
		return -ENOSYS;
	return 0;
}

long lkd_syscall(long nr, const long args[6])
{
	struct lkd_syscall_args c = { .nr = nr };
	struct lkd_task_host *th;
	long ret = check_call(nr);

	if (ret)
		return ret;
	if (args)
		memcpy(c.args, args, sizeof(c.args));
	th = lkd_current_binding(true);
	if (!th)
		return -ENODEV;
	if (th->dead)
		return -ESRCH;
	return lkd_run_bound(th, run_syscall, &c);
}

unsigned long long lkd_take_signals(void)
{
	struct lkd_task_host *th = lkd_current_binding(false);

	if (!th)
		return 0;
	return __atomic_exchange_n(&th->signals, 0, __ATOMIC_RELAXED);
}

int lkd_task_submit(struct lkd_task *task, long nr, const long args[6],
		    lkd_call_done_fn done, void *arg)
{
	struct lkd_task_host *th = (struct lkd_task_host *)task;
	long ret = check_call(nr);

	if (ret)
		return ret;
	if (!th || !done)
		return -EINVAL;
	return lkd_submit_to(th, run_syscall, nr, args, done, arg);
}

/*
 * A batch, as the bound task: its submission's arguments are the calls,
 * their count and where their results go (lkd_task_submit_batch).
 */
static long run_batch(void *arg)
{
	struct lkd_syscall_args *c = arg;
	const struct lkd_call *calls = (const struct lkd_call *)c->args[0];
	unsigned long n = c->args[1], i;
	long *results = (long *)c->args[2];
	long ret = 0;

	for (i = 0; i < n; i++) {
		ret = check_call(calls[i].nr);
		if (!ret)
			ret = run_one(calls[i].nr, calls[i].args);
		results[i] = ret;
		if (ret == -EINTR || fatal_signal_pending(current))
			break;
	}
	while (++i < n)
		results[i] = -ECANCELED;
	return ret;
}

int lkd_task_submit_batch(struct lkd_task *task, const struct lkd_call *calls,
			  unsigned int n, long *results, lkd_call_done_fn done,
			  void *arg)
{
	struct lkd_task_host *th = (struct lkd_task_host *)task;
	long batch[6] = { (long)calls, n, (long)results };

	if (!lkd_running)
		return -ENODEV;
	if (!th || !done || !calls || !results || n == 0 || n > LKD_BATCH_MAX)
		return -EINVAL;
	/* The submission's number is only a record: each call sets the
	 * task's registers to its own. */
	return lkd_submit_to(th, run_batch, calls[0].nr, batch, done, arg);
}

void lkd_task_interrupt(struct lkd_task *task)
{
	struct lkd_task_host *th = (struct lkd_task_host *)task;

	if (!th || !lkd_running)
		return;
	/* The call the caller sees in flight: its own last submission. */
	__atomic_store_n(&th->interrupt_call, th->async_calls, __ATOMIC_RELEASE);
	lkd_cpu_interrupt(th);
}
