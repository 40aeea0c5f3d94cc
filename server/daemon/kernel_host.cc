// SPDX-License-Identifier: GPL-2.0
#include "server/daemon/kernel_host.h"

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errno_status.h"
#include "hostops/posix_hostops.h"
#include "server/daemon/kernel_hooks.h"
#include "kernel/setup/setup.h"
#include "kernel/sys.h"
#include "lkd/kernel.h"

namespace lkd::daemon {
namespace {

std::string NicWhat(const LkdConfig& config, int i) {
  return absl::StrCat("nic ", i, " (", config.nic(i).backend(), ")");
}

std::string DiskWhat(const LkdConfig& config, int i) {
  return absl::StrCat("disk ", i, " (", config.disk(i).image(), ")");
}

// How Boot finds disk i again once the kernel has named it /dev/vdX.
std::string DiskSerial(int i) { return absl::StrCat("lkd-disk", i); }

}  // namespace

KernelHost::KernelHost() : devices_(virtio::LibraryKernelHooks()) {}

KernelHost::~KernelHost() {
  if (absl::Status status = Shutdown(); !status.ok())
    fprintf(stderr, "lkd: %s\n", std::string(status.message()).c_str());
}

absl::StatusOr<std::unique_ptr<KernelHost>> KernelHost::Boot(const LkdConfig& config) {
  if (absl::Status status = Validate(config); !status.ok()) return status;
  std::unique_ptr<KernelHost> host(new KernelHost());
  absl::Status status = host->AddDevices(config);
  if (status.ok()) status = host->Start(config);
  if (status.ok()) status = host->SetUpBase();
  if (status.ok()) status = host->SetUpNics(config);
  if (status.ok()) status = host->MountDisks(config);
  if (status.ok()) status = host->AddRoutes(config);
  if (status.ok()) status = host->SetSysctls(config);
  if (!status.ok()) {
    // The first failure is what the caller must fix; one while undoing
    // rides along.
    if (absl::Status undo = host->Shutdown(); !undo.ok())
      return absl::Status(status.code(),
                          absl::StrCat(status.message(), " (then, undoing: ", undo.message(), ")"));
    return status;
  }
  return host;
}

// Every device is announced before the kernel starts; it probes them in
// this order (NICs, then disks), but Boot finds them by MAC and serial.
absl::Status KernelHost::AddDevices(const LkdConfig& config) {
  for (int i = 0; i < config.nic_size(); i++) {
    absl::StatusOr<virtio::NicSpec> spec = virtio::ParseNicSpec(config.nic(i).backend());
    if (!spec.ok()) return About(NicWhat(config, i), spec.status());
    // Without mac= the device picks a random one, which nic->mac() tells.
    if (absl::StatusOr<virtio::VirtioNet*> nic = devices_.AddNic(*spec); !nic.ok())
      return About(NicWhat(config, i), nic.status());
  }
  for (int i = 0; i < config.disk_size(); i++) {
    virtio::DiskSpec spec;
    spec.path = config.disk(i).image();
    spec.read_only = config.disk(i).read_only();
    spec.serial = DiskSerial(i);
    if (absl::StatusOr<virtio::VirtioBlk*> disk = devices_.AddDisk(spec); !disk.ok())
      return About(DiskWhat(config, i), disk.status());
  }
  return absl::OkStatus();
}

absl::Status KernelHost::Start(const LkdConfig& config) {
  PosixHostopsOptions options;
  options.quiet = config.quiet_console();
  std::string cmdline =
      absl::StrCat("mem=", config.mem().empty() ? kDefaultMem : config.mem(), " loglevel=4");
  if (!config.cmdline().empty()) absl::StrAppend(&cmdline, " ", config.cmdline());
  int rc = lkd_start(PosixHostops(options), cmdline.c_str());
  if (rc == -EALREADY)
    return absl::FailedPreconditionError(
        "start the kernel: this process already started one (EALREADY; one kernel per process)");
  if (rc < 0)
    return SysStatus(rc, absl::StrCat("start the kernel with '", cmdline, "'"));
  running_ = true;
  description_.push_back(absl::StrCat("kernel: ", cmdline));
  return absl::OkStatus();
}

// What every daemon has, as BootForTest and a real init would do it.
absl::Status KernelHost::SetUpBase() { return About("kernel setup", setup::SetUpBase()); }

absl::Status KernelHost::SetUpNics(const LkdConfig& config) {
  for (int i = 0; i < config.nic_size(); i++) {
    const config::Nic& nic = config.nic(i);
    std::string what = NicWhat(config, i);
    const virtio::MacAddress& mac = devices_.nics()[i]->mac();
    absl::StatusOr<std::string> link = setup::LinkNameByMac(mac);
    if (!link.ok()) return About(what, link.status());
    link_names_.push_back(*link);
    absl::StatusOr<virtio::NicSpec> spec = virtio::ParseNicSpec(nic.backend());
    if (!spec.ok()) return About(what, spec.status());
    // The driver already took the device's MTU as current and maximum;
    // setting it says what the config wants whatever the driver does.
    if (absl::Status s = setup::SetMtu(*link, spec->mtu); !s.ok()) return About(what, s);
    if (absl::Status s = setup::LinkUp(*link); !s.ok()) return About(what, s);
    for (const std::string& address : nic.address()) {
      if (absl::Status s = setup::AddAddress(*link, address); !s.ok()) return About(what, s);
    }
    description_.push_back(absl::StrCat("nic ", i, ": ", nic.backend(), " is ", *link, " (mac ",
                                        virtio::FormatMac(mac), ", mtu ", spec->mtu, ") ",
                                        absl::StrJoin(nic.address(), " ")));
  }
  return absl::OkStatus();
}

absl::Status KernelHost::MountDisks(const LkdConfig& config) {
  for (int i = 0; i < config.disk_size(); i++) {
    const config::Disk& disk = config.disk(i);
    std::string what = DiskWhat(config, i);
    absl::StatusOr<std::string> dev = setup::DiskBySerial(DiskSerial(i));
    if (!dev.ok()) return About(what, dev.status());
    if (absl::Status s = setup::Mount(*dev, disk.mountpoint(), disk.fstype(), disk.read_only());
        !s.ok())
      return About(what, s);
    mounted_.push_back(disk.mountpoint());
    description_.push_back(absl::StrCat("disk ", i, ": ", disk.image(), " is ", *dev, " on ",
                                        disk.mountpoint(), " (", disk.fstype(), ", ",
                                        disk.read_only() ? "ro" : "rw", ")"));
  }
  return absl::OkStatus();
}

absl::Status KernelHost::AddRoutes(const LkdConfig& config) {
  for (int i = 0; i < config.route_size(); i++) {
    const config::Route& route = config.route(i);
    std::string text = RouteText(route);
    if (absl::Status s = setup::AddRoute(route.dest(), route.via(), route.dev(), route.table());
        !s.ok())
      return About(absl::StrCat("route ", i, " (", text, ")"), s);
    description_.push_back(absl::StrCat("route ", i, ": ", text));
  }
  return absl::OkStatus();
}

absl::Status KernelHost::SetSysctls(const LkdConfig& config) {
  for (int i = 0; i < config.sysctl_size(); i++) {
    const config::Sysctl& sysctl = config.sysctl(i);
    if (absl::Status s = setup::SetSysctl(sysctl.name(), sysctl.value()); !s.ok())
      return About(absl::StrCat("sysctl ", i, " (", sysctl.name(), ")"), s);
    description_.push_back(absl::StrCat("sysctl ", i, ": ", sysctl.name(), " = ", sysctl.value()));
  }
  return absl::OkStatus();
}

absl::Status KernelHost::Shutdown() {
  std::vector<std::string> errors;
  absl::StatusCode code = absl::StatusCode::kOk;
  auto note = [&](const absl::Status& status) {
    if (status.ok()) return;
    if (code == absl::StatusCode::kOk) code = status.code();
    errors.push_back(std::string(status.message()));
  };
  if (running_) {
    running_ = false;
    // Write everything out first, so that a disk whose unmount fails is
    // as current as one that unmounts.
    Sys(LKD_NR_sync);
    for (auto it = mounted_.rbegin(); it != mounted_.rend(); ++it) note(setup::Unmount(*it));
    mounted_.clear();
    if (int rc = lkd_halt(); rc < 0) note(SysStatus(rc, "halt the kernel"));
  }
  // Devices start when the kernel's drivers start them, so after a Boot
  // that failed before lkd_start there is nothing to stop; StopAll is a
  // no-op for them and for devices already stopped.
  devices_.StopAll();
  if (errors.empty()) return absl::OkStatus();
  return absl::Status(code, absl::StrCat("shutdown: ", absl::StrJoin(errors, "; ")));
}

}  // namespace lkd::daemon
