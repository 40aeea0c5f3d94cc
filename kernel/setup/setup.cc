// SPDX-License-Identifier: GPL-2.0
// Host headers are used for structure definitions and constants only
// (ifreq, nlmsghdr, rtmsg, MS_RDONLY, ...): their layouts and values are
// the kernel's own uapi, and errno numbers are the generic ones on both
// sides. Every call goes to the library kernel through lkd_syscall, never
// to the host.
#include "kernel/setup/setup.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/errno_status.h"
#include "common/ip_prefix.h"
#include "kernel/setup/netlink.h"
#include "kernel/sys.h"

namespace lkd::setup {
namespace {

// Debian's Abseil has its own string_view, which neither StrCat nor
// StrSplit take from a std::string_view without this.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The kernel's -errno results as statuses (common/errno_status.h):
// "<what>: File exists (EEXIST)", with the errno's canonical code.
absl::Status Failed(long rc, const std::string& what) {
  return ErrnoStatus(static_cast<int>(-rc), what);
}

// "<what>: <words> (EINVAL)": the errno explained for this operation.
absl::Status Explained(long rc, const std::string& what, absl::string_view words) {
  return ErrnoStatus(static_cast<int>(-rc), what, words);
}

absl::Status Invalid(const std::string& what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
}

// ---------------------------------------------------------------------
// Link ioctls
// ---------------------------------------------------------------------

// Runs a link ioctl on `ifr`, named `ifname`. The socket only carries the
// ioctl to the kernel's dev_ioctl(); any family would do.
absl::Status LinkIoctl(std::string_view ifname, unsigned long request, ifreq* ifr,
                       const std::string& what) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || ifname.find('/') != std::string_view::npos)
    return Invalid(what, absl::StrCat("bad link name '", Av(ifname), "'"));
  KernelFd fd(Sys(LKD_NR_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return Failed(fd.get(), what + ": socket");
  memset(ifr->ifr_name, 0, sizeof(ifr->ifr_name));
  memcpy(ifr->ifr_name, ifname.data(), ifname.size());
  long rc = Sys(LKD_NR_ioctl, fd.get(), request, ifr);
  if (rc == -ENODEV) {
    return absl::NotFoundError(
        absl::StrCat(what, ": no link named '", Av(ifname), "' (ENODEV)"));
  }
  if (rc < 0) return Failed(rc, what);
  return absl::OkStatus();
}

absl::StatusOr<int> IndexOf(std::string_view ifname, const std::string& what) {
  ifreq ifr{};
  if (absl::Status s = LinkIoctl(ifname, SIOCGIFINDEX, &ifr, what); !s.ok()) return s;
  return ifr.ifr_ifindex;
}

absl::Status SetUpFlag(std::string_view ifname, bool up) {
  std::string what = absl::StrCat("set link ", Av(ifname), up ? " up" : " down");
  ifreq ifr{};
  if (absl::Status s = LinkIoctl(ifname, SIOCGIFFLAGS, &ifr, what); !s.ok()) return s;
  // SIOCSIFFLAGS replaces the whole flag word: keep the others as read.
  if (up)
    ifr.ifr_flags |= IFF_UP;
  else
    ifr.ifr_flags &= ~IFF_UP;
  return LinkIoctl(ifname, SIOCSIFFLAGS, &ifr, what);
}

// ---------------------------------------------------------------------
// Files in the kernel
// ---------------------------------------------------------------------

// Reads a whole small kernel file into `out`: 0 or -errno.
long ReadKernelFile(const std::string& path, std::string* out) {
  KernelFd fd(Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_RDONLY | O_CLOEXEC, 0));
  if (!fd.ok()) return fd.get();
  out->clear();
  char buf[4096];
  long n;
  while ((n = Sys(LKD_NR_read, fd.get(), buf, sizeof(buf))) > 0) out->append(buf, n);
  return n;
}

// The fixed part of the generic ABI's struct linux_dirent64; the
// NUL-terminated name starts right after `type`, before any padding.
struct Dirent64Head {
  uint64_t ino;
  int64_t off;
  uint16_t reclen;
  uint8_t type;
};
constexpr size_t kDirentName = offsetof(Dirent64Head, type) + 1;

// Appends the names in a kernel directory, without "." and "..", to
// `names`: 0 or -errno.
long ListKernelDir(const std::string& path, std::vector<std::string>* names) {
  KernelFd fd(Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (!fd.ok()) return fd.get();
  alignas(Dirent64Head) char buf[8192];
  long n;
  while ((n = Sys(LKD_NR_getdents64, fd.get(), buf, sizeof(buf))) > 0) {
    for (long off = 0; off < n;) {
      Dirent64Head head;
      memcpy(&head, buf + off, sizeof(head));
      std::string_view name(buf + off + kDirentName);
      if (name != "." && name != "..") names->emplace_back(name);
      off += head.reclen;
    }
  }
  return n;
}

// mkdir -p in the kernel, for an absolute path.
absl::Status MkdirAll(std::string_view path) {
  std::string sofar;
  for (absl::string_view part : absl::StrSplit(Av(path), '/', absl::SkipEmpty())) {
    absl::StrAppend(&sofar, "/", part);
    long rc = Sys(LKD_NR_mkdirat, kAtFdCwd, sofar.c_str(), 0755);
    if (rc < 0 && rc != -EEXIST) return Failed(rc, "mkdir " + sofar);
  }
  return absl::OkStatus();
}

// Whether /proc/mounts lists `fstype` mounted on `target`; an error when
// /proc is not mounted.
absl::StatusOr<bool> IsMounted(std::string_view target, std::string_view fstype) {
  std::string mounts;
  if (long rc = ReadKernelFile("/proc/mounts", &mounts); rc < 0)
    return Failed(rc, "read /proc/mounts");
  for (absl::string_view line : absl::StrSplit(mounts, '\n')) {
    // "source target fstype options 0 0"
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() >= 3 && fields[1] == Av(target) && fields[2] == Av(fstype)) return true;
  }
  return false;
}

// The /proc/sys path of a sysctl name, checked to stay inside /proc/sys.
absl::StatusOr<std::string> SysctlPath(std::string_view name) {
  constexpr std::string_view kRoot = "/proc/sys/";
  bool is_path = name.starts_with(kRoot);
  std::string relative(is_path ? name.substr(kRoot.size()) : name);
  // sysctl(8) reads a name with a slash in it as a path, so that link
  // names with dots ("eth0.1") can be written; otherwise dots separate.
  if (!is_path && relative.find('/') == std::string::npos)
    for (char& c : relative)
      if (c == '.') c = '/';
  for (absl::string_view part : absl::StrSplit(relative, '/')) {
    if (part.empty() || part == "." || part == "..")
      return absl::InvalidArgumentError(absl::StrCat("'", Av(name), "' is not a sysctl name"));
  }
  return absl::StrCat(Av(kRoot), relative);
}

// mount(2)'s errnos in words. One errno can mean several things, but
// these are what they mean nearly always when mounting.
absl::Status MountError(long rc, const std::string& what, const std::string& source,
                        const std::string& fstype) {
  switch (-rc) {
    case EINVAL: {
      bool vowel = !fstype.empty() && strchr("aeiou", fstype[0]) != nullptr;
      return Explained(rc, what,
                       absl::StrCat("not ", vowel ? "an " : "a ", fstype,
                                    " file system or bad options"));
    }
    case ENODEV:
      return Explained(rc, what, absl::StrCat("this kernel has no file system type '", fstype,
                                              "'"));
    case ENOTBLK:
      return Explained(rc, what, absl::StrCat(source, " is not a block device"));
    case ENOENT:
      return Explained(rc, what, absl::StrCat("no such device ", source));
    case EROFS:
    case EACCES:
      return Explained(rc, what, absl::StrCat(source, " is read-only; mount it read-only"));
    case EBUSY:
      return Explained(rc, what, absl::StrCat(source, " is in use or already mounted there"));
    default:
      return Failed(rc, what);
  }
}

}  // namespace

