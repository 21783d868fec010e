// HostState bookkeeping: capacity checks, whole-vs-shared exclusivity, MIG interval packing,
// GPU memory and the one-vGPU-profile-per-GPU rule.
#include "devshare/core/host_state.h"

#include <algorithm>

namespace devshare {
namespace {

int64_t DeviceCapacityMilli(const Device& d) { return d.inventory.Capacity(); }

bool Overlaps(const PartitionInstance& p, int start, int size) {
  return start < p.start + p.memory_slices && p.start < start + size;
}

}  // namespace

int64_t PartitionMemoryMib(const Device& d, const PartitionProfile& p) {
  if (d.memory_mib > 0 && d.geometry != nullptr && d.geometry->memory_slices > 0) {
    return d.memory_mib * p.memory_slices / d.geometry->memory_slices;
  }
  return p.memory_mib;
}

HostState::HostState(const Host* host)
    : host_(host),
      cpu_capacity_milli_(host->cpu_milli.Capacity()),
      memory_capacity_mib_(host->memory_mib.Capacity()) {
  gpu_index_ = host->GpuDeviceIndices();
  gpu_free_.resize(gpu_index_.size());
  gpu_usage_.resize(gpu_index_.size());
  for (size_t g = 0; g < gpu_index_.size(); ++g) {
    const Device& d = host->devices[gpu_index_[g]];
    gpu_free_[g] = static_cast<int32_t>(DeviceCapacityMilli(d));
    gpu_free_total_ += gpu_free_[g];
  }
  gpu_capacity_total_ = gpu_free_total_;
  if (!gpu_index_.empty()) gpu_model_ = host->devices[gpu_index_[0]].model;
  for (int idx : gpu_index_) {
    const Device& d = host->devices[idx];
    uniform_fractional_ = uniform_fractional_ && d.mode == SharingMode::kFractional &&
                          d.model == gpu_model_ && d.inventory.Capacity() == kMilliPerDevice;
  }
  for (size_t i = 0; i < host->devices.size(); ++i) {
    const Device& d = host->devices[i];
    if (d.kind != DeviceKind::kNic && d.kind != DeviceKind::kDisk) continue;
    if (slot_of_.empty()) slot_of_.assign(host->devices.size(), -1);
    slot_of_[i] = static_cast<int>(usage_.size());
    unit_devices_.push_back(static_cast<int>(i));
    DeviceUsage u;
    if (d.kind == DeviceKind::kNic) u.units_taken.assign(d.inventory.Capacity(), false);
    usage_.push_back(std::move(u));
  }
  RefreshSummaries();
}

int HostState::FirstFreeUnit(int device) const {
  const DeviceUsage& u = device_usage(device);
  if (u.whole) return -1;
  for (size_t i = 0; i < u.units_taken.size(); ++i) {
    if (!u.units_taken[i]) return static_cast<int>(i);
  }
  return -1;
}

namespace {

const char* UnitName(DeviceKind k) { return k == DeviceKind::kNic ? "VF" : "GiB"; }
const char* RateName(DeviceKind k) { return k == DeviceKind::kNic ? "Mbps" : "IOPS"; }

}  // namespace

Status HostState::CheckUnitSlices(const Allocation& a) const {
  const size_t n = a.nics.size() + a.volumes.size();
  auto slice = [&](size_t i) -> const DeviceSlice& {
    return i < a.nics.size() ? a.nics[i] : a.volumes[i - a.nics.size()];
  };
  for (size_t i = 0; i < n; ++i) {
    const DeviceSlice& s = slice(i);
    const DeviceKind want = i < a.nics.size() ? DeviceKind::kNic : DeviceKind::kDisk;
    if (s.device < 0 || s.device >= static_cast<int>(host_->devices.size()) ||
        host_->devices[s.device].kind != want || s.kind != want) {
      return Status::InvalidArgument("host " + host_->id + ": slice " + s.device_id + " names no " +
                                     std::string(DeviceKindName(want)) + " (device index " +
                                     std::to_string(s.device) + ")");
    }
    const Device& d = host_->devices[s.device];
    const DeviceUsage& u = device_usage(s.device);
    const std::string where = "host " + host_->id + " " + d.id;
    if (s.units < 0 || s.rate < 0) {
      return Status::InvalidArgument(where + ": negative amount in allocation " + a.request_id);
    }
    if (u.whole) return Status::ResourceExhausted(where + " is held whole");
    int64_t units = s.units, rate = s.rate;
    bool whole = s.whole;
    for (size_t j = 0; j < i; ++j) {
      const DeviceSlice& o = slice(j);
      if (o.device != s.device) continue;
      if (o.whole || s.whole) {
        return Status::InvalidArgument("allocation names " + d.id + " whole and again");
      }
      if (s.unit_index >= 0 && o.unit_index == s.unit_index) {
        return Status::InvalidArgument("allocation names " + d.id + " VF " +
                                       std::to_string(s.unit_index) + " twice");
      }
      units += o.units;
      rate += o.rate;
    }
    if (whole) {
      if (u.shares > 0) {
        return Status::FailedPrecondition(where + " is shared; cannot take it whole");
      }
      continue;
    }
    if (d.mode == SharingMode::kExclusive) {
      return Status::FailedPrecondition(where + " is exclusive; only whole use is allowed");
    }
    if (units > d.inventory.Capacity() - u.used_units) {
      return Status::ResourceExhausted(where + ": requested " + std::to_string(units) + " " +
                                       UnitName(d.kind) + ", free " +
                                       std::to_string(d.inventory.Capacity() - u.used_units));
    }
    if (s.unit_index >= 0 &&
        (s.unit_index >= static_cast<int>(u.units_taken.size()) || u.units_taken[s.unit_index])) {
      return Status::ResourceExhausted(where + ": VF " + std::to_string(s.unit_index) +
                                       " is taken or absent");
    }
    if (rate > d.rate_capacity - u.used_rate) {
      return Status::ResourceExhausted(where + ": requested " + std::to_string(rate) + " " +
                                       RateName(d.kind) + " guaranteed, free " +
                                       std::to_string(d.rate_capacity - u.used_rate));
    }
  }
  return Status::Ok();
}

void HostState::ApplyUnitSlice(const DeviceSlice& s) {
  const Device& d = host_->devices[s.device];
  DeviceUsage& u = usage_[slot_of_[s.device]];
  if (s.whole) {
    u.whole = true;
    u.used_units = d.inventory.Capacity();
    u.used_rate = d.rate_capacity;
    return;
  }
  u.shares++;
  u.used_units += s.units;
  u.used_rate += s.rate;
  if (s.unit_index >= 0) u.units_taken[s.unit_index] = true;
}

Status HostState::CheckUnitRelease(const DeviceSlice& s, const std::string& request_id) const {
  bool held = s.device >= 0 && s.device < static_cast<int>(host_->devices.size()) &&
              !slot_of_.empty() && slot_of_[s.device] >= 0;
  if (held) {
    const DeviceUsage& u = device_usage(s.device);
    held = s.whole
               ? u.whole
               : !u.whole && u.shares > 0 && u.used_units >= s.units && u.used_rate >= s.rate &&
                     (s.unit_index < 0 || (s.unit_index < static_cast<int>(u.units_taken.size()) &&
                                           u.units_taken[s.unit_index]));
  }
  if (!held) {
    return Status::FailedPrecondition("host " + host_->id + ": release of " + request_id +
                                      " does not match device " + s.device_id);
  }
  return Status::Ok();
}

void HostState::ReleaseUnitSlice(const DeviceSlice& s) {
  DeviceUsage& u = usage_[slot_of_[s.device]];
  if (s.whole) {
    const std::vector<bool> none(u.units_taken.size(), false);
    u = DeviceUsage{};
    u.units_taken = none;
    return;
  }
  u.shares--;
  u.used_units -= s.units;
  u.used_rate -= s.rate;
  if (s.unit_index >= 0) u.units_taken[s.unit_index] = false;
}

void HostState::RefreshSummaries() {
  max_gpu_free_ = 0;
  fully_free_gpus_ = 0;
  for (size_t g = 0; g < gpu_free_.size(); ++g) {
    max_gpu_free_ = std::max(max_gpu_free_, gpu_free_[g]);
    fully_free_gpus_ += gpu_usage_[g].used_milli == 0 ? 1 : 0;
  }
}

int HostState::FindPartitionStart(int g, const PartitionProfile& profile) const {
  const Device& d = gpu_device(g);
  const GpuUsage& u = gpu_usage_[g];
  if (d.mode != SharingMode::kPartitioned || d.geometry == nullptr || u.whole) return -1;
  int compute_used = 0;
  for (const PartitionInstance& p : u.partitions) compute_used += p.compute_slices;
  if (compute_used + profile.compute_slices > d.geometry->compute_slices) return -1;
  // Highest free start first: 4g and 7g can only start at slot 0 and 2g not at 6, so filling from
  // the top keeps larger profiles placeable (3g at 4 leaves 0-3 for 2x2g; 3g at 0 strands 6-7).
  for (auto it = profile.starts.rbegin(); it != profile.starts.rend(); ++it) {
    const int start = *it;
    if (start + profile.memory_slices > d.geometry->memory_slices) continue;
    bool free = std::none_of(
        u.partitions.begin(), u.partitions.end(),
        [&](const PartitionInstance& p) { return Overlaps(p, start, profile.memory_slices); });
    if (free) return start;
  }
  return -1;
}

GpuMemoryFit HostState::VgpuFit(int g, int64_t memory_mib, const std::string& vgpu) const {
  const Device& d = gpu_device(g);
  const GpuUsage& u = gpu_usage_[g];
  if (vgpu.empty()) return u.vgpu_shares > 0 ? GpuMemoryFit::kVgpuMixed : GpuMemoryFit::kFits;
  if (d.mode != SharingMode::kTimeSliced) return GpuMemoryFit::kVgpuNeedsTimeSliced;
  if (!GpuOffersVgpu(d.memory_mib, memory_mib)) return GpuMemoryFit::kVgpuNotOffered;
  // Reference §4.2: all time-sliced vGPUs on one GPU are of one type unless the GPU supports
  // heterogeneous sizes; free-size shares are another mechanism and never mix with vGPUs.
  if (u.shares > u.vgpu_shares) return GpuMemoryFit::kVgpuMixed;
  if (u.vgpu_shares > 0 && u.vgpu != vgpu && !d.vgpu_mixed_sizes) return GpuMemoryFit::kVgpuMixed;
  return GpuMemoryFit::kFits;
}

Status HostState::CheckSlice(const DeviceSlice& s) const {
  if (s.gpu < 0 || s.gpu >= gpu_count()) {
    return Status::InvalidArgument("host " + host_->id + ": no GPU ordinal " +
                                   std::to_string(s.gpu));
  }
  const Device& d = gpu_device(s.gpu);
  const GpuUsage& u = gpu_usage_[s.gpu];
  const std::string where = "host " + host_->id + " " + d.id;
  if (u.whole) return Status::ResourceExhausted(where + " is held whole");
  if (s.whole) {
    if (u.shares > 0 || !u.partitions.empty()) {
      return Status::FailedPrecondition(where + " is shared; cannot take it whole");
    }
    return Status::Ok();
  }
  if (d.mode == SharingMode::kExclusive) {
    return Status::FailedPrecondition(where + " is exclusive; only whole use is allowed");
  }
  if (d.mode == SharingMode::kPartitioned) {
    const PartitionProfile* p = d.geometry->Find(s.profile);
    if (p == nullptr) {
      return Status::InvalidArgument(where + ": unknown partition profile '" + s.profile + "'");
    }
    if (std::find(p->starts.begin(), p->starts.end(), s.start_slot) == p->starts.end()) {
      return Status::InvalidArgument(where + ": profile " + s.profile + " cannot start at slot " +
                                     std::to_string(s.start_slot));
    }
    int compute_used = 0;
    for (const PartitionInstance& q : u.partitions) {
      compute_used += q.compute_slices;
      if (Overlaps(q, s.start_slot, p->memory_slices)) {
        return Status::ResourceExhausted(where + ": memory slices of " + s.profile + "@" +
                                         std::to_string(s.start_slot) + " are taken");
      }
    }
    if (compute_used + p->compute_slices > d.geometry->compute_slices) {
      return Status::ResourceExhausted(where + ": not enough compute slices for " + s.profile);
    }
    return Status::Ok();
  }
  if (s.milli <= 0 || s.milli > gpu_free_[s.gpu]) {
    return Status::ResourceExhausted(where + ": requested " + std::to_string(s.milli) +
                                     " milli, free " + std::to_string(gpu_free_[s.gpu]));
  }
  if (s.memory_mib < 0) {
    return Status::InvalidArgument(where + ": negative GPU memory_mib in a slice");
  }
  if (!s.vgpu.empty()) {
    Result<int64_t> mib = ParseVgpuProfile(s.vgpu);
    if (!mib.ok() || *mib != s.memory_mib) {
      return Status::InvalidArgument(where + ": vGPU slice " + s.vgpu + " with memory_mib " +
                                     std::to_string(s.memory_mib));
    }
  }
  switch (GpuShareMemoryFit(s.gpu, s.memory_mib, s.vgpu)) {
    case GpuMemoryFit::kFits:
      return Status::Ok();
    case GpuMemoryFit::kMemoryFull:
      return Status::ResourceExhausted(
          where + ": requested " + std::to_string(s.memory_mib) + " MiB GPU memory, free " +
          std::to_string(gpu_free_memory_mib(s.gpu)) + " of " + std::to_string(d.memory_mib));
    case GpuMemoryFit::kVgpuNotOffered: {
      const std::string offered = VgpuProfilesOffered(d.memory_mib);
      return Status::InvalidArgument(where + " (" + std::to_string(d.memory_mib) +
                                     " MiB) offers no vGPU profile " + s.vgpu +
                                     " (offers: " + (offered.empty() ? "none" : offered) + ")");
    }
    case GpuMemoryFit::kVgpuNeedsTimeSliced:
      return Status::FailedPrecondition(where + " is not time-sliced: vGPU profile " + s.vgpu +
                                        " needs a time_sliced GPU");
    case GpuMemoryFit::kVgpuMixed:
      return Status::FailedPrecondition(
          where + " holds " + (u.vgpu_shares > 0 ? "vGPU profile " + u.vgpu : "free-size shares") +
          ": all vGPUs on one GPU are of one profile (asked " +
          (s.vgpu.empty() ? "a free-size share" : s.vgpu) + ")");
  }
  return Status::Ok();
}

Status HostState::Apply(const Allocation& a) {
  if (a.generation != generation_) {
    return Status::Aborted("host " + host_->id + ": generation " + std::to_string(a.generation) +
                           " is stale (now " + std::to_string(generation_) + ")");
  }
  return ApplyUnchecked(a);
}

Status HostState::ApplyUnchecked(const Allocation& a) {
  if (a.cpu_milli < 0 || a.memory_mib < 0) {
    return Status::InvalidArgument("allocation " + a.request_id +
                                   ": negative cpu_milli or memory_mib");
  }
  if (a.cpu_milli > cpu_free_milli()) {
    return Status::ResourceExhausted("host " + host_->id + ": requested " +
                                     std::to_string(a.cpu_milli) + " cpu milli, free " +
                                     std::to_string(cpu_free_milli()));
  }
  if (a.memory_mib > memory_free_mib()) {
    return Status::ResourceExhausted("host " + host_->id + ": requested " +
                                     std::to_string(a.memory_mib) + " MiB memory, free " +
                                     std::to_string(memory_free_mib()));
  }
  for (size_t i = 0; i < a.gpus.size(); ++i) {
    DS_RETURN_IF_ERROR(CheckSlice(a.gpus[i]));
    for (size_t j = 0; j < i; ++j) {
      if (a.gpus[j].gpu == a.gpus[i].gpu) {
        return Status::InvalidArgument("allocation names GPU " + std::to_string(a.gpus[i].gpu) +
                                       " twice");
      }
    }
  }
  if (!a.nics.empty() || !a.volumes.empty()) DS_RETURN_IF_ERROR(CheckUnitSlices(a));
  cpu_used_milli_ += a.cpu_milli;
  memory_used_mib_ += a.memory_mib;
  for (const DeviceSlice& s : a.nics) ApplyUnitSlice(s);
  for (const DeviceSlice& s : a.volumes) ApplyUnitSlice(s);
  for (const DeviceSlice& s : a.gpus) {
    GpuUsage& u = gpu_usage_[s.gpu];
    const Device& d = gpu_device(s.gpu);
    int32_t before = gpu_free_[s.gpu];
    if (s.whole) {
      u.whole = true;
      u.used_milli = DeviceCapacityMilli(d);
      u.used_memory_mib = d.memory_mib;
      gpu_free_[s.gpu] = 0;
    } else if (d.mode == SharingMode::kPartitioned) {
      const PartitionProfile* p = d.geometry->Find(s.profile);
      u.partitions.push_back({s.start_slot, p->memory_slices, p->compute_slices});
      u.used_memory_mib += PartitionMemoryMib(d, *p);
      int compute_used = 0;
      for (const PartitionInstance& q : u.partitions) compute_used += q.compute_slices;
      u.used_milli = kMilliPerDevice * compute_used / d.geometry->compute_slices;
      gpu_free_[s.gpu] = static_cast<int32_t>(kMilliPerDevice - u.used_milli);
      if (!a.tenant.empty()) u.tenants.push_back(a.tenant);
    } else {
      u.shares++;
      u.used_milli += s.milli;
      u.used_memory_mib += s.memory_mib;
      if (!s.vgpu.empty()) {
        if (u.vgpu_shares++ == 0) u.vgpu = s.vgpu;
      }
      gpu_free_[s.gpu] -= static_cast<int32_t>(s.milli);
      if (!a.tenant.empty()) u.tenants.push_back(a.tenant);
    }
    gpu_free_total_ += gpu_free_[s.gpu] - before;
  }
  RefreshSummaries();
  ++generation_;
  return Status::Ok();
}

Status HostState::Release(const Allocation& a) {
  if (a.cpu_milli > cpu_used_milli_ || a.memory_mib > memory_used_mib_) {
    return Status::FailedPrecondition("host " + host_->id + ": release of " + a.request_id +
                                      " exceeds what is in use");
  }
  for (const DeviceSlice& s : a.gpus) {
    if (s.gpu < 0 || s.gpu >= gpu_count()) {
      return Status::InvalidArgument("release names unknown GPU " + std::to_string(s.gpu));
    }
    const GpuUsage& u = gpu_usage_[s.gpu];
    const Device& d = gpu_device(s.gpu);
    bool held;
    if (s.whole) {
      held = u.whole;
    } else if (d.mode == SharingMode::kPartitioned) {
      // A partition is identified by its slot and profile; its recorded milli is informational.
      const PartitionProfile* p = d.geometry->Find(s.profile);
      held = !u.whole && p != nullptr &&
             std::any_of(u.partitions.begin(), u.partitions.end(), [&](const PartitionInstance& q) {
               return q.start == s.start_slot && q.memory_slices == p->memory_slices &&
                      q.compute_slices == p->compute_slices;
             });
    } else {
      held = !u.whole && u.shares > 0 && u.used_milli >= s.milli &&
             u.used_memory_mib >= s.memory_mib && (s.vgpu.empty() || u.vgpu_shares > 0);
    }
    if (!held) {
      return Status::FailedPrecondition("host " + host_->id + ": release of " + a.request_id +
                                        " does not match GPU " + std::to_string(s.gpu));
    }
  }
  for (const std::vector<DeviceSlice>* list : {&a.nics, &a.volumes}) {
    for (const DeviceSlice& s : *list) DS_RETURN_IF_ERROR(CheckUnitRelease(s, a.request_id));
  }
  cpu_used_milli_ -= a.cpu_milli;
  memory_used_mib_ -= a.memory_mib;
  for (const DeviceSlice& s : a.nics) ReleaseUnitSlice(s);
  for (const DeviceSlice& s : a.volumes) ReleaseUnitSlice(s);
  for (const DeviceSlice& s : a.gpus) {
    GpuUsage& u = gpu_usage_[s.gpu];
    const Device& d = gpu_device(s.gpu);
    int32_t before = gpu_free_[s.gpu];
    if (s.whole) {
      u = GpuUsage{};
      gpu_free_[s.gpu] = static_cast<int32_t>(DeviceCapacityMilli(d));
    } else if (d.mode == SharingMode::kPartitioned) {
      auto it = std::find_if(u.partitions.begin(), u.partitions.end(),
                             [&](const PartitionInstance& p) { return p.start == s.start_slot; });
      if (it != u.partitions.end()) u.partitions.erase(it);
      if (const PartitionProfile* p = d.geometry->Find(s.profile)) {
        u.used_memory_mib -= PartitionMemoryMib(d, *p);
      }
      int compute_used = 0;
      for (const PartitionInstance& q : u.partitions) compute_used += q.compute_slices;
      u.used_milli = kMilliPerDevice * compute_used / d.geometry->compute_slices;
      gpu_free_[s.gpu] = static_cast<int32_t>(kMilliPerDevice - u.used_milli);
    } else {
      u.shares--;
      u.used_milli -= s.milli;
      u.used_memory_mib -= s.memory_mib;
      if (!s.vgpu.empty() && --u.vgpu_shares == 0) u.vgpu.clear();
      gpu_free_[s.gpu] += static_cast<int32_t>(s.milli);
    }
    if (!a.tenant.empty() && !s.whole) {
      auto it = std::find(u.tenants.begin(), u.tenants.end(), a.tenant);
      if (it != u.tenants.end()) u.tenants.erase(it);
    }
    gpu_free_total_ += gpu_free_[s.gpu] - before;
  }
  RefreshSummaries();
  ++generation_;
  return Status::Ok();
}

void ClusterState::Reset() {
  states.clear();
  states.reserve(hosts.size());
  for (const Host& h : hosts) states.emplace_back(&h);
}

void ClusterState::AddHost(Host host) {
  const Host* before = hosts.data();
  hosts.push_back(std::move(host));
  if (hosts.data() != before) {
    // The vector moved its hosts: the states must point at the new copies.
    for (size_t i = 0; i < states.size(); ++i) states[i].RebindHost(&hosts[i]);
  }
  states.emplace_back(&hosts.back());
}

int64_t ClusterState::GpuCapacityMilli() const {
  int64_t s = 0;
  for (const HostState& h : states) s += h.gpu_capacity_total_milli();
  return s;
}

int64_t ClusterState::GpuUsedMilli() const {
  int64_t s = 0;
  for (const HostState& h : states) s += h.gpu_capacity_total_milli() - h.gpu_free_total_milli();
  return s;
}

}  // namespace devshare
