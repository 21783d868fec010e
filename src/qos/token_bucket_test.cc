// TokenBucket (reference qos.md §6.3.1 and the arrival-curve bound) and the tc rate units.
#include "devshare/qos/token_bucket.h"

#include <gtest/gtest.h>

#include <vector>

#include "devshare/core/random.h"
#include "qos/qos_test_util.h"

namespace devshare::qos {
namespace {

using testutil::At;
using testutil::Seconds;

// r = 1 MB/s, b = 100 KB, a greedy shaped sender for 10 s: 10.1 MB within 1 %, and the first
// 100 KB leave at once.
TEST(TokenBucket, GreedySenderGetsBurstPlusRate) {
  auto tb = TokenBucket::Create(1e6, 100000, At(0));
  ASSERT_TRUE(tb.ok());
  TimePoint now = At(0);
  int64_t sent = 0, sent_at_zero = 0;
  while (now <= At(10)) {
    if (tb->TryConsume(1000, now)) {
      sent += 1000;
      if (now == At(0)) sent_at_zero += 1000;
    } else {
      now += tb->TimeUntil(1000, now);
    }
  }
  EXPECT_NEAR(10.1e6, static_cast<double>(sent), 10.1e6 * 0.01);
  EXPECT_EQ(100000, sent_at_zero) << "the burst passes instantly";
}

// Any interval tau carries at most burst + rate * tau bytes, for a random sender.
TEST(TokenBucket, ArrivalCurveBound) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Random rng(seed);
    const double rate = 50000;
    const int64_t burst = 8000;
    auto tb = TokenBucket::Create(rate, burst, At(0));
    ASSERT_TRUE(tb.ok());
    std::vector<std::pair<double, int64_t>> sends;
    double t = 0;
    for (int i = 0; i < 1500; ++i) {
      t += rng.UniformDouble() * 0.02;
      const int64_t bytes = 64 + static_cast<int64_t>(rng.Uniform(1500));
      if (tb->TryConsume(bytes, At(t))) sends.emplace_back(t, bytes);
    }
    ASSERT_GT(sends.size(), 300u);
    for (size_t i = 0; i < sends.size(); ++i) {
      int64_t sum = 0;
      for (size_t j = i; j < sends.size(); ++j) {
        sum += sends[j].second;
        const double tau = sends[j].first - sends[i].first;
        ASSERT_LE(static_cast<double>(sum), burst + rate * tau + 1e-3) << i << ".." << j;
      }
    }
  }
}

TEST(TokenBucket, TimeUntilAndCharge) {
  auto tb = TokenBucket::Create(1000, 500, At(0));
  ASSERT_TRUE(tb.ok());
  EXPECT_EQ(Duration::zero(), tb->TimeUntil(500, At(0)));
  EXPECT_EQ(Duration::max(), tb->TimeUntil(501, At(0))) << "never fits above the burst";
  tb->Charge(700, At(0));  // may go negative
  EXPECT_NEAR(-200, tb->Tokens(At(0)), 1e-9);
  EXPECT_EQ(std::chrono::milliseconds(300), tb->TimeUntil(100, At(0)));
  EXPECT_NEAR(500, tb->Tokens(At(10)), 1e-9) << "refills to the burst, no further";
  EXPECT_FALSE(TokenBucket::Create(0, 10, At(0)).ok());
  EXPECT_FALSE(TokenBucket::Create(10, 0, At(0)).ok());
}

TEST(TcRate, UnitsAreBitsOrBytes) {
  struct Case {
    const char* text;
    double bytes_per_s;
  };
  for (const Case& c :
       {Case{"8gbit", 1e9}, Case{"100mbit", 12.5e6}, Case{"100mbps", 1e8}, Case{"1000", 125},
        Case{"1000bit", 125}, Case{"2kbps", 2000}, Case{"1kibit", 128}, Case{"1.5Gbit", 187.5e6}}) {
    auto r = ParseTcRate(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().ToString();
    EXPECT_DOUBLE_EQ(c.bytes_per_s, *r) << c.text;
  }
  for (const char* bad : {"", "fast", "8 gbit", "0kbit", "10gbyte", "-1mbit"}) {
    auto r = ParseTcRate(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

}  // namespace
}  // namespace devshare::qos
