// Tests every built-in filter plugin (host_open, resources_fit, gpu_model, gpu_fit, traits,
// isolation, anti_affinity).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/placement/framework.h"
#include "devshare/placement/registry.h"

namespace devshare::placement {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kCpu = 32000;
constexpr int64_t kMem = 65536;

Device MigDevice(std::string id) {
  Device d;
  d.id = std::move(id);
  d.kind = DeviceKind::kGpu;
  d.mode = SharingMode::kPartitioned;
  d.isolation = IsolationClass::kHwPartition;
  d.model = "A100";
  d.geometry = PartitionGeometry::A100_40GB();
  return d;
}

Host GpuHost(int gpus, std::string model = "T4") {
  return Host::MakeGpuHost("h0", kCpu, kMem, gpus, std::move(model));
}

// One MIG-partitioned A100 and nothing else.
Host MigHost() {
  Host h = Host::MakeGpuHost("h0", kCpu, kMem, 0, "");
  h.devices.push_back(MigDevice("gpu0"));
  return h;
}

Host TraitHost() {
  Host h = GpuHost(1);
  h.traits = {"CUSTOM_NVLINK", "HW_CPU_X86_AVX2"};
  return h;
}

// Usage committed on the host before the request is tried.
struct Prior {
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int gpu = -1;
  int64_t milli = 0;
  bool whole = false;
  std::string profile;
  int start_slot = -1;
  std::string tenant;
};

Prior UseCpu(int64_t cpu, int64_t mem) {
  Prior p;
  p.cpu_milli = cpu;
  p.memory_mib = mem;
  return p;
}
Prior UseShare(int gpu, int64_t milli, std::string tenant = "") {
  Prior p;
  p.gpu = gpu;
  p.milli = milli;
  p.tenant = std::move(tenant);
  return p;
}
Prior UseWhole(int gpu) {
  Prior p;
  p.gpu = gpu;
  p.milli = kMilliPerDevice;
  p.whole = true;
  return p;
}
Prior UsePartition(int gpu, std::string profile, int start) {
  Prior p;
  p.gpu = gpu;
  p.profile = std::move(profile);
  p.start_slot = start;
  return p;
}

void ApplyPrior(const Prior& p, HostState& s) {
  Allocation a;
  a.request_id = "prior";
  a.tenant = p.tenant;
  a.host_index = 0;
  a.host_id = s.host().id;
  a.cpu_milli = p.cpu_milli;
  a.memory_mib = p.memory_mib;
  if (p.gpu >= 0) {
    DeviceSlice d;
    d.gpu = p.gpu;
    d.device_id = s.gpu_device(p.gpu).id;
    d.milli = p.milli;
    d.whole = p.whole;
    d.profile = p.profile;
    d.start_slot = p.start_slot;
    a.gpus.push_back(d);
  }
  a.generation = s.generation();
  Status st = s.Apply(a);
  ASSERT_TRUE(st.ok()) << st.ToString();
}

VmRequest Req(int64_t cpu, int64_t mem, int count = 0, int milli = 0) {
  VmRequest r;
  r.id = "req";
  r.cpu_milli = cpu;
  r.memory_mib = mem;
  r.gpu.count = count;
  r.gpu.milli = milli;
  return r;
}
VmRequest Share(int milli) { return Req(1000, 1024, 1, milli); }
VmRequest WholeGpus(int count) { return Req(1000, 1024, count, kMilliPerDevice); }
VmRequest Partition(std::string profile) {
  VmRequest r = Req(1000, 1024, 1, 0);
  r.gpu.profile = std::move(profile);
  return r;
}
VmRequest WithModels(VmRequest r, std::vector<std::string> models) {
  r.gpu.models = std::move(models);
  return r;
}
VmRequest WithTraits(VmRequest r, std::vector<std::string> required,
                     std::vector<std::string> forbidden) {
  r.required_traits = std::move(required);
  r.forbidden_traits = std::move(forbidden);
  return r;
}
VmRequest WithFloor(VmRequest r, IsolationClass floor) {
  r.isolation_floor = floor;
  return r;
}
VmRequest Closing(VmRequest r, std::string host, std::string why) {
  r.closed_hosts.push_back({std::move(host), std::move(why)});
  return r;
}
VmRequest Avoiding(VmRequest r, std::string host) {
  r.avoid_host_ids.push_back(std::move(host));
  return r;
}
VmRequest WithTenant(VmRequest r, std::string tenant) {
  r.tenant = std::move(tenant);
  return r;
}

std::unique_ptr<Framework> BuildWithFilters(std::vector<std::string> filters) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  FrameworkConfig config;
  config.policy = "first_fit";
  config.filters = std::move(filters);
  Result<std::unique_ptr<Framework>> fw = registry.BuildFramework(config);
  EXPECT_TRUE(fw.ok()) << fw.status().ToString();
  return fw.ok() ? std::move(fw).value() : nullptr;
}

