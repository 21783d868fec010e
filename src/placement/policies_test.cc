// Tests every built-in policy's host and GPU choice against hand computations (reference §2b/§2c).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/placement/fragmentation.h"
#include "devshare/placement/framework.h"
#include "devshare/placement/registry.h"
#include "tests/testutil/requests.h"

namespace devshare::placement {
namespace {

using ::testing::ElementsAreArray;

constexpr int64_t kMem = 1 << 20;

struct HostSpec {
  int64_t cpu_milli;
  int gpus;
};

// A request already running on host `host`, on GPUs `gpus` (committed directly, then announced
// to the policy through ScorePlugin::Reserved as the framework would).
struct Prior {
  int host;
  int64_t cpu_milli;
  int count;  // GPUs
  int milli;  // per GPU
  std::vector<int> gpus;
};

VmRequest Req(int64_t cpu_milli, int count = 0, int milli = 0) {
  return testutil::Request(cpu_milli, count, milli);
}

using testutil::Weighted;

std::unique_ptr<Framework> Build(const std::string& policy, PluginArgs args = {}) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  FrameworkConfig config;
  config.policy = policy;
  config.args = std::move(args);
  Result<std::unique_ptr<Framework>> fw = registry.BuildFramework(config);
  EXPECT_TRUE(fw.ok()) << fw.status().ToString();
  return fw.ok() ? std::move(fw).value() : nullptr;
}

void MakeCluster(const std::vector<HostSpec>& specs, ClusterState& cluster) {
  for (size_t i = 0; i < specs.size(); ++i) {
    cluster.hosts.push_back(Host::MakeGpuHost("h" + std::to_string(i), specs[i].cpu_milli, kMem,
                                              specs[i].gpus, "V100"));
  }
  cluster.Reset();
}

void ApplyPrior(const Prior& p, ClusterState& cluster, Framework& fw) {
  HostState& s = cluster.states[p.host];
  VmRequest req = Req(p.cpu_milli, p.count, p.milli);
  req.id = "prior";
  Allocation a;
  a.request_id = req.id;
  a.host_index = p.host;
  a.host_id = s.host().id;
  a.cpu_milli = p.cpu_milli;
  a.memory_mib = req.memory_mib;
  for (int g : p.gpus) {
    DeviceSlice d;
    d.gpu = g;
    d.device_id = s.gpu_device(g).id;
    d.milli = p.milli;
    d.whole = p.milli >= kMilliPerDevice;
    a.gpus.push_back(d);
  }
  a.generation = s.generation();
  Status st = s.Apply(a);
  ASSERT_TRUE(st.ok()) << st.ToString();
  a.generation = s.generation();
  fw.score_plugin().Reserved(req, a);
}

struct PolicyCase {
  std::string name;
  std::string policy;
  std::vector<HostSpec> hosts;
  std::vector<Prior> prior;
  VmRequest req;
  int want_host;
  std::vector<int> want_gpus;
  std::shared_ptr<const TypicalPods> typical = nullptr;  // fgd only
};

std::shared_ptr<const TypicalPods> Typical(std::vector<WeightedShape> shapes) {
  return std::make_shared<const TypicalPods>(std::move(shapes));
}

std::vector<PolicyCase> PolicyCases() {
  const HostSpec big = {64000, 8};
  // Fgd mixes (hand-made TypicalPods).
  const auto half_gpu = Typical({Weighted(1000, 500, 1, 1.0)});
  const auto six_tenths = Typical({Weighted(1000, 600, 1, 1.0)});
  const auto cpu_hungry = Typical({Weighted(1000, 500, 1, 0.5), Weighted(40000, 500, 1, 0.5)});
  return {
      // first_fit: every feasible host scores 0 -> the lowest index; the lowest fitting GPU.
      {"first_fit_lowest_host", "first_fit", {big, big, big}, {}, Req(1000, 1, 500), 0, {0}},
      {"first_fit_skips_infeasible_host_and_takes_first_gpu",
       "first_fit",
       {{8000, 2}, {64000, 3}},
       {{0, 8000, 0, 0, {}}, {1, 0, 1, 400, {0}}, {1, 0, 1, 700, {1}}},
       Req(1000, 1, 250),
       1,
       {0}},  // best fit would take gpu1 (300 free)
      {"first_fit_whole_lowest_free_gpus",
       "first_fit",
       {{64000, 4}},
       {{0, 0, 1, 500, {1}}},
       Req(1000, 2, 1000),
       0,
       {0, 2}},
      // least_utilized: 1e6 (1 - mean(cpu util, gpu util)); GPU with the most free milli.
      // h0: cpu .5 gpu .25 -> 625000; h1: cpu .25 gpu .125 -> 812500; h2: cpu .125 gpu .5 ->
      // 687500. h1 wins; its GPUs free [500,1000,1000,1000] -> worst fit gpu1.
      {"least_utilized_least_used_host_most_free_gpu",
       "least_utilized",
       {{32000, 4}, {32000, 4}, {32000, 4}},
       {{0, 16000, 1, 1000, {0}}, {1, 8000, 1, 500, {0}}, {2, 4000, 2, 1000, {0, 1}}},
       Req(1000, 1, 300),
       1,
       {1}},
      {"least_utilized_worst_fit_gpu",
       "least_utilized",
       {{32000, 3}},
       {{0, 0, 1, 900, {0}}, {0, 0, 1, 200, {1}}, {0, 0, 1, 400, {2}}},
       Req(1000, 1, 300),
       0,
       {1}},
      {"least_utilized_tie_lowest_index",
       "least_utilized",
       {big, big},
       {},
       Req(1000, 1, 300),
       0,
       {0}},
      // random with one feasible host (the others lack CPU).
      {"random_only_feasible_host",
       "random",
       {{2000, 1}, {2000, 1}, {64000, 1}},
       {},
       Req(4000, 1, 1000),
       2,
       {0}},
      // best_fit: s = .5 (cpu_free - req)/128000 + .5 (gpu_free - req)/8000, score int(100(1-s)).
      // Request 4000m + 1x500. h0 (empty): s = .234375 + .46875 -> 29. h1 (cpu 32000 used, 4
      // whole + a 400 share): s = .109375 + .19375 -> 69. h2 (cpu 60000 used, 1 whole): s = 0 +
      // .40625 -> 59. h1 wins; best-fit GPU = gpu5 (600 free) among [0,0,0,0,1000,600,1000,1000].
      {"best_fit_least_leftover_host_and_gpu",
       "best_fit",
       {big, big, big},
       {{1, 32000, 4, 1000, {0, 1, 2, 3}}, {1, 0, 1, 400, {5}}, {2, 60000, 1, 1000, {0}}},
       Req(4000, 1, 500),
       1,
       {5}},
      // h1 has 500m less CPU free: s differs by .00195, both truncate to 29 -> tie -> h0.
      {"best_fit_truncation_tie_lowest_index",
       "best_fit",
       {big, big},
       {{1, 500, 0, 0, {}}},
       Req(4000, 1, 500),
       0,
       {0}},
      // 1000m CPU less free (s lower by .0039): 29 vs 30 -> h1.
      {"best_fit_one_point_apart",
       "best_fit",
       {big, big},
       {{1, 1000, 0, 0, {}}},
       Req(4000, 1, 500),
       1,
       {0}},
      // dot_product: int(100 (1 - (cpu_free/128000 * req_cpu/128000 + R/8000 * req_gpu/8000)/2)).
      // Request 16000m + 1 whole GPU: h0 (empty) 90; h1 (32000 cpu used) 92; h2 (6 whole GPUs
      // used) 95 -> h2, lowest fully free GPU gpu3.
      {"dot_product_smallest_alignment",
       "dot_product",
       {big, big, big},
       {{1, 32000, 0, 0, {}}, {2, 0, 6, 1000, {0, 1, 2, 4, 5, 6}}},
       Req(16000, 1, 1000),
       2,
       {3}},
      // Request 1000m + 1x300: h0 (empty) 97; h1 (shares 600 on gpu0, 200 on gpu1, R 7200) 98
      // -> h1, best-fit GPU gpu0 (400 free).
      {"dot_product_share_best_fit_gpu",
       "dot_product",
       {big, big},
       {{1, 0, 1, 600, {0}}, {1, 0, 1, 200, {1}}},
       Req(1000, 1, 300),
       1,
       {0}},
      // gpu_packing, share 500: h0 idle 8 GPUs max(33-8, 8) = 25; h1 (gpu0 whole) fully free
      // GPU on a used host max(50-1, 33) = 49; h2 (300 on gpu2) shared GPU 100 - 70/10 = 93.
      {"gpu_packing_shared_gpu_first",
       "gpu_packing",
       {big, big, big},
       {{1, 0, 1, 1000, {0}}, {2, 0, 1, 300, {2}}},
       Req(1000, 1, 500),
       2,
       {2}},
      {"gpu_packing_free_gpu_on_used_host_before_idle_host",
       "gpu_packing",
       {big, big},
       {{1, 0, 1, 1000, {0}}},
       Req(1000, 1, 500),
       1,
       {1}},
      // Idle hosts: 8 GPUs -> 25, 2 GPUs -> max(31, 2) = 31.
      {"gpu_packing_idle_hosts", "gpu_packing", {big, {64000, 2}}, {}, Req(1000, 1, 500), 1, {0}},
      // Shared GPUs 700 free (93) vs 400 free (96): the fuller GPU.
      {"gpu_packing_fuller_shared_gpu",
       "gpu_packing",
       {big, big},
       {{0, 0, 1, 300, {0}}, {1, 0, 1, 600, {3}}},
       Req(1000, 1, 300),
       1,
       {3}},
      {"gpu_packing_cpu_only_lowest_index",
       "gpu_packing",
       {big, big},
       {{1, 0, 1, 300, {0}}},
       Req(1000),
       0,
       {}},
      // gpu_clustering, share 200: base int(25 (8000 - R)/8000). h0 idle: 0+25; h1 (a 1-GPU
      // pod): 3+0; h2 (a share pod of 500 on gpu3): 1+75; h3 (a share and a 2-GPU pod, R 5500):
      // 7+50. h2 wins, best-fit GPU gpu3.
      {"gpu_clustering_same_tag_only",
       "gpu_clustering",
       {big, big, big, big},
       {{1, 0, 1, 1000, {0}}, {2, 0, 1, 500, {3}}, {3, 0, 1, 500, {0}}, {3, 0, 2, 1000, {1, 2}}},
       Req(1000, 1, 200),
       2,
       {3}},
      // 2 whole GPUs: h0 25; h1 (other tag only) 3; h2 (other tag only) 1; h3 (tag among
      // others) 57 -> h3, lowest fully free GPUs {3, 4}.
      {"gpu_clustering_tag_among_others",
       "gpu_clustering",
       {big, big, big, big},
       {{1, 0, 1, 1000, {0}}, {2, 0, 1, 500, {3}}, {3, 0, 1, 500, {0}}, {3, 0, 2, 1000, {1, 2}}},
       Req(1000, 2, 1000),
       3,
       {3, 4}},
      // A host with no GPU pods (25) beats one with only other tags (3).
      {"gpu_clustering_empty_before_other_tags",
       "gpu_clustering",
       {big, big},
       {{0, 0, 1, 1000, {0}}},
       Req(1000, 1, 200),
       1,
       {0}},
      {"gpu_clustering_cpu_only_lowest_index",
       "gpu_clustering",
       {big, big},
       {{1, 0, 1, 500, {0}}},
       Req(1000),
       0,
       {}},
      // fgd, M = {(1000m, 1x500) p=1}, share 300: h0 (1 GPU, 800 free) -> [500]: F 0 -> 0,
      // score 50; h1 (1 GPU, 600 free) -> [300]: F 0 -> 300, score int(100 sigmoid(-.3)) = 42.
      // fgd keeps h1's GPU usable; best fit would take h1.
      {"fgd_host_with_least_fragment_growth",
       "fgd",
       {{64000, 1}, {64000, 1}},
       {{0, 0, 1, 200, {0}}, {1, 0, 1, 400, {0}}},
       Req(1000, 1, 300),
       0,
       {0},
       half_gpu},
      // Same M, one host free [600, 800]: gpu0 -> [300, 800] F 300 (42); gpu1 -> [600, 500] F 0
      // (50) -> gpu1 (best fit would take gpu0).
      {"fgd_gpu_with_least_fragment_growth",
       "fgd",
       {{64000, 2}},
       {{0, 0, 1, 400, {0}}, {0, 0, 1, 200, {1}}},
       Req(1000, 1, 300),
       0,
       {1},
       half_gpu},
      // Equal scores on both GPUs (each leaves [700, 1000] up to order: F 0, score 50) -> the
      // first GPU.
      {"fgd_first_gpu_on_equal_scores",
       "fgd",
       {{64000, 2}},
       {},
       Req(1000, 1, 300),
       0,
       {0},
       half_gpu},
      // M = {(1000m, 1x600) p=1}, share 400 on h0 free [600, 1000] vs idle h1 [1000, 1000]:
      // h0 gpu0 -> [200,1000] F 200 (45), h0 gpu1 -> [600,600] F 0 (50); h1 gpu0 -> [600,1000]
      // F 0 (50). Tie at 50 -> h0, its first best GPU gpu1.
      {"fgd_tie_lowest_index_first_best_gpu",
       "fgd",
       {{64000, 2}, {64000, 2}},
       {{0, 0, 1, 400, {0}}},
       Req(1000, 1, 400),
       0,
       {1},
       six_tenths},
      // M = {(1000m,1x500) .5, (40000m,1x500) .5}, 1 whole GPU + 30000m: h0 (64000m) leaves
      // 34000m so the 40000m shape loses its GPU: F 0 -> 500, score 37; h1 (128000m): F 0 -> 0,
      // score 50 -> h1 (best fit would take h0), lowest free GPU.
      {"fgd_whole_gpu_keeps_cpu_for_typical_pods",
       "fgd",
       {{64000, 2}, {128000, 2}},
       {},
       Req(30000, 1, 1000),
       1,
       {0},
       cpu_hungry},
      // CPU-only 8000m: h0 (8000m free) -> no CPU left, F 0 -> 1000 (26); h1 -> F 0 (50).
      {"fgd_cpu_only_keeps_gpu_usable",
       "fgd",
       {{16000, 1}, {64000, 1}},
       {{0, 8000, 0, 0, {}}},
       Req(8000),
       1,
       {},
       half_gpu},
  };
}

TEST(PoliciesTest, HandComputedChoices) {
  for (const PolicyCase& c : PolicyCases()) {
    SCOPED_TRACE(c.name + " [" + c.policy + "]");
    PluginArgs args;
    args.seed = 7;
    args.typical_pods = c.typical;
    std::unique_ptr<Framework> fw = Build(c.policy, args);
    ASSERT_NE(fw, nullptr);
    ClusterState cluster;
    MakeCluster(c.hosts, cluster);
    for (const Prior& p : c.prior) ApplyPrior(p, cluster, *fw);
    Result<PlacementOutcome> out = fw->Schedule(c.req, cluster);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_TRUE(out->placed()) << out->Summary(static_cast<int>(cluster.states.size()));
    const Allocation& a = out->allocation;
    EXPECT_EQ(a.host_index, c.want_host);
    EXPECT_EQ(a.host_id, "h" + std::to_string(c.want_host));
    std::vector<int> gpus;
    for (const DeviceSlice& d : a.gpus) {
      gpus.push_back(d.gpu);
      EXPECT_EQ(d.device_id, "gpu" + std::to_string(d.gpu));
      EXPECT_EQ(d.whole, c.req.gpu.IsWhole());
      EXPECT_EQ(d.milli, c.req.gpu.IsWhole() ? kMilliPerDevice : c.req.gpu.milli);
    }
    EXPECT_THAT(gpus, ElementsAreArray(c.want_gpus));
  }
}

// Every policy breaks full ties (identical empty hosts) towards the lowest host index, except
// random, which draws.
TEST(PoliciesTest, TiesGoToLowestHostIndex) {
  auto typical = Typical({Weighted(1000, 500, 1, 1.0)});
  for (const std::string policy : {"first_fit", "least_utilized", "best_fit", "dot_product",
                                   "gpu_packing", "gpu_clustering", "fgd"}) {
    SCOPED_TRACE(policy);
    PluginArgs args;
    args.typical_pods = typical;
    for (const VmRequest& req : {Req(1000), Req(1000, 1, 500), Req(1000, 2, 1000)}) {
      // A framework belongs to one cluster (policies keep per-host state): build one per run.
      std::unique_ptr<Framework> fw = Build(policy, args);
      ASSERT_NE(fw, nullptr);
      ClusterState fresh;
      MakeCluster({{64000, 4}, {64000, 4}, {64000, 4}}, fresh);
      Result<PlacementOutcome> out = fw->Schedule(req, fresh);
      ASSERT_TRUE(out.ok() && out->placed());
      EXPECT_EQ(out->allocation.host_index, 0) << req.gpu.count << "x" << req.gpu.milli;
      EXPECT_EQ(out->feasible_hosts, 3);
    }
  }
}

// fgd refuses to build without a typical-pod distribution.
TEST(PoliciesTest, FgdNeedsTypicalPods) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  FrameworkConfig config;
  config.policy = "fgd";
  Result<std::unique_ptr<Framework>> fw = registry.BuildFramework(config);
  ASSERT_FALSE(fw.ok());
  EXPECT_TRUE(fw.status().IsInvalidArgument()) << fw.status().ToString();
  EXPECT_THAT(fw.status().message(), ::testing::HasSubstr("typical_pods"));
}

