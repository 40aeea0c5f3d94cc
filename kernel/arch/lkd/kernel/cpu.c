// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's one CPU, as one object: who may run kernel code, who waits
 * for it, and what happens when its holder lets it go.
 *
 * Rules (each one something the rest of the port relies on):
 *
 *  1. The CPU is held by exactly one host thread while kernel code runs. A
 *     host thread that finds it free takes it with one compare-and-swap and
 *     wakes nobody (lkd_cpu_try_get); one that finds it held sleeps on
 *     `wait_sem` after announcing itself in `waiters` (lkd_cpu_get).
 *
 *  2. While the CPU is held, it moves between host threads only through a
 *     context switch (__switch_to posts the next task's semaphore: the
 *     baton of threads.c). A release (cpu_release) is the only other way
 *     the holder changes.
 *
 *  3. When the CPU is free, `current` is in "user mode": a host-backed task
 *     whose call returned (its host thread is outside the kernel), the idle
 *     host task (the kernel has nothing to run), or, before the idle host
 *     task exists and during halt, the idle task itself asleep in
 *     arch_cpu_idle ("deep idle"). Interrupts are enabled in all three.
 *     A task stays `current` after its call: the same thread's next call
 *     finds it there and runs at once, with no switch at all.
 *
 *  4. Whoever takes a free CPU and needs another task to run switches away
 *     from the user-mode `current` on its behalf (lkd_switch_from_user): it
 *     parks that task in LKD_TASK_AWAY and calls schedule() as that task,
 *     on its own stack; __switch_to hands the baton to the next task and
 *     long-jumps back to it. No other host thread runs for this, except the
 *     one whose task is next. In deep idle the baton goes to the idle
 *     task's host thread instead (idle_sem).
 *
 *  5. Interrupts: a host thread that raises one while the CPU is free takes
 *     the CPU and runs the handler itself (lkd_irq_raise); while the CPU is
 *     held, the raise only sets a pending bit, which the holder drains when
 *     it enables interrupts or lets the CPU go. Letting go re-checks the
 *     pending bits after the release, so a raise that lost the race for the
 *     CPU is never stranded.
 *
 *  6. The idle host task (`lkd-idle`, SCHED_IDLE, no host thread) is what
 *     the scheduler picks when nothing else can run. Switching to it
 *     finishes the switch as it on the switching thread and lets the CPU go
 *     (lkd_idle_host_run): a kernel that goes idle wakes nobody, and an
 *     entry into an idle kernel wakes nobody either. It is taken off the
 *     runqueue whenever someone switches away from it and put back right
 *     after the switch (lkd_after_switch), so it never competes with a task
 *     that has work.
 *
 *  7. Halt (lkd_cpu_halt): the idle host task stops coming back, the idle
 *     task gets the CPU, sees lkd_halting and leaves the kernel for good
 *     with the CPU still held, so no raiser ever runs kernel code again.
 *
 *  8. After about 50 ms in which no host thread entered and only interrupts
 *     came, none of which woke a task, the user-mode `current` and the idle
 *     host task step aside for the idle task, whose NO_HZ idle
 *     loop stops the tick ("deep idle"); the idle task brings it back on
 *     the first wake-up. An idle lkd then costs no host CPU at all.
 */
#include <linux/sched.h>
#include <linux/sched/stat.h>
#include <linux/sched/task.h>
#include <linux/tick.h>
#include <uapi/linux/sched/types.h>
#include <asm/irq.h>

#include "internal.h"

static struct {
	int held;			/* atomic: 0 free, 1 held */
	int waiters;			/* atomic: threads asleep in lkd_cpu_get */
	struct lkd_host_sem *wait_sem;
	/* The idle task's host thread sleeps here in deep idle. */
	struct lkd_host_sem *idle_sem;
} cpu = {
	.held = 1,	/* the boot thread starts the kernel holding it */
};

struct task_struct *lkd_idle_host_task;
/* Set by whoever switches away from the idle host task; cleared by the
 * next lkd_after_switch, which puts it back on the runqueue. */
static bool idle_host_requeue;

/*
 * Deep idle (rule 8). While a task is `current` in user mode (the last
 * caller's, or the idle host task) the kernel believes it runs, so the
 * tick keeps firing: HZ host timer wake-ups a second. After this many
 * let-gos in a row with no entry and nothing to run (about this many
 * milliseconds of ticks), `current` steps aside, the idle host task leaves
 * the runqueue and the idle task runs: NO_HZ stops the tick. The first
 * entry after that costs two host hand-offs instead of none.
 */
#define DEEP_IDLE_AFTER_QUIET_LET_GOS	50
static unsigned int quiet_let_gos;
static bool idle_host_deep;

void lkd_cpu_init(void)
{
	cpu.wait_sem = lkd_host->sem_alloc(0);
	cpu.idle_sem = lkd_host->sem_alloc(0);
	if (!cpu.wait_sem || !cpu.idle_sem)
		lkd_host->panic("lkd: out of host memory for the CPU");
}

