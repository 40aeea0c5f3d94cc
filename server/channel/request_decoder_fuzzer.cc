// SPDX-License-Identifier: GPL-2.0
// libFuzzer target for the channel's trust boundary (request_decoder.h):
// whatever a client writes into its request and data area, a successful
// DecodeRequest() only hands the kernel pointers inside that data area (or
// at the DecodedCall's private lengths), each with room for everything the
// table (lkd_syscall_lookup) says the kernel may touch there; a request
// with another generation fails with -ESTALE. A broken promise abort()s
// with a message naming it and the request.
//
// The data area is allocated at exactly its size, and after the checks the
// fuzzer touches every byte the kernel may touch (reads what it reads,
// writes what it writes), so AddressSanitizer confirms the arithmetic.
//
// Paths are the one thing the kernel reads without a size (up to their
// NUL): the decoder hands it a private copy, so a client that rewrites its
// shared data area during the call cannot make the kernel read past it.
// A struct msghdr (recvmsg, sendmsg) is a private copy too, and so is its
// iovec; every buffer they name lies in the data area with room for its
// length, except sendmsg's control messages, which are a private copy
// holding no SCM_RIGHTS (the kernel reads those bytes after the check).
// fcntl's third argument is checked against the kernel's commands as this
// file knows them, not as the table says.
//
// Built with clang and libFuzzer by fuzz/build_fuzzer.sh (the Bazel C++
// toolchain is gcc); run for a bounded number of inputs by
// fuzz/request_decoder_fuzz_test.sh. Input layout: fuzz/fuzz_input.h.
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "lkd/sysnr.h"
#include "schema/lkd_channel.h"
#include "schema/lkd_syscalls.h"
#include "server/channel/fuzz/fuzz_input.h"
#include "server/channel/request_decoder.h"

