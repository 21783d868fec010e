// QoS check: samples the CPU time of devshare-* domains over a window and compares what each got
// with what its <cputune> promises: CFS shares water-filled among the busy domains competing for
// the same host CPUs (domains whose pinned CPU sets overlap), each capped by its vCPUs, its CPUs
// and its period/quota.
// Thread-safety: pure functions, except MeasureQos (calls the hypervisor and sleeps).
#ifndef DEVSHARE_HOST_QOS_CHECK_H_
#define DEVSHARE_HOST_QOS_CHECK_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/host/hypervisor.h"

namespace devshare::host {

struct QosSample {
  std::string name;
  DomainCpuInfo info;
  std::chrono::nanoseconds cpu_time{0};
};

// A domain using less than this share of one CPU is idle: it competes for nothing.
inline constexpr double kIdlePct = 2.0;

struct QosRow {
  std::string name;
  DomainCpuInfo info;
  int group = 0;            // competition group: domains whose pinned CPUs overlap
  int group_cpus = 0;       // CPUs of the group (union of its domains' pins)
  double achieved_pct = 0;  // CPU time / window, in % of one host CPU
  double promised_pct = 0;  // water-filled entitlement when the group's busy domains spin
  double cap_pct = -1;      // vcpus x quota / period x 100, -1 when uncapped
  bool idle = false;        // achieved < kIdlePct: left out of the group's competition
  // This domain's part of what its group's busy domains got / were promised (0..1). Other load
  // on the same CPUs lowers achieved_pct for everyone; these shares still compare the weights.
  double achieved_group_share = 0;
  double promised_group_share = 0;
};

// Rows for the domains present in both samples (matched by name), sorted by group then name.
// `window` is the time between the two samples. Empty when window <= 0.
std::vector<QosRow> EvaluateQos(const std::vector<QosSample>& start,
                                const std::vector<QosSample>& end, Duration window);

// Samples every running domain whose name starts with `prefix`, sleeps `window` through `sleep`,
// samples again and evaluates over the elapsed time read from `clock`. Domains that stop or
// appear in between are left out. Errors from listing domains are returned.
Result<std::vector<QosRow>> MeasureQos(Hypervisor& hypervisor, const Clock& clock,
                                       const std::function<void(Duration)>& sleep, Duration window,
                                       std::string_view prefix = kDomainPrefix);

// A table for people: DOMAIN GROUP CPUS VCPUS SHARES CAP% PROMISED% ACHIEVED% ACHIEVED/PROMISED
// and the group shares (promised vs achieved part of the group's CPU time).
std::string FormatQosTable(const std::vector<QosRow>& rows);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_QOS_CHECK_H_
