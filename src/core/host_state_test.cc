// Tests HostState (apply/release, generations, exclusivity, MIG interval packing) and ClusterState.
#include "devshare/core/host_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/check.h"

namespace devshare {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kCpu = 32000;
constexpr int64_t kMem = 131072;

// GPU ordinals of MixedHost().
constexpr int kFrac0 = 0;
constexpr int kFrac1 = 1;
constexpr int kMig = 2;
constexpr int kExcl = 3;

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

// A NIC (not a GPU), two fractional GPUs, one MIG GPU and one exclusive GPU.
Host MixedHost() {
  Host h = Host::MakeGpuHost("h1", kCpu, kMem, 2, "A100");
  Device nic;
  nic.id = "nic0";
  nic.kind = DeviceKind::kNic;
  nic.mode = SharingMode::kExclusive;
  h.devices.insert(h.devices.begin(), nic);
  h.devices.push_back(MigDevice("gpu2"));
  Device excl;
  excl.id = "gpu3";
  excl.kind = DeviceKind::kGpu;
  excl.mode = SharingMode::kExclusive;
  excl.isolation = IsolationClass::kHwPartition;
  excl.model = "A100";
  h.devices.push_back(excl);
  return h;
}

// One MIG A100 and nothing else.
Host MigHost() {
  Host h = Host::MakeGpuHost("mig", kCpu, kMem, 0, "");
  h.devices.push_back(MigDevice("gpu0"));
  return h;
}

DeviceSlice Share(int g, int64_t milli) {
  DeviceSlice s;
  s.gpu = g;
  s.milli = milli;
  return s;
}

DeviceSlice Whole(int g) {
  DeviceSlice s;
  s.gpu = g;
  s.milli = kMilliPerDevice;
  s.whole = true;
  return s;
}

DeviceSlice Part(int g, std::string profile, int start) {
  DeviceSlice s;
  s.gpu = g;
  s.profile = std::move(profile);
  s.start_slot = start;
  return s;
}

Allocation Alloc(int64_t cpu, int64_t mem, std::vector<DeviceSlice> gpus, std::string tenant = "") {
  Allocation a;
  a.request_id = "r";
  a.tenant = std::move(tenant);
  a.cpu_milli = cpu;
  a.memory_mib = mem;
  a.gpus = std::move(gpus);
  return a;
}

// Apply against the state's current generation.
Status ApplyNow(HostState& s, Allocation a) {
  a.generation = s.generation();
  return s.Apply(a);
}

const PartitionProfile& Profile(std::string_view name) {
  const PartitionProfile* p = PartitionGeometry::A100_40GB()->Find(name);
  DS_CHECK(p != nullptr);
  return *p;
}

// Everything observable about a HostState, for "nothing changed" checks with readable diffs.
std::string Snapshot(const HostState& s) {
  std::ostringstream o;
  o << "gen=" << s.generation() << " cpu_free=" << s.cpu_free_milli()
    << " mem_free=" << s.memory_free_mib() << " gpu_free_total=" << s.gpu_free_total_milli();
  for (int g = 0; g < s.gpu_count(); ++g) {
    const GpuUsage& u = s.gpu_usage(g);
    o << "\n gpu" << g << " free=" << s.gpu_free_milli()[g] << " used=" << u.used_milli
      << " whole=" << u.whole << " shares=" << u.shares << " parts=";
    for (const PartitionInstance& p : u.partitions) {
      o << p.start << ":" << p.memory_slices << "/" << p.compute_slices << ",";
    }
    o << " tenants=";
    for (const std::string& t : u.tenants) o << t << ",";
  }
  return o.str();
}

TEST(HostStateTest, FreshStateFromGpuHost) {
  Host h = Host::MakeGpuHost("n1", 64000, 262144, 8, "V100M32");
  ASSERT_TRUE(h.Validate().ok());
  HostState s(&h);
  EXPECT_EQ(&s.host(), &h);
  EXPECT_EQ(s.generation(), 0u);
  EXPECT_EQ(s.cpu_capacity_milli(), 64000);
  EXPECT_EQ(s.cpu_free_milli(), 64000);
  EXPECT_EQ(s.memory_capacity_mib(), 262144);
  EXPECT_EQ(s.memory_free_mib(), 262144);
  EXPECT_EQ(s.gpu_count(), 8);
  EXPECT_EQ(s.gpu_model(), "V100M32");
  EXPECT_EQ(s.gpu_capacity_total_milli(), 8000);
  EXPECT_EQ(s.gpu_free_total_milli(), 8000);
  for (int g = 0; g < 8; ++g) {
    EXPECT_EQ(s.gpu_free_milli()[g], 1000);
    EXPECT_TRUE(s.gpu_fully_free(g));
    EXPECT_EQ(s.gpu_device(g).id, "gpu" + std::to_string(g));
  }
}

TEST(HostStateTest, GpuOrdinalsSkipNonGpuDevices) {
  Host h = MixedHost();
  ASSERT_TRUE(h.Validate().ok()) << h.Validate().ToString();
  HostState s(&h);
  ASSERT_EQ(s.gpu_count(), 4);
  EXPECT_EQ(s.gpu_device(kFrac0).id, "gpu0");
  EXPECT_EQ(s.gpu_device(kMig).id, "gpu2");
  EXPECT_EQ(s.gpu_device(kExcl).id, "gpu3");
  EXPECT_EQ(s.gpu_capacity_total_milli(), 4000);
}

TEST(HostStateTest, NoGpus) {
  Host h = Host::MakeGpuHost("cpu-only", 8000, 16384, 0, "");
  HostState s(&h);
  EXPECT_EQ(s.gpu_count(), 0);
  EXPECT_EQ(s.gpu_model(), "");
  EXPECT_EQ(s.gpu_capacity_total_milli(), 0);
  EXPECT_TRUE(ApplyNow(s, Alloc(8000, 16384, {})).ok());
  EXPECT_EQ(s.cpu_free_milli(), 0);
  EXPECT_EQ(s.memory_free_mib(), 0);
}

TEST(HostStateTest, CapacityHonoursReservedAndAllocationRatio) {
  Host h = Host::MakeGpuHost("n1", 32000, 131072, 1, "T4");
  h.cpu_milli.reserved = 2000;
  h.cpu_milli.allocation_ratio = 4.0;
  h.memory_mib.reserved = 4096;
  h.devices[0].inventory.reserved = 100;
  HostState s(&h);
  EXPECT_EQ(s.cpu_capacity_milli(), 120000);
  EXPECT_EQ(s.memory_capacity_mib(), 126976);
  EXPECT_EQ(s.gpu_free_milli()[0], 900);
  EXPECT_EQ(s.gpu_capacity_total_milli(), 900);
  EXPECT_TRUE(ApplyNow(s, Alloc(120000, 0, {Share(0, 900)})).ok());
  EXPECT_FALSE(ApplyNow(s, Alloc(1, 0, {})).ok());
}

struct RoundtripCase {
  std::string name;
  Allocation alloc;
  std::vector<int32_t> gpu_free_after;  // by ordinal, MixedHost
};

TEST(HostStateTest, ApplyReleaseRoundtrip) {
  const std::vector<RoundtripCase> cases = {
      {"cpu and memory only", Alloc(4000, 8192, {}), {1000, 1000, 1000, 1000}},
      {"all cpu and memory", Alloc(kCpu, kMem, {}), {1000, 1000, 1000, 1000}},
      {"one share", Alloc(1000, 1024, {Share(kFrac0, 300)}), {700, 1000, 1000, 1000}},
      {"full share", Alloc(1000, 1024, {Share(kFrac1, 1000)}), {1000, 0, 1000, 1000}},
      {"shares on two gpus",
       Alloc(1000, 1024, {Share(kFrac0, 500), Share(kFrac1, 250)}),
       {500, 750, 1000, 1000}},
      {"whole fractional", Alloc(8000, 4096, {Whole(kFrac1)}), {1000, 0, 1000, 1000}},
      {"whole exclusive", Alloc(8000, 4096, {Whole(kExcl)}), {1000, 1000, 1000, 0}},
      {"whole mig", Alloc(8000, 4096, {Whole(kMig)}), {1000, 1000, 0, 1000}},
      {"mig 3g", Alloc(2000, 2048, {Part(kMig, "3g.20gb", 4)}), {1000, 1000, 572, 1000}},
      {"mig 1g", Alloc(2000, 2048, {Part(kMig, "1g.5gb", 6)}), {1000, 1000, 858, 1000}},
      {"mig 7g", Alloc(2000, 2048, {Part(kMig, "7g.40gb", 0)}), {1000, 1000, 0, 1000}},
      {"everything",
       Alloc(16000, 65536,
             {Share(kFrac0, 100), Whole(kFrac1), Part(kMig, "2g.10gb", 2), Whole(kExcl)}),
       {900, 0, 715, 0}},
  };
  for (const RoundtripCase& c : cases) {
    SCOPED_TRACE(c.name);
    Host h = MixedHost();
    HostState s(&h);
    const std::string before = Snapshot(s);

    ASSERT_TRUE(ApplyNow(s, c.alloc).ok()) << ApplyNow(s, c.alloc).ToString();
    EXPECT_EQ(s.generation(), 1u);
    EXPECT_EQ(s.cpu_free_milli(), kCpu - c.alloc.cpu_milli);
    EXPECT_EQ(s.memory_free_mib(), kMem - c.alloc.memory_mib);
    EXPECT_EQ(s.gpu_free_milli(), c.gpu_free_after);
    int64_t free_total = 0;
    for (int32_t f : c.gpu_free_after) free_total += f;
    EXPECT_EQ(s.gpu_free_total_milli(), free_total);
    for (const DeviceSlice& d : c.alloc.gpus) {
      EXPECT_FALSE(s.gpu_fully_free(d.gpu)) << "gpu " << d.gpu;
      EXPECT_EQ(s.gpu_usage(d.gpu).whole, d.whole) << "gpu " << d.gpu;
    }

    ASSERT_TRUE(s.Release(c.alloc).ok()) << s.Release(c.alloc).ToString();
    EXPECT_EQ(s.generation(), 2u);
    for (int g = 0; g < s.gpu_count(); ++g) EXPECT_TRUE(s.gpu_fully_free(g)) << "gpu " << g;
    // Everything is back, except the generation that recorded both changes.
    std::string after = Snapshot(s);
    after.replace(0, after.find(' '), "gen=0");
    EXPECT_EQ(after, before);
  }
}

TEST(HostStateTest, SharesAccumulateAndReleaseIndividually) {
  Host h = MixedHost();
  HostState s(&h);
  Allocation a = Alloc(1000, 1000, {Share(kFrac0, 300)}, "t1");
  Allocation b = Alloc(1000, 1000, {Share(kFrac0, 450)}, "t2");
  Allocation c = Alloc(1000, 1000, {Share(kFrac0, 250)}, "t1");
  ASSERT_TRUE(ApplyNow(s, a).ok());
  ASSERT_TRUE(ApplyNow(s, b).ok());
  ASSERT_TRUE(ApplyNow(s, c).ok());
  EXPECT_EQ(s.gpu_free_milli()[kFrac0], 0);
  EXPECT_EQ(s.gpu_usage(kFrac0).shares, 3);
  EXPECT_EQ(s.gpu_usage(kFrac0).used_milli, 1000);
  EXPECT_THAT(s.gpu_usage(kFrac0).tenants, ElementsAre("t1", "t2", "t1"));
  EXPECT_FALSE(ApplyNow(s, Alloc(0, 0, {Share(kFrac0, 1)})).ok());

  ASSERT_TRUE(s.Release(b).ok());
  EXPECT_EQ(s.gpu_free_milli()[kFrac0], 450);
  EXPECT_EQ(s.gpu_usage(kFrac0).shares, 2);
  EXPECT_THAT(s.gpu_usage(kFrac0).tenants, ElementsAre("t1", "t1"));
  EXPECT_EQ(s.cpu_free_milli(), kCpu - 2000);
  EXPECT_EQ(s.generation(), 4u);

  ASSERT_TRUE(s.Release(a).ok());
  ASSERT_TRUE(s.Release(c).ok());
  EXPECT_TRUE(s.gpu_fully_free(kFrac0));
  EXPECT_TRUE(s.gpu_usage(kFrac0).tenants.empty());
  EXPECT_EQ(s.gpu_usage(kFrac0).shares, 0);
}

TEST(HostStateTest, StaleGenerationIsAbortedAndChangesNothing) {
  Host h = MixedHost();
  HostState s(&h);
  Allocation first = Alloc(1000, 1024, {Share(kFrac0, 200)});
  ASSERT_TRUE(ApplyNow(s, first).ok());
  ASSERT_EQ(s.generation(), 1u);
  const std::string before = Snapshot(s);

  for (uint64_t gen : {uint64_t{0}, uint64_t{2}, uint64_t{99}}) {
    SCOPED_TRACE(gen);
    Allocation a = Alloc(1000, 1024, {Share(kFrac0, 200)});
    a.generation = gen;
    Status st = s.Apply(a);
    EXPECT_EQ(st.code(), StatusCode::kAborted) << st.ToString();
    EXPECT_THAT(st.message(), HasSubstr("h1"));
    EXPECT_EQ(Snapshot(s), before);
  }

  // The unchecked path ignores the generation but still bumps it.
  Allocation stale = Alloc(1000, 1024, {Share(kFrac0, 200)});
  stale.generation = 0;
  EXPECT_TRUE(s.ApplyUnchecked(stale).ok());
  EXPECT_EQ(s.generation(), 2u);
  EXPECT_EQ(s.gpu_free_milli()[kFrac0], 600);
}

struct RejectCase {
  std::string name;
  std::vector<Allocation> setup;  // applied first, must succeed
  Allocation alloc;               // must be rejected
  StatusCode code;
  std::string detail;  // message fragment
};

TEST(HostStateTest, RejectedApplyChangesNothing) {
  const std::vector<RejectCase> cases = {
      // Capacity.
      {"cpu over capacity", {}, Alloc(kCpu + 1, 0, {}), StatusCode::kResourceExhausted, "cpu"},
      {"cpu over free",
       {Alloc(30000, 0, {})},
       Alloc(2001, 0, {}),
       StatusCode::kResourceExhausted,
       "cpu"},
      {"memory over capacity",
       {},
       Alloc(0, kMem + 1, {}),
       StatusCode::kResourceExhausted,
       "memory"},
      {"memory over free",
       {Alloc(0, kMem - 10, {})},
       Alloc(0, 11, {}),
       StatusCode::kResourceExhausted,
       "memory"},
      {"gpu milli over device",
       {},
       Alloc(0, 0, {Share(kFrac0, 1001)}),
       StatusCode::kResourceExhausted,
       "gpu0"},
      {"gpu milli over free",
       {Alloc(0, 0, {Share(kFrac0, 600)})},
       Alloc(0, 0, {Share(kFrac0, 401)}),
       StatusCode::kResourceExhausted,
       "gpu0"},
      {"second slice does not fit",
       {Alloc(0, 0, {Share(kFrac1, 900)})},
       Alloc(1000, 1000, {Share(kFrac0, 500), Share(kFrac1, 200)}),
       StatusCode::kResourceExhausted,
       "gpu1"},
      {"cpu fits, gpu does not",
       {},
       Alloc(1000, 1000, {Share(kFrac0, 2000)}),
       StatusCode::kResourceExhausted,
       "gpu0"},
      // Whole versus shared.
      {"whole of a shared gpu",
       {Alloc(0, 0, {Share(kFrac0, 100)})},
       Alloc(0, 0, {Whole(kFrac0)}),
       StatusCode::kFailedPrecondition,
       "gpu0"},
      {"whole of a partitioned gpu in use",
       {Alloc(0, 0, {Part(kMig, "1g.5gb", 0)})},
       Alloc(0, 0, {Whole(kMig)}),
       StatusCode::kFailedPrecondition,
       "gpu2"},
      {"share of a whole-held gpu",
       {Alloc(0, 0, {Whole(kFrac0)})},
       Alloc(0, 0, {Share(kFrac0, 100)}),
       StatusCode::kResourceExhausted,
       "whole"},
      {"whole of a whole-held gpu",
       {Alloc(0, 0, {Whole(kFrac1)})},
       Alloc(0, 0, {Whole(kFrac1)}),
       StatusCode::kResourceExhausted,
       "whole"},
      {"partition of a whole-held gpu",
       {Alloc(0, 0, {Whole(kMig)})},
       Alloc(0, 0, {Part(kMig, "1g.5gb", 0)}),
       StatusCode::kResourceExhausted,
       "whole"},
      {"share of an exclusive gpu",
       {},
       Alloc(0, 0, {Share(kExcl, 100)}),
       StatusCode::kFailedPrecondition,
       "exclusive"},
      // Partitions.
      {"partition overlaps",
       {Alloc(0, 0, {Part(kMig, "3g.20gb", 4)})},
       Alloc(0, 0, {Part(kMig, "2g.10gb", 4)}),
       StatusCode::kResourceExhausted,
       "2g.10gb@4"},
      {"same slot twice",
       {Alloc(0, 0, {Part(kMig, "1g.5gb", 3)})},
       Alloc(0, 0, {Part(kMig, "1g.5gb", 3)}),
       StatusCode::kResourceExhausted,
       "1g.5gb@3"},
      {"1g at slot 7",
       {},
       Alloc(0, 0, {Part(kMig, "1g.5gb", 7)}),
       StatusCode::kInvalidArgument,
       "slot 7"},
      {"3g at slot 2",
       {},
       Alloc(0, 0, {Part(kMig, "3g.20gb", 2)}),
       StatusCode::kInvalidArgument,
       "slot 2"},
      {"unknown profile",
       {},
       Alloc(0, 0, {Part(kMig, "5g.30gb", 0)}),
       StatusCode::kInvalidArgument,
       "5g.30gb"},
      // Malformed slices.
      {"negative ordinal", {}, Alloc(0, 0, {Share(-1, 100)}), StatusCode::kInvalidArgument, "-1"},
      {"ordinal past end", {}, Alloc(0, 0, {Share(4, 100)}), StatusCode::kInvalidArgument, "4"},
      {"same gpu twice",
       {},
       Alloc(0, 0, {Share(kFrac0, 100), Share(kFrac0, 100)}),
       StatusCode::kInvalidArgument,
       "twice"},
  };
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.name);
    Host h = MixedHost();
    HostState s(&h);
    for (const Allocation& a : c.setup) ASSERT_TRUE(ApplyNow(s, a).ok());
    const std::string before = Snapshot(s);
    Status st = ApplyNow(s, c.alloc);
    EXPECT_EQ(st.code(), c.code) << st.ToString();
    EXPECT_THAT(st.message(), HasSubstr(c.detail));
    EXPECT_EQ(Snapshot(s), before);
    // The unchecked path applies the same checks.
    EXPECT_EQ(s.ApplyUnchecked(c.alloc).code(), c.code);
    EXPECT_EQ(Snapshot(s), before);
  }
}

