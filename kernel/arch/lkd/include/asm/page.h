/* SPDX-License-Identifier: GPL-2.0 */
/*
 * No MMU: kernel "physical" addresses are host virtual addresses inside the
 * one memory block the host gave us at boot (setup.c).
 */
#ifndef _ASM_LKD_PAGE_H
#define _ASM_LKD_PAGE_H

#define ARCH_PFN_OFFSET (memory_start >> PAGE_SHIFT)

#ifndef __ASSEMBLY__
#include <linux/types.h>
#endif
#include <asm-generic/page.h>

#undef PAGE_OFFSET
#define PAGE_OFFSET (memory_start)

#endif
