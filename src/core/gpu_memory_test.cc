// Tests GPU memory as a share dimension: HostState accounting (fit, whole, MIG, release), the
// vGPU profile table and one-profile-per-GPU rule, the MIG geometries of A100-40GB/80GB and
// H100-80GB against NVIDIA's instance counts, the model memory table and request validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "devshare/core/host_state.h"
#include "devshare/core/request.h"

namespace devshare {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kGiB = 1024;

Device Gpu(std::string id, SharingMode mode, int64_t memory_mib, std::string model = "T4") {
  Device d;
  d.id = std::move(id);
  d.kind = DeviceKind::kGpu;
  d.mode = mode;
  d.model = std::move(model);
  d.memory_mib = memory_mib;
  if (mode == SharingMode::kPartitioned) {
    d.geometry = PartitionGeometry::ForModel(d.model);
    d.isolation = IsolationClass::kHwPartition;
  }
  return d;
}

Host HostOf(std::vector<Device> gpus) {
  Host h = Host::MakeGpuHost("h", 64000, 262144, 0, "");
  for (Device& d : gpus) h.devices.push_back(std::move(d));
  return h;
}

DeviceSlice Share(int gpu, int64_t milli, int64_t memory_mib, std::string vgpu = "") {
  DeviceSlice s;
  s.gpu = gpu;
  s.device_id = "gpu" + std::to_string(gpu);
  s.milli = milli;
  s.memory_mib = memory_mib;
  s.vgpu = std::move(vgpu);
  return s;
}

Allocation Alloc(std::string id, std::vector<DeviceSlice> gpus) {
  Allocation a;
  a.request_id = std::move(id);
  a.gpus = std::move(gpus);
  return a;
}

Status Apply(HostState& s, Allocation a) {
  a.generation = s.generation();
  return s.Apply(a);
}

TEST(GpuMemoryTest, ShareFitsOnlyIfMilliAndMemoryFit) {
  Host h = HostOf({Gpu("gpu0", SharingMode::kFractional, 16 * kGiB)});
  HostState s(&h);
  EXPECT_EQ(s.gpu_free_memory_mib(0), 16 * kGiB);
  ASSERT_TRUE(Apply(s, Alloc("a", {Share(0, 200, 12 * kGiB)})).ok());
  EXPECT_EQ(s.gpu_usage(0).used_memory_mib, 12 * kGiB);
  EXPECT_EQ(s.gpu_free_memory_mib(0), 4 * kGiB);
  // Plenty of milli left (800), too little memory.
  EXPECT_EQ(s.GpuShareMemoryFit(0, 8 * kGiB, ""), GpuMemoryFit::kMemoryFull);
  Status st = Apply(s, Alloc("b", {Share(0, 200, 8 * kGiB)}));
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(st.message(), HasSubstr("requested 8192 MiB GPU memory, free 4096 of 16384"));
  // Memory left, milli not.
  st = Apply(s, Alloc("c", {Share(0, 900, 1 * kGiB)}));
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(st.message(), HasSubstr("milli"));
  ASSERT_TRUE(Apply(s, Alloc("d", {Share(0, 800, 4 * kGiB)})).ok());
  EXPECT_EQ(s.gpu_free_memory_mib(0), 0);
  // Memory 0 is not constrained: still fits a zero-memory share while milli lasts (none left).
  EXPECT_EQ(s.GpuShareMemoryFit(0, 0, ""), GpuMemoryFit::kFits);
}

TEST(GpuMemoryTest, ReleaseGivesMemoryBack) {
  Host h = HostOf({Gpu("gpu0", SharingMode::kFractional, 16 * kGiB)});
  HostState s(&h);
  Allocation a = Alloc("a", {Share(0, 500, 8 * kGiB)});
  ASSERT_TRUE(Apply(s, a).ok());
  ASSERT_TRUE(s.Release(a).ok());
  EXPECT_EQ(s.gpu_usage(0).used_memory_mib, 0);
  EXPECT_EQ(s.gpu_free_memory_mib(0), 16 * kGiB);
  // A release asking back more memory than is held does not match.
  ASSERT_TRUE(Apply(s, a).ok());
  Allocation more = Alloc("a", {Share(0, 500, 12 * kGiB)});
  EXPECT_EQ(s.Release(more).code(), StatusCode::kFailedPrecondition);
}

TEST(GpuMemoryTest, UnknownMemoryIsNotConstrained) {
  Host h = HostOf({Gpu("gpu0", SharingMode::kFractional, 0)});
  HostState s(&h);
  ASSERT_TRUE(Apply(s, Alloc("a", {Share(0, 500, 100 * kGiB)})).ok());
  ASSERT_TRUE(Apply(s, Alloc("b", {Share(0, 500, 100 * kGiB)})).ok());
  EXPECT_EQ(s.gpu_usage(0).used_memory_mib, 200 * kGiB);
}

TEST(GpuMemoryTest, WholeGpuTakesAllItsMemory) {
  Host h = HostOf({Gpu("gpu0", SharingMode::kFractional, 24 * kGiB, "A10")});
  HostState s(&h);
  DeviceSlice whole = Share(0, 1000, 24 * kGiB);
  whole.whole = true;
  Allocation a = Alloc("a", {whole});
  ASSERT_TRUE(Apply(s, a).ok());
  EXPECT_EQ(s.gpu_free_memory_mib(0), 0);
  ASSERT_TRUE(s.Release(a).ok());
  EXPECT_EQ(s.gpu_free_memory_mib(0), 24 * kGiB);
}

TEST(GpuMemoryTest, MigPartitionTakesItsProfilesMemory) {
  Host h = HostOf({Gpu("gpu0", SharingMode::kPartitioned, 80 * kGiB, "A100-80GB")});
  HostState s(&h);
  DeviceSlice p;
  p.gpu = 0;
  p.device_id = "gpu0";
  p.profile = "3g.40gb";
  p.start_slot = 4;
  Allocation a = Alloc("a", {p});
  ASSERT_TRUE(Apply(s, a).ok());
  EXPECT_EQ(s.gpu_usage(0).used_memory_mib, 40 * kGiB);
  p.profile = "1g.10gb";
  p.start_slot = 0;
  ASSERT_TRUE(Apply(s, Alloc("b", {p})).ok());
  EXPECT_EQ(s.gpu_usage(0).used_memory_mib, 50 * kGiB);
  ASSERT_TRUE(s.Release(a).ok());
  EXPECT_EQ(s.gpu_usage(0).used_memory_mib, 10 * kGiB);
}

TEST(GpuMemoryTest, PartitionMemoryIsTheGpusShareWhenKnown) {
  Device d = Gpu("gpu0", SharingMode::kPartitioned, 40 * kGiB - 424, "A100");
  const PartitionProfile* seven = d.geometry->Find("7g.40gb");
  ASSERT_NE(seven, nullptr);
  EXPECT_EQ(PartitionMemoryMib(d, *seven), 40 * kGiB - 424);  // never more than the GPU has
  d.memory_mib = 0;
  EXPECT_EQ(PartitionMemoryMib(d, *seven), 40 * kGiB);  // nominal
}

// ---- vGPU profiles ----

TEST(VgpuTest, ProfileNamesParse) {
  EXPECT_EQ(*ParseVgpuProfile("vgpu-8g"), 8 * kGiB);
  EXPECT_EQ(*ParseVgpuProfile("vgpu-80g"), 80 * kGiB);
  EXPECT_EQ(VgpuProfileName(16 * kGiB), "vgpu-16g");
  for (const char* bad : {"", "vgpu-", "vgpu-g", "vgpu-08g", "vgpu-8", "A100-8C", "vgpu-8gb"}) {
    EXPECT_FALSE(ParseVgpuProfile(bad).ok()) << bad;
  }
}

TEST(VgpuTest, ProfilesOfferedPerGpuMemory) {
  // reference/qos.md §4.2: 4/8/16 GB on 16 GB GPUs; 10/20/40/80 (and 4/8/16) on 80 GB GPUs.
  EXPECT_EQ(VgpuProfilesOffered(16 * kGiB), "vgpu-4g, vgpu-8g, vgpu-16g");
  EXPECT_EQ(VgpuProfilesOffered(80 * kGiB),
            "vgpu-4g, vgpu-8g, vgpu-10g, vgpu-16g, vgpu-20g, vgpu-40g, vgpu-80g");
  EXPECT_TRUE(GpuOffersVgpu(40 * kGiB, 5 * kGiB));
  EXPECT_FALSE(GpuOffersVgpu(16 * kGiB, 10 * kGiB));
  EXPECT_FALSE(GpuOffersVgpu(0, 8 * kGiB));  // unknown memory offers none
  // Max per GPU = floor(FB / type FB); each vGPU's compute share is 1/that (Fixed Share).
  EXPECT_EQ(VgpuMilli(8 * kGiB, 16 * kGiB), 500);
  EXPECT_EQ(VgpuMilli(4 * kGiB, 16 * kGiB), 250);
  EXPECT_EQ(VgpuMilli(10 * kGiB, 80 * kGiB), 125);
  EXPECT_EQ(VgpuMilli(16 * kGiB, 80 * kGiB), 200);
  EXPECT_EQ(VgpuMilli(6 * kGiB, 16 * kGiB), -1);
}

TEST(VgpuTest, OneProfilePerGpuUnlessMixedSizes) {
  Host h = HostOf({Gpu("gpu0", SharingMode::kTimeSliced, 16 * kGiB),
                   Gpu("gpu1", SharingMode::kTimeSliced, 16 * kGiB)});
  h.devices.back().vgpu_mixed_sizes = true;
  HostState s(&h);
  ASSERT_TRUE(Apply(s, Alloc("a", {Share(0, 250, 4 * kGiB, "vgpu-4g")})).ok());
  EXPECT_EQ(s.gpu_usage(0).vgpu, "vgpu-4g");
  // Another size on the same GPU: refused (time-sliced vGPUs on one GPU are one type).
  EXPECT_EQ(s.GpuShareMemoryFit(0, 8 * kGiB, "vgpu-8g"), GpuMemoryFit::kVgpuMixed);
  Status st = Apply(s, Alloc("b", {Share(0, 500, 8 * kGiB, "vgpu-8g")}));
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("holds vGPU profile vgpu-4g"));
  // A free-size share does not mix with vGPUs either, nor a vGPU with free-size shares.
  EXPECT_EQ(s.GpuShareMemoryFit(0, 1 * kGiB, ""), GpuMemoryFit::kVgpuMixed);
  // The same size fits until the memory is gone: 4 x 4 GiB.
  for (const char* id : {"c", "d", "e"}) {
    ASSERT_TRUE(Apply(s, Alloc(id, {Share(0, 250, 4 * kGiB, "vgpu-4g")})).ok()) << id;
  }
  EXPECT_EQ(s.GpuShareMemoryFit(0, 4 * kGiB, "vgpu-4g"), GpuMemoryFit::kMemoryFull);
  // A GPU that reports heterogeneous sizes takes both.
  ASSERT_TRUE(Apply(s, Alloc("f", {Share(1, 250, 4 * kGiB, "vgpu-4g")})).ok());
  ASSERT_TRUE(Apply(s, Alloc("g", {Share(1, 500, 8 * kGiB, "vgpu-8g")})).ok());
  EXPECT_EQ(s.GpuShareMemoryFit(1, 1 * kGiB, ""), GpuMemoryFit::kVgpuMixed);
}

