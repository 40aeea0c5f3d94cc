/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_MMU_CONTEXT_H
#define _ASM_LKD_MMU_CONTEXT_H
/*
 * Runs after every context switch, with the runqueue unlocked: the idle host
 * task goes back on the runqueue here once someone switched away from it
 * (kernel/cpu.c).
 */
void lkd_after_switch(void);
#define finish_arch_post_lock_switch lkd_after_switch

#include <asm-generic/nommu_context.h>
#endif
