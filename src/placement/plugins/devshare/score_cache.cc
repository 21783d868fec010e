// The devshare policy's score cache (see the header).
// Thread-safety: see score_cache.h.
#include "placement/plugins/devshare/score_cache.h"

#include <algorithm>
#include <utility>

#include "placement/device_match.h"

namespace devshare::placement::devshare_policy {

std::string CacheKey(const VmRequest& req) {
  std::string key = RequestShapeKey(req);
  if (!req.tenant.empty() || req.isolation_floor) {
    key += "|" + req.tenant + "|" +
           (req.isolation_floor ? std::string(IsolationClassName(*req.isolation_floor)) : "");
  }
  return key;
}

ScoreCache::ScoreCache(size_t entries) : entries_(entries > 0 ? entries : kDefaultCacheEntries) {}

void ScoreCache::Select(std::string key, size_t hosts) {
  hosts_ = hosts;
  auto it = ids_.find(key);
  if (it == ids_.end()) {
    while (ids_.size() >= kMaxCacheKeys || (held_ > entries_ && ids_.size() >= kMinCacheKeys)) {
      // Drop the least recently used row (its slot is reused by new keys).
      const int id = static_cast<int>(std::min_element(key_used_.begin(), key_used_.end()) -
                                      key_used_.begin());
      ids_.erase(key_names_[id]);
      held_ -= rows_[id].entries.size();
      Row().index.swap(rows_[id].index);
      std::deque<ScoreEntry>().swap(rows_[id].entries);  // give the memory back
      key_used_[id] = UINT64_MAX;                        // not a candidate again in this loop
      free_rows_.push_back(id);
    }
    int id;
    if (!free_rows_.empty()) {
      id = free_rows_.back();
      free_rows_.pop_back();
      key_names_[id] = key;
    } else {
      id = static_cast<int>(rows_.size());
      rows_.emplace_back();
      key_names_.push_back(key);
      key_used_.push_back(0);
    }
    it = ids_.emplace(std::move(key), id).first;
  }
  current_ = it->second;
  key_used_[current_] = ++key_clock_;
}

ScoreEntry& ScoreCache::At(int host_index) {
  Row& row = rows_[current_];
  if (row.index.size() < hosts_ || host_index >= static_cast<int>(row.index.size())) {
    row.index.resize(std::max<size_t>(hosts_, static_cast<size_t>(host_index) + 1), -1);
  }
  int32_t& at = row.index[host_index];
  if (at < 0) {
    at = static_cast<int32_t>(row.entries.size());
    row.entries.emplace_back();
    ++held_;
  }
  return row.entries[at];
}

void ScoreCache::Clear() {
  rows_.clear();
  ids_.clear();
  key_names_.clear();
  key_used_.clear();
  free_rows_.clear();
  held_ = 0;
  current_ = -1;
}

}  // namespace devshare::placement::devshare_policy
