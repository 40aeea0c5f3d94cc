// SPDX-License-Identifier: GPL-2.0
// posix_spawn, system and popen under lkrun --prefix (hijack_spawn_test.sh):
// spawn_prog DIR, DIR under the prefix. The children must be the parent's
// kernel process forked: they see its working directory in lkd, write to
// its kernel fds, and stay on lkd even when given an environment without
// LD_PRELOAD. Prints "ok N" as each part passes.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void fail(const char *what, int err)
{
	fprintf(stderr, "spawn_prog: %s: %s\n", what, strerror(err));
	exit(1);
}

static int wait_ok(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, 0) != pid) return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: spawn_prog DIR\n");
		return 2;
	}
	if (chdir(argv[1]) < 0) fail("chdir into lkd", errno);

	// 1: posix_spawnp with file actions: stdout onto a kernel file made
	// by an open action (relative: in lkd's cwd), then a dup2 of a kernel
	// fd the parent holds onto stderr; an environment without LD_PRELOAD.
	int kfd = open("err", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (kfd < 0) fail("open err", errno);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "spawned", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, kfd, 2);
	posix_spawn_file_actions_addclose(&fa, kfd);
	char *sh_argv[] = {"sh", "-c", "pwd; echo to-stderr >&2; cat marker", NULL};
	char *bare_env[] = {"PATH=/usr/bin:/bin", NULL};
	pid_t pid;
	int rc = posix_spawnp(&pid, "sh", &fa, NULL, sh_argv, bare_env);
	if (rc) fail("posix_spawnp", rc);
	if (!wait_ok(pid)) fail("the spawned shell", EIO);
	posix_spawn_file_actions_destroy(&fa);
	close(kfd);
	printf("ok 1\n");
	fflush(stdout);

	// 2: errors come back as glibc's do.
	char *none_argv[] = {"no-such-program-here", NULL};
	rc = posix_spawnp(&pid, "no-such-program-here", NULL, NULL, none_argv, environ);
	if (rc != ENOENT) fail("posix_spawnp of a missing program", rc);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 3, "missing/file", O_RDONLY, 0);
	char *true_argv[] = {"true", NULL};
	rc = posix_spawn(&pid, "/bin/true", &fa, NULL, true_argv, environ);
	if (rc != ENOENT) fail("posix_spawn with a failing open action", rc);
	posix_spawn_file_actions_destroy(&fa);
	printf("ok 2\n");
	fflush(stdout);

	// 3: system, in lkd's cwd.
	rc = system("cat marker > by-system && test -s by-system");
	if (rc != 0) fail("system", rc < 0 ? errno : EIO);
	if (system("exit 3") != 3 << 8) fail("system's status", EIO);
	printf("ok 3\n");
	fflush(stdout);

	// 4: popen both ways.
	FILE *p = popen("cat marker", "r");
	char line[64] = "";
	if (!p || !fgets(line, sizeof(line), p)) fail("popen r", errno);
	if (pclose(p) != 0 || strcmp(line, "marker\n")) fail("popen r's line", EIO);
	p = popen("cat > by-popen", "w");
	if (!p || fputs("through popen\n", p) < 0) fail("popen w", errno);
	if (pclose(p) != 0) fail("pclose w", EIO);
	printf("ok 4\n");
	return 0;
}
