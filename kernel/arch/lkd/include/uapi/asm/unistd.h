/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* lkd uses the asm-generic 64-bit system call table (as arm64 and riscv do). */
#define __ARCH_WANT_NEW_STAT
#define __ARCH_WANT_SET_GET_RLIMIT
#define __ARCH_WANT_SYS_CLONE3
#define __ARCH_WANT_RENAMEAT
#include <asm-generic/unistd.h>
