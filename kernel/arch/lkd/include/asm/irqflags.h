/* SPDX-License-Identifier: GPL-2.0 */
/*
 * "Interrupts disabled" is a flag of the one virtual CPU. Enabling
 * interrupts delivers those host threads raised meanwhile (irq.c).
 */
#ifndef _ASM_LKD_IRQFLAGS_H
#define _ASM_LKD_IRQFLAGS_H

#define ARCH_IRQ_DISABLED	0
#define ARCH_IRQ_ENABLED	1

unsigned long arch_local_save_flags(void);
void arch_local_irq_restore(unsigned long flags);

#define arch_local_save_flags arch_local_save_flags
#define arch_local_irq_restore arch_local_irq_restore

#include <asm-generic/irqflags.h>

#endif