namespace lkd::server {
namespace {

// Results seen so far, printed at exit: the test checks from them that the
// search reached the success paths of the served calls. (A process-wide
// tally is the only way to see across libFuzzer's calls.)
struct Tally {
  uint64_t inputs = 0;
  uint64_t ok = 0;
  uint64_t estale = 0;
  uint64_t enosys = 0;
  uint64_t efault = 0;
  uint64_t einval = 0;
  uint64_t eperm = 0;
  uint64_t batches = 0;  // batches decoded (CheckBatch)
  std::vector<bool> decoded;  // per lkd_syscall_table index
};
Tally tally;


void PrintTally() {
  unsigned served = 0;
  for (bool d : tally.decoded) served += d;
  fprintf(stderr,
          "request_decoder_fuzzer: %llu inputs: ok=%llu estale=%llu "
          "enosys=%llu efault=%llu einval=%llu eperm=%llu batches=%llu; "
          "served calls decoded: %u of %u\n",
          static_cast<unsigned long long>(tally.inputs),
          static_cast<unsigned long long>(tally.ok),
          static_cast<unsigned long long>(tally.estale),
          static_cast<unsigned long long>(tally.enosys),
          static_cast<unsigned long long>(tally.efault),
          static_cast<unsigned long long>(tally.einval),
          static_cast<unsigned long long>(tally.eperm),
          static_cast<unsigned long long>(tally.batches), served,
          lkd_syscall_table_size);
  for (unsigned i = 0; i < lkd_syscall_table_size; i++)
    if (!tally.decoded[i])
      fprintf(stderr, "request_decoder_fuzzer: never decoded: %s\n",
              lkd_syscall_table[i].name);
}

[[noreturn]] __attribute__((format(printf, 3, 4))) void Violation(
    const lkd_channel_request& r, uint32_t data_size, const char* format, ...) {
  fprintf(stderr, "request_decoder_fuzzer: VIOLATION: ");
  va_list ap;
  va_start(ap, format);
  vfprintf(stderr, format, ap);
  va_end(ap);
  const lkd_syscall_desc* desc = lkd_syscall_lookup(static_cast<int>(r.nr));
  fprintf(stderr, "\n  request: nr=%u (%s) generation=%u data_size=%u\n", r.nr,
          desc ? desc->name : "not served", r.generation, data_size);
  for (int i = 0; i < 6; i++)
    fprintf(stderr, "  args[%d]=0x%llx lens[%d]=%u\n", i,
            static_cast<unsigned long long>(r.args[i]), i, r.lens[i]);
  abort();
}

// For functions with `request` and `data_size` in scope.
#define EXPECT_OR_ABORT(cond, ...)                             \
  do {                                                         \
    if (!(cond)) Violation(request, data_size, __VA_ARGS__);   \
  } while (0)

bool IsPointer(const lkd_arg_desc& a) {
  return a.kind == LKD_ARG_IN || a.kind == LKD_ARG_OUT ||
         a.kind == LKD_ARG_INOUT || a.kind == LKD_ARG_PATH;
}

// What fcntl command `cmd`'s third argument points to, as the kernel
// reads it: 0 for a value, kUnknownPointee for a pointer the decoder must
// never pass on (it cannot know the size).
constexpr uint32_t kUnknownPointee = UINT32_MAX;
// Commands glibc's x86-64 <fcntl.h> does not name with the kernel's
// generic numbers: the 64-bit lock commands of 32-bit kernels
// (asm-generic/fcntl.h) and F_GETOWNER_UIDS (linux/fcntl.h).
constexpr uint64_t kGenericGetlk64 = 12, kGenericSetlk64 = 13, kGenericSetlkw64 = 14;
constexpr uint64_t kGetOwnerUids = 17;
uint32_t FcntlPointee(uint64_t cmd) {
  switch (cmd) {
    case F_GETLK: case F_SETLK: case F_SETLKW:
    case F_OFD_GETLK: case F_OFD_SETLK: case F_OFD_SETLKW:
      return sizeof(struct flock);
    case F_SETOWN_EX: case F_GETOWN_EX:
      return sizeof(struct f_owner_ex);
    case kGenericGetlk64: case kGenericSetlk64: case kGenericSetlkw64:
    case kGetOwnerUids:
    case F_GET_RW_HINT: case F_SET_RW_HINT: case F_GET_FILE_RW_HINT: case F_SET_FILE_RW_HINT:
      return kUnknownPointee;
    default:
      return 0;
  }
}

// What ioctl request `cmd`'s third argument points to, as the kernel reads
// it; kUnknownPointee for a request lkd must refuse; kIfconf for
// SIOCGIFCONF's struct ifconf, which holds a pointer (CheckIfconf).
constexpr uint32_t kIfconf = UINT32_MAX - 1;
uint32_t IoctlPointee(uint64_t cmd) {
  switch (cmd) {
    case FIONREAD: case FIONBIO:
      return sizeof(int);
    case SIOCGIFNAME: case SIOCGIFINDEX: case SIOCGIFFLAGS: case SIOCSIFFLAGS:
    case SIOCGIFADDR: case SIOCSIFADDR: case SIOCGIFNETMASK: case SIOCSIFNETMASK:
    case SIOCGIFBRDADDR: case SIOCSIFBRDADDR: case SIOCGIFMTU: case SIOCSIFMTU:
    case SIOCGIFHWADDR: case SIOCGIFTXQLEN:
      return sizeof(struct ifreq);
    case SIOCGIFCONF:
      return kIfconf;
    default:
      return kUnknownPointee;
  }
}

// Whether [p, p + n) lies in the data area.
bool Inside(const void* p, uint64_t n, const uint8_t* data, uint32_t data_size) {
  const auto* b = static_cast<const uint8_t*>(p);
  return b >= data && b <= data + data_size &&
         n <= static_cast<uint64_t>(data + data_size - b);
}

// Whether some (non-NULL) pointer argument of `call` is sized by the u32
// that argument `k` points to.
bool SizesAnother(const lkd_syscall_desc& desc, const DecodedCall& call, int k) {
  for (int i = 0; i < 6; i++)
    if (desc.args[i].size_rule == LKD_SIZE_AT_PTR && desc.args[i].param == k &&
        call.args[i] != 0)
      return true;
  return false;
}

// A header argument i (msghdr, ifconf) of `size` bytes: the kernel gets
// `copy`, the decoder's private one, and the header's region lies in the
// data area.
void CheckHeaderArgument(const lkd_channel_request& request, const DecodedCall& call, int i,
                         const void* copy, size_t size, uint32_t data_size, const char* what) {
  const uint64_t offset = request.args[i];
  EXPECT_OR_ABORT(call.args[i] == static_cast<long>(reinterpret_cast<uintptr_t>(copy)),
                  "%s argument %d is not the private copy", what, i);
  EXPECT_OR_ABORT(offset <= data_size && request.lens[i] <= data_size - offset &&
                      request.lens[i] >= size,
                  "%s argument %d's region is outside the data area or short", what, i);
}

// Whether `len` bytes of control messages hold SCM_RIGHTS, walked as the
// kernel's CMSG_NXTHDR walks them (written apart from the decoder's walk).
bool ControlHasScmRights(const uint8_t* control, size_t len) {
  msghdr m = {};
  m.msg_control = const_cast<uint8_t*>(control);
  m.msg_controllen = len;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    cmsghdr h;
    memcpy(&h, c, sizeof(h));
    if (h.cmsg_len < sizeof(cmsghdr) ||
        h.cmsg_len > len - (reinterpret_cast<uint8_t*>(c) - control))
      return false;  // the kernel refuses the message here
    if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) return true;
  }
  return false;
}

