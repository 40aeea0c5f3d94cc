// SPDX-License-Identifier: GPL-2.0
/*
 * Boot and halt of the library kernel.
 *
 * lkd_start() starts a host thread that runs start_kernel() as the init
 * task; that thread becomes the idle task for the kernel's lifetime. The
 * caller waits until pid 1 has finished kernel initialisation: pid 1 does
 * not exec a real program, a tiny binfmt handler (below) accepts the empty
 * /init this file creates, so kernel_init() "returns to user space" and pid
 * 1 stays as the parent of the processes lkd creates.
 */
#include <linux/binfmts.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/memblock.h>
#include <linux/mm.h>
#include <linux/panic_notifier.h>
#include <linux/printk.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/start_kernel.h>
#include <linux/string.h>
#include <linux/syscalls.h>
#include <linux/task_work.h>
#include <linux/delay.h>
#include <asm/sections.h>
#include <lkd/kernel.h>

#include "internal.h"

const struct lkd_hostops *lkd_host;
unsigned long memory_start, memory_end;
void *empty_zero_page;
int lkd_running;

static unsigned long lkd_mem_size = 256UL << 20;
static struct lkd_host_sem *boot_done;
static int boot_state;	/* 0 never started, 1 running, 2 halted */
static char lkd_cmdline[COMMAND_LINE_SIZE];

/* ---------------------------------------------------------------------
 * MMIO windows (virtio-mmio devices of hostops/)
 * --------------------------------------------------------------------- */

struct lkd_mmio_window {
	unsigned long base, size;
	const struct lkd_mmio_ops *ops;
	void *dev;
	int irq;
};
static struct lkd_mmio_window mmio_windows[CONFIG_LKD_MAX_VIRTIO_DEVICES];
static int mmio_window_count;
/*
 * The windows' addresses: reserved here so that they never alias memory
 * the kernel uses, and never dereferenced (lkd_iomem_read/write forward
 * every access to the device). Static, because devices are added before
 * lkd_start() has the hostops to allocate anything.
 */
#define LKD_MMIO_WINDOW_MAX PAGE_SIZE
static char mmio_space[CONFIG_LKD_MAX_VIRTIO_DEVICES][LKD_MMIO_WINDOW_MAX]
	__aligned(PAGE_SIZE);

int lkd_virtio_mmio_add(const struct lkd_mmio_ops *ops, void *dev,
			unsigned long size)
{
	struct lkd_mmio_window *w;

	if (boot_state != 0)
		return -EBUSY;
	if (!ops || !ops->read || !ops->write || !size ||
	    size > LKD_MMIO_WINDOW_MAX)
		return -EINVAL;
	if (mmio_window_count >= CONFIG_LKD_MAX_VIRTIO_DEVICES)
		return -ENOSPC;
	w = &mmio_windows[mmio_window_count];
	w->base = (unsigned long)mmio_space[mmio_window_count];
	w->size = LKD_MMIO_WINDOW_MAX;
	w->ops = ops;
	w->dev = dev;
	w->irq = LKD_FIRST_DEVICE_IRQ + mmio_window_count;
	mmio_window_count++;
	return w->irq;
}

static struct lkd_mmio_window *mmio_find(unsigned long addr)
{
	int i;

	for (i = 0; i < mmio_window_count; i++)
		if (addr - mmio_windows[i].base < mmio_windows[i].size)
			return &mmio_windows[i];
	return NULL;
}

u64 lkd_iomem_read(const volatile void __iomem *addr, int size)
{
	unsigned long a = (unsigned long)addr;
	struct lkd_mmio_window *w = mmio_find(a);

	if (w)
		return w->ops->read(w->dev, a - w->base, size);
	switch (size) {
	case 1: return *(const volatile u8 *)addr;
	case 2: return *(const volatile u16 *)addr;
	case 4: return *(const volatile u32 *)addr;
	default: return *(const volatile u64 *)addr;
	}
}

