// SPDX-License-Identifier: GPL-2.0
#include "server/channel/request_decoder.h"

#include <algorithm>

#include <cerrno>
#include <cstring>

#include "lkd/sysnr.h"

namespace lkd::server {
namespace {

// ioctl requests with one int argument: FIONREAD, FIONBIO.
bool IoctlCommandAllowed(long cmd) { return cmd == 0x541B || cmd == 0x5421; }

bool RegionInside(uint64_t offset, uint32_t len, uint32_t data_size) {
  return offset <= data_size && len <= data_size - offset;
}

}  // namespace

int DecodeRequest(const lkd_channel_request& request, uint32_t generation,
                  uint8_t* data, uint32_t data_size, DecodedCall* call) {
  *call = DecodedCall{};
  if (request.generation != generation) return -ESTALE;
  const int nr = static_cast<int>(request.nr);
  if (!lkd_syscall_lookup(nr)) return -ENOSYS;
  // For fcntl, the command's own description (what its third argument is).
  const lkd_syscall_desc* desc = lkd_syscall_describe(nr, request.args[1]);
  if (!desc) return -EPERM;
  call->nr = desc->nr;

  // Values first: pointer size rules refer to them.
  for (int i = 0; i < 6; i++)
    if (desc->args[i].kind == LKD_ARG_VAL)
      call->args[i] = static_cast<long>(request.args[i]);
  if (desc->nr == LKD_NR_ioctl && !IoctlCommandAllowed(call->args[1]))
    return -EPERM;

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

void FinishCall(const DecodedCall& call, uint8_t* data) {
  for (int k = 0; k < 6; k++)
    if (call.private_len_arg[k] >= 0)
      memcpy(data + call.private_len_offset[k], &call.private_len[k],
             sizeof(uint32_t));
}

}  // namespace lkd::server
