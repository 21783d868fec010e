// Host equivalence classes: hosts whose Host description (all but its id) and current usage are
// identical pass the same filters and get the same state-only score, so the framework filters
// and scores one representative per class (its lowest host index, which also wins ties among
// the class) instead of every host. Classes live in numbered slots; every change of a slot
// (created, emptied, a member joined or left) is appended to a change log that per-request
// score boards (class_scores.h) replay to re-score only what changed.
// Thread-safety: a HostClasses belongs to one Framework (one thread).
#ifndef DEVSHARE_PLACEMENT_HOST_CLASSES_H_
#define DEVSHARE_PLACEMENT_HOST_CLASSES_H_

#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "devshare/core/host_state.h"

namespace devshare::placement {

// The static part of a host's class key: every field of `host` except its id (NUMA nodes,
// inventories, traits, every device with its attributes).
std::string HostShapeKey(const Host& host);
// The usage part of a host's class key: free CPU and memory and every GPU, NIC and disk usage.
// Two states of hosts with equal HostShapeKey are interchangeable for every state-only filter
// and score iff their usage keys are equal.
void AppendUsageKey(const HostState& state, std::string* key);

class HostClasses {
 public:
  struct Slot {
    // What boards read at every replay, together: one cache line.
    bool live = false;
    uint32_t version = 0;   // bumped whenever the slot starts holding another class
    int first = -1;         // lowest member
    int last = -1;          // highest member
    int64_t size = 0;       // members
    std::set<int> members;  // host indices
    std::string key;        // the class key (shape id + usage)
  };

  // Forgets everything and files every host of `cluster` (O(hosts)).
  void Reset(const ClusterState& cluster);
  // Re-files host `i` after its state changed (no-op when its class did not change).
  void Refile(const ClusterState& cluster, int i);
  // Re-files every host whose generation changed since it was last filed (O(hosts)).
  void RefileChanged(const ClusterState& cluster);

  bool initialized_for(const ClusterState& cluster) const {
    return cluster_ == &cluster && class_of_.size() == cluster.states.size();
  }
  size_t slot_count() const { return slots_.size(); }
  size_t live_classes() const { return live_; }
  const Slot& slot(int s) const { return slots_[s]; }
  // The lowest member: the host a decision for the class picks (ties go to the lowest index).
  int representative(int s) const { return slots_[s].first; }
  // The highest member: the host the class is filtered and scored through. Any member would
  // do (state-only filters and scores); the highest stays longest, since decisions take the
  // lowest, so the policies' per-host caches for it stay valid longest.
  int scoring_host(int s) const { return slots_[s].last; }
  int class_of(int host) const { return class_of_[host]; }

  // The change log: slot ids, in order of change. log_begin() is the absolute position of
  // log()[0] (older entries were dropped); log_end() = log_begin() + log().size(). A reader that
  // last read up to position p < log_begin() has missed changes and must re-read everything.
  const std::vector<int>& log() const { return log_; }
  uint64_t log_begin() const { return log_begin_; }
  uint64_t log_end() const { return log_begin_ + log_.size(); }

 private:
  void File(const ClusterState& cluster, int i);
  void Leave(int i);
  void Trim();
  static void Summarize(Slot& slot);

  const ClusterState* cluster_ = nullptr;
  std::unordered_map<std::string, int> shape_ids_;
  std::vector<int> shape_of_;         // [host] index into shape ids
  std::vector<int> class_of_;         // [host] slot
  std::vector<uint64_t> generation_;  // [host] generation when last filed
  std::vector<Slot> slots_;
  std::vector<int> free_slots_;
  std::unordered_map<std::string, int> slot_of_key_;
  size_t live_ = 0;
  std::vector<int> log_;
  uint64_t log_begin_ = 0;
  std::string scratch_;
};

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_HOST_CLASSES_H_