// LKD_ARG_MSGHDR(_IN) argument i: the kernel gets the private msghdr, built
// from the client's header, naming only regions inside the data area (or
// for sendmsg's control messages, a private copy).
void CheckMsghdr(const lkd_channel_request& request, const DecodedCall& call, int i,
                 const uint8_t* data, uint32_t data_size, bool send) {
  const uint64_t offset = request.args[i];
  CheckHeaderArgument(request, call, i, &call.private_msg, sizeof(lkd_channel_msghdr),
                      data_size, "msghdr");
  if (send)
    EXPECT_OR_ABORT(call.msghdr_arg < 0, "sendmsg's msghdr %d is written back", i);
  else
    EXPECT_OR_ABORT(call.msghdr_arg == i && call.msghdr_offset == offset,
                    "msghdr argument %d is written back to the wrong place", i);
  lkd_channel_msghdr h;
  memcpy(&h, data + offset, sizeof(h));
  const msghdr& m = call.private_msg;
  EXPECT_OR_ABORT(m.msg_iov == &call.private_iov && m.msg_iovlen == 1,
                  "the msghdr's iovec is not the private one");
  EXPECT_OR_ABORT(m.msg_iov[0].iov_base == data + h.data && m.msg_iov[0].iov_len == h.datalen &&
                      Inside(m.msg_iov[0].iov_base, m.msg_iov[0].iov_len, data, data_size),
                  "the msghdr's data buffer is not the client's region in the data area");
  // What the kernel reads of the name: sendmsg cuts it at 128 bytes and
  // reads nothing of one negative as an int.
  const uint64_t name_read =
      !send ? h.namelen : h.namelen > INT32_MAX ? 0 : h.namelen < 128 ? h.namelen : 128;
  if (h.name == LKD_CHANNEL_NULL)
    EXPECT_OR_ABORT(m.msg_name == nullptr && m.msg_namelen == 0, "a NULL name is not NULL");
  else
    EXPECT_OR_ABORT(m.msg_name == data + h.name && m.msg_namelen == h.namelen &&
                        Inside(m.msg_name, name_read, data, data_size),
                    "the msghdr's name is not the client's region in the data area");
  if (h.control == LKD_CHANNEL_NULL) {
    EXPECT_OR_ABORT(m.msg_control == nullptr && m.msg_controllen == 0,
                    "a NULL control buffer is not NULL");
  } else if (send && h.controllen > 0) {
    EXPECT_OR_ABORT(m.msg_control == call.private_control.get() &&
                        m.msg_controllen == h.controllen && h.controllen <= LKD_CHANNEL_CONTROL_MAX,
                    "sendmsg's control messages are not a private copy of their length");
    EXPECT_OR_ABORT(Inside(data + h.control, h.controllen, data, data_size) &&
                        memcmp(m.msg_control, data + h.control, h.controllen) == 0,
                    "sendmsg's control messages differ from the client's region");
    EXPECT_OR_ABORT(!ControlHasScmRights(static_cast<const uint8_t*>(m.msg_control),
                                         m.msg_controllen),
                    "sendmsg passes SCM_RIGHTS to the kernel");
  } else {
    EXPECT_OR_ABORT(m.msg_control == data + h.control && m.msg_controllen == h.controllen &&
                        Inside(m.msg_control, m.msg_controllen, data, data_size),
                    "the msghdr's control buffer is not the client's region in the data area");
  }
}

