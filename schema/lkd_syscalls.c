/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The served calls and how their arguments cross the channel (see
 * lkd_syscalls.h). Sizes are those of the kernel's generic ABI: struct
 * stat 128 bytes, struct statx 256, struct epoll_event 12 (packed),
 * struct pollfd 8, struct timespec 16, a sockaddr at most 128, the
 * signal mask 8, struct flock 32, struct f_owner_ex 8 (the same as on
 * x86-64 hosts, whose fcntl numbers are the generic ones too; newfstatat
 * writes the generic struct stat too). readv/writev
 * and sendmsg without control messages are flattened by the client (one
 * buffer: read/write/sendto); recvmsg's and sendmsg's struct msghdr cross
 * as struct lkd_channel_msghdr.
 */
#include "schema/lkd_syscalls.h"

#include <linux/fcntl.h>
#include <linux/sockios.h>
#include <asm/ioctls.h>
#include <stdlib.h>

#include "lkd/sysnr.h"

#define V { LKD_ARG_VAL, LKD_SIZE_NONE, 0, 0, 0 }
#define PATH { LKD_ARG_PATH, LKD_SIZE_NONE, 0, 0, 0 }
#define IN_ARG(k) { LKD_ARG_IN, LKD_SIZE_ARG, (k), 0, 0 }
#define OUT_ARG(k) { LKD_ARG_OUT, LKD_SIZE_ARG, (k), 0, 0 }
#define IN_FIXED(n) { LKD_ARG_IN, LKD_SIZE_FIXED, 0, 0, (n) }
#define OUT_FIXED(n) { LKD_ARG_OUT, LKD_SIZE_FIXED, 0, 0, (n) }
#define INOUT_FIXED(n) { LKD_ARG_INOUT, LKD_SIZE_FIXED, 0, 0, (n) }
#define IN_FIXED_OR_NULL(n) { LKD_ARG_IN, LKD_SIZE_FIXED, 0, 1, (n) }
#define INOUT_FIXED_OR_NULL(n) { LKD_ARG_INOUT, LKD_SIZE_FIXED, 0, 1, (n) }
#define OUT_AT_PTR(k) { LKD_ARG_OUT, LKD_SIZE_AT_PTR, (k), 0, 0 }
#define OUT_AT_PTR_OR_NULL(k) { LKD_ARG_OUT, LKD_SIZE_AT_PTR, (k), 1, 0 }
#define INOUT_TIMES(k, n) { LKD_ARG_INOUT, LKD_SIZE_ARG_TIMES, (k), 0, (n) }
#define OUT_TIMES(k, n) { LKD_ARG_OUT, LKD_SIZE_ARG_TIMES, (k), 0, (n) }
#define IN_TIMES_OR_NULL(k, n) { LKD_ARG_IN, LKD_SIZE_ARG_TIMES, (k), 1, (n) }
/* A socket address of argument k's length (at most sockaddr_storage). */
#define SOCKADDR(k) { LKD_ARG_IN, LKD_SIZE_ARG_MAX, (k), 0, 128 }
#define SOCKADDR_OR_NULL(k) { LKD_ARG_IN, LKD_SIZE_ARG_MAX, (k), 1, 128 }
#define MSGHDR { LKD_ARG_MSGHDR, LKD_SIZE_NONE, 0, 0, 0 }
#define MSGHDR_IN { LKD_ARG_MSGHDR_IN, LKD_SIZE_NONE, 0, 0, 0 }

#define CALL(name, ...) { #name, LKD_NR_##name, { __VA_ARGS__ } }

