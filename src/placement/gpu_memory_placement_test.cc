// Tests GPU memory in placement: for every built-in policy a share goes only to a GPU where its
// milli AND its memory fit, vGPU profiles follow the one-profile-per-GPU rule, whole requests
// with a least memory skip smaller GPUs, and unschedulable answers name GPU memory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/placement/fragmentation.h"
#include "devshare/placement/framework.h"
#include "devshare/placement/registry.h"

namespace devshare::placement {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kGiB = 1024;

std::unique_ptr<Framework> Build(const std::string& policy) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  FrameworkConfig config;
  config.policy = policy;
  // fgd and devshare weigh a target workload: shares and a whole GPU.
  TaskShape share{1000, 500, 1, {}};
  TaskShape whole{4000, 1000, 1, {}};
  config.args.typical_pods = std::make_shared<const TypicalPods>(
      std::vector<WeightedShape>{{share, 0, 0.7}, {whole, 0, 0.3}});
  Result<std::unique_ptr<Framework>> fw = registry.BuildFramework(config);
  EXPECT_TRUE(fw.ok()) << policy << ": " << fw.status().ToString();
  return fw.ok() ? std::move(fw).value() : nullptr;
}

// One host of `gpus` GPUs of 16 GiB each, sharing `mode`.
ClusterState Cluster(int gpus, SharingMode mode) {
  ClusterState c;
  Host h = Host::MakeGpuHost("h0", 64000, 262144, gpus, "T4");
  for (Device& d : h.devices) {
    if (d.kind != DeviceKind::kGpu) continue;
    d.memory_mib = 16 * kGiB;
    d.mode = mode;
  }
  c.hosts.push_back(std::move(h));
  c.Reset();
  return c;
}

VmRequest Share(std::string id, int milli, int64_t memory_mib) {
  VmRequest r;
  r.id = std::move(id);
  r.cpu_milli = 1000;
  r.memory_mib = 1024;
  r.gpu.count = 1;
  r.gpu.milli = milli;
  r.gpu.memory_mib = memory_mib;
  return r;
}

VmRequest Vgpu(std::string id, std::string profile) {
  VmRequest r = Share(std::move(id), 0, *ParseVgpuProfile(profile));
  r.gpu.vgpu = std::move(profile);
  return r;
}

// Places `r` and returns its GPU ordinal (-1 if unschedulable).
int Place(Framework& fw, ClusterState& c, const VmRequest& r) {
  Result<PlacementOutcome> out = fw.Schedule(r, c);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok() || !out->placed()) return -1;
  EXPECT_EQ(out->allocation.gpus.size(), 1u);
  return out->allocation.gpus[0].gpu;
}

TEST(GpuMemoryPlacementTest, EveryPolicyPutsASharesMemoryWhereItFits) {
  for (const std::string& policy : BuiltinPolicyNames()) {
    SCOPED_TRACE(policy);
    std::unique_ptr<Framework> fw = Build(policy);
    ASSERT_NE(fw, nullptr);
    ClusterState c = Cluster(2, SharingMode::kFractional);
    // gpu0: 200 milli and 12 GiB used; gpu1: 700 milli and 6 GiB used (b's memory does not
    // fit gpu0 whatever the policy prefers).
    ASSERT_EQ(Place(*fw, c, Share("a", 200, 12 * kGiB)), 0);  // ties go to the lowest GPU
    ASSERT_EQ(Place(*fw, c, Share("b", 700, 6 * kGiB)), 1);
    // 500 milli / 8 GiB: gpu0 has the milli (800) but 4 GiB; gpu1 the memory (10) but 300 milli.
    Result<PlacementOutcome> out = fw->Schedule(Share("c", 500, 8 * kGiB), c);
    ASSERT_TRUE(out.ok());
    ASSERT_FALSE(out->placed());
    ASSERT_EQ(out->reasons.size(), 1u);
    EXPECT_EQ(out->reasons[0].resource, "gpu_memory");
    EXPECT_THAT(out->reasons[0].message, HasSubstr("gpu0 4096 MiB"));
    // 500 milli / 4 GiB fits gpu0 only; the slice carries its memory.
    out = fw->Schedule(Share("d", 500, 4 * kGiB), c);
    ASSERT_TRUE(out.ok() && out->placed());
    EXPECT_EQ(out->allocation.gpus[0].gpu, 0);
    EXPECT_EQ(out->allocation.gpus[0].memory_mib, 4 * kGiB);
    EXPECT_EQ(c.states[0].gpu_free_memory_mib(0), 0);
    ASSERT_TRUE(fw->Release(Share("d", 500, 4 * kGiB), out->allocation, c).ok());
    EXPECT_EQ(c.states[0].gpu_free_memory_mib(0), 4 * kGiB);
  }
}

