// ChangeSet: the rows an open Txn changed, for the change feed (records.h ChangeRecord). Each
// backend's Txn records a row after a write to it succeeds; a savepoint marks a position that
// RollbackToSavepoint truncates back to. Internal to src/store.
// Thread-safety: not thread-safe; owned by one Txn.
#ifndef DEVSHARE_STORE_CHANGE_SET_H_
#define DEVSHARE_STORE_CHANGE_SET_H_

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace devshare::store {

class ChangeSet {
 public:
  void Record(const char* kind, std::string key) { rows_.emplace_back(kind, std::move(key)); }
  void Mark() { mark_ = rows_.size(); }
  void TruncateToMark() { rows_.resize(std::min(mark_, rows_.size())); }
  bool empty() const { return rows_.empty(); }
  // The changed rows, each once, sorted by kind then key.
  std::vector<std::pair<std::string, std::string>> Unique() const {
    std::vector<std::pair<std::string, std::string>> out = rows_;
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
  size_t mark_ = 0;
};

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_CHANGE_SET_H_
