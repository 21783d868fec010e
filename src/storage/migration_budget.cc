// MigrationBudget: a shared timeline of copy slots at migration_mbps.
#include "devshare/storage/migration_budget.h"

#include <algorithm>

namespace devshare::storage {

MigrationBudget::MigrationBudget(const Clock& clock, double mbps)
    : clock_(clock), bytes_per_s_(mbps * 1e6) {}

void MigrationBudget::SetRate(double mbps) {
  std::lock_guard<std::mutex> lock(mu_);
  bytes_per_s_ = mbps * 1e6;
}

bool MigrationBudget::Wait(uint64_t bytes, const std::atomic<bool>& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  TimePoint now = clock_.Now();
  TimePoint start = std::max(now, next_free_);
  next_free_ =
      start + Duration(static_cast<int64_t>(static_cast<double>(bytes) * 1e9 / bytes_per_s_));
  // The chunk goes at the end of its slot, so no move runs ahead of the budget.
  TimePoint until = next_free_;
  cv_.wait_until(lock, until, [&] { return stop.load() || clock_.Now() >= until; });
  return !stop.load();
}

void MigrationBudget::WakeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

}  // namespace devshare::storage
