// SPDX-License-Identifier: GPL-2.0
/*
 * Entropy from the host: the arch RNG hook of drivers/char/random.c.
 *
 * Why the arch hook (asm/archrandom.h) rather than a driver calling
 * add_bootloader_randomness() or add_hwgenerator_randomness():
 *  - Boot. random_init_early(), early in start_kernel() and before any
 *    initcall, mixes BLAKE2s-block worth (64 bytes) of arch output into
 *    the input pool and, with CONFIG_RANDOM_TRUST_CPU (lkd.config),
 *    credits it. That is 512 bits, more than the 256 the pool needs, so
 *    the CRNG is ready (rng_is_initialized()) before the network stack
 *    draws its secrets (the siphash keys behind TCP initial sequence
 *    numbers, SYN cookies and ephemeral port offsets). A bootloader seed
 *    could only arrive later, from setup_arch(), for the same result.
 *  - Afterwards. Every CRNG reseed (extract_entropy(): once a minute,
 *    sooner in early boot) mixes 32 more bytes from this hook into the
 *    new key. So the host keeps feeding the kernel on demand without a
 *    kernel thread that polls it, as a hw_random driver would need.
 * "random.trust_cpu=off" on the command line keeps the mixing but stops
 * the credit: the CRNG then waits for jitter entropy, as on a machine
 * without a hardware RNG.
 */
#include <linux/kernel.h>
#include <asm/archrandom.h>

#include "internal.h"

size_t lkd_host_random_longs(unsigned long *v, size_t max_longs)
{
	long n;

	/* Before lkd_start() nothing runs; hosts that predate version 3
	 * are refused by lkd_start(), so the entry is always there. */
	if (!lkd_host || !max_longs)
		return 0;
	n = lkd_host->getrandom(v, max_longs * sizeof(*v));
	if (n <= 0)
		return 0;
	/* Only whole longs count; a short tail is left for random.c's
	 * other sources. */
	return min_t(size_t, (size_t)n / sizeof(*v), max_longs);
}