TEST(HostStateTest, ExclusiveDeviceTakesWholeUse) {
  Host h = MixedHost();
  HostState s(&h);
  Allocation a = Alloc(0, 0, {Whole(kExcl)});
  ASSERT_TRUE(ApplyNow(s, a).ok());
  EXPECT_TRUE(s.gpu_usage(kExcl).whole);
  EXPECT_EQ(s.gpu_free_milli()[kExcl], 0);
  ASSERT_TRUE(s.Release(a).ok());
  EXPECT_TRUE(s.gpu_fully_free(kExcl));
}

struct ReleaseRejectCase {
  std::string name;
  std::vector<Allocation> setup;
  Allocation release;
  StatusCode code;
};

TEST(HostStateTest, ReleaseOfWhatIsNotHeldFailsAndChangesNothing) {
  const std::vector<ReleaseRejectCase> cases = {
      {"cpu never applied", {}, Alloc(1, 0, {}), StatusCode::kFailedPrecondition},
      {"memory beyond use",
       {Alloc(0, 100, {})},
       Alloc(0, 101, {}),
       StatusCode::kFailedPrecondition},
      {"share on a free gpu",
       {},
       Alloc(0, 0, {Share(kFrac1, 100)}),
       StatusCode::kFailedPrecondition},
      {"share larger than used",
       {Alloc(0, 0, {Share(kFrac1, 100)})},
       Alloc(0, 0, {Share(kFrac1, 200)}),
       StatusCode::kFailedPrecondition},
      {"whole on a shared gpu",
       {Alloc(0, 0, {Share(kFrac0, 100)})},
       Alloc(0, 0, {Whole(kFrac0)}),
       StatusCode::kFailedPrecondition},
      {"share on a whole-held gpu",
       {Alloc(0, 0, {Whole(kFrac0)})},
       Alloc(0, 0, {Share(kFrac0, 100)}),
       StatusCode::kFailedPrecondition},
      {"partition on an empty mig gpu",
       {},
       Alloc(0, 0, {Part(kMig, "1g.5gb", 0)}),
       StatusCode::kFailedPrecondition},
      {"partition at a slot not held",
       {Alloc(0, 0, {Part(kMig, "1g.5gb", 0)})},
       Alloc(0, 0, {Part(kMig, "1g.5gb", 6)}),
       StatusCode::kFailedPrecondition},
      {"unknown gpu", {}, Alloc(0, 0, {Share(9, 100)}), StatusCode::kInvalidArgument},
  };
  for (const ReleaseRejectCase& c : cases) {
    SCOPED_TRACE(c.name);
    Host h = MixedHost();
    HostState s(&h);
    for (const Allocation& a : c.setup) ASSERT_TRUE(ApplyNow(s, a).ok());
    const std::string before = Snapshot(s);
    Status st = s.Release(c.release);
    EXPECT_EQ(st.code(), c.code) << st.ToString();
    EXPECT_EQ(Snapshot(s), before);
  }
}

