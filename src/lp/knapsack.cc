// Unbounded knapsack over one GPU's milli (see the header).
// Thread-safety: pure function.
#include "devshare/lp/knapsack.h"

#include "devshare/core/device.h"

namespace devshare::lp {

double PriceKnapsack(const std::vector<int>& values, const std::vector<double>& profit,
                     std::vector<int>* counts) {
  constexpr int kMilli = kMilliPerDevice;
  std::vector<double> best(kMilli + 1, 0.0);
  std::vector<int> pick(kMilli + 1, -1);  // -1: slack (take best[c-1])
  for (int c = 1; c <= kMilli; ++c) {
    best[c] = best[c - 1];
    for (size_t i = 0; i < values.size(); ++i) {
      if (profit[i] <= 0 || values[i] > c) continue;
      const double v = best[c - values[i]] + profit[i];
      if (v > best[c]) {
        best[c] = v;
        pick[c] = static_cast<int>(i);
      }
    }
  }
  counts->assign(values.size(), 0);
  for (int c = kMilli; c > 0;) {
    if (pick[c] < 0) {
      --c;
    } else {
      (*counts)[pick[c]]++;
      c -= values[pick[c]];
    }
  }
  return best[kMilli];
}

}  // namespace devshare::lp
