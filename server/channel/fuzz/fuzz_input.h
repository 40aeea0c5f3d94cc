// SPDX-License-Identifier: GPL-2.0
// The layout of one input of request_decoder_fuzzer, shared by the fuzzer
// and the seed writer (write_seeds.cc) so that seeds stay valid when the
// request struct changes:
//
//   [0]                 flags (kFlag* below)
//   [1, 3)              size of the data area, little-endian u16, taken
//                       modulo kMaxDataSize + 1
//   [3, kDataOffset)    the request, as the client wrote it
//   [kDataOffset, ...)  the first bytes of the data area (the rest is zero)
//
// Missing bytes read as zero, so every byte string is an input.
#ifndef LKD_SERVER_CHANNEL_FUZZ_FUZZ_INPUT_H_
#define LKD_SERVER_CHANNEL_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "schema/lkd_channel.h"

namespace lkd::server::fuzz {

// Small enough that a data area per input stays cheap under ASan, large
// enough for every fixed size in the table (statx: 256 bytes).
inline constexpr uint32_t kMaxDataSize = 16384;

// request.nr is an index into lkd_syscall_table (modulo its size) rather
// than a number: mutations then reach every served call.
inline constexpr uint8_t kFlagNrIsTableIndex = 1u << 0;
// The channel's generation differs from the request's (by 1 + flags >> 2):
// the decode must fail with -ESTALE.
inline constexpr uint8_t kFlagStale = 1u << 1;

inline constexpr size_t kRequestOffset = 3;
inline constexpr size_t kDataOffset = kRequestOffset + sizeof(lkd_channel_request);

struct FuzzInput {
  uint8_t flags = 0;
  uint32_t data_size = 0;
  lkd_channel_request request{};
  // The data area's first bytes; at most data_size of them are used.
  const uint8_t* data = nullptr;
  size_t data_len = 0;
};

// `bytes` must outlive the result (its data points into them).
inline FuzzInput ParseFuzzInput(const uint8_t* bytes, size_t size) {
  uint8_t header[kDataOffset] = {};
  memcpy(header, bytes, size < kDataOffset ? size : kDataOffset);
  FuzzInput in;
  in.flags = header[0];
  in.data_size = (header[1] | uint32_t{header[2]} << 8) % (kMaxDataSize + 1);
  memcpy(&in.request, header + kRequestOffset, sizeof(in.request));
  if (size > kDataOffset) {
    in.data = bytes + kDataOffset;
    in.data_len = size - kDataOffset;
  }
  return in;
}

inline std::vector<uint8_t> SerializeFuzzInput(uint8_t flags, uint32_t data_size,
                                               const lkd_channel_request& request,
                                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(kDataOffset);
  out[0] = flags;
  out[1] = static_cast<uint8_t>(data_size);
  out[2] = static_cast<uint8_t>(data_size >> 8);
  memcpy(out.data() + kRequestOffset, &request, sizeof(request));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

}  // namespace lkd::server::fuzz

#endif  // LKD_SERVER_CHANNEL_FUZZ_FUZZ_INPUT_H_
