// Tests the placement framework: commit/release, registry errors, unschedulable reasons, rollback.
#include "devshare/placement/framework.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/placement/registry.h"
#include "tests/testutil/requests.h"

namespace devshare::placement {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMem = 65536;

VmRequest Req(int64_t cpu_milli, int count = 0, int milli = 0) {
  return testutil::Request(cpu_milli, count, milli);
}

Result<std::unique_ptr<Framework>> BuildWith(const PluginRegistry& registry,
                                             FrameworkConfig config) {
  return registry.BuildFramework(config);
}

std::unique_ptr<Framework> Build(const std::string& policy = "first_fit") {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  FrameworkConfig config;
  config.policy = policy;
  Result<std::unique_ptr<Framework>> fw = registry.BuildFramework(config);
  EXPECT_TRUE(fw.ok()) << fw.status().ToString();
  return fw.ok() ? std::move(fw).value() : nullptr;
}

// hosts[i] = (cpu milli, GPUs, model), ids h0, h1, ...
struct HostSpec {
  int64_t cpu_milli;
  int gpus;
  std::string model = "V100";
};

void MakeCluster(const std::vector<HostSpec>& specs, ClusterState& cluster) {
  for (size_t i = 0; i < specs.size(); ++i) {
    cluster.hosts.push_back(Host::MakeGpuHost("h" + std::to_string(i), specs[i].cpu_milli, kMem,
                                              specs[i].gpus, specs[i].model));
  }
  cluster.Reset();
}

TEST(FrameworkTest, ScheduleCommitsAndReleaseRestores) {
  std::unique_ptr<Framework> fw = Build("best_fit");
  ASSERT_NE(fw, nullptr);
  EXPECT_EQ(fw->policy(), "best_fit");
  EXPECT_EQ(fw->score_plugin().Name(), "best_fit");
  ClusterState cluster;
  MakeCluster({{32000, 2}}, cluster);
  HostState& s = cluster.states[0];
  ASSERT_EQ(s.generation(), 0u);

  struct Step {
    std::string name;
    VmRequest req;
    int64_t want_gpu_free_total;
  };
  const std::vector<Step> steps = {
      {"share", Req(4000, 1, 300), 1700},
      {"whole", Req(8000, 1, 1000), 700},
      {"cpu_only", Req(2000), 700},
  };
  std::vector<Allocation> placed;
  int64_t cpu_used = 0;
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    const uint64_t gen = s.generation();
    Result<PlacementOutcome> out = fw->Schedule(step.req, cluster);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_TRUE(out->placed()) << out->Summary(1);
    const Allocation& a = out->allocation;
    cpu_used += step.req.cpu_milli;
    EXPECT_EQ(s.generation(), gen + 1);
    EXPECT_EQ(a.generation, s.generation());
    EXPECT_EQ(a.host_index, 0);
    EXPECT_EQ(a.host_id, "h0");
    EXPECT_EQ(a.request_id, "req");
    EXPECT_EQ(a.cpu_milli, step.req.cpu_milli);
    EXPECT_EQ(a.memory_mib, step.req.memory_mib);
    EXPECT_EQ(a.GpuMilli(), step.req.gpu.TotalMilli());
    EXPECT_EQ(s.cpu_free_milli(), 32000 - cpu_used);
    EXPECT_EQ(s.gpu_free_total_milli(), step.want_gpu_free_total);
    EXPECT_EQ(out->feasible_hosts, 1);
    placed.push_back(a);
  }
  // The share took gpu0 (both free; best fit -> first); the whole request the other GPU.
  ASSERT_EQ(placed[0].gpus.size(), 1u);
  EXPECT_EQ(placed[0].gpus[0].gpu, 0);
  EXPECT_EQ(placed[0].gpus[0].milli, 300);
  EXPECT_FALSE(placed[0].gpus[0].whole);
  ASSERT_EQ(placed[1].gpus.size(), 1u);
  EXPECT_EQ(placed[1].gpus[0].gpu, 1);
  EXPECT_TRUE(placed[1].gpus[0].whole);
  EXPECT_EQ(s.gpu_free_milli(), (std::vector<int32_t>{700, 0}));

