// SPDX-License-Identifier: GPL-2.0
// Writes the seed corpus of request_decoder_fuzzer into a directory: one
// well-formed request per served call, laid out from its table entry (so a
// call added to the table gets its seed), and a few by hand for what the
// table does not say: NULLs, the fcntl/ioctl commands, a stale and an
// unserved request. libFuzzer mutates from these, so the search starts on
// the success paths instead of having to find them.
//
// Built from the same headers as the fuzzer (fuzz_input.h, the request
// struct, LKD_NR_*), so the seeds follow any change of layout or numbers.
// Usage: write_seeds DIR
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "lkd/sysnr.h"
#include "schema/lkd_channel.h"
#include "schema/lkd_syscalls.h"
#include "server/channel/fuzz/fuzz_input.h"

namespace lkd::server::fuzz {
namespace {

constexpr uint32_t kGeneration = 7;
constexpr uint32_t kDataSize = 4096;

// A request under construction, with the data area it refers to.
class Seed {
 public:
  explicit Seed(uint32_t nr) : data_(kDataSize, 'x') {
    request_.generation = kGeneration;
    request_.nr = nr;
  }
  Seed& Val(int i, uint64_t value) {
    request_.args[i] = value;
    return *this;
  }
  Seed& Region(int i, uint32_t offset, uint32_t len) {
    request_.args[i] = offset;
    request_.lens[i] = len;
    return *this;
  }
  Seed& Null(int i) {
    request_.args[i] = LKD_CHANNEL_NULL;
    return *this;
  }
  // A NUL-terminated path at `offset`, its region exactly the string.
  Seed& Path(int i, uint32_t offset, const std::string& path) {
    memcpy(&data_[offset], path.c_str(), path.size() + 1);
    Wrote(offset + path.size() + 1);
    return Region(i, offset, static_cast<uint32_t>(path.size() + 1));
  }
  // A u32 length (socklen_t) at `offset`, which argument i points to.
  Seed& Length(int i, uint32_t offset, uint32_t value) {
    memcpy(&data_[offset], &value, sizeof(value));
    Wrote(offset + sizeof(value));
    return Region(i, offset, sizeof(value));
  }
  // Raw bytes at `offset` (a struct the call points to).
  Seed& Raw(uint32_t offset, const void* bytes, size_t n) {
    memcpy(&data_[offset], bytes, n);
    Wrote(offset + n);
    return *this;
  }
  Seed& Flags(uint8_t flags) {
    flags_ = flags;
    return *this;
  }
  // Only the data area's bytes up to the last one written go into the seed
  // (the rest of the area is zero in the fuzzer): short seeds mutate faster.
  std::vector<uint8_t> Bytes() const {
    std::vector<uint8_t> prefix(data_.begin(), data_.begin() + written_);
    return SerializeFuzzInput(flags_, kDataSize, request_, prefix);
  }

 private:
  void Wrote(size_t end) { written_ = std::max(written_, end); }

