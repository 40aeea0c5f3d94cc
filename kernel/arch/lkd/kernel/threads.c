// SPDX-License-Identifier: GPL-2.0
/*
 * Tasks, host threads and the context switch.
 *
 * The virtual CPU is a baton: exactly one host thread runs kernel code at a
 * time, the one whose task is `current`. Every task has a host semaphore;
 * __switch_to(prev, next) posts next's semaphore and makes prev's host
 * thread wait on its own. There is no lock around the CPU: only the holder
 * of the baton touches kernel state, and it hands the baton on explicitly.
 *
 * Two kinds of tasks:
 *  - kernel threads (kthreadd, workers, pid 1 during boot) get a host thread
 *    of their own, started at their first switch-in (so a fork that fails
 *    after copy_thread() leaves no thread behind);
 *  - host-backed tasks (lkd processes and their threads) have no thread of
 *    their own. A host thread "enters" one (lkd_run_as): it queues a wake-up
 *    for the task as an interrupt (LKD_WAKE_IRQ) and waits on the task's
 *    semaphore until the scheduler switches to it; it then runs on its own
 *    stack as that task. To leave, the task sleeps in LKD_TASK_AWAY and calls
 *    schedule(); __switch_to() sees that prev is leaving and, instead of
 *    waiting, long-jumps the host thread back out of the scheduler to the
 *    point where it entered (the abandoned frames are never resumed: the
 *    next entry completes the switch with schedule_tail()). A task that dies
 *    is left the same way.
 *
 * A task that has left sleeps in LKD_TASK_AWAY (the TASK_PARKED bit alone),
 * a state that wake_up_process(), signals (even SIGKILL, which is seen at
 * the next entry) and stale wake-ups from wait queues or wake_q never
 * match: only the entry's wake_up_state(task, LKD_TASK_AWAY) does. That is
 * what keeps the scheduler from ever switching to a host-backed task whose
 * host thread is gone.
 */
#include <linux/atomic.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <asm/irq.h>

#include "internal.h"

struct thread_info *lkd_current_ti = &init_thread_info;

static struct lkd_task_host boot_task_host;
struct lkd_task_host *lkd_init_task_host;

/* Host wake-up requests for host-backed tasks, drained by LKD_WAKE_IRQ. */
static struct lkd_host_mutex *wake_lock;
static struct lkd_task_host *wake_list;