  // Release in reverse order restores everything; each release bumps the generation.
  for (size_t i = placed.size(); i > 0; --i) {
    SCOPED_TRACE("release " + steps[i - 1].name);
    const uint64_t gen = s.generation();
    Status st = fw->Release(steps[i - 1].req, placed[i - 1], cluster);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(s.generation(), gen + 1);
  }
  EXPECT_EQ(s.cpu_free_milli(), 32000);
  EXPECT_EQ(s.memory_free_mib(), kMem);
  EXPECT_EQ(s.gpu_free_total_milli(), 2000);
  EXPECT_EQ(s.gpu_free_milli(), (std::vector<int32_t>{1000, 1000}));
  EXPECT_TRUE(s.gpu_fully_free(0));
  EXPECT_TRUE(s.gpu_fully_free(1));

  // Releasing again does not match what is in use.
  Status again = fw->Release(steps[1].req, placed[1], cluster);
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition) << again.ToString();
  Allocation bad = placed[0];
  bad.host_index = 5;
  EXPECT_TRUE(fw->Release(steps[0].req, bad, cluster).IsInvalidArgument());
}

TEST(FrameworkTest, SummaryOfPlacement) {
  std::unique_ptr<Framework> fw = Build();
  ASSERT_NE(fw, nullptr);
  ClusterState cluster;
  MakeCluster({{32000, 2}, {32000, 2}}, cluster);
  Result<PlacementOutcome> share = fw->Schedule(Req(1000, 1, 420), cluster);
  ASSERT_TRUE(share.ok() && share->placed());
  EXPECT_EQ(share->Summary(2), "placed on h0 gpu0 420m");
  EXPECT_EQ(share->feasible_hosts, 2);
  Result<PlacementOutcome> whole = fw->Schedule(Req(1000, 1, 1000), cluster);
  ASSERT_TRUE(whole.ok() && whole->placed());
  EXPECT_EQ(whole->Summary(2), "placed on h0 gpu1 whole");
}

struct UnknownNameCase {
  std::string name;
  FrameworkConfig config;
  std::string want_unknown;
  std::vector<std::string> want_known;
};

TEST(FrameworkTest, UnknownPluginNamesAreNotFound) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  FrameworkConfig bad_policy;
  bad_policy.policy = "tetris";
  FrameworkConfig bad_filter;
  bad_filter.policy = "first_fit";
  bad_filter.filters = {"resources_fit", "numa_fit"};
  FrameworkConfig bad_reserve;
  bad_reserve.policy = "first_fit";
  bad_reserve.reserves = {"capacity", "volumes"};
  const std::vector<UnknownNameCase> cases = {
      {"policy",
       bad_policy,
       "unknown policy 'tetris'",
       {"best_fit", "dot_product", "fgd", "first_fit", "gpu_clustering", "gpu_packing",
        "least_utilized", "random"}},
      {"filter",
       bad_filter,
       "unknown filter plugin 'numa_fit'",
       {"gpu_fit", "gpu_model", "isolation", "resources_fit", "traits"}},
      {"reserve", bad_reserve, "unknown reserve plugin 'volumes'", {"capacity"}},
  };
  for (const UnknownNameCase& c : cases) {
    SCOPED_TRACE(c.name);
    Result<std::unique_ptr<Framework>> fw = BuildWith(registry, c.config);
    ASSERT_FALSE(fw.ok());
    EXPECT_TRUE(fw.status().IsNotFound()) << fw.status().ToString();
    EXPECT_THAT(fw.status().message(), HasSubstr(c.want_unknown));
    EXPECT_THAT(fw.status().message(), HasSubstr("known: "));
    for (const std::string& known : c.want_known) {
      EXPECT_THAT(fw.status().message(), HasSubstr(known));
    }
  }
}