// ---------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------

absl::Status LinkUp(std::string_view ifname) { return SetUpFlag(ifname, true); }

absl::Status LinkDown(std::string_view ifname) { return SetUpFlag(ifname, false); }

absl::Status SetMtu(std::string_view ifname, int mtu) {
  ifreq ifr{};
  ifr.ifr_mtu = mtu;
  return LinkIoctl(ifname, SIOCSIFMTU, &ifr, absl::StrCat("set mtu ", mtu, " on ", Av(ifname)));
}

absl::StatusOr<int> LinkIndex(std::string_view ifname) {
  return IndexOf(ifname, absl::StrCat("find link ", Av(ifname)));
}

absl::StatusOr<std::string> LinkNameByMac(const std::array<uint8_t, 6>& mac) {
  char text[18];
  snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
           mac[4], mac[5]);
  std::string what = absl::StrCat("find link with MAC ", text);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  NetlinkRequest req(RTM_GETLINK, NLM_F_DUMP, ifi);
  std::string found;
  long rc = req.Exchange([&](const nlmsghdr& h) {
    if (h.nlmsg_type != RTM_NEWLINK || !found.empty()) return;
    int left = static_cast<int>(IFLA_PAYLOAD(&h));
    bool match = false;
    std::string name;
    for (auto* rta = IFLA_RTA(NLMSG_DATA(&h)); RTA_OK(rta, left); rta = RTA_NEXT(rta, left)) {
      if (rta->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(rta) == mac.size())
        match = memcmp(RTA_DATA(rta), mac.data(), mac.size()) == 0;
      else if (rta->rta_type == IFLA_IFNAME)
        name = static_cast<const char*>(RTA_DATA(rta));  // the kernel puts the NUL in
    }
    if (match) found = name;
  });
  if (rc < 0) return Failed(rc, what);
  if (found.empty()) return absl::NotFoundError(absl::StrCat(what, ": no link has it"));
  return found;
}

