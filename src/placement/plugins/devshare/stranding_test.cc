// Tests of the devshare stranding measure: copy counts limited by GPU slots and CPU, the
// per-shape blend of packing stranding and FGD's F_n(m) on hand-computed node states, the
// whole-GPU take, and the per-host memo following host generations.
#include "placement/plugins/devshare/stranding.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/testutil/clusters.h"
#include "tests/testutil/requests.h"

namespace devshare::placement::devshare_policy {
namespace {

TaskShape Shape(int64_t cpu_milli, int num_gpu, int gpu_milli) {
  return testutil::Weighted(cpu_milli, gpu_milli, num_gpu, 1.0).shape;
}

ClusterState OneHost(int64_t cpu_milli, const std::vector<int64_t>& used) {
  return testutil::OneGpuHost(static_cast<int>(used.size()), cpu_milli, used);
}

TEST(DevshareStranding, CopiesCountGpuSlotsAndCpu) {
  struct Case {
    TaskShape shape;
    int64_t cpu_free;
    std::vector<int32_t> free;
    int64_t copies;
  };
  const std::vector<Case> cases = {
      {Shape(1000, 1, 300), 64000, {1000, 700, 250}, 3 + 2 + 0},
      {Shape(4000, 1, 300), 8000, {1000, 700, 250}, 2},  // CPU for two
      {Shape(0, 1, 500), 0, {1000, 500}, 3},             // no CPU asked: slots only
      {Shape(1000, 2, 1000), 64000, {1000, 1000, 1000, 999}, 1},
      {Shape(1000, 1, 1000), 64000, {999, 500}, 0},
      {Shape(2000, 1, 100), 1000, {1000}, 0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Copies(c.shape, c.cpu_free, c.free, FullyFreeGpus(c.free)), c.copies)
        << c.shape.ToString() << " cpu " << c.cpu_free;
  }
  EXPECT_EQ(FullyFreeGpus({1000, 999, 0, 1000}), 2);
}

TEST(DevshareStranding, AcceptsListedModelsOnly) {
  TaskShape any = Shape(1000, 1, 500);
  TaskShape t4 = any;
  t4.models = {"T4", "V100"};
  EXPECT_TRUE(Accepts(any, "A100"));
  EXPECT_TRUE(Accepts(t4, "V100"));
  EXPECT_FALSE(Accepts(t4, "A100"));
}

// Node: GPUs with 1000 and 900 free, 64 cores free. An 810-milli shape fits twice (one copy per
// GPU), leaving 1900 - 1620 = 280 milli unused; FGD sees no GPU too small (F_n = 0): 140.
// With CPU for one copy only: 1900 - 810 = 1090 unused, F_n still 0: 545. A CPU-only shape and
// a shape of another model strand all 1900.
TEST(DevshareStranding, BlendsPackingStrandingWithFgdPerShape) {
  TaskShape other_model = Shape(1000, 1, 100);
  other_model.models = {"T4"};
  const TypicalPods m({testutil::Weighted(1000, 810, 1, 0.4),
                       testutil::Weighted(64000, 810, 1, 0.3), testutil::Weighted(4000, 0, 0, 0.2),
                       WeightedShape{other_model, 0, 0.1}});
  const std::vector<int32_t> free = {1000, 900};
  std::vector<float> out(4, -1.0f);
  Stranding(m, 64000, free, "A100", out.data());
  EXPECT_FLOAT_EQ(out[0], 140.0f);
  EXPECT_FLOAT_EQ(out[1], 545.0f);
  EXPECT_FLOAT_EQ(out[2], 1900.0f);
  EXPECT_FLOAT_EQ(out[3], 1900.0f);
}

// Where FGD's F_n is not 0 the blend takes half of it: GPUs with 1000 and 300 free, a 500-milli
// shape fits twice in the first GPU (0 left there) and not in the second: packing strands 300,
// F_n = 300 (the GPU too small); a 700-milli shape: packing 1300 - 700 = 600, F_n = 300.
TEST(DevshareStranding, TakesHalfOfFgdsFragment) {
  const TypicalPods m(
      {testutil::Weighted(1000, 500, 1, 0.5), testutil::Weighted(1000, 700, 1, 0.5)});
  const std::vector<int32_t> free = {1000, 300};
  std::vector<float> out(2);
  Stranding(m, 64000, free, "A100", out.data());
  for (size_t k = 0; k < 2; ++k) {
    const double fgd = TypicalPods::ShapeFragMilli(64000, free, "A100", m.shapes()[k].shape);
    EXPECT_DOUBLE_EQ(fgd, 300.0);
  }
  EXPECT_FLOAT_EQ(out[0], 0.5f * 300 + 0.5f * 300);
  EXPECT_FLOAT_EQ(out[1], 0.5f * 600 + 0.5f * 300);
}

TEST(DevshareStranding, WholeGpuRequestsTakeTheLowestFullyFreeGpus) {
  ClusterState c = OneHost(64000, {0, 500, 0, 0});
  const HostState& h = c.states[0];
  std::vector<int32_t> free(h.gpu_free_milli().begin(), h.gpu_free_milli().end());
  TakeWholeGpus(testutil::Request(1000, 2, 1000), h, &free);
  EXPECT_EQ(free, (std::vector<int32_t>{0, 500, 0, 1000}));
}

TEST(DevshareStranding, MemoFollowsHostGenerations) {
  const TypicalPods m({testutil::Weighted(1000, 500, 1, 1.0)});
  ClusterState c = OneHost(64000, {0, 0});
  StrandingMemo memo;
  EXPECT_FLOAT_EQ(memo.Before(m, c.states[0], 0)[0], 0.0f);  // 4 copies fill both GPUs
  Allocation a;
  a.request_id = "new";
  a.host_index = 0;
  a.gpus.push_back(DeviceSlice{0, "gpu0", 300, false, "", -1});
  ASSERT_TRUE(c.states[0].ApplyUnchecked(a).ok());
  // 700 + 1000 free: 3 copies use 1500, 200 strand; F_n = 0: 100.
  EXPECT_FLOAT_EQ(memo.Before(m, c.states[0], 0)[0], 100.0f);
  // Another host index gets its own slot.
  ClusterState fresh = OneHost(64000, {0, 0});
  EXPECT_FLOAT_EQ(memo.Before(m, fresh.states[0], 3)[0], 0.0f);
  EXPECT_FLOAT_EQ(memo.Before(m, c.states[0], 0)[0], 100.0f);
}

}  // namespace
}  // namespace devshare::placement::devshare_policy
