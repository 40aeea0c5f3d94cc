// SPDX-License-Identifier: GPL-2.0
/*
 * memcpy, memmove and memset for the library kernel.
 *
 * On x86-64 large copies use the string instructions (fast on CPUs with
 * ERMS, which the hosts we run on have); small ones and other hosts use
 * word-sized loops. This file is built with -ffreestanding so the compiler
 * cannot turn these loops back into calls to themselves.
 */
#include <linux/export.h>
#include <linux/string.h>
#include <linux/types.h>

/* Below this size the loop beats the string instruction's start-up cost. */
#define LKD_REP_THRESHOLD 256

static __always_inline void copy_forward(unsigned char *d,
					 const unsigned char *s, size_t n)
{
	while (n >= sizeof(unsigned long)) {
		unsigned long w;

		__builtin_memcpy(&w, s, sizeof(w));	/* unaligned-safe load */
		__builtin_memcpy(d, &w, sizeof(w));
		d += sizeof(w);
		s += sizeof(w);
		n -= sizeof(w);
	}
	while (n--)
		*d++ = *s++;
}

void *memcpy(void *dest, const void *src, size_t n)
{
#ifdef __x86_64__
	if (n >= LKD_REP_THRESHOLD) {
		void *d = dest;

		asm volatile("rep movsb"
			     : "+D"(d), "+S"(src), "+c"(n)
			     : : "memory");
		return dest;
	}
#endif
	copy_forward(dest, src, n);
	return dest;
}
EXPORT_SYMBOL(memcpy);

void *memmove(void *dest, const void *src, size_t n)
{
	unsigned char *d = dest;
	const unsigned char *s = src;

	if (d <= s || d >= s + n)
		return memcpy(dest, src, n);
	/* Overlapping with dest above src: copy backwards. */
	d += n;
	s += n;
	while (n >= sizeof(unsigned long)) {
		unsigned long w;

		d -= sizeof(w);
		s -= sizeof(w);
		n -= sizeof(w);
		__builtin_memcpy(&w, s, sizeof(w));
		__builtin_memcpy(d, &w, sizeof(w));
	}
	while (n--)
		*--d = *--s;
	return dest;
}
EXPORT_SYMBOL(memmove);

void *memset(void *s, int c, size_t n)
{
	unsigned char *p = s;
	unsigned long w = 0x0101010101010101UL * (unsigned char)c;

#ifdef __x86_64__
	if (n >= LKD_REP_THRESHOLD) {
		asm volatile("rep stosb"
			     : "+D"(p), "+c"(n)
			     : "a"(c) : "memory");
		return s;
	}
#endif
	while (n >= sizeof(w)) {
		__builtin_memcpy(p, &w, sizeof(w));
		p += sizeof(w);
		n -= sizeof(w);
	}
	while (n--)
		*p++ = (unsigned char)c;
	return s;
}
EXPORT_SYMBOL(memset);
