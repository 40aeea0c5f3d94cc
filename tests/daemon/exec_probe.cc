// SPDX-License-Identifier: GPL-2.0
// Started by lk_exec() in daemon_test: re-attaches to the kernel process
// it was exec'd from and reports, by exit code, which fds survived.
// Usage: exec_probe KEPT_FD CLOEXEC_FD EXPECTED_PORT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "rumpclient/lkclient.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: exec_probe KEPT_FD CLOEXEC_FD EXPECTED_PORT\n");
    return 2;
  }
  if (lk_init() < 0) {
    fprintf(stderr, "exec_probe: lk_init: %s\n", lk_errmsg());
    return 3;
  }
  sockaddr_in addr = {};
  socklen_t len = sizeof(addr);
  if (lk_sys_getsockname(atoi(argv[1]), reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    perror("exec_probe: getsockname of the kept socket");
    return 4;
  }
  if (ntohs(addr.sin_port) != atoi(argv[3])) return 5;
  len = sizeof(addr);
  if (lk_sys_getsockname(atoi(argv[2]), reinterpret_cast<sockaddr*>(&addr), &len) == 0 ||
      errno != EBADF) {
    fprintf(stderr, "exec_probe: the close-on-exec socket survived\n");
    return 6;
  }
  return 0;
}
