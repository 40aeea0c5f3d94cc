// SPDX-License-Identifier: GPL-2.0
// How long lkd takes to serve channel calls, from the moment a dispatch
// thread takes a request to the publication of its answer (a call that
// blocks counts its whole wait), as a Prometheus-style histogram for the
// admin plane's metrics.
//
// It is on every call's path, so it reads the CPU's time-stamp counter
// (a few ns; two reads per call) rather than the clock, converted to
// nanoseconds with a rate measured once against CLOCK_MONOTONIC, and counts
// with relaxed atomics. On machines without a usable counter it reads
// CLOCK_MONOTONIC.
#ifndef LKD_SERVER_SESSION_CALL_LATENCY_H_
#define LKD_SERVER_SESSION_CALL_LATENCY_H_

#include <array>
#include <atomic>
#include <cstdint>

namespace lkd::server {

class CallLatency {
 public:
  // Upper bounds of the buckets, in ns (the last bucket is +Inf).
  static constexpr std::array<uint64_t, 13> kBoundsNs = {
      1'000,   2'000,   5'000,     10'000,     20'000,      50'000,       100'000,
      200'000, 500'000, 1'000'000, 10'000'000, 100'000'000, 1'000'000'000};

  CallLatency();  // measures the counter's rate (about 2 ms)
  CallLatency(const CallLatency&) = delete;
  CallLatency& operator=(const CallLatency&) = delete;

  // A timestamp in counter ticks.
  uint64_t Now() const;
  // One call that took from `start` to `end` (ticks from Now()).
  void Record(uint64_t start, uint64_t end);

  struct Snapshot {
    // Calls per bucket (not cumulative); the last is above every bound.
    std::array<uint64_t, kBoundsNs.size() + 1> buckets = {};
    uint64_t count = 0;
    double sum_seconds = 0;
  };
  Snapshot Take() const;

 private:
  double ns_per_tick_ = 1.0;
  bool use_tsc_ = false;
  std::array<std::atomic<uint64_t>, kBoundsNs.size() + 1> buckets_ = {};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace lkd::server

#endif  // LKD_SERVER_SESSION_CALL_LATENCY_H_
