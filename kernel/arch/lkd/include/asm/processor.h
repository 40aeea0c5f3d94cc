/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_PROCESSOR_H
#define _ASM_LKD_PROCESSOR_H

#ifndef __ASSEMBLY__
struct task_struct;

struct thread_struct { };
#define INIT_THREAD { }

/*
 * Busy-wait loops in the kernel spin on conditions an interrupt may change;
 * with no real interrupt lines, cpu_relax() is where pending host interrupts
 * are delivered (irq.c).
 */
void lkd_cpu_relax(void);
static inline void cpu_relax(void)
{
	lkd_cpu_relax();
}

/* User space is the host process: the whole address space. */
#define TASK_SIZE		(~0UL)
#define TASK_UNMAPPED_BASE	0
#define STACK_TOP		TASK_SIZE
#define STACK_TOP_MAX		TASK_SIZE

#define KSTK_EIP(tsk)	(0)
#define KSTK_ESP(tsk)	(0)

static inline void prepare_to_copy(struct task_struct *tsk) { }
unsigned long __get_wchan(struct task_struct *p);

#define task_pt_regs(tsk)	(&(((struct thread_info *)((tsk)->stack))->regs))

#endif /* __ASSEMBLY__ */
#endif