/* Sorted by number (checked by the test). */
const struct lkd_syscall_desc lkd_syscall_table[] = {
	/* Extended attributes (ls -l asks for ACLs, cp -a and tar copy
	 * them); the name is a string like a path. */
	CALL(setxattr, PATH, PATH, IN_ARG(3), V, V),
	CALL(lsetxattr, PATH, PATH, IN_ARG(3), V, V),
	CALL(fsetxattr, V, PATH, IN_ARG(3), V, V),
	CALL(getxattr, PATH, PATH, OUT_ARG(3), V),
	CALL(lgetxattr, PATH, PATH, OUT_ARG(3), V),
	CALL(fgetxattr, V, PATH, OUT_ARG(3), V),
	CALL(listxattr, PATH, OUT_ARG(2), V),
	CALL(llistxattr, PATH, OUT_ARG(2), V),
	CALL(flistxattr, V, OUT_ARG(2), V),
	CALL(removexattr, PATH, PATH),
	CALL(lremovexattr, PATH, PATH),
	CALL(fremovexattr, V, PATH),
	CALL(getcwd, OUT_ARG(1), V),
	CALL(eventfd2, V, V),
	CALL(epoll_create1, V),
	CALL(epoll_ctl, V, V, V, IN_FIXED_OR_NULL(12)),
	CALL(epoll_pwait, V, OUT_TIMES(2, 12), V, V, IN_FIXED_OR_NULL(8), V),
	CALL(dup, V),
	CALL(dup3, V, V, V),
	CALL(fcntl, V, V, V),			/* see lkd_fcntl_commands */
	CALL(ioctl, V, V, V),			/* see lkd_ioctl_commands */
	CALL(flock, V, V),
	CALL(mknodat, V, PATH, V, V),
	CALL(mkdirat, V, PATH, V),
	CALL(unlinkat, V, PATH, V),
	CALL(symlinkat, PATH, V, PATH),
	CALL(linkat, V, PATH, V, PATH, V),
	CALL(renameat, V, PATH, V, PATH),
	/* struct statfs: 120 bytes, x86-64's layout too. */
	CALL(statfs, PATH, OUT_FIXED(120)),
	CALL(fstatfs, V, OUT_FIXED(120)),
	CALL(truncate, PATH, V),
	CALL(ftruncate, V, V),
	CALL(fallocate, V, V, V, V),
	CALL(faccessat, V, PATH, V),
	CALL(chdir, PATH),
	CALL(fchdir, V),
	CALL(fchmod, V, V),
	CALL(fchmodat, V, PATH, V),
	CALL(fchownat, V, PATH, V, V, V),
	CALL(fchown, V, V, V),
	CALL(openat, V, PATH, V, V),
	CALL(close, V),
	CALL(pipe2, OUT_FIXED(8), V),
	CALL(getdents64, V, OUT_ARG(2), V),
	CALL(lseek, V, V, V),
	CALL(read, V, OUT_ARG(2), V),
	CALL(write, V, IN_ARG(2), V),
	CALL(pread64, V, OUT_ARG(2), V, V),
	CALL(pwrite64, V, IN_ARG(2), V, V),
	CALL(ppoll, INOUT_TIMES(1, 8), V, INOUT_FIXED_OR_NULL(16),
	     IN_FIXED_OR_NULL(8), V),
	CALL(readlinkat, V, PATH, OUT_ARG(3), V),
	CALL(newfstatat, V, PATH, OUT_FIXED(128), V),
	CALL(fstat, V, OUT_FIXED(128)),
	CALL(fsync, V),
	CALL(fdatasync, V),
	/* Two struct timespec (16 bytes each, as on x86-64), or NULL: now. */
	CALL(utimensat, V, PATH, IN_FIXED_OR_NULL(32), V),
	/* The calling task's credentials, checked by the kernel; liblkhijack
	 * then has lkd spread them to the process (lkd_proc_commit_cred). */
	CALL(setregid, V, V),
	CALL(setgid, V),
	CALL(setreuid, V, V),
	CALL(setuid, V),
	CALL(setresuid, V, V, V),
	CALL(setresgid, V, V, V),
	CALL(setgroups, V, IN_TIMES_OR_NULL(0, 4)),
	CALL(getpid),
	CALL(getppid),
	CALL(getuid),
	CALL(geteuid),
	CALL(getgid),
	CALL(getegid),
	CALL(gettid),
	CALL(socket, V, V, V),
	CALL(socketpair, V, V, V, OUT_FIXED(8)),
	CALL(bind, V, SOCKADDR(2), V),
	CALL(listen, V, V),
	CALL(connect, V, SOCKADDR(2), V),
	CALL(getsockname, V, OUT_AT_PTR(2), INOUT_FIXED(4)),
	CALL(getpeername, V, OUT_AT_PTR(2), INOUT_FIXED(4)),
	CALL(sendto, V, IN_ARG(2), V, V, SOCKADDR_OR_NULL(5), V),
	CALL(recvfrom, V, OUT_ARG(2), V, V, OUT_AT_PTR_OR_NULL(5),
	     INOUT_FIXED_OR_NULL(4)),
	CALL(setsockopt, V, V, V, IN_ARG(4), V),
	CALL(getsockopt, V, V, V, OUT_AT_PTR(4), INOUT_FIXED(4)),
	CALL(shutdown, V, V),
	CALL(sendmsg, V, MSGHDR_IN, V),
	CALL(recvmsg, V, MSGHDR, V),
	CALL(fadvise64, V, V, V, V),
	CALL(accept4, V, OUT_AT_PTR_OR_NULL(2), INOUT_FIXED_OR_NULL(4), V),
	CALL(renameat2, V, PATH, V, PATH, V),
	/* The offsets (loff_t *) are read and written by the kernel, or NULL:
	 * the files' positions. */
	CALL(copy_file_range, V, INOUT_FIXED_OR_NULL(8), V, INOUT_FIXED_OR_NULL(8), V, V),
	CALL(statx, V, PATH, V, V, OUT_FIXED(256)),
	CALL(faccessat2, V, PATH, V, V),
};