TEST(HostStateTest, PartitionReleaseIgnoresRecordedMilli) {
  // Placement records a partition's compute share (3/7 of 1000, rounded either way) as milli;
  // release matches the instance by slot, not by milli.
  for (int64_t milli : {0, 428, 429}) {
    SCOPED_TRACE(milli);
    Host h = MigHost();
    HostState s(&h);
    DeviceSlice d = Part(0, "3g.20gb", 4);
    d.milli = milli;
    Allocation a = Alloc(0, 0, {d});
    ASSERT_TRUE(ApplyNow(s, a).ok());
    EXPECT_EQ(s.gpu_free_milli()[0], 572);
    ASSERT_TRUE(s.Release(a).ok());
    EXPECT_TRUE(s.gpu_fully_free(0));
    EXPECT_EQ(s.gpu_free_milli()[0], 1000);
  }
}

// ---- MIG interval packing on the A100-40GB geometry ----

// Places `profile` where FindPartitionStart says; returns the start or -1.
int Place(HostState& s, int g, std::string_view profile, std::string tenant = "") {
  int start = s.FindPartitionStart(g, Profile(profile));
  if (start < 0) return -1;
  Status st = ApplyNow(s, Alloc(0, 0, {Part(g, std::string(profile), start)}, std::move(tenant)));
  EXPECT_TRUE(st.ok()) << profile << "@" << start << ": " << st.ToString();
  return st.ok() ? start : -1;
}

