// Tests for the synthetic openb-like workload generator: determinism, the §1 cluster and pod
// statistics it promises, option validation, scale, and the CSV round trip.
#include "devshare/sim/workload_generator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "devshare/sim/trace.h"

namespace devshare::sim {
namespace {

GeneratedWorkload Generate(int nodes, uint64_t seed, int pods = 0, bool with_times = true) {
  GeneratorOptions options;
  options.nodes = nodes;
  options.seed = seed;
  options.pods = pods;
  options.with_times = with_times;
  Result<GeneratedWorkload> w = GenerateWorkload(options);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w).value() : GeneratedWorkload{};
}

bool SameNode(const NodeRecord& a, const NodeRecord& b) {
  return a.name == b.name && a.cpu_milli == b.cpu_milli && a.memory_mib == b.memory_mib &&
         a.gpus == b.gpus && a.model == b.model && a.line == b.line;
}

bool SamePod(const PodRecord& a, const PodRecord& b) {
  return a.name == b.name && a.cpu_milli == b.cpu_milli && a.memory_mib == b.memory_mib &&
         a.num_gpu == b.num_gpu && a.gpu_milli == b.gpu_milli && a.gpu_spec == b.gpu_spec &&
         a.qos == b.qos && a.phase == b.phase && a.creation_time_s == b.creation_time_s &&
         a.deletion_time_s == b.deletion_time_s && a.scheduled_time_s == b.scheduled_time_s &&
         a.line == b.line;
}

bool SameWorkload(const GeneratedWorkload& a, const GeneratedWorkload& b) {
  return std::equal(a.nodes.begin(), a.nodes.end(), b.nodes.begin(), b.nodes.end(), SameNode) &&
         std::equal(a.pods.begin(), a.pods.end(), b.pods.begin(), b.pods.end(), SamePod);
}

bool Fits(const PodRecord& p, const NodeRecord& n) {
  return p.num_gpu <= n.gpus && p.cpu_milli <= n.cpu_milli && p.memory_mib <= n.memory_mib;
}

bool IsSharing(const PodRecord& p) { return p.num_gpu == 1 && p.gpu_milli < 1000; }

struct PodStats {
  int64_t pods = 0;
  int64_t gpu_pods = 0;
  int64_t cpu_only = 0;
  int64_t sharing = 0;
  int64_t with_spec = 0;
  int64_t sharing_be = 0;
  int64_t request_gpu_milli = 0;
  std::map<int, int64_t> by_num_gpu;
};

PodStats Stats(const GeneratedWorkload& w) {
  PodStats s;
  for (const PodRecord& p : w.pods) {
    ++s.pods;
    ++s.by_num_gpu[p.num_gpu];
    s.request_gpu_milli += int64_t{p.num_gpu} * p.gpu_milli;
    if (p.num_gpu == 0) ++s.cpu_only;
    if (p.num_gpu > 0) ++s.gpu_pods;
    if (IsSharing(p)) ++s.sharing;
    if (IsSharing(p) && p.qos == "BE") ++s.sharing_be;
    if (!p.gpu_spec.empty()) ++s.with_spec;
  }
  return s;
}

int64_t ClusterGpus(const GeneratedWorkload& w) {
  int64_t gpus = 0;
  for (const NodeRecord& n : w.nodes) gpus += n.gpus;
  return gpus;
}

double Percent(int64_t part, int64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

TEST(WorkloadGeneratorTest, SameOptionsGiveIdenticalOutput) {
  struct Case {
    int nodes;
    uint64_t seed;
    int pods;
    bool with_times;
  };
  const Case cases[] = {{1213, 42, 0, true},
                        {1213, 7, 0, false},
                        {1, 1, 0, true},
                        {37, 123456789, 500, true},
                        {5000, 0, 0, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "nodes=" << c.nodes << " seed=" << c.seed);
    const GeneratedWorkload a = Generate(c.nodes, c.seed, c.pods, c.with_times);
    const GeneratedWorkload b = Generate(c.nodes, c.seed, c.pods, c.with_times);
    EXPECT_FALSE(a.pods.empty());
    EXPECT_TRUE(SameWorkload(a, b));
  }
}

TEST(WorkloadGeneratorTest, DifferentSeedsDiffer) {
  const struct {
    int nodes;
    uint64_t seed_a, seed_b;
  } cases[] = {{1213, 42, 43}, {100, 1, 2}, {1213, 0, 1ULL << 63}};
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "nodes=" << c.nodes << " seeds=" << c.seed_a << "," << c.seed_b);
    const GeneratedWorkload a = Generate(c.nodes, c.seed_a);
    const GeneratedWorkload b = Generate(c.nodes, c.seed_b);
    EXPECT_FALSE(SameWorkload(a, b));
    // Same cluster composition (apportioned), different node order and pod draws.
    bool pods_differ = false;
    for (size_t i = 0; i < std::min(a.pods.size(), b.pods.size()) && !pods_differ; ++i) {
      pods_differ =
          a.pods[i].cpu_milli != b.pods[i].cpu_milli || a.pods[i].gpu_milli != b.pods[i].gpu_milli;
    }
    EXPECT_TRUE(pods_differ);
  }
}

