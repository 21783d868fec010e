// HostState bookkeeping: capacity checks, whole-vs-shared exclusivity, MIG interval packing.
#include "devshare/core/host_state.h"

#include <algorithm>

namespace devshare {
namespace {

int64_t DeviceCapacityMilli(const Device& d) { return d.inventory.Capacity(); }

bool Overlaps(const PartitionInstance& p, int start, int size) {
  return start < p.start + p.memory_slices && p.start < start + size;
}

}  // namespace

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
  RefreshSummaries();
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
  cpu_used_milli_ += a.cpu_milli;
  memory_used_mib_ += a.memory_mib;
  for (const DeviceSlice& s : a.gpus) {
    GpuUsage& u = gpu_usage_[s.gpu];
    const Device& d = gpu_device(s.gpu);
    int32_t before = gpu_free_[s.gpu];
    if (s.whole) {
      u.whole = true;
      u.used_milli = DeviceCapacityMilli(d);
      gpu_free_[s.gpu] = 0;
    } else if (d.mode == SharingMode::kPartitioned) {
      const PartitionProfile* p = d.geometry->Find(s.profile);
      u.partitions.push_back({s.start_slot, p->memory_slices, p->compute_slices});
      int compute_used = 0;
      for (const PartitionInstance& q : u.partitions) compute_used += q.compute_slices;
      u.used_milli = kMilliPerDevice * compute_used / d.geometry->compute_slices;
      gpu_free_[s.gpu] = static_cast<int32_t>(kMilliPerDevice - u.used_milli);
      if (!a.tenant.empty()) u.tenants.push_back(a.tenant);
    } else {
      u.shares++;
      u.used_milli += s.milli;
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
      held = !u.whole && u.shares > 0 && u.used_milli >= s.milli;
    }
    if (!held) {
      return Status::FailedPrecondition("host " + host_->id + ": release of " + a.request_id +
                                        " does not match GPU " + std::to_string(s.gpu));
    }
  }
  cpu_used_milli_ -= a.cpu_milli;
  memory_used_mib_ -= a.memory_mib;
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
      int compute_used = 0;
      for (const PartitionInstance& q : u.partitions) compute_used += q.compute_slices;
      u.used_milli = kMilliPerDevice * compute_used / d.geometry->compute_slices;
      gpu_free_[s.gpu] = static_cast<int32_t>(kMilliPerDevice - u.used_milli);
    } else {
      u.shares--;
      u.used_milli -= s.milli;
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
