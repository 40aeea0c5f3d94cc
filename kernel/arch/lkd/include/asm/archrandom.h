/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_ARCHRANDOM_H
#define _ASM_LKD_ARCHRANDOM_H
/*
 * The host's random number generator (the getrandom hostop) takes the
 * place of a CPU's RDSEED: drivers/char/random.c calls this hook at boot
 * and on every reseed of its CRNG (kernel/random.c says why that is
 * enough).
 */
#include <linux/types.h>

size_t lkd_host_random_longs(unsigned long *v, size_t max_longs);

static inline size_t __must_check arch_get_random_seed_longs(unsigned long *v,
							     size_t max_longs)
{
	return lkd_host_random_longs(v, max_longs);
}

/* random.c asks for seed longs first; one host source serves both. */
static inline size_t __must_check arch_get_random_longs(unsigned long *v,
							size_t max_longs)
{
	return 0;
}

#endif