TEST(MigTest, EmptyGpuStarts) {
  Host h = MigHost();
  HostState s(&h);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("7g.40gb")), 0);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("4g.20gb")), 0);
  for (const PartitionProfile& p : PartitionGeometry::A100_40GB()->profiles) {
    SCOPED_TRACE(p.name);
    int start = s.FindPartitionStart(0, p);
    EXPECT_NE(std::find(p.starts.begin(), p.starts.end(), start), p.starts.end());
  }
}

TEST(MigTest, NonPartitionedOrWholeHeldGpuHasNoStart) {
  Host h = MixedHost();
  HostState s(&h);
  EXPECT_EQ(s.FindPartitionStart(kFrac0, Profile("1g.5gb")), -1);
  EXPECT_EQ(s.FindPartitionStart(kExcl, Profile("1g.5gb")), -1);
  ASSERT_TRUE(ApplyNow(s, Alloc(0, 0, {Whole(kMig)})).ok());
  EXPECT_EQ(s.FindPartitionStart(kMig, Profile("1g.5gb")), -1);
}

TEST(MigTest, OneGAtSlotZeroFragments) {
  Host h = MigHost();
  HostState s(&h);
  ASSERT_TRUE(ApplyNow(s, Alloc(0, 0, {Part(0, "1g.5gb", 0)})).ok());
  EXPECT_EQ(s.gpu_free_milli()[0], 858);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("3g.20gb")), 4);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("4g.20gb")), -1);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("7g.40gb")), -1);
  int two_g = s.FindPartitionStart(0, Profile("2g.10gb"));
  EXPECT_TRUE(two_g == 2 || two_g == 4) << two_g;
}

