// SPDX-License-Identifier: GPL-2.0
#include "server/session/call_latency.h"

#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace lkd::server {

namespace {
uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

CallLatency::CallLatency() {
#if defined(__x86_64__) || defined(__i386__)
  // The counter's rate against the clock over ~2 ms. A counter that does
  // not move forward with the clock (it should on any machine of the last
  // fifteen years, virtual ones included) is not used.
  const uint64_t t0 = MonotonicNs(), c0 = __rdtsc();
  usleep(2000);
  const uint64_t t1 = MonotonicNs(), c1 = __rdtsc();
  if (c1 > c0 && t1 > t0) {
    ns_per_tick_ = static_cast<double>(t1 - t0) / static_cast<double>(c1 - c0);
    use_tsc_ = true;
  }
#endif
}

uint64_t CallLatency::Now() const {
#if defined(__x86_64__) || defined(__i386__)
  if (use_tsc_) return __rdtsc();
#endif
  return MonotonicNs();
}

void CallLatency::Record(uint64_t start, uint64_t end) {
  // A call may end on another CPU; counters may differ slightly there.
  const uint64_t ticks = end > start ? end - start : 0;
  const uint64_t ns = use_tsc_ ? static_cast<uint64_t>(static_cast<double>(ticks) * ns_per_tick_)
                               : ticks;
  size_t b = 0;
  while (b < kBoundsNs.size() && ns > kBoundsNs[b]) b++;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

CallLatency::Snapshot CallLatency::Take() const {
  Snapshot s;
  for (size_t b = 0; b < buckets_.size(); b++) {
    s.buckets[b] = buckets_[b].load(std::memory_order_relaxed);
    s.count += s.buckets[b];
  }
  s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

}  // namespace lkd::server
