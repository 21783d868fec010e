// Live move between pools under load: a writer/verifier client runs while the config moves the
// volume to the other pool; then kill -9 in the middle of a move and restart: the data is
// intact and the move completes.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "nbdkit_process.h"
#include "storage_it_util.h"

namespace devshare::storage::it {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kSize = 32 << 20;
constexpr uint64_t kBlocks = kSize / kBlock;
constexpr uint64_t kBatch = 64 << 10;
constexpr uint64_t kPer = kBatch / kBlock;

class StorageMoveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    d_ = dir_.path();
    std::filesystem::create_directories(d_ + "/a");
    std::filesystem::create_directories(d_ + "/b");
    config_ = d_ + "/config.json";
    gen_.assign(kBlocks, 1);
  }

  // The volume lives in `pool` ("a" or "b"); `from` (may be empty) is where it moves from.
  nlohmann::json Config(const std::string& pool, const std::string& from, double mbps) {
    nlohmann::json v = {{"export", "v"},
                        {"pool", pool},
                        {"file", d_ + "/" + pool + "/v.raw"},
                        {"size_bytes", kSize},
                        {"reservation_iops", 100}};
    if (!from.empty()) v["moving_from"] = d_ + "/" + from + "/v.raw";
    auto pool_json = [&](const std::string& n, const char* tier) {
      return nlohmann::json{{"name", n},
                            {"tier", tier},
                            {"dir", d_ + "/" + n},
                            {"capacity_iops", 2000},
                            {"capacity_mbps", 400},
                            {"scheduler", "mclock"}};
    };
    return {{"stats_file", d_ + "/stats.json"},
            {"stats_interval_ms", 100},
            {"migration_mbps", mbps},
            {"pools", {pool_json("a", "nvme"), pool_json("b", "hdd")}},
            {"volumes", {v}}};
  }

  // Whole volume in 64 KiB requests (16 blocks each), so filling and checking stay quick.
  void Fill(NbdClient& c) {
    std::vector<uint32_t> buf(kBlock / 4), batch(kBatch / 4);
    for (uint64_t b = 0; b < kBlocks; ++b) {
      FillBlock(buf, b, gen_[b]);
      std::copy(buf.begin(), buf.end(), batch.begin() + static_cast<long>((b % kPer) * buf.size()));
      if (b % kPer == kPer - 1) {
        ASSERT_EQ(c.Write(batch.data(), kBatch, (b + 1 - kPer) * kBlock, false), "");
      }
    }
    ASSERT_EQ(c.Flush(), "");
  }

  // Every block holds its latest generation.
  void VerifyAll(NbdClient& c) {
    std::vector<uint32_t> buf(kBlock / 4), batch(kBatch / 4);
    for (uint64_t first = 0; first < kBlocks; first += kPer) {
      ASSERT_EQ(c.Read(batch.data(), kBatch, first * kBlock), "");
      for (uint64_t i = 0; i < kPer; ++i) {
        auto from = batch.begin() + static_cast<long>(i * buf.size());
        std::copy(from, from + static_cast<long>(buf.size()), buf.begin());
        ASSERT_TRUE(BlockMatches(buf, first + i, gen_[first + i])) << "block " << first + i;
      }
    }
  }

  // Waits (up to `timeout`) until the stats show the volume served by `pool` with no move.
  ::testing::AssertionResult WaitMoved(const std::string& pool, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json v;
    while (std::chrono::steady_clock::now() < deadline) {
      v = StatsOfVolume(ReadStats(d_ + "/stats.json"), "v");
      if (!v.is_null() && v["pool"] == pool && v["moving"].is_null() &&
          v["file"] == d_ + "/" + pool + "/v.raw") {
        return ::testing::AssertionSuccess();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return ::testing::AssertionFailure() << "no finished move to " << pool << ": " << v.dump();
  }

  TempDir dir_;
  std::string d_, config_;
  std::vector<uint32_t> gen_;
};

TEST_F(StorageMoveTest, MoveUnderLoadKeepsEveryWrite) {
  WriteConfig(config_, Config("a", "", 16));
  NbdkitProcess p(d_, config_);
  ASSERT_TRUE(p.Start());
  NbdClient c;
  ASSERT_EQ(c.Connect(p.socket_path(), "v"), "");
  Fill(c);

  // 32 MiB at 16 MB/s: about 2 s of move while the client rewrites and re-reads blocks.
  WriteConfig(config_, Config("b", "a", 16));
  std::atomic<bool> done{false};
  std::string error;
  int64_t writes = 0, reads = 0;
  std::thread writer([&] {
    std::vector<uint32_t> buf(kBlock / 4);
    uint64_t x = 42;
    while (!done && error.empty()) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      uint64_t b = (x >> 33) % kBlocks;
      FillBlock(buf, b, ++gen_[b]);
      error = c.Write(buf.data(), kBlock, b * kBlock, (x & 1) != 0);
      ++writes;
      if (!error.empty()) break;
      uint64_t r = (x >> 13) % kBlocks;
      error = c.Read(buf.data(), kBlock, r * kBlock);
      ++reads;
      if (error.empty() && !BlockMatches(buf, r, gen_[r]))
        error = "stale read of block " + std::to_string(r);
    }
  });
  ::testing::AssertionResult moved = WaitMoved("b", std::chrono::seconds(20));
  done = true;
  writer.join();
  ASSERT_TRUE(moved) << p.Log();
  EXPECT_EQ(error, "");
  std::cout << "[ figures  ] during the move: " << writes << " writes, " << reads << " reads\n";
  EXPECT_GT(writes, 50);
  VerifyAll(c);
  EXPECT_FALSE(std::filesystem::exists(d_ + "/a/v.raw"));
  EXPECT_FALSE(std::filesystem::exists(d_ + "/b/v.raw.part"));
  EXPECT_TRUE(std::filesystem::exists(d_ + "/b/v.raw"));
  nlohmann::json v = StatsOfVolume(ReadStats(d_ + "/stats.json"), "v");
  EXPECT_EQ(v["errors"], 0);
  p.Kill();
}