void lkd_iomem_write(volatile void __iomem *addr, u64 value, int size)
{
	unsigned long a = (unsigned long)addr;
	struct lkd_mmio_window *w = mmio_find(a);

	if (w) {
		w->ops->write(w->dev, a - w->base, value, size);
		return;
	}
	switch (size) {
	case 1: *(volatile u8 *)addr = value; break;
	case 2: *(volatile u16 *)addr = value; break;
	case 4: *(volatile u32 *)addr = value; break;
	default: *(volatile u64 *)addr = value; break;
	}
}

/* ---------------------------------------------------------------------
 * Architecture hooks called by generic code at boot
 * --------------------------------------------------------------------- */

void __init setup_arch(char **cmdline_p)
{
	unsigned long max_zone_pfn[MAX_NR_ZONES] = { 0 };
	void *mem;

	*cmdline_p = boot_command_line;
	/* Early so that loglevel=/quiet apply before the console replays the
	 * log buffer (start_kernel's own call is then a no-op). */
	parse_early_param();
	lkd_console_init();

	mem = lkd_host->mem_alloc(lkd_mem_size, 2UL << 20);
	if (!mem)
		panic("lkd: cannot allocate %lu bytes of kernel memory",
		      lkd_mem_size);
	memory_start = (unsigned long)mem;
	memory_end = memory_start + lkd_mem_size;
	memblock_add(memory_start, lkd_mem_size);

	min_low_pfn = PFN_UP(memory_start);
	max_low_pfn = max_pfn = PFN_DOWN(memory_end);
	high_memory = (void *)memory_end;

	empty_zero_page = memblock_alloc(PAGE_SIZE, PAGE_SIZE);
	if (!empty_zero_page)
		panic("lkd: no zero page");

	max_zone_pfn[ZONE_NORMAL] = max_pfn;
	free_area_init(max_zone_pfn);

	/* No delay-loop calibration: delays read the host clock. */
	preset_lpj = 1000000;
}

void __init mem_init(void)
{
	memblock_free_all();
}

void free_initmem(void)
{
	/* Init sections are part of the host program image; keep them. */
}

void machine_restart(char *cmd)
{
	lkd_host->panic("lkd: kernel restart requested");
}

void machine_halt(void)
{
	lkd_host->panic("lkd: kernel halt requested");
}

void machine_power_off(void)
{
	lkd_host->panic("lkd: kernel power-off requested");
}

void show_regs(struct pt_regs *regs)
{
	if (regs)
		pr_info("syscall %ld (%lx, %lx, %lx, ...)\n", regs->syscall_nr,
			regs->args[0], regs->args[1], regs->args[2]);
}

static int lkd_panic_notify(struct notifier_block *nb, unsigned long event,
			    void *msg)
{
	lkd_host->panic(msg ? (const char *)msg : "kernel panic");
	return NOTIFY_DONE;
}

static struct notifier_block lkd_panic_nb = {
	.notifier_call = lkd_panic_notify,
	.priority = INT_MIN,	/* after everyone else has reported */
};

static int __init lkd_panic_hook(void)
{
	atomic_notifier_chain_register(&panic_notifier_list, &lkd_panic_nb);
	return 0;
}
early_initcall(lkd_panic_hook);

/* ---------------------------------------------------------------------
 * pid 1 without a program: the /init binfmt
 * --------------------------------------------------------------------- */

static int lkd_init_load_binary(struct linux_binprm *bprm)
{
	int ret;

	/* Only the empty /init written below; nothing else is executable. */
	if (strcmp(bprm->filename, "/init") != 0 || current->pid != 1)
		return -ENOEXEC;
	ret = begin_new_exec(bprm);
	if (ret)
		return ret;
	setup_new_exec(bprm);
	return 0;
}

static struct linux_binfmt lkd_init_format = {
	.load_binary = lkd_init_load_binary,
};

