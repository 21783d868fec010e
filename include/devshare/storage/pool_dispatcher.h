// PoolDispatcher: one per pool; a real dispatcher thread runs the pool's PoolQueue on the steady
// clock and wakes each I/O thread whose request it releases (condition variables, no polling).
// Thread-safety: every method is thread-safe; Acquire blocks the calling thread.
#ifndef DEVSHARE_STORAGE_POOL_DISPATCHER_H_
#define DEVSHARE_STORAGE_POOL_DISPATCHER_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/storage/pool_queue.h"
#include "devshare/storage/volume_config.h"

namespace devshare::storage {

struct PoolSnapshot {
  PoolConfig pool;
  size_t queued = 0;
  uint64_t served_cost = 0;  // cumulative since Start
};

class PoolDispatcher {
 public:
  // Starts the dispatcher thread (none for PoolScheduler::kNone). `clock` must outlive it and
  // be a real clock (the thread waits on the steady clock until the times it returns).
  static Result<std::unique_ptr<PoolDispatcher>> Start(const PoolConfig& pool, const Clock& clock);
  ~PoolDispatcher();  // releases every waiting request with Unavailable and joins the thread
  PoolDispatcher(const PoolDispatcher&) = delete;
  PoolDispatcher& operator=(const PoolDispatcher&) = delete;

  // Blocks until the pool releases a request of `bytes` for `volume`; returns its cost.
  // Unavailable when the dispatcher stops first; NotFound for a volume without QoS.
  Result<uint32_t> Acquire(VolumeId volume, uint64_t bytes);

  // See PoolQueue::SetVolumeQos / SetCapacity; queued requests are kept.
  Status SetVolumeQos(VolumeId volume, const qos::ClientQos& qos);
  Status SetCapacity(const PoolConfig& pool);

  PoolSnapshot Snapshot() const;

 private:
  struct Waiter {
    std::condition_variable cv;
    bool done = false;
    bool stopped = false;
  };

  PoolDispatcher(std::unique_ptr<PoolQueue> queue, const Clock& clock);
  void Run();

  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable wake_;  // the dispatcher thread waits on it
  std::unique_ptr<PoolQueue> queue_;
  std::unordered_map<qos::RequestId, Waiter*> waiters_;
  qos::RequestId next_request_ = 1;
  bool stop_ = false;
  bool paced_ = true;
  std::thread thread_;
};

}  // namespace devshare::storage

#endif  // DEVSHARE_STORAGE_POOL_DISPATCHER_H_
