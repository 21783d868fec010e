// Tests the FGD fragmentation measure and TypicalPods against the reference §2b/§2e anchors.
#include "devshare/placement/fragmentation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "devshare/sim/experiment.h"
#include "devshare/sim/trace.h"
#include "tests/testutil/openb_traces.h"

namespace devshare::placement {
namespace {

TaskShape Shape(int64_t cpu_milli, int gpu_milli, int num_gpu,
                std::vector<std::string> models = {}) {
  TaskShape s;
  s.cpu_milli = cpu_milli;
  s.gpu_milli = gpu_milli;
  s.num_gpu = num_gpu;
  s.models = std::move(models);
  return s;
}

WeightedShape Weighted(TaskShape shape, double p) {
  WeightedShape w;
  w.shape = std::move(shape);
  w.p = p;
  return w;
}

// The 31-shape CPU+GPU mix of the peer simulator's fragmentation unit test (reference §2e),
// p = percent / 100, taken as given (no renormalisation).
TypicalPods PeerTestMix() {
  struct Row {
    int64_t cpu;
    int milli;
    int num;
    double percent;
  };
  static const Row kRows[] = {
      {15700, 1000, 1, 28.69}, {11900, 1000, 1, 18.93}, {11400, 1000, 1, 12.27},
      {1000, 0, 0, 7.36},      {18710, 1000, 1, 4.85},  {8200, 1000, 1, 3.79},
      {16400, 1000, 1, 3.31},  {9810, 1000, 1, 1.97},   {15200, 1000, 1, 1.87},
      {11200, 1000, 1, 1.81},  {14200, 1000, 1, 1.76},  {12000, 0, 0, 1.65},
      {14900, 1000, 1, 1.39},  {60200, 1000, 4, 1.23},  {64200, 1000, 8, 1.07},
      {32200, 1000, 4, 1.01},  {17400, 1000, 2, 0.91},  {30200, 1000, 2, 0.69},
      {16000, 1000, 1, 0.64},  {15000, 1000, 1, 0.59},  {64000, 1000, 8, 0.53},
      {15000, 0, 0, 0.53},     {11910, 1000, 1, 0.53},  {120200, 1000, 8, 0.48},
      {11300, 1000, 1, 0.37},  {30000, 1000, 2, 0.32},  {9800, 1000, 1, 0.32},
      {8000, 1000, 1, 0.32},   {2000, 1000, 1, 0.27},   {2000, 80, 1, 0.27},
      {1000, 1000, 1, 0.27},
  };
  std::vector<WeightedShape> shapes;
  for (const Row& r : kRows)
    shapes.push_back(Weighted(Shape(r.cpu, r.milli, r.num), r.percent / 100));
  return TypicalPods(std::move(shapes));
}

TypicalPods SingleShapeMix() { return TypicalPods({Weighted(Shape(6000, 465, 1), 0.0933)}); }

struct AnchorCase {
  std::string name;
  TypicalPods (*mix)();
  int64_t cpu_free_milli;
  std::vector<int32_t> gpu_free_milli;
  double want_frag_milli;
};

TEST(FragmentationTest, ReferenceAnchors) {
  const std::vector<AnchorCase> cases = {
      {"single_shape_lacks_cpu", SingleShapeMix, 1000, {200, 1000, 1000, 500}, 251.91},
      {"8xP100_empty",
       PeerTestMix,
       64000,
       {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000},
       887.20},
      {"8xP100_halved", PeerTestMix, 32000, {1000, 1000, 1000, 1000, 0, 0, 0, 0}, 554.40},
      {"8xP100_nocpu", PeerTestMix, 0, {1000, 1000, 1000, 1000, 0, 0, 0, 0}, 4000.00},
  };
  for (const AnchorCase& c : cases) {
    SCOPED_TRACE(c.name);
    const TypicalPods typical = c.mix();
    EXPECT_NEAR(typical.NodeFragMilli(c.cpu_free_milli, c.gpu_free_milli, "P100"),
                c.want_frag_milli, 0.01);
    // The per-shape definition summed by hand gives the same value.
    double by_shape = 0;
    for (const WeightedShape& w : typical.shapes()) {
      by_shape +=
          w.p * TypicalPods::ShapeFragMilli(c.cpu_free_milli, c.gpu_free_milli, "P100", w.shape);
    }
    EXPECT_NEAR(by_shape, c.want_frag_milli, 0.01);
  }
}

TEST(FragmentationTest, PeerMixIsTakenAsGiven) {
  const TypicalPods typical = PeerTestMix();
  ASSERT_EQ(typical.shapes().size(), 31u);
  EXPECT_EQ(typical.distinct_shapes(), 31);
  EXPECT_DOUBLE_EQ(typical.shapes()[0].p, 0.2869);
  EXPECT_DOUBLE_EQ(typical.shapes()[30].p, 0.0027);
}

struct ShapeCase {
  std::string name;
  int64_t cpu_free_milli;
  std::vector<int32_t> gpu_free_milli;
  std::string model;
  TaskShape shape;
  double want_milli;
};

TEST(FragmentationTest, ShapeFragMilli) {
  const std::vector<ShapeCase> cases = {
      // CPU-only task: every free GPU milli is useless to it, whatever the CPU.
      {"cpu_only_task_all_free", 64000, {1000, 300, 0}, "T4", Shape(1000, 0, 0), 1300},
      {"cpu_only_task_lacking_cpu", 0, {1000, 300, 0}, "T4", Shape(1000, 0, 0), 1300},
      // Model mismatch ("no access"): all free milli.
      {"model_mismatch_all_free", 64000, {1000, 300}, "T4", Shape(1000, 500, 1, {"V100"}), 1300},
      {"model_alternative_matches",
       64000,
       {1000, 300},
       "T4",
       Shape(1000, 500, 1, {"V100", "T4"}),
       300},
      // GPU side fits but the CPU does not (Q4): all free milli.
      {"lacks_cpu_all_free", 500, {1000, 300}, "T4", Shape(1000, 500, 1), 1300},
      // Fits: only the GPUs too small for the task count.
      {"fits_only_too_small", 64000, {1000, 300, 600, 0}, "T4", Shape(1000, 500, 1), 300},
      {"fits_exact_milli_is_not_too_small", 1000, {500, 499}, "T4", Shape(1000, 500, 1), 499},
      {"fits_multi_gpu", 64000, {1000, 1000, 600}, "T4", Shape(1000, 1000, 2), 600},
      // Not enough fitting GPUs (Q2): all free milli.
      {"lacks_gpu_all_free", 64000, {1000, 300, 600}, "T4", Shape(1000, 1000, 2), 1900},
      {"lacks_both_all_free", 0, {400, 300}, "T4", Shape(1000, 500, 1), 700},
      {"no_free_gpu_is_zero", 64000, {0, 0}, "T4", Shape(1000, 500, 1), 0},
  };
  for (const ShapeCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_DOUBLE_EQ(
        TypicalPods::ShapeFragMilli(c.cpu_free_milli, c.gpu_free_milli, c.model, c.shape),
        c.want_milli);
  }
}

// NodeFragMilli (cached per-model views) agrees with sum_m p_m ShapeFragMilli, including shapes
// restricted to models, for several node states and models.
TEST(FragmentationTest, NodeFragMatchesShapeSum) {
  const TypicalPods typical({
      Weighted(Shape(4000, 500, 1), 0.3),
      Weighted(Shape(8000, 1000, 2), 0.2),
      Weighted(Shape(2000, 0, 0), 0.1),
      Weighted(Shape(1000, 250, 1, {"T4"}), 0.25),
      Weighted(Shape(16000, 1000, 1, {"V100", "A100"}), 0.15),
  });
  struct Node {
    int64_t cpu;
    std::vector<int32_t> free;
  };
  const std::vector<Node> nodes = {
      {64000, {1000, 1000, 1000, 1000}},
      {6000, {1000, 200, 700, 0}},
      {500, {1000, 1000}},
      {16000, {240, 260}},
      {0, {0, 0, 0}},
  };
  for (const std::string model : {"T4", "V100", "G2"}) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      SCOPED_TRACE(model + " node " + std::to_string(i));
      double want = 0;
      for (const WeightedShape& w : typical.shapes()) {
        want += w.p * TypicalPods::ShapeFragMilli(nodes[i].cpu, nodes[i].free, model, w.shape);
      }
      EXPECT_NEAR(typical.NodeFragMilli(nodes[i].cpu, nodes[i].free, model), want, 1e-9);
    }
  }
  // Copies are independent of the original (the per-model cache is rebuilt).
  auto original = std::make_unique<TypicalPods>(typical);
  const double want = original->NodeFragMilli(6000, nodes[1].free, "T4");
  TypicalPods copy;
  copy = *original;
  original.reset();
  EXPECT_NEAR(copy.NodeFragMilli(6000, nodes[1].free, "T4"), want, 1e-9);
}