TEST(VgpuTest, ProfileResetsWhenTheLastVgpuLeaves) {
  Host h = HostOf({Gpu("gpu0", SharingMode::kTimeSliced, 16 * kGiB)});
  HostState s(&h);
  Allocation a = Alloc("a", {Share(0, 250, 4 * kGiB, "vgpu-4g")});
  ASSERT_TRUE(Apply(s, a).ok());
  ASSERT_TRUE(s.Release(a).ok());
  EXPECT_EQ(s.gpu_usage(0).vgpu, "");
  EXPECT_EQ(s.GpuShareMemoryFit(0, 8 * kGiB, "vgpu-8g"), GpuMemoryFit::kFits);
  EXPECT_EQ(s.GpuShareMemoryFit(0, 8 * kGiB, ""), GpuMemoryFit::kFits);
}

TEST(VgpuTest, ProfileNeedsATimeSlicedGpuThatOffersIt) {
  Host h = HostOf({Gpu("gpu0", SharingMode::kFractional, 16 * kGiB),
                   Gpu("gpu1", SharingMode::kTimeSliced, 16 * kGiB)});
  HostState s(&h);
  EXPECT_EQ(s.GpuShareMemoryFit(0, 8 * kGiB, "vgpu-8g"), GpuMemoryFit::kVgpuNeedsTimeSliced);
  EXPECT_EQ(s.GpuShareMemoryFit(1, 10 * kGiB, "vgpu-10g"), GpuMemoryFit::kVgpuNotOffered);
  Status st = Apply(s, Alloc("a", {Share(1, 1000, 10 * kGiB, "vgpu-10g")}));
  EXPECT_THAT(st.message(), HasSubstr("offers: vgpu-4g, vgpu-8g, vgpu-16g"));
  // The slice's memory must be its profile's.
  st = Apply(s, Alloc("b", {Share(1, 500, 4 * kGiB, "vgpu-8g")}));
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
}