TEST(WorkloadGeneratorTest, DefaultClusterReproducesTheOpenbTable) {
  const GeneratedWorkload w = Generate(1213, 42);
  ASSERT_EQ(w.nodes.size(), 1213u);
  std::map<std::string, int> by_model;
  std::map<int, int> by_gpus;
  std::map<std::tuple<int, int64_t, int64_t>, int> by_shape;
  int64_t gpus = 0, cpu_milli = 0, memory_mib = 0;
  for (const NodeRecord& n : w.nodes) {
    ++by_model[n.model];
    ++by_gpus[n.gpus];
    ++by_shape[{n.gpus, n.cpu_milli, n.memory_mib}];
    gpus += n.gpus;
    cpu_milli += n.cpu_milli;
    memory_mib += n.memory_mib;
  }
  const std::map<std::string, int> want_models = {{"G2", 549},     {"T4", 404}, {"P100", 134},
                                                  {"V100M16", 55}, {"G3", 39},  {"V100M32", 30},
                                                  {"A10", 2}};
  for (const auto& [model, count] : want_models) {
    SCOPED_TRACE(model);
    EXPECT_NEAR(by_model[model], count, 2);
  }
  EXPECT_EQ(by_model.size(), want_models.size());  // no CPU-only ("") nodes
  EXPECT_EQ(by_gpus, (std::map<int, int>{{1, 24}, {2, 518}, {4, 54}, {8, 617}}));
  EXPECT_EQ(gpus, 6212);
  EXPECT_EQ(cpu_milli, 107018000);
  EXPECT_EQ(memory_mib, 503828480);
  EXPECT_EQ((by_shape[{8, 96000, 393216}]), 549);
  EXPECT_EQ((by_shape[{2, 104000, 524288}]), 387);
  EXPECT_EQ((by_shape[{8, 128000, 786432}]), 39);
}

