// The one mapping of a VM's CPU QoS (cpu_weight, cpu_cap_pct) to cgroup v1, cgroup v2, libvirt
// <cputune> and Xen-credit values, shared by the host agent and the simulator (docs/qos.md §6).
// Thread-safety: pure functions.
#ifndef DEVSHARE_QOS_CPU_QOS_MAPPING_H_
#define DEVSHARE_QOS_CPU_QOS_MAPPING_H_

#include <cstdint>
#include <string>

#include "devshare/core/result.h"

namespace devshare::qos {

inline constexpr int64_t kDefaultCpuWeight = 100;  // cgroup v2's default cpu.weight
inline constexpr int64_t kCfsPeriodUs = 100000;    // the kernel's default CFS period, 100 ms

// A VM's CPU QoS as the control plane stores it.
struct VmCpuQos {
  int64_t vcpus = 1;                       // >= 1
  int64_t cpu_weight = kDefaultCpuWeight;  // 1..10000, relative share under contention
  int64_t cpu_cap_pct = 0;                 // 0 = uncapped; 1..100 = % of one host CPU per vCPU
};

// Which cgroup hierarchy the host runs; libvirt passes <shares> through unchanged, so its value
// depends on it.
enum class CgroupVersion { kV1, kV2 };

struct CpuQosSettings {
  // cgroup v1, the VM's cgroup: cpu.shares = weight * 1024 / 100 (weight 100 = the default 1024;
  // range 2..262144), and a cap over all vCPUs: quota = pct * vcpus * period / 100; -1 = none.
  int64_t v1_cpu_shares = 1024;
  int64_t v1_cfs_period_us = kCfsPeriodUs;
  int64_t v1_cfs_quota_us = -1;
  // cgroup v2, the VM's cgroup: cpu.weight = weight (same 1..10000 scale, default 100), and
  // cpu.max = "QUOTA PERIOD" with the same VM-wide quota, or "max PERIOD".
  int64_t v2_cpu_weight = kDefaultCpuWeight;
  std::string v2_cpu_max = "max 100000";
  // libvirt <cputune>: <shares> is written to cpu.shares (v1) or cpu.weight (v2) as is, so it is
  // the v1 or v2 value for the host's hierarchy; <period>/<quota> apply to *each* vcpuN cgroup,
  // so the quota is per vCPU: pct * period / 100; -1 = no <quota>.
  int64_t libvirt_shares = 1024;
  int64_t libvirt_period_us = kCfsPeriodUs;
  int64_t libvirt_quota_us = -1;
  // Xen credit (the credit simulator): weight on Xen's 256-default scale, cap in % of one pCPU
  // for the whole domain (pct * vcpus); 0 = uncapped.
  int64_t xen_weight = 256;
  int64_t xen_cap_pct = 0;
};

// InvalidArgument naming the field when vcpus < 1, cpu_weight outside 1..10000 or cpu_cap_pct
// outside 0..100.
Result<CpuQosSettings> MapVmCpuQos(const VmCpuQos& qos, CgroupVersion host_cgroup);

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_CPU_QOS_MAPPING_H_
