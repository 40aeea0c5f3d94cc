/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_STRING_H
#define _ASM_LKD_STRING_H
/*
 * The generic lib/string.c versions copy a byte at a time, and every copy
 * to and from "user" memory (CONFIG_UACCESS_MEMCPY) goes through memcpy:
 * arch/lkd/lib/string.c provides word-sized and, on x86-64, string-
 * instruction versions.
 */
#include <linux/types.h>

#define __HAVE_ARCH_MEMCPY
void *memcpy(void *dest, const void *src, size_t n);
#define __HAVE_ARCH_MEMMOVE
void *memmove(void *dest, const void *src, size_t n);
#define __HAVE_ARCH_MEMSET
void *memset(void *s, int c, size_t n);

#endif
