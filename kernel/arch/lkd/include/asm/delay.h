/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_DELAY_H
#define _ASM_LKD_DELAY_H
/* Busy waits read the host clock (time.c). */
void lkd_ndelay(unsigned long nsecs);
#define ndelay(n)	lkd_ndelay(n)
#define udelay(n)	lkd_ndelay((n) * 1000UL)
/* init/calibrate.c spins with __delay(loops); one loop is one ns here. */
#define __delay(loops)	lkd_ndelay(loops)
#define mdelay(n)	lkd_ndelay((n) * 1000000UL)
#endif
