/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Credentials: the set*id family changes the program's kernel process in
 * lkd as well as the host process, so that a server that drops root
 * (nginx's `user nobody;`) is unprivileged in lkd's kernel too (no port
 * below 1024, no route changes).
 *
 * The host call comes first, through libc (glibc applies it to every host
 * thread), and keeps its result and errno. If it succeeded, the same
 * system call runs on the calling thread's kernel task, so lkd's kernel
 * makes its own permission checks (a process that is not root there
 * cannot become root); then lkd gives every task of the kernel process
 * those credentials (lk_commit_cred, lkd_proc_commit_cred), as glibc does
 * for the host's threads. Forks (lk_fork) copy the process's credentials.
 *
 * Host and kernel can disagree: a host process with CAP_SETUID that lkd
 * attached without capabilities (its uid is not 0) may change uid on the
 * host and not in lkd. The call then fails with the kernel's errno, though
 * the host's credentials changed: a program that checks the result, as
 * one dropping privileges must, stops rather than run on with more power
 * in lkd than it asked for, and the host change cannot always be undone
 * (root that dropped cannot come back).
 *
 * getuid() and friends stay on the host: both sides agree after a change.
 * initgroups() is hooked too, as glibc's calls setgroups() internally;
 * the kernel gets the host's resulting list (getgroups). Not hooked:
 * setfsuid/setfsgid, and calls made with syscall(2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "lkd/sysnr.h"
#include "rumpclient/hijack.h"
#include "rumpclient/lkclient.h"

/* After the host call succeeded: the same call on this thread's kernel
 * task, then the whole kernel process follows. 0, or -1 with the kernel's
 * errno (see the file's comment). */
static int in_kernel(long nr, long a0, long a1, long a2)
{
	if (!program_attached()) return 0;
	if (lk_syscall(nr, a0, a1, a2, 0, 0, 0) < 0) return -1;
	/* lkd is asked on a connection of the library's own, made here. */
	t_in_lib++;
	int r = lk_commit_cred();
	int err = errno;
	t_in_lib--;
	errno = err;
	return r;
}

#define ID(x) ((long)(unsigned int)(x))

EXPORT int setuid(uid_t uid)
{
	static void *fn;
	int (*host)(uid_t) = (int (*)(uid_t))libc_fn(&fn, "setuid");
	if (host(uid) < 0) return -1;
	return in_kernel(LKD_NR_setuid, ID(uid), 0, 0);
}

EXPORT int setgid(gid_t gid)
{
	static void *fn;
	int (*host)(gid_t) = (int (*)(gid_t))libc_fn(&fn, "setgid");
	if (host(gid) < 0) return -1;
	return in_kernel(LKD_NR_setgid, ID(gid), 0, 0);
}

EXPORT int setreuid(uid_t ruid, uid_t euid)
{
	static void *fn;
	int (*host)(uid_t, uid_t) = (int (*)(uid_t, uid_t))libc_fn(&fn, "setreuid");
	if (host(ruid, euid) < 0) return -1;
	return in_kernel(LKD_NR_setreuid, ID(ruid), ID(euid), 0);
}

EXPORT int setregid(gid_t rgid, gid_t egid)
{
	static void *fn;
	int (*host)(gid_t, gid_t) = (int (*)(gid_t, gid_t))libc_fn(&fn, "setregid");
	if (host(rgid, egid) < 0) return -1;
	return in_kernel(LKD_NR_setregid, ID(rgid), ID(egid), 0);
}

EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
	static void *fn;
	int (*host)(uid_t, uid_t, uid_t) = (int (*)(uid_t, uid_t, uid_t))libc_fn(&fn, "setresuid");
	if (host(ruid, euid, suid) < 0) return -1;
	return in_kernel(LKD_NR_setresuid, ID(ruid), ID(euid), ID(suid));
}

EXPORT int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
{
	static void *fn;
	int (*host)(gid_t, gid_t, gid_t) = (int (*)(gid_t, gid_t, gid_t))libc_fn(&fn, "setresgid");
	if (host(rgid, egid, sgid) < 0) return -1;
	return in_kernel(LKD_NR_setresgid, ID(rgid), ID(egid), ID(sgid));
}

/* glibc's seteuid/setegid are setresuid/setresgid leaving the others. */
EXPORT int seteuid(uid_t euid)
{
	static void *fn;
	int (*host)(uid_t) = (int (*)(uid_t))libc_fn(&fn, "seteuid");
	if (host(euid) < 0) return -1;
	return in_kernel(LKD_NR_setresuid, -1, ID(euid), -1);
}

EXPORT int setegid(gid_t egid)
{
	static void *fn;
	int (*host)(gid_t) = (int (*)(gid_t))libc_fn(&fn, "setegid");
	if (host(egid) < 0) return -1;
	return in_kernel(LKD_NR_setresgid, -1, ID(egid), -1);
}

EXPORT int setgroups(size_t n, const gid_t *list)
{
	static void *fn;
	int (*host)(size_t, const gid_t *) =
		(int (*)(size_t, const gid_t *))libc_fn(&fn, "setgroups");
	if (host(n, list) < 0) return -1;
	return in_kernel(LKD_NR_setgroups, (long)n, (long)list, 0);
}

EXPORT int initgroups(const char *user, gid_t group)
{
	static void *fn;
	int (*host)(const char *, gid_t) = (int (*)(const char *, gid_t))libc_fn(&fn, "initgroups");
	if (host(user, group) < 0) return -1;
	int n = getgroups(0, NULL);
	if (n < 0) return -1;
	gid_t *list = malloc(((size_t)n + 1) * sizeof(*list));
	if (list == NULL) {
		errno = ENOMEM;
		return -1;
	}
	n = getgroups(n, list);
	int r = n < 0 ? -1 : in_kernel(LKD_NR_setgroups, n, (long)list, 0);
	int err = errno;
	free(list);
	errno = err;
	return r;
}
