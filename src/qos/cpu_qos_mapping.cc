// MapVmCpuQos: cpu_weight / cpu_cap_pct -> cgroup v1, cgroup v2, libvirt and Xen values.
#include "devshare/qos/cpu_qos_mapping.h"

#include <algorithm>

namespace devshare::qos {

Result<CpuQosSettings> MapVmCpuQos(const VmCpuQos& qos, CgroupVersion host_cgroup) {
  if (qos.vcpus < 1 || qos.vcpus > 4096) {
    return Status::InvalidArgument("vcpus: " + std::to_string(qos.vcpus) + " is outside 1..4096");
  }
  if (qos.cpu_weight < 1 || qos.cpu_weight > 10000) {
    return Status::InvalidArgument("cpu_weight: " + std::to_string(qos.cpu_weight) +
                                   " is outside 1..10000");
  }
  if (qos.cpu_cap_pct < 0 || qos.cpu_cap_pct > 100) {
    return Status::InvalidArgument("cpu_cap_pct: " + std::to_string(qos.cpu_cap_pct) +
                                   " is outside 0..100 (0 = uncapped)");
  }
  CpuQosSettings s;
  // cgroup v1 shares: the kernel's nice-0 weight 1024 corresponds to cpu.weight 100, the same
  // factor the kernel applies to v2 weights (weight * 1024 / 100). Minimum 2.
  s.v1_cpu_shares = std::max<int64_t>(2, qos.cpu_weight * 1024 / 100);
  s.v2_cpu_weight = qos.cpu_weight;
  s.libvirt_shares = host_cgroup == CgroupVersion::kV2 ? s.v2_cpu_weight : s.v1_cpu_shares;
  // Xen's default weight is 256 where ours is 100.
  s.xen_weight = std::clamp<int64_t>(qos.cpu_weight * 256 / 100, 1, 65535);
  if (qos.cpu_cap_pct > 0) {
    const int64_t per_vcpu_quota_us = qos.cpu_cap_pct * kCfsPeriodUs / 100;  // >= 1000 us
    const int64_t vm_quota_us = per_vcpu_quota_us * qos.vcpus;
    s.v1_cfs_quota_us = vm_quota_us;
    s.v2_cpu_max = std::to_string(vm_quota_us) + " " + std::to_string(kCfsPeriodUs);
    s.libvirt_quota_us = per_vcpu_quota_us;
    s.xen_cap_pct = qos.cpu_cap_pct * qos.vcpus;
  }
  return s;
}

}  // namespace devshare::qos
