/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Atomics. The 32-bit ones are asm-generic's. The 64-bit ones are the
 * compiler's __atomic builtins (fully ordered): asm-generic/atomic64.h
 * cannot be used on a 64-bit arch (its atomic64_t clashes with
 * linux/types.h), and host threads outside the kernel never touch kernel
 * atomics anyway, so plain lock-free builtins are enough.
 */
#ifndef _ASM_LKD_ATOMIC_H
#define _ASM_LKD_ATOMIC_H

#include <asm-generic/atomic.h>

#define ATOMIC64_INIT(i)	{ (i) }

#define arch_atomic64_read(v)		READ_ONCE((v)->counter)
#define arch_atomic64_set(v, i)		WRITE_ONCE((v)->counter, (i))

#define LKD_ATOMIC64_OP(op)						\
static inline void arch_atomic64_##op(s64 i, atomic64_t *v)		\
{									\
	__atomic_fetch_##op(&v->counter, i, __ATOMIC_SEQ_CST);		\
}									\
static inline s64 arch_atomic64_fetch_##op(s64 i, atomic64_t *v)	\
{									\
	return __atomic_fetch_##op(&v->counter, i, __ATOMIC_SEQ_CST);	\
}
LKD_ATOMIC64_OP(add)
LKD_ATOMIC64_OP(sub)
LKD_ATOMIC64_OP(and)
LKD_ATOMIC64_OP(or)
LKD_ATOMIC64_OP(xor)
#undef LKD_ATOMIC64_OP

#define arch_atomic64_add arch_atomic64_add
#define arch_atomic64_sub arch_atomic64_sub
#define arch_atomic64_and arch_atomic64_and
#define arch_atomic64_or arch_atomic64_or
#define arch_atomic64_xor arch_atomic64_xor
#define arch_atomic64_fetch_add arch_atomic64_fetch_add
#define arch_atomic64_fetch_sub arch_atomic64_fetch_sub
#define arch_atomic64_fetch_and arch_atomic64_fetch_and
#define arch_atomic64_fetch_or arch_atomic64_fetch_or
#define arch_atomic64_fetch_xor arch_atomic64_fetch_xor

static inline s64 arch_atomic64_add_return(s64 i, atomic64_t *v)
{
	return __atomic_add_fetch(&v->counter, i, __ATOMIC_SEQ_CST);
}
#define arch_atomic64_add_return arch_atomic64_add_return

static inline s64 arch_atomic64_sub_return(s64 i, atomic64_t *v)
{
	return __atomic_sub_fetch(&v->counter, i, __ATOMIC_SEQ_CST);
}
#define arch_atomic64_sub_return arch_atomic64_sub_return

static inline s64 arch_atomic64_xchg(atomic64_t *v, s64 n)
{
	return __atomic_exchange_n(&v->counter, n, __ATOMIC_SEQ_CST);
}
#define arch_atomic64_xchg arch_atomic64_xchg

static inline s64 arch_atomic64_cmpxchg(atomic64_t *v, s64 o, s64 n)
{
	__atomic_compare_exchange_n(&v->counter, &o, n, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return o;
}
#define arch_atomic64_cmpxchg arch_atomic64_cmpxchg

#endif