TEST(WorkloadGeneratorTest, ClustersOfAnySizeKeepTheBigClasses) {
  const struct {
    int nodes;
    std::vector<std::string> must_have;
  } cases[] = {
      {1, {"G2"}},
      {2, {"G2", "T4"}},
      {5, {"G2", "T4"}},
      {20, {"G2", "T4", "P100"}},
      {100, {"G2", "T4", "P100", "V100M16", "G3", "V100M32"}},
      {5000, {"G2", "T4", "P100", "V100M16", "G3", "V100M32", "A10"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "nodes=" << c.nodes);
    const GeneratedWorkload w = Generate(c.nodes, 3);
    ASSERT_EQ(w.nodes.size(), static_cast<size_t>(c.nodes));
    std::set<std::string> models, names;
    for (const NodeRecord& n : w.nodes) {
      models.insert(n.model);
      names.insert(n.name);
      EXPECT_GT(n.gpus, 0);
      EXPECT_EQ(n.cpu_milli % 1000, 0);
      EXPECT_EQ(n.line, 0);
    }
    for (const std::string& m : c.must_have) EXPECT_TRUE(models.count(m)) << m;
    EXPECT_EQ(names.size(), w.nodes.size());
    EXPECT_EQ(w.nodes.front().name, "gen-node-00000");
  }
}

TEST(WorkloadGeneratorTest, PodMixFollowsTheDefaultTrace) {
  const struct {
    int nodes;
    uint64_t seed;
  } cases[] = {{1213, 42}, {1213, 1}, {1213, 2024}, {3000, 5}, {20000, 9}};
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "nodes=" << c.nodes << " seed=" << c.seed);
    const GeneratedWorkload w = Generate(c.nodes, c.seed);
    const PodStats s = Stats(w);
    const int64_t capacity_milli = ClusterGpus(w) * 1000;
    EXPECT_NEAR(Percent(s.sharing, s.gpu_pods), 43.6, 2.0);
    EXPECT_NEAR(Percent(s.cpu_only, s.pods), 13.3, 1.5);
    EXPECT_GE(Percent(s.request_gpu_milli, capacity_milli), 96.0);
    EXPECT_LE(Percent(s.request_gpu_milli, capacity_milli), 100.0);
    // num_gpu 1/2/4/8 in the default's proportions (6989/16/15/44 of 7064 GPU pods).
    EXPECT_NEAR(Percent(s.by_num_gpu.at(1), s.gpu_pods), 98.94, 0.2);
    EXPECT_NEAR(Percent(s.by_num_gpu.at(8), s.gpu_pods), 0.62, 0.1);
    EXPECT_GT(s.by_num_gpu.at(2), 0);
    EXPECT_GT(s.by_num_gpu.at(4), 0);
    EXPECT_EQ(s.by_num_gpu.size(), 5u);  // 0, 1, 2, 4, 8 only
    EXPECT_NEAR(Percent(s.with_spec, s.gpu_pods), 10.0, 2.0);
    EXPECT_NEAR(Percent(s.sharing_be, s.sharing), 75.3, 3.0);
  }
  // The default-sized cluster gets about the default trace's 8,152 pods.
  EXPECT_NEAR(static_cast<double>(Generate(1213, 42).pods.size()), 8152.0, 20.0);
}

TEST(WorkloadGeneratorTest, PodFieldsAreWellFormed) {
  const GeneratedWorkload w = Generate(1213, 11);
  const std::set<std::string> qos_values = {"LS", "BE", "Burstable", "Guaranteed"};
  std::set<int> share_values;
  std::set<std::string> models;
  for (const NodeRecord& n : w.nodes) models.insert(n.model);
  for (const PodRecord& p : w.pods) {
    SCOPED_TRACE(p.name);
    EXPECT_TRUE(qos_values.count(p.qos)) << p.qos;
    EXPECT_EQ(p.phase, "Running");
    EXPECT_GE(p.cpu_milli, 1000);
    EXPECT_LE(p.cpu_milli, 128000);
    EXPECT_GE(p.memory_mib, 0);
    EXPECT_EQ(p.line, 0);
    if (p.num_gpu == 0) {
      EXPECT_EQ(p.gpu_milli, 0);
      EXPECT_TRUE(p.gpu_spec.empty());
    } else if (p.num_gpu == 1) {
      EXPECT_GT(p.gpu_milli, 0);
      EXPECT_LE(p.gpu_milli, 1000);
      share_values.insert(p.gpu_milli);
    } else {
      EXPECT_EQ(p.gpu_milli, 1000);
      EXPECT_GE(p.cpu_milli, 8000 * p.num_gpu);  // multi-GPU pods scale CPU with GPUs
    }
    // A model constraint names models of this cluster and some node of them fits the pod.
    if (!p.gpu_spec.empty()) {
      bool fits_constrained = false;
      for (const NodeRecord& n : w.nodes) {
        const bool allowed =
            std::find(p.gpu_spec.begin(), p.gpu_spec.end(), n.model) != p.gpu_spec.end();
        fits_constrained = fits_constrained || (allowed && Fits(p, n));
      }
      EXPECT_TRUE(fits_constrained);
      for (const std::string& m : p.gpu_spec) EXPECT_TRUE(models.count(m)) << m;
    }
  }
  // The published histogram's popular fractions are all there.
  for (int milli : {160, 230, 320, 470, 650, 810, 1000}) EXPECT_TRUE(share_values.count(milli));
}