TEST(FrameworkTest, RegistryNamesAndDuplicates) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  const std::vector<std::string> names = registry.PolicyNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const std::string& p : BuiltinPolicyNames()) EXPECT_TRUE(registry.HasPolicy(p)) << p;
  for (const char* p : {"first_fit", "random", "least_utilized", "best_fit", "dot_product",
                        "gpu_packing", "gpu_clustering", "fgd"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), p), names.end()) << p;
  }
  for (const std::string& p : PeerPolicyNames()) EXPECT_TRUE(registry.HasPolicy(p)) << p;
  EXPECT_FALSE(registry.HasPolicy("tetris"));
  Status dup =
      registry.RegisterScore("fgd", [](const PluginArgs&) -> Result<std::unique_ptr<ScorePlugin>> {
        return Status::Internal("unused");
      });
  EXPECT_EQ(dup.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.RegisterFilter("gpu_fit", nullptr).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.RegisterReserve("capacity", nullptr).code(), StatusCode::kAlreadyExists);
}

TEST(FrameworkTest, InvalidRequestIsInvalidArgument) {
  std::unique_ptr<Framework> fw = Build();
  ASSERT_NE(fw, nullptr);
  ClusterState cluster;
  MakeCluster({{32000, 2}}, cluster);
  VmRequest negative_cpu = Req(-1);
  VmRequest too_much_milli = Req(1000, 1, 1200);
  VmRequest fractional_multi = Req(1000, 2, 500);
  VmRequest milli_without_gpu = Req(1000);
  milli_without_gpu.gpu.milli = 300;
  VmRequest profile_multi = Req(1000, 2, 0);
  profile_multi.gpu.profile = "1g.5gb";
  const std::vector<std::pair<std::string, VmRequest>> cases = {
      {"negative_cpu", negative_cpu},         {"too_much_milli", too_much_milli},
      {"fractional_multi", fractional_multi}, {"milli_without_gpu", milli_without_gpu},
      {"profile_multi", profile_multi},
  };
  for (const auto& [name, req] : cases) {
    SCOPED_TRACE(name);
    Result<PlacementOutcome> out = fw->Schedule(req, cluster);
    ASSERT_FALSE(out.ok());
    EXPECT_TRUE(out.status().IsInvalidArgument()) << out.status().ToString();
    EXPECT_EQ(cluster.states[0].generation(), 0u);
  }
}

// Reasons are aggregated per filter (the first failing filter of each host), counted and
// sorted by count descending; the message comes from the first host seen.
TEST(FrameworkTest, UnschedulableAggregatesReasons) {
  std::unique_ptr<Framework> fw = Build();
  ASSERT_NE(fw, nullptr);
  ClusterState cluster;
  // h0: wrong model; h1, h2: too little CPU; h3: right model, enough CPU, GPUs held whole.
  MakeCluster({{64000, 2, "T4"}, {4000, 2}, {2000, 2}, {64000, 1}}, cluster);
  // Hold h3's only GPU whole (h0 has the wrong model; h1 and h2 too little CPU).
  VmRequest hold = Req(8000, 1, 1000);
  hold.gpu.models = {"V100"};
  Result<PlacementOutcome> h = fw->Schedule(hold, cluster);
  ASSERT_TRUE(h.ok() && h->placed());
  ASSERT_EQ(h->allocation.host_index, 3);

  VmRequest req = Req(8000, 1, 500);
  req.gpu.models = {"V100", "A100"};
  Result<PlacementOutcome> out = fw->Schedule(req, cluster);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_FALSE(out->placed());
  EXPECT_EQ(out->feasible_hosts, 0);
  ASSERT_EQ(out->reasons.size(), 3u);
  EXPECT_EQ(out->reasons[0].plugin, "resources_fit");
  EXPECT_EQ(out->reasons[0].resource, "cpu");
  EXPECT_EQ(out->reasons[0].hosts, 2);
  EXPECT_THAT(out->reasons[0].message, HasSubstr("host h1: cpu: requested 8000 milli, free"));
  EXPECT_EQ(out->reasons[1].plugin, "gpu_model");  // seen first, ties keep first-seen order
  EXPECT_EQ(out->reasons[1].hosts, 1);
  EXPECT_THAT(out->reasons[1].message, HasSubstr("host h0: gpu model: requested V100|A100"));
  EXPECT_EQ(out->reasons[2].plugin, "gpu_fit");
  EXPECT_EQ(out->reasons[2].hosts, 1);
  EXPECT_THAT(out->reasons[2].message, HasSubstr("host h3: gpu: requested 1x500 milli, free none"));
  const std::string summary = out->Summary(4);
  EXPECT_THAT(summary, HasSubstr("0/4 hosts fit: resources_fit rejected 2 (e.g. host h1: cpu:"));
  EXPECT_THAT(summary, HasSubstr("; gpu_model rejected 1 (e.g. host h0: gpu model:"));
  EXPECT_THAT(summary, HasSubstr("; gpu_fit rejected 1 (e.g. host h3: gpu:"));
  // Nothing changed.
  for (const HostState& s : cluster.states) {
    EXPECT_EQ(s.generation(), s.host().id == "h3" ? 1u : 0u) << s.host().id;
  }
}

