// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
// Where one proxied call's time goes. With ConnectionOptions::trace set,
// each call through a channel asks lkd for its timestamps
// (LKD_CHANNEL_REQ_TRACE, schema/lkd_channel.h) and adds the client's own;
// the stages are the intervals between consecutive timestamps, so they add
// up to the call's total. All clocks are CLOCK_MONOTONIC, one clock for
// every process of the host.
#ifndef LKD_CLIENT_CALL_TRACE_H_
#define LKD_CLIENT_CALL_TRACE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lkd::client {

// The timestamps of one call through a channel (one piece of a chunked
// call), in ns.
struct CallTrace {
  long nr = 0;
  uint64_t start_ns = 0;        // the client began marshalling
  uint64_t sent_ns = 0;         // the request is written; next: publish and ring
  uint64_t pickup_ns = 0;       // lkd's worker saw it (after its spin or wake)
  uint64_t kernel_entry_ns = 0; // validated and copied, entering the kernel
  uint64_t kernel_exit_ns = 0;  // the kernel returned
  uint64_t publish_ns = 0;      // lkd's worker is about to publish the answer
  uint64_t woken_ns = 0;        // the client saw the answer
  uint64_t end_ns = 0;          // the results are copied out
  bool server_slept = false;    // the worker slept on its futex for this call
  bool client_slept = false;    // the client slept on its futex for the answer
};

enum CallStage {
  kStageSend,      // start -> sent: client marshalling, copying in
  kStageDoorbell,  // sent -> pickup: publish, ring (FUTEX_WAKE), worker spin or wake-up
  kStageDecode,    // pickup -> kernel entry: private copy, validation
  kStageKernel,    // kernel entry -> exit: lkd_syscall, its entry path included
  kStageReply,     // kernel exit -> publish: copy-back of lengths, signals
  kStageResponse,  // publish -> woken: publish, ring, client spin or wake-up
  kStageReceive,   // woken -> end: client copying results out
  kStageTotal,     // start -> end
  kStageCount
};

// "send", "doorbell", ... as in proxy_bench's breakdown_* lines.
const char* CallStageName(int stage);

// The duration of each stage of `t` (an interval that comes out negative,
// which one host clock should never give, counts as 0).
std::array<uint64_t, kStageCount> CallStages(const CallTrace& t);

// Per-stage samples of many calls and their percentiles.
class CallTraceTable {
 public:
  void Add(const CallTrace& t);
  size_t size() const { return samples_[0].size(); }
  // The q-quantile (0..1) of `stage` over the calls added; 0 if none.
  uint64_t Percentile(int stage, double q) const;

 private:
  std::array<std::vector<uint64_t>, kStageCount> samples_;
};

}  // namespace lkd::client

#endif  // LKD_CLIENT_CALL_TRACE_H_