// LKD_ARG_IFCONF argument i: the kernel gets the private struct ifconf,
// built from the client's header, its buffer inside the data area with
// room for the length the kernel fills.
void CheckIfconf(const lkd_channel_request& request, const DecodedCall& call, int i,
                 const uint8_t* data, uint32_t data_size) {
  const uint64_t offset = request.args[i];
  CheckHeaderArgument(request, call, i, &call.private_ifconf, sizeof(lkd_channel_ifconf),
                      data_size, "ifconf");
  EXPECT_OR_ABORT(call.ifconf_arg == i && call.ifconf_offset == offset,
                  "ifconf argument %d is written back to the wrong place", i);
  lkd_channel_ifconf h;
  memcpy(&h, data + offset, sizeof(h));
  const ifconf& ifc = call.private_ifconf;
  EXPECT_OR_ABORT(ifc.ifc_len == static_cast<int>(h.len), "ifc_len is not the client's");
  if (h.buf == LKD_CHANNEL_NULL)
    EXPECT_OR_ABORT(ifc.ifc_buf == nullptr, "a NULL ifconf buffer is not NULL");
  else
    EXPECT_OR_ABORT(reinterpret_cast<const uint8_t*>(ifc.ifc_buf) == data + h.buf &&
                        Inside(ifc.ifc_buf, ifc.ifc_len < 0 ? 0 : ifc.ifc_len, data, data_size),
                    "the ifconf buffer is not the client's region in the data area");
}