struct ExclusivityCase {
  std::string name;
  VmRequest first;
  VmRequest second;
};

// A device is used either whole or as shares, never both at once.
TEST(FrameworkTest, DeviceNeverWholeAndSharedAtOnce) {
  const std::vector<ExclusivityCase> cases = {
      {"share_then_whole", Req(1000, 1, 300), Req(1000, 1, 1000)},
      {"whole_then_share", Req(1000, 1, 1000), Req(1000, 1, 1)},
      {"tiny_share_then_whole", Req(1000, 1, 1), Req(1000, 1, 1000)},
  };
  for (const ExclusivityCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<Framework> fw = Build();
    ASSERT_NE(fw, nullptr);
    ClusterState cluster;
    MakeCluster({{32000, 1}}, cluster);
    Result<PlacementOutcome> first = fw->Schedule(c.first, cluster);
    ASSERT_TRUE(first.ok() && first->placed());
    Result<PlacementOutcome> second = fw->Schedule(c.second, cluster);
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    EXPECT_FALSE(second->placed());
    ASSERT_EQ(second->reasons.size(), 1u);
    EXPECT_EQ(second->reasons[0].plugin, "gpu_fit");
    // After the first leaves, the second fits.
    ASSERT_TRUE(fw->Release(c.first, first->allocation, cluster).ok());
    Result<PlacementOutcome> retry = fw->Schedule(c.second, cluster);
    ASSERT_TRUE(retry.ok() && retry->placed());
  }
}

// Reserve plugins for the rollback tests. "racer" commits another VM's CPU on the host before
// the capacity plugin runs, as a concurrent writer would; "refuse" always fails.
class RacerReserve final : public ReservePlugin {
 public:
  std::string_view Name() const override { return "racer"; }
  Status Reserve(const Allocation& a, HostState& host) override {
    other_ = Allocation{};
    other_.request_id = "other";
    other_.cpu_milli = 1000;
    other_.host_id = a.host_id;
    other_.generation = host.generation();
    return host.Apply(other_);
  }
  void Unreserve(const Allocation&, HostState& host) override {
    ++unreserved;
    (void)host.Release(other_);
  }
  static inline int unreserved = 0;

 private:
  Allocation other_;
};

class RefuseReserve final : public ReservePlugin {
 public:
  std::string_view Name() const override { return "refuse"; }
  Status Reserve(const Allocation&, HostState&) override {
    return Status::ResourceExhausted("refused");
  }
  void Unreserve(const Allocation&, HostState&) override {}
};

