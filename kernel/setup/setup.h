// SPDX-License-Identifier: GPL-2.0
// Boot-time setup of the library kernel through its own interfaces: ioctl
// for link flags, MTU and indexes, rtnetlink (an AF_NETLINK socket inside
// the kernel) for link lookups, addresses and routes, /proc/sys for
// sysctls, mount(2) for file systems. The daemon's boot configuration and
// the tests use these; nothing here keeps state between calls or touches
// kernel structures, so what they do is exactly what ip(8), sysctl(8) and
// mount(8) would do on a real machine.
//
// Every function runs its system calls as the task bound to the calling
// host thread (lkd_syscall), with the credentials of that task's process:
// an unbound thread acts as the root "host process". Every kernel fd a
// function opens is closed before it returns, on success and on error.
//
// Errors name the operation, the object and the kernel's errno, e.g.
// "add address 10.0.2.2/24 to eth0: File exists (EEXIST)". The status code
// is the errno's canonical code (EEXIST: AlreadyExists; a missing link or
// sysctl: NotFound); text arguments that do not parse are InvalidArgument
// before anything reaches the kernel.
#ifndef LKD_KERNEL_SETUP_SETUP_H_
#define LKD_KERNEL_SETUP_SETUP_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lkd::setup {

// ---------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------

// Sets or clears IFF_UP (SIOCGIFFLAGS, then SIOCSIFFLAGS with the other
// flags as read). NotFound for an unknown link.
absl::Status LinkUp(std::string_view ifname);
absl::Status LinkDown(std::string_view ifname);

// SIOCSIFMTU; the driver decides the valid range (EINVAL outside it).
absl::Status SetMtu(std::string_view ifname, int mtu);

// The link's index (SIOCGIFINDEX); NotFound for an unknown link.
absl::StatusOr<int> LinkIndex(std::string_view ifname);

// The name of the link whose hardware address is `mac`, from an
// RTM_GETLINK dump: NIC names depend on probe order, MACs are what the
// device configuration says. NotFound if no link has it. (The loopback
// link's address is all zeros, so that MAC names "lo".)
absl::StatusOr<std::string> LinkNameByMac(const std::array<uint8_t, 6>& mac);

// ---------------------------------------------------------------------
// Addresses and routes (rtnetlink requests with NLM_F_ACK: the error is
// the kernel's own errno from the NLMSG_ERROR acknowledgement)
// ---------------------------------------------------------------------

// Adds "10.0.2.2/24" or "fd00:2::2/64" (no length: /32 or /128) to a link
// (RTM_NEWADDR, NLM_F_CREATE|NLM_F_EXCL); the kernel adds the prefix
// route itself. IPv4 addresses shorter than /31 get the subnet's
// broadcast address. IPv6 addresses skip duplicate address detection
// (IFA_F_NODAD): they can be bound at once instead of staying tentative
// for a second or more. An address already there is AlreadyExists.
absl::Status AddAddress(std::string_view ifname, std::string_view cidr);

// Adds a route to `dest` ("default", or a CIDR such as "10.1.0.0/16" or
// "fd00:1::/48") through gateway `via` and/or out of link `ifname` (either
// may be empty, not both) to routing table `table` (0: main; ids of 256
// and above go in RTA_TABLE). RTM_NEWROUTE with NLM_F_CREATE|NLM_F_EXCL:
// an existing route is AlreadyExists, a gateway with no route to it the
// kernel's ENETUNREACH. "default" is IPv4 unless `via` is IPv6; an IPv6
// default route without a gateway is "::/0". A destination with bits set
// past its prefix length is InvalidArgument (the kernel refuses IPv4 ones
// but silently masks IPv6 ones). Note: the kernel turns IPv6 routes out
// of the loopback link into reject routes (they would loop).
absl::Status AddRoute(std::string_view dest, std::string_view via,
                      std::string_view ifname, uint32_t table = 0);

// ---------------------------------------------------------------------
// Sysctls (/proc/sys, which must be mounted)
// ---------------------------------------------------------------------

// `name` is dotted ("net.ipv4.ip_forward"), slashed as sysctl(8) allows
// for names with dots in a component ("net/ipv4/conf/eth0.1/forwarding"),
// or a path starting with /proc/sys/. NotFound for an unknown sysctl; a
// value the kernel rejects is its EINVAL (InvalidArgument).
absl::Status SetSysctl(std::string_view name, std::string_view value);
// The value without its trailing newline (multi-value sysctls keep their
// tabs).
absl::StatusOr<std::string> GetSysctl(std::string_view name);

// Every readable sysctl under `prefix` ("" for all; a directory such as
// "net.ipv4", or one sysctl's name), as (dotted name, value) in name
// order, as sysctl(8) -a lists them: a dot inside a component shows as a
// slash ("net.ipv4.conf.eth0/1.forwarding"). Sysctls that cannot be read
// (write-only ones, EACCES, EIO) are left out. NotFound for a prefix that
// names nothing.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListSysctls(
    std::string_view prefix);

// ---------------------------------------------------------------------
// File systems
// ---------------------------------------------------------------------

// The names in a kernel directory, without "." and "..", in no particular
// order. NotFound if it does not exist.
absl::StatusOr<std::vector<std::string>> ListDirectory(std::string_view path);

// Mounts devtmpfs on /dev (created if needed) unless it is mounted there
// already, so calling it twice is fine. Block devices (/dev/vda, ...)
// appear in it by themselves as the kernel probes them.
absl::Status MountDevtmpfs();

// "/dev/vdX" for the virtio disk whose serial (/sys/block/vdX/serial) is
// `serial`. Needs /sys mounted (FailedPrecondition otherwise); NotFound
// when no disk has that serial. The node exists once MountDevtmpfs ran.
absl::StatusOr<std::string> DiskBySerial(std::string_view serial);

// mount(2) of `source` on absolute path `target` (created with its
// parents, like mkdir -p) as `fstype`, with MS_RDONLY if `read_only`, and
// file-system options `data` (e.g. "mode=0700"; empty: none). The usual
// errnos come in words: "mount /dev/vda on /mnt as ext4: not an ext4 file
// system or bad options (EINVAL)"; ENODEV: no such file system type in
// this kernel; ENOTBLK: the source is not a block device; ENOENT: no such
// source; EROFS/EACCES: a read-only device (mount it read-only); EBUSY.
absl::Status Mount(std::string_view source, std::string_view target,
                   std::string_view fstype, bool read_only,
                   std::string_view data = "");

// umount2(target, 0). EINVAL: "not a mount point"; EBUSY: files open on
// it or mounts below it.
absl::Status Unmount(std::string_view target);

// What every booted kernel of lkd gets first, the daemon's and the tests'
// alike: proc on /proc, sysfs on /sys, devtmpfs on /dev, tmpfs on /tmp,
// and the loopback link up. Stops at the first failure, naming it.
absl::Status SetUpBase();

}  // namespace lkd::setup

#endif  // LKD_KERNEL_SETUP_SETUP_H_
