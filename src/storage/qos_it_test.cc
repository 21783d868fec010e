// QoS on the host: real nbdkit serving three volumes of one 400-IOPS pool to libnbd clients
// with 8 requests of 4 KiB in flight each, for mClock (reservation 200, weights 1:1:2), the fifo
// baseline, and a limit of 100 IOPS.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "nbdkit_process.h"
#include "storage_it_util.h"

namespace devshare::storage::it {
namespace {

constexpr auto kRun = std::chrono::milliseconds(6000);

nlohmann::json Config(const std::string& dir, const std::string& scheduler,
                      const std::vector<nlohmann::json>& volumes) {
  std::filesystem::create_directories(dir + "/nvme0");
  nlohmann::json c = {{"stats_file", dir + "/stats.json"},
                      {"stats_interval_ms", 1000},
                      {"pools",
                       {{{"name", "nvme0"},
                         {"tier", "nvme"},
                         {"dir", dir + "/nvme0"},
                         {"capacity_iops", 400},
                         {"capacity_mbps", 100},
                         {"scheduler", scheduler}}}}};
  c["volumes"] = nlohmann::json::array();
  for (nlohmann::json v : volumes) {
    v["pool"] = "nvme0";
    v["file"] = dir + "/nvme0/" + v["export"].get<std::string>() + ".raw";
    v["size_bytes"] = 64 << 20;
    c["volumes"].push_back(v);
  }
  return c;
}

// Runs one load per export (reads for the first, writes for the others), all starting together.
std::map<std::string, LoadResult> RunAll(const NbdkitProcess& p,
                                         const std::vector<std::string>& exports) {
  auto start = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  std::map<std::string, std::future<LoadResult>> futures;
  bool write = false;
  for (const std::string& e : exports) {
    futures[e] = std::async(std::launch::async, RunLoad, p.socket_path(), e, write, 8, 4096,
                            uint64_t{64} << 20, start, kRun);
    write = !write;
  }
  std::map<std::string, LoadResult> out;
  for (auto& [e, f] : futures) out[e] = f.get();
  return out;
}

int64_t Sum(const LoadResult& r, size_t from, size_t to) {
  int64_t n = 0;
  for (size_t s = from; s < to && s < r.per_second.size(); ++s) n += r.per_second[s];
  return n;
}

std::string Describe(const std::map<std::string, LoadResult>& r) {
  std::string s;
  for (const auto& [e, l] : r) {
    s += e + ":";
    for (int64_t n : l.per_second) s += " " + std::to_string(n);
    s += "\n";
  }
  return s;
}

class StorageQosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
  TempDir dir_;
};

const std::vector<nlohmann::json> kThree = {
    {{"export", "v1"}, {"reservation_iops", 200}, {"weight", 1}},
    {{"export", "v2"}, {"reservation_iops", 0}, {"weight", 1}},
    {{"export", "v3"}, {"reservation_iops", 0}, {"weight", 2}}};

TEST_F(StorageQosTest, MClockReservationAndWeights) {
  std::string config = dir_.path() + "/config.json";
  WriteConfig(config, Config(dir_.path(), "mclock", kThree));
  NbdkitProcess p(dir_.path(), config);
  ASSERT_TRUE(p.Start());
  auto r = RunAll(p, {"v1", "v2", "v3"});
  for (const auto& [e, l] : r) ASSERT_EQ(l.errors, 0) << e << ": " << l.first_error;
  std::cout << "[ figures  ] mclock per-second completions\n" << Describe(r);
  ASSERT_GE(r["v1"].per_second.size(), 6u);
  for (size_t s = 1; s < 6; ++s) {
    EXPECT_GE(r["v1"].per_second[s], 200) << "second " << s << "\n" << Describe(r);
  }
  double v2 = static_cast<double>(Sum(r["v2"], 1, 6));
  double v3 = static_cast<double>(Sum(r["v3"], 1, 6));
  EXPECT_NEAR(v3 / v2, 2.0, 0.2) << Describe(r);
  double total = static_cast<double>(Sum(r["v1"], 1, 6)) + v2 + v3;
  EXPECT_NEAR(total / 5, 400, 20) << Describe(r);
  p.Kill();
}

TEST_F(StorageQosTest, FifoBaselineIgnoresTheReservation) {
  std::string config = dir_.path() + "/config.json";
  WriteConfig(config, Config(dir_.path(), "fifo", kThree));
  NbdkitProcess p(dir_.path(), config);
  ASSERT_TRUE(p.Start());
  auto r = RunAll(p, {"v1", "v2", "v3"});
  for (const auto& [e, l] : r) ASSERT_EQ(l.errors, 0) << e << ": " << l.first_error;
  std::cout << "[ figures  ] fifo per-second completions\n" << Describe(r);
  ASSERT_GE(r["v1"].per_second.size(), 6u);
  for (size_t s = 1; s < 6; ++s) {
    EXPECT_LT(r["v1"].per_second[s], 200) << "second " << s << "\n" << Describe(r);
  }
  for (const char* e : {"v1", "v2", "v3"}) {
    EXPECT_NEAR(static_cast<double>(Sum(r[e], 1, 6)) / 5, 400.0 / 3, 400.0 / 3 * 0.1)
        << e << "\n"
        << Describe(r);
  }
  p.Kill();
}

TEST_F(StorageQosTest, LimitIsHeld) {
  std::string config = dir_.path() + "/config.json";
  WriteConfig(config, Config(dir_.path(), "mclock", {{{"export", "lim"}, {"limit_iops", 100}}}));
  NbdkitProcess p(dir_.path(), config);
  ASSERT_TRUE(p.Start());
  auto r = RunAll(p, {"lim"});
  ASSERT_EQ(r["lim"].errors, 0) << r["lim"].first_error;
  std::cout << "[ figures  ] limit per-second completions\n" << Describe(r);
  ASSERT_GE(r["lim"].per_second.size(), 6u);
  for (size_t s = 1; s < 6; ++s) {
    EXPECT_NEAR(r["lim"].per_second[s], 100, 5) << "second " << s << "\n" << Describe(r);
  }
  // The stats file saw the same volume.
  nlohmann::json v = StatsOfVolume(ReadStats(dir_.path() + "/stats.json"), "lim");
  ASSERT_FALSE(v.is_null());
  EXPECT_GT(v["ops_read"].get<int64_t>(), 400);
  EXPECT_EQ(v["errors"], 0);
  p.Kill();
}

}  // namespace
}  // namespace devshare::storage::it
