/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _UAPI_ASM_LKD_SIGCONTEXT_H
#define _UAPI_ASM_LKD_SIGCONTEXT_H
/* lkd delivers no signal frames; the structure exists for the ABI only. */
struct sigcontext {
	unsigned long sc_reserved;
};
#endif