static int __init lkd_init_binfmt(void)
{
	struct file *f;

	register_binfmt(&lkd_init_format);
	f = filp_open("/init", O_CREAT | O_WRONLY | O_TRUNC, 0700);
	if (IS_ERR(f))
		panic("lkd: cannot create /init: %ld", PTR_ERR(f));
	fput(f);
	/*
	 * pid 1 (a user-mode thread, not PF_KTHREAD) got the final release
	 * queued as task work for its return to user mode, which never comes
	 * here; run it now or exec sees the file still open for writing
	 * (-ETXTBSY).
	 */
	task_work_run();
	return 0;
}
late_initcall(lkd_init_binfmt);

/* ---------------------------------------------------------------------
 * Entry points
 * --------------------------------------------------------------------- */

/* Runs on the boot host thread: the first runner of the kernel (cpu.c),
 * until the kernel first goes idle; then the thread ends. */
static void __ref lkd_boot_thread(void *unused)
{
	lkd_cpu_boot(lkd_threads_init());
}

/* Called by pid 1 once it is in "user space": the kernel is up. */
void lkd_boot_complete(void)
{
	lkd_host->sem_up(boot_done);
}

static unsigned long parse_size(const char *s)
{
	unsigned long v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	switch (*s) {
	case 'G': case 'g': v <<= 10; fallthrough;
	case 'M': case 'm': v <<= 10; fallthrough;
	case 'K': case 'k': v <<= 10;
	}
	return v;
}

/* Append " text" to the command line; false if it does not fit. */
static bool cmdline_append(const char *text)
{
	size_t len = strlen(lkd_cmdline), add = strlen(text);

	if (len + add + 2 > sizeof(lkd_cmdline))
		return false;
	if (len)
		lkd_cmdline[len++] = ' ';
	memcpy(lkd_cmdline + len, text, add + 1);
	return true;
}

int __ref lkd_start(const struct lkd_hostops *ops, const char *cmdline)
{
	const char *mem;
	char dev[96];
	int i, ret;

	if (!ops || ops->version != LKD_HOSTOPS_VERSION)
		return -EINVAL;
	if (boot_state != 0)
		return -EALREADY;
	lkd_host = ops;
	lkd_time_start();

	lkd_cmdline[0] = 0;
	if (cmdline && !cmdline_append(cmdline))
		return -E2BIG;
	for (i = 0; i < mmio_window_count; i++) {
		snprintf(dev, sizeof(dev), "virtio_mmio.device=%lu@0x%lx:%d",
			 mmio_windows[i].size, mmio_windows[i].base,
			 mmio_windows[i].irq);
		if (!cmdline_append(dev))
			return -E2BIG;
	}
	mem = strstr(lkd_cmdline, "mem=");
	if (mem && (mem == lkd_cmdline || mem[-1] == ' ')) {
		unsigned long size = parse_size(mem + 4);

		if (size < (16UL << 20))
			return -EINVAL;
		lkd_mem_size = size;
	}
	strscpy(boot_command_line, lkd_cmdline, COMMAND_LINE_SIZE);

	boot_done = ops->sem_alloc(0);
	if (!boot_done)
		return -ENOMEM;
	boot_state = 1;
	ret = ops->thread_create(lkd_boot_thread, NULL, 0);
	if (ret)
		return ret;
	ops->sem_down(boot_done);

	ret = lkd_proc_init();
	if (ret)
		return ret;
	lkd_running = 1;
	return 0;
}

int lkd_halt(void)
{
	if (boot_state != 1)
		return -ENODEV;
	if (!lkd_running)
		return -EBUSY;
	/* Kill every process, sync file systems (as pid 1). */
	lkd_proc_halt();
	lkd_running = 0;
	boot_state = 2;

	/* The CPU stopped with the last call of lkd_proc_halt(); now the
	 * clock. Kernel threads stay where they were; the host process is
	 * expected to exit. */
	lkd_time_halt();
	return 0;
}
