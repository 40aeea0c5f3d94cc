// SPDX-License-Identifier: GPL-2.0
/*
 * Arch hooks that core code requires but that have no meaning for a library
 * kernel: there is no user mode to trace or single-step, and no host stack
 * the kernel could unwind portably.
 */
#include <linux/kernel.h>
#include <linux/ptrace.h>
#include <linux/regset.h>
#include <linux/sched.h>
#include <linux/sched/debug.h>
#include <linux/seq_file.h>
#include <linux/delay.h>

/* ptrace: tasks of this kernel never run user code, so nothing to trace. */
long arch_ptrace(struct task_struct *child, long request, unsigned long addr,
		 unsigned long data)
{
	return -EIO;
}

void ptrace_disable(struct task_struct *child)
{
}

void user_disable_single_step(struct task_struct *child)
{
}

const struct user_regset_view *task_user_regset_view(struct task_struct *task)
{
	return NULL;
}

/* Host stacks are not walkable from here; say so instead of printing junk. */
void show_stack(struct task_struct *task, unsigned long *sp,
		const char *loglvl)
{
	printk("%s(stack trace unavailable in the library kernel)\n", loglvl);
}

/* /proc/cpuinfo: one virtual CPU. */
static int show_cpuinfo(struct seq_file *m, void *v)
{
	seq_printf(m, "processor\t: 0\n");
	seq_printf(m, "model name\t: lkd library kernel\n");
	seq_printf(m, "bogomips\t: %lu.%02lu\n\n",
		   loops_per_jiffy / (500000 / HZ),
		   (loops_per_jiffy / (5000 / HZ)) % 100);
	return 0;
}

static void *c_start(struct seq_file *m, loff_t *pos)
{
	return *pos == 0 ? (void *)1 : NULL;
}

static void *c_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return NULL;
}

static void c_stop(struct seq_file *m, void *v)
{
}

const struct seq_operations cpuinfo_op = {
	.start	= c_start,
	.next	= c_next,
	.stop	= c_stop,
	.show	= show_cpuinfo,
};
