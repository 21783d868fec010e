// MapVmCpuQos: table of VM QoS -> cgroup v1 / v2 / libvirt / Xen values, and the range checks.
#include "devshare/qos/cpu_qos_mapping.h"

#include <gtest/gtest.h>

namespace devshare::qos {
namespace {

struct Case {
  const char* name;
  VmCpuQos qos;
  CgroupVersion host;
  CpuQosSettings want;
};

TEST(CpuQosMapping, Table) {
  const std::vector<Case> cases = {
      {"defaults, v2 host",
       {1, 100, 0},
       CgroupVersion::kV2,
       {1024, 100000, -1, 100, "max 100000", 100, 100000, -1, 256, 0}},
      {"defaults, v1 host",
       {1, 100, 0},
       CgroupVersion::kV1,
       {1024, 100000, -1, 100, "max 100000", 1024, 100000, -1, 256, 0}},
      {"weight 300, 4 vCPUs capped at 50 %",
       {4, 300, 50},
       CgroupVersion::kV2,
       {3072, 100000, 200000, 300, "200000 100000", 300, 100000, 50000, 768, 200}},
      {"minimum weight and cap",
       {1, 1, 1},
       CgroupVersion::kV1,
       {10, 100000, 1000, 1, "1000 100000", 10, 100000, 1000, 2, 1}},
      {"maximum weight, cap 100",
       {2, 10000, 100},
       CgroupVersion::kV1,
       {102400, 100000, 200000, 10000, "200000 100000", 102400, 100000, 100000, 25600, 200}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto got = MapVmCpuQos(c.qos, c.host);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(c.want.v1_cpu_shares, got->v1_cpu_shares);
    EXPECT_EQ(c.want.v1_cfs_period_us, got->v1_cfs_period_us);
    EXPECT_EQ(c.want.v1_cfs_quota_us, got->v1_cfs_quota_us);
    EXPECT_EQ(c.want.v2_cpu_weight, got->v2_cpu_weight);
    EXPECT_EQ(c.want.v2_cpu_max, got->v2_cpu_max);
    EXPECT_EQ(c.want.libvirt_shares, got->libvirt_shares);
    EXPECT_EQ(c.want.libvirt_period_us, got->libvirt_period_us);
    EXPECT_EQ(c.want.libvirt_quota_us, got->libvirt_quota_us);
    EXPECT_EQ(c.want.xen_weight, got->xen_weight);
    EXPECT_EQ(c.want.xen_cap_pct, got->xen_cap_pct);
  }
}

// The kernel rejects quotas and periods below 1 ms and cpu.shares below 2 (reference qos.md
// §2.4, §3.1); every valid input must stay inside those ranges.
TEST(CpuQosMapping, EveryValidInputIsAcceptedByTheKernelRanges) {
  for (int64_t w = 1; w <= 10000; w += 37) {
    for (int64_t cap : {0, 1, 2, 33, 99, 100}) {
      auto s = MapVmCpuQos({3, w, cap}, CgroupVersion::kV1);
      ASSERT_TRUE(s.ok());
      EXPECT_GE(s->v1_cpu_shares, 2);
      EXPECT_LE(s->v1_cpu_shares, 262144);
      EXPECT_GE(s->v2_cpu_weight, 1);
      EXPECT_LE(s->v2_cpu_weight, 10000);
      if (cap > 0) {
        EXPECT_GE(s->libvirt_quota_us, 1000);
        EXPECT_EQ(s->v1_cfs_quota_us, 3 * s->libvirt_quota_us);
      }
    }
  }
}

TEST(CpuQosMapping, OutOfRangeNamesTheField) {
  struct Bad {
    VmCpuQos qos;
    const char* field;
  };
  for (const Bad& b : {Bad{{1, 0, 0}, "cpu_weight"}, Bad{{1, 10001, 0}, "cpu_weight"},
                       Bad{{1, 100, 101}, "cpu_cap_pct"}, Bad{{1, 100, -1}, "cpu_cap_pct"},
                       Bad{{0, 100, 0}, "vcpus"}}) {
    auto s = MapVmCpuQos(b.qos, CgroupVersion::kV2);
    ASSERT_FALSE(s.ok()) << b.field;
    EXPECT_TRUE(s.status().IsInvalidArgument());
    EXPECT_EQ(0u, s.status().message().rfind(b.field, 0)) << s.status().message();
  }
}

}  // namespace
}  // namespace devshare::qos
