// SPDX-License-Identifier: GPL-2.0
#include "kernel/setup/setup.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "lkd/kernel.h"
#include "lkd/sysnr.h"

namespace lkd::setup {
namespace {

constexpr int kAtFdCwd = -100;

template <typename... Args>
long Sys(long nr, Args... args) {
  long a[6] = {(long)(args)...};
  return lkd_syscall(nr, a);
}

// "Operation not permitted (EPERM)"-style text for -rc.
std::string ErrnoText(long rc) {
  int err = static_cast<int>(-rc);
  const char* name = strerrorname_np(err);
  return absl::StrCat(strerror(err), " (", name ? name : "?", ")");
}

absl::Status Failed(long rc, absl::string_view what) {
  return absl::Status(absl::ErrnoToStatus(static_cast<int>(-rc), "").code(),
                      absl::StrCat(what, ": ", ErrnoText(rc)));
}

// A kernel fd closed on scope exit.
class KernelFd {
 public:
  explicit KernelFd(long fd) : fd_(fd) {}
  ~KernelFd() {
    if (fd_ >= 0) Sys(LKD_NR_close, fd_);
  }
  KernelFd(const KernelFd&) = delete;
  KernelFd& operator=(const KernelFd&) = delete;
  long get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  long fd_;
};

absl::Status IfreqCall(absl::string_view ifname, unsigned long request,
                       ifreq* ifr, absl::string_view what) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ)
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": bad interface name '", ifname, "'"));
  KernelFd fd(Sys(LKD_NR_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return Failed(fd.get(), absl::StrCat(what, ": socket"));
  memcpy(ifr->ifr_name, ifname.data(), ifname.size());
  long rc = Sys(LKD_NR_ioctl, fd.get(), request, ifr);
  if (rc == -ENODEV)
    return absl::NotFoundError(
        absl::StrCat(what, ": no interface '", ifname, "'"));
  if (rc < 0) return Failed(rc, what);
  return absl::OkStatus();
}

absl::Status SetFlag(absl::string_view ifname, bool up) {
  std::string what = absl::StrCat("set ", ifname, up ? " up" : " down");
  ifreq ifr{};
  if (absl::Status s = IfreqCall(ifname, SIOCGIFFLAGS, &ifr, what); !s.ok())
    return s;
  if (up)
    ifr.ifr_flags |= IFF_UP;
  else
    ifr.ifr_flags &= ~IFF_UP;
  ifreq set{};
  set.ifr_flags = ifr.ifr_flags;
  return IfreqCall(ifname, SIOCSIFFLAGS, &set, what);
}

// An IP prefix parsed from "addr/len" (len optional: full length).
struct Prefix {
  int family = 0;
  uint8_t addr[16] = {};
  int length = 0;
  size_t addr_len() const { return family == AF_INET ? 4 : 16; }
};

absl::StatusOr<Prefix> ParseAddress(absl::string_view text, bool need_length) {
  Prefix p;
  std::pair<std::string, std::string> parts =
      absl::StrSplit(text, absl::MaxSplits('/', 1));
  if (inet_pton(AF_INET, parts.first.c_str(), p.addr) == 1) {
    p.family = AF_INET;
  } else if (inet_pton(AF_INET6, parts.first.c_str(), p.addr) == 1) {
    p.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not an IPv4 or IPv6 address"));
  }
  int max = p.family == AF_INET ? 32 : 128;
  p.length = max;
  if (!parts.second.empty()) {
    if (!absl::SimpleAtoi(parts.second, &p.length) || p.length < 0 ||
        p.length > max)
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "': prefix length must be 0..", max));
  } else if (need_length && text.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': missing prefix length"));
  }
  return p;
}

