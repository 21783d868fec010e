// Framework::Schedule: filter, score, pick (lowest index on ties), select GPUs, reserve.
#include "devshare/placement/framework.h"

#include <algorithm>

#include "placement/device_match.h"

namespace devshare::placement {

Status GpuSelector::Select(const VmRequest& req, const HostState& state, int host_index,
                           Allocation& a) {
  if (!req.gpu.Any()) return Status::Ok();
  GpuChoice choice = ChooseGpus(req, state, host_index);
  if (static_cast<int>(choice.gpus.size()) != req.gpu.count) {
    return Status::Internal("selector " + std::string(Name()) + " selected " +
                            std::to_string(choice.gpus.size()) + " GPUs on " + a.host_id +
                            " for a request of " + std::to_string(req.gpu.count));
  }
  for (int g : choice.gpus) {
    DeviceSlice s;
    s.gpu = g;
    s.device_id = state.gpu_device(g).id;
    const Device& d = state.gpu_device(g);
    if (req.gpu.IsWhole()) {
      s.whole = true;
      s.milli = d.inventory.Capacity();
      s.memory_mib = d.memory_mib;
    } else if (req.gpu.IsPartition()) {
      s.profile = req.gpu.profile;
      s.start_slot = choice.start_slot;
      s.milli = PartitionMilli(req, state, g);
      const PartitionProfile* p = d.geometry ? d.geometry->Find(req.gpu.profile) : nullptr;
      if (p != nullptr) s.memory_mib = PartitionMemoryMib(d, *p);
    } else {
      s.milli = ShareMilliOnGpu(req, state, g);
      s.memory_mib = req.gpu.memory_mib;
      s.vgpu = req.gpu.vgpu;
    }
    a.gpus.push_back(std::move(s));
  }
  return Status::Ok();
}

std::string PlacementOutcome::Summary(int total_hosts) const {
  if (placed()) {
    std::string s = "placed on " + allocation.host_id;
    for (const DeviceSlice& d : allocation.gpus) {
      s += " " + d.device_id + (d.whole ? " whole" : " " + std::to_string(d.milli) + "m");
      if (!d.profile.empty()) s += " " + d.profile + "@" + std::to_string(d.start_slot);
      if (!d.vgpu.empty()) s += " " + d.vgpu;
      if (!d.whole && d.profile.empty() && d.memory_mib > 0) {
        s += " " + std::to_string(d.memory_mib) + "MiB";
      }
    }
    for (const DeviceSlice& d : allocation.nics) {
      s += " " + d.device_id + (d.unit_index >= 0 ? " vf" + std::to_string(d.unit_index) : "");
      if (d.rate > 0) s += " " + std::to_string(d.rate) + "Mbps";
    }
    for (const DeviceSlice& d : allocation.volumes) {
      s += " " + d.name + "@" + d.device_id + " " + std::to_string(d.units) + "GiB";
    }
    return s;
  }
  std::string s = std::to_string(feasible_hosts) + "/" + std::to_string(total_hosts) + " hosts fit";
  for (size_t i = 0; i < reasons.size(); ++i) {
    s += (i == 0 ? ": " : "; ") + reasons[i].plugin + " rejected " +
         std::to_string(reasons[i].hosts) + " (e.g. " + reasons[i].message + ")";
  }
  return s;
}

Framework::Framework(std::string policy, std::vector<std::unique_ptr<FilterPlugin>> filters,
                     std::unique_ptr<ScorePlugin> score,
                     std::vector<std::unique_ptr<DeviceSelector>> selectors,
                     std::vector<std::unique_ptr<ReservePlugin>> reserves)
    : policy_(std::move(policy)),
      filters_(std::move(filters)),
      score_(std::move(score)),
      selectors_(std::move(selectors)),
      reserves_(std::move(reserves)) {
  for (const auto& s : selectors_) {
    DeviceSelector* own = score_->SelectorFor(s->Kind());
    active_selectors_.push_back(own != nullptr ? own : s.get());
  }
}

bool Framework::Feasible(const VmRequest& req, const HostState& host) const {
  for (const auto& f : filters_) {
    if (!f->Fits(req, host)) return false;
  }
  return true;
}

std::vector<Reason> Framework::ExplainHost(const VmRequest& req, const HostState& host) const {
  std::vector<Reason> out;
  for (const auto& f : filters_) {
    if (f->Fits(req, host)) continue;
    Reason r = f->Explain(req, host);
    r.plugin = std::string(f->Name());
    out.push_back(std::move(r));
  }
  return out;
}

PlacementOutcome Framework::Unschedulable(const VmRequest& req, const ClusterState& cluster) const {
  PlacementOutcome out;
  out.kind = PlacementOutcome::Kind::kUnschedulable;
  // reason_of[i]: index into out.reasons of filter i's reason, -1 until a host fails it (no
  // string work per host: on a full 10,000-host cluster this runs for every refused request).
  std::vector<int> reason_of(filters_.size(), -1);
  for (const HostState& h : cluster.states) {
    for (size_t i = 0; i < filters_.size(); ++i) {
      const auto& f = filters_[i];
      if (f->Fits(req, h)) continue;
      if (reason_of[i] < 0) {
        reason_of[i] = static_cast<int>(out.reasons.size());
        Reason r = f->Explain(req, h);
        r.plugin = std::string(f->Name());
        r.message = "host " + h.host().id + ": " + r.message;
        r.hosts = 1;
        out.reasons.push_back(std::move(r));
      } else {
        out.reasons[reason_of[i]].hosts++;
      }
      break;  // the first failing filter names the host's reason
    }
  }
  std::stable_sort(out.reasons.begin(), out.reasons.end(),
                   [](const Reason& a, const Reason& b) { return a.hosts > b.hosts; });
  return out;
}

Result<PlacementOutcome> Framework::Schedule(const VmRequest& req, ClusterState& cluster) {
  DS_RETURN_IF_ERROR(req.Validate());
  feasible_.clear();
  const int n = static_cast<int>(cluster.states.size());
  for (int i = 0; i < n; ++i) {
    if (Feasible(req, cluster.states[i])) feasible_.push_back(i);
  }
  if (feasible_.empty()) return Unschedulable(req, cluster);

  score_->BeginRequest(req, cluster);
  scores_.resize(feasible_.size());
  for (size_t k = 0; k < feasible_.size(); ++k) {
    scores_[k] = score_->Score(req, cluster.states[feasible_[k]], feasible_[k]);
  }
  if (score_->NormalizesScores()) {
    auto [lo, hi] = std::minmax_element(scores_.begin(), scores_.end());
    const int64_t low = *lo;
    const int64_t range = *hi - *lo;
    for (int64_t& s : scores_) s = range == 0 ? 0 : (s - low) * 100 / range;
  }
  size_t best = 0;
  for (size_t k = 1; k < scores_.size(); ++k) {
    if (scores_[k] > scores_[best]) best = k;  // strict: ties go to the lowest host index
  }
  const int h = feasible_[best];
  HostState& state = cluster.states[h];
  Allocation a;
  a.request_id = req.id;
  a.tenant = req.tenant;
  a.host_index = h;
  a.host_id = state.host().id;
  a.cpu_milli = req.cpu_milli;
  a.memory_mib = req.memory_mib;
  a.generation = state.generation();
  for (DeviceSelector* s : active_selectors_) DS_RETURN_IF_ERROR(s->Select(req, state, h, a));
  for (size_t r = 0; r < reserves_.size(); ++r) {
    Status st = reserves_[r]->Reserve(a, state);
    if (!st.ok()) {
      for (size_t u = r; u > 0; --u) reserves_[u - 1]->Unreserve(a, state);
      return st;
    }
  }
  a.generation = state.generation();
  score_->Reserved(req, a);
  PlacementOutcome out;
  out.kind = PlacementOutcome::Kind::kPlaced;
  out.allocation = std::move(a);
  out.feasible_hosts = static_cast<int>(feasible_.size());
  return out;
}

Status Framework::Release(const VmRequest& req, const Allocation& a, ClusterState& cluster) {
  if (a.host_index < 0 || a.host_index >= static_cast<int>(cluster.states.size())) {
    return Status::InvalidArgument("release of " + a.request_id + ": unknown host index");
  }
  DS_RETURN_IF_ERROR(cluster.states[a.host_index].Release(a));
  score_->Released(req, a);
  return Status::Ok();
}

}  // namespace devshare::placement
