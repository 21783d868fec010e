// Incremental class scoring (see the header).
// Thread-safety: see class_scores.h.
#include "placement/class_scores.h"

#include <algorithm>
#include <utility>

namespace devshare::placement {

void ClassBoard::Grow(size_t slots) {
  if (code_.size() >= slots) return;
  version_.resize(slots, 0);
  code_.resize(slots, kNoClass);
  scored_.resize(slots, 0);
  dirty_.resize(slots, 0);
  score_.resize(slots, 0);
  rep_.resize(slots, kNoHost);
  scorer_.resize(slots, kNoHost);
  size_.resize(slots, 0);
  replayed_.resize(slots, 0);
}

void ClassBoard::MarkDirty(int s) {
  if (dirty_[s] != 0) return;
  dirty_[s] = 1;
  dirty_slots_.push_back(s);
}

void ClassBoard::Evaluate(const HostClasses& classes, int s, ClassEvaluator& eval) {
  const HostClasses::Slot& slot = classes.slot(s);
  if (code_[s] == kFits) fitting_hosts_ -= size_[s];
  if (code_[s] >= 0) {
    const size_t c = static_cast<size_t>(code_[s]);
    code_hosts_[c] -= size_[s];
    if (code_first_[c] == rep_[s]) code_first_ok_[c] = 0;  // the lowest may have moved
  }
  MarkDirty(s);
  ++fit_changes_;
  struct AddRejected {  // on every return: count the slot under its (new) code
    ClassBoard* b;
    int s;
    ~AddRejected() {
      const int8_t code = b->code_[s];
      if (code < 0) return;
      const size_t c = static_cast<size_t>(code);
      if (c >= b->code_hosts_.size()) {
        b->code_hosts_.resize(c + 1, 0);
        b->code_first_.resize(c + 1, kNoHost);
        b->code_first_ok_.resize(c + 1, 1);
      }
      b->code_hosts_[c] += b->size_[s];
      if (b->rep_[s] < b->code_first_[c]) b->code_first_[c] = b->rep_[s];
    }
  } add_rejected{this, s};
  if (!slot.live) {
    version_[s] = 0;
    code_[s] = kNoClass;
    rep_[s] = kNoHost;
    size_[s] = 0;
    scored_[s] = 0;
    return;
  }
  rep_[s] = classes.representative(s);
  scorer_[s] = classes.scoring_host(s);
  size_[s] = slot.size;
  if (version_[s] != slot.version) {  // else the same class: only its members changed
    version_[s] = slot.version;
    const int f = eval.FirstRejecting(scorer_[s]);
    code_[s] = static_cast<int8_t>(f < 0 ? kFits : f);
    scored_[s] = 0;
  }
  if (code_[s] == kFits) fitting_hosts_ += size_[s];
}

void ClassBoard::SyncFit(const HostClasses& classes, ClassEvaluator& eval) {
  const size_t n = classes.slot_count();
  Grow(n);
  if (!valid_ || log_pos_ < classes.log_begin()) {
    std::fill(version_.begin(), version_.end(), 0);
    std::fill(code_.begin(), code_.end(), kNoClass);
    fitting_hosts_ = 0;
    std::fill(code_hosts_.begin(), code_hosts_.end(), 0);
    std::fill(code_first_.begin(), code_first_.end(), kNoHost);
    std::fill(code_first_ok_.begin(), code_first_ok_.end(), 1);
    for (size_t s = 0; s < n; ++s) Evaluate(classes, static_cast<int>(s), eval);
    rebuild_ = true;
    epoch_valid_ = false;
  } else {
    // Replay the change log, once per slot (a class of idle hosts changes at every decision
    // that takes one of them).
    if (++stamp_ == 0) {
      std::fill(replayed_.begin(), replayed_.end(), 0);
      stamp_ = 1;
    }
    const std::vector<int>& log = classes.log();
    for (size_t p = log_pos_ - classes.log_begin(); p < log.size(); ++p) {
      const int s = log[p];
      if (replayed_[s] == stamp_) continue;
      replayed_[s] = stamp_;
      Evaluate(classes, s, eval);
    }
  }
  valid_ = true;
  log_pos_ = classes.log_end();
}

int ClassBoard::first_rejected_by(size_t code) {
  if (code_first_ok_[code] == 0) {
    int32_t first = kNoHost;
    for (size_t s = 0; s < code_.size(); ++s) {
      if (code_[s] == static_cast<int8_t>(code) && rep_[s] < first) first = rep_[s];
    }
    code_first_[code] = first;
    code_first_ok_[code] = 1;
  }
  return code_first_[code];
}

void ClassBoard::SyncScores(uint64_t epoch, ClassEvaluator& eval) {
  if (!epoch_valid_ || epoch != epoch_) {
    // Every fitting class is re-scored; only leaves whose score moved need the tree.
    epoch_ = epoch;
    epoch_valid_ = true;
    if (!rebuild_ && code_.size() <= leaves_) {
      for (size_t s = 0; s < code_.size(); ++s) {
        if (code_[s] != kFits) continue;
        const int64_t before = score_[s];
        score_[s] = eval.Score(scorer_[s]);
        scored_[s] = 1;
        if (score_[s] != before) MarkDirty(static_cast<int>(s));
      }
    } else {
      std::fill(scored_.begin(), scored_.end(), 0);
      rebuild_ = true;
    }
  }
  if (rebuild_ || code_.size() > leaves_ || dirty_slots_.size() * 16 > code_.size()) {
    for (size_t s = 0; s < code_.size(); ++s) {
      if (code_[s] == kFits && scored_[s] == 0) {
        score_[s] = eval.Score(scorer_[s]);
        scored_[s] = 1;
      }
    }
    BuildTree();
  } else {
    for (int s : dirty_slots_) {
      if (code_[s] == kFits && scored_[s] == 0) {
        score_[s] = eval.Score(scorer_[s]);
        scored_[s] = 1;
      }
      UpdateLeaf(static_cast<size_t>(s));
    }
  }
  for (int s : dirty_slots_) dirty_[s] = 0;
  dirty_slots_.clear();
  rebuild_ = false;
}

ClassBoard::Node ClassBoard::Leaf(size_t s) const {
  if (s >= code_.size() || code_[s] != kFits) return Node();
  return Node{score_[s], rep_[s]};
}

void ClassBoard::BuildTree() {
  leaves_ = 1;
  while (leaves_ < code_.size()) leaves_ *= 2;
  tree_.assign(2 * leaves_, Node());
  for (size_t s = 0; s < code_.size(); ++s) tree_[leaves_ + s] = Leaf(s);
  for (size_t i = leaves_ - 1; i >= 1; --i) {
    const Node& a = tree_[2 * i];
    const Node& b = tree_[2 * i + 1];
    tree_[i] = Better(b, a) ? b : a;
  }
}

void ClassBoard::UpdateLeaf(size_t s) {
  size_t i = leaves_ + s;
  tree_[i] = Leaf(s);
  for (i /= 2; i >= 1; i /= 2) {
    const Node& a = tree_[2 * i];
    const Node& b = tree_[2 * i + 1];
    tree_[i] = Better(b, a) ? b : a;
  }
}

ClassBoard& ClassBoards::Get(const std::string& key, size_t slots) {
  auto it = boards_.find(key);
  if (it == boards_.end()) {
    const size_t max_boards =
        std::clamp<size_t>(slot_budget_ / std::max<size_t>(1, slots), kMinBoards, kMaxBoards);
    std::unique_ptr<ClassBoard> board;
    if (boards_.size() >= max_boards) {
      auto lru = boards_.begin();
      for (auto j = boards_.begin(); j != boards_.end(); ++j) {
        if (j->second.used < lru->second.used) lru = j;
      }
      board = std::move(lru->second.board);
      board->Reset();
      boards_.erase(lru);
    } else {
      board = std::make_unique<ClassBoard>();
    }
    it = boards_.emplace(key, Entry{std::move(board), 0}).first;
  }
  it->second.used = ++clock_;
  return *it->second.board;
}

}  // namespace devshare::placement