// ---------------------------------------------------------------------
// Addresses and routes
// ---------------------------------------------------------------------

absl::Status AddAddress(std::string_view ifname, std::string_view cidr) {
  std::string what = absl::StrCat("add address ", Av(cidr), " to ", Av(ifname));
  absl::StatusOr<IpPrefix> prefix = ParseIpPrefix(cidr);
  if (!prefix.ok()) return Invalid(what, prefix.status().message());
  absl::StatusOr<int> index = IndexOf(ifname, what);
  if (!index.ok()) return index.status();

  if (long rc = AddressRequest(true, *prefix, *index).Exchange(); rc < 0)
    return Failed(rc, what);
  return absl::OkStatus();
}

absl::Status AddRoute(std::string_view dest, std::string_view via, std::string_view ifname,
                      uint32_t table) {
  std::string what = absl::StrCat("add route ", Av(dest));
  if (!via.empty()) absl::StrAppend(&what, " via ", Av(via));
  if (!ifname.empty()) absl::StrAppend(&what, " dev ", Av(ifname));
  if (table != 0) absl::StrAppend(&what, " table ", table);
  if (via.empty() && ifname.empty()) return Invalid(what, "needs a gateway or a link");

  std::optional<IpPrefix> gateway;
  if (!via.empty()) {
    absl::StatusOr<IpPrefix> parsed = ParseIpPrefix(via, PrefixLength::kRefused);
    if (!parsed.ok()) return Invalid(what, parsed.status().message());
    gateway = *parsed;
  }
  IpPrefix to;
  if (dest == "default") {
    to.family = gateway ? gateway->family : AF_INET;
    to.length = 0;
  } else {
    absl::StatusOr<IpPrefix> parsed = ParseIpPrefix(dest);
    if (!parsed.ok()) return Invalid(what, parsed.status().message());
    to = *parsed;
    if (to.HostBitsSet()) {
      return Invalid(what,
                     absl::StrCat("'", Av(dest), "' has bits set past its /", to.length, " prefix"));
    }
  }
  if (gateway && gateway->family != to.family)
    return Invalid(what, "the gateway and the destination are of different families");

  rtmsg rt{};
  rt.rtm_family = to.family;
  rt.rtm_dst_len = to.length;
  // The 8-bit field holds the classic table ids; larger ones need
  // RTA_TABLE, which the kernel takes over the field.
  rt.rtm_table = table == 0 ? RT_TABLE_MAIN : table < 256 ? table : RT_TABLE_UNSPEC;
  rt.rtm_protocol = RTPROT_STATIC;
  // An IPv4 route without a gateway reaches hosts on the link itself.
  // IPv6 routes have no scopes: "universe", as ip(8) sends.
  rt.rtm_scope = to.family == AF_INET && !gateway ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  NetlinkRequest req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, rt);
  if (to.length > 0) req.AddAttr(RTA_DST, to.addr, to.size());
  if (gateway) req.AddAttr(RTA_GATEWAY, gateway->addr, gateway->size());
  if (!ifname.empty()) {
    absl::StatusOr<int> index = IndexOf(ifname, what);
    if (!index.ok()) return index.status();
    req.AddU32(RTA_OIF, *index);
  }
  if (table >= 256) req.AddU32(RTA_TABLE, table);
  if (long rc = req.Exchange(); rc < 0) return Failed(rc, what);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------
