// Tests of the devshare score cache: the inline floor and rounding against libm, cache keys by
// shape, tenant and isolation floor, entries persisting per key, and the key budget evicting the
// least recently used key.
#include "placement/plugins/devshare/score_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "placement/device_match.h"
#include "tests/testutil/requests.h"

namespace devshare::placement::devshare_policy {
namespace {

TEST(DevshareScoreCache, InlineFloorAndRoundMatchLibm) {
  for (double x : {-1e6, -2.5, -2.0, -1.0000001, -0.5, -0.0, 0.0, 0.2, 0.9999, 1.0, 7.5, 1e12}) {
    EXPECT_EQ(FloorToInt64(x), static_cast<int64_t>(std::floor(x))) << x;
  }
  for (float x :
       {-32000.0f, -2.5f, -1.5f, -0.5f, -0.49f, 0.0f, 0.49f, 0.5f, 1.5f, 2.5f, 31999.5f}) {
    EXPECT_EQ(RoundToInt16(x), static_cast<int16_t>(std::lround(x))) << x;
  }
}

TEST(DevshareScoreCache, KeysSeparateTenantsAndFloorsOfOneShape) {
  VmRequest r = testutil::Request(1000, 1, 500);
  EXPECT_EQ(CacheKey(r), RequestShapeKey(r));
  VmRequest a = r;
  a.tenant = "a";
  VmRequest b = r;
  b.tenant = "b";
  VmRequest floor = r;
  floor.isolation_floor = IsolationClass::kHwPartition;
  EXPECT_NE(CacheKey(a), CacheKey(b));
  EXPECT_NE(CacheKey(a), CacheKey(r));
  EXPECT_NE(CacheKey(floor), CacheKey(r));
  EXPECT_NE(CacheKey(testutil::Request(2000, 1, 500)), CacheKey(r));
}

TEST(DevshareScoreCache, EntriesPersistPerKey) {
  ScoreCache cache(0);
  EXPECT_EQ(cache.budget(), kDefaultCacheEntries);
  cache.Select("x", 10);
  EXPECT_EQ(cache.At(3).generation, UINT64_MAX);
  cache.At(3).generation = 42;
  cache.Select("y", 10);
  EXPECT_EQ(cache.At(3).generation, UINT64_MAX) << "another key, another row";
  cache.Select("x", 10);
  EXPECT_EQ(cache.At(3).generation, 42u);
  EXPECT_EQ(cache.rows(), 2u);
  cache.Clear();
  EXPECT_EQ(cache.rows(), 0u);
  EXPECT_FALSE(cache.Contains("x"));
}

// Rows hold only the hosts scored under their key; past the entry budget, new keys drop the
// least recently used rows, down to kMinCacheKeys rows.
TEST(DevshareScoreCache, BudgetEvictsTheLeastRecentlyUsedKey) {
  ScoreCache cache(16);
  for (int i = 0; i < 8; ++i) {
    cache.Select("k" + std::to_string(i), 1000);
    for (int h = 0; h < 3; ++h) cache.At(100 * h).generation = static_cast<uint64_t>(i);
  }
  EXPECT_EQ(cache.rows(), 8u);
  EXPECT_EQ(cache.entries(), 24u) << "3 hosts scored per key, not 1000";
  cache.Select("k0", 1000);   // k1 is now the least recently used
  cache.Select("new", 1000);  // 24 > 16 entries, but only kMinCacheKeys = 8 rows: k1 goes
  EXPECT_EQ(cache.rows(), 8u);
  EXPECT_FALSE(cache.Contains("k1"));
  EXPECT_TRUE(cache.Contains("k0"));
  EXPECT_TRUE(cache.Contains("new"));
  EXPECT_EQ(cache.entries(), 21u);
  EXPECT_EQ(cache.At(0).generation, UINT64_MAX) << "the new row starts empty";
  cache.Select("k2", 1000);
  EXPECT_EQ(cache.At(100).generation, 2u);
  // Within the budget, keys stay (up to kMaxCacheKeys).
  ScoreCache wide(1000);
  for (int i = 0; i < 20; ++i) {
    wide.Select("k" + std::to_string(i), 50);
    wide.At(i).generation = 1;
  }
  EXPECT_EQ(wide.rows(), 20u);
  for (int i = 0; i < 1100; ++i) wide.Select("m" + std::to_string(i), 50);
  EXPECT_EQ(wide.rows(), kMaxCacheKeys);
  EXPECT_FALSE(wide.Contains("k0"));
}

}  // namespace
}  // namespace devshare::placement::devshare_policy
