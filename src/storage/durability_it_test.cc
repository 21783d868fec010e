// Durability: blocks written with FUA, or followed by a flush, read back after kill -9 of nbdkit
// and a fresh nbdkit on the same config.
#include <gtest/gtest.h>

#include <filesystem>

#include "nbdkit_process.h"
#include "storage_it_util.h"

namespace devshare::storage::it {
namespace {

TEST(StorageDurabilityTest, AcknowledgedWritesSurviveKill9) {
  std::string why = SkipReason();
  if (!why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  std::string d = dir.path();
  std::filesystem::create_directories(d + "/p");
  nlohmann::json c = {
      {"stats_file", d + "/stats.json"},
      {"pools",
       {{{"name", "p"},
         {"dir", d + "/p"},
         {"capacity_iops", 100000},
         {"capacity_mbps", 10000},
         {"scheduler", "none"}}}},
      {"volumes",
       {{{"export", "v"}, {"pool", "p"}, {"file", d + "/p/v.raw"}, {"size_bytes", 16 << 20}}}}};
  std::string config = d + "/config.json";
  WriteConfig(config, c);
  NbdkitProcess p(d, config);
  ASSERT_TRUE(p.Start());

  const uint64_t kBlocks = 256;
  std::vector<uint32_t> buf(1024);
  {
    NbdClient cl;
    ASSERT_EQ(cl.Connect(p.socket_path(), "v"), "");
    for (uint64_t b = 0; b < kBlocks; ++b) {
      FillBlock(buf, b, 1);
      // Even blocks with FUA; odd blocks plain, flushed every 8 blocks.
      ASSERT_EQ(cl.Write(buf.data(), 4096, b * 4096, b % 2 == 0), "");
      if (b % 8 == 7) ASSERT_EQ(cl.Flush(), "");
    }
  }
  p.Kill();

  NbdkitProcess q(d, config);
  ASSERT_TRUE(q.Start());
  NbdClient cl;
  ASSERT_EQ(cl.Connect(q.socket_path(), "v"), "");
  for (uint64_t b = 0; b < kBlocks; ++b) {
    ASSERT_EQ(cl.Read(buf.data(), 4096, b * 4096), "");
    ASSERT_TRUE(BlockMatches(buf, b, 1)) << "block " << b;
  }
  q.Kill();
}

}  // namespace
}  // namespace devshare::storage::it