TEST(FrameworkTest, StaleGenerationIsAbortedAndRolledBack) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  ASSERT_TRUE(registry
                  .RegisterReserve("racer",
                                   [](const PluginArgs&) -> std::unique_ptr<ReservePlugin> {
                                     return std::make_unique<RacerReserve>();
                                   })
                  .ok());
  FrameworkConfig config;
  config.policy = "first_fit";
  config.reserves = {"racer", "capacity"};
  Result<std::unique_ptr<Framework>> fw = registry.BuildFramework(config);
  ASSERT_TRUE(fw.ok()) << fw.status().ToString();
  ClusterState cluster;
  MakeCluster({{32000, 1}}, cluster);
  const HostState& s = cluster.states[0];
  RacerReserve::unreserved = 0;

  Result<PlacementOutcome> out = (*fw)->Schedule(Req(4000, 1, 500), cluster);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.status().IsAborted()) << out.status().ToString();
  EXPECT_THAT(out.status().message(), HasSubstr("stale"));
  EXPECT_EQ(RacerReserve::unreserved, 1);
  // The racer's commit was undone; the request's never happened.
  EXPECT_EQ(s.cpu_free_milli(), 32000);
  EXPECT_EQ(s.gpu_free_total_milli(), 1000);
  EXPECT_TRUE(s.gpu_fully_free(0));
}

TEST(FrameworkTest, FailingReservePluginUndoesEarlierReserves) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  ASSERT_TRUE(registry
                  .RegisterReserve("refuse",
                                   [](const PluginArgs&) -> std::unique_ptr<ReservePlugin> {
                                     return std::make_unique<RefuseReserve>();
                                   })
                  .ok());
  FrameworkConfig config;
  config.policy = "first_fit";
  config.reserves = {"capacity", "refuse"};
  Result<std::unique_ptr<Framework>> fw = registry.BuildFramework(config);
  ASSERT_TRUE(fw.ok()) << fw.status().ToString();
  ClusterState cluster;
  MakeCluster({{32000, 1}}, cluster);
  const HostState& s = cluster.states[0];
  Result<PlacementOutcome> out = (*fw)->Schedule(Req(4000, 1, 500), cluster);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.cpu_free_milli(), 32000);
  EXPECT_EQ(s.memory_free_mib(), kMem);
  EXPECT_TRUE(s.gpu_fully_free(0));
  EXPECT_EQ(s.gpu_usage(0).shares, 0);
}

// A decision taken against an older host generation cannot be applied.
TEST(FrameworkTest, ApplyWithStaleGenerationIsAborted) {
  std::unique_ptr<Framework> fw = Build();
  ASSERT_NE(fw, nullptr);
  ClusterState cluster;
  MakeCluster({{32000, 2}}, cluster);
  HostState& s = cluster.states[0];
  Result<PlacementOutcome> first = fw->Schedule(Req(1000, 1, 300), cluster);
  ASSERT_TRUE(first.ok() && first->placed());
  Allocation decided = first->allocation;  // a copy decided against generation 0
  decided.request_id = "late";
  decided.generation = 0;
  const int64_t cpu_free = s.cpu_free_milli();
  Status st = s.Apply(decided);
  EXPECT_TRUE(st.IsAborted()) << st.ToString();
  EXPECT_EQ(s.generation(), 1u);
  EXPECT_EQ(s.cpu_free_milli(), cpu_free);
  EXPECT_EQ(s.gpu_free_milli()[0], 700);
  // Re-decided against the current generation it applies.
  decided.generation = s.generation();
  EXPECT_TRUE(s.Apply(decided).ok());
  EXPECT_EQ(s.gpu_free_milli()[0], 400);
}

// Feasible() is the conjunction of the filters, without scoring or committing.
TEST(FrameworkTest, FeasibleDoesNotCommit) {
  std::unique_ptr<Framework> fw = Build();
  ASSERT_NE(fw, nullptr);
  ClusterState cluster;
  MakeCluster({{4000, 1}}, cluster);
  EXPECT_TRUE(fw->Feasible(Req(4000, 1, 1000), cluster.states[0]));
  EXPECT_FALSE(fw->Feasible(Req(4001, 1, 1000), cluster.states[0]));
  EXPECT_FALSE(fw->Feasible(Req(1000, 2, 1000), cluster.states[0]));
  EXPECT_EQ(cluster.states[0].generation(), 0u);
}

}  // namespace
}  // namespace devshare::placement