// Checks every promise of a successful decode, then plays the kernel:
// touches what it may touch, writes the private lengths back, and checks
// that FinishCall() writes exactly those back and nothing else.
void CheckDecoded(const lkd_channel_request& request, const DecodedCall& call,
                  uint8_t* data, uint32_t data_size) {
  const lkd_syscall_desc* desc =
      lkd_syscall_describe(static_cast<int>(request.nr), request.args[1]);
  EXPECT_OR_ABORT(desc != nullptr, "decoded a call that is not served");
  EXPECT_OR_ABORT(call.nr == desc->nr, "call.nr %ld is not the request's", call.nr);

  // The kernel takes these commands as unsigned int: what it sees must be
  // the command that was checked, and its argument what the kernel reads:
  // a value, or a pointer to as many bytes as the kernel's struct (fcntl);
  // an int (ioctl).
  if (desc->nr == LKD_NR_fcntl) {
    const uint64_t cmd = request.args[1];
    EXPECT_OR_ABORT(cmd == static_cast<unsigned>(cmd),
                    "fcntl command 0x%llx is not what the kernel sees",
                    static_cast<unsigned long long>(cmd));
    const uint32_t pointee = FcntlPointee(cmd);
    const lkd_arg_desc& arg = desc->args[2];
    EXPECT_OR_ABORT(pointee != kUnknownPointee,
                    "fcntl command %llu takes a pointer of unknown size",
                    static_cast<unsigned long long>(cmd));
    if (pointee == 0)
      EXPECT_OR_ABORT(arg.kind == LKD_ARG_VAL, "fcntl command %llu takes a value",
                      static_cast<unsigned long long>(cmd));
    else
      EXPECT_OR_ABORT(IsPointer(arg) && arg.size_rule == LKD_SIZE_FIXED &&
                          arg.scale == pointee,
                      "fcntl command %llu takes a pointer to %u bytes",
                      static_cast<unsigned long long>(cmd), pointee);
  }
  if (desc->nr == LKD_NR_ioctl) {
    const uint64_t cmd = request.args[1];
    const uint32_t pointee = IoctlPointee(cmd);
    const lkd_arg_desc& arg = desc->args[2];
    EXPECT_OR_ABORT(pointee != kUnknownPointee, "ioctl request 0x%llx is not one lkd serves",
                    static_cast<unsigned long long>(cmd));
    if (pointee == kIfconf)
      EXPECT_OR_ABORT(arg.kind == LKD_ARG_IFCONF, "SIOCGIFCONF takes a struct ifconf");
    else
      EXPECT_OR_ABORT(IsPointer(arg) && arg.size_rule == LKD_SIZE_FIXED && arg.scale == pointee,
                      "ioctl request 0x%llx takes a pointer to %u bytes",
                      static_cast<unsigned long long>(cmd), pointee);
  }

  const uintptr_t base = reinterpret_cast<uintptr_t>(data);
  uint64_t may_touch[6] = {};
  for (int i = 0; i < 6; i++) {
    const lkd_arg_desc& a = desc->args[i];
    if (a.kind == LKD_ARG_VAL) {
      EXPECT_OR_ABORT(call.args[i] == static_cast<long>(request.args[i]),
                      "value argument %d changed", i);
      continue;
    }
    if (a.kind == LKD_ARG_MSGHDR || a.kind == LKD_ARG_MSGHDR_IN) {
      CheckMsghdr(request, call, i, data, data_size, a.kind == LKD_ARG_MSGHDR_IN);
      continue;
    }
    if (a.kind == LKD_ARG_IFCONF) {
      CheckIfconf(request, call, i, data, data_size);
      continue;
    }
    if (!IsPointer(a)) continue;
    const uintptr_t p = static_cast<uintptr_t>(call.args[i]);
    if (p == 0) {
      EXPECT_OR_ABORT(request.args[i] == LKD_CHANNEL_NULL && a.nullable,
                      "argument %d is NULL but the client did not ask for it "
                      "or it may not be NULL", i);
      EXPECT_OR_ABORT(call.private_len_arg[i] < 0,
                      "NULL argument %d has a private length", i);
      continue;
    }

    // Where the client put the region: inside the data area.
    const uint64_t offset = request.args[i];
    EXPECT_OR_ABORT(offset <= data_size && request.lens[i] <= data_size - offset,
                    "argument %d's region [%llu, +%u) is outside the data area",
                    i, static_cast<unsigned long long>(offset), request.lens[i]);

    if (call.private_len_arg[i] >= 0) {
      // A length the kernel reads through a pointer: our copy, which
      // FinishCall() writes back to where the client keeps it.
      EXPECT_OR_ABORT(call.private_len_arg[i] == i,
                      "private_len_arg[%d] is %d", i, call.private_len_arg[i]);
      EXPECT_OR_ABORT(p == reinterpret_cast<uintptr_t>(&call.private_len[i]),
                      "argument %d has a private length but points elsewhere", i);
      EXPECT_OR_ABORT(SizesAnother(*desc, call, i),
                      "argument %d has a private length nothing is sized by", i);
      EXPECT_OR_ABORT(call.private_len_offset[i] == offset,
                      "private length %d goes back to %u, not to %llu", i,
                      call.private_len_offset[i],
                      static_cast<unsigned long long>(offset));
      EXPECT_OR_ABORT(request.lens[i] >= sizeof(uint32_t),
                      "private length %d's region is only %u bytes", i,
                      request.lens[i]);
      continue;
    }
    if (a.kind == LKD_ARG_PATH) {
      // A private copy of the client's NUL-terminated string.
      const auto* copy = reinterpret_cast<const char*>(p);
      bool is_private = false;
      for (const auto& slot : call.private_path)
        is_private |= copy == slot;
      EXPECT_OR_ABORT(is_private, "path argument %d is not a private copy", i);
      EXPECT_OR_ABORT(request.lens[i] > 0 && memchr(data + offset, 0, request.lens[i]),
                      "path argument %d has no NUL inside its region", i);
      EXPECT_OR_ABORT(strcmp(copy, reinterpret_cast<const char*>(data + offset)) == 0,
                      "path argument %d's copy differs from the client's", i);
      continue;
    }
    EXPECT_OR_ABORT(!SizesAnother(*desc, call, i),
                    "argument %d sizes another argument but the kernel would "
                    "read it from shared memory", i);

    // What the kernel is handed: exactly the client's region.
    EXPECT_OR_ABORT(p >= base && p - base == offset,
                    "argument %d points %lld bytes from the data area, the "
                    "client asked for offset %llu", i,
                    static_cast<long long>(p - base),
                    static_cast<unsigned long long>(offset));

    // What the kernel may touch there, as it will see the sizes.
    unsigned __int128 n = 0;
    switch (a.size_rule) {
      case LKD_SIZE_NONE:
        Violation(request, data_size, "pointer argument %d has no size rule", i);
      case LKD_SIZE_FIXED:
        n = a.scale;
        break;
      case LKD_SIZE_ARG:
        n = static_cast<unsigned long>(call.args[a.param]);
        break;
      case LKD_SIZE_ARG_MAX:
        n = static_cast<unsigned long>(call.args[a.param]);
        EXPECT_OR_ABORT(n <= a.scale, "argument %d's length %llu is over its maximum %u",
                        i, static_cast<unsigned long long>(n), a.scale);
        break;
      case LKD_SIZE_ARG_TIMES:
        n = static_cast<unsigned __int128>(static_cast<unsigned long>(call.args[a.param])) *
            a.scale;
        break;
      case LKD_SIZE_AT_PTR:
        EXPECT_OR_ABORT(call.private_len_arg[a.param] == a.param,
                        "argument %d is sized by argument %d, which is not private",
                        i, a.param);
        n = call.private_len[a.param];
        break;
      default:
        Violation(request, data_size, "argument %d has size rule %d", i, a.size_rule);
    }
    EXPECT_OR_ABORT(n <= request.lens[i],
                    "argument %d: the kernel may touch %llu%s bytes, the "
                    "region has %u", i, static_cast<unsigned long long>(n),
                    n > UINT64_MAX ? " + k * 2^64" : "", request.lens[i]);
    may_touch[i] = static_cast<uint64_t>(n);
  }

  // Play the kernel. All checks are done: writes below may overlap other
  // regions (the client's business), and overwrite a path's NUL.
  volatile uint8_t sink = 0;
  for (int i = 0; i < 6; i++) {
    const lkd_arg_desc& a = desc->args[i];
    if (!IsPointer(a) || call.args[i] == 0 || call.private_len_arg[i] >= 0 ||
        a.kind == LKD_ARG_PATH)
      continue;
    auto* p = reinterpret_cast<uint8_t*>(call.args[i]);
    if (a.kind != LKD_ARG_OUT)
      for (uint64_t b = 0; b < may_touch[i]; b++) sink = sink + p[b];
    if (a.kind == LKD_ARG_OUT || a.kind == LKD_ARG_INOUT)
      memset(p, 0xa5, may_touch[i]);
  }
  for (int i = 0; i < 6; i++) {
    if (desc->args[i].kind != LKD_ARG_MSGHDR_IN || call.args[i] == 0) continue;
    // sendmsg: reads the name (as much as it reads), data and control.
    const msghdr* m = reinterpret_cast<const msghdr*>(call.args[i]);
    const auto* b = static_cast<const uint8_t*>(m->msg_iov[0].iov_base);
    for (size_t k = 0; k < m->msg_iov[0].iov_len; k++) sink = sink + b[k];
    const auto* c = static_cast<const uint8_t*>(m->msg_control);
    for (size_t k = 0; c && k < m->msg_controllen; k++) sink = sink + c[k];
    const auto* n = static_cast<const uint8_t*>(m->msg_name);
    const size_t name_read = m->msg_namelen > INT32_MAX ? 0 : m->msg_namelen < 128 ? m->msg_namelen : 128;
    for (size_t k = 0; n && k < name_read; k++) sink = sink + n[k];
  }
  for (int k = 0; k < 6; k++) {
    if (call.private_len_arg[k] < 0) continue;
    auto* len = reinterpret_cast<uint32_t*>(call.args[k]);
    *len = *len / 2 + 1;  // the kernel stores the address's real length
  }
  if (call.msghdr_arg >= 0) {
    // recvmsg: fills the buffers, then updates its msghdr.
    msghdr* m = reinterpret_cast<msghdr*>(call.args[call.msghdr_arg]);
    memset(m->msg_iov[0].iov_base, 0x5a, m->msg_iov[0].iov_len);
    if (m->msg_name) memset(m->msg_name, 0x5b, m->msg_namelen);
    if (m->msg_control) memset(m->msg_control, 0x5c, m->msg_controllen);
    m->msg_namelen = m->msg_namelen / 2 + 1;
    m->msg_controllen /= 3;
    m->msg_flags = 0x20;  // MSG_TRUNC
  }

  if (call.ifconf_arg >= 0) {
    // SIOCGIFCONF: fills the buffer, then says how much it wrote.
    ifconf* ifc = reinterpret_cast<ifconf*>(call.args[call.ifconf_arg]);
    if (ifc->ifc_buf && ifc->ifc_len > 0) memset(ifc->ifc_buf, 0x5d, ifc->ifc_len);
    ifc->ifc_len = ifc->ifc_len > 0 ? ifc->ifc_len / 40 * 40 : 40;
  }

  std::unique_ptr<uint8_t[]> expected(new uint8_t[data_size]);
  if (data_size) memcpy(expected.get(), data, data_size);
  for (int k = 0; k < 6; k++)
    if (call.private_len_arg[k] >= 0)
      memcpy(expected.get() + call.private_len_offset[k], &call.private_len[k],
             sizeof(uint32_t));
  if (call.msghdr_arg >= 0) {
    lkd_channel_msghdr h;
    uint8_t* at = expected.get() + call.msghdr_offset;
    memcpy(&h, at, sizeof(h));
    h.namelen = call.private_msg.msg_namelen;
    h.controllen = static_cast<uint32_t>(call.private_msg.msg_controllen);
    h.flags = static_cast<uint32_t>(call.private_msg.msg_flags);
    memcpy(at, &h, sizeof(h));
  }
  if (call.ifconf_arg >= 0) {
    const uint32_t len = static_cast<uint32_t>(call.private_ifconf.ifc_len);
    memcpy(expected.get() + call.ifconf_offset + offsetof(lkd_channel_ifconf, len), &len,
           sizeof(len));
  }
  FinishCall(call, data);
  EXPECT_OR_ABORT(data_size == 0 || memcmp(expected.get(), data, data_size) == 0,
                  "FinishCall() wrote something else than the private lengths, "
                  "the msghdr's namelen, controllen and flags and the ifconf's len");
}