struct FilterCase {
  std::string name;
  std::string filter;
  std::function<Host()> host;
  std::vector<Prior> prior;
  VmRequest req;
  bool want_fit;
  std::string want_resource = {};              // when !want_fit
  std::vector<std::string> want_message = {};  // substrings of the reason, when !want_fit
};

std::vector<FilterCase> FilterCases() {
  const auto one_gpu = [] { return GpuHost(1); };
  const auto two_gpus = [] { return GpuHost(2); };
  const auto mig = [] { return MigHost(); };
  const auto traits = [] { return TraitHost(); };
  return {
      // resources_fit
      {"cpu_fits", "resources_fit", one_gpu, {UseCpu(16000, 0)}, Req(16000, 1024), true},
      {"cpu_short",
       "resources_fit",
       one_gpu,
       {UseCpu(24000, 0)},
       Req(9000, 1024),
       false,
       "cpu",
       {"cpu: requested 9000 milli, free 8000 of 32000"}},
      {"memory_short",
       "resources_fit",
       one_gpu,
       {UseCpu(0, 60000)},
       Req(1000, 8192),
       false,
       "memory",
       {"memory: requested 8192 MiB, free 5536 of 65536"}},
      // gpu_fit: shares and whole GPUs
      {"share_fits", "gpu_fit", one_gpu, {UseShare(0, 350)}, Share(650), true},
      {"share_does_not_fit",
       "gpu_fit",
       one_gpu,
       {UseShare(0, 350)},
       Share(700),
       false,
       "gpu",
       {"gpu: requested 1x700 milli, free 1x650"}},
      {"share_on_gpu_held_whole",
       "gpu_fit",
       one_gpu,
       {UseWhole(0)},
       Share(100),
       false,
       "gpu",
       {"requested 1x100 milli", "free none"}},
      {"two_whole_fit", "gpu_fit", two_gpus, {}, WholeGpus(2), true},
      {"two_whole_one_fully_free",
       "gpu_fit",
       two_gpus,
       {UseShare(0, 350)},
       WholeGpus(2),
       false,
       "gpu",
       {"gpu: requested 2x1000 milli, free 1x1000, 1x650"}},
      {"more_whole_than_host_has",
       "gpu_fit",
       two_gpus,
       {},
       WholeGpus(4),
       false,
       "gpu",
       {"requested 4x1000 milli", "free 2x1000"}},
      {"cpu_only_ignores_gpus", "gpu_fit", one_gpu, {UseWhole(0)}, Req(1000, 1024), true},
      // gpu_fit: MIG partitions (A100-40GB geometry)
      {"mig_first_3g", "gpu_fit", mig, {}, Partition("3g.20gb"), true},
      {"mig_second_3g",
       "gpu_fit",
       mig,
       {UsePartition(0, "3g.20gb", 4)},
       Partition("3g.20gb"),
       true},
      {"mig_third_3g_rejected",
       "gpu_fit",
       mig,
       {UsePartition(0, "3g.20gb", 4), UsePartition(0, "3g.20gb", 0)},
       Partition("3g.20gb"),
       false,
       "gpu",
       {"requested 1x3g.20gb", "no free 3g.20gb placement"}},
      {"mig_4g_after_1g_at_slot0",
       "gpu_fit",
       mig,
       {UsePartition(0, "1g.5gb", 0)},
       Partition("4g.20gb"),
       false,
       "gpu",
       {"requested 1x4g.20gb", "free 1x858"}},
      {"mig_3g_after_1g_at_slot0",
       "gpu_fit",
       mig,
       {UsePartition(0, "1g.5gb", 0)},
       Partition("3g.20gb"),
       true},
      {"mig_unknown_profile",
       "gpu_fit",
       mig,
       {},
       Partition("5g.25gb"),
       false,
       "gpu",
       {"requested 1x5g.25gb"}},
      {"whole_on_empty_partitioned_gpu", "gpu_fit", mig, {}, WholeGpus(1), true},
      {"whole_on_partitioned_gpu_with_partition",
       "gpu_fit",
       mig,
       {UsePartition(0, "1g.5gb", 6)},
       WholeGpus(1),
       false,
       "gpu",
       {"requested 1x1000 milli"}},
      {"partition_on_fractional_gpu",
       "gpu_fit",
       one_gpu,
       {},
       Partition("1g.5gb"),
       false,
       "gpu",
       {"requested 1x1g.5gb"}},
      {"share_on_partitioned_gpu",
       "gpu_fit",
       mig,
       {},
       Share(100),
       false,
       "gpu",
       {"requested 1x100 milli"}},
      // gpu_model: 'A|B' alternatives
      {"model_alternative_matches",
       "gpu_model",
       one_gpu,
       {},
       WithModels(Share(500), {"V100", "T4"}),
       true},
      {"model_single_matches", "gpu_model", one_gpu, {}, WithModels(WholeGpus(1), {"T4"}), true},
      {"model_mismatch",
       "gpu_model",
       one_gpu,
       {},
       WithModels(Share(500), {"V100", "A100"}),
       false,
       "gpu_model",
       {"gpu model: requested V100|A100, host has model T4"}},
      {"model_on_host_without_gpus",
       "gpu_model",
       [] { return GpuHost(0); },
       {},
       WithModels(Share(500), {"T4"}),
       false,
       "gpu_model",
       {"host has no GPUs"}},
      {"model_ignored_for_cpu_only",
       "gpu_model",
       one_gpu,
       {},
       WithModels(Req(1000, 1024), {"V100"}),
       true},
      // traits
      {"traits_required_present",
       "traits",
       traits,
       {},
       WithTraits(Req(1000, 1024), {"CUSTOM_NVLINK"}, {}),
       true},
      {"traits_required_missing",
       "traits",
       traits,
       {},
       WithTraits(Req(1000, 1024), {"CUSTOM_NVLINK", "HW_CPU_X86_AVX512F"}, {}),
       false,
       "traits",
       {"traits: required HW_CPU_X86_AVX512F missing"}},
      {"traits_forbidden_absent",
       "traits",
       traits,
       {},
       WithTraits(Req(1000, 1024), {}, {"CUSTOM_SPOT"}),
       true},
      {"traits_forbidden_present",
       "traits",
       traits,
       {},
       WithTraits(Req(1000, 1024), {}, {"CUSTOM_NVLINK"}),
       false,
       "traits",
       {"traits: forbidden CUSTOM_NVLINK present"}},
      // isolation: floors
      {"floor_hw_partition_rejects_mps_share",
       "isolation",
       one_gpu,
       {},
       WithFloor(Share(300), IsolationClass::kHwPartition),
       false,
       "isolation",
       {"requested floor hw_partition", "host offers at most mps"}},
      {"floor_mps_accepts_mps_share",
       "isolation",
       one_gpu,
       {},
       WithFloor(Share(300), IsolationClass::kMps),
       true},
      {"floor_hw_partition_accepts_partitioned",
       "isolation",
       mig,
       {},
       WithFloor(Partition("1g.5gb"), IsolationClass::kHwPartition),
       true},
      {"floor_does_not_apply_to_whole_gpus",
       "isolation",
       one_gpu,
       {},
       WithFloor(WholeGpus(1), IsolationClass::kHwPartition),
       true},
      // isolation: two tenants never share an mps GPU
      {"tenant_b_rejected_on_tenant_a_gpu",
       "isolation",
       one_gpu,
       {UseShare(0, 300, "tenant-a")},
       WithTenant(Share(300), "tenant-b"),
       false,
       "isolation",
       {"hold other tenants"}},
      {"tenant_b_accepted_on_other_gpu",
       "isolation",
       two_gpus,
       {UseShare(0, 300, "tenant-a")},
       WithTenant(Share(300), "tenant-b"),
       true},
      {"tenant_a_shares_its_own_gpu",
       "isolation",
       one_gpu,
       {UseShare(0, 300, "tenant-a")},
       WithTenant(Share(300), "tenant-a"),
       true},
      {"tenant_b_gpu_fit_agrees",
       "gpu_fit",
       one_gpu,
       {UseShare(0, 300, "tenant-a")},
       WithTenant(Share(300), "tenant-b"),
       false,
       "gpu",
       {"requested 1x300 milli", "free none"}},
      {"closed_host_is_refused_with_its_reason",
       "host_open",
       one_gpu,
       {},
       Closing(Share(300), "h0", "unreachable"),
       false,
       "host",
       {"host: unreachable"}},
      {"another_host_closed_is_no_matter",
       "host_open",
       one_gpu,
       {},
       Closing(Share(300), "h9", "cordoned"),
       true},
      {"anti_affinity_avoids_listed_host",
       "anti_affinity",
       one_gpu,
       {},
       Avoiding(Share(300), "h0"),
       false,
       "anti_affinity",
       {"same anti-affinity group"}},
      {"tenants_may_share_a_partitioned_gpu",
       "isolation",
       mig,
       {UsePartition(0, "1g.5gb", 6)},
       WithTenant(Partition("1g.5gb"), "tenant-b"),
       true},
  };
}