int lkd_host_backed_marker(void *unused)
{
	/* Never called: its address tags clones that get no host thread. */
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

void lkd_task_host_put(struct lkd_task_host *th)
{
	if (__atomic_sub_fetch(&th->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	lkd_host->sem_free(th->sem);
	lkd_host->mutex_free(th->occupy);
	lkd_host->mem_free(th);
}

void lkd_threads_init(void)
{
	boot_task_host.task = &init_task;
	boot_task_host.refs = 1;
	boot_task_host.sem = lkd_host->sem_alloc(0);
	boot_task_host.thread_started = true;
	INIT_LIST_HEAD(&boot_task_host.node);
	init_thread_info.host = &boot_task_host;
	wake_lock = lkd_host->mutex_alloc();
	if (!boot_task_host.sem || !wake_lock)
		lkd_host->panic("lkd: out of host memory at boot");
}

/* ---------------------------------------------------------------------
 * Thread stacks: only the thread_info (host threads have real stacks)
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
	 * structure made by copy_thread() for this very task is ours. */
	if (ti->host && ti->host->task == tsk) {
		ti->host->task = NULL;
		lkd_task_host_put(ti->host);
	}
	kfree(ti);
}

/* ---------------------------------------------------------------------
 * Context switch
 * --------------------------------------------------------------------- */

static void kthread_trampoline(void *arg);

struct task_struct *__switch_to(struct task_struct *prev,
				struct task_struct *next)
{
	struct thread_info *pti = task_thread_info(prev);
	struct thread_info *nti = task_thread_info(next);
	struct lkd_task_host *ph = pti->host, *nh = nti->host;
	struct lkd_host_sem *prev_sem = ph->sem;
	void *jb = NULL;

	nti->prev_sched = prev;
	lkd_current_ti = nti;

	if (READ_ONCE(prev->__state) == TASK_DEAD) {
		ph->dead = true;
		jb = ph->leave_jb;
	} else if (ph->leaving) {
		jb = ph->leave_jb;
	}

	if (!nh->thread_started) {
		nh->thread_started = true;
		if (lkd_host->thread_create(kthread_trampoline, nh, 0))
			lkd_host->panic("lkd: cannot create a host thread");
	}
	/* From here on `next`'s host thread owns the CPU. */
	lkd_host->sem_up(nh->sem);

	if (jb)
		__builtin_longjmp((void **)jb, 1);

	lkd_host->sem_down(prev_sem);
	return pti->prev_sched;
}

/* Host thread of a kernel thread. */
static void kthread_trampoline(void *arg)
{
	/* volatile: __builtin_longjmp does not restore registers. */
	struct lkd_task_host *volatile th = arg;
	volatile bool became_host_backed = false;
	void *jb[5];

	if (__builtin_setjmp(jb) == 0) {
		th->leave_jb = jb;
		lkd_host->sem_down(th->sem);
		schedule_tail(current_thread_info()->prev_sched);
		th->fn(th->fn_arg);
		/*
		 * fn returned: the task "returns to user space". Only pid 1
		 * does this (kernel_init after the /init exec). It becomes a
		 * host-backed task that lkd enters for process creation.
		 */
		kernel_sigaction(SIGCHLD, SIG_IGN);
		th->host_backed = true;
		lkd_init_task_host = th;
		became_host_backed = true;
		th->leaving = true;
		set_current_state(LKD_TASK_AWAY);
		schedule();
		BUG();
	}
	/*
	 * Left the kernel (pid 1) or died: the host thread ends. Touch
	 * nothing of `th` here: once we have left, another host thread may
	 * already be entering pid 1, which is why the boot is reported
	 * complete only now (and not before leaving, when an early entry
	 * would have replaced our leave_jb).
	 */
	if (became_host_backed)
		lkd_boot_complete();
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
	if (args->fn == lkd_host_backed_marker) {
		th->host_backed = true;
		th->thread_started = true;	/* borrowed threads only */
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
 * Entering and leaving host-backed tasks
 * --------------------------------------------------------------------- */

void lkd_wake_irq_handler(void)
{
	struct lkd_task_host *th, *next;

	lkd_host->mutex_lock(wake_lock);
	th = wake_list;
	wake_list = NULL;
	lkd_host->mutex_unlock(wake_lock);

	for (; th; th = next) {
		next = th->wake_next;
		wake_up_state(th->task, LKD_TASK_AWAY);
	}
}

static void kernel_work_before_leaving(struct lkd_task_host *th);

/*
 * Run fn(arg) as the host-backed task of `th` on the calling host thread.
 * The caller holds th->occupy. Returns fn's result, or -ESRCH if the task
 * died (th->dead is then set and stays set).
 */
long noinline lkd_run_as(struct lkd_task_host *th_arg, long (*fn)(void *),
			 void *arg)
{
	/* volatile: __builtin_longjmp does not restore registers. */
	struct lkd_task_host *volatile th = th_arg;
	void *jb[5];
	volatile long ret = -ESRCH;

	if (th->dead)
		return -ESRCH;
	th->leave_jb = jb;
	if (__builtin_setjmp(jb) == 0) {
		if (th->claimed_on_create) {
			/* Just created: already runnable, no wake-up. */
			th->claimed_on_create = false;
		} else {
			lkd_host->mutex_lock(wake_lock);
			th->wake_next = wake_list;
			wake_list = th;
			lkd_host->mutex_unlock(wake_lock);
			lkd_irq_raise(LKD_WAKE_IRQ);
		}
		lkd_host->sem_down(th->sem);
		/*
		 * We are `current` now. `leaving` may still be set by whoever
		 * left this task last without coming back through here (pid 1's
		 * boot thread): left set, the first reschedule inside fn() (a
		 * cond_resched under load) would long-jump us out as if we were
		 * leaving, with the task still runnable and no host thread
		 * behind it, and the scheduler's next switch to it would lose
		 * the CPU for good.
		 */
		th->leaving = false;
		/* Finish the switch that got us here. */
		schedule_tail(current_thread_info()->prev_sched);

		if (fatal_signal_pending(current))
			do_group_exit(SIGKILL);
		ret = fn(arg);
		kernel_work_before_leaving(th);

		th->leaving = true;
		set_current_state(LKD_TASK_AWAY);
		schedule();
		BUG();
	}
	th->leaving = false;
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
static void kernel_work_before_leaving(struct lkd_task_host *th)
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