TEST_F(StorageMoveTest, Kill9DuringMoveThenRestartCompletesIt) {
  WriteConfig(config_, Config("a", "", 4));
  NbdkitProcess p(d_, config_);
  ASSERT_TRUE(p.Start());
  {
    NbdClient c;
    ASSERT_EQ(c.Connect(p.socket_path(), "v"), "");
    Fill(c);
  }
  // 32 MiB at 4 MB/s: 8 s; kill it once some chunks are copied.
  WriteConfig(config_, Config("b", "a", 4));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int64_t copied = 0;
  while (std::chrono::steady_clock::now() < deadline && copied < (4 << 20)) {
    nlohmann::json v = StatsOfVolume(ReadStats(d_ + "/stats.json"), "v");
    if (!v.is_null() && v["moving"].is_object()) copied = v["moving"]["copied_bytes"];
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(copied, 4 << 20) << p.Log();
  p.Kill();
  EXPECT_TRUE(std::filesystem::exists(d_ + "/a/v.raw"));
  EXPECT_TRUE(std::filesystem::exists(d_ + "/b/v.raw.part"));
  EXPECT_FALSE(std::filesystem::exists(d_ + "/b/v.raw"));

  // Restart on the same config: served from moving_from while the move starts again.
  NbdkitProcess q(d_, config_);
  ASSERT_TRUE(q.Start());
  NbdClient c;
  ASSERT_EQ(c.Connect(q.socket_path(), "v"), "");
  VerifyAll(c);
  ASSERT_TRUE(WaitMoved("b", std::chrono::seconds(20))) << q.Log();
  VerifyAll(c);
  EXPECT_FALSE(std::filesystem::exists(d_ + "/a/v.raw"));
  EXPECT_FALSE(std::filesystem::exists(d_ + "/b/v.raw.part"));
  q.Kill();
}

}  // namespace
}  // namespace devshare::storage::it