VmRequest Pod(int64_t cpu_milli, int count, int milli, std::vector<std::string> models = {}) {
  VmRequest r;
  r.cpu_milli = cpu_milli;
  r.memory_mib = 1024;
  r.gpu.count = count;
  r.gpu.milli = count > 0 ? milli : 0;
  r.gpu.models = std::move(models);
  return r;
}

// Ten pods over five shapes with ties in count: B(2000m,1x500)x3, A(1000m CPU-only)x3,
// C(4000m,2x1000)x2, D(500m,1x300,T4)x1, E(500m,1x300)x1.
std::vector<VmRequest> SmallPodList() {
  std::vector<VmRequest> pods;
  for (int i = 0; i < 3; ++i) pods.push_back(Pod(1000, 0, 0));
  pods.push_back(Pod(500, 1, 300));
  for (int i = 0; i < 3; ++i) pods.push_back(Pod(2000, 1, 500));
  for (int i = 0; i < 2; ++i) pods.push_back(Pod(4000, 2, 1000));
  pods.push_back(Pod(500, 1, 300, {"T4"}));
  return pods;
}

struct FromPodsCase {
  std::string name;
  double coverage;
  std::vector<TaskShape> want_shapes;
  std::vector<int64_t> want_counts;
  double want_kept_coverage;
};

