// SPDX-License-Identifier: GPL-2.0
/*
 * Tasks, their stacks and the context switch.
 *
 * Every kernel task runs on a stack of its own (hostops stack_alloc) as a
 * user-level context: __switch_to() saves the running context and resumes
 * the next task's on the same host thread (hostops ctx_switch), so a kernel
 * context switch wakes no host thread. Whichever host thread holds the
 * kernel's CPU (cpu.c) runs whichever task is next; a saved context may
 * later be resumed by any host thread.
 *
 * Three kinds of tasks:
 *  - kernel threads (kthreadd, workers, pid 1 during boot) start in
 *    task_entry() and run their body;
 *  - host-backed tasks (lkd processes and their threads) run the calls
 *    host threads hand them (lkd_run_as) in a loop (cpu.c,
 *    lkd_user_mode_loop); between calls they are in "user mode": still
 *    `current`, or parked in LKD_TASK_AWAY once something else ran;
 *  - the idle host task, a host-backed task that never gets a call: what
 *    the scheduler picks when nothing else can run.
 *
 * A task in LKD_TASK_AWAY (the TASK_PARKED bit alone) is in user mode with
 * no call to run. wake_up_process(), signals (even SIGKILL, which is seen
 * at the next call) and stale wake-ups from wait queues or wake_q never
 * match that state: only a new call (cpu.c, take_submissions) wakes it.
 */
#include <linux/atomic.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/start_kernel.h>
#include <linux/task_work.h>
#include <asm/irq.h>

#include "internal.h"

struct thread_info *lkd_current_ti = &init_thread_info;

static struct lkd_task_host boot_task_host;
struct lkd_task_host *lkd_init_task_host;

int lkd_host_backed_marker(void *unused)
{
	/* Never called: its address tags clones that run calls. */
	return 0;
}

static struct lkd_task_host *task_host_alloc(struct task_struct *task)
{
	struct lkd_task_host *th;

	th = lkd_host->mem_alloc(sizeof(*th), 64);
	if (!th)
		return NULL;
	memset(th, 0, sizeof(*th));
	th->task = task;
	th->refs = 1;
	th->sem = lkd_host->sem_alloc(0);
	th->occupy = lkd_host->mutex_alloc();
	INIT_LIST_HEAD(&th->node);
	if (!th->sem || !th->occupy) {
		if (th->sem)
			lkd_host->sem_free(th->sem);
		if (th->occupy)
			lkd_host->mutex_free(th->occupy);
		lkd_host->mem_free(th);
		return NULL;
	}
	return th;
}

static void task_stack_free(struct lkd_task_host *th)
{
	if (th->stack) {
		lkd_host->stack_free(th->stack, LKD_TASK_STACK_SIZE);
		th->stack = NULL;
		th->ctx = NULL;
	}
}

