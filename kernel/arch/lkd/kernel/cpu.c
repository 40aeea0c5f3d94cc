// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's one CPU, as one object: who runs kernel code, how work
 * reaches it, and when a host thread gets back out.
 *
 * Kernel tasks are user-level contexts (threads.c): any host thread that
 * holds the CPU runs whichever task is `current`, and a context switch is a
 * ctx_switch on that thread. Rules:
 *
 *  1. The CPU is held by at most one host thread, the "runner". A host
 *     thread takes it only when it is free, with one compare-and-swap
 *     (cpu_try_get); nobody ever sleeps waiting for it.
 *
 *  2. Work reaches the kernel in two ways. A host thread with a call for
 *     its task (lkd_cpu_submit) first tries the CPU: if it is free, the
 *     thread wakes its task itself (usually the task is `current` already)
 *     and becomes the runner: it switches from its own stack into
 *     `current`'s context (run_kernel) and runs the kernel until the kernel
 *     is idle again. If the CPU is busy, it pushes the task on the
 *     lock-free `submitted` list (which holds a reference on it) and tries
 *     once more. A host thread raising an interrupt sets its bit (irq.c)
 *     and tries the CPU the same way. The runner drains both at every
 *     user-mode point (cpu_service) and checks again after releasing
 *     (rule 5), so work is never stranded and a caller never waits for the
 *     CPU, only for its own call's completion (a semaphore per task).
 *
 *  3. "User mode": a host-backed task between calls (lkd_user_mode_loop),
 *     the idle host task, or the idle task in deep idle. There the runner
 *     runs pending interrupts (as interrupts of user mode) and wakes the
 *     tasks that got a call. If another task can run, `current` parks
 *     itself in LKD_TASK_AWAY and schedules; if not, the kernel is idle
 *     and `current` switches back to the runner's own stack (runner_exit),
 *     which releases the CPU. A task stays `current` then: the next call
 *     for it runs with no scheduling at all.
 *
 *  4. A call's completion posts its task's semaphore (lkd_call_done). The
 *     runner that completes it may be any host thread: the caller wakes
 *     once, or not at all if it ran the call itself (runner_call).
 *
 *  5. Releasing (run_and_release) stores `held` and then reads the work
 *     words; submitting and raising store the work and then try the CPU (all
 *     sequentially consistent): either the runner sees the work, or the
 *     submitter gets the CPU.
 *
 *  6. The idle host task (`lkd-idle`, SCHED_IDLE) is what the scheduler
 *     picks when nothing else can run: it leaves to the runner, so a
 *     kernel that goes idle and a call into an idle kernel cost no idle
 *     loop and no tick reprogramming. It is taken off the runqueue
 *     whenever it switches away and put back right after the switch
 *     (lkd_after_switch), so it never competes with a task that has work.
 *
 *  7. Deep idle: while the idle host task or a task in user mode is
 *     `current` the kernel believes a task runs and the tick keeps firing.
 *     After about 50 ms in which nothing entered and only interrupts came,
 *     `current` steps aside for the idle task, whose NO_HZ idle loop stops
 *     the tick. An idle lkd then costs no host CPU. As on a real CPU, the
 *     idle loop goes round once after every interrupt taken in deep idle:
 *     that is what reprograms the tick for timers the interrupt added.
 *
 *  8. Halt: the last call (lkd_cpu_halt_call, into pid 1) sets
 *     lkd_halting; every user-mode task and the idle host task then step
 *     aside, the idle task sees it and leaves to the runner for good with
 *     the CPU still held, so no host thread ever runs kernel code again.
 */
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/stat.h>
#include <linux/sched/task.h>
#include <linux/tick.h>
#include <uapi/linux/sched/types.h>
#include <asm/irq.h>

#include "internal.h"

static struct {
	int held;			/* atomic: 0 free, 1 held */
	bool halted;			/* the idle task left for good */
	/* The runner's own context, saved when it entered (rule 3). */
	void *runner_exit;
	/* Tasks with a new call, linked by submit_next (rule 2). */
	struct lkd_task_host *submitted;
	/* Tasks whose call is to be interrupted, linked by interrupt_next
	 * (lkd_task_interrupt), taken with the submissions. */
	struct lkd_task_host *interrupts;
	/* The task whose caller is the runner itself: its completion needs
	 * no semaphore post (lkd_call_done). */
	struct lkd_task_host *runner_call;
} cpu = {
	.held = 1,	/* the boot thread starts the kernel holding it */
};

struct task_struct *lkd_idle_host_task;
/* Set when the idle host task switches away; cleared by the next
 * lkd_after_switch, which puts it back on the runqueue. */
static bool idle_host_requeue;

#define DEEP_IDLE_AFTER_QUIET_EXITS	50
static unsigned int quiet_exits;
static bool idle_host_deep;