TEST(FiltersTest, EachFilterAlone) {
  for (const FilterCase& c : FilterCases()) {
    SCOPED_TRACE(c.name + " [" + c.filter + "]");
    ClusterState cluster;
    cluster.hosts.push_back(c.host());
    cluster.Reset();
    HostState& state = cluster.states[0];
    for (const Prior& p : c.prior) ApplyPrior(p, state);
    std::unique_ptr<Framework> fw = BuildWithFilters({c.filter});
    ASSERT_NE(fw, nullptr);
    ASSERT_TRUE(c.req.Validate().ok());

    EXPECT_EQ(fw->Feasible(c.req, state), c.want_fit);
    Result<PlacementOutcome> out = fw->Schedule(c.req, cluster);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    if (c.want_fit) {
      EXPECT_TRUE(out->placed()) << out->Summary(1);
      EXPECT_EQ(out->feasible_hosts, 1);
      continue;
    }
    ASSERT_FALSE(out->placed());
    EXPECT_EQ(out->feasible_hosts, 0);
    ASSERT_EQ(out->reasons.size(), 1u);
    const Reason& r = out->reasons[0];
    EXPECT_EQ(r.plugin, c.filter);
    EXPECT_EQ(r.resource, c.want_resource);
    EXPECT_EQ(r.hosts, 1);
    EXPECT_THAT(r.message, HasSubstr("host h0: "));
    for (const std::string& want : c.want_message) EXPECT_THAT(r.message, HasSubstr(want));
    const std::string summary = out->Summary(1);
    EXPECT_THAT(summary, HasSubstr("0/1 hosts fit"));
    EXPECT_THAT(summary, HasSubstr(c.filter + " rejected 1"));
    for (const std::string& want : c.want_message) EXPECT_THAT(summary, HasSubstr(want));
  }
}

