// QuantileBoostedTrees: gradient-boosted regression trees (depth <= 3) minimising the pinball
// loss at a quantile p (Friedman, "Greedy function approximation: a gradient boosting machine",
// 2001, §4: trees fit to the loss's negative gradient, leaves re-estimated as the p-quantile of
// the residuals they hold). Splits use per-fit quantile bins (histogram GBM, as in LightGBM), so a
// fit costs O(rounds * depth * rows * features). Deterministic: no subsampling.
// Thread-safety: Fit mutates; Predict on a fitted model is safe from several threads.
#ifndef DEVSHARE_SRC_PREDICT_QUANTILE_TREES_H_
#define DEVSHARE_SRC_PREDICT_QUANTILE_TREES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace devshare::predict {

struct BoostingParams {
  int rounds = 40;
  int depth = 3;               // 1..3
  double learning_rate = 0.1;  // shrinkage of each tree's leaves
  int min_leaf_rows = 20;      // a split leaves at least this many rows on each side
  int bins = 32;               // candidate thresholds per feature: at most bins - 1
};

class QuantileBoostedTrees {
 public:
  static constexpr int kMaxDepth = 3;
  static constexpr size_t kMaxRows = 65'535;  // rows beyond are ignored

  // Fits from scratch on `rows` rows of `features` features (x is row-major, rows * features
  // values) and targets y. Precondition: rows >= 1, x.size() == rows * features, y.size() ==
  // rows, quantile in (0, 1). Uses the first kMaxRows rows. Replaces any previous model.
  void Fit(const std::vector<float>& x, size_t features, const std::vector<float>& y,
           double quantile, const BoostingParams& params);
  // The model's p-quantile estimate for one row of `features` values. 0 before the first Fit.
  double Predict(const float* row) const;
  bool fitted() const { return fitted_; }
  size_t trees() const { return trees_.size(); }

 private:
  static constexpr int kInner = (1 << kMaxDepth) - 1;
  static constexpr int kLeaves = 1 << kMaxDepth;
  // A complete binary tree; an inner node with feature -1 sends every row left.
  struct Tree {
    std::array<int16_t, kInner> feature;
    std::array<float, kInner> threshold;
    std::array<float, kLeaves> leaf;
  };

  bool fitted_ = false;
  double base_ = 0;
  std::vector<Tree> trees_;
};

}  // namespace devshare::predict

#endif  // DEVSHARE_SRC_PREDICT_QUANTILE_TREES_H_