static bool cpu_try_get(void)
{
	int free = 0;

	return __atomic_compare_exchange_n(&cpu.held, &free, 1, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static bool work_waiting(void)
{
	return __atomic_load_n(&cpu.submitted, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&cpu.interrupts, __ATOMIC_SEQ_CST) ||
	       lkd_irq_pending();
}

/* Switch from the runner's own stack into `current` (rule 2). Returns when
 * the kernel is idle again and `current` left to us. */
static void run_kernel(void)
{
	lkd_host->ctx_switch(&cpu.runner_exit, current_thread_info()->host->ctx);
}

/* Kernel side: leave to the runner's stack; resumed by the next runner. */
static void exit_to_runner(void)
{
	lkd_host->ctx_switch(&current_thread_info()->host->ctx, cpu.runner_exit);
}

/* Holding the CPU: run the kernel until it is idle and no work is left,
 * then release it (rules 2 and 5). */
static void run_and_release(void)
{
	do {
		run_kernel();
		cpu.runner_call = NULL;
		if (cpu.halted)
			return;	/* rule 8: keep it */
		__atomic_store_n(&cpu.held, 0, __ATOMIC_SEQ_CST);
	} while (work_waiting() && cpu_try_get());
}

static void run_if_free(void)
{
	if (cpu_try_get())
		run_and_release();
}

/* The boot thread: run start_kernel on the idle task's stack. */
void lkd_cpu_boot(void *idle_ctx)
{
	lkd_host->ctx_switch(&cpu.runner_exit, idle_ctx);
	/* The kernel went idle for the first time. */
	if (cpu.halted)
		return;
	__atomic_store_n(&cpu.held, 0, __ATOMIC_SEQ_CST);
	if (work_waiting() && cpu_try_get())
		run_and_release();
}

/*
 * Push `th` on the lock-free list at *head (linked through *next), unless
 * *queued says it is on it already. The list holds a reference: the
 * call may finish, and its thread exit, before a runner takes the task
 * off the list.
 */
static void list_push(struct lkd_task_host **head, struct lkd_task_host *th,
		      bool *queued, struct lkd_task_host **next)
{
	struct lkd_task_host *old;

	if (__atomic_exchange_n(queued, true, __ATOMIC_SEQ_CST))
		return;
	old = __atomic_load_n(head, __ATOMIC_RELAXED);
	__atomic_add_fetch(&th->refs, 1, __ATOMIC_RELAXED);
	do {
		*next = old;
	} while (!__atomic_compare_exchange_n(head, &old, th, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
}

void lkd_cpu_submit(struct lkd_task_host *th)
{
	if (cpu_try_get()) {
		/*
		 * The fast path: the CPU was free, so `current` is in user
		 * mode and we may wake the task right here, as an interrupt
		 * would; usually it is `current` already and the call runs
		 * with no scheduling at all.
		 */
		quiet_exits = 0;
		cpu.runner_call = th;
		if (th->task != current)
			wake_up_state(th->task, LKD_TASK_AWAY);
		run_and_release();
		return;
	}
	/* Once on the list until a runner takes it (a call that ran before
	 * its push became visible leaves it there for one round). */
	list_push(&cpu.submitted, th, &th->submitted, &th->submit_next);
	run_if_free();
}

/* Under the CPU: is the caller of `th` the runner itself (no post needed)? */
bool lkd_cpu_runs_own_call(struct lkd_task_host *th)
{
	return cpu.runner_call == th;
}

void lkd_cpu_kick(void)
{
	run_if_free();
}

/* Ask the runner to interrupt th's call (th->interrupt_call is set); the
 * same protocol as a submission (rules 2 and 5). */
void lkd_cpu_interrupt(struct lkd_task_host *th)
{
	list_push(&cpu.interrupts, th, &th->interrupt_queued, &th->interrupt_next);
	run_if_free();
}

/* Under the CPU: interrupt the asynchronous calls asked for, if each is
 * still the call in flight (a request that comes after its call ended
 * must not hit the next one). A call that sleeps interruptibly wakes with
 * a notify signal pending and ends with -EINTR; one not started yet ends
 * so as soon as it would block. */
static void take_interrupts(void)
{
	struct lkd_task_host *th, *next;

	if (!__atomic_load_n(&cpu.interrupts, __ATOMIC_ACQUIRE))
		return;
	th = __atomic_exchange_n(&cpu.interrupts, NULL, __ATOMIC_ACQ_REL);
	for (; th; th = next) {
		unsigned long want;
		int state;

		next = th->interrupt_next;
		__atomic_store_n(&th->interrupt_queued, false, __ATOMIC_SEQ_CST);
		want = __atomic_exchange_n(&th->interrupt_call, 0, __ATOMIC_ACQ_REL);
		state = __atomic_load_n(&th->call_state, __ATOMIC_ACQUIRE);
		if (want && th->call_async && want == th->async_calls &&
		    (state == LKD_CALL_PENDING || state == LKD_CALL_RUNNING) &&
		    th->task && !th->dead) {
			th->interrupted = true;
			set_notify_signal(th->task);
		}
		lkd_task_host_put(th);
	}
}

/* Wake every task that got a call since the last look. */
static void take_submissions(void)
{
	struct lkd_task_host *th, *next;

	if (!__atomic_load_n(&cpu.submitted, __ATOMIC_ACQUIRE))
		return;
	th = __atomic_exchange_n(&cpu.submitted, NULL, __ATOMIC_ACQ_REL);
	quiet_exits = 0;
	for (; th; th = next) {
		next = th->submit_next;
		__atomic_store_n(&th->submitted, false, __ATOMIC_SEQ_CST);
		if (th->task && th->task != current)
			wake_up_state(th->task, LKD_TASK_AWAY);
		lkd_task_host_put(th);
	}
}

/* At a user-mode point: interrupts, then new calls (rule 3). */
static void cpu_service(void)
{
	lkd_irq_enable_user();
	take_submissions();
	take_interrupts();
}

static bool is_idle_host(struct task_struct *t)
{
	return t == lkd_idle_host_task;
}

/* Runnable tasks other than `current` and the idle host task. */
static bool others_runnable(void)
{
	unsigned int n = nr_running();
	struct task_struct *idle_host = lkd_idle_host_task;

	if (current->on_rq)
		n--;
	if (idle_host && idle_host != current && READ_ONCE(idle_host->on_rq))
		n--;
	return (int)n > 0;
}

/* Should the user-mode `current` step aside? (rules 3, 7, 8) */
static bool switch_needed(void)
{
	if (lkd_halting || others_runnable() || idle_host_deep)
		return true;
	if (++quiet_exits >= DEEP_IDLE_AFTER_QUIET_EXITS) {
		idle_host_deep = true;
		return true;
	}
	return false;
}

/* Host-backed tasks and the idle host task live here between calls. */
void lkd_user_mode_loop(struct lkd_task_host *th)
{
	for (;;) {
		cpu_service();
		if (__atomic_load_n(&th->call_state, __ATOMIC_ACQUIRE) ==
		    LKD_CALL_PENDING) {
			long ret;

			th->call_state = LKD_CALL_RUNNING;
			if (fatal_signal_pending(current))
				do_group_exit(SIGKILL);
			ret = th->call_fn(th->call_arg);
			lkd_work_before_user_mode(th);
			lkd_call_done(th, ret);
			continue;
		}
		if (switch_needed()) {
			if (is_idle_host(current))
				idle_host_requeue = !lkd_halting && !idle_host_deep;
			set_current_state(LKD_TASK_AWAY);
			schedule();
			continue;
		}
		exit_to_runner();
	}
}

void lkd_after_switch(void)
{
	if (idle_host_requeue && !is_idle_host(current)) {
		idle_host_requeue = false;
		wake_up_state(lkd_idle_host_task, LKD_TASK_AWAY);
	}
}

/*
 * The idle task's arch_cpu_idle(), interrupts enabled. Returns when the
 * idle task should look for work again.
 */
void lkd_cpu_idle(void)
{
	if (lkd_idle_host_task && !idle_host_deep && !lkd_halting) {
		/* The idle host task idles for us (rule 6). */
		wake_up_state(lkd_idle_host_task, LKD_TASK_AWAY);
		if (!need_resched())
			set_tsk_need_resched(current);
		return;
	}
	/* Boot, deep idle or halt. */
	for (;;) {
		unsigned long taken = lkd_irqs_taken();

		cpu_service();
		if (lkd_halting) {
			cpu.halted = true;	/* rule 8 */
			exit_to_runner();
			lkd_host->panic("lkd: the halted kernel was resumed");
		}
		if (need_resched())
			break;
		/* As a real CPU's idle loop does after any interrupt: look
		 * again, which reprograms the tick for timers it added. */
		if (lkd_irqs_taken() != taken)
			return;
		exit_to_runner();
	}
	if (idle_host_deep) {
		idle_host_deep = false;
		quiet_exits = 0;
		wake_up_state(lkd_idle_host_task, LKD_TASK_AWAY);
	}
}

int lkd_idle_host_marker(void *unused)
{
	/* Never called: its address tags the clone of the idle host task. */
	return 0;
}

static int __init lkd_idle_host_init(void)
{
	struct kernel_clone_args args = {
		.flags		= CLONE_FS | CLONE_FILES | CLONE_VM | CLONE_UNTRACED,
		.fn		= lkd_idle_host_marker,
		.kthread	= 1,
	};
	struct sched_param param = { .sched_priority = 0 };
	pid_t pid;

	/* copy_thread() records the task in lkd_idle_host_task. */
	pid = kernel_clone(&args);
	if (pid < 0 || !lkd_idle_host_task)
		panic("lkd: cannot create the idle host task: %d", pid);
	set_task_comm(lkd_idle_host_task, "lkd-idle");
	sched_setscheduler_nocheck(lkd_idle_host_task, SCHED_IDLE, &param);
	return 0;
}
early_initcall(lkd_idle_host_init);

/* The last call of all, made into pid 1 by lkd_halt() (rule 8). */
long lkd_cpu_halt_call(void *unused)
{
	lkd_halting = true;
	return 0;
}