void lkd_task_host_put(struct lkd_task_host *th)
{
	if (__atomic_sub_fetch(&th->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	task_stack_free(th);
	lkd_host->sem_free(th->sem);
	lkd_host->mutex_free(th->occupy);
	lkd_host->mem_free(th);
}

/* Runs the idle task (start_kernel, then the idle loop) on its own stack. */
static void __ref boot_entry(void)
{
	start_kernel();
}

void *lkd_threads_init(void)
{
	boot_task_host.task = &init_task;
	boot_task_host.refs = 1;
	boot_task_host.sem = lkd_host->sem_alloc(0);
	boot_task_host.stack = lkd_host->stack_alloc(LKD_TASK_STACK_SIZE);
	if (boot_task_host.stack)
		boot_task_host.ctx = lkd_host->ctx_make(boot_task_host.stack,
							LKD_TASK_STACK_SIZE,
							boot_entry);
	INIT_LIST_HEAD(&boot_task_host.node);
	init_thread_info.host = &boot_task_host;
	if (!boot_task_host.sem || !boot_task_host.ctx)
		lkd_host->panic("lkd: out of host memory at boot");
	return boot_task_host.ctx;
}

/* ---------------------------------------------------------------------
 * thread_info allocation (the real stack is the task host's)
 * --------------------------------------------------------------------- */

unsigned long *arch_alloc_thread_stack_node(struct task_struct *tsk, int node)
{
	struct thread_info *ti;

	/* Room for the stack-end canary right after the thread_info. */
	ti = kzalloc(sizeof(*ti) + 2 * sizeof(long), GFP_KERNEL);
	return (unsigned long *)ti;
}

void arch_free_thread_stack(struct task_struct *tsk)
{
	struct thread_info *ti = task_thread_info(tsk);

	/* dup_task_struct() copies the parent's thread_info; only a host
	 * structure made by copy_thread() for this very task is ours. Its
	 * stack goes now: the task is dead and we run on another's. */
	if (ti->host && ti->host->task == tsk) {
		ti->host->task = NULL;
		task_stack_free(ti->host);
		lkd_task_host_put(ti->host);
	}
	kfree(ti);
}

/* ---------------------------------------------------------------------
 * Context switch
 * --------------------------------------------------------------------- */

struct task_struct *__switch_to(struct task_struct *prev,
				struct task_struct *next)
{
	struct thread_info *pti = task_thread_info(prev);
	struct thread_info *nti = task_thread_info(next);
	struct lkd_task_host *ph = pti->host;

	nti->prev_sched = prev;
	lkd_current_ti = nti;
	if (READ_ONCE(prev->__state) == TASK_DEAD) {
		/* Its context is saved below and never resumed; its stack is
		 * freed once `next` runs (finish_task_switch). */
		ph->dead = true;
		lkd_call_done(ph, -ESRCH);
	}
	lkd_host->ctx_switch(&ph->ctx, nti->host->ctx);
	/* Resumed, possibly on another host thread. */
	return pti->prev_sched;
}

/* First code of every task but the idle task. */
static void task_entry(void)
{
	struct lkd_task_host *th = current_thread_info()->host;

	schedule_tail(current_thread_info()->prev_sched);
	if (th->fn) {
		th->fn(th->fn_arg);
		/*
		 * fn returned: the task "returns to user space". Only pid 1
		 * does this (kernel_init after the /init exec). It becomes a
		 * host-backed task that runs lkd's process-level calls.
		 */
		kernel_sigaction(SIGCHLD, SIG_IGN);
		th->host_backed = true;
		lkd_init_task_host = th;
		lkd_boot_complete();
	}
	lkd_user_mode_loop(th);
}

int copy_thread(struct task_struct *p, const struct kernel_clone_args *args)
{
	struct thread_info *ti = task_thread_info(p);
	struct lkd_task_host *th;

	if (!args->fn)
		return -EINVAL;	/* no user-space register state to fork */
	th = task_host_alloc(p);
	if (!th)
		return -ENOMEM;
	ti->host = th;
	ti->prev_sched = NULL;
	memset(&ti->regs, 0, sizeof(ti->regs));
	th->stack = lkd_host->stack_alloc(LKD_TASK_STACK_SIZE);
	if (th->stack)
		th->ctx = lkd_host->ctx_make(th->stack, LKD_TASK_STACK_SIZE,
					     task_entry);
	if (!th->ctx)
		return -ENOMEM;	/* arch_free_thread_stack() frees th */
	if (args->fn == lkd_host_backed_marker ||
	    args->fn == lkd_idle_host_marker) {
		th->host_backed = true;
		/* Known before wake_up_new_task() can let it be picked. */
		if (args->fn == lkd_idle_host_marker)
			lkd_idle_host_task = p;
		return 0;
	}
	th->fn = args->fn;
	th->fn_arg = args->fn_arg;
	return 0;
}

void flush_thread(void)
{
}

unsigned long __get_wchan(struct task_struct *p)
{
	return 0;
}

/* ---------------------------------------------------------------------
 * Calls into host-backed tasks
 * --------------------------------------------------------------------- */

/* Under the CPU: the call of `th` finished with `ret` (or the task died). */
void lkd_call_done(struct lkd_task_host *th, long ret)
{
	if (th->call_state != LKD_CALL_PENDING &&
	    th->call_state != LKD_CALL_RUNNING)
		return;
	if (th->call_async) {
		/* Nobody waits for this call: report it here, then let go of
		 * the task for whoever waits to use it next. */
		unsigned long long signals =
			__atomic_exchange_n(&th->signals, 0, __ATOMIC_RELAXED);

		th->call_async = false;
		th->interrupted = false;
		__atomic_store_n(&th->call_state, LKD_CALL_NONE,
				 __ATOMIC_RELEASE);
		th->async_done(th->async_done_arg, ret, signals);
		if (__atomic_exchange_n(&th->async_inflight, LKD_ASYNC_IDLE,
					__ATOMIC_ACQ_REL) == LKD_ASYNC_WAITED)
			lkd_host->sem_up(th->sem);
		return;
	}
	/* A caller that is this very runner sees DONE when it gets out;
	 * any other sleeps on the sem (lkd_run_as). */
	th->call_posted = !lkd_cpu_runs_own_call(th);
	th->call_ret = ret;
	__atomic_store_n(&th->call_state, LKD_CALL_DONE, __ATOMIC_RELEASE);
	if (th->call_posted)
		lkd_host->sem_up(th->sem);
}

/*
 * Run fn(arg) as the host-backed task of `th`. The caller holds
 * th->occupy, so this is the task's only call. Returns fn's result, or
 * -ESRCH if the task died (th->dead is then set and stays set).
 */
/*
 * Wait until no asynchronous call of `th` is in flight. The caller holds
 * th->occupy, so it is the only waiter; the completion (lkd_call_done)
 * posts sem once if it finds the waiter's mark.
 */
static void wait_async_idle(struct lkd_task_host *th)
{
	int inflight = LKD_ASYNC_INFLIGHT;

	/* The common case, a task that never had an async call (or whose
	 * last one is done), costs a load. */
	if (__atomic_load_n(&th->async_inflight, __ATOMIC_ACQUIRE) ==
	    LKD_ASYNC_IDLE)
		return;
	if (__atomic_compare_exchange_n(&th->async_inflight, &inflight,
					LKD_ASYNC_WAITED, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		lkd_host->sem_down(th->sem);
}

int lkd_run_async(struct lkd_task_host *th, long (*fn)(void *), long nr,
		  const long args[6], lkd_call_done_fn done, void *done_arg)
{
	/* The previous call's arguments are in use until it is done. */
	wait_async_idle(th);
	if (th->dead)
		return -ESRCH;
	th->async_call.nr = nr;
	if (args)
		memcpy(th->async_call.args, args, sizeof(th->async_call.args));
	else
		memset(th->async_call.args, 0, sizeof(th->async_call.args));
	th->async_calls++;
	th->interrupted = false;
	th->call_fn = fn;
	th->call_arg = &th->async_call;
	th->call_posted = false;
	th->call_async = true;
	th->async_done = done;
	th->async_done_arg = done_arg;
	__atomic_store_n(&th->async_inflight, LKD_ASYNC_INFLIGHT,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&th->call_state, LKD_CALL_PENDING, __ATOMIC_RELEASE);
	/* Runs the kernel on this thread if the CPU is free (the call may
	 * complete before we return); otherwise the runner takes it. */
	lkd_cpu_submit(th);
	return 0;
}

long lkd_run_as(struct lkd_task_host *th, long (*fn)(void *), void *arg)
{
	long ret;

	wait_async_idle(th);
	if (th->dead)
		return -ESRCH;
	th->call_fn = fn;
	th->call_arg = arg;
	th->call_posted = false;
	__atomic_store_n(&th->call_state, LKD_CALL_PENDING, __ATOMIC_RELEASE);
	/* Runs the kernel on this thread if the CPU is free; otherwise the
	 * runner runs the call. A call not done by the time we get out is
	 * done by another runner, which posts the sem once. */
	lkd_cpu_submit(th);
	if (__atomic_load_n(&th->call_state, __ATOMIC_ACQUIRE) != LKD_CALL_DONE ||
	    th->call_posted)
		lkd_host->sem_down(th->sem);
	ret = th->call_ret;
	__atomic_store_n(&th->call_state, LKD_CALL_NONE, __ATOMIC_RELAXED);
	return ret;
}

bool lkd_collect_signals(struct lkd_task_host *th)
{
	kernel_siginfo_t info;
	enum pid_type type;
	int sig;

	/*
	 * No user handlers run in lkd: signals are handed to the host
	 * (lkd_take_signals), which relays them.
	 */
	while (signal_pending(current)) {
		if (fatal_signal_pending(current))
			return true;
		spin_lock_irq(&current->sighand->siglock);
		sig = dequeue_signal(current, &current->blocked, &info, &type);
		if (!sig)
			recalc_sigpending();
		spin_unlock_irq(&current->sighand->siglock);
		if (!sig)
			break;
		if (sig <= 64)
			__atomic_fetch_or(&th->signals, 1ULL << (sig - 1),
					  __ATOMIC_RELAXED);
	}
	return false;
}

/* What a real kernel does on the way back to user mode. */
void lkd_work_before_user_mode(struct lkd_task_host *th)
{
	for (;;) {
		unsigned long flags = READ_ONCE(current_thread_info()->flags);

		if (flags & (_TIF_NOTIFY_RESUME | _TIF_NOTIFY_SIGNAL)) {
			clear_thread_flag(TIF_NOTIFY_RESUME);
			clear_thread_flag(TIF_NOTIFY_SIGNAL);
			if (task_work_pending(current))
				task_work_run();
			continue;
		}
		if (flags & _TIF_SIGPENDING) {
			if (lkd_collect_signals(th))
				do_group_exit(SIGKILL);
		}
		/* A pending reschedule happens as we leave. */
		break;
	}
}
