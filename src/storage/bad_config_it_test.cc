// A bad config makes nbdkit refuse to start, with a message naming the field.
#include <gtest/gtest.h>

#include <filesystem>

#include "nbdkit_process.h"
#include "storage_it_util.h"

namespace devshare::storage::it {
namespace {

struct BadConfigCase {
  const char* name;
  const char* field;  // JSON pointer into the good config
  nlohmann::json value;
  const char* message;
};

class StorageBadConfigTest : public ::testing::TestWithParam<BadConfigCase> {
 protected:
  void SetUp() override {
    std::string why = SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
  TempDir dir_;
};

TEST_P(StorageBadConfigTest, RefusesToStart) {
  std::string d = dir_.path();
  std::filesystem::create_directories(d + "/p");
  nlohmann::json c = {
      {"stats_file", d + "/stats.json"},
      {"pools",
       {{{"name", "p"}, {"dir", d + "/p"}, {"capacity_iops", 400}, {"capacity_mbps", 100}}}},
      {"volumes",
       {{{"export", "v"}, {"pool", "p"}, {"file", d + "/p/v.raw"}, {"size_bytes", 1 << 20}}}}};
  c[nlohmann::json::json_pointer(GetParam().field)] = GetParam().value;
  std::string config = d + "/config.json";
  WriteConfig(config, c);
  NbdkitProcess p(d, config);
  std::string log;
  int code = p.RunToExit(&log);
  EXPECT_NE(code, 0) << log;
  EXPECT_NE(log.find(GetParam().message), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(d + "/p/v.raw"));
}

INSTANTIATE_TEST_SUITE_P(
    Table, StorageBadConfigTest,
    ::testing::Values(BadConfigCase{"UnknownField", "/volumes/0/colour", "red",
                                    "field 'volumes[0].colour': unknown field"},
                      BadConfigCase{"UnknownPool", "/volumes/0/pool", "x",
                                    "field 'volumes[0].pool': unknown pool 'x'"},
                      BadConfigCase{"SizeZero", "/volumes/0/size_bytes", 0,
                                    "field 'volumes[0].size_bytes': 0 is outside"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace devshare::storage::it
