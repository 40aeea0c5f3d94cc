// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupts and the idle loop.
 *
 * Host threads (the timer thread, device backends) raise an interrupt by
 * setting its bit in irq_pending. If the CPU is free, the raiser takes it
 * and runs the handler itself (cpu.c, rule 2); otherwise the runner runs it
 * where a real CPU would take it: when interrupts are re-enabled, in
 * cpu_relax() loops, or at the next user-mode point.
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
static struct pt_regs irq_regs;
static unsigned long irqs_taken;	/* batches of handlers run */
bool lkd_halting;

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
		irqs_taken++;
	}
}

unsigned long lkd_irqs_taken(void)
{
	return irqs_taken;
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

bool lkd_irq_pending(void)
{
	return __atomic_load_n(&irq_pending, __ATOMIC_SEQ_CST) != 0;
}

/*
 * At a user-mode point of the runner (cpu.c, rule 3): interrupts are on,
 * and those taken now interrupted user mode (the tick then accounts user
 * time and reports an RCU quiescent state, as on a real CPU).
 */
void lkd_irq_enable_user(void)
{
	irq_regs.user = 1;
	irq_flags = ARCH_IRQ_ENABLED;
	if (__atomic_load_n(&irq_pending, __ATOMIC_ACQUIRE))
		lkd_run_pending_irqs();
	irq_regs.user = 0;
}

void lkd_irq_raise(int irq)
{
	if (irq < 0 || irq >= NR_IRQS)
		return;
	__atomic_fetch_or(&irq_pending, 1UL << irq, __ATOMIC_SEQ_CST);
	lkd_cpu_kick();
}

/*
 * Called by the idle task with interrupts disabled; returns with them
 * enabled. The idling itself is the CPU's business (cpu.c, rules 6 and 8):
 * an idle kernel costs no host CPU.
 */
void arch_cpu_idle(void)
{
	raw_local_irq_enable();
	lkd_cpu_idle();
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

void __init init_IRQ(void)
{
	int irq;

	for (irq = 0; irq < NR_IRQS; irq++)
		irq_set_chip_and_handler(irq, &lkd_irq_chip, handle_simple_irq);
}
