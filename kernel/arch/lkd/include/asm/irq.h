/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_IRQ_H
#define _ASM_LKD_IRQ_H

/* 0: timer, 1: unused (once the host's wake-ups of tasks), 2..: devices.
 * Device numbers are part of the entry API's contract; they stay. */
#define LKD_TIMER_IRQ	0
#define LKD_FIRST_DEVICE_IRQ 2
#define NR_IRQS		64

#include <asm-generic/irq.h>
#endif
