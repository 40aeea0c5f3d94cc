/* SPDX-License-Identifier: GPL-2.0 */
/* Shared between the files of the lkd arch port; not part of any API. */
#ifndef _LKD_ARCH_INTERNAL_H
#define _LKD_ARCH_INTERNAL_H

#include <linux/types.h>
#include <linux/list.h>
#include <lkd/hostops.h>
#include <lkd/kernel.h>

struct task_struct;

/* The host table given to lkd_start(); valid until lkd_halt() returns. */
extern const struct lkd_hostops *lkd_host;

/*
 * Host side of one kernel task. Allocated from host memory because host
 * threads use it outside the kernel and it may outlive the task_struct
 * (a bound host thread keeps it until it unbinds).
 *
 * A task is either a kernel thread (its own host thread, started at its
 * first switch-in) or host-backed: it has no thread of its own, and host
 * threads "enter" it (lkd_run_as) to run system calls or process-level
 * operations; between calls it sleeps in LKD_TASK_AWAY.
 */
struct lkd_task_host {
	/* Valid while the task lives; NULL once the task_struct is freed. */
	struct task_struct *task;
	struct lkd_host_sem *sem;	/* the running thread of this task
					 * waits here while it is switched out */
	struct lkd_host_mutex *occupy;	/* held by the host thread that is
					 * entering/running a host-backed task */
	int refs;			/* atomic: task + list + bindings */

	/* Kernel thread body; NULL for host-backed tasks. */
	int (*fn)(void *);
	void *fn_arg;
	bool host_backed;
	bool thread_started;

	/* Where a host-backed task's entering thread goes on leave/death:
	 * a __builtin_setjmp buffer on that thread's stack. */
	void *leave_jb;
	bool leaving;
	bool dead;
	bool claimed_on_create;	/* first switch-in needs no wake-up */

	/* Host-backed tasks are listed for the process API. */
	struct list_head node;
	int pid, tgid;
	bool leader;

	/* Signals raised for the task and not yet taken by the host. */
	unsigned long long signals;
};

void lkd_task_host_put(struct lkd_task_host *th);

/* threads.c */
void lkd_threads_init(void);
long lkd_run_as(struct lkd_task_host *th, long (*fn)(void *), void *arg);
extern int lkd_host_backed_marker(void *);
/* pid 1, host-backed once boot is complete. */
extern struct lkd_task_host *lkd_init_task_host;
/* Dequeue non-fatal signals into th->signals; true if a fatal one is pending. */
bool lkd_collect_signals(struct lkd_task_host *th);
/* The state of a host-backed task that was switched away from while no
 * host thread was inside it: only lkd's own entry (lkd_run_as) wakes it. */
#define LKD_TASK_AWAY TASK_PARKED

/* irq.c */
void lkd_run_pending_irqs(void);
bool lkd_irq_pending(void);
void lkd_irq_enable_user(void);
extern bool lkd_halting;

/* cpu.c: the CPU object; its rules are written at the top of cpu.c. */
void lkd_cpu_init(void);
bool lkd_cpu_try_get(void);
void lkd_cpu_get(void);
void lkd_cpu_let_go(void);
void lkd_cpu_note_entry(void);
bool lkd_switch_from_user(void);
void lkd_cpu_idle(void);
void lkd_cpu_halt(struct lkd_host_sem *idle_stopped);
void lkd_idle_host_run(struct task_struct *prev);
extern struct task_struct *lkd_idle_host_task;
int lkd_idle_host_marker(void *);

/* time.c */
void lkd_time_start(void);
void lkd_time_halt(void);

/* console.c */
void lkd_console_init(void);

/* proc.c */
struct lkd_task_host *lkd_current_binding(bool bind);
long lkd_run_bound(struct lkd_task_host *th, long (*fn)(void *), void *arg);
int lkd_proc_init(void);
void lkd_proc_halt(void);

/* setup.c */
extern void *lkd_idle_jb;
void lkd_boot_complete(void);
extern int lkd_running;	/* 1 between boot completion and halt */

#endif
