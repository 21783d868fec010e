// Tests Random: known-answer stream, seed determinism, Uniform range and spread, Shuffle, doubles.
#include "devshare/core/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <vector>

namespace devshare {
namespace {

std::vector<uint64_t> Draw(uint64_t seed, int n) {
  Random rng(seed);
  std::vector<uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(rng.Next());
  return out;
}

// Pearson's chi-square statistic of `counts` against a uniform expectation.
double ChiSquare(const std::vector<int64_t>& counts) {
  const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  const double expected = total / static_cast<double>(counts.size());
  double chi2 = 0;
  for (int64_t c : counts) {
    const double d = static_cast<double>(c) - expected;
    chi2 += d * d / expected;
  }
  return chi2;
}

struct KnownAnswerCase {
  uint64_t seed;
  std::vector<uint64_t> first;
};

// Reference values from an independent splitmix64 + xoshiro256** implementation; they pin the
// stream across compilers and libcs.
TEST(RandomTest, KnownAnswerStream) {
  const std::vector<KnownAnswerCase> cases = {
      {0, {0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL, 0x1a5f849d4933e6e0ULL}},
      {42, {0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL, 0xae17533239e499a1ULL}},
  };
  for (const KnownAnswerCase& c : cases) {
    SCOPED_TRACE(c.seed);
    EXPECT_EQ(Draw(c.seed, static_cast<int>(c.first.size())), c.first);
  }
}

TEST(RandomTest, SameSeedSameStream) {
  for (uint64_t seed : std::vector<uint64_t>{0, 1, 42, 0xdeadbeef, UINT64_MAX}) {
    SCOPED_TRACE(seed);
    Random a(seed);
    Random b(seed);
    EXPECT_EQ(a.seed(), seed);
    for (int i = 0; i < 1000; ++i) {
      ASSERT_EQ(a.Next(), b.Next()) << "draw " << i;
      ASSERT_EQ(a.Uniform(97), b.Uniform(97)) << "draw " << i;
      ASSERT_EQ(a.UniformDouble(), b.UniformDouble()) << "draw " << i;
    }
  }
}

TEST(RandomTest, DifferentSeedsDiffer) {
  const std::vector<uint64_t> seeds = {0, 1, 2, 42, 43, UINT64_MAX};
  for (size_t i = 0; i < seeds.size(); ++i) {
    for (size_t j = i + 1; j < seeds.size(); ++j) {
      std::vector<uint64_t> a = Draw(seeds[i], 16);
      std::vector<uint64_t> b = Draw(seeds[j], 16);
      int equal = 0;
      for (size_t k = 0; k < a.size(); ++k) equal += a[k] == b[k];
      EXPECT_EQ(equal, 0) << "seeds " << seeds[i] << " and " << seeds[j];
    }
  }
}

TEST(RandomTest, StreamDoesNotRepeatQuickly) {
  std::vector<uint64_t> v = Draw(7, 10000);
  std::sort(v.begin(), v.end());
  EXPECT_EQ(std::adjacent_find(v.begin(), v.end()), v.end());
}

TEST(RandomTest, UniformAlwaysBelowN) {
  const std::vector<uint64_t> ns = {
      1, 2, 3, 7, 10, 1000, 1ULL << 32, 1ULL << 63, (1ULL << 63) + 1, UINT64_MAX};
  Random rng(123);
  for (uint64_t n : ns) {
    SCOPED_TRACE(n);
    for (int i = 0; i < 5000; ++i) ASSERT_LT(rng.Uniform(n), n);
  }
}

TEST(RandomTest, UniformOfOneIsZero) {
  Random rng(5);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(rng.Uniform(1), 0u);
}

TEST(RandomTest, UniformHitsBothHalvesOfHugeRange) {
  // n just above 2^63 rejects about half of the raw draws; results must still spread.
  Random rng(99);
  const uint64_t n = (1ULL << 63) + 1;
  int low = 0;
  const int kDraws = 2000;
  for (int i = 0; i < kDraws; ++i) low += rng.Uniform(n) < n / 2;
  EXPECT_GT(low, kDraws * 4 / 10);
  EXPECT_LT(low, kDraws * 6 / 10);
}

struct SpreadCase {
  uint64_t n;
  int draws;
  double max_chi2;  // loose: far above the 99.9% quantile for n - 1 degrees of freedom
};

TEST(RandomTest, UniformIsRoughlyUniform) {
  const std::vector<SpreadCase> cases = {
      {2, 20000, 15.0},      // 99.9% quantile for 1 dof: 10.8
      {7, 70000, 30.0},      // 6 dof: 22.5
      {10, 100000, 35.0},    // 9 dof: 27.9
      {1000, 200000, 1200},  // 999 dof: mean 999, sd ~45
  };
  for (const SpreadCase& c : cases) {
    SCOPED_TRACE(c.n);
    Random rng(20240601);
    std::vector<int64_t> counts(c.n, 0);
    for (int i = 0; i < c.draws; ++i) counts[rng.Uniform(c.n)]++;
    for (uint64_t k = 0; k < c.n; ++k) EXPECT_GT(counts[k], 0) << "value " << k << " never drawn";
    EXPECT_LT(ChiSquare(counts), c.max_chi2);
  }
}

TEST(RandomTest, UniformDoubleInUnitInterval) {
  Random rng(31337);
  double sum = 0;
  double lo = 1;
  double hi = 0;
  const int kDraws = 100000;
  std::vector<int64_t> deciles(10, 0);
  for (int i = 0; i < kDraws; ++i) {
    double x = rng.UniformDouble();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    sum += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    deciles[static_cast<int>(x * 10)]++;
  }
  EXPECT_NEAR(sum / kDraws, 0.5, 0.01);
  EXPECT_LT(lo, 0.001);
  EXPECT_GT(hi, 0.999);
  EXPECT_LT(ChiSquare(deciles), 35.0);
}

std::vector<int> Iota(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(RandomTest, ShuffleIsPermutation) {
  Random rng(8);
  for (int n : {0, 1, 2, 5, 100}) {
    SCOPED_TRACE(n);
    std::vector<int> v = Iota(n);
    rng.Shuffle(v);
    ASSERT_EQ(v.size(), static_cast<size_t>(n));
    std::vector<int> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, Iota(n));
  }
}

TEST(RandomTest, ShuffleIsSeedDeterministic) {
  std::vector<int> a = Iota(50);
  std::vector<int> b = Iota(50);
  std::vector<int> c = Iota(50);
  Random ra(77);
  Random rb(77);
  Random rc(78);
  ra.Shuffle(a);
  rb.Shuffle(b);
  rc.Shuffle(c);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, Iota(50));
}

TEST(RandomTest, ShuffleReachesAllPermutationsEvenly) {
  // 4 elements have 24 orders; Fisher-Yates must produce each about equally often.
  Random rng(2718);
  std::map<std::vector<int>, int64_t> seen;
  const int kRounds = 24000;
  for (int i = 0; i < kRounds; ++i) {
    std::vector<int> v = Iota(4);
    rng.Shuffle(v);
    seen[v]++;
  }
  ASSERT_EQ(seen.size(), 24u);
  std::vector<int64_t> counts;
  for (const auto& [perm, count] : seen) counts.push_back(count);
  EXPECT_LT(ChiSquare(counts), 60.0);  // 23 dof: 99.9% quantile 49.7
}

}  // namespace
}  // namespace devshare