  uint8_t flags_ = 0;
  size_t written_ = 0;
  lkd_channel_request request_{};
  std::vector<uint8_t> data_;
};

constexpr int64_t kAtFdCwd = -100;

// A request the table says is well-formed: each pointer gets its own
// region, as large as its size rule asks for small sizes (a size argument
// of 16, or 2 elements); values not used as sizes are 0.
Seed FromTable(const lkd_syscall_desc& desc) {
  Seed seed(static_cast<uint32_t>(desc.nr));
  bool is_length[6] = {};
  for (const lkd_arg_desc& a : desc.args)
    if (a.size_rule == LKD_SIZE_AT_PTR) is_length[a.param] = true;
  uint32_t next = 0;
  for (int i = 0; i < 6; i++) {
    const lkd_arg_desc& a = desc.args[i];
    uint32_t size = 0;
    switch (a.kind) {
      case LKD_ARG_PATH:
        seed.Path(i, next, "p");
        next += 64;
        continue;
      case LKD_ARG_MSGHDR:
      case LKD_ARG_MSGHDR_IN: {
        // The header, then an address, data and control buffer after it.
        lkd_channel_msghdr h = {};
        h.name = next + 64;
        h.namelen = 16;
        h.data = next + 128;
        h.datalen = 64;
        h.control = next + 256;
        h.controllen = 64;
        seed.Raw(next, &h, sizeof(h)).Region(i, next, sizeof(h));
        next += 384;
        continue;
      }
      case LKD_ARG_IN:
      case LKD_ARG_OUT:
      case LKD_ARG_INOUT:
        break;
      default:
        continue;
    }
    switch (a.size_rule) {
      case LKD_SIZE_FIXED:
        size = a.scale;
        break;
      case LKD_SIZE_ARG:
      case LKD_SIZE_ARG_MAX:
        size = 16;
        seed.Val(a.param, size);
        break;
      case LKD_SIZE_ARG_TIMES:
        size = 2u * a.scale;
        seed.Val(a.param, 2);
        break;
      case LKD_SIZE_AT_PTR:
        size = 16;
        seed.Length(a.param, next, size);
        next += 64;
        break;
    }
    if (!is_length[i]) seed.Region(i, next, size);
    next += (size + 63) / 64 * 64 + 64;
  }
  return seed;
}

// sendmsg with one control message (level, type, an int) in its control
// buffer: the decoder's walk of the private copy starts from here.
Seed SendmsgWith(int level, int type) {
  lkd_channel_msghdr h = {};
  h.name = 64;
  h.namelen = 16;
  h.data = 128;
  h.datalen = 32;
  h.control = 256;
  h.controllen = CMSG_SPACE(sizeof(int));
  cmsghdr c = {};
  c.cmsg_len = CMSG_LEN(sizeof(int));
  c.cmsg_level = level;
  c.cmsg_type = type;
  const int value = 0x10;
  return Seed(LKD_NR_sendmsg)
      .Val(0, 3)
      .Raw(0, &h, sizeof(h))
      .Region(1, 0, sizeof(h))
      .Raw(256, &c, sizeof(c))
      .Raw(256 + CMSG_LEN(0), &value, sizeof(value))
      .Val(2, 0);
}

// SIOCGIFCONF's header: a buffer of two struct ifreq after it.
constexpr lkd_channel_ifconf kIfconfSeed = {64, 80, 0};

// A batch of two (the fuzzer decodes every input as a batch too): getpid,
// then epoll_ctl with its event at 400; the results at 256.
Seed BatchSeed() {
  const lkd_channel_subcall subs[2] = {
      {LKD_NR_getpid, 0, {}, {}},
      {LKD_NR_epoll_ctl, 0, {5, 1, 6, 400}, {0, 0, 0, 12}},
  };
  return Seed(LKD_NR_getpid)
      .Raw(0, subs, sizeof(subs))
      .Region(0, 0, sizeof(subs))
      .Val(1, 2)
      .Region(2, 256, 16)
      .Raw(400, "eventsdata..", 12);
}

struct NamedSeed {
  std::string name;
  Seed seed;
};

std::vector<NamedSeed> Seeds() {
  std::vector<NamedSeed> seeds;
  for (unsigned i = 0; i < lkd_syscall_table_size; i++)
    seeds.push_back({"table_" + std::string(lkd_syscall_table[i].name),
                     FromTable(lkd_syscall_table[i])});
  std::vector<NamedSeed> by_hand = {
      {"write", Seed(LKD_NR_write).Val(0, 3).Region(1, 100, 50).Val(2, 50)},
      {"openat", Seed(LKD_NR_openat).Val(0, static_cast<uint64_t>(kAtFdCwd))
                     .Path(1, 10, "/tmp/lkd-seed").Val(2, 0102).Val(3, 0600)},
      {"renameat", Seed(LKD_NR_renameat).Val(0, static_cast<uint64_t>(kAtFdCwd))
                       .Path(1, 0, "a").Val(2, static_cast<uint64_t>(kAtFdCwd))
                       .Path(3, 64, "b/c")},
      {"statx", Seed(LKD_NR_statx).Val(0, static_cast<uint64_t>(kAtFdCwd))
                    .Path(1, 0, "/").Val(2, 0).Val(3, 0x7ff).Region(4, 256, 256)},
      {"accept4", Seed(LKD_NR_accept4).Val(0, 4).Region(1, 0, 16).Length(2, 64, 16).Val(3, 0)},
      {"accept4_null", Seed(LKD_NR_accept4).Val(0, 4).Null(1).Null(2).Val(3, 0)},
      {"getsockname", Seed(LKD_NR_getsockname).Val(0, 4).Length(2, 0, 128).Region(1, 4, 128)},
      {"getsockopt", Seed(LKD_NR_getsockopt).Val(0, 4).Val(1, 1).Val(2, 7)
                         .Region(3, 0, 8).Length(4, 100, 8)},
      {"recvfrom", Seed(LKD_NR_recvfrom).Val(0, 4).Region(1, 0, 32).Val(2, 32).Val(3, 0)
                       .Region(4, 64, 128).Length(5, 200, 128)},
      {"sendto_null", Seed(LKD_NR_sendto).Val(0, 4).Region(1, 0, 32).Val(2, 32).Val(3, 0)
                          .Null(4).Val(5, 0)},
      {"ppoll", Seed(LKD_NR_ppoll).Region(0, 0, 16).Val(1, 2).Region(2, 16, 16).Null(3)
                    .Val(4, 8)},
      {"epoll_pwait", Seed(LKD_NR_epoll_pwait).Val(0, 5).Region(1, 0, 120).Val(2, 10)
                          .Val(3, 0).Null(4).Val(5, 8)},
      {"fcntl_getfl", Seed(LKD_NR_fcntl).Val(0, 3).Val(1, 3).Val(2, 0)},
      {"fcntl_getlk", Seed(LKD_NR_fcntl).Val(0, 3).Val(1, 5).Region(2, 0, 32)},
      {"fcntl_ofd_setlk", Seed(LKD_NR_fcntl).Val(0, 3).Val(1, 37).Region(2, 64, 32)},
      {"fcntl_getown_ex", Seed(LKD_NR_fcntl).Val(0, 3).Val(1, 16).Region(2, 0, 8)},
      {"fcntl_getowner_uids", Seed(LKD_NR_fcntl).Val(0, 3).Val(1, 17).Region(2, 0, 8)},
      {"bind_longest", Seed(LKD_NR_bind).Val(0, 3).Region(1, 0, 128).Val(2, 128)},
      {"sendto_len_max", Seed(LKD_NR_sendto).Val(0, 4).Region(1, 0, 1).Val(2, 1).Val(3, 0)
                             .Region(4, 0, 0).Val(5, 0xffffffff)},
      {"ioctl_fionread", Seed(LKD_NR_ioctl).Val(0, 3).Val(1, FIONREAD).Region(2, 0, 4)},
      {"ioctl_siocgifindex",
       Seed(LKD_NR_ioctl).Val(0, 3).Val(1, SIOCGIFINDEX).Region(2, 0, sizeof(ifreq))},
      {"ioctl_siocgifconf", Seed(LKD_NR_ioctl).Val(0, 3).Val(1, SIOCGIFCONF)
                                .Raw(0, &kIfconfSeed, sizeof(kIfconfSeed))
                                .Region(2, 0, sizeof(kIfconfSeed))},
      {"sendmsg_ip_tos", SendmsgWith(IPPROTO_IP, IP_TOS)},
      {"sendmsg_scm_rights", SendmsgWith(SOL_SOCKET, SCM_RIGHTS)},
      {"batch", BatchSeed()},
      {"stale", Seed(LKD_NR_getpid).Flags(kFlagStale)},
      {"not_served", Seed(LKD_NR_execve)},
      {"nr_as_table_index", Seed(0).Flags(kFlagNrIsTableIndex).Val(0, 3).Region(1, 0, 64)
                          .Val(2, 64)},
  };
  seeds.insert(seeds.end(), by_hand.begin(), by_hand.end());
  return seeds;
}

}  // namespace
}  // namespace lkd::server::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  for (const auto& [name, seed] : lkd::server::fuzz::Seeds()) {
    std::string path = std::string(argv[1]) + "/" + name;
    std::vector<uint8_t> bytes = seed.Bytes();
    FILE* f = fopen(path.c_str(), "wb");
    if (!f || fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
        fclose(f) != 0) {
      perror(path.c_str());
      return 1;
    }
  }
  return 0;
}