void TallyResult(int rc) {
  switch (rc) {
    case 0: tally.ok++; break;
    case -ESTALE: tally.estale++; break;
    case -ENOSYS: tally.enosys++; break;
    case -EFAULT: tally.efault++; break;
    case -EINVAL: tally.einval++; break;
    case -EPERM: tally.eperm++; break;
  }
}

// A batch that decodes hands the kernel only pointers inside the data
// area, never into the decoder's private copies, and its results' place is
// inside it and aligned; one that does not says one of its promised errors.
void CheckBatch(lkd_channel_request request, uint32_t generation, uint8_t* data,
                uint32_t data_size) {
  request.nr = LKD_NR_BATCH;
  DecodedCall scratch;
  auto batch = std::make_unique<DecodedBatch>();
  const int rc = DecodeBatch(request, generation, data, data_size, &scratch, batch.get());
  if (generation != request.generation) {
    EXPECT_OR_ABORT(rc == -ESTALE, "a stale batch returned %d, not -ESTALE", rc);
    return;
  }
  if (rc < 0) {
    EXPECT_OR_ABORT(rc == -EINVAL || rc == -EFAULT || rc == -ENOSYS || rc == -EPERM ||
                        rc == -ENAMETOOLONG || rc == -ENOBUFS || rc == -EOPNOTSUPP,
                    "a batch returned %d, which DecodeBatch() does not promise", rc);
    EXPECT_OR_ABORT(batch->count == 0, "a refused batch left %u calls", batch->count);
    return;
  }
  tally.batches++;
  EXPECT_OR_ABORT(batch->count >= 1 && batch->count <= LKD_CHANNEL_BATCH_MAX,
                  "a batch of %u calls", batch->count);
  EXPECT_OR_ABORT(Inside(batch->results, batch->count * sizeof(long), data, data_size) &&
                      reinterpret_cast<uintptr_t>(batch->results) % 8 == 0,
                  "a batch's results outside the data area or unaligned");
  const auto lo = reinterpret_cast<uintptr_t>(&scratch);
  for (unsigned i = 0; i < batch->count; i++) {
    const DecodedBatch::Call& call = batch->calls[i];
    const lkd_syscall_desc* desc = lkd_syscall_describe(static_cast<int>(call.nr), call.args[1]);
    EXPECT_OR_ABORT(desc != nullptr, "a batch entry that is not served");
    for (int j = 0; j < 6; j++) {
      const lkd_arg_desc& a = desc->args[j];
      if (a.kind == LKD_ARG_NONE || a.kind == LKD_ARG_VAL || call.args[j] == 0) continue;
      const auto at = static_cast<uintptr_t>(call.args[j]);
      EXPECT_OR_ABORT(at < lo || at >= lo + sizeof(scratch),
                      "a batch entry points into the decoder's private copies");
      EXPECT_OR_ABORT(Inside(reinterpret_cast<const void*>(at), 0, data, data_size),
                      "a batch entry points outside the data area");
    }
  }
}

