// FifoQueue: the baseline scheduler: requests leave in arrival order, no QoS at all (dmclock's
// ssched). Every QoS algorithm is measured next to it in the same harness.
// Thread-safety: not thread-safe; one queue per server.
#ifndef DEVSHARE_QOS_FIFO_H_
#define DEVSHARE_QOS_FIFO_H_

#include <deque>
#include <unordered_map>

#include "devshare/qos/scheduler.h"

namespace devshare::qos {

class FifoQueue final : public Scheduler {
 public:
  std::string_view Name() const override { return "fifo"; }
  // Always kAccepted; InvalidArgument for cost 0. `params` are ignored.
  Result<EnqueueOutcome> Enqueue(ClientId client, RequestId request, uint32_t cost, TimePoint now,
                                 ReqParams params = {}) override;
  // The oldest request with Phase::kNone, else empty (never a future time).
  PullResult Dequeue(TimePoint now) override;
  size_t request_count() const override { return queue_.size(); }
  size_t client_count() const override { return per_client_.size(); }

 private:
  std::deque<DequeuedRequest> queue_;
  std::unordered_map<ClientId, size_t> per_client_;  // queued requests per client
};

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_FIFO_H_
