// QuantileBoostedTrees: binning, level-wise histogram split search, quantile leaves.
#include "predict/quantile_trees.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace devshare::predict {
namespace {

constexpr size_t kBinSample = 256;

// The smallest value whose empirical cumulative fraction reaches p (rearranges v).
float QuantileOf(float* begin, float* end, double p) {
  const size_t n = static_cast<size_t>(end - begin);
  size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(n)));
  k = std::clamp<size_t>(k, 1, n) - 1;
  std::nth_element(begin, begin + k, end);
  return begin[k];
}

}  // namespace

void QuantileBoostedTrees::Fit(const std::vector<float>& x, size_t features,
                               const std::vector<float>& y, double quantile,
                               const BoostingParams& params) {
  const size_t n = std::min<size_t>(y.size(), kMaxRows);
  const int depth = std::clamp(params.depth, 1, kMaxDepth);
  trees_.clear();
  fitted_ = true;
  std::vector<float> scratch(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(n));
  base_ = QuantileOf(scratch.data(), scratch.data() + n, quantile);

  // Bins: cuts[f] ascending; a value v goes to the first bin b with v <= cuts[f][b]. The cuts
  // are quantiles of an evenly strided sample of at most kBinSample rows.
  std::vector<std::vector<float>> cuts(features);
  std::vector<uint8_t> bin(n * features);
  const int max_bins = std::clamp(params.bins, 2, 255);
  const size_t sample_stride = (n + kBinSample - 1) / kBinSample;
  std::vector<float> column;
  for (size_t f = 0; f < features; ++f) {
    column.clear();
    for (size_t i = 0; i < n; i += sample_stride) column.push_back(x[i * features + f]);
    std::sort(column.begin(), column.end());
    const size_t m = column.size();
    for (int k = 1; k < max_bins; ++k) {
      const float c = column[static_cast<size_t>(k) * m / static_cast<size_t>(max_bins)];
      if (c < column.back() && (cuts[f].empty() || c > cuts[f].back())) cuts[f].push_back(c);
    }
    for (size_t i = 0; i < n; ++i) {
      const float v = x[i * features + f];
      bin[i * features + f] = static_cast<uint8_t>(
          std::lower_bound(cuts[f].begin(), cuts[f].end(), v) - cuts[f].begin());
    }
  }

  const double p = quantile;
  const size_t min_leaf = static_cast<size_t>(std::max(1, params.min_leaf_rows));
  std::vector<double> fx(n, base_);
  std::vector<uint32_t> above(n);  // 1 when y > F: the negative gradient is p, else -(1 - p)
  std::vector<int> node(n);
  // Histograms hist[(local node * features + f) * stride + bin] pack the rows (low 16 bits) and
  // the rows with y > F (high 16 bits): the gradient sum is p * above - (1 - p) * (rows -
  // above), one integer add per row and feature. Per level only the smaller child of each node
  // is counted; the larger is its parent minus it (LightGBM's subtraction trick).
  const size_t stride = static_cast<size_t>(max_bins);
  const size_t node_size = features * stride;
  std::vector<uint32_t> hist(static_cast<size_t>(kLeaves / 2) * node_size);
  std::vector<uint32_t> next_hist(hist.size());
  std::vector<float> leaf_residuals(n);
  auto gradient_sum = [&](size_t rows, size_t up) {
    return p * static_cast<double>(up) - (1 - p) * static_cast<double>(rows - up);
  };

  for (int round = 0; round < params.rounds; ++round) {
    std::fill(hist.begin(), hist.begin() + static_cast<std::ptrdiff_t>(node_size), 0u);
    for (size_t i = 0; i < n; ++i) {
      above[i] = y[i] > fx[i] ? 1 : 0;
      node[i] = 0;
      const uint32_t add = 1u | (above[i] << 16);
      const uint8_t* b = &bin[i * features];
      for (size_t f = 0; f < features; ++f) hist[f * stride + b[f]] += add;
    }
    Tree tree;
    tree.feature.fill(-1);
    tree.threshold.fill(std::numeric_limits<float>::infinity());
    tree.leaf.fill(0);
    std::array<uint8_t, kInner> split_bin;  // right when bin > split_bin; 255: all left
    split_bin.fill(255);
    for (int level = 0; level < kMaxDepth; ++level) {
      const int first = (1 << level) - 1;
      const int width = 1 << level;
      std::array<bool, kLeaves / 2> small_is_left{};
      if (level < depth) {
        for (int j = 0; j < width; ++j) {
          double best_gain = 1e-12;
          size_t best_left_rows = 0, node_rows = 0;
          for (size_t f = 0; f < features; ++f) {
            const uint32_t* h = &hist[static_cast<size_t>(j) * node_size + f * stride];
            size_t rows = 0, up = 0;
            for (size_t b = 0; b <= cuts[f].size(); ++b) {
              rows += h[b] & 0xffffu;
              up += h[b] >> 16;
            }
            node_rows = rows;
            if (rows < 2 * min_leaf) break;  // the same rows for every feature
            const double total = gradient_sum(rows, up);
            size_t left_rows = 0, left_up = 0;
            for (size_t b = 0; b < cuts[f].size(); ++b) {
              left_rows += h[b] & 0xffffu;
              left_up += h[b] >> 16;
              const size_t right_rows = rows - left_rows;
              if (left_rows < min_leaf) continue;
              if (right_rows < min_leaf) break;
              const double left = gradient_sum(left_rows, left_up);
              const double right = total - left;
              const double gain = left * left / static_cast<double>(left_rows) +
                                  right * right / static_cast<double>(right_rows) -
                                  total * total / static_cast<double>(rows);
              if (gain > best_gain) {
                best_gain = gain;
                best_left_rows = left_rows;
                const size_t at = static_cast<size_t>(first + j);
                tree.feature[at] = static_cast<int16_t>(f);
                tree.threshold[at] = cuts[f][b];
                split_bin[at] = static_cast<uint8_t>(b);
              }
            }
          }
          // No split: every row goes left and the (empty) right child is the smaller one.
          const bool split = tree.feature[static_cast<size_t>(first + j)] >= 0;
          small_is_left[static_cast<size_t>(j)] = split && 2 * best_left_rows <= node_rows;
        }
      }
      // Route the rows to the next level, counting the smaller children as they arrive.
      const bool count_next = level + 1 < depth;
      if (count_next) std::fill(next_hist.begin(), next_hist.end(), 0u);
      for (size_t i = 0; i < n; ++i) {
        const size_t at = static_cast<size_t>(node[i]);
        const int f = tree.feature[at];
        const uint8_t* b = &bin[i * features];
        const bool right = f >= 0 && b[f] > split_bin[at];
        node[i] = 2 * node[i] + 1 + (right ? 1 : 0);
        if (count_next && right != small_is_left[at - static_cast<size_t>(first)]) {
          uint32_t* h = &next_hist[static_cast<size_t>(node[i] - 2 * first - 1) * node_size];
          const uint32_t add = 1u | (above[i] << 16);
          for (size_t g = 0; g < features; ++g) h[g * stride + b[g]] += add;
        }
      }
      if (count_next) {
        for (int j = 0; j < width; ++j) {
          const size_t small =
              2 * static_cast<size_t>(j) + (small_is_left[static_cast<size_t>(j)] ? 0 : 1);
          const size_t large = small ^ 1;
          const uint32_t* parent = &hist[static_cast<size_t>(j) * node_size];
          for (size_t k = 0; k < node_size; ++k) {
            next_hist[large * node_size + k] = parent[k] - next_hist[small * node_size + k];
          }
        }
        hist.swap(next_hist);
      }
    }
    // Leaves: the p-quantile of the residuals each holds, shrunk by the learning rate.
    std::array<size_t, kLeaves + 1> start{};
    for (size_t i = 0; i < n; ++i) ++start[static_cast<size_t>(node[i] - kInner) + 1];
    for (int l = 0; l < kLeaves; ++l) start[l + 1] += start[l];
    std::array<size_t, kLeaves> fill{};
    for (size_t i = 0; i < n; ++i) {
      const size_t l = static_cast<size_t>(node[i] - kInner);
      leaf_residuals[start[l] + fill[l]++] = static_cast<float>(y[i] - fx[i]);
    }
    for (size_t l = 0; l < kLeaves; ++l) {
      if (start[l + 1] == start[l]) continue;
      tree.leaf[l] = static_cast<float>(
          params.learning_rate *
          QuantileOf(leaf_residuals.data() + start[l], leaf_residuals.data() + start[l + 1], p));
    }
    for (size_t i = 0; i < n; ++i) fx[i] += tree.leaf[static_cast<size_t>(node[i] - kInner)];
    trees_.push_back(tree);
  }
}

double QuantileBoostedTrees::Predict(const float* row) const {
  if (!fitted_) return 0;
  double sum = base_;
  for (const Tree& tree : trees_) {
    size_t at = 0;
    for (int level = 0; level < kMaxDepth; ++level) {
      const int f = tree.feature[at];
      const bool right = f >= 0 && row[f] > tree.threshold[at];
      at = 2 * at + 1 + (right ? 1 : 0);
    }
    sum += tree.leaf[at - kInner];
  }
  return sum;
}

}  // namespace devshare::predict