TEST(WorkloadGeneratorTest, EveryPodFitsSomeNodeOfItsCluster) {
  for (int nodes : {1, 2, 7, 60, 1213}) {
    SCOPED_TRACE(::testing::Message() << "nodes=" << nodes);
    const GeneratedWorkload w = Generate(nodes, 17);
    ASSERT_FALSE(w.pods.empty());
    for (const PodRecord& p : w.pods) {
      const bool fits = std::any_of(w.nodes.begin(), w.nodes.end(),
                                    [&](const NodeRecord& n) { return Fits(p, n); });
      EXPECT_TRUE(fits) << p.name << " cpu=" << p.cpu_milli << " mem=" << p.memory_mib
                        << " gpus=" << p.num_gpu;
    }
  }
}

TEST(WorkloadGeneratorTest, ResourceDistributionsFollowThePublishedPercentiles) {
  const GeneratedWorkload w = Generate(1213, 42);
  std::vector<int64_t> cpu, memory;
  for (const PodRecord& p : w.pods) {
    cpu.push_back(p.cpu_milli);
    memory.push_back(p.memory_mib);
  }
  std::sort(cpu.begin(), cpu.end());
  std::sort(memory.begin(), memory.end());
  auto at = [](const std::vector<int64_t>& v, double q) {
    return static_cast<double>(v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))]);
  };
  const struct {
    double q;
    double cpu_milli;
    double memory_mib;
    double tolerance;  // relative
  } cases[] = {{0.10, 3152, 5600, 0.25},
               {0.25, 4000, 15258, 0.25},
               {0.50, 11300, 41560, 0.15},
               {0.75, 12000, 49152, 0.15},
               {0.90, 16400, 58368, 0.20}};
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "q=" << c.q);
    EXPECT_NEAR(at(cpu, c.q), c.cpu_milli, c.tolerance * c.cpu_milli);
    EXPECT_NEAR(at(memory, c.q), c.memory_mib, c.tolerance * c.memory_mib);
  }
  for (int64_t v : cpu) EXPECT_EQ(v == 3152 ? 0 : v % 100, 0) << v;  // 100-milli granularity
}

TEST(WorkloadGeneratorTest, PodsComeFromFewPopularShapes) {
  for (uint64_t seed : {42ULL, 8ULL}) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    const GeneratedWorkload w = Generate(1213, seed);
    std::map<std::tuple<int64_t, int, int>, int64_t> shapes;
    for (const PodRecord& p : w.pods) ++shapes[{p.cpu_milli, p.gpu_milli, p.num_gpu}];
    EXPECT_LE(shapes.size(), 120u);
    EXPECT_GE(shapes.size(), 40u);
    const auto top =
        std::max_element(shapes.begin(), shapes.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; });
    EXPECT_EQ(top->first, (std::tuple<int64_t, int, int>{3152, 810, 1}));
    EXPECT_NEAR(Percent(top->second, static_cast<int64_t>(w.pods.size())), 12.8, 3.0);
  }
}

TEST(WorkloadGeneratorTest, TimesArePoissonArrivalsWithHeavyTailedDurations) {
  const GeneratedWorkload w = Generate(1213, 42);
  constexpr int64_t kSpanS = int64_t{149} * 24 * 3600;
  std::vector<int64_t> durations;
  for (size_t i = 0; i < w.pods.size(); ++i) {
    const PodRecord& p = w.pods[i];
    ASSERT_TRUE(p.creation_time_s && p.deletion_time_s && p.scheduled_time_s);
    EXPECT_GE(*p.creation_time_s, 0);
    EXPECT_LT(*p.creation_time_s, kSpanS);
    EXPECT_EQ(*p.scheduled_time_s, *p.creation_time_s);
    EXPECT_GT(*p.deletion_time_s, *p.creation_time_s);
    if (i > 0) {
      EXPECT_LE(*w.pods[i - 1].creation_time_s, *p.creation_time_s);
      EXPECT_LT(w.pods[i - 1].name, p.name);
    }
    durations.push_back(*p.deletion_time_s - *p.creation_time_s);
  }
  EXPECT_EQ(w.pods.front().name, "gen-pod-000000");
  // Arrivals cover the whole span.
  EXPECT_LT(*w.pods.front().creation_time_s, kSpanS / 100);
  EXPECT_GT(*w.pods.back().creation_time_s, kSpanS - kSpanS / 100);
  std::sort(durations.begin(), durations.end());
  const int64_t median = durations[durations.size() / 2];
  EXPECT_GT(median, 3600);  // a few hours
  EXPECT_LT(median, 6 * 3600);
  EXPECT_GT(durations[durations.size() * 99 / 100], 2 * 24 * 3600);  // some run for days

  for (const PodRecord& p : Generate(100, 42, 0, /*with_times=*/false).pods) {
    EXPECT_FALSE(p.creation_time_s || p.deletion_time_s || p.scheduled_time_s);
  }
}

