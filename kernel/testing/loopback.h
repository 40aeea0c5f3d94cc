// SPDX-License-Identifier: GPL-2.0
// 127.0.0.1:port as a sockaddr_in: the same bytes for the library kernel's
// sockets and the host's. Header-only and kernel-free, so client-side
// tests and benchmarks (which never link the kernel) use it too.
#ifndef LKD_KERNEL_TESTING_LOOPBACK_H_
#define LKD_KERNEL_TESTING_LOOPBACK_H_

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>

namespace lkd::testing {

inline sockaddr_in Ipv4Loopback(uint16_t port) {
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace lkd::testing

#endif  // LKD_KERNEL_TESTING_LOOPBACK_H_
