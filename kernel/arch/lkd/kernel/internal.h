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

/* Each task's own stack (threads.c); kernel code runs on it. */
#define LKD_TASK_STACK_SIZE (64UL * 1024)

/* A host-backed task's call (lkd_run_as), as seen by both sides. */
#define LKD_CALL_NONE		0
#define LKD_CALL_PENDING	1	/* handed over, not started */
#define LKD_CALL_RUNNING	2
#define LKD_CALL_DONE		3	/* call_ret valid, sem posted (unless
					 * the caller ran it itself) */

/* A system call as handed to a task: its number and six arguments. */
struct lkd_syscall_args {
	long nr;
	long args[6];
};

/*
 * Host side of one kernel task. Allocated from host memory because host
 * threads use it outside the kernel and it may outlive the task_struct
 * (a bound host thread keeps it until it unbinds).
 *
 * A task is either a kernel thread (it runs fn) or host-backed: it runs
 * the calls host threads hand it (lkd_run_as) and is in "user mode"
 * between them (cpu.c).
 */
struct lkd_task_host {
	/* Valid while the task lives; NULL once the task_struct is freed. */
	struct task_struct *task;
	/* Its stack and, while it does not run, its saved context. */
	void *stack;
	void *ctx;
	struct lkd_host_sem *sem;	/* posted when a call is done */
	struct lkd_host_mutex *occupy;	/* held by the host thread whose
					 * call the task runs */
	int refs;			/* atomic: task + list + bindings */

	/* Kernel thread body; NULL for host-backed tasks. */
	int (*fn)(void *);
	void *fn_arg;
	bool host_backed;
	bool dead;

	/* The call handed over by lkd_run_as. */
	long (*call_fn)(void *);
	void *call_arg;
	long call_ret;
	int call_state;			/* atomic: LKD_CALL_* */
	bool call_posted;		/* DONE came with a sem post */
	bool submitted;			/* atomic: on cpu.c's submitted list */
	struct lkd_task_host *submit_next;

	/* Host-backed tasks are listed for the process API. */
	struct list_head node;
	int pid, tgid;
	bool leader;

	/* Signals raised for the task and not yet taken by the host. */
	unsigned long long signals;

	/*
	 * An asynchronous call (lkd_task_submit): call_async marks the
	 * handed-over call as one whose completion runs async_done instead
	 * of posting sem. async_inflight (atomic, LKD_ASYNC_*) is set from
	 * submission until async_done has returned; a host thread that needs
	 * the task meanwhile (lkd_run_as, a second submission) waits for it
	 * on sem.
	 */
	bool call_async;
	int async_inflight;
	lkd_call_done_fn async_done;
	void *async_done_arg;
	struct lkd_syscall_args async_call;

	/*
	 * lkd_task_interrupt: async_calls numbers the asynchronous calls
	 * handed over; interrupt_call (atomic) is the number of the one to
	 * interrupt, taken by the runner from cpu.c's interrupts list
	 * (interrupt_queued, interrupt_next), which then sets `interrupted`
	 * and a notify signal: the call ends with -EINTR (syscalls.c).
	 */
	unsigned long async_calls;
	unsigned long interrupt_call;
	bool interrupt_queued;
	struct lkd_task_host *interrupt_next;
	bool interrupted;
};

#define LKD_ASYNC_IDLE		0
#define LKD_ASYNC_INFLIGHT	1
#define LKD_ASYNC_WAITED	2	/* in flight, and a thread waits on sem */

void lkd_task_host_put(struct lkd_task_host *th);

/* threads.c */
void *lkd_threads_init(void);	/* returns the idle task's first context */
long lkd_run_as(struct lkd_task_host *th, long (*fn)(void *), void *arg);
/* Hands `th` the call fn(&th->async_call) for system call nr(args), whose
 * completion runs done(done_arg, ...); the caller holds th->occupy.
 * Returns 0, or -ESRCH if the task is dead. */
int lkd_run_async(struct lkd_task_host *th, long (*fn)(void *), long nr,
		  const long args[6], lkd_call_done_fn done, void *done_arg);
void lkd_call_done(struct lkd_task_host *th, long ret);
void lkd_work_before_user_mode(struct lkd_task_host *th);
extern int lkd_host_backed_marker(void *);
/* pid 1, host-backed once boot is complete. */
extern struct lkd_task_host *lkd_init_task_host;
/* Dequeue non-fatal signals into th->signals; true if a fatal one is pending. */
bool lkd_collect_signals(struct lkd_task_host *th);
/* The state of a host-backed task in user mode that was switched away
 * from: only a new call (cpu.c) wakes it. */
#define LKD_TASK_AWAY TASK_PARKED

/* irq.c */
void lkd_run_pending_irqs(void);
bool lkd_irq_pending(void);
unsigned long lkd_irqs_taken(void);
void lkd_irq_enable_user(void);
extern bool lkd_halting;

/* cpu.c: the CPU object; its rules are written at the top of cpu.c. */
void lkd_cpu_boot(void *idle_ctx);
void lkd_cpu_submit(struct lkd_task_host *th);
void lkd_cpu_kick(void);
void lkd_cpu_interrupt(struct lkd_task_host *th);
bool lkd_cpu_runs_own_call(struct lkd_task_host *th);
void lkd_user_mode_loop(struct lkd_task_host *th) __attribute__((noreturn));
void lkd_cpu_idle(void);
long lkd_cpu_halt_call(void *unused);
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
int lkd_submit_to(struct lkd_task_host *th, long (*fn)(void *), long nr,
		  const long args[6], lkd_call_done_fn done, void *done_arg);
int lkd_proc_init(void);
void lkd_proc_halt(void);

/* setup.c */
void lkd_boot_complete(void);
extern int lkd_running;	/* 1 between boot completion and halt */

#endif
