// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupts and the idle loop.
 *
 * Host threads (the timer thread, device backends, threads entering a task)
 * raise an interrupt by setting its bit in irq_pending. Handlers always run
 * on the host thread that holds the CPU, at the points where a real CPU
 * would take them: when interrupts are re-enabled, in cpu_relax() loops,
 * and in the idle loop. If the CPU is idle, the raiser wakes the idle
 * thread; a raiser never runs kernel code itself.
 */
#include <linux/hardirq.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/irqchip.h>
#include <linux/sched.h>
#include <asm/irq_regs.h>
#include <lkd/kernel.h>

#include "internal.h"

static unsigned long irq_flags = ARCH_IRQ_DISABLED;
static unsigned long irq_pending;	/* atomic bit mask of raised IRQs */
static int idle_waiting;		/* atomic: idle thread asleep */
static struct lkd_host_sem *idle_sem;
static struct pt_regs irq_regs;
bool lkd_halting;
void *lkd_idle_jb;

void lkd_irq_init_host(void)
{
	idle_sem = lkd_host->sem_alloc(0);
	if (!idle_sem)
		lkd_host->panic("lkd: no host semaphore for the idle loop");
}

unsigned long arch_local_save_flags(void)
{
	return irq_flags;
}

void arch_local_irq_restore(unsigned long flags)
{
	irq_flags = flags;
	if (flags == ARCH_IRQ_ENABLED &&
	    __atomic_load_n(&irq_pending, __ATOMIC_ACQUIRE))
		lkd_run_pending_irqs();
}

void lkd_run_pending_irqs(void)
{
	struct pt_regs *old_regs;
	unsigned long pending;
	int irq;

	/* Handlers run with interrupts off; nested raises wait for the
	 * next enable, as on a real CPU. */
	if (irq_flags == ARCH_IRQ_DISABLED || in_hardirq())
		return;
	while ((pending = __atomic_exchange_n(&irq_pending, 0,
					      __ATOMIC_ACQ_REL))) {
		irq_flags = ARCH_IRQ_DISABLED;
		old_regs = set_irq_regs(&irq_regs);
		irq_enter();
		while (pending) {
			irq = __builtin_ctzl(pending);
			pending &= pending - 1;
			generic_handle_irq(irq);
		}
		irq_exit();
		set_irq_regs(old_regs);
		irq_flags = ARCH_IRQ_ENABLED;
	}
}

void lkd_cpu_relax(void)
{
	if (irq_flags == ARCH_IRQ_ENABLED &&
	    __atomic_load_n(&irq_pending, __ATOMIC_ACQUIRE))
		lkd_run_pending_irqs();
#ifdef __x86_64__
	__builtin_ia32_pause();
#endif
}

void lkd_idle_wakeup(void)
{
	if (__atomic_exchange_n(&idle_waiting, 0, __ATOMIC_ACQ_REL))
		lkd_host->sem_up(idle_sem);
}

void lkd_irq_raise(int irq)
{
	if (irq < 0 || irq >= NR_IRQS)
		return;
	__atomic_fetch_or(&irq_pending, 1UL << irq, __ATOMIC_SEQ_CST);
	lkd_idle_wakeup();
}

/*
 * Called by the idle task with interrupts disabled; returns with them
 * enabled. Sleeps on the host until an interrupt is raised: an idle kernel
 * costs no host CPU.
 */
void arch_cpu_idle(void)
{
	if (lkd_halting)
		__builtin_longjmp((void **)lkd_idle_jb, 1);

	__atomic_store_n(&idle_waiting, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&irq_pending, __ATOMIC_SEQ_CST) || lkd_halting) {
		/* Raced with a raise: cancel the sleep, unless the raiser
		 * already took the flag (then its sem_up is on its way). */
		if (!__atomic_exchange_n(&idle_waiting, 0, __ATOMIC_ACQ_REL))
			lkd_host->sem_down(idle_sem);
	} else {
		lkd_host->sem_down(idle_sem);
	}
	if (lkd_halting)
		__builtin_longjmp((void **)lkd_idle_jb, 1);
	raw_local_irq_enable();
}

/* ---------------------------------------------------------------------
 * IRQ descriptors: a trivial chip, one line per source
 * --------------------------------------------------------------------- */

static void lkd_irq_noop(struct irq_data *data)
{
}

static struct irq_chip lkd_irq_chip = {
	.name		= "lkd",
	.irq_mask	= lkd_irq_noop,
	.irq_unmask	= lkd_irq_noop,
};

static irqreturn_t lkd_wake_irq(int irq, void *dev)
{
	lkd_wake_irq_handler();
	return IRQ_HANDLED;
}

void __init init_IRQ(void)
{
	int irq;

	for (irq = 0; irq < NR_IRQS; irq++)
		irq_set_chip_and_handler(irq, &lkd_irq_chip, handle_simple_irq);
	if (request_irq(LKD_WAKE_IRQ, lkd_wake_irq, 0, "lkd-wake", NULL))
		panic("lkd: cannot request the wake-up IRQ");
}