TEST(GpuMemoryPlacementTest, VgpuProfilesDoNotMixOnOneGpu) {
  for (const std::string& policy : BuiltinPolicyNames()) {
    SCOPED_TRACE(policy);
    std::unique_ptr<Framework> fw = Build(policy);
    ASSERT_NE(fw, nullptr);
    ClusterState c = Cluster(2, SharingMode::kTimeSliced);
    const int first = Place(*fw, c, Vgpu("a", "vgpu-4g"));
    ASSERT_GE(first, 0);
    EXPECT_EQ(c.states[0].gpu_usage(first).used_milli, 250);  // 1 of 4 on a 16 GiB GPU
    Result<PlacementOutcome> out = fw->Schedule(Vgpu("b", "vgpu-8g"), c);
    ASSERT_TRUE(out.ok() && out->placed());
    EXPECT_NE(out->allocation.gpus[0].gpu, first);
    EXPECT_EQ(out->allocation.gpus[0].milli, 500);
    EXPECT_EQ(out->allocation.gpus[0].vgpu, "vgpu-8g");
    // Both GPUs hold one profile each now: a 16g fits neither.
    out = fw->Schedule(Vgpu("c", "vgpu-16g"), c);
    ASSERT_TRUE(out.ok());
    EXPECT_FALSE(out->placed());
    // A free-size share does not join vGPU GPUs either.
    out = fw->Schedule(Share("d", 100, 1 * kGiB), c);
    ASSERT_TRUE(out.ok());
    EXPECT_FALSE(out->placed());
  }
}

TEST(GpuMemoryPlacementTest, WholeRequestWithLeastMemorySkipsSmallerGpus) {
  std::unique_ptr<Framework> fw = Build("first_fit");
  ClusterState c = Cluster(2, SharingMode::kFractional);
  c.hosts[0].devices[c.hosts[0].GpuDeviceIndices()[1]].memory_mib = 80 * kGiB;
  c.Reset();
  VmRequest r = Share("w", kMilliPerDevice, 40 * kGiB);
  Result<PlacementOutcome> out = fw->Schedule(r, c);
  ASSERT_TRUE(out.ok() && out->placed());
  EXPECT_EQ(out->allocation.gpus[0].gpu, 1);
  EXPECT_TRUE(out->allocation.gpus[0].whole);
  EXPECT_EQ(out->allocation.gpus[0].memory_mib, 80 * kGiB);
  EXPECT_EQ(c.states[0].gpu_free_memory_mib(1), 0);
}

TEST(GpuMemoryPlacementTest, MemoryZeroIsUnconstrained) {
  std::unique_ptr<Framework> fw = Build("best_fit");
  ClusterState c = Cluster(1, SharingMode::kFractional);
  ASSERT_EQ(Place(*fw, c, Share("a", 300, 16 * kGiB)), 0);
  // No memory left, but a request without memory only needs milli.
  EXPECT_EQ(Place(*fw, c, Share("b", 300, 0)), 0);
  EXPECT_EQ(Place(*fw, c, Share("c", 300, 1)), -1);
}

}  // namespace
}  // namespace devshare::placement