TEST(MigTest, TwoFourGImpossible) {
  Host h = MigHost();
  HostState s(&h);
  EXPECT_EQ(Place(s, 0, "4g.20gb"), 0);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("4g.20gb")), -1);
  EXPECT_EQ(s.gpu_free_milli()[0], 429);
}

TEST(MigTest, ThreeGThreeGOneGImpossible) {
  Host h = MigHost();
  HostState s(&h);
  ASSERT_GE(Place(s, 0, "3g.20gb"), 0);
  ASSERT_GE(Place(s, 0, "3g.20gb"), 0);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("1g.5gb")), -1);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("1g.10gb")), -1);
  EXPECT_EQ(s.gpu_free_milli()[0], 143);
}

TEST(MigTest, FourTwoGImpossible) {
  Host h = MigHost();
  HostState s(&h);
  for (int i = 0; i < 3; ++i) ASSERT_GE(Place(s, 0, "2g.10gb"), 0) << i;
  EXPECT_EQ(s.FindPartitionStart(0, Profile("2g.10gb")), -1);
  EXPECT_GE(s.FindPartitionStart(0, Profile("1g.5gb")), 0);  // 2g cannot start at 6; 1g can
}

TEST(MigTest, SevenGExcludesEverything) {
  for (std::string_view other : {"1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb"}) {
    SCOPED_TRACE(other);
    Host h = MigHost();
    HostState a(&h);
    ASSERT_EQ(Place(a, 0, "7g.40gb"), 0);
    EXPECT_EQ(a.FindPartitionStart(0, Profile(other)), -1);
    HostState b(&h);
    ASSERT_GE(Place(b, 0, other), 0);
    EXPECT_EQ(b.FindPartitionStart(0, Profile("7g.40gb")), -1);
  }
}