// With every default filter, the same cases give the same verdict (each case isolates one
// constraint, so the other filters agree or are indifferent).
TEST(FiltersTest, DefaultFilterChainAgrees) {
  std::unique_ptr<Framework> fw = BuildWithFilters(FrameworkConfig{}.filters);
  ASSERT_NE(fw, nullptr);
  for (const FilterCase& c : FilterCases()) {
    SCOPED_TRACE(c.name);
    ClusterState cluster;
    cluster.hosts.push_back(c.host());
    cluster.Reset();
    for (const Prior& p : c.prior) ApplyPrior(p, cluster.states[0]);
    EXPECT_EQ(fw->Feasible(c.req, cluster.states[0]), c.want_fit);
  }
}

// MIG: 3g.20gb placed twice by the framework (slots 4 then 0), the third is unschedulable; the
// GPU offers hw_partition isolation, so two tenants may hold partitions of it.
TEST(FiltersTest, MigProfilesThroughSchedule) {
  std::unique_ptr<Framework> fw = BuildWithFilters(FrameworkConfig{}.filters);
  ASSERT_NE(fw, nullptr);
  ClusterState cluster;
  cluster.hosts.push_back(MigHost());
  cluster.Reset();
  const VmRequest a =
      WithTenant(WithFloor(Partition("3g.20gb"), IsolationClass::kHwPartition), "tenant-a");
  const VmRequest b = WithTenant(Partition("3g.20gb"), "tenant-b");
  const std::vector<int> want_slots = {4, 0};
  const VmRequest* reqs[] = {&a, &b};
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("placement " + std::to_string(i));
    Result<PlacementOutcome> out = fw->Schedule(*reqs[i], cluster);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_TRUE(out->placed()) << out->Summary(1);
    ASSERT_EQ(out->allocation.gpus.size(), 1u);
    const DeviceSlice& s = out->allocation.gpus[0];
    EXPECT_EQ(s.gpu, 0);
    EXPECT_EQ(s.profile, "3g.20gb");
    EXPECT_EQ(s.start_slot, want_slots[i]);
    EXPECT_FALSE(s.whole);
    EXPECT_EQ(s.milli, 3 * kMilliPerDevice / 7);
  }
  Result<PlacementOutcome> third = fw->Schedule(Partition("3g.20gb"), cluster);
  ASSERT_TRUE(third.ok());
  ASSERT_FALSE(third->placed());
  ASSERT_EQ(third->reasons.size(), 1u);
  EXPECT_EQ(third->reasons[0].plugin, "gpu_fit");
  EXPECT_THAT(third->reasons[0].message, HasSubstr("no free 3g.20gb placement"));
  // The two 3g.20gb instances hold all 8 memory slices: not even a 1g.5gb fits now.
  Result<PlacementOutcome> small = fw->Schedule(Partition("1g.5gb"), cluster);
  ASSERT_TRUE(small.ok());
  EXPECT_FALSE(small->placed());
}