// An rtnetlink request: header, family message, attributes.
class NetlinkRequest {
 public:
  NetlinkRequest(uint16_t type, uint16_t flags, const void* body,
                 size_t body_len)
      : buf_(NLMSG_SPACE(body_len), 0) {
    auto* hdr = reinterpret_cast<nlmsghdr*>(buf_.data());
    hdr->nlmsg_type = type;
    hdr->nlmsg_flags = flags | NLM_F_REQUEST | NLM_F_ACK;
    hdr->nlmsg_seq = 1;
    memcpy(NLMSG_DATA(hdr), body, body_len);
    hdr->nlmsg_len = NLMSG_LENGTH(body_len);
  }
  void AddAttr(uint16_t type, const void* data, size_t len) {
    size_t offset = NLMSG_ALIGN(header()->nlmsg_len);
    buf_.resize(offset + RTA_SPACE(len), 0);
    auto* rta = reinterpret_cast<rtattr*>(buf_.data() + offset);
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
    header()->nlmsg_len = offset + RTA_LENGTH(len);
  }
  void AddU32(uint16_t type, uint32_t value) {
    AddAttr(type, &value, sizeof(value));
  }
  // Sends the request and returns the kernel's answer (0 or -errno).
  long Run() {
    KernelFd fd(
        Sys(LKD_NR_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd.ok()) return fd.get();
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    long rc = Sys(LKD_NR_sendto, fd.get(), buf_.data(), header()->nlmsg_len, 0,
                  &kernel, sizeof(kernel));
    if (rc < 0) return rc;
    alignas(nlmsghdr) char reply[4096];
    for (;;) {
      long n = Sys(LKD_NR_recvfrom, fd.get(), reply, sizeof(reply), 0, nullptr,
                   nullptr);
      if (n < 0) return n;
      for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, n);
           h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type == NLMSG_ERROR)
          return reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
        if (h->nlmsg_type == NLMSG_DONE) return 0;
      }
    }
  }

 private:
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  std::vector<char> buf_;
};

std::string SysctlPath(absl::string_view name) {
  if (absl::StartsWith(name, "/proc/sys/")) return std::string(name);
  return absl::StrCat("/proc/sys/", absl::StrReplaceAll(name, {{".", "/"}}));
}

absl::StatusOr<std::string> ReadKernelFile(const std::string& path) {
  KernelFd fd(Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_RDONLY | O_CLOEXEC, 0));
  if (fd.get() == -ENOENT) return absl::NotFoundError(path + ": no such file");
  if (!fd.ok()) return Failed(fd.get(), "open " + path);
  std::string data;
  char buf[4096];
  long n;
  while ((n = Sys(LKD_NR_read, fd.get(), buf, sizeof(buf))) > 0)
    data.append(buf, n);
  if (n < 0) return Failed(n, "read " + path);
  return data;
}