// (host, gpu) of `n` share placements by the random policy with `seed` on 4 identical big hosts.
std::vector<std::pair<int, int>> RandomRun(uint64_t seed, int n) {
  PluginArgs args;
  args.seed = seed;
  std::unique_ptr<Framework> fw = Build("random", args);
  std::vector<std::pair<int, int>> out;
  if (fw == nullptr) return out;
  ClusterState cluster;
  MakeCluster({{1000000, 8}, {1000000, 8}, {1000000, 8}, {1000000, 8}}, cluster);
  for (int i = 0; i < n; ++i) {
    Result<PlacementOutcome> o = fw->Schedule(Req(1000, 1, 100), cluster);
    if (!o.ok() || !o->placed()) break;
    out.emplace_back(o->allocation.host_index, o->allocation.gpus.at(0).gpu);
  }
  return out;
}

TEST(PoliciesTest, RandomIsSeedDeterministicAndSpreads) {
  for (uint64_t seed : {1u, 42u, 12345u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<std::pair<int, int>> first = RandomRun(seed, 200);
    ASSERT_EQ(first.size(), 200u);
    EXPECT_EQ(RandomRun(seed, 200), first);
    int per_host[4] = {0, 0, 0, 0};
    std::set<std::pair<int, int>> gpus_used;
    for (const auto& [host, gpu] : first) {
      ASSERT_GE(host, 0);
      ASSERT_LT(host, 4);
      ++per_host[host];
      gpus_used.insert({host, gpu});
    }
    for (int h = 0; h < 4; ++h) EXPECT_GT(per_host[h], 0) << "host " << h;
    // Shares are spread over GPUs too: a first/best-fit rule would put a host's first 8 shares
    // (100m each) all on its gpu0; uniform draws over 8 GPUs hit at least 3 of them.
    for (int h = 0; h < 4; ++h) {
      std::set<int> first_gpus;
      int seen = 0;
      for (const auto& [host, gpu] : first) {
        if (host != h || seen == 8) continue;
        ++seen;
        first_gpus.insert(gpu);
      }
      EXPECT_GE(first_gpus.size(), 3u) << "host " << h;
    }
    EXPECT_GT(gpus_used.size(), 24u);
  }
  EXPECT_NE(RandomRun(1, 50), RandomRun(2, 50));
}

// gpu_clustering forgets a host's tag when its last GPU request is released.
TEST(PoliciesTest, GpuClusteringForgetsReleasedTags) {
  std::unique_ptr<Framework> fw = Build("gpu_clustering");
  ASSERT_NE(fw, nullptr);
  ClusterState cluster;
  MakeCluster({{64000, 8}, {64000, 8}}, cluster);
  // A 1-GPU pod on h0 (both empty: 25 each, tie -> h0).
  const VmRequest whole = Req(1000, 1, 1000);
  Result<PlacementOutcome> w = fw->Schedule(whole, cluster);
  ASSERT_TRUE(w.ok() && w->placed());
  EXPECT_EQ(w->allocation.host_index, 0);
  // A share now avoids h0 (other tag only: 3) for h1 (no GPU pods: 25).
  const VmRequest share = Req(1000, 1, 200);
  Result<PlacementOutcome> s = fw->Schedule(share, cluster);
  ASSERT_TRUE(s.ok() && s->placed());
  EXPECT_EQ(s->allocation.host_index, 1);
  // Once both leave, neither host holds tags: a share ties at 25 and goes to h0 (had h0 kept
  // its 1-GPU tag it would score 3, and h1 keeping its share tag 75).
  ASSERT_TRUE(fw->Release(whole, w->allocation, cluster).ok());
  ASSERT_TRUE(fw->Release(share, s->allocation, cluster).ok());
  Result<PlacementOutcome> s2 = fw->Schedule(share, cluster);
  ASSERT_TRUE(s2.ok() && s2->placed());
  EXPECT_EQ(s2->allocation.host_index, 0);
  // A second share joins it (h0: only this tag, 0+75; h1: 25), on the same GPU (best fit).
  Result<PlacementOutcome> s3 = fw->Schedule(share, cluster);
  ASSERT_TRUE(s3.ok() && s3->placed());
  EXPECT_EQ(s3->allocation.host_index, 0);
  EXPECT_EQ(s3->allocation.gpus.at(0).gpu, s2->allocation.gpus.at(0).gpu);
}

}  // namespace
}  // namespace devshare::placement