TEST(TypicalPodsTest, FromPodsCountsSortsAndCuts) {
  const TaskShape a = Shape(1000, 0, 0);
  const TaskShape b = Shape(2000, 500, 1);
  const TaskShape c = Shape(4000, 1000, 2);
  const TaskShape d = Shape(500, 300, 1, {"T4"});
  const TaskShape e = Shape(500, 300, 1);
  const std::vector<FromPodsCase> cases = {
      // Count ties: larger CPU first (b before a); then the shape with a spec first (d before e).
      {"all_kept", 1.0, {b, a, c, d, e}, {3, 3, 2, 1, 1}, 1.0},
      {"default_95_percent", 0.95, {b, a, c, d, e}, {3, 3, 2, 1, 1}, 1.0},
      {"cut_at_90_percent", 0.9, {b, a, c, d}, {3, 3, 2, 1}, 0.9},
      {"cut_at_80_percent", 0.8, {b, a, c}, {3, 3, 2}, 0.8},
      {"cut_at_75_percent", 0.75, {b, a, c}, {3, 3, 2}, 0.8},
      {"cut_at_30_percent", 0.3, {b}, {3}, 0.3},
  };
  const std::vector<VmRequest> pods = SmallPodList();
  for (const FromPodsCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    const TypicalPods t = TypicalPods::FromPods(pods, tc.coverage);
    EXPECT_EQ(t.distinct_shapes(), 5);
    EXPECT_NEAR(t.kept_coverage(), tc.want_kept_coverage, 1e-12);
    ASSERT_EQ(t.shapes().size(), tc.want_shapes.size());
    int64_t kept = 0;
    for (int64_t n : tc.want_counts) kept += n;
    double p_sum = 0;
    for (size_t i = 0; i < tc.want_shapes.size(); ++i) {
      SCOPED_TRACE("shape " + std::to_string(i));
      EXPECT_EQ(t.shapes()[i].shape, tc.want_shapes[i]) << t.shapes()[i].shape.ToString();
      EXPECT_EQ(t.shapes()[i].count, tc.want_counts[i]);
      EXPECT_DOUBLE_EQ(t.shapes()[i].p,
                       static_cast<double>(tc.want_counts[i]) / static_cast<double>(kept));
      p_sum += t.shapes()[i].p;
    }
    EXPECT_NEAR(p_sum, 1.0, 1e-12);
  }
}

TEST(TypicalPodsTest, FromPodsOfNothingIsEmpty) {
  const TypicalPods t = TypicalPods::FromPods({});
  EXPECT_TRUE(t.shapes().empty());
  EXPECT_EQ(t.distinct_shapes(), 0);
  EXPECT_DOUBLE_EQ(t.kept_coverage(), 1.0);
  EXPECT_DOUBLE_EQ(t.NodeFragMilli(1000, std::vector<int32_t>{1000, 500}, "T4"), 0.0);
}

TEST(TypicalPodsTest, ShapeToString) {
  EXPECT_EQ(Shape(3152, 810, 1).ToString(), "(3152m, 1x810m)");
  EXPECT_EQ(Shape(8000, 0, 0).ToString(), "(8000m, 0 GPU)");
  EXPECT_EQ(Shape(4000, 1000, 2, {"V100", "T4"}).ToString(), "(4000m, 2x1000m, V100|T4)");
  EXPECT_EQ(TaskShape::Of(Pod(4000, 2, 1000, {"T4"})), Shape(4000, 1000, 2, {"T4"}));
  EXPECT_EQ(TaskShape::Of(Pod(4000, 0, 0)), Shape(4000, 0, 0));
}

TEST(TypicalPodsTest, DefaultTraceTypicalPods) {
  DS_SKIP_WITHOUT_OPENB("openb_pod_list_default.csv");
  Result<std::vector<sim::PodRecord>> records =
      sim::ReadPodCsv(testutil::OpenbFile("openb_pod_list_default.csv"));
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  std::vector<VmRequest> pods;
  for (const sim::PodRecord& p : *records) pods.push_back(sim::RequestFromPod(p));

  const TypicalPods t = TypicalPods::FromPods(pods);
  EXPECT_EQ(t.distinct_shapes(), 91);
  ASSERT_EQ(t.shapes().size(), 35u);
  EXPECT_NEAR(100 * t.kept_coverage(), 95.26, 0.01);
  EXPECT_EQ(t.shapes()[0].shape, Shape(3152, 810, 1)) << t.shapes()[0].shape.ToString();
  EXPECT_NEAR(t.shapes()[0].p, 0.1348, 0.0001);
  for (size_t i = 1; i < t.shapes().size(); ++i) {
    EXPECT_GE(t.shapes()[i - 1].count, t.shapes()[i].count) << "shape " << i;
  }
}

}  // namespace
}  // namespace devshare::placement
