// CreditSim: a discrete-event model of Xen's credit scheduler (credit1, xen/common/sched/
// credit.c; reference qos.md §2.1) running VMs' vCPUs on pCPUs on a virtual clock.
// Thread-safety: not thread-safe; one simulation per thread.
#ifndef DEVSHARE_QOS_CREDIT_SCHEDULER_H_
#define DEVSHARE_QOS_CREDIT_SCHEDULER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"

namespace devshare::qos {

// What a vCPU does: always runnable, or a cycle of `burst` CPU time then `sleep` blocked (an
// I/O-bound guest).
struct CpuWorkload {
  enum class Kind { kBusy, kPeriodic };
  Kind kind = Kind::kBusy;
  Duration burst{0};
  Duration sleep{0};

  static CpuWorkload Busy() { return {}; }
  static CpuWorkload Periodic(Duration burst, Duration sleep) {
    return {Kind::kPeriodic, burst, sleep};
  }
};

struct CreditVmSpec {
  std::string name;
  int64_t weight = 256;  // 1..65535
  int64_t cap_pct = 0;   // 0 = uncapped; else % of one pCPU for the whole VM, <= 100 * vcpus
  int64_t vcpus = 1;
  CpuWorkload workload;  // of every vCPU
};

struct CreditOptions {
  int64_t pcpus = 1;
  Duration tslice = std::chrono::milliseconds(30);  // also the accounting period
  Duration tick = std::chrono::milliseconds(10);
  int64_t credits_per_ms = 10;
  Duration ratelimit = std::chrono::milliseconds(1);
  // When the first accounting runs (then every tslice); 0 <= phase <= tslice. Xen's master
  // ticker is not tied to the pCPUs' slices. Aligned with busy vCPUs' slice ends (phase 0 or
  // tslice), every slice-end decision uses last period's priorities and uneven weights drift
  // (1:3 gives 2:5); mid-slice, shares follow the weights. docs/qos.md shows both.
  Duration accounting_phase = std::chrono::milliseconds(15);
  bool boost = true;  // experiments turn it off to show what it buys
};

enum class CreditPriority { kBoost = 0, kUnder = -1, kOver = -2 };

struct CreditVmStats {
  std::string name;
  Duration run_time{0};          // CPU time received since the last ResetStats
  double share_of_pcpu = 0;      // run_time / elapsed, 1.0 = one whole pCPU
  uint64_t wakes = 0;            // periodic vCPUs: wake-ups
  Duration max_wake_latency{0};  // wake to first run
  Duration mean_wake_latency{0};
};

// Weights 1..65535, caps in % of one pCPU (parking), 10 credits per ms of run time, accounting
// every 30 ms (csched_acct), UNDER / OVER priorities, BOOST for waking vCPUs, per-pCPU run queues
// with work stealing, and the 1 ms context-switch rate limit. docs/qos.md §5.
class CreditSim {
 public:
  // InvalidArgument naming the field for weights outside 1..65535, caps outside
  // 0..100*vcpus, vcpus < 1, pcpus < 1, a periodic workload without burst or sleep, or
  // non-positive options.
  static Result<std::unique_ptr<CreditSim>> Create(CreditOptions options,
                                                   std::vector<CreditVmSpec> vms);
  ~CreditSim();
  CreditSim(const CreditSim&) = delete;
  CreditSim& operator=(const CreditSim&) = delete;

  // Advances virtual time by `d`.
  void RunFor(Duration d);
  // Starts a new measurement window (e.g. after a warm-up).
  void ResetStats();
  // Per VM, in spec order, over the current window.
  std::vector<CreditVmStats> Stats() const;
  TimePoint now() const;
  // Current priority and credit of one vCPU, for tests.
  CreditPriority PriorityOf(size_t vm, size_t vcpu) const;
  int64_t CreditOf(size_t vm, size_t vcpu) const;

 private:
  class Impl;
  explicit CreditSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_CREDIT_SCHEDULER_H_
