// FifoQueue: arrival order.
#include "devshare/qos/fifo.h"

namespace devshare::qos {

Result<EnqueueOutcome> FifoQueue::Enqueue(ClientId client, RequestId request, uint32_t cost,
                                          TimePoint /*now*/, ReqParams /*params*/) {
  if (cost == 0) return Status::InvalidArgument("fifo: request cost must be > 0");
  queue_.push_back(DequeuedRequest{client, request, cost, Phase::kNone});
  ++per_client_[client];
  return EnqueueOutcome::kAccepted;
}

PullResult FifoQueue::Dequeue(TimePoint /*now*/) {
  if (queue_.empty()) return PullResult::Empty();
  DequeuedRequest r = queue_.front();
  queue_.pop_front();
  auto it = per_client_.find(r.client);
  if (--it->second == 0) per_client_.erase(it);
  return PullResult::Ready(r);
}

}  // namespace devshare::qos
