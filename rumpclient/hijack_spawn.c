/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * posix_spawn, system and popen.
 *
 * glibc's posix_spawn clones and execs with internal calls, and system
 * and popen use its internal posix_spawn: none reaches this library. Their
 * children then started a kernel process of their own, without the
 * parent's kernel fds or working directory in lkd, and a child given an
 * environment without LD_PRELOAD ran on the host's stack. Here they are
 * made of the hooked fork and exec family instead, so the child is the
 * parent's kernel process forked and keeps it across the exec, as a
 * fork-then-exec program's child does.
 *
 * A spawn's file actions are kept on the side as the program adds them
 * (the add functions are hooked; glibc's object is still built, and used
 * when the library hands a spawn to libc), and replayed in the child with
 * the hooked calls. Attributes are read through their public getters.
 * The child reports a failed action or exec through a close-on-exec pipe,
 * so posix_spawn returns its error as glibc's does.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE  /* we define the functions it would wrap */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rumpclient/hijack.h"

extern char **environ;

/* ---- file actions, kept on the side --------------------------------- */

enum action_kind { ACT_CLOSE, ACT_DUP2, ACT_OPEN, ACT_CHDIR, ACT_FCHDIR, ACT_CLOSEFROM,
		   ACT_TCSETPGRP };

struct action {
	enum action_kind kind;
	int fd, newfd, oflag;
	mode_t mode;
	char *path;
};

/* One program's posix_spawn_file_actions_t, by address. */
struct actions {
	const posix_spawn_file_actions_t *key;
	struct action *list;
	size_t n, cap;
	struct actions *next;
};

static struct actions *g_actions;
static pthread_mutex_t g_actions_lock = PTHREAD_MUTEX_INITIALIZER;

/* Under g_actions_lock. */
static struct actions *actions_of(const posix_spawn_file_actions_t *fa, int make)
{
	for (struct actions *a = g_actions; a; a = a->next)
		if (a->key == fa) return a;
	if (!make) return NULL;
	struct actions *a = calloc(1, sizeof(*a));
	if (a == NULL) return NULL;
	a->key = fa;
	a->next = g_actions;
	g_actions = a;
	return a;
}

static void forget_actions(const posix_spawn_file_actions_t *fa)
{
	pthread_mutex_lock(&g_actions_lock);
	for (struct actions **p = &g_actions; *p; p = &(*p)->next) {
		if ((*p)->key != fa) continue;
		struct actions *a = *p;
		*p = a->next;
		for (size_t i = 0; i < a->n; i++) free(a->list[i].path);
		free(a->list);
		free(a);
		break;
	}
	pthread_mutex_unlock(&g_actions_lock);
}

/* Records `act` for `fa` after libc accepted it (rc 0); a record we cannot
 * make leaves the spawn to libc (marked broken by an action count of
 * SIZE_MAX). */
static int record(const posix_spawn_file_actions_t *fa, int rc, struct action act)
{
	if (rc != 0) {
		free(act.path);
		return rc;
	}
	pthread_mutex_lock(&g_actions_lock);
	struct actions *a = actions_of(fa, 1);
	if (a && a->n != SIZE_MAX && a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct action *l = realloc(a->list, cap * sizeof(*l));
		if (l) {
			a->list = l;
			a->cap = cap;
		}
	}
	if (a && a->n != SIZE_MAX && a->n < a->cap) {
		a->list[a->n++] = act;
	} else {
		if (a) a->n = SIZE_MAX;
		free(act.path);
	}
	pthread_mutex_unlock(&g_actions_lock);
	return 0;
}

EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	LIBC(posix_spawn_file_actions_init);
	forget_actions(fa);  /* an object reused without destroy */
	return host(fa);
}
EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	LIBC(posix_spawn_file_actions_destroy);
	forget_actions(fa);
	return host(fa);
}
EXPORT int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	LIBC(posix_spawn_file_actions_addclose);
	return record(fa, host(fa, fd), (struct action){.kind = ACT_CLOSE, .fd = fd});
}
EXPORT int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	LIBC(posix_spawn_file_actions_adddup2);
	return record(fa, host(fa, fd, newfd),
		      (struct action){.kind = ACT_DUP2, .fd = fd, .newfd = newfd});
}
EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd,
					    const char *path, int oflag, mode_t mode)
{
	LIBC(posix_spawn_file_actions_addopen);
	int rc = host(fa, fd, path, oflag, mode);
	return record(fa, rc, (struct action){.kind = ACT_OPEN, .fd = fd, .oflag = oflag,
					      .mode = mode, .path = rc ? NULL : strdup(path)});
}
EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path)
{
	LIBC(posix_spawn_file_actions_addchdir_np);
	int rc = host(fa, path);
	return record(fa, rc, (struct action){.kind = ACT_CHDIR, .path = rc ? NULL : strdup(path)});
}
EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	LIBC(posix_spawn_file_actions_addfchdir_np);
	return record(fa, host(fa, fd), (struct action){.kind = ACT_FCHDIR, .fd = fd});
}
EXPORT int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	LIBC(posix_spawn_file_actions_addclosefrom_np);
	return record(fa, host(fa, from), (struct action){.kind = ACT_CLOSEFROM, .fd = from});
}
EXPORT int posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa, int fd)
{
	LIBC(posix_spawn_file_actions_addtcsetpgrp_np);
	return record(fa, host(fa, fd), (struct action){.kind = ACT_TCSETPGRP, .fd = fd});
}

/* A copy of fa's recorded actions (*n of them; *ok 0 if some were not
 * recorded: the spawn then goes to libc). */
static struct action *copy_actions(const posix_spawn_file_actions_t *fa, size_t *n, int *ok)
{
	*n = 0;
	*ok = 1;
	if (fa == NULL) return NULL;
	pthread_mutex_lock(&g_actions_lock);
	struct actions *a = actions_of(fa, 0);
	struct action *copy = NULL;
	if (a && a->n == SIZE_MAX) {
		*ok = 0;
	} else if (a && a->n) {
		copy = malloc(a->n * sizeof(*copy));
		if (copy) {
			memcpy(copy, a->list, a->n * sizeof(*copy));
			*n = a->n;
		} else {
			*ok = 0;
		}
	}
	pthread_mutex_unlock(&g_actions_lock);
	return copy;
}

/* ---- the spawn ------------------------------------------------------ */

/* In a child: `fd` becomes `newfd` for the program it execs; onto itself,
 * the fd stays, without close-on-exec (POSIX's adddup2). 0 or an errno. */
static int dup_for_exec(int fd, int newfd)
{
	if (fd == newfd) {
		int fl = fcntl(fd, F_GETFD);
		if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) return errno;
		return 0;
	}
	return dup2(fd, newfd) < 0 ? errno : 0;
}

/* In a child: `sh -c command`, as system and popen run it. */
static __attribute__((noreturn)) void exec_shell(const char *command)
{
	char *const argv[] = {"sh", "-c", (char *)command, NULL};
	execve("/bin/sh", argv, environ);
	_exit(127);
}

/* In the child: attributes, then actions, each with the hooked calls;
 * 0 or an errno. */