void FuzzOne(const uint8_t* bytes, size_t size) {
  fuzz::FuzzInput in = fuzz::ParseFuzzInput(bytes, size);
  lkd_channel_request& request = in.request;
  const uint32_t data_size = in.data_size;
  if (in.flags & fuzz::kFlagNrIsTableIndex)
    request.nr = static_cast<uint32_t>(
        lkd_syscall_table[request.nr % lkd_syscall_table_size].nr);
  uint32_t generation = request.generation;
  if (in.flags & fuzz::kFlagStale) generation += 1u + (in.flags >> 2);

  // Exactly data_size bytes, so that ASan reports any access past them.
  std::unique_ptr<uint8_t[]> data(new uint8_t[data_size]);
  size_t copied = in.data_len < data_size ? in.data_len : data_size;
  if (copied) memcpy(data.get(), in.data, copied);
  memset(data.get() + copied, 0, data_size - copied);

  tally.inputs++;
  DecodedCall call;
  int rc = DecodeRequest(request, generation, data.get(), data_size, &call);
  TallyResult(rc);
  const lkd_syscall_desc* desc = lkd_syscall_lookup(static_cast<int>(request.nr));
  if (generation != request.generation) {
    EXPECT_OR_ABORT(rc == -ESTALE, "a stale request (channel generation %u) "
                    "returned %d, not -ESTALE", generation, rc);
  } else if (!desc) {
    EXPECT_OR_ABORT(rc == -ENOSYS, "a call not served returned %d, not -ENOSYS", rc);
  } else if (rc == -EPERM) {
    EXPECT_OR_ABORT(desc->nr == LKD_NR_fcntl || desc->nr == LKD_NR_ioctl,
                    "-EPERM for %s, which has no commands", desc->name);
  } else {
    const bool send_only = rc == -ENOBUFS || rc == -EOPNOTSUPP;
    EXPECT_OR_ABORT(rc == 0 || rc == -EFAULT || rc == -EINVAL || rc == -ENAMETOOLONG ||
                        (send_only && desc->nr == LKD_NR_sendmsg),
                    "returned %d, which DecodeRequest() does not promise", rc);
  }
  if (rc == 0) {
    tally.decoded[desc - lkd_syscall_table] = true;
    CheckDecoded(request, call, data.get(), data_size);
  }

  // The same input as a batch (LKD_NR_BATCH): its entries come from the
  // data area, so they are as random as the data.
  CheckBatch(request, generation, data.get(), data_size);

  // The same request on a channel that moved on (fork, reconnect): stale,
  // whatever else is right or wrong with it.
  DecodedCall stale_call;
  int stale_rc = DecodeRequest(request, request.generation + 1, data.get(),
                               data_size, &stale_call);
  EXPECT_OR_ABORT(stale_rc == -ESTALE,
                  "the request on a channel of generation %u returned %d, not "
                  "-ESTALE", request.generation + 1, stale_rc);
}

}  // namespace
}  // namespace lkd::server

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  lkd::server::tally.decoded.assign(lkd_syscall_table_size, false);
  atexit(lkd::server::PrintTally);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lkd::server::FuzzOne(data, size);
  return 0;
}
