// Tests VmRequest::Validate and the GpuRequest shape predicates (share, whole, partition, model).
#include "devshare/core/request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace devshare {
namespace {

using ::testing::HasSubstr;

GpuRequest Gpu(int count, int milli, std::string profile = "") {
  GpuRequest g;
  g.count = count;
  g.milli = milli;
  g.profile = std::move(profile);
  return g;
}

struct ValidateCase {
  std::string name;
  int64_t cpu_milli;
  int64_t memory_mib;
  GpuRequest gpu;
  bool ok;
  std::string detail;  // expected message fragment when !ok
};

TEST(VmRequestTest, Validate) {
  const std::vector<ValidateCase> cases = {
      {"cpu only", 4000, 8192, Gpu(0, 0), true, ""},
      {"all zero", 0, 0, Gpu(0, 0), true, ""},
      {"share", 1000, 1024, Gpu(1, 500), true, ""},
      {"smallest share", 1000, 1024, Gpu(1, 1), true, ""},
      {"one whole", 1000, 1024, Gpu(1, 1000), true, ""},
      {"multi whole", 32000, 65536, Gpu(8, 1000), true, ""},
      {"profile count 1", 1000, 1024, Gpu(1, 0, "3g.20gb"), true, ""},
      {"profile ignores milli", 1000, 1024, Gpu(1, 5000, "1g.5gb"), true, ""},
      {"negative cpu", -1, 1024, Gpu(0, 0), false, "cpu_milli"},
      {"negative memory", 1000, -1, Gpu(0, 0), false, "memory_mib"},
      {"negative gpu count", 1000, 1024, Gpu(-1, 1000), false, "count"},
      {"gpu milli 0", 1000, 1024, Gpu(1, 0), false, "milli 0"},
      {"gpu milli negative", 1000, 1024, Gpu(1, -100), false, "milli -100"},
      {"gpu milli above 1000", 1000, 1024, Gpu(1, 1001), false, "milli 1001"},
      {"multi share", 1000, 1024, Gpu(2, 500), false, "whole"},
      {"multi almost whole", 1000, 1024, Gpu(4, 999), false, "whole"},
      {"count 0 with milli", 1000, 1024, Gpu(0, 500), false, "count 0"},
      {"count 0 with profile", 1000, 1024, Gpu(0, 0, "1g.5gb"), false, "count 0"},
      {"profile count 2", 1000, 1024, Gpu(2, 0, "1g.5gb"), false, "count 1"},
  };
  for (const ValidateCase& c : cases) {
    SCOPED_TRACE(c.name);
    VmRequest r;
    r.id = "vm-17";
    r.cpu_milli = c.cpu_milli;
    r.memory_mib = c.memory_mib;
    r.gpu = c.gpu;
    Status s = r.Validate();
    EXPECT_EQ(s.ok(), c.ok) << s.ToString();
    if (!c.ok) {
      EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
      EXPECT_THAT(s.message(), HasSubstr("vm-17"));
      EXPECT_THAT(s.message(), HasSubstr(c.detail));
    }
  }
}

struct ShapeCase {
  std::string name;
  GpuRequest gpu;
  bool any;
  bool share;
  bool whole;
  bool partition;
  int64_t total_milli;
};

TEST(GpuRequestTest, ShapePredicates) {
  const std::vector<ShapeCase> cases = {
      {"none", Gpu(0, 0), false, false, false, false, 0},
      {"share", Gpu(1, 250), true, true, false, false, 250},
      {"share 999", Gpu(1, 999), true, true, false, false, 999},
      {"one whole", Gpu(1, 1000), true, false, true, false, 1000},
      {"four whole", Gpu(4, 1000), true, false, true, false, 4000},
      {"partition", Gpu(1, 0, "2g.10gb"), true, false, false, true, 0},
      {"partition with milli", Gpu(1, 1000, "7g.40gb"), true, false, false, true, 1000},
  };
  for (const ShapeCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.gpu.Any(), c.any);
    EXPECT_EQ(c.gpu.IsShare(), c.share);
    EXPECT_EQ(c.gpu.IsWhole(), c.whole);
    EXPECT_EQ(c.gpu.IsPartition(), c.partition);
    EXPECT_EQ(c.gpu.TotalMilli(), c.total_milli);
    // A request has at most one shape.
    EXPECT_LE(int{c.gpu.IsShare()} + int{c.gpu.IsWhole()} + int{c.gpu.IsPartition()}, 1);
  }
}

TEST(GpuRequestTest, TotalMilliDoesNotOverflowInt) {
  GpuRequest g = Gpu(3'000'000, 1000);
  EXPECT_EQ(g.TotalMilli(), 3'000'000'000LL);
}

struct ModelCase {
  std::vector<std::string> models;
  std::string model;
  bool accepts;
};

TEST(GpuRequestTest, AcceptsModel) {
  const std::vector<ModelCase> cases = {
      {{}, "A100", true},
      {{}, "", true},
      {{"A100"}, "A100", true},
      {{"A100"}, "T4", false},
      {{"A100"}, "a100", false},  // exact match
      {{"A100"}, "", false},
      {{"T4", "V100M32", "A100"}, "V100M32", true},
      {{"T4", "V100M32", "A100"}, "V100M16", false},
  };
  for (const ModelCase& c : cases) {
    SCOPED_TRACE(testing::Message() << "'" << c.model << "' in " << c.models.size());
    GpuRequest g = Gpu(1, 1000);
    g.models = c.models;
    EXPECT_EQ(g.AcceptsModel(c.model), c.accepts);
  }
}

}  // namespace
}  // namespace devshare
