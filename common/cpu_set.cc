// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include "common/cpu_set.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"

namespace lkd {
namespace {

cpu_set_t ToSet(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  return set;
}

}  // namespace

absl::StatusOr<std::vector<int>> ParseCpuList(absl::string_view list) {
  std::vector<int> cpus;
  if (list.empty()) return absl::InvalidArgumentError("empty CPU list");
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    const size_t dash = item.find('-');
    const absl::string_view first_text = item.substr(0, dash);
    const absl::string_view last_text =
        dash == absl::string_view::npos ? first_text : item.substr(dash + 1);
    uint32_t first, last;
    if (!absl::SimpleAtoi(first_text, &first) || !absl::SimpleAtoi(last_text, &last) ||
        first > last || last >= CPU_SETSIZE)
      return absl::InvalidArgumentError(
          absl::StrCat("bad CPU list \"", list, "\" at \"", item,
                       "\" (want numbers and ranges below ", CPU_SETSIZE, ", e.g. 0,2-3)"));
    for (uint32_t cpu = first; cpu <= last; cpu++) cpus.push_back(static_cast<int>(cpu));
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

std::string FormatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) j++;
    absl::StrAppend(&out, out.empty() ? "" : ",", cpus[i]);
    if (j > i) absl::StrAppend(&out, "-", cpus[j]);
    i = j + 1;
  }
  return out;
}

std::vector<int> AllowedCpus(pid_t tid) {
  cpu_set_t set;
  std::vector<int> cpus;
  if (sched_getaffinity(tid, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

absl::StatusOr<std::vector<int>> ResolveDispatchCpus(absl::string_view spec,
                                                     const std::vector<int>& allowed) {
  if (spec == "none") return std::vector<int>{};
  if (spec == "auto") {
    if (allowed.size() < 2) return std::vector<int>{};
    return std::vector<int>{allowed.back()};
  }
  auto cpus = ParseCpuList(spec);
  if (!cpus.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("--dispatch_cpus: ", cpus.status().message(), ", or auto, or none"));
  for (int cpu : *cpus)
    if (!std::binary_search(allowed.begin(), allowed.end(), cpu))
      return absl::InvalidArgumentError(absl::StrCat("--dispatch_cpus: CPU ", cpu,
                                                     " is not one lkd may run on (",
                                                     FormatCpuList(allowed), ")"));
  return cpus;
}

absl::Status PinThread(pthread_t thread, const std::vector<int>& cpus) {
  const cpu_set_t set = ToSet(cpus);
  if (int rc = pthread_setaffinity_np(thread, sizeof(set), &set); rc != 0)
    return ErrnoStatus(rc, absl::StrCat("pinning a thread to CPUs ", FormatCpuList(cpus)));
  return absl::OkStatus();
}

std::vector<int> CpusApartFrom(const std::vector<int>& allowed,
                               const std::vector<int>& kernel_cpus) {
  std::vector<int> rest;
  for (int cpu : allowed)
    if (std::find(kernel_cpus.begin(), kernel_cpus.end(), cpu) == kernel_cpus.end())
      rest.push_back(cpu);
  return rest;
}

absl::StatusOr<std::vector<int>> KeepProcessOffCpus(const std::vector<int>& kernel_cpus) {
  const std::vector<int> allowed = AllowedCpus();
  const std::vector<int> rest = CpusApartFrom(allowed, kernel_cpus);
  if (rest.empty() || rest.size() == allowed.size()) return std::vector<int>{};
  const cpu_set_t set = ToSet(rest);
  // Every thread: a library may have started some before the attach.
  DIR* dir = opendir("/proc/self/task");
  if (!dir) {
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
      return ErrnoStatus(errno, "sched_setaffinity");
    return rest;
  }
  absl::Status status;
  while (struct dirent* e = readdir(dir)) {
    char* end;
    const long tid = strtol(e->d_name, &end, 10);
    if (e->d_name[0] == '.' || *end || tid <= 0) continue;
    // ESRCH: the thread ended meanwhile.
    if (sched_setaffinity(static_cast<pid_t>(tid), sizeof(set), &set) != 0 && errno != ESRCH &&
        status.ok())
      status = ErrnoStatus(errno, absl::StrCat("sched_setaffinity of thread ", tid));
  }
  closedir(dir);
  if (!status.ok()) return status;
  return rest;
}

}  // namespace lkd
