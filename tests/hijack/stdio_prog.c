// SPDX-License-Identifier: GPL-2.0
// stdio on kernel fds, run under lkrun --prefix by hijack_stdio_test.sh:
// stdio_prog DIR, DIR under the prefix. Streams on files in lkd (fopen's
// modes, seeks, fileno), on a TCP connection inside lkd (fdopen, fclose
// closing the kernel socket), stdout moved onto a kernel file by dup2 and
// back, stdout closed by fclose while it is a kernel file, and freopen of stdout to a file in lkd, whose last line only
// leaves the buffer at exit. Prints "ok N" on the host's stdout as each
// part passes; the test reads the files back from lkd.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void fail(const char *what)
{
	fprintf(stderr, "stdio_prog: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: stdio_prog DIR\n");
		return 2;
	}
	char path[512], line[128];
	snprintf(path, sizeof(path), "%s/file", argv[1]);

	// 1: files, by every mode.
	FILE *f = fopen(path, "w");
	if (!f) fail("fopen w");
	if (fprintf(f, "first %d\n", 1) < 0 || fclose(f) != 0) fail("write, fclose");
	if (!(f = fopen(path, "a")) || fputs("second\n", f) < 0 || fclose(f)) fail("append");
	if (!(f = fopen(path, "r+"))) fail("fopen r+");
	if (!fgets(line, sizeof(line), f) || strcmp(line, "first 1\n")) fail("fgets");
	if (ftell(f) != 8) fail("ftell");
	if (fseek(f, 0, SEEK_END) || ftell(f) != 15) fail("fseek to the end");
	if (fseek(f, 0, SEEK_SET) || fputs("FIRST", f) < 0 || fflush(f)) fail("overwrite");
	struct stat st;
	if (fileno(f) < 3 || fstat(fileno(f), &st) || st.st_size != 15) fail("fileno, fstat");
	if (fclose(f)) fail("fclose r+");
	errno = 0;
	if (fopen(path, "wx") || errno != EEXIST) fail("fopen wx of an existing file");
	snprintf(line, sizeof(line), "%s/none", argv[1]);
	errno = 0;
	if (fopen(line, "r") || errno != ENOENT) fail("fopen of a missing file");
	printf("ok 1\n");

	// 2: a TCP connection inside lkd, both ends streams.
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		fail("listen");
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a))) fail("connect");
	int s = accept(l, NULL, NULL);
	if (s < 0) fail("accept");
	FILE *cf = fdopen(c, "r+"), *sf = fdopen(s, "r+");
	if (!cf || !sf) fail("fdopen");
	if (fprintf(cf, "request %d\n", 7) < 0 || fflush(cf)) fail("request");
	if (!fgets(line, sizeof(line), sf) || strcmp(line, "request 7\n")) fail("request read");
	if (fputs("answer\n", sf) < 0 || fflush(sf)) fail("answer");
	if (!fgets(line, sizeof(line), cf) || strcmp(line, "answer\n")) fail("answer read");
	if (fclose(cf)) fail("fclose of the client's stream");
	if (fgets(line, sizeof(line), sf) || !feof(sf)) fail("EOF after the peer's fclose");
	fclose(sf);
	close(l);
	printf("ok 2\n");
	fflush(stdout);

	// 3: stdout onto a kernel file and back.
	int host_out = dup(1);
	snprintf(path, sizeof(path), "%s/out", argv[1]);
	int k = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (host_out < 0 || k < 0 || dup2(k, 1) != 1) fail("dup2 onto stdout");
	close(k);
	printf("to lkd's file\n");
	if (dup2(host_out, 1) != 1) fail("dup2 back");
	close(host_out);
	printf("ok 3\n");
	fflush(stdout);

	// 4: a program that closes its stdout while it is a kernel file
	// (coreutils' close_stdout does), then moves fd 1 back to the host.
	host_out = dup(1);
	snprintf(path, sizeof(path), "%s/closed", argv[1]);
	k = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (host_out < 0 || k < 0 || dup2(k, 1) != 1) fail("dup2 onto stdout again");
	close(k);
	printf("before fclose\n");
	if (fclose(stdout) != 0) fail("fclose of stdout");
	if (dup2(host_out, 1) != 1) fail("dup2 back after fclose");
	close(host_out);
	stdout = fdopen(1, "w");
	if (!stdout) fail("fdopen of the host's fd 1");

	// 5: freopen of stdout to a file in lkd; the line stays buffered
	// until exit.
	printf("ok 4\n");
	fflush(stdout);
	snprintf(path, sizeof(path), "%s/reopened", argv[1]);
	if (!freopen(path, "w", stdout)) fail("freopen");
	fprintf(stderr, "ok 5\n");
	printf("written at exit\n");
	return 0;
}
