// Incremental scoring of host classes for one request key (ClassBoard) and the boards of the
// recent request keys (ClassBoards). A board keeps, per class slot of HostClasses, which filter
// rejects the class (or that it fits) and its score, plus a max-tree over the fitting classes
// ordered by (score, lowest representative host index): its root is the host Schedule picks,
// with ties broken as the per-host scan breaks them (the lowest host index). Bringing a board up
// to date costs the classes changed since its last use (from the HostClasses change log), or,
// when the score plugin's epoch moved, one score per fitting class.
// Thread-safety: boards belong to one Framework (one thread).
#ifndef DEVSHARE_PLACEMENT_CLASS_SCORES_H_
#define DEVSHARE_PLACEMENT_CLASS_SCORES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "placement/host_classes.h"

namespace devshare::placement {

// How a board evaluates one class, through its representative host.
class ClassEvaluator {
 public:
  virtual ~ClassEvaluator() = default;
  // Index of the first filter rejecting `host`, or -1 if every filter passes.
  virtual int FirstRejecting(int host) = 0;
  // Score of `host`. REQUIRES: FirstRejecting(host) == -1.
  virtual int64_t Score(int host) = 0;
};

class ClassBoard {
 public:
  static constexpr int8_t kFits = -1;
  static constexpr int8_t kNoClass = -2;  // dead slot, or not evaluated yet

  // Phase 1: brings which filter rejects each class up to date with `classes`: re-evaluates the
  // classes changed since the last call (every class on first use, after Reset, or when the
  // change log was trimmed past this board). Calls only eval.FirstRejecting.
  void SyncFit(const HostClasses& classes, ClassEvaluator& eval);
  // Hosts (summed over classes) that pass every filter, as of the last SyncFit.
  int64_t fitting_hosts() const { return fitting_hosts_; }
  // Phase 2, after SyncFit: scores the fitting classes not scored under `epoch` yet (every one
  // when `epoch` differs from the previous call's) and updates the best.
  void SyncScores(uint64_t epoch, ClassEvaluator& eval);
  // Forgets everything (another cluster).
  void Reset() {
    valid_ = false;
    ++fit_changes_;
  }

  // The lowest-indexed host among the best-scoring fitting classes, or -1 if none fits.
  // REQUIRES: SyncScores since the last SyncFit.
  int best_host() const { return tree_[1].rep == kNoHost ? -1 : tree_[1].rep; }
  int64_t best_score() const { return tree_[1].score; }
  size_t slots() const { return code_.size(); }
  // Per slot: kFits, kNoClass or the first rejecting filter; its representative and size.
  int8_t code(size_t s) const { return code_[s]; }
  int representative(size_t s) const { return rep_[s]; }
  int64_t size(size_t s) const { return size_[s]; }
  // Number of codes (filters) that reject some class: codes are 0..rejecting_codes()-1.
  size_t rejecting_codes() const { return code_hosts_.size(); }
  // Hosts whose first rejecting filter is `code` (summed over classes), and the lowest of them
  // (INT32_MAX if none). Kept as classes change; the lowest is recounted (one pass over the
  // slots) only after the class that held it changed.
  int64_t hosts_rejected_by(size_t code) const { return code_hosts_[code]; }
  int first_rejected_by(size_t code);
  // Bumped whenever SyncFit changed anything (a class evaluated, a member moved): while it
  // holds, every filter answer and class size on the board is the same.
  uint64_t fit_changes() const { return fit_changes_; }

 private:
  static constexpr int kNoHost = INT32_MAX;
  struct Node {
    int64_t score = INT64_MIN;
    int32_t rep = kNoHost;
  };
  static bool Better(const Node& a, const Node& b) {
    return a.score > b.score || (a.score == b.score && a.rep < b.rep);
  }
  void Grow(size_t slots);
  void Evaluate(const HostClasses& classes, int s, ClassEvaluator& eval);
  void MarkDirty(int s);
  Node Leaf(size_t s) const;
  void BuildTree();
  void UpdateLeaf(size_t s);

  bool valid_ = false;
  bool epoch_valid_ = false;
  uint64_t epoch_ = 0;
  uint64_t log_pos_ = 0;
  int64_t fitting_hosts_ = 0;
  std::vector<int64_t> code_hosts_;  // [code] hosts rejected first by that filter
  std::vector<int32_t> code_first_;  // [code] lowest such host (valid if code_first_ok_)
  std::vector<uint8_t> code_first_ok_;
  uint64_t fit_changes_ = 0;
  std::vector<uint32_t> version_;   // [slot] HostClasses version evaluated, 0 = none
  std::vector<int8_t> code_;        // [slot]
  std::vector<uint8_t> scored_;     // [slot] score_ holds for the current class and epoch
  std::vector<uint8_t> dirty_;      // [slot] in dirty_slots_
  std::vector<int64_t> score_;      // [slot] when code_ == kFits and scored_
  std::vector<int32_t> rep_;        // [slot] representative when live
  std::vector<int32_t> scorer_;     // [slot] the host it is filtered and scored through
  std::vector<int64_t> size_;       // [slot] members when live
  std::vector<int> dirty_slots_;    // slots whose tree leaf is stale
  std::vector<uint32_t> replayed_;  // [slot] stamp_ of the SyncFit that last replayed it
  uint32_t stamp_ = 0;
  bool rebuild_ = true;                            // the whole tree is stale
  std::vector<Node> tree_ = std::vector<Node>(2);  // [1] root, leaves at [leaves_ + slot]
  size_t leaves_ = 1;
};

// Boards of the most recently used request keys, within a budget of slot entries (at least
// kMinBoards boards, at most kMaxBoards); the least recently used board makes room.
class ClassBoards {
 public:
  static constexpr size_t kSlotBudget = size_t{8} << 20;
  static constexpr size_t kMinBoards = 8;
  static constexpr size_t kMaxBoards = 1024;

  // `slot_budget`: slot entries all boards may hold together (at least kMinBoards boards).
  explicit ClassBoards(size_t slot_budget = kSlotBudget) : slot_budget_(slot_budget) {}

  // The board of `key` (created empty, or taken over, reset, from the least recently used key
  // when clamp(slot_budget / slots, kMinBoards, kMaxBoards) boards exist).
  ClassBoard& Get(const std::string& key, size_t slots);
  bool Contains(const std::string& key) const { return boards_.count(key) > 0; }
  void Clear() { boards_.clear(); }
  size_t size() const { return boards_.size(); }

 private:
  struct Entry {
    std::unique_ptr<ClassBoard> board;
    uint64_t used = 0;
  };
  size_t slot_budget_;
  std::unordered_map<std::string, Entry> boards_;
  uint64_t clock_ = 0;
};

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_CLASS_SCORES_H_