const unsigned lkd_syscall_table_size =
	sizeof(lkd_syscall_table) / sizeof(lkd_syscall_table[0]);

#define FCNTL(cmd, arg) { (cmd), { "fcntl " #cmd, LKD_NR_fcntl, { V, V, arg } } }

const struct lkd_command_desc lkd_fcntl_commands[] = {
	FCNTL(F_DUPFD, V),
	FCNTL(F_GETFD, V),
	FCNTL(F_SETFD, V),
	FCNTL(F_GETFL, V),
	FCNTL(F_SETFL, V),
	FCNTL(F_GETLK, INOUT_FIXED(32)),
	FCNTL(F_SETLK, IN_FIXED(32)),
	FCNTL(F_SETLKW, IN_FIXED(32)),
	FCNTL(F_SETOWN, V),
	FCNTL(F_GETOWN, V),
	FCNTL(F_SETSIG, V),
	FCNTL(F_GETSIG, V),
	FCNTL(F_SETOWN_EX, IN_FIXED(8)),
	FCNTL(F_GETOWN_EX, OUT_FIXED(8)),
	FCNTL(F_OFD_GETLK, INOUT_FIXED(32)),
	FCNTL(F_OFD_SETLK, IN_FIXED(32)),
	FCNTL(F_OFD_SETLKW, IN_FIXED(32)),
	FCNTL(F_DUPFD_CLOEXEC, V),
	FCNTL(F_SETPIPE_SZ, V),
	FCNTL(F_GETPIPE_SZ, V),
};

const unsigned lkd_fcntl_commands_size =
	sizeof(lkd_fcntl_commands) / sizeof(lkd_fcntl_commands[0]);

#define IOCTL(cmd, arg) { (cmd), { "ioctl " #cmd, LKD_NR_ioctl, { V, V, arg } } }
#define IFCONF { LKD_ARG_IFCONF, LKD_SIZE_NONE, 0, 0, 0 }
/* struct ifreq: a link's name and one union member, 40 bytes on 64-bit. */
#define IFREQ INOUT_FIXED(40)

const struct lkd_command_desc lkd_ioctl_commands[] = {
	IOCTL(FIONREAD, INOUT_FIXED(4)),
	IOCTL(FIONBIO, INOUT_FIXED(4)),
	/* One link by name or index: what ifconfig-era programs and libraries
	 * ask. */
	IOCTL(SIOCGIFNAME, IFREQ),
	IOCTL(SIOCGIFINDEX, IFREQ),
	IOCTL(SIOCGIFFLAGS, IFREQ),
	IOCTL(SIOCSIFFLAGS, IFREQ),
	IOCTL(SIOCGIFADDR, IFREQ),
	IOCTL(SIOCSIFADDR, IFREQ),
	IOCTL(SIOCGIFNETMASK, IFREQ),
	IOCTL(SIOCSIFNETMASK, IFREQ),
	IOCTL(SIOCGIFBRDADDR, IFREQ),
	IOCTL(SIOCSIFBRDADDR, IFREQ),
	IOCTL(SIOCGIFMTU, IFREQ),
	IOCTL(SIOCSIFMTU, IFREQ),
	IOCTL(SIOCGIFHWADDR, IFREQ),
	IOCTL(SIOCGIFTXQLEN, IFREQ),
	/* Every link with an IPv4 address: struct ifconf, whose buffer the
	 * kernel fills, crosses as struct lkd_channel_ifconf. */
	IOCTL(SIOCGIFCONF, IFCONF),
};

const unsigned lkd_ioctl_commands_size =
	sizeof(lkd_ioctl_commands) / sizeof(lkd_ioctl_commands[0]);

static int compare_nr(const void *key, const void *entry)
{
	int nr = *(const int *)key;
	const struct lkd_syscall_desc *desc = entry;

	return nr < desc->nr ? -1 : nr > desc->nr;
}

const struct lkd_syscall_desc *lkd_syscall_lookup(int nr)
{
	return bsearch(&nr, lkd_syscall_table, lkd_syscall_table_size,
		       sizeof(lkd_syscall_table[0]), compare_nr);
}

static const struct lkd_syscall_desc *
find_command(const struct lkd_command_desc *table, unsigned size, uint64_t cmd)
{
	unsigned i;

	for (i = 0; i < size; i++)
		if (table[i].cmd == cmd)
			return &table[i].call;
	return NULL;
}

const struct lkd_syscall_desc *lkd_syscall_describe(int nr, uint64_t arg1)
{
	if (nr == LKD_NR_fcntl)
		return find_command(lkd_fcntl_commands, lkd_fcntl_commands_size, arg1);
	if (nr == LKD_NR_ioctl)
		return find_command(lkd_ioctl_commands, lkd_ioctl_commands_size, arg1);
	return lkd_syscall_lookup(nr);
}