// ---- MIG geometries (NVIDIA "Supported MIG Profiles"; reference/qos.md §4.1) ----

struct GeometryCase {
  std::shared_ptr<const PartitionGeometry> geometry;
  std::map<std::string, int> max_instances;  // profile -> instances of it alone on one GPU
  std::map<std::string, int64_t> memory_gib;
};

// Instances of `profile` alone on an empty GPU of `g` by greedy interval packing (the same
// placement rule HostState applies).
int PackAlone(const PartitionGeometry& g, const PartitionProfile& p) {
  Device d;
  d.id = "gpu0";
  d.kind = DeviceKind::kGpu;
  d.mode = SharingMode::kPartitioned;
  d.geometry = std::make_shared<PartitionGeometry>(g);
  Host h = HostOf({d});
  HostState s(&h);
  int n = 0;
  for (int start = s.FindPartitionStart(0, p); start >= 0; start = s.FindPartitionStart(0, p)) {
    DeviceSlice slice;
    slice.gpu = 0;
    slice.device_id = "gpu0";
    slice.profile = p.name;
    slice.start_slot = start;
    if (!Apply(s, Alloc("p" + std::to_string(n), {slice})).ok()) break;
    ++n;
  }
  return n;
}

TEST(MigGeometryTest, InstanceCountsMatchNvidiasTables) {
  // NVIDIA publishes one table for both 80 GB parts (A100-80GB and H100-80GB).
  const std::map<std::string, int> k80GbInstances = {{"1g.10gb", 7}, {"1g.20gb", 4},
                                                     {"2g.20gb", 3}, {"3g.40gb", 2},
                                                     {"4g.40gb", 1}, {"7g.80gb", 1}};
  const std::map<std::string, int64_t> k80GbMemoryGb = {{"1g.10gb", 10}, {"1g.20gb", 20},
                                                        {"2g.20gb", 20}, {"3g.40gb", 40},
                                                        {"4g.40gb", 40}, {"7g.80gb", 80}};
  const std::vector<GeometryCase> cases = {
      {PartitionGeometry::A100_40GB(),
       {{"1g.5gb", 7},
        {"1g.10gb", 4},
        {"2g.10gb", 3},
        {"3g.20gb", 2},
        {"4g.20gb", 1},
        {"7g.40gb", 1}},
       {{"1g.5gb", 5},
        {"1g.10gb", 10},
        {"2g.10gb", 10},
        {"3g.20gb", 20},
        {"4g.20gb", 20},
        {"7g.40gb", 40}}},
      {PartitionGeometry::A100_80GB(), k80GbInstances, k80GbMemoryGb},
      {PartitionGeometry::H100_80GB(), k80GbInstances, k80GbMemoryGb},
  };
  for (const GeometryCase& c : cases) {
    SCOPED_TRACE(c.geometry->name);
    ASSERT_EQ(c.geometry->profiles.size(), c.max_instances.size());
    for (const PartitionProfile& p : c.geometry->profiles) {
      SCOPED_TRACE(p.name);
      ASSERT_EQ(c.max_instances.count(p.name), 1u);
      EXPECT_EQ(p.max_instances, c.max_instances.at(p.name));
      EXPECT_EQ(PackAlone(*c.geometry, p), c.max_instances.at(p.name));
      EXPECT_EQ(p.memory_mib, c.memory_gib.at(p.name) * kGiB);
    }
  }
}

