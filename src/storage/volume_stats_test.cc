// StatsTracker on virtual time: window deltas and the 30 s EWMA of heat_iops.
#include "devshare/storage/volume_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace devshare::storage {
namespace {

TEST(StatsTrackerTest, WindowsAndHeat) {
  StatsTracker t;
  PoolSnapshot pool;
  pool.pool.name = "a";
  pool.pool.scheduler = PoolScheduler::kFifo;
  VolumeSnapshot v;
  v.config.export_name = "v";
  v.pool = "a";
  TimePoint now{};
  (void)t.Render(now, {pool}, {v});
  // 100 ops per second for 30 s: heat reaches 1 - 1/e of 100.
  for (int s = 1; s <= 30; ++s) {
    now += std::chrono::seconds(1);
    v.counters.ops_read += 100;
    pool.served_cost += 100;
    std::string doc = t.Render(now, {pool}, {v});
    if (s == 30) {
      nlohmann::json j = nlohmann::json::parse(doc);
      EXPECT_EQ(j["time_ms"], 30000);
      EXPECT_EQ(j["pools"][0]["scheduler"], "fifo");
      EXPECT_EQ(j["pools"][0]["served_cost_last_window"], 100);
      EXPECT_EQ(j["volumes"][0]["served_last_window"], 100);
      EXPECT_EQ(j["volumes"][0]["ops_read"], 3000);
      EXPECT_TRUE(j["volumes"][0]["moving"].is_null());
    }
  }
  EXPECT_NEAR(t.heat_iops("v"), 100 * (1 - std::exp(-1.0)), 0.01);
}

TEST(StatsTrackerTest, MovingObject) {
  StatsTracker t;
  VolumeSnapshot v;
  v.config.export_name = "v";
  v.moving = MoveProgress{"b", "/b/v.raw", 1 << 20, 4 << 20};
  nlohmann::json j = nlohmann::json::parse(t.Render(TimePoint{}, {}, {v}));
  EXPECT_EQ(j["volumes"][0]["moving"]["to_pool"], "b");
  EXPECT_EQ(j["volumes"][0]["moving"]["copied_bytes"], 1 << 20);
  EXPECT_EQ(j["volumes"][0]["moving"]["total_bytes"], 4 << 20);
}

}  // namespace
}  // namespace devshare::storage