TEST(MigTest, SevenOneGFitThenAnEighthDoesNot) {
  Host h = MigHost();
  HostState s(&h);
  std::vector<int> starts;
  for (int i = 0; i < 7; ++i) {
    int start = Place(s, 0, "1g.5gb");
    ASSERT_GE(start, 0) << "instance " << i;
    starts.push_back(start);
  }
  std::sort(starts.begin(), starts.end());
  EXPECT_THAT(starts, ElementsAre(0, 1, 2, 3, 4, 5, 6));
  EXPECT_EQ(s.FindPartitionStart(0, Profile("1g.5gb")), -1);
  EXPECT_EQ(s.gpu_free_milli()[0], 0);
  EXPECT_EQ(s.gpu_usage(0).partitions.size(), 7u);

  // Releasing the instance at slot 3 makes exactly that slot available again.
  ASSERT_TRUE(s.Release(Alloc(0, 0, {Part(0, "1g.5gb", 3)})).ok());
  EXPECT_EQ(s.FindPartitionStart(0, Profile("1g.5gb")), 3);
  EXPECT_EQ(s.FindPartitionStart(0, Profile("2g.10gb")), -1);
  EXPECT_EQ(s.gpu_free_milli()[0], 143);
}

TEST(MigTest, TenantsTrackedPerPartition) {
  Host h = MigHost();
  HostState s(&h);
  ASSERT_EQ(Place(s, 0, "4g.20gb", "t1"), 0);
  int start = Place(s, 0, "2g.10gb", "t2");
  ASSERT_GE(start, 0);
  EXPECT_THAT(s.gpu_usage(0).tenants, ElementsAre("t1", "t2"));
  ASSERT_TRUE(s.Release(Alloc(0, 0, {Part(0, "4g.20gb", 0)}, "t1")).ok());
  EXPECT_THAT(s.gpu_usage(0).tenants, ElementsAre("t2"));
  EXPECT_EQ(s.FindPartitionStart(0, Profile("4g.20gb")), 0);
}