// Names in a kernel directory (getdents64), without "." and "..".
absl::StatusOr<std::vector<std::string>> ListKernelDir(const std::string& path) {
  KernelFd fd(Sys(LKD_NR_openat, kAtFdCwd, path.c_str(),
                  O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (!fd.ok()) return Failed(fd.get(), "open " + path);
  std::vector<std::string> names;
  alignas(8) char buf[8192];
  long n;
  while ((n = Sys(LKD_NR_getdents64, fd.get(), buf, sizeof(buf))) > 0) {
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name
      uint16_t reclen;
      memcpy(&reclen, buf + off + 16, sizeof(reclen));
      std::string name(buf + off + 19);
      if (name != "." && name != "..") names.push_back(name);
      off += reclen;
    }
  }
  if (n < 0) return Failed(n, "getdents " + path);
  return names;
}

absl::Status MkdirAll(absl::string_view path) {
  std::string sofar;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    absl::StrAppend(&sofar, "/", part);
    long rc = Sys(LKD_NR_mkdirat, kAtFdCwd, sofar.c_str(), 0755);
    if (rc < 0 && rc != -EEXIST) return Failed(rc, "mkdir " + sofar);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LinkUp(absl::string_view ifname) { return SetFlag(ifname, true); }
absl::Status LinkDown(absl::string_view ifname) { return SetFlag(ifname, false); }

absl::Status SetMtu(absl::string_view ifname, int mtu) {
  ifreq ifr{};
  ifr.ifr_mtu = mtu;
  return IfreqCall(ifname, SIOCSIFMTU, &ifr,
                   absl::StrCat("set mtu ", mtu, " on ", ifname));
}

absl::StatusOr<int> LinkIndex(absl::string_view ifname) {
  ifreq ifr{};
  if (absl::Status s = IfreqCall(ifname, SIOCGIFINDEX, &ifr,
                                 absl::StrCat("index of ", ifname));
      !s.ok())
    return s;
  return ifr.ifr_ifindex;
}

absl::StatusOr<std::string> LinkNameByMac(const std::array<uint8_t, 6>& mac) {
  KernelFd fd(Sys(LKD_NR_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.ok()) return Failed(fd.get(), "socket");
  // Interface indexes are small and dense in a kernel lkd configures.
  for (int index = 1; index < 4096; index++) {
    ifreq ifr{};
    ifr.ifr_ifindex = index;
    if (Sys(LKD_NR_ioctl, fd.get(), SIOCGIFNAME, &ifr) < 0) continue;
    if (Sys(LKD_NR_ioctl, fd.get(), SIOCGIFHWADDR, &ifr) < 0) continue;
    if (ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER &&
        memcmp(ifr.ifr_hwaddr.sa_data, mac.data(), 6) == 0)
      return std::string(ifr.ifr_name);
  }
  char text[18];
  snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
           mac[2], mac[3], mac[4], mac[5]);
  return absl::NotFoundError(absl::StrCat("no interface has MAC ", text));
}

absl::Status AddAddress(absl::string_view ifname, absl::string_view cidr) {
  std::string what = absl::StrCat("add address ", cidr, " to ", ifname);
  absl::StatusOr<Prefix> prefix = ParseAddress(cidr, true);
  if (!prefix.ok())
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", prefix.status().message()));
  absl::StatusOr<int> index = LinkIndex(ifname);
  if (!index.ok()) return index.status();
  ifaddrmsg ifa{};
  ifa.ifa_family = prefix->family;
  ifa.ifa_prefixlen = prefix->length;
  ifa.ifa_index = *index;
  ifa.ifa_flags = prefix->family == AF_INET6 ? IFA_F_NODAD : 0;
  NetlinkRequest req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
  req.AddAttr(IFA_LOCAL, prefix->addr, prefix->addr_len());
  req.AddAttr(IFA_ADDRESS, prefix->addr, prefix->addr_len());
  if (prefix->family == AF_INET && prefix->length < 31) {
    uint32_t addr;
    memcpy(&addr, prefix->addr, 4);
    uint32_t host_mask = prefix->length == 0 ? ~0u : (1u << (32 - prefix->length)) - 1;
    uint32_t broadcast = addr | htonl(host_mask);
    req.AddAttr(IFA_BROADCAST, &broadcast, 4);
  }
  long rc = req.Run();
  return rc < 0 ? Failed(rc, what) : absl::OkStatus();
}

absl::Status AddRoute(absl::string_view dest, absl::string_view via,
                      absl::string_view ifname, uint32_t table) {
  std::string what = absl::StrCat("add route ", dest,
                                  via.empty() ? "" : " via ", via,
                                  ifname.empty() ? "" : " dev ", ifname);
  if (via.empty() && ifname.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": needs a gateway or an interface"));
  Prefix to;
  bool is_default = dest == "default";
  absl::StatusOr<Prefix> gateway;
  if (!via.empty()) {
    gateway = ParseAddress(via, false);
    if (!gateway.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", gateway.status().message()));
  }
  if (is_default) {
    to.family = gateway.ok() && !via.empty() ? gateway->family : AF_INET;
    to.length = 0;
  } else {
    absl::StatusOr<Prefix> parsed = ParseAddress(dest, true);
    if (!parsed.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", parsed.status().message()));
    to = *parsed;
  }
  if (!via.empty() && gateway->family != to.family)
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": gateway and destination families differ"));
  rtmsg rt{};
  rt.rtm_family = to.family;
  rt.rtm_dst_len = to.length;
  rt.rtm_table = table < 256 && table != 0 ? table : RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_STATIC;
  rt.rtm_scope = via.empty() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  NetlinkRequest req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
  if (to.length > 0) req.AddAttr(RTA_DST, to.addr, to.addr_len());
  if (!via.empty()) req.AddAttr(RTA_GATEWAY, gateway->addr, gateway->addr_len());
  if (!ifname.empty()) {
    absl::StatusOr<int> index = LinkIndex(ifname);
    if (!index.ok()) return index.status();
    req.AddU32(RTA_OIF, *index);
  }
  if (table >= 256) req.AddU32(RTA_TABLE, table);
  long rc = req.Run();
  return rc < 0 ? Failed(rc, what) : absl::OkStatus();
}

absl::Status SetSysctl(absl::string_view name, absl::string_view value) {
  std::string path = SysctlPath(name);
  std::string what = absl::StrCat("sysctl ", name, "=", value);
  KernelFd fd(Sys(LKD_NR_openat, kAtFdCwd, path.c_str(), O_WRONLY | O_CLOEXEC, 0));
  if (fd.get() == -ENOENT)
    return absl::NotFoundError(absl::StrCat(what, ": no such sysctl"));
  if (!fd.ok()) return Failed(fd.get(), what);
  long n = Sys(LKD_NR_write, fd.get(), value.data(), value.size());
  if (n < 0) return Failed(n, what);
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetSysctl(absl::string_view name) {
  absl::StatusOr<std::string> value = ReadKernelFile(SysctlPath(name));
  if (!value.ok() && value.status().code() == absl::StatusCode::kNotFound)
    return absl::NotFoundError(absl::StrCat("sysctl ", name, ": no such sysctl"));
  if (value.ok() && !value->empty() && value->back() == '\n') value->pop_back();
  return value;
}

absl::Status MountDevtmpfs() {
  absl::StatusOr<std::string> mounts = ReadKernelFile("/proc/mounts");
  if (mounts.ok() && mounts->find(" /dev devtmpfs ") != std::string::npos)
    return absl::OkStatus();
  return Mount("devtmpfs", "/dev", "devtmpfs", false);
}

absl::StatusOr<std::string> DiskBySerial(absl::string_view serial) {
  absl::StatusOr<std::vector<std::string>> disks = ListKernelDir("/sys/block");
  if (!disks.ok()) return disks.status();
  for (const std::string& disk : *disks) {
    absl::StatusOr<std::string> id =
        ReadKernelFile(absl::StrCat("/sys/block/", disk, "/serial"));
    if (!id.ok()) continue;
    while (!id->empty() && (id->back() == '\n' || id->back() == '\0'))
      id->pop_back();
    if (*id == serial) return absl::StrCat("/dev/", disk);
  }
  return absl::NotFoundError(absl::StrCat("no disk has serial '", serial, "'"));
}

absl::Status Mount(absl::string_view source, absl::string_view target,
                   absl::string_view fstype, bool read_only,
                   absl::string_view data) {
  std::string what = absl::StrCat("mount ", source, " on ", target, " as ",
                                  fstype, read_only ? " (read-only)" : "");
  if (absl::Status s = MkdirAll(target); !s.ok()) return s;
  std::string src(source), dst(target), type(fstype), options(data);
  long rc = Sys(LKD_NR_mount, src.c_str(), dst.c_str(), type.c_str(),
                read_only ? MS_RDONLY : 0,
                options.empty() ? nullptr : options.c_str());
  if (rc >= 0) return absl::OkStatus();
  const char* why = nullptr;
  switch (-rc) {
    case EINVAL:
      why = "not a valid file system of that type, or bad options";
      break;
    case ENODEV:
      why = "the kernel has no such file system type";
      break;
    case ENOTBLK:
      why = "the source is not a block device";
      break;
    case ENOENT:
      why = "no such device or mount point";
      break;
    case EACCES:
    case EROFS:
      why = "the device is read-only (mount it read-only)";
      break;
    case EBUSY:
      why = "already mounted or busy";
      break;
  }
  if (why)
    return absl::Status(Failed(rc, what).code(),
                        absl::StrCat(what, ": ", why, " (", ErrnoText(rc), ")"));
  return Failed(rc, what);
}

absl::Status Unmount(absl::string_view target) {
  std::string path(target);
  long rc = Sys(LKD_NR_umount2, path.c_str(), 0);
  return rc < 0 ? Failed(rc, "unmount " + path) : absl::OkStatus();
}

}  // namespace lkd::setup
