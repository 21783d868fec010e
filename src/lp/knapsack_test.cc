// Tests of the knapsack pricing step: a hand-checked fill, and the optimum and the reported
// pattern against brute-force enumeration over small size sets.
#include "devshare/lp/knapsack.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace devshare::lp {
namespace {

TEST(PriceKnapsack, PicksTheBestFillOfOneGpu) {
  std::vector<int> counts;
  EXPECT_NEAR(PriceKnapsack({470, 320}, {0.5, 0.4}, &counts), 1.2, 1e-9);  // 3 x 320
  EXPECT_EQ(counts, (std::vector<int>{0, 3}));
}

TEST(PriceKnapsack, NeverPicksASizeWithoutProfit) {
  std::vector<int> counts;
  EXPECT_NEAR(PriceKnapsack({100, 500}, {0.0, 0.3}, &counts), 0.6, 1e-9);
  EXPECT_EQ(counts, (std::vector<int>{0, 2}));
  EXPECT_EQ(PriceKnapsack({100}, {-1.0}, &counts), 0.0);
  EXPECT_EQ(counts, (std::vector<int>{0}));
}

// Best value over all multiplicities of three sizes within 1000 milli.
double BruteForce(const std::vector<int>& v, const std::vector<double>& p) {
  double best = 0;
  for (int a = 0; a * v[0] <= 1000; ++a) {
    for (int b = 0; a * v[0] + b * v[1] <= 1000; ++b) {
      for (int c = 0; a * v[0] + b * v[1] + c * v[2] <= 1000; ++c) {
        best = std::max(best, a * p[0] + b * p[1] + c * p[2]);
      }
    }
  }
  return best;
}

TEST(PriceKnapsack, MatchesBruteForceAndReportsAFeasiblePatternOfThatValue) {
  struct Case {
    std::vector<int> values;
    std::vector<double> profit;
  };
  const std::vector<Case> cases = {
      {{470, 320, 650}, {0.5, 1.0 / 3, 2.0 / 3}}, {{230, 650, 120}, {0.25, 0.7, 0.1}},
      {{810, 160, 550}, {1.0, 0.05, 0.6}},        {{333, 250, 999}, {0.34, 0.26, 1.01}},
      {{1, 7, 13}, {0.001, 0.0072, 0.0131}},
  };
  for (const Case& c : cases) {
    std::vector<int> counts;
    const double value = PriceKnapsack(c.values, c.profit, &counts);
    EXPECT_NEAR(value, BruteForce(c.values, c.profit), 1e-9) << c.values[0];
    ASSERT_EQ(counts.size(), c.values.size());
    int used = 0;
    double sum = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      EXPECT_GE(counts[i], 0);
      used += counts[i] * c.values[i];
      sum += counts[i] * c.profit[i];
    }
    EXPECT_LE(used, 1000) << c.values[0];
    EXPECT_NEAR(sum, value, 1e-9) << c.values[0];
  }
}

}  // namespace
}  // namespace devshare::lp