// "4g+3x1g" -> {"4g.20gb", "1g.5gb", "1g.5gb", "1g.5gb"}.
std::vector<std::string> ParseGeometry(std::string_view text) {
  auto full_name = [](std::string_view g) -> std::string {
    if (g == "1g") return "1g.5gb";
    if (g == "2g") return "2g.10gb";
    if (g == "3g") return "3g.20gb";
    if (g == "4g") return "4g.20gb";
    if (g == "7g") return "7g.40gb";
    ADD_FAILURE() << "unknown profile " << g;
    return "";
  };
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t plus = text.find('+', pos);
    if (plus == std::string_view::npos) plus = text.size();
    std::string_view term = text.substr(pos, plus - pos);
    int times = 1;
    if (size_t x = term.find('x'); x != std::string_view::npos) {
      times = std::stoi(std::string(term.substr(0, x)));
      term = term.substr(x + 1);
    }
    for (int i = 0; i < times; ++i) out.push_back(full_name(term));
    pos = plus + 1;
  }
  return out;
}

TEST(MigTest, ParseGeometry) {
  EXPECT_THAT(ParseGeometry("7g"), ElementsAre("7g.40gb"));
  EXPECT_THAT(ParseGeometry("4g+3x1g"), ElementsAre("4g.20gb", "1g.5gb", "1g.5gb", "1g.5gb"));
}

// Valid A100-40GB geometries (nebuly-ai/nos known_configs.go, see reference/qos.md §4.1): each must
// be placeable greedily, larger profiles first, with the starts FindPartitionStart picks.
TEST(MigTest, KnownGeometriesPlaceGreedilyLargerFirst) {
  const std::vector<std::string> geometries = {
      "7g",      "4g+2g+1g",   "4g+3x1g", "2x3g",      "3g+2g+1g", "3g+3x1g",
      "3g+2x2g", "3g+2g+2x1g", "3x2g+1g", "2x2g+3x1g", "2g+5x1g",  "7x1g",
  };
  for (const std::string& geometry : geometries) {
    SCOPED_TRACE(geometry);
    std::vector<std::string> profiles = ParseGeometry(geometry);
    std::stable_sort(profiles.begin(), profiles.end(), [](const auto& a, const auto& b) {
      return Profile(a).compute_slices > Profile(b).compute_slices;
    });
    Host h = MigHost();
    HostState s(&h);
    int compute = 0;
    int memory = 0;
    bool placed_all = true;
    for (const std::string& p : profiles) {
      int start = Place(s, 0, p);
      if (start < 0) {
        ADD_FAILURE() << p << " does not fit after " << Snapshot(s);
        placed_all = false;
        break;
      }
      compute += Profile(p).compute_slices;
      memory += Profile(p).memory_slices;
    }
    if (!placed_all) continue;
    EXPECT_LE(compute, 7);
    EXPECT_LE(memory, 8);
    EXPECT_EQ(s.gpu_usage(0).partitions.size(), profiles.size());
    EXPECT_EQ(s.gpu_free_milli()[0], 1000 - 1000 * compute / 7);
    EXPECT_EQ(s.generation(), profiles.size());
  }
}

TEST(MigTest, ComputeSlicesLimitInstances) {
  // A geometry with more memory than compute slices: the compute budget is the binding limit.
  auto geometry = std::make_shared<PartitionGeometry>();
  geometry->name = "test-2c4m";
  geometry->compute_slices = 2;
  geometry->memory_slices = 4;
  geometry->profiles = {{"1c.1m", 1, 1, {0, 1, 2, 3}}};
  Host h = Host::MakeGpuHost("h", kCpu, kMem, 0, "");
  Device d = MigDevice("gpu0");
  d.geometry = geometry;
  h.devices.push_back(d);
  HostState s(&h);
  const PartitionProfile& p = geometry->profiles[0];
  ASSERT_GE(s.FindPartitionStart(0, p), 0);
  ASSERT_TRUE(ApplyNow(s, Alloc(0, 0, {Part(0, "1c.1m", 0)})).ok());
  ASSERT_TRUE(ApplyNow(s, Alloc(0, 0, {Part(0, "1c.1m", 1)})).ok());
  EXPECT_EQ(s.gpu_free_milli()[0], 0);
  EXPECT_EQ(s.FindPartitionStart(0, p), -1);
  const std::string before = Snapshot(s);
  Status st = ApplyNow(s, Alloc(0, 0, {Part(0, "1c.1m", 2)}));
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("compute"));
  EXPECT_EQ(Snapshot(s), before);
}

