/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Each kernel task is backed by a host thread. The thread_info carries what
 * the context switch needs (kernel/arch/lkd/kernel/threads.c): the host
 * semaphore the task's host thread sleeps on while the task is not running,
 * and where that thread goes when the task dies or leaves the kernel.
 */
#ifndef _ASM_LKD_THREAD_INFO_H
#define _ASM_LKD_THREAD_INFO_H

#define THREAD_SIZE_ORDER	0
#include <linux/const.h>
#define THREAD_SIZE		(_AC(1, UL) << (12 + THREAD_SIZE_ORDER))

#ifndef __ASSEMBLY__
#include <asm/types.h>
#include <asm/processor.h>
#include <asm/ptrace.h>

struct task_struct;
struct lkd_task_host;

struct thread_info {
	struct task_struct	*task;
	unsigned long		flags;
	int			preempt_count;
	/* Host side of the task; owned by the task, see threads.c. */
	struct lkd_task_host	*host;
	/* Set by __switch_to() for the task being switched in. */
	struct task_struct	*prev_sched;
	struct pt_regs		regs;
};

#define INIT_THREAD_INFO(tsk)				\
{							\
	.task		= &tsk,				\
	.flags		= 0,				\
	.preempt_count	= INIT_PREEMPT_COUNT,		\
}

/*
 * Exactly one host thread runs kernel code at a time, so "current" is one
 * global, switched in __switch_to().
 */
extern struct thread_info *lkd_current_ti;
static inline struct thread_info *current_thread_info(void)
{
	return lkd_current_ti;
}

#define __HAVE_ARCH_THREAD_INFO_ALLOCATOR
unsigned long *arch_alloc_thread_stack_node(struct task_struct *tsk, int node);
void arch_free_thread_stack(struct task_struct *tsk);

#endif /* __ASSEMBLY__ */

#define TIF_SYSCALL_TRACE	0
#define TIF_NOTIFY_RESUME	1
#define TIF_SIGPENDING		2
#define TIF_NEED_RESCHED	3
#define TIF_RESTORE_SIGMASK	4
#define TIF_MEMDIE		5
#define TIF_NOTIFY_SIGNAL	6
#define TIF_POLLING_NRFLAG	7

#define _TIF_SYSCALL_TRACE	(1 << TIF_SYSCALL_TRACE)
#define _TIF_NOTIFY_RESUME	(1 << TIF_NOTIFY_RESUME)
#define _TIF_SIGPENDING		(1 << TIF_SIGPENDING)
#define _TIF_NEED_RESCHED	(1 << TIF_NEED_RESCHED)
#define _TIF_NOTIFY_SIGNAL	(1 << TIF_NOTIFY_SIGNAL)
#define _TIF_POLLING_NRFLAG	(1 << TIF_POLLING_NRFLAG)

#endif /* _ASM_LKD_THREAD_INFO_H */
