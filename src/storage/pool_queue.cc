// PoolQueue: cost model, token-bucket pacing and the scheduler behind each pool.
#include "devshare/storage/pool_queue.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "devshare/qos/mclock.h"

namespace devshare::storage {

double PoolCostUnitBytes(const PoolConfig& pool) {
  return pool.capacity_mbps * 1e6 / pool.capacity_iops;
}

uint32_t PoolRequestCost(const PoolConfig& pool, uint64_t bytes) {
  double units = std::ceil(static_cast<double>(bytes) / PoolCostUnitBytes(pool));
  if (!(units >= 1)) return 1;
  if (units >= static_cast<double>(std::numeric_limits<uint32_t>::max())) {
    return std::numeric_limits<uint32_t>::max();
  }
  return static_cast<uint32_t>(units);
}

PoolQueue::PoolQueue(const PoolConfig& pool, TimePoint now) : pool_(pool), last_refill_(now) {}

Result<std::unique_ptr<PoolQueue>> PoolQueue::Create(const PoolConfig& pool, TimePoint now) {
  std::unique_ptr<PoolQueue> q(new PoolQueue(pool, now));
  DS_RETURN_IF_ERROR(q->SetCapacity(pool));
  q->tokens_ = q->burst_;
  if (pool.scheduler != PoolScheduler::kNone) {
    qos::SchedulerRegistry registry;
    qos::RegisterBuiltinSchedulers(registry);
    qos::SchedulerArgs args;
    PoolQueue* self = q.get();
    args.qos_fn = [self](qos::ClientId c) -> std::optional<qos::ClientQos> {
      auto it = self->qos_.find(c);
      if (it == self->qos_.end()) return std::nullopt;
      return it->second;
    };
    DS_ASSIGN_OR_RETURN(q->scheduler_, registry.Create(PoolSchedulerName(pool.scheduler), args));
  }
  return q;
}

Status PoolQueue::SetCapacity(const PoolConfig& pool) {
  if (!(pool.capacity_iops > 0) || !(pool.capacity_mbps > 0) ||
      !std::isfinite(pool.capacity_iops) || !std::isfinite(pool.capacity_mbps)) {
    return Status::InvalidArgument("pool '" + pool.name + "': capacity must be > 0");
  }
  PoolScheduler kind = pool_.scheduler;
  pool_ = pool;
  pool_.scheduler = kind;
  rate_per_ns_ = pool.capacity_iops / 1e9;
  burst_ = std::max(1.0, pool.capacity_iops * std::chrono::duration<double>(kPoolBurst).count());
  tokens_ = std::min(tokens_, burst_);
  return Status::Ok();
}

Status PoolQueue::SetVolumeQos(VolumeId volume, const qos::ClientQos& qos) {
  DS_RETURN_IF_ERROR(qos::ValidateClientQos(qos, "volume " + std::to_string(volume)));
  qos_[volume] = qos;
  if (auto* m = dynamic_cast<qos::MClockQueue*>(scheduler_.get())) {
    return m->UpdateClientQos(volume);
  }
  return Status::Ok();
}

Result<uint32_t> PoolQueue::Submit(VolumeId volume, qos::RequestId request, uint64_t bytes,
                                   TimePoint now) {
  if (qos_.count(volume) == 0) {
    return Status::NotFound("pool '" + pool_.name + "': volume " + std::to_string(volume) +
                            " has no QoS");
  }
  uint32_t cost = PoolRequestCost(pool_, bytes);
  if (!scheduler_) {
    pending_.push_back(ReleasedRequest{volume, request, cost});
    return cost;
  }
  DS_ASSIGN_OR_RETURN(qos::EnqueueOutcome outcome, scheduler_->Enqueue(volume, request, cost, now));
  if (outcome != qos::EnqueueOutcome::kAccepted) {
    return Status::ResourceExhausted("pool '" + pool_.name + "' rejected the request");
  }
  return cost;
}

void PoolQueue::Refill(TimePoint now) {
  if (now <= last_refill_) return;
  double add = static_cast<double>((now - last_refill_).count()) * rate_per_ns_;
  tokens_ = std::min(burst_, tokens_ + add);
  last_refill_ = now;
}

std::optional<TimePoint> PoolQueue::Pull(TimePoint now, std::vector<ReleasedRequest>& out) {
  if (!scheduler_) {
    for (const ReleasedRequest& r : pending_) served_cost_ += r.cost;
    out.insert(out.end(), pending_.begin(), pending_.end());
    pending_.clear();
    return std::nullopt;
  }
  Refill(now);
  while (tokens_ >= 1) {
    qos::PullResult pr = scheduler_->Dequeue(now);
    if (pr.is_empty()) return std::nullopt;
    if (pr.is_future()) return pr.when();
    const qos::DequeuedRequest& r = pr.request();
    tokens_ -= r.cost;
    served_cost_ += r.cost;
    out.push_back(ReleasedRequest{r.client, r.request, r.cost});
  }
  if (scheduler_->request_count() == 0) return std::nullopt;
  // Next time the bucket holds one unit again (rounded up to whole nanoseconds).
  double wait_ns = std::ceil((1.0 - tokens_) / rate_per_ns_);
  return now + Duration(std::max<int64_t>(1, static_cast<int64_t>(wait_ns)));
}

}  // namespace devshare::storage