// ---- ClusterState ----

TEST(ClusterStateTest, EmptyCluster) {
  ClusterState c;
  c.Reset();
  EXPECT_TRUE(c.states.empty());
  EXPECT_EQ(c.GpuCapacityMilli(), 0);
  EXPECT_EQ(c.GpuUsedMilli(), 0);
}

TEST(ClusterStateTest, AddHostKeepsEveryOtherStateAcrossReallocations) {
  ClusterState c;
  c.AddHost(Host::MakeGpuHost("h0", 32000, 65536, 2, "T4"));
  ASSERT_TRUE(ApplyNow(c.states[0], Alloc(1000, 1024, {Share(1, 300)})).ok());
  // Enough hosts that the vector reallocates several times.
  for (int i = 1; i < 300; ++i) {
    c.AddHost(Host::MakeGpuHost("h" + std::to_string(i), 32000, 65536, 2, "T4"));
    ASSERT_EQ(c.states.size(), c.hosts.size());
  }
  for (size_t i = 0; i < c.hosts.size(); ++i) {
    ASSERT_EQ(&c.states[i].host(), &c.hosts[i]) << i;
    EXPECT_EQ(c.states[i].gpu_count(), 2) << i;
  }
  // The first host kept its allocation and generation; the state still reads its own host.
  EXPECT_EQ(c.states[0].generation(), 1u);
  EXPECT_EQ(c.states[0].gpu_free_milli(), (std::vector<int32_t>{1000, 700}));
  EXPECT_EQ(c.states[0].host().id, "h0");
  EXPECT_EQ(c.states[299].generation(), 0u);
  EXPECT_EQ(c.GpuUsedMilli(), 300);
  EXPECT_EQ(c.GpuCapacityMilli(), 300 * 2000);
  ASSERT_TRUE(c.states[0].Release(Alloc(1000, 1024, {Share(1, 300)})).ok());
  EXPECT_EQ(c.GpuUsedMilli(), 0);
}

TEST(ClusterStateTest, ResetCapacityAndUsed) {
  ClusterState c;
  c.hosts = {Host::MakeGpuHost("a", 32000, 65536, 2, "T4"),
             Host::MakeGpuHost("b", 96000, 786432, 8, "V100M32"),
             Host::MakeGpuHost("c", 16000, 32768, 0, "")};
  c.Reset();
  ASSERT_EQ(c.states.size(), 3u);
  for (size_t i = 0; i < c.hosts.size(); ++i) EXPECT_EQ(&c.states[i].host(), &c.hosts[i]);
  EXPECT_EQ(c.states[1].gpu_model(), "V100M32");
  EXPECT_EQ(c.GpuCapacityMilli(), 10000);
  EXPECT_EQ(c.GpuUsedMilli(), 0);

  ASSERT_TRUE(ApplyNow(c.states[0], Alloc(1000, 1024, {Share(1, 300)})).ok());
  ASSERT_TRUE(ApplyNow(c.states[1], Alloc(8000, 8192, {Whole(2), Whole(5)})).ok());
  ASSERT_TRUE(ApplyNow(c.states[2], Alloc(8000, 8192, {})).ok());
  EXPECT_EQ(c.GpuUsedMilli(), 2300);
  EXPECT_EQ(c.GpuCapacityMilli(), 10000);

  c.Reset();
  EXPECT_EQ(c.GpuUsedMilli(), 0);
  for (const HostState& s : c.states) {
    EXPECT_EQ(s.generation(), 0u);
    EXPECT_EQ(s.cpu_free_milli(), s.cpu_capacity_milli());
  }

  // Reset after changing hosts picks up the new host list.
  c.hosts.push_back(MigHost());
  c.Reset();
  ASSERT_EQ(c.states.size(), 4u);
  EXPECT_EQ(&c.states[3].host(), &c.hosts[3]);
  EXPECT_EQ(c.GpuCapacityMilli(), 11000);
  ASSERT_TRUE(ApplyNow(c.states[3], Alloc(0, 0, {Part(0, "3g.20gb", 4)})).ok());
  EXPECT_EQ(c.GpuUsedMilli(), 428);
}

}  // namespace
}  // namespace devshare
