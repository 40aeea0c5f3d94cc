/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A program as a user of the installed library writes it: plain C, only
 * <lkd/lkclient.h>, built with `cc $(pkg-config --cflags --libs lkclient)`.
 * Copies stdin to stdout through a TCP connection over the loopback of
 * lkd's kernel: a listener and a connected socket in this client's kernel
 * process, the bytes written to one end and read back from the other.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lkd/lkclient.h>

static void die(const char *what)
{
	fprintf(stderr, "sdk_test_prog: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(void)
{
	static char buf[65536];
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);
	int lfd, cfd, sfd;
	ssize_t n;

	if (lk_init() < 0) {
		fprintf(stderr, "sdk_test_prog: lk_init: %s\n", lk_errmsg());
		return 1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	if (lk_sys_bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind");
	if (lk_sys_listen(lfd, 1) < 0)
		die("listen");
	if (lk_sys_getsockname(lfd, (struct sockaddr *)&addr, &len) < 0)
		die("getsockname");
	cfd = lk_sys_socket(AF_INET, SOCK_STREAM, 0);
	if (cfd < 0 || lk_sys_connect(cfd, (struct sockaddr *)&addr,
				      sizeof(addr)) < 0)
		die("connect");
	sfd = lk_sys_accept(lfd, NULL, NULL);
	if (sfd < 0)
		die("accept");

	/* Each piece read from stdin crosses the connection whole before the
	 * next (the socket buffers hold it: no second thread needed). */
	while ((n = read(0, buf, sizeof(buf))) > 0) {
		ssize_t sent = 0, got = 0;

		while (sent < n) {
			ssize_t k = lk_sys_write(cfd, buf + sent, n - sent);

			if (k < 0)
				die("write");
			sent += k;
		}
		memset(buf, 0, n);
		while (got < n) {
			ssize_t k = lk_sys_read(sfd, buf + got, n - got);

			if (k <= 0)
				die("read");
			got += k;
		}
		if (fwrite(buf, 1, n, stdout) != (size_t)n)
			die("stdout");
	}
	if (n < 0)
		die("stdin");
	/* EOF travels too. */
	if (lk_sys_shutdown(cfd, SHUT_WR) < 0)
		die("shutdown");
	if (lk_sys_read(sfd, buf, 1) != 0)
		die("read at EOF");
	lk_sys_close(sfd);
	lk_sys_close(cfd);
	lk_sys_close(lfd);
	lk_fini();
	return fflush(stdout) == 0 ? 0 : 1;
}
