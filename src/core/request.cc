// Request validation.
#include "devshare/core/request.h"

#include <algorithm>

namespace devshare {

bool GpuRequest::AcceptsModel(const std::string& model) const {
  return models.empty() || std::find(models.begin(), models.end(), model) != models.end();
}

bool IsStorageTier(const std::string& tier) {
  for (const char* t : kStorageTiers) {
    if (tier == t) return true;
  }
  return false;
}

namespace {

Status ValidateNicsAndVolumes(const VmRequest& r) {
  for (size_t i = 0; i < r.nics.size(); ++i) {
    const NicRequest& n = r.nics[i];
    const std::string f = "nics[" + std::to_string(i) + "]";
    if (n.network.empty()) return Status::InvalidArgument(f + ".network: empty");
    if (n.bandwidth_min_mbps < 0) {
      return Status::InvalidArgument(f + ".bandwidth_mbps.min: negative");
    }
    if (n.bandwidth_max_mbps < 0) {
      return Status::InvalidArgument(f + ".bandwidth_mbps.max: negative");
    }
    if (n.bandwidth_max_mbps > 0 && n.bandwidth_min_mbps > n.bandwidth_max_mbps) {
      return Status::InvalidArgument(
          f + ".bandwidth_mbps.min: " + std::to_string(n.bandwidth_min_mbps) + " > max " +
          std::to_string(n.bandwidth_max_mbps));
    }
  }
  for (size_t i = 0; i < r.volumes.size(); ++i) {
    const VolumeRequest& v = r.volumes[i];
    const std::string f = "volumes[" + std::to_string(i) + "]";
    if (v.name.empty()) return Status::InvalidArgument(f + ".name: empty");
    for (size_t j = 0; j < i; ++j) {
      if (r.volumes[j].name == v.name) {
        return Status::InvalidArgument(f + ".name: '" + v.name + "' is used twice");
      }
    }
    if (v.size_gib <= 0) {
      return Status::InvalidArgument(f + ".size_gib: " + std::to_string(v.size_gib) + " <= 0");
    }
    if (!IsStorageTier(v.tier)) {
      return Status::InvalidArgument(f + ".tier: unknown tier '" + v.tier +
                                     "' (known: nvme, ssd, hdd)");
    }
    if (v.iops_reservation < 0) {
      return Status::InvalidArgument(f + ".iops.reservation: negative");
    }
    if (v.iops_weight < 1) return Status::InvalidArgument(f + ".iops.weight: < 1");
    if (v.iops_limit < 0) return Status::InvalidArgument(f + ".iops.limit: negative");
    if (v.iops_limit > 0 && v.iops_reservation > v.iops_limit) {
      return Status::InvalidArgument(f +
                                     ".iops.reservation: " + std::to_string(v.iops_reservation) +
                                     " > limit " + std::to_string(v.iops_limit));
    }
  }
  return Status::Ok();
}

Status ValidateGpu(const VmRequest& r) {
  const std::string who = "request " + r.id;
  const GpuRequest& gpu = r.gpu;
  if (gpu.count < 0) return Status::InvalidArgument(who + ": gpu count < 0");
  if (gpu.memory_mib < 0) {
    return Status::InvalidArgument(who + ": gpu.memory_mib " + std::to_string(gpu.memory_mib) +
                                   " < 0");
  }
  if (gpu.count == 0) {
    if (gpu.milli != 0 || !gpu.profile.empty() || !gpu.vgpu.empty() || gpu.memory_mib != 0) {
      return Status::InvalidArgument(who +
                                     ": gpu milli/profile/vgpu/memory_mib given with gpu count 0");
    }
    return Status::Ok();
  }
  if (!gpu.profile.empty()) {
    if (gpu.count != 1) return Status::InvalidArgument(who + ": a partition profile needs count 1");
    if (!gpu.vgpu.empty()) {
      return Status::InvalidArgument(who + ": gpu.vgpu: give a partition profile or a vGPU one");
    }
    if (gpu.memory_mib != 0) {
      return Status::InvalidArgument(who + ": gpu.memory_mib: a partition's memory is its " +
                                     "profile's (" + gpu.profile + ")");
    }
    return Status::Ok();
  }
  if (!gpu.vgpu.empty()) {
    Result<int64_t> mib = ParseVgpuProfile(gpu.vgpu);
    if (!mib.ok()) return Status::InvalidArgument(who + ": gpu.vgpu: " + mib.status().message());
    if (gpu.count != 1 || gpu.milli != 0 || gpu.memory_mib != *mib) {
      return Status::InvalidArgument(who + ": gpu.vgpu " + gpu.vgpu +
                                     " is one GPU (count 1) with milli 0 and memory_mib " +
                                     std::to_string(*mib));
    }
    return Status::Ok();
  }
  if (gpu.milli <= 0 || gpu.milli > kMilliPerDevice) {
    return Status::InvalidArgument(who + ": gpu milli " + std::to_string(gpu.milli) +
                                   " outside 1..1000");
  }
  if (gpu.count > 1 && gpu.milli != kMilliPerDevice) {
    return Status::InvalidArgument(who + ": " + std::to_string(gpu.count) + " GPUs of " +
                                   std::to_string(gpu.milli) +
                                   " milli: multi-GPU requests must take whole GPUs");
  }
  return Status::Ok();
}

}  // namespace

Status VmRequest::Validate() const {
  const std::string who = "request " + id;
  if (cpu_milli < 0) return Status::InvalidArgument(who + ": cpu_milli < 0");
  if (memory_mib < 0) return Status::InvalidArgument(who + ": memory_mib < 0");
  DS_RETURN_IF_ERROR(ValidateGpu(*this));
  if (nics.empty() && volumes.empty()) return Status::Ok();
  return ValidateNicsAndVolumes(*this);
}

}  // namespace devshare
