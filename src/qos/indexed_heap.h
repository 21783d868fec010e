// IndexedHeap: a d-ary min-heap of small integer ids (client slots) that remembers each id's
// position, so an id whose key changed is re-sifted in O(log n) (dmclock's indirect intrusive
// heap, without intrusion).
// Thread-safety: not thread-safe.
#ifndef DEVSHARE_SRC_QOS_INDEXED_HEAP_H_
#define DEVSHARE_SRC_QOS_INDEXED_HEAP_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "devshare/core/check.h"

namespace devshare::qos {

// `Less(a, b)` is true when id a must come before id b. Arity 3 is dmclock's advice above a
// handful of clients; it halves the depth of a binary heap at the cost of one more compare.
template <typename Less, size_t kArity = 3>
class IndexedHeap {
 public:
  static constexpr uint32_t kAbsent = std::numeric_limits<uint32_t>::max();

  explicit IndexedHeap(Less less) : less_(std::move(less)) {}

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // REQUIRES: !empty().
  uint32_t top() const { return heap_.front(); }
  bool contains(uint32_t id) const { return id < pos_.size() && pos_[id] != kAbsent; }

  // REQUIRES: !contains(id).
  void Push(uint32_t id) {
    if (id >= pos_.size()) pos_.resize(id + 1, kAbsent);
    DS_CHECK(pos_[id] == kAbsent);
    heap_.push_back(id);
    pos_[id] = static_cast<uint32_t>(heap_.size() - 1);
    SiftUp(heap_.size() - 1);
  }

  // Restores the order after id's key changed in either direction. REQUIRES: contains(id).
  void Adjust(uint32_t id) {
    size_t i = pos_[id];
    if (!SiftUp(i)) SiftDown(i);
  }
  // After id's key decreased (moves toward the top) / increased (moves toward the bottom).
  void Promote(uint32_t id) { SiftUp(pos_[id]); }
  void Demote(uint32_t id) { SiftDown(pos_[id]); }

  // REQUIRES: contains(id).
  void Remove(uint32_t id) {
    size_t i = pos_[id];
    pos_[id] = kAbsent;
    uint32_t last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    heap_[i] = last;
    pos_[last] = static_cast<uint32_t>(i);
    if (!SiftUp(i)) SiftDown(i);
  }

  const std::vector<uint32_t>& items() const { return heap_; }

 private:
  // Returns true when the element moved.
  bool SiftUp(size_t i) {
    uint32_t id = heap_[i];
    size_t start = i;
    while (i > 0) {
      size_t parent = (i - 1) / kArity;
      if (!less_(id, heap_[parent])) break;
      Place(i, heap_[parent]);
      i = parent;
    }
    Place(i, id);
    return i != start;
  }

  void SiftDown(size_t i) {
    uint32_t id = heap_[i];
    const size_t n = heap_.size();
    while (true) {
      size_t first = i * kArity + 1;
      if (first >= n) break;
      size_t best = first;
      size_t end = first + kArity < n ? first + kArity : n;
      for (size_t c = first + 1; c < end; ++c) {
        if (less_(heap_[c], heap_[best])) best = c;
      }
      if (!less_(heap_[best], id)) break;
      Place(i, heap_[best]);
      i = best;
    }
    Place(i, id);
  }

  void Place(size_t i, uint32_t id) {
    heap_[i] = id;
    pos_[id] = static_cast<uint32_t>(i);
  }

  Less less_;
  std::vector<uint32_t> heap_;
  std::vector<uint32_t> pos_;
};

}  // namespace devshare::qos

#endif  // DEVSHARE_SRC_QOS_INDEXED_HEAP_H_
