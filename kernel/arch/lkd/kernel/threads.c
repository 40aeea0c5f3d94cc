// SPDX-License-Identifier: GPL-2.0
/*
 * Tasks, host threads and the context switch.
 *
 * The virtual CPU (cpu.c) moves between host threads with `current`: every
 * task has a host semaphore; __switch_to(prev, next) posts next's semaphore
 * and makes prev's host thread wait on its own. Only the holder of the CPU
 * touches kernel state.
 *
 * Three kinds of tasks:
 *  - kernel threads (kthreadd, workers, pid 1 during boot) get a host thread
 *    of their own, started at their first switch-in (so a fork that fails
 *    after copy_thread() leaves no thread behind);
 *  - host-backed tasks (lkd processes and their threads) have no thread of
 *    their own. A host thread "enters" one (lkd_run_as): it takes the CPU;
 *    if its task is still `current` from its last call, it just runs;
 *    otherwise it makes the task runnable and switches away from whatever
 *    is `current` on that task's behalf (cpu.c, rule 4), then waits on its
 *    task's semaphore, which the switch has usually posted already. It
 *    runs on its own stack as that task. When its call is done, the task
 *    stays `current` and the thread lets the CPU go (lkd_cpu_let_go),
 *    unless another task is runnable: then the task is parked in
 *    LKD_TASK_AWAY and __switch_to() long-jumps the host thread back out of
 *    the scheduler to where it entered (the abandoned frames are never
 *    resumed: the next entry completes the switch with schedule_tail()). A
 *    task that dies is left the same way;
 *  - the idle host task, which has no thread either: switching to it
 *    finishes the switch on the switching thread and lets the CPU go.
 *
 * A task that has left sleeps in LKD_TASK_AWAY (the TASK_PARKED bit alone),
 * a state that wake_up_process(), signals (even SIGKILL, which is seen at
 * the next entry) and stale wake-ups from wait queues or wake_q never
 * match: only an entry's wake_up_state(task, LKD_TASK_AWAY) does. That is
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
	if (!boot_task_host.sem)
		lkd_host->panic("lkd: out of host memory at boot");
	lkd_cpu_init();
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

	/* Decided while we still hold the CPU: once next runs, another host
	 * thread may enter (or switch away from) prev and reset these. */
	if (READ_ONCE(prev->__state) == TASK_DEAD) {
		ph->dead = true;
		jb = ph->leave_jb;
	} else if (ph->leaving) {
		ph->leaving = false;
		jb = ph->leave_jb;
	}

	if (next == lkd_idle_host_task) {
		/* The kernel goes idle: no host thread to wake (cpu.c). */
		lkd_idle_host_run(prev);
	} else {
		if (!nh->thread_started) {
			nh->thread_started = true;
			if (lkd_host->thread_create(kthread_trampoline, nh, 0))
				lkd_host->panic("lkd: cannot create a host thread");
		}
		/* From here on `next`'s host thread owns the CPU. */
		lkd_host->sem_up(nh->sem);
	}

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
	if (args->fn == lkd_host_backed_marker ||
	    args->fn == lkd_idle_host_marker) {
		th->host_backed = true;
		th->thread_started = true;	/* borrowed threads only */
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
 * Entering and leaving host-backed tasks
 * --------------------------------------------------------------------- */

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
	if (__builtin_setjmp(jb) == 0) {
		if (th->claimed_on_create) {
			/*
			 * Just created by our own previous call, which left
			 * its task for it: the scheduler switches to it and
			 * hands us the CPU through its semaphore.
			 */
			th->claimed_on_create = false;
			lkd_host->sem_down(th->sem);
			schedule_tail(current_thread_info()->prev_sched);
		} else {
			lkd_cpu_get();
			lkd_cpu_note_entry();
			if (current != th->task) {
				wake_up_state(th->task, LKD_TASK_AWAY);
				lkd_switch_from_user();
				lkd_host->sem_down(th->sem);
				/* Finish the switch that got us here. */
				schedule_tail(current_thread_info()->prev_sched);
			}
		}
		/*
		 * We are `current` and hold the CPU. Whoever switches away
		 * from this task from now on (its death, or a leave below)
		 * comes back here; someone else may have left their own
		 * buffer in it while the task was idle in user mode.
		 */
		th->leave_jb = jb;
		th->leaving = false;

		if (fatal_signal_pending(current))
			do_group_exit(SIGKILL);
		ret = fn(arg);
		kernel_work_before_leaving(th);
		lkd_cpu_let_go();
		return ret;
	}
	/* Died: __switch_to() jumped here. */
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