static int child_setup(const posix_spawnattr_t *attr, const struct action *acts, size_t n)
{
	short flags = 0;
	if (attr) posix_spawnattr_getflags(attr, &flags);
	if (flags & POSIX_SPAWN_SETSID) {
		if (setsid() < 0) return errno;
	}
	if (flags & POSIX_SPAWN_SETPGROUP) {
		pid_t pg = 0;
		posix_spawnattr_getpgroup(attr, &pg);
		if (setpgid(0, pg) < 0) return errno;
	}
	if (flags & POSIX_SPAWN_SETSCHEDULER) {
		int policy;
		struct sched_param p;
		posix_spawnattr_getschedpolicy(attr, &policy);
		posix_spawnattr_getschedparam(attr, &p);
		if (sched_setscheduler(0, policy, &p) < 0) return errno;
	} else if (flags & POSIX_SPAWN_SETSCHEDPARAM) {
		struct sched_param p;
		posix_spawnattr_getschedparam(attr, &p);
		if (sched_setparam(0, &p) < 0) return errno;
	}
	if (flags & POSIX_SPAWN_RESETIDS) {
		if (setegid(getgid()) < 0 || seteuid(getuid()) < 0) return errno;
	}
	if (flags & POSIX_SPAWN_SETSIGDEF) {
		sigset_t def;
		posix_spawnattr_getsigdefault(attr, &def);
		for (int sig = 1; sig < _NSIG; sig++)
			if (sigismember(&def, sig) == 1) signal(sig, SIG_DFL);
	}
	for (size_t i = 0; i < n; i++) {
		const struct action *a = &acts[i];
		switch (a->kind) {
		case ACT_CLOSE:
			/* As glibc's: closing an fd that is not open is no error. */
			if (close(a->fd) < 0 && errno != EBADF) return errno;
			break;
		case ACT_DUP2: {
			int err = dup_for_exec(a->fd, a->newfd);
			if (err) return err;
			break;
		}
		case ACT_OPEN: {
			int fd = open(a->path, a->oflag, a->mode);
			if (fd < 0) return errno;
			if (fd != a->fd) {
				if (dup2(fd, a->fd) < 0) return errno;
				close(fd);
			}
			break;
		}
		case ACT_CHDIR:
			if (chdir(a->path) < 0) return errno;
			break;
		case ACT_FCHDIR:
			if (fchdir(a->fd) < 0) return errno;
			break;
		case ACT_CLOSEFROM:
			closefrom(a->fd);
			break;
		case ACT_TCSETPGRP:
			if (tcsetpgrp(a->fd, getpgrp()) < 0) return errno;
			break;
		}
	}
	if (flags & POSIX_SPAWN_SETSIGMASK) {
		sigset_t mask;
		posix_spawnattr_getsigmask(attr, &mask);
		sigprocmask(SIG_SETMASK, &mask, NULL);
	}
	return 0;
}

/* posix_spawn (search 0) or posix_spawnp (1) through fork and exec. */
static int spawn(pid_t *pidp, const char *file, const posix_spawn_file_actions_t *fa,
		 const posix_spawnattr_t *attr, char *const argv[], char *const envp[], int search)
{
	size_t n;
	int ok;
	struct action *acts = copy_actions(fa, &n, &ok);
	if (!ok) {
		free(acts);
		return -1;  /* to libc */
	}
	int report[2];
	if (pipe2(report, O_CLOEXEC) < 0) {
		free(acts);
		return errno;
	}
	/* No handler of the parent's runs in the child before its exec (as
	 * glibc's posix_spawn): signals are blocked around the fork and
	 * handled ones reset to their default in the child. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) {
		close(report[0]);
		for (int sig = 1; sig < _NSIG; sig++) {
			struct sigaction sa;
			if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
			    sa.sa_handler != SIG_IGN)
				signal(sig, SIG_DFL);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		int err = child_setup(attr, acts, n);
		if (err == 0) {
			if (search)
				execvpe(file, argv, envp ? envp : environ);
			else
				execve(file, argv, envp ? envp : environ);
			err = errno;
		}
		while (write(report[1], &err, sizeof(err)) < 0 && errno == EINTR) {}
		_exit(127);
	}
	int fork_err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(acts);
	close(report[1]);
	if (pid < 0) {
		close(report[0]);
		return fork_err;
	}
	int err = 0;
	ssize_t r;
	while ((r = read(report[0], &err, sizeof(err))) < 0 && errno == EINTR) {}
	close(report[0]);
	if (r == sizeof(err)) {
		/* Failed before or in its exec: reaped here, as glibc does. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
		return err;
	}
	if (pidp) *pidp = pid;
	return 0;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (program_attached()) {
		int rc = spawn(pid, path, fa, attr, argv, envp, 0);
		if (rc >= 0) return rc;
	}
	LIBC(posix_spawn);
	return host(pid, path, fa, attr, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (program_attached()) {
		int rc = spawn(pid, file, fa, attr, argv, envp, 1);
		if (rc >= 0) return rc;
	}
	LIBC(posix_spawnp);
	return host(pid, file, fa, attr, argv, envp);
}

/* ---- system --------------------------------------------------------- */

/* As POSIX describes it: SIGINT and SIGQUIT ignored and SIGCHLD blocked in
 * the caller while the shell runs. */
EXPORT int system(const char *command)
{
	if (!program_attached()) {
		LIBC(system);
		return host(command);
	}
	if (command == NULL) return 1;  /* a shell is there */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
	sigemptyset(&ign.sa_mask);
	sigset_t chld, old_mask;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigprocmask(SIG_BLOCK, &chld, &old_mask);
	pid_t pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		exec_shell(command);
	}
	int status = -1;
	if (pid > 0) {
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				status = -1;
				break;
			}
		}
	}
	int err = errno;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	errno = err;
	return status;
}