TEST(MigGeometryTest, SelectedByModelAndName) {
  EXPECT_EQ(PartitionGeometry::ForModel("A100"), PartitionGeometry::A100_40GB());
  EXPECT_EQ(PartitionGeometry::ForModel("A100-80GB"), PartitionGeometry::A100_80GB());
  EXPECT_EQ(PartitionGeometry::ForModel("H100"), PartitionGeometry::H100_80GB());
  EXPECT_EQ(PartitionGeometry::ForModel("T4"), nullptr);
  EXPECT_EQ(PartitionGeometry::ByName("H100_80GB"), PartitionGeometry::H100_80GB());
  EXPECT_EQ(PartitionGeometry::ByName("A30"), nullptr);
}

TEST(GpuModelMemoryTest, KnownModels) {
  EXPECT_EQ(GpuModelMemoryMib("A100"), 40 * kGiB);
  EXPECT_EQ(GpuModelMemoryMib("A100-80GB"), 80 * kGiB);
  EXPECT_EQ(GpuModelMemoryMib("H100"), 80 * kGiB);
  EXPECT_EQ(GpuModelMemoryMib("T4"), 16 * kGiB);
  EXPECT_EQ(GpuModelMemoryMib("A10"), 24 * kGiB);
  EXPECT_EQ(GpuModelMemoryMib("G2"), 0);  // trace models: unknown, not constrained
}

