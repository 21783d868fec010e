// TieringPolicy: dwell, hysteresis, cooldown, capacity, one move at a time, order.
#include "devshare/host/tiering_policy.h"

#include <gtest/gtest.h>

namespace devshare::host {
namespace {

using std::chrono::seconds;

const TimePoint kT0{};

std::vector<TieringPool> TwoPools(int64_t fast_used_gib = 0) {
  return {{"fast", "nvme", 2000, 10, fast_used_gib, 0}, {"slow", "hdd", 400, 10, 1, 0}};
}

TieringVolume Vol(const std::string& vm, const std::string& pool, double heat) {
  return {vm, "data", pool, heat, 1, 0, false};
}

// Samples every 2 s from kT0; returns the index of the sample that moved and the move.
std::pair<int, std::optional<TieringMove>> FirstMove(TieringPolicy& p,
                                                     const std::vector<TieringPool>& pools,
                                                     const std::vector<TieringVolume>& vols,
                                                     int samples) {
  for (int i = 0; i < samples; ++i) {
    std::optional<TieringMove> m = p.Observe(kT0 + seconds(2 * i), pools, vols);
    if (m) return {i, m};
  }
  return {-1, std::nullopt};
}

TEST(TieringPolicyTest, HotVolumeMovesUpAfterTheDwell) {
  TieringPolicy p;
  auto [at, m] = FirstMove(p, TwoPools(), {Vol("vm-1", "slow", 300)}, 10);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(at, 2);  // dwell_samples = 3
  EXPECT_EQ(m->to_pool, "fast");
  EXPECT_EQ(m->to_tier, "nvme");
  EXPECT_EQ(m->from_pool, "slow");
  EXPECT_EQ(m->reason, "hot: heat 300 IOPS >= 100 (25 % of pool slow)");
}

TEST(TieringPolicyTest, ColdVolumeMovesDown) {
  TieringPolicy p;
  auto [at, m] = FirstMove(p, TwoPools(), {Vol("vm-1", "fast", 5)}, 10);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(at, 2);
  EXPECT_EQ(m->to_pool, "slow");
  EXPECT_EQ(m->reason, "cold: heat 5 IOPS <= 20 (5 % of pool slow)");
}

TEST(TieringPolicyTest, BetweenTheThresholdsNothingMoves) {
  // 50 IOPS: not hot on slow (needs 100), not cold on fast (needs <= 20 = 5 % of slow).
  for (const char* pool : {"slow", "fast"}) {
    TieringPolicy p;
    EXPECT_FALSE(FirstMove(p, TwoPools(), {Vol("vm-1", pool, 50)}, 20).second) << pool;
  }
}

TEST(TieringPolicyTest, ABreakInTheStreakRestartsTheDwell) {
  TieringPolicy p;
  const auto pools = TwoPools();
  EXPECT_FALSE(p.Observe(kT0, pools, {Vol("vm-1", "slow", 300)}));
  EXPECT_FALSE(p.Observe(kT0 + seconds(2), pools, {Vol("vm-1", "slow", 300)}));
  EXPECT_FALSE(p.Observe(kT0 + seconds(4), pools, {Vol("vm-1", "slow", 10)}));
  EXPECT_FALSE(p.Observe(kT0 + seconds(6), pools, {Vol("vm-1", "slow", 300)}));
  EXPECT_FALSE(p.Observe(kT0 + seconds(8), pools, {Vol("vm-1", "slow", 300)}));
  EXPECT_TRUE(p.Observe(kT0 + seconds(10), pools, {Vol("vm-1", "slow", 300)}));
}

TEST(TieringPolicyTest, AMovedOrRefusedVolumeRestsForTheCooldown) {
  TieringPolicy p;  // cooldown 120 s
  const auto pools = TwoPools();
  auto [at, m] = FirstMove(p, pools, {Vol("vm-1", "slow", 300)}, 10);
  ASSERT_TRUE(m.has_value());
  const TimePoint moved = kT0 + seconds(2 * at);
  // Still reported on its old pool (the server refused, say): nothing before the cooldown ends.
  for (int s = 2; s < 120; s += 2) {
    EXPECT_FALSE(p.Observe(moved + seconds(s), pools, {Vol("vm-1", "slow", 300)})) << s;
  }
  p.Refused("vm-1", "data", moved + seconds(120));
  EXPECT_FALSE(p.Observe(moved + seconds(200), pools, {Vol("vm-1", "slow", 300)}));
  EXPECT_FALSE(p.Observe(moved + seconds(242), pools, {Vol("vm-1", "slow", 300)}));
  EXPECT_FALSE(p.Observe(moved + seconds(244), pools, {Vol("vm-1", "slow", 300)}));
  EXPECT_TRUE(p.Observe(moved + seconds(246), pools, {Vol("vm-1", "slow", 300)}));
}

TEST(TieringPolicyTest, NoMoveWithoutRoomOrWhileAnotherMoves) {
  TieringPolicy full;
  EXPECT_FALSE(
      FirstMove(full, TwoPools(/*fast_used_gib=*/10), {Vol("vm-1", "slow", 300)}, 10).second);
  TieringPolicy reserved;
  std::vector<TieringPool> pools = TwoPools();
  pools[0].reserved_iops = 1950;
  TieringVolume v = Vol("vm-1", "slow", 300);
  v.reservation_iops = 100;
  EXPECT_FALSE(FirstMove(reserved, pools, {v}, 10).second);
  TieringPolicy busy;
  TieringVolume moving = Vol("vm-2", "fast", 500);
  moving.moving = true;
  EXPECT_FALSE(FirstMove(busy, TwoPools(), {Vol("vm-1", "slow", 300), moving}, 10).second);
}

TEST(TieringPolicyTest, HotBeforeColdAndHottestFirst) {
  TieringPolicy p;
  auto [at, m] =
      FirstMove(p, TwoPools(),
                {Vol("vm-c", "fast", 1), Vol("vm-a", "slow", 150), Vol("vm-b", "slow", 390)}, 10);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->vm_id, "vm-b");
  std::optional<TieringMove> second =
      p.Observe(kT0 + seconds(2 * at + 2), TwoPools(),
                {Vol("vm-c", "fast", 1), Vol("vm-a", "slow", 150), Vol("vm-b", "fast", 390)});
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->vm_id, "vm-a");
}

TEST(TieringPolicyTest, OnePoolTierOnlyNeverMoves) {
  TieringPolicy p;
  std::vector<TieringPool> one = {{"only", "ssd", 400, 10, 1, 0}};
  EXPECT_FALSE(FirstMove(p, one, {Vol("vm-1", "only", 399)}, 10).second);
  EXPECT_FALSE(FirstMove(p, one, {Vol("vm-1", "only", 0)}, 10).second);
}

}  // namespace
}  // namespace devshare::host
