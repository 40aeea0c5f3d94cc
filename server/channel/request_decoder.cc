// SPDX-License-Identifier: GPL-2.0
#include "server/channel/request_decoder.h"

#include <algorithm>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>

#include "lkd/sysnr.h"

namespace lkd::server {
namespace {


bool RegionInside(uint64_t offset, uint32_t len, uint32_t data_size) {
  return offset <= data_size && len <= data_size - offset;
}

static_assert(sizeof(msghdr) == 56 && offsetof(msghdr, msg_namelen) == 8 &&
                  offsetof(msghdr, msg_iov) == 16 && offsetof(msghdr, msg_iovlen) == 24 &&
                  offsetof(msghdr, msg_control) == 32 &&
                  offsetof(msghdr, msg_controllen) == 40 && offsetof(msghdr, msg_flags) == 48,
              "the host's struct msghdr is the kernel's struct user_msghdr");

// A region of the msghdr header: NULL (if allowed) or inside the data area.
bool MsgRegion(uint64_t offset, uint32_t len, bool nullable, uint8_t* data,
               uint32_t data_size, void** out) {
  if (offset == LKD_CHANNEL_NULL && nullable) {
    *out = nullptr;
    return true;
  }
  if (!RegionInside(offset, len, data_size)) return false;
  *out = data + offset;
  return true;
}

// Whether the control messages in `control` (the private copy) hold an
// SCM_RIGHTS message. Walked as the kernel walks them (CMSG_FIRSTHDR,
// CMSG_NXTHDR); the walk stops at the first malformed header, which the
// kernel refuses (-EINVAL) before it acts on any message.
bool HasScmRights(const uint8_t* control, size_t len) {
  size_t at = 0;
  while (len - at >= sizeof(cmsghdr)) {
    cmsghdr c;
    memcpy(&c, control + at, sizeof(c));
    if (c.cmsg_len < sizeof(cmsghdr) || c.cmsg_len > len - at) return false;
    if (c.cmsg_level == SOL_SOCKET && c.cmsg_type == SCM_RIGHTS) return true;
    const size_t next = CMSG_ALIGN(c.cmsg_len);
    if (next > len - at) return false;
    at += next;
  }
  return false;
}

// LKD_ARG_MSGHDR and LKD_ARG_MSGHDR_IN: one read of the header into
// private memory, then a private msghdr whose every pointer lies in the
// data area (or, for sendmsg's control messages, in a private copy).
int DecodeMsghdr(uint64_t offset, uint32_t len, uint8_t* data, uint32_t data_size,
                 int arg, bool send, DecodedCall* call) {
  if (!RegionInside(offset, len, data_size)) return -EFAULT;
  if (len < sizeof(lkd_channel_msghdr)) return -EINVAL;
  lkd_channel_msghdr h;
  memcpy(&h, data + offset, sizeof(h));
  // sendmsg: the kernel reads at most LKD_CHANNEL_NAME_MAX bytes of the
  // name, none when namelen is negative as its int.
  uint32_t name_room = h.namelen;
  if (send)
    name_room = h.namelen > INT32_MAX ? 0 : std::min(h.namelen, LKD_CHANNEL_NAME_MAX);
  void *name, *base, *control;
  if (!MsgRegion(h.name, name_room, true, data, data_size, &name) ||
      !MsgRegion(h.data, h.datalen, false, data, data_size, &base) ||
      !MsgRegion(h.control, h.controllen, true, data, data_size, &control))
    return -EFAULT;
  // NULL with a length: the kernel would copy from address 0.
  if (send && control == nullptr && h.controllen > 0) return -EFAULT;
  call->private_iov = {base, h.datalen};
  call->private_msg = {};
  call->private_msg.msg_name = name;
  call->private_msg.msg_namelen = name ? h.namelen : 0;
  call->private_msg.msg_iov = &call->private_iov;
  call->private_msg.msg_iovlen = 1;
  call->private_msg.msg_control = control;
  call->private_msg.msg_controllen = control ? h.controllen : 0;
  if (send) {
    if (control != nullptr && h.controllen > 0) {
      if (h.controllen > LKD_CHANNEL_CONTROL_MAX) return -ENOBUFS;
      call->private_control = std::make_unique<uint8_t[]>(h.controllen);
      memcpy(call->private_control.get(), control, h.controllen);
      if (HasScmRights(call->private_control.get(), h.controllen)) return -EOPNOTSUPP;
      call->private_msg.msg_control = call->private_control.get();
    }
  } else {
    call->msghdr_arg = static_cast<int8_t>(arg);
    call->msghdr_offset = static_cast<uint32_t>(offset);
  }
  call->args[arg] = static_cast<long>(reinterpret_cast<uintptr_t>(&call->private_msg));
  return 0;
}

static_assert(sizeof(ifconf) == 16 && offsetof(ifconf, ifc_len) == 0 &&
                  offsetof(ifconf, ifc_buf) == 8,
              "the host's struct ifconf is the kernel's");

// LKD_ARG_IFCONF: one read of the header, then a private struct ifconf
// whose buffer lies in the data area with room for what the kernel writes.
int DecodeIfconf(uint64_t offset, uint32_t len, uint8_t* data, uint32_t data_size, int arg,
                 DecodedCall* call) {
  if (!RegionInside(offset, len, data_size)) return -EFAULT;
  if (len < sizeof(lkd_channel_ifconf)) return -EINVAL;
  lkd_channel_ifconf h;
  memcpy(&h, data + offset, sizeof(h));
  // The kernel writes nothing for a length negative as its int.
  const uint32_t room = h.len > INT32_MAX ? 0 : h.len;
  void* buf;
  if (!MsgRegion(h.buf, room, true, data, data_size, &buf)) return -EFAULT;
  call->private_ifconf = {};
  call->private_ifconf.ifc_len = static_cast<int>(h.len);
  call->private_ifconf.ifc_buf = static_cast<char*>(buf);
  call->ifconf_arg = static_cast<int8_t>(arg);
  call->ifconf_offset = static_cast<uint32_t>(offset);
  call->args[arg] = static_cast<long>(reinterpret_cast<uintptr_t>(&call->private_ifconf));
  return 0;
}

}  // namespace

int DecodeRequest(const lkd_channel_request& request, uint32_t generation,
                  uint8_t* data, uint32_t data_size, DecodedCall* call) {
  *call = DecodedCall{};
  if (request.generation != generation) return -ESTALE;
  const int nr = static_cast<int>(request.nr);
  if (!lkd_syscall_lookup(nr)) return -ENOSYS;
  // For fcntl and ioctl, the command's own description (what its third
  // argument is); a command not in the table is refused.
  const lkd_syscall_desc* desc = lkd_syscall_describe(nr, request.args[1]);
  if (!desc) return -EPERM;
  call->nr = desc->nr;

  // Values first: pointer size rules refer to them.
  for (int i = 0; i < 6; i++)
    if (desc->args[i].kind == LKD_ARG_VAL)
      call->args[i] = static_cast<long>(request.args[i]);

  int paths = 0;
  for (int i = 0; i < 6; i++) {
    const lkd_arg_desc& arg = desc->args[i];
    if (arg.kind == LKD_ARG_NONE || arg.kind == LKD_ARG_VAL) continue;
    uint64_t offset = request.args[i];
    uint32_t len = request.lens[i];
    if (offset == LKD_CHANNEL_NULL) {
      if (!arg.nullable) return -EFAULT;
      call->args[i] = 0;
      continue;
    }
    if (arg.kind == LKD_ARG_MSGHDR || arg.kind == LKD_ARG_MSGHDR_IN) {
      const bool send = arg.kind == LKD_ARG_MSGHDR_IN;
      if (int rc = DecodeMsghdr(offset, len, data, data_size, i, send, call); rc < 0)
        return rc;
      continue;
    }
    if (arg.kind == LKD_ARG_IFCONF) {
      if (int rc = DecodeIfconf(offset, len, data, data_size, i, call); rc < 0) return rc;
      continue;
    }
    if (!RegionInside(offset, len, data_size)) return -EFAULT;
    uint8_t* region = data + offset;
    uint64_t needed = 0;
    switch (arg.size_rule) {
      case LKD_SIZE_NONE: {
        if (arg.kind != LKD_ARG_PATH) return -EINVAL;
        // One read of the path into private memory (the NUL included).
        const uint32_t limit = std::min<uint32_t>(len, kChannelPathMax);
        const void* nul = memchr(region, 0, limit);
        if (nul == nullptr) return len > limit ? -ENAMETOOLONG : -EFAULT;
        if (paths == 2) return -EINVAL;
        char* copy = call->private_path[paths++];
        memcpy(copy, region, static_cast<const uint8_t*>(nul) - region);
        copy[static_cast<const uint8_t*>(nul) - region] = '\0';
        call->args[i] = static_cast<long>(reinterpret_cast<uintptr_t>(copy));
        continue;
      }
      case LKD_SIZE_FIXED:
        needed = arg.scale;
        break;
      case LKD_SIZE_ARG:
        needed = request.args[arg.param];
        break;
      case LKD_SIZE_ARG_MAX:
        if (request.args[arg.param] > arg.scale) return -EINVAL;
        needed = request.args[arg.param];
        break;
      case LKD_SIZE_ARG_TIMES:
        if (request.args[arg.param] > len / arg.scale) return -EINVAL;
        needed = request.args[arg.param] * arg.scale;
        break;
      case LKD_SIZE_AT_PTR: {
        // The length lives in pointer argument `param` (a u32 in the data
        // area): read it once, keep it private, hand the kernel our copy.
        int k = arg.param;
        uint64_t len_offset = request.args[k];
        if (len_offset == LKD_CHANNEL_NULL ||
            !RegionInside(len_offset, sizeof(uint32_t), data_size) ||
            request.lens[k] < sizeof(uint32_t))
          return -EFAULT;
        uint32_t value;
        memcpy(&value, data + len_offset, sizeof(value));
        call->private_len[k] = value;
        call->private_len_arg[k] = static_cast<int8_t>(k);
        call->private_len_offset[k] = static_cast<uint32_t>(len_offset);
        needed = value;
        break;
      }
      default:
        return -EINVAL;
    }
    if (needed > len) return -EINVAL;
    call->args[i] = static_cast<long>(reinterpret_cast<uintptr_t>(region));
  }
  // Length pointers go to the private copies (after the loop: argument
  // `k` may come after the buffer it sizes, or before it).
  for (int k = 0; k < 6; k++)
    if (call->private_len_arg[k] >= 0)
      call->args[k] =
          static_cast<long>(reinterpret_cast<uintptr_t>(&call->private_len[k]));
  return 0;
}

int DecodeBatch(const lkd_channel_request& request, uint32_t generation, uint8_t* data,
                uint32_t data_size, DecodedCall* scratch, DecodedBatch* batch) {
  batch->count = 0;
  if (request.generation != generation) return -ESTALE;
  const uint64_t count = request.args[1];
  if (count == 0 || count > LKD_CHANNEL_BATCH_MAX) return -EINVAL;
  const uint64_t calls_len = count * sizeof(lkd_channel_subcall);
  const uint64_t results_len = count * sizeof(int64_t);
  if (request.lens[0] < calls_len || request.lens[2] < results_len) return -EINVAL;
  if (!RegionInside(request.args[0], static_cast<uint32_t>(calls_len), data_size) ||
      !RegionInside(request.args[2], static_cast<uint32_t>(results_len), data_size))
    return -EFAULT;
  uint8_t* results = data + request.args[2];
  if (reinterpret_cast<uintptr_t>(results) % alignof(int64_t) != 0) return -EINVAL;
  // What an entry may not point at: the decoder's private copies (paths,
  // lengths, headers), which live in `scratch` and would be reused by the
  // next entry before the kernel reads them.
  const auto private_lo = reinterpret_cast<uintptr_t>(scratch);
  const auto private_hi = private_lo + sizeof(*scratch);
  auto decode_entry = [&](uint64_t i) {
    lkd_channel_subcall sub;  // one read of the entry into private memory
    memcpy(&sub, data + request.args[0] + i * sizeof(sub), sizeof(sub));
    if (sub.nr == LKD_NR_BATCH) return -EINVAL;
    lkd_channel_request one = {};
    one.generation = generation;
    one.nr = sub.nr;
    memcpy(one.args, sub.args, sizeof(one.args));
    memcpy(one.lens, sub.lens, sizeof(one.lens));
    if (int rc = DecodeRequest(one, generation, data, data_size, scratch); rc < 0) return rc;
    DecodedBatch::Call& call = batch->calls[i];
    call.nr = scratch->nr;
    for (int j = 0; j < 6; j++) {
      const auto at = static_cast<uintptr_t>(scratch->args[j]);
      if (at >= private_lo && at < private_hi) return -EINVAL;
      call.args[j] = scratch->args[j];
    }
    return 0;
  };
  int rc = 0;
  for (uint64_t i = 0; i < count && rc == 0; i++) rc = decode_entry(i);
  *scratch = DecodedCall{};
  if (rc < 0) return rc;
  batch->results = reinterpret_cast<long*>(results);
  batch->count = static_cast<unsigned>(count);
  return 0;
}

void FinishCall(const DecodedCall& call, uint8_t* data) {
  for (int k = 0; k < 6; k++)
    if (call.private_len_arg[k] >= 0)
      memcpy(data + call.private_len_offset[k], &call.private_len[k],
             sizeof(uint32_t));
  if (call.msghdr_arg >= 0) {
    // Each field on its own: the rest of the header stays the client's.
    uint8_t* h = data + call.msghdr_offset;
    const uint32_t namelen = call.private_msg.msg_namelen;
    const uint32_t controllen = static_cast<uint32_t>(call.private_msg.msg_controllen);
    const uint32_t flags = static_cast<uint32_t>(call.private_msg.msg_flags);
    memcpy(h + offsetof(lkd_channel_msghdr, namelen), &namelen, sizeof(namelen));
    memcpy(h + offsetof(lkd_channel_msghdr, controllen), &controllen, sizeof(controllen));
    memcpy(h + offsetof(lkd_channel_msghdr, flags), &flags, sizeof(flags));
  }
  if (call.ifconf_arg >= 0) {
    const uint32_t len = static_cast<uint32_t>(call.private_ifconf.ifc_len);
    memcpy(data + call.ifconf_offset + offsetof(lkd_channel_ifconf, len), &len, sizeof(len));
  }
}

}  // namespace lkd::server
