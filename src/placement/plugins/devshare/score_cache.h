// The devshare policy's score cache: per request key (shape, tenant, isolation floor) a row of
// per-host entries with the host's candidate placements, their stranding changes and the
// memoised best, valid for one host generation. A row holds entries only for the hosts scored
// under its key (with host classes, one per class: framework.h), so its size follows the
// distinct host states, not the cluster. At most kMaxCacheKeys rows; when the entries of all
// rows exceed the budget, least recently used keys (but never below kMinCacheKeys rows) give
// their rows up when a new key arrives.
// Thread-safety: a ScoreCache belongs to one policy (one thread); free functions are pure.
#ifndef DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_SCORE_CACHE_H_
#define DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_SCORE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "devshare/core/request.h"

namespace devshare::placement::devshare_policy {

inline constexpr size_t kMaxCacheKeys = 1024;  // (shape, tenant, floor) keys of the score cache
// (key, host) entries held by the score cache by default, 300-700 bytes each (under 3 GB):
// past it, the least recently used keys make room for new ones (at least kMinCacheKeys kept).
inline constexpr size_t kDefaultCacheEntries = size_t{4} << 20;
inline constexpr size_t kMinCacheKeys = 8;
// Hosts with at most this many GPUs keep their cached stranding changes as int16 (2 x change
// stays within +-32,000); bigger ones as float.
inline constexpr int kMaxCompactGpus = 16;

// floor(x) and round-half-away-from-zero(x) for |x| well inside the integer range, inline:
// the libm calls (no SSE4.1 in the baseline ISA) were 7 % and 3 % of a devshare run.
inline int64_t FloorToInt64(double x) {
  const auto t = static_cast<int64_t>(x);  // truncates toward zero
  return static_cast<double>(t) > x ? t - 1 : t;
}
inline int16_t RoundToInt16(float x) {
  return static_cast<int16_t>(x >= 0 ? static_cast<int32_t>(x + 0.5f)
                                     : static_cast<int32_t>(x - 0.5f));
}

// A host's best candidate: its quantised score and GPU (-1: whole GPUs / CPU-only).
struct Choice {
  int64_t score = 0;
  int gpu = -1;
};

struct ScoreEntry {
  // Read for every feasible host at every request; kept together at the start so that a
  // host whose memoised best still holds costs one cache line (10,000 hosts: the scan is
  // memory-bound).
  uint64_t generation = UINT64_MAX;
  uint64_t price_epoch = UINT64_MAX;  // epoch `best` was computed under
  int64_t memory_mib = -1;  // request memory `best` was priced for; -1: no cap price entered
  Choice best;
  // Candidates: the GPU each places the request on (-1: whole GPUs / CPU-only, one
  // after-state) and, contiguous, its per-shape stranding after - before (milli, unweighted).
  std::vector<int> gpus;
  // [candidate x k], twice the change: the stranding is a multiple of 0.5 milli within
  // +-(GPUs x 1000), so for hosts of up to kMaxCompactGpus GPUs int16 holds it exactly at
  // half the memory of float (scoring is memory-bound on large clusters); bigger hosts use
  // wide_deltas (the change itself, float) instead.
  std::vector<int16_t> deltas;
  std::vector<float> wide_deltas;
  uint64_t base_epoch = UINT64_MAX;  // epoch `base` was computed under
  std::vector<double> base;          // per candidate: weighted stranding change (milli)
  // Per candidate: weighted packing loss (6.) in milli; depends on the host state only.
  std::vector<float> packing;
};

// The cache key of a request: its shape (RequestShapeKey) and, when set, tenant and isolation
// floor, which decide which GPUs it may share.
std::string CacheKey(const VmRequest& req);

class ScoreCache {
 public:
  // `entries`: budget of (key, host) entries; 0 = kDefaultCacheEntries.
  explicit ScoreCache(size_t entries);

  // Makes `key`'s row the current one for a cluster of `hosts` hosts: an existing row, or a new
  // one after dropping least recently used rows while the entries held exceed the budget (and
  // more than kMinCacheKeys rows remain) or kMaxCacheKeys rows exist.
  void Select(std::string key, size_t hosts);
  // Host `host_index`'s entry in the current row, created empty (generation UINT64_MAX) on first
  // use. REQUIRES: Select since the last Clear, host_index < its `hosts`. The reference holds
  // until the next Select/Clear.
  ScoreEntry& At(int host_index);
  // Drops every row (M changed, or another cluster).
  void Clear();

  size_t budget() const { return entries_; }
  size_t rows() const { return ids_.size(); }
  size_t entries() const { return held_; }
  bool Contains(const std::string& key) const { return ids_.count(key) > 0; }

 private:
  struct Row {
    std::vector<int32_t> index;      // [host] position in entries, -1: none
    std::deque<ScoreEntry> entries;  // stable references
  };
  const size_t entries_;
  size_t held_ = 0;  // entries in all rows
  size_t hosts_ = 0;
  std::unordered_map<std::string, int> ids_;
  std::vector<Row> rows_;               // [request key]
  std::vector<std::string> key_names_;  // [row]: its key in ids_
  std::vector<uint64_t> key_used_;      // [row]: key_clock_ at its last use
  std::vector<int> free_rows_;          // dropped rows, reused by new keys
  uint64_t key_clock_ = 0;
  int current_ = -1;
};

}  // namespace devshare::placement::devshare_policy

#endif  // DEVSHARE_PLACEMENT_PLUGINS_DEVSHARE_SCORE_CACHE_H_
