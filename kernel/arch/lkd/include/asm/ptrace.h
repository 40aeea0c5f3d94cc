/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKD_PTRACE_H
#define _ASM_LKD_PTRACE_H

#ifndef __ASSEMBLY__
/*
 * A library kernel has no user register file. The "registers" of a call are
 * its number and arguments, kept for /proc/PID/syscall and tracing.
 */
struct pt_regs {
	long syscall_nr;
	long args[6];
	long ret;
	/* For the registers of an interrupt: the CPU was free when it came,
	 * i.e. the interrupted task was in user mode (kernel/cpu.c). */
	long user;
};

#define user_mode(regs)			((regs)->user != 0)
#define instruction_pointer(regs)	(0)
#define user_stack_pointer(regs)	(0)
#define profile_pc(regs)		instruction_pointer(regs)
#define current_pt_regs()		(&current_thread_info()->regs)
#define arch_has_single_step()		(0)

static inline long regs_return_value(struct pt_regs *regs)
{
	return regs->ret;
}
#endif
#endif
