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
  auto it = ids_.find(key);
  if (it == ids_.end()) {
    const size_t max_keys =
        std::clamp<size_t>(entries_ / std::max<size_t>(1, hosts), kMinCacheKeys, kMaxCacheKeys);
    int id = static_cast<int>(rows_.size());
    if (rows_.size() < max_keys) {
      rows_.emplace_back();
      key_names_.push_back(key);
      key_used_.push_back(0);
    } else {
      id = static_cast<int>(std::min_element(key_used_.begin(), key_used_.end()) -
                            key_used_.begin());
      ids_.erase(key_names_[id]);
      std::vector<ScoreEntry>().swap(rows_[id]);  // give the memory back
      key_names_[id] = key;
    }
    it = ids_.emplace(std::move(key), id).first;
  }
  current_ = it->second;
  key_used_[current_] = ++key_clock_;
}

ScoreEntry& ScoreCache::At(int host_index) {
  std::vector<ScoreEntry>& row = rows_[current_];
  if (host_index >= static_cast<int>(row.size())) row.resize(host_index + 1);
  return row[host_index];
}

void ScoreCache::Clear() {
  rows_.clear();
  ids_.clear();
  key_names_.clear();
  key_used_.clear();
  current_ = -1;
}

}  // namespace devshare::placement::devshare_policy
