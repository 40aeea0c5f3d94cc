// SPDX-License-Identifier: GPL-2.0
// Boot-time setup of the library kernel through its own interfaces: ioctl
// for links, rtnetlink for addresses and routes, /proc/sys for sysctls,
// mount(2) for file systems. The daemon's boot configuration and the tests
// use these; the admin plane uses the same kernel interfaces. Nothing here
// keeps state or pokes kernel structures.
//
// Every function runs its system calls as the task bound to the calling
// host thread (lkd_syscall), so with the credentials of that task's
// process; errors name the operation, the object and the errno.
#ifndef LKD_KERNEL_SETUP_SETUP_H_
#define LKD_KERNEL_SETUP_SETUP_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lkd::setup {

// Links (interfaces), by name.
absl::Status LinkUp(absl::string_view ifname);
absl::Status LinkDown(absl::string_view ifname);
absl::Status SetMtu(absl::string_view ifname, int mtu);
absl::StatusOr<int> LinkIndex(absl::string_view ifname);  // NotFound
// The interface with hardware address `mac` (NotFound if none).
absl::StatusOr<std::string> LinkNameByMac(const std::array<uint8_t, 6>& mac);

// "10.0.2.2/24" or "fd00:2::2/64" (RTM_NEWADDR). IPv6 addresses skip
// duplicate address detection (IFA_F_NODAD) so they are usable at once.
absl::Status AddAddress(absl::string_view ifname, absl::string_view cidr);
// A route to `dest` ("default" or a CIDR, v4 or v6) via gateway `via`
// (may be empty) and/or out of `ifname` (may be empty), in routing table
// `table` (0: main). RTM_NEWROUTE; an existing route is EEXIST.
absl::Status AddRoute(absl::string_view dest, absl::string_view via,
                      absl::string_view ifname, uint32_t table = 0);

// Sysctls by dotted name ("net.ipv4.ip_forward") or /proc/sys path.
absl::Status SetSysctl(absl::string_view name, absl::string_view value);
absl::StatusOr<std::string> GetSysctl(absl::string_view name);

// Mounts devtmpfs on /dev unless it is there already: block devices
// (/dev/vda, ...) appear by themselves.
absl::Status MountDevtmpfs();
// "/dev/vdX" for the virtio disk whose serial (/sys/block/vdX/serial) is
// `serial`; needs /sys mounted. NotFound when no disk has it.
absl::StatusOr<std::string> DiskBySerial(absl::string_view serial);
// mount(2) of `source` on `target` (created with its parents) as
// `fstype`, read-only if asked, with file-system options `data`.
absl::Status Mount(absl::string_view source, absl::string_view target,
                   absl::string_view fstype, bool read_only,
                   absl::string_view data = "");
absl::Status Unmount(absl::string_view target);

}  // namespace lkd::setup

#endif  // LKD_KERNEL_SETUP_SETUP_H_
