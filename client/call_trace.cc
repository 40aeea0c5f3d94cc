// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "client/call_trace.h"

#include <algorithm>

namespace lkd::client {

const char* CallStageName(int stage) {
  static const char* const kNames[kStageCount] = {
      "send", "doorbell", "decode", "kernel", "reply", "response", "receive", "total"};
  return stage >= 0 && stage < kStageCount ? kNames[stage] : "?";
}

std::array<uint64_t, kStageCount> CallStages(const CallTrace& t) {
  const uint64_t points[] = {t.start_ns,       t.sent_ns,        t.pickup_ns,
                             t.kernel_entry_ns, t.kernel_exit_ns, t.publish_ns,
                             t.woken_ns,        t.end_ns};
  std::array<uint64_t, kStageCount> stages{};
  for (int i = 0; i < kStageTotal; i++)
    stages[i] = points[i + 1] > points[i] ? points[i + 1] - points[i] : 0;
  stages[kStageTotal] = t.end_ns > t.start_ns ? t.end_ns - t.start_ns : 0;
  return stages;
}

void CallTraceTable::Add(const CallTrace& t) {
  const auto stages = CallStages(t);
  for (int i = 0; i < kStageCount; i++) samples_[i].push_back(stages[i]);
}

uint64_t CallTraceTable::Percentile(int stage, double q) const {
  std::vector<uint64_t> v = samples_[stage];
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

}  // namespace lkd::client