// ---- request validation ----

TEST(GpuMemoryRequestTest, Validation) {
  VmRequest r;
  r.id = "r";
  r.gpu.count = 1;
  r.gpu.milli = 500;
  r.gpu.memory_mib = 8 * kGiB;
  EXPECT_TRUE(r.Validate().ok());
  r.gpu.memory_mib = -1;
  EXPECT_THAT(r.Validate().message(), HasSubstr("gpu.memory_mib"));
  r.gpu.memory_mib = 0;
  r.gpu.profile = "3g.20gb";
  r.gpu.milli = 0;
  EXPECT_TRUE(r.Validate().ok());
  r.gpu.memory_mib = 1024;
  EXPECT_THAT(r.Validate().message(), HasSubstr("gpu.memory_mib"));
  r.gpu.profile.clear();
  r.gpu.vgpu = "vgpu-8g";
  r.gpu.memory_mib = 8 * kGiB;
  EXPECT_TRUE(r.Validate().ok()) << r.Validate().ToString();
  r.gpu.memory_mib = 4 * kGiB;
  EXPECT_FALSE(r.Validate().ok());
  r.gpu.vgpu = "vgpu-x";
  EXPECT_THAT(r.Validate().message(), HasSubstr("gpu.vgpu"));
}

}  // namespace
}  // namespace devshare