TEST(WorkloadGeneratorTest, ExplicitPodCountIsHonoured) {
  for (int pods : {1, 10, 999, 20000}) {
    SCOPED_TRACE(::testing::Message() << "pods=" << pods);
    EXPECT_EQ(Generate(50, 4, pods).pods.size(), static_cast<size_t>(pods));
  }
}

TEST(WorkloadGeneratorTest, InvalidOptionsAreRejected) {
  const struct {
    int nodes;
    int pods;
    std::string field;
  } cases[] = {{0, 0, "nodes"},
               {-1, 0, "nodes"},
               {100001, 0, "nodes"},
               {1213, -1, "pods"},
               {1, -100, "pods"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << "nodes=" << c.nodes << " pods=" << c.pods);
    GeneratorOptions options;
    options.nodes = c.nodes;
    options.pods = c.pods;
    const Result<GeneratedWorkload> w = GenerateWorkload(options);
    ASSERT_FALSE(w.ok());
    EXPECT_TRUE(w.status().IsInvalidArgument()) << w.status().ToString();
    EXPECT_NE(w.status().message().find(c.field), std::string::npos) << w.status().message();
  }
}

TEST(WorkloadGeneratorTest, LargestClusterIsGenerated) {
  const GeneratedWorkload w = Generate(100000, 42);
  EXPECT_EQ(w.nodes.size(), 100000u);
  EXPECT_EQ(w.nodes.back().name, "gen-node-99999");
  EXPECT_GT(w.pods.size(), 640000u);
  EXPECT_LT(w.pods.size(), 700000u);
}

TEST(WorkloadGeneratorTest, WriteWorkloadRoundTripsThroughTheCsvReaders) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("devshare_gen_test_" + std::to_string(::getpid())) / "out";
  std::filesystem::remove_all(dir.parent_path());
  for (bool with_times : {true, false}) {
    SCOPED_TRACE(::testing::Message() << "with_times=" << with_times);
    const GeneratedWorkload w = Generate(40, 6, 0, with_times);
    ASSERT_TRUE(WriteWorkload(w, dir.string()).ok());
    Result<std::vector<NodeRecord>> nodes =
        ReadNodeCsv((dir / "openb_node_list_gpu_node.csv").string());
    Result<std::vector<PodRecord>> pods = ReadPodCsv((dir / "openb_pod_list_default.csv").string());
    ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
    ASSERT_TRUE(pods.ok()) << pods.status().ToString();
    ASSERT_EQ(nodes->size(), w.nodes.size());
    ASSERT_EQ(pods->size(), w.pods.size());
    for (size_t i = 0; i < w.nodes.size(); ++i) {
      NodeRecord got = (*nodes)[i];
      got.line = 0;
      EXPECT_TRUE(SameNode(got, w.nodes[i])) << w.nodes[i].name;
    }
    for (size_t i = 0; i < w.pods.size(); ++i) {
      PodRecord got = (*pods)[i];
      got.line = 0;
      EXPECT_TRUE(SamePod(got, w.pods[i])) << w.pods[i].name;
    }
  }
  std::filesystem::remove_all(dir.parent_path());
}

}  // namespace
}  // namespace devshare::sim
