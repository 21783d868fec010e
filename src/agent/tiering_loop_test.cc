// TieringSample: what the tiering policy sees from the volume server's stats and exports and
// the agent's records (pool usage, heat, moves; plain-file pools left out).
#include "devshare/agent/tiering_loop.h"

#include <gtest/gtest.h>

namespace devshare::agent {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(TieringSampleTest, PoolsVolumesHeatAndMoves) {
  std::vector<host::StoragePool> pools(3);
  pools[0] = {"fast", "nvme", "/p/fast", 10, 2000, 200, "mclock", ""};
  pools[1] = {"slow", "hdd", "/p/slow", 20, 400, 50, "fifo", ""};
  pools[2] = {"plain", "ssd", "/p/plain", 5, 900, 90, "none", ""};
  std::vector<host::HostAgent::RealizedVolume> realized = {
      {"vm-1", "data", "slow", "fifo", "/p/slow/d-vm-1-data.raw", "d-vm-1-data", 2 * kGiB},
      {"vm-2", "data", "fast", "mclock", "/p/fast/d-vm-2-data.raw", "d-vm-2-data", 1 * kGiB},
      {"vm-3", "data", "plain", "none", "/p/plain/d-vm-3-data.raw", "", 1 * kGiB},
      {"vm-4", "data", "fast", "mclock", "/p/fast/d-vm-4-data.raw", "d-vm-4-data", 1 * kGiB}};
  std::vector<host::VolumeExport> exports(3);
  exports[0] = {"d-vm-1-data", "slow", "/p/slow/d-vm-1-data.raw", "", 2 * kGiB, 50, 1, 0};
  exports[1] = {"d-vm-2-data", "fast", "/p/fast/d-vm-2-data.raw", "", 1 * kGiB, 100, 2, 0};
  exports[2] = {"d-vm-4-data", "fast", "/p/fast/d-vm-4-data.raw", "", 1 * kGiB + 1, 0, 1, 0};
  const nlohmann::json stats = {
      {"volumes",
       {{{"export", "d-vm-1-data"}, {"pool", "slow"}, {"heat_iops", 380.5}, {"moving", nullptr}},
        {{"export", "d-vm-2-data"},
         {"pool", "fast"},
         {"heat_iops", 3.0},
         {"moving", {{"to_pool", "slow"}}}}}}};  // vm-4: exported but not in the stats yet
  std::vector<host::TieringPool> tp;
  std::vector<host::TieringVolume> tv;
  TieringSample(pools, realized, exports, stats, &tp, &tv);
  ASSERT_EQ(tp.size(), 2u);  // "plain" is no part of it
  EXPECT_EQ(tp[0].name, "fast");
  EXPECT_EQ(tp[0].used_gib, 3);  // 1 + 2 (1 GiB + 1 byte rounds up)
  EXPECT_EQ(tp[0].reserved_iops, 100);
  EXPECT_EQ(tp[1].name, "slow");
  EXPECT_EQ(tp[1].capacity_iops, 400);
  EXPECT_EQ(tp[1].used_gib, 2);
  ASSERT_EQ(tv.size(), 2u);
  EXPECT_EQ(tv[0].vm_id, "vm-1");
  EXPECT_DOUBLE_EQ(tv[0].heat_iops, 380.5);
  EXPECT_EQ(tv[0].size_gib, 2);
  EXPECT_EQ(tv[0].reservation_iops, 50);
  EXPECT_FALSE(tv[0].moving);
  EXPECT_EQ(tv[1].vm_id, "vm-2");
  EXPECT_TRUE(tv[1].moving);
}

TEST(TieringSampleTest, ARecordAheadOfThePluginCountsAsMoving) {
  // The agent already asked for the new pool; the plugin still reports the old one.
  std::vector<host::StoragePool> pools(2);
  pools[0] = {"fast", "nvme", "/p/fast", 10, 2000, 200, "mclock", ""};
  pools[1] = {"slow", "hdd", "/p/slow", 20, 400, 50, "mclock", ""};
  std::vector<host::HostAgent::RealizedVolume> realized = {
      {"vm-1", "data", "fast", "mclock", "/p/fast/x.raw", "x", kGiB}};
  std::vector<host::VolumeExport> exports = {
      {"x", "fast", "/p/fast/x.raw", "/p/slow/x.raw", kGiB, 0, 1, 0}};
  const nlohmann::json stats = {
      {"volumes", {{{"export", "x"}, {"pool", "slow"}, {"heat_iops", 300.0}}}}};
  std::vector<host::TieringPool> tp;
  std::vector<host::TieringVolume> tv;
  TieringSample(pools, realized, exports, stats, &tp, &tv);
  ASSERT_EQ(tv.size(), 1u);
  EXPECT_TRUE(tv[0].moving);
}

}  // namespace
}  // namespace devshare::agent