/* ---- popen ---------------------------------------------------------- */

/* Streams popen made, with their children (POSIX: a child closes the
 * streams of earlier popens; pclose waits for the stream's own). */
struct popened {
	FILE *stream;
	pid_t pid;
	struct popened *next;
};
static struct popened *g_popened;
static pthread_mutex_t g_popen_lock = PTHREAD_MUTEX_INITIALIZER;

EXPORT FILE *popen(const char *command, const char *mode)
{
	if (!program_attached()) {
		LIBC(popen);
		return host(command, mode);
	}
	if (command == NULL || mode == NULL || (mode[0] != 'r' && mode[0] != 'w') ||
	    (mode[1] && mode[1] != 'e')) {
		errno = EINVAL;
		return NULL;
	}
	const int reading = mode[0] == 'r';
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) return NULL;
	/* The parent's end, and the child's, which becomes its stdout (r) or
	 * stdin (w). */
	int ours = reading ? p[0] : p[1], theirs = reading ? p[1] : p[0];
	struct popened *rec = malloc(sizeof(*rec));
	if (rec == NULL) {
		close(p[0]);
		close(p[1]);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&g_popen_lock);
	pid_t pid = fork();
	if (pid == 0) {
		for (struct popened *q = g_popened; q; q = q->next) close(fileno(q->stream));
		if (dup_for_exec(theirs, reading ? 1 : 0)) _exit(127);
		exec_shell(command);
	}
	int err = errno;
	close(theirs);
	FILE *f = NULL;
	if (pid > 0) {
		if (mode[1] != 'e') fcntl(ours, F_SETFD, 0);
		f = fdopen(ours, reading ? "r" : "w");
		err = errno;
	}
	if (f == NULL) {
		close(ours);
		if (pid > 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
		pthread_mutex_unlock(&g_popen_lock);
		free(rec);
		errno = err;
		return NULL;
	}
	rec->stream = f;
	rec->pid = pid;
	rec->next = g_popened;
	g_popened = rec;
	pthread_mutex_unlock(&g_popen_lock);
	return f;
}

EXPORT int pclose(FILE *stream)
{
	pthread_mutex_lock(&g_popen_lock);
	struct popened *rec = NULL;
	for (struct popened **p = &g_popened; *p; p = &(*p)->next) {
		if ((*p)->stream == stream) {
			rec = *p;
			*p = rec->next;
			break;
		}
	}
	pthread_mutex_unlock(&g_popen_lock);
	if (rec == NULL) {
		LIBC(pclose);
		return host(stream);
	}
	fclose(stream);
	int status;
	pid_t r;
	while ((r = waitpid(rec->pid, &status, 0)) < 0 && errno == EINTR) {}
	free(rec);
	return r < 0 ? -1 : status;
}