// Tenant B's share goes to the GPU tenant A does not use, even under first_fit.
TEST(FiltersTest, SecondTenantLandsOnOtherGpu) {
  std::unique_ptr<Framework> fw = BuildWithFilters(FrameworkConfig{}.filters);
  ASSERT_NE(fw, nullptr);
  ClusterState cluster;
  cluster.hosts.push_back(GpuHost(2));
  cluster.Reset();
  Result<PlacementOutcome> a = fw->Schedule(WithTenant(Share(300), "tenant-a"), cluster);
  ASSERT_TRUE(a.ok() && a->placed());
  ASSERT_EQ(a->allocation.gpus.size(), 1u);
  EXPECT_EQ(a->allocation.gpus[0].gpu, 0);
  Result<PlacementOutcome> b = fw->Schedule(WithTenant(Share(300), "tenant-b"), cluster);
  ASSERT_TRUE(b.ok() && b->placed()) << (b.ok() ? b->Summary(1) : b.status().ToString());
  ASSERT_EQ(b->allocation.gpus.size(), 1u);
  EXPECT_EQ(b->allocation.gpus[0].gpu, 1);
  // A third tenant finds both GPUs taken by other tenants.
  Result<PlacementOutcome> c = fw->Schedule(WithTenant(Share(300), "tenant-c"), cluster);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->placed());
  // Tenant A may add a share next to its own.
  Result<PlacementOutcome> a2 = fw->Schedule(WithTenant(Share(300), "tenant-a"), cluster);
  ASSERT_TRUE(a2.ok() && a2->placed());
  EXPECT_EQ(a2->allocation.gpus[0].gpu, 0);
}

}  // namespace
}  // namespace devshare::placement
