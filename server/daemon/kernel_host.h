// SPDX-License-Identifier: GPL-2.0
// The one library kernel of a daemon, booted from its LkdConfig with its
// NICs and disks, and shut down cleanly.
//
// Limits: a process can start a kernel only once (lkd_start), so a process
// has at most one KernelHost in its life. Devices are announced to the
// kernel before it boots and cannot be withdrawn: after a Boot that failed
// the process must not try to boot again (Boot refuses, with the kernel's
// EALREADY, if the kernel had started; if it failed earlier, announced
// devices whose owner is gone would be probed by a later lkd_start).
//
// Threads: Boot and Shutdown run the kernel's system calls on the calling
// host thread, which must not be bound to a kernel process (it acts as the
// root "host process"); call them from the thread that owns the daemon.
#ifndef LKD_SERVER_DAEMON_KERNEL_HOST_H_
#define LKD_SERVER_DAEMON_KERNEL_HOST_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hostops/virtio/devices.h"
#include "server/daemon/config.h"

namespace lkd::daemon {

class KernelHost {
 public:
  // Validates `config`, opens every NIC backend and disk image, boots the
  // kernel ("mem=M loglevel=4 CMDLINE"), mounts proc on /proc, sysfs on
  // /sys, devtmpfs on /dev and tmpfs on /tmp, brings lo up, then sets up
  // each NIC (found by its MAC: MTU, up, addresses), mounts each disk
  // (found by its serial "lkd-diskN"), adds the routes and sets the
  // sysctls, in config order.
  //
  // The first failure is returned, naming the item ("nic 1 (tap:lkd0):
  // ...", "disk 0 (/srv/a.img): ...", "route 2 (default via 10.0.2.1):
  // ..."), after undoing what was done: disks unmounted, kernel halted,
  // devices stopped.
  static absl::StatusOr<std::unique_ptr<KernelHost>> Boot(const LkdConfig& config);

  // Shutdown().
  ~KernelHost();
  KernelHost(const KernelHost&) = delete;
  KernelHost& operator=(const KernelHost&) = delete;

  // sync, unmounts the disks in reverse order, halts the kernel (which
  // kills every kernel process) and stops the devices. An unmount that
  // fails (EBUSY: a client still has files open there) is reported and the
  // rest goes on: the halt still syncs that file system and remounts it
  // read-only (the data is there; a later mount may replay the journal).
  // The first call does the work and
  // returns what failed (all failures, "; "-joined); later calls return OK.
  absl::Status Shutdown();

  // One line per thing set up, for the log: the kernel's command line,
  // then "nic 0: tap:lkd0 is eth0 (mac 02:00:00:00:00:01, mtu 1500)
  // 10.0.2.2/24", "disk 0: /srv/data.img is /dev/vda on /data (ext4, rw)",
  // the routes and the sysctls.
  std::vector<std::string> Describe() const { return description_; }

  // The kernel's link name of each NIC, in config order ("eth0", ...).
  const std::vector<std::string>& link_names() const { return link_names_; }

  bool running() const { return running_; }

 private:
  KernelHost();

  absl::Status AddDevices(const LkdConfig& config);
  absl::Status Start(const LkdConfig& config);
  absl::Status SetUpBase();
  absl::Status SetUpNics(const LkdConfig& config);
  absl::Status MountDisks(const LkdConfig& config);
  absl::Status AddRoutes(const LkdConfig& config);
  absl::Status SetSysctls(const LkdConfig& config);

  // Devices outlive the kernel: it syncs its disks while halting.
  virtio::Devices devices_;
  bool running_ = false;              // lkd_start succeeded and no halt yet
  std::vector<std::string> mounted_;  // disk mountpoints, in mount order
  std::vector<std::string> link_names_;
  std::vector<std::string> description_;
};

}  // namespace lkd::daemon

#endif  // LKD_SERVER_DAEMON_KERNEL_HOST_H_
