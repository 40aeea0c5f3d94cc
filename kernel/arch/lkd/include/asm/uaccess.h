/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_UACCESS_H
#define _ASM_LKD_UACCESS_H
/*
 * "User" memory is the calling host thread's own memory, copied with memcpy
 * (CONFIG_UACCESS_MEMCPY). There is no address-space boundary to check, but
 * the null page and ranges that wrap around are rejected so that a NULL or
 * small bogus pointer from a caller returns -EFAULT instead of faulting the
 * host process. Any other bad pointer is the caller's responsibility: the
 * daemon copies client memory into its own buffers before calling in.
 */
#define LKD_NULL_GUARD 4096UL

static inline int __access_ok(const void __user *ptr, unsigned long size)
{
	unsigned long addr = (unsigned long)ptr;

	if (size == 0)
		return 1;
	return addr >= LKD_NULL_GUARD && addr + size > addr;
}
#define __access_ok __access_ok

#include <asm-generic/uaccess.h>
#endif