// Sysctls
// ---------------------------------------------------------------------

absl::Status SetSysctl(std::string_view name, std::string_view value) {
  std::string what = absl::StrCat("set sysctl ", Av(name), " to '", Av(value), "'");
  absl::StatusOr<std::string> path = SysctlPath(name);
  if (!path.ok()) return Invalid(what, path.status().message());
  KernelFd fd(Sys(LKD_NR_openat, kAtFdCwd, path->c_str(), O_WRONLY | O_CLOEXEC, 0));
  if (fd.get() == -ENOENT) return absl::NotFoundError(absl::StrCat(what, ": no such sysctl"));
  if (!fd.ok()) return Failed(fd.get(), what);
  // A sysctl takes its value in one write, and judges it there: a bad
  // value is EINVAL from write, not from open.
  long n = Sys(LKD_NR_write, fd.get(), value.data(), value.size());
  if (n < 0) return Failed(n, what);
  if (static_cast<size_t>(n) != value.size())
    return absl::DataLossError(absl::StrCat(what, ": the kernel took only ", n, " bytes"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetSysctl(std::string_view name) {
  std::string what = absl::StrCat("get sysctl ", Av(name));
  absl::StatusOr<std::string> path = SysctlPath(name);
  if (!path.ok()) return Invalid(what, path.status().message());
  std::string value;
  long rc = ReadKernelFile(*path, &value);
  if (rc == -ENOENT) return absl::NotFoundError(absl::StrCat(what, ": no such sysctl"));
  if (rc < 0) return Failed(rc, what);
  if (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

namespace {

// The sysctl(8) name of a path below /proc/sys/.
std::string SysctlName(std::string_view relative) {
  std::string name(relative);
  for (char& c : name) c = c == '/' ? '.' : c == '.' ? '/' : c;
  return name;
}

// Appends the readable sysctls at or below /proc/sys/`relative`: 0 or the
// -errno of the top entry.
long WalkSysctls(const std::string& relative,
                 std::vector<std::pair<std::string, std::string>>* out) {
  const std::string path = "/proc/sys/" + relative;
  std::vector<std::string> names;
  long rc = ListKernelDir(path, &names);
  if (rc == -ENOTDIR) {
    std::string value;
    rc = ReadKernelFile(path, &value);
    if (rc < 0) return rc;
    if (!value.empty() && value.back() == '\n') value.pop_back();
    out->emplace_back(SysctlName(relative), std::move(value));
    return 0;
  }
  if (rc < 0) return rc;
  std::sort(names.begin(), names.end());
  for (const std::string& n : names)
    WalkSysctls(relative.empty() ? n : relative + "/" + n, out);  // unreadable: left out
  return 0;
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ListSysctls(
    std::string_view prefix) {
  std::string what = absl::StrCat("list sysctls '", Av(prefix), "'");
  std::string relative;
  if (!prefix.empty()) {
    absl::StatusOr<std::string> path = SysctlPath(prefix);
    if (!path.ok()) return Invalid(what, path.status().message());
    relative = path->substr(strlen("/proc/sys/"));
  }
  std::vector<std::pair<std::string, std::string>> out;
  long rc = WalkSysctls(relative, &out);
  if (rc == -ENOENT) return WithErrno(absl::NotFoundError(absl::StrCat(what, ": no such sysctl")), ENOENT);
  if (rc < 0 && out.empty()) return Failed(rc, what);
  return out;
}

// ---------------------------------------------------------------------
// File systems
// ---------------------------------------------------------------------

absl::StatusOr<std::vector<std::string>> ListDirectory(std::string_view path) {
  std::vector<std::string> names;
  long rc = ListKernelDir(std::string(path), &names);
  if (rc < 0) return Failed(rc, absl::StrCat("list ", Av(path)));
  return names;
}

absl::Status MountDevtmpfs() {
  absl::StatusOr<bool> mounted = IsMounted("/dev", "devtmpfs");
  if (mounted.ok() && *mounted) return absl::OkStatus();
  const std::string what = "mount devtmpfs on /dev as devtmpfs";
  if (absl::Status s = MkdirAll("/dev"); !s.ok())
    return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  long rc = Sys(LKD_NR_mount, "devtmpfs", "/dev", "devtmpfs", 0, nullptr);
  // Without /proc there is no list to look in. devtmpfs has a single
  // superblock, and mount(2) answers EBUSY exactly when that superblock
  // already is the top mount on /dev: it was mounted there before.
  if (rc == -EBUSY && !mounted.ok()) return absl::OkStatus();
  if (rc < 0) return MountError(rc, what, "devtmpfs", "devtmpfs");
  return absl::OkStatus();
}

absl::StatusOr<std::string> DiskBySerial(std::string_view serial) {
  std::string what = absl::StrCat("find disk with serial '", Av(serial), "'");
  std::vector<std::string> disks;
  long rc = ListKernelDir("/sys/block", &disks);
  if (rc == -ENOENT)
    return absl::FailedPreconditionError(absl::StrCat(what, ": no /sys/block; mount sysfs first"));
  if (rc < 0) return Failed(rc, what);
  for (const std::string& disk : disks) {
    // Only virtio disks have this attribute; others are skipped.
    std::string id;
    if (ReadKernelFile(absl::StrCat("/sys/block/", disk, "/serial"), &id) < 0) continue;
    // The device pads its 20-byte id with NULs and the kernel stops at the
    // first; strip a newline too, should a driver add one.
    while (!id.empty() && (id.back() == '\n' || id.back() == '\0')) id.pop_back();
    if (id == serial) return absl::StrCat("/dev/", disk);
  }
  return absl::NotFoundError(absl::StrCat(what, ": no disk has it"));
}

absl::Status Mount(std::string_view source, std::string_view target, std::string_view fstype,
                   bool read_only, std::string_view data) {
  std::string src(source), dst(target), type(fstype), options(data);
  std::string what = absl::StrCat("mount ", src, " on ", dst, " as ", type);
  if (read_only) absl::StrAppend(&what, " (read-only)");
  if (!target.starts_with('/')) return Invalid(what, "the mount point must be an absolute path");
  if (absl::Status s = MkdirAll(target); !s.ok())
    return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  long rc = Sys(LKD_NR_mount, src.c_str(), dst.c_str(), type.c_str(),
                read_only ? MS_RDONLY : 0, options.empty() ? nullptr : options.c_str());
  if (rc < 0) return MountError(rc, what, src, type);
  return absl::OkStatus();
}

absl::Status Unmount(std::string_view target) {
  std::string path(target);
  std::string what = absl::StrCat("unmount ", path);
  long rc = Sys(LKD_NR_umount2, path.c_str(), 0);
  if (rc >= 0) return absl::OkStatus();
  switch (-rc) {
    case EINVAL:
      return Explained(rc, what, "not a mount point");
    case EBUSY:
      return Explained(rc, what, "busy: files open on it or file systems mounted below it");
    default:
      return Failed(rc, what);
  }
}

absl::Status SetUpBase() {
  absl::Status status = Mount("proc", "/proc", "proc", false);
  if (status.ok()) status = Mount("sysfs", "/sys", "sysfs", false);
  if (status.ok()) status = MountDevtmpfs();
  if (status.ok()) status = Mount("tmpfs", "/tmp", "tmpfs", false);
  if (status.ok()) status = LinkUp("lo");
  return status;
}

}  // namespace lkd::setup
