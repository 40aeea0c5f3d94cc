/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _UAPI_ASM_LKD_PTRACE_H
#define _UAPI_ASM_LKD_PTRACE_H
/* No user register state in a library kernel (see asm/ptrace.h). */
#endif
