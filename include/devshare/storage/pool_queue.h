// PoolQueue: the deterministic core of a pool's dispatcher. Requests (volume, bytes) get a cost
// max(1, ceil(bytes / unit)), unit = capacity_mbps*1e6 / capacity_iops bytes, wait in the
// project's MClockQueue (mClock, OSDI'10) or the fifo baseline, and are released by a token
// bucket refilled at capacity_iops cost units per second. Time is always passed in.
// Thread-safety: not thread-safe; PoolDispatcher serialises access with its mutex.
#ifndef DEVSHARE_STORAGE_POOL_QUEUE_H_
#define DEVSHARE_STORAGE_POOL_QUEUE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/qos/scheduler.h"
#include "devshare/storage/volume_config.h"

namespace devshare::storage {

using VolumeId = qos::ClientId;

// The token bucket holds at most this much time of capacity (and at least one cost unit).
inline constexpr Duration kPoolBurst = std::chrono::milliseconds(10);

// Bytes of one cost unit: the request size where the device goes from IOPS-bound to
// bandwidth-bound.
double PoolCostUnitBytes(const PoolConfig& pool);
// max(1, ceil(bytes / unit)), saturated at UINT32_MAX.
uint32_t PoolRequestCost(const PoolConfig& pool, uint64_t bytes);

struct ReleasedRequest {
  VolumeId volume = 0;
  qos::RequestId request = 0;
  uint32_t cost = 1;
};

class PoolQueue {
 public:
  // InvalidArgument when the pool's values are unusable. `now` starts the token bucket (full).
  static Result<std::unique_ptr<PoolQueue>> Create(const PoolConfig& pool, TimePoint now);
  PoolQueue(const PoolQueue&) = delete;
  PoolQueue& operator=(const PoolQueue&) = delete;

  // Adds or changes a volume's QoS (cost units per second). Queued requests stay queued; mClock
  // re-reads the values (MClockQueue::UpdateClientQos). InvalidArgument for invalid values.
  Status SetVolumeQos(VolumeId volume, const qos::ClientQos& qos);
  // New capacity (rate, burst, cost unit). The scheduler kind is fixed at Create.
  Status SetCapacity(const PoolConfig& pool);

  // Queues a request of `bytes` for `volume` arriving at `now`; returns its cost.
  // NotFound for a volume without QoS; errors of Scheduler::Enqueue otherwise.
  Result<uint32_t> Submit(VolumeId volume, qos::RequestId request, uint64_t bytes, TimePoint now);

  // Appends to `out` every request released at `now` (`now` never goes backwards). Returns when
  // to call again while requests remain queued, nullopt when none is (call after a Submit).
  std::optional<TimePoint> Pull(TimePoint now, std::vector<ReleasedRequest>& out);

  size_t queued() const { return scheduler_ ? scheduler_->request_count() : pending_.size(); }
  uint64_t served_cost() const { return served_cost_; }
  const PoolConfig& pool() const { return pool_; }

 private:
  PoolQueue(const PoolConfig& pool, TimePoint now);
  void Refill(TimePoint now);

  PoolConfig pool_;
  std::unique_ptr<qos::Scheduler> scheduler_;  // null for PoolScheduler::kNone
  std::vector<ReleasedRequest> pending_;       // kNone: released by the next Pull
  std::unordered_map<VolumeId, qos::ClientQos> qos_;
  double rate_per_ns_ = 0;  // cost units per nanosecond
  double burst_ = 1;
  double tokens_ = 1;
  TimePoint last_refill_;
  uint64_t served_cost_ = 0;
};

}  // namespace devshare::storage

#endif  // DEVSHARE_STORAGE_POOL_QUEUE_H_