bool lkd_cpu_try_get(void)
{
	int free = 0;

	return __atomic_compare_exchange_n(&cpu.held, &free, 1, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

void lkd_cpu_get(void)
{
	bool got;

	for (;;) {
		if (lkd_cpu_try_get())
			return;
		/* Announce before the last try: cpu_release stores `held` and
		 * then reads `waiters` (both seq_cst), so either it sees us
		 * and posts, or we see the CPU free. */
		__atomic_add_fetch(&cpu.waiters, 1, __ATOMIC_SEQ_CST);
		got = lkd_cpu_try_get();
		if (!got)
			lkd_host->sem_down(cpu.wait_sem);
		__atomic_sub_fetch(&cpu.waiters, 1, __ATOMIC_RELAXED);
		if (got)
			return;
	}
}

static void cpu_release(void)
{
	__atomic_store_n(&cpu.held, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&cpu.waiters, __ATOMIC_SEQ_CST))
		lkd_host->sem_up(cpu.wait_sem);
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

	if (current->on_rq && !is_idle_task(current))
		n--;
	if (idle_host && idle_host != current && READ_ONCE(idle_host->on_rq))
		n--;
	return (int)n > 0;
}

/*
 * Switch away from the user-mode `current` on its behalf (rule 4). Returns
 * true when the CPU went to another host thread (the caller no longer holds
 * it), false if the scheduler kept `current` (nothing happened).
 */
noinline bool lkd_switch_from_user(void)
{
	struct task_struct *prev = current;
	struct lkd_task_host *ph = current_thread_info()->host;
	void *jb[5];

	if (is_idle_task(prev)) {
		/* Deep idle: the idle task's own thread takes the CPU, and
		 * with it whatever the scheduler wants next. */
		lkd_host->sem_up(cpu.idle_sem);
		return true;
	}
	if (__builtin_setjmp(jb))
		return true;	/* __switch_to passed the baton on */
	ph->leave_jb = jb;
	ph->leaving = true;
	if (is_idle_host(prev))
		idle_host_requeue = !lkd_halting && !idle_host_deep;
	set_current_state(LKD_TASK_AWAY);
	schedule();
	/* Not reached for an away task (schedule() dequeues it); kept safe. */
	ph->leaving = false;
	return false;
}

static bool switch_needed(bool idle_task_itself)
{
	if (lkd_halting)
		return true;
	/*
	 * Deep idle: the idle task's thread runs again when a task woke, or
	 * when an interrupt came while the tick still runs: its idle loop
	 * then tries again to stop the tick (a timer due within a tick kept
	 * it running last time).
	 */
	if (is_idle_task(current))
		return need_resched() ||
		       (!idle_task_itself && !tick_nohz_tick_stopped());
	if (others_runnable())
		return true;
	/* On the way to deep idle: a host-backed `current`, then the idle
	 * host task step aside. */
	if (idle_host_deep)
		return true;
	if (++quiet_let_gos >= DEEP_IDLE_AFTER_QUIET_LET_GOS) {
		idle_host_deep = true;
		return true;
	}
	return false;
}

/* A host thread entered a task: the kernel is not idle. */
void lkd_cpu_note_entry(void)
{
	quiet_let_gos = 0;
}

/*
 * The holder is done with the CPU and `current` is in user mode (rule 3):
 * run what interrupts are pending, let another task run if one can, and
 * release the CPU. Returns with the CPU no longer held by the caller.
 */
static void let_go(bool idle_task_itself)
{
	for (;;) {
		lkd_irq_enable_user();
		if (switch_needed(idle_task_itself)) {
			if (lkd_switch_from_user())
				return;
			continue;
		}
		cpu_release();
		/* A raise that found the CPU held just before the release
		 * left its bit for us (rule 5). */
		if (!lkd_irq_pending() || !lkd_cpu_try_get())
			return;
	}
}

void lkd_cpu_let_go(void)
{
	let_go(false);
}

/*
 * The scheduler switched from `prev` to the idle host task; we are on
 * prev's host thread, holding the CPU, with `current` already the idle
 * host task (rule 6).
 */
void lkd_idle_host_run(struct task_struct *prev)
{
	schedule_tail(prev);
	lkd_cpu_let_go();
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
	if (lkd_idle_host_task && !idle_host_deep) {
		/* The idle host task idles for us (rule 6). */
		wake_up_state(lkd_idle_host_task, LKD_TASK_AWAY);
		if (!need_resched())
			set_tsk_need_resched(current);
		return;
	}
	/* Boot, deep idle or halt: let the CPU go and sleep until someone
	 * hands it back with work to do (switch_from_user). */
	let_go(true);
	lkd_host->sem_down(cpu.idle_sem);
	if (idle_host_deep && need_resched() && !lkd_halting) {
		idle_host_deep = false;
		quiet_let_gos = 0;
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

/*
 * Halt (rule 7): called by lkd_halt() on an unbound host thread once every
 * process is gone. Returns when the idle task has left the kernel.
 */
void lkd_cpu_halt(struct lkd_host_sem *idle_stopped)
{
	lkd_cpu_get();
	lkd_halting = true;
	lkd_cpu_let_go();
	lkd_host->sem_down(idle_stopped);
}
