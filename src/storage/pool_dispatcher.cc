// PoolDispatcher: the pool's dispatcher thread around PoolQueue.
#include "devshare/storage/pool_dispatcher.h"

#include <optional>
#include <vector>

namespace devshare::storage {

PoolDispatcher::PoolDispatcher(std::unique_ptr<PoolQueue> queue, const Clock& clock)
    : clock_(clock), queue_(std::move(queue)) {
  paced_ = queue_->pool().scheduler != PoolScheduler::kNone;
}

Result<std::unique_ptr<PoolDispatcher>> PoolDispatcher::Start(const PoolConfig& pool,
                                                              const Clock& clock) {
  DS_ASSIGN_OR_RETURN(std::unique_ptr<PoolQueue> q, PoolQueue::Create(pool, clock.Now()));
  std::unique_ptr<PoolDispatcher> d(new PoolDispatcher(std::move(q), clock));
  if (d->paced_) d->thread_ = std::thread([p = d.get()] { p->Run(); });
  return d;
}

PoolDispatcher::~PoolDispatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (auto& [id, w] : waiters_) {
      w->stopped = true;
      w->cv.notify_one();
    }
    waiters_.clear();
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

Result<uint32_t> PoolDispatcher::Acquire(VolumeId volume, uint64_t bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return Status::Unavailable("pool '" + queue_->pool().name + "' is stopping");
  qos::RequestId id = next_request_++;
  DS_ASSIGN_OR_RETURN(uint32_t cost, queue_->Submit(volume, id, bytes, clock_.Now()));
  if (!paced_) {
    std::vector<ReleasedRequest> out;
    (void)queue_->Pull(clock_.Now(), out);  // counts the cost; releases at once
    return cost;
  }
  Waiter w;
  waiters_.emplace(id, &w);
  wake_.notify_one();
  w.cv.wait(lock, [&] { return w.done || w.stopped; });
  if (!w.done) return Status::Unavailable("pool '" + queue_->pool().name + "' stopped");
  return cost;
}

void PoolDispatcher::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<ReleasedRequest> released;
  while (!stop_) {
    released.clear();
    std::optional<TimePoint> next = queue_->Pull(clock_.Now(), released);
    for (const ReleasedRequest& r : released) {
      auto it = waiters_.find(r.request);
      if (it == waiters_.end()) continue;
      it->second->done = true;
      it->second->cv.notify_one();
      waiters_.erase(it);
    }
    if (next) {
      // A new arrival may be due earlier than `next` (e.g. a reservation), so wake on it too.
      wake_.wait_until(lock, *next);
    } else {
      wake_.wait(lock);
    }
  }
}

Status PoolDispatcher::SetVolumeQos(VolumeId volume, const qos::ClientQos& qos) {
  std::lock_guard<std::mutex> lock(mu_);
  Status s = queue_->SetVolumeQos(volume, qos);
  wake_.notify_one();
  return s;
}

Status PoolDispatcher::SetCapacity(const PoolConfig& pool) {
  std::lock_guard<std::mutex> lock(mu_);
  Status s = queue_->SetCapacity(pool);
  wake_.notify_one();
  return s;
}

PoolSnapshot PoolDispatcher::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return PoolSnapshot{queue_->pool(), queue_->queued(), queue_->served_cost()};
}

}  // namespace devshare::storage
