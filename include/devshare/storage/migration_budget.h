// MigrationBudget: the bandwidth budget (migration_mbps) shared by every live move of the
// process. Each chunk reserves the next free slot of the budget's timeline and waits for it.
// Thread-safety: thread-safe; Wait blocks the calling (copier) thread.
#ifndef DEVSHARE_STORAGE_MIGRATION_BUDGET_H_
#define DEVSHARE_STORAGE_MIGRATION_BUDGET_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "devshare/core/clock.h"

namespace devshare::storage {

class MigrationBudget {
 public:
  // `clock` must be a real clock (waits use the steady clock) and outlive the budget.
  MigrationBudget(const Clock& clock, double mbps);

  void SetRate(double mbps);
  // Waits until `bytes` fit in the budget. False when `stop` became true first (or Shutdown).
  bool Wait(uint64_t bytes, const std::atomic<bool>& stop);
  // Wakes every waiter so it can re-check its stop flag.
  void WakeAll();

 private:
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  double bytes_per_s_;
  TimePoint next_free_{};
};

}  // namespace devshare::storage

#endif  // DEVSHARE_STORAGE_MIGRATION_BUDGET_H_
