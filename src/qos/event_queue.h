// EventQueue<E>: the pending events of a discrete-event simulation, earliest first; events due
// at the same time leave in the order they were pushed, so a run is deterministic. E needs a
// TimePoint member `at`. Used by the credit CPU scheduler model and the QoS simulator.
// Thread-safety: a value without synchronisation.
#ifndef DEVSHARE_SRC_QOS_EVENT_QUEUE_H_
#define DEVSHARE_SRC_QOS_EVENT_QUEUE_H_

#include <cstdint>
#include <queue>
#include <utility>
#include <vector>

namespace devshare::qos {

template <typename E>
class EventQueue {
 public:
  void Push(E e) { heap_.push(Entry{std::move(e), next_seq_++}); }
  bool empty() const { return heap_.empty(); }
  // REQUIRES: !empty().
  const E& top() const { return heap_.top().event; }
  // REQUIRES: !empty().
  E Pop() {
    E e = heap_.top().event;
    heap_.pop();
    return e;
  }

 private:
  struct Entry {
    E event;
    uint64_t seq;  // push order: breaks ties between events due at the same time
  };
  struct Later {
    bool operator()(const Entry& x, const Entry& y) const {
      return x.event.at != y.event.at ? x.event.at > y.event.at : x.seq > y.seq;
    }
  };
  std::priority_queue<Entry, std::vector<Entry>, Later> heap_;
  uint64_t next_seq_ = 0;
};

}  // namespace devshare::qos

#endif  // DEVSHARE_SRC_QOS_EVENT_QUEUE_H_
