// ParseStorageConfig: a full config, defaults, and one table row per rejected field.
#include "devshare/storage/volume_config.h"

#include <gtest/gtest.h>

#include <string>

namespace devshare::storage {
namespace {

const char* kGood = R"({
  "stats_file": "/s/stats.json", "stats_interval_ms": 500, "migration_mbps": 32,
  "pools": [{"name": "nvme0", "tier": "nvme", "dir": "/p/a", "capacity_iops": 400,
             "capacity_mbps": 100, "scheduler": "mclock"},
            {"name": "hdd0", "tier": "hdd", "dir": "/p/b/", "capacity_iops": 100,
             "capacity_mbps": 50, "scheduler": "fifo"}],
  "volumes": [{"export": "vm-1", "pool": "nvme0", "file": "/p/a/vm-1.raw",
               "size_bytes": 1048576, "reservation_iops": 200, "weight": 2, "limit_iops": 300},
              {"export": "vm-2", "pool": "hdd0", "file": "/p/b/vm-2.raw", "size_bytes": 4096,
               "moving_from": "/p/a/vm-2.raw"}]
})";

TEST(VolumeConfigTest, ParsesEveryField) {
  auto c = ParseStorageConfig(kGood, "config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->stats_file, "/s/stats.json");
  EXPECT_EQ(c->stats_interval_ms.count(), 500);
  EXPECT_EQ(c->migration_mbps, 32);
  ASSERT_EQ(c->pools.size(), 2u);
  EXPECT_EQ(c->pools[1].dir, "/p/b");
  EXPECT_EQ(c->pools[1].scheduler, PoolScheduler::kFifo);
  ASSERT_EQ(c->volumes.size(), 2u);
  EXPECT_EQ(c->volumes[0].reservation_iops, 200);
  EXPECT_EQ(c->volumes[0].weight, 2);
  EXPECT_EQ(c->volumes[0].limit_iops, 300);
  EXPECT_EQ(c->volumes[1].weight, 1);
  EXPECT_EQ(c->volumes[1].moving_from, "/p/a/vm-2.raw");
  EXPECT_NE(c->FindVolume("vm-2"), nullptr);
  EXPECT_EQ(c->FindPool("x"), nullptr);
}

struct BadCase {
  const char* name;
  std::string from, to;  // replaced in kGood
  std::string message;
};

class VolumeConfigBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(VolumeConfigBadTest, NamesTheField) {
  std::string text = kGood;
  size_t at = text.find(GetParam().from);
  ASSERT_NE(at, std::string::npos) << GetParam().from;
  text.replace(at, GetParam().from.size(), GetParam().to);
  auto c = ParseStorageConfig(text, "config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsInvalidArgument());
  EXPECT_EQ(c.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, VolumeConfigBadTest,
    ::testing::Values(
        BadCase{"UnknownPool", R"("pool": "hdd0")", R"("pool": "x")",
                "config.json: field 'volumes[1].pool': unknown pool 'x'"},
        BadCase{"UnknownTopField", R"("migration_mbps": 32)", R"("migration_mbps": 32, "x": 1)",
                "config.json: field 'x': unknown field"},
        BadCase{"UnknownVolumeField", R"("weight": 2)", R"("weight": 2, "iops": 3)",
                "config.json: field 'volumes[0].iops': unknown field"},
        BadCase{"SizeZero", R"("size_bytes": 4096)", R"("size_bytes": 0)",
                "config.json: field 'volumes[1].size_bytes': 0 is outside 512..1125899906842624"},
        BadCase{"SizeNotSector", R"("size_bytes": 4096)", R"("size_bytes": 4097)",
                "config.json: field 'volumes[1].size_bytes': 4097 is not a multiple of 512"},
        BadCase{"BadScheduler", R"("scheduler": "fifo")", R"("scheduler": "rr")",
                "config.json: field 'pools[1].scheduler': 'rr' is not one of mclock, fifo, none"},
        BadCase{"ZeroCapacity", R"("capacity_iops": 100)", R"("capacity_iops": 0)",
                "config.json: field 'pools[1].capacity_iops': 0 is outside 1..1e+07"},
        BadCase{"RelativeDir", R"("dir": "/p/a")", R"("dir": "p/a")",
                "config.json: field 'pools[0].dir': 'p/a' is not an absolute path"},
        BadCase{"FileOutsidePool", R"("file": "/p/b/vm-2.raw")", R"("file": "/p/a/vm-3.raw")",
                "config.json: field 'volumes[1].file': '/p/a/vm-3.raw' is not in the dir of "
                "pool 'hdd0' (/p/b)"},
        BadCase{"DuplicateExport", R"("export": "vm-2")", R"("export": "vm-1")",
                "config.json: field 'volumes[1].export': duplicate export 'vm-1'"},
        BadCase{"LimitBelowReservation", R"("reservation_iops": 200)", R"("reservation_iops": 500)",
                "config.json: field 'volumes[0].limit_iops': 300 is below reservation_iops 500"},
        BadCase{"NegativeWeight", R"("weight": 2)", R"("weight": -1)",
                "config.json: field 'volumes[0].weight': -1 is outside 0.001..1000"},
        BadCase{"WrongType", R"("stats_interval_ms": 500)", R"("stats_interval_ms": "5")",
                "config.json: field 'stats_interval_ms': expected a non-negative integer"},
        BadCase{"MissingStats", R"("stats_file": "/s/stats.json",)", "",
                "config.json: field 'stats_file': is required"},
        BadCase{"NotJson", R"("pools": [)", R"("pools": [[)", "config.json: not valid JSON"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(VolumeConfigTest, ReservationsOfAPoolStayWithinCapacity) {
  std::string text = kGood;
  std::string from = R"("moving_from": "/p/a/vm-2.raw")";
  text.replace(text.find(from), from.size(),
               R"("moving_from": "/p/a/vm-2.raw"}, {"export": "vm-3", "pool": "nvme0",
                  "file": "/p/a/vm-3.raw", "size_bytes": 512, "reservation_iops": 201)");
  auto c = ParseStorageConfig(text, "config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "config.json: field 'volumes[2].reservation_iops': reservations of pool 'nvme0' sum "
            "to 401, above its capacity_iops 400");
}

TEST(VolumeConfigTest, MissingFileIsNotFound) {
  auto c = LoadStorageConfig("/nonexistent/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsNotFound());
  EXPECT_NE(c.status().message().find("/nonexistent/config.json"), std::string::npos);
}

}  // namespace
}  // namespace devshare::storage
