// Framework::Schedule: filter, score, pick (lowest index on ties), select GPUs, reserve; per
// host, or per host equivalence class with scores kept between requests (host_classes.h,
// class_scores.h).
#include "devshare/placement/framework.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "placement/class_scores.h"
#include "placement/device_match.h"
#include "placement/host_classes.h"
#include "placement/key_bytes.h"

namespace devshare::placement {
namespace {

// Everything of a class-path request (no NICs, volumes or host lists) that filters and
// state-only scores may read: all of it but the id and name.
void ClassRequestKey(const VmRequest& req, std::string* key) {
  key->clear();
  AppendString(key, req.tenant);
  AppendRaw(key, req.cpu_milli);
  AppendRaw(key, req.memory_mib);
  AppendRaw(key, req.isolation_floor ? static_cast<int>(*req.isolation_floor) : -1);
  AppendRaw<uint64_t>(key, req.required_traits.size());
  for (const std::string& t : req.required_traits) AppendString(key, t);
  AppendRaw<uint64_t>(key, req.forbidden_traits.size());
  for (const std::string& t : req.forbidden_traits) AppendString(key, t);
  AppendRaw(key, req.gpu.count);
  AppendRaw(key, req.gpu.milli);
  AppendString(key, req.gpu.profile);
  AppendString(key, req.gpu.vgpu);
  AppendRaw(key, req.gpu.memory_mib);
  AppendRaw<uint64_t>(key, req.gpu.models.size());
  for (const std::string& m : req.gpu.models) AppendString(key, m);
}

}  // namespace

// The class path's state: the host classes of the current cluster, the boards of recent
// request keys, and the evaluator boards call back into (the framework's filters and score).
struct Framework::ClassPath final : ClassEvaluator {
  HostClasses classes;
  ClassBoards boards;
  std::vector<int> changed;  // hosts changed through the framework since the classes synced
  bool refile_all = false;   // `changed` overflowed: compare every host's generation
  std::string key;           // scratch
  // The last refusal per board, valid while the board's fit_changes() is the same: in a full
  // cluster long runs of refused requests see no change in between.
  struct Refusal {
    uint64_t fit_changes = 0;
    PlacementOutcome outcome;
  };
  std::unordered_map<const ClassBoard*, Refusal> refusals;
  Framework* fw = nullptr;
  const VmRequest* req = nullptr;
  const ClusterState* cluster = nullptr;

  int FirstRejecting(int host) override {
    const HostState& h = cluster->states[host];
    for (size_t i = 0; i < fw->filters_.size(); ++i) {
      if (!fw->filters_[i]->Fits(*req, h)) return static_cast<int>(i);
    }
    return -1;
  }
  int64_t Score(int host) override { return fw->score_->Score(*req, cluster->states[host], host); }
};

Framework::~Framework() = default;

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

void Framework::NoteChanged(int host) {
  if (!sole_writer_) return;
  plugin_changes_.push_back(host);
  if (classes_ != nullptr && !classes_->refile_all) {
    classes_->changed.push_back(host);
    if (classes_->changed.size() > classes_->classes.slot_count() + 1024) {
      classes_->changed.clear();
      classes_->refile_all = true;
    }
  }
}

const std::vector<int>* Framework::TakePluginChanges(const ClusterState& cluster) {
  const bool same = plugin_cluster_ == &cluster && plugin_cluster_hosts_ == cluster.states.size();
  plugin_cluster_ = &cluster;
  plugin_cluster_hosts_ = cluster.states.size();
  if (!sole_writer_ || !same) {
    plugin_changes_.clear();
    return nullptr;
  }
  return &plugin_changes_;
}

bool Framework::TakesClassPath(const VmRequest& req) const {
  if (!use_classes_ || !score_->ScoresByHostState() || score_->NormalizesScores() ||
      req.HasDevicesBeyondGpus()) {
    return false;
  }
  for (const auto& f : filters_) {
    if (!f->ReadsOnlyHostState(req)) return false;
  }
  return true;
}

Result<PlacementOutcome> Framework::ScheduleByClass(const VmRequest& req, ClusterState& cluster) {
  if (classes_ == nullptr) {
    classes_ = std::make_unique<ClassPath>();
    classes_->fw = this;
  }
  ClassPath& c = *classes_;
  if (!c.classes.initialized_for(cluster)) {
    c.classes.Reset(cluster);
    c.boards.Clear();
    c.refusals.clear();
  } else if (!sole_writer_ || c.refile_all) {
    c.classes.RefileChanged(cluster);
  } else {
    for (int h : c.changed) c.classes.Refile(cluster, h);
  }
  c.changed.clear();
  c.refile_all = false;
  c.req = &req;
  c.cluster = &cluster;
  ClassRequestKey(req, &c.key);
  ClassBoard& board = c.boards.Get(c.key, c.classes.slot_count());
  board.SyncFit(c.classes, c);
  if (board.fitting_hosts() == 0) {
    auto cached = c.refusals.find(&board);
    if (cached != c.refusals.end() && cached->second.fit_changes == board.fit_changes()) {
      return cached->second.outcome;
    }
    // As the per-host path: the first failing filter names each host's reason; per filter
    // the example is its lowest-indexed host (a class's representative is its lowest).
    const size_t nf = std::min(filters_.size(), board.rejecting_codes());
    std::vector<int64_t> hosts(nf, 0);
    std::vector<int> first(nf, INT32_MAX);
    std::vector<size_t> order;
    for (size_t i = 0; i < nf; ++i) {
      hosts[i] = board.hosts_rejected_by(i);
      if (hosts[i] == 0) continue;
      first[i] = board.first_rejected_by(i);
      order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return first[a] < first[b]; });
    PlacementOutcome out;
    out.kind = PlacementOutcome::Kind::kUnschedulable;
    for (size_t i : order) {
      const HostState& h = cluster.states[first[i]];
      Reason r = filters_[i]->Explain(req, h);
      r.plugin = std::string(filters_[i]->Name());
      r.message = "host " + h.host().id + ": " + r.message;
      r.hosts = static_cast<int>(hosts[i]);
      out.reasons.push_back(std::move(r));
    }
    std::stable_sort(out.reasons.begin(), out.reasons.end(),
                     [](const Reason& a, const Reason& b) { return a.hosts > b.hosts; });
    c.refusals[&board] = ClassPath::Refusal{board.fit_changes(), out};
    return out;
  }
  const std::vector<int>* changed = TakePluginChanges(cluster);
  score_->BeginRequestWithChanges(req, cluster, changed);
  plugin_changes_.clear();
  board.SyncScores(score_->ScoreEpoch(), c);
  return Commit(req, cluster, board.best_host(), static_cast<int>(board.fitting_hosts()));
}

Result<PlacementOutcome> Framework::Schedule(const VmRequest& req, ClusterState& cluster) {
  DS_RETURN_IF_ERROR(req.Validate());
  if (TakesClassPath(req)) return ScheduleByClass(req, cluster);
  feasible_.clear();
  const int n = static_cast<int>(cluster.states.size());
  for (int i = 0; i < n; ++i) {
    if (Feasible(req, cluster.states[i])) feasible_.push_back(i);
  }
  if (feasible_.empty()) return Unschedulable(req, cluster);

  const std::vector<int>* changed = TakePluginChanges(cluster);
  score_->BeginRequestWithChanges(req, cluster, changed);
  plugin_changes_.clear();
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
  return Commit(req, cluster, feasible_[best], static_cast<int>(feasible_.size()));
}

Result<PlacementOutcome> Framework::Commit(const VmRequest& req, ClusterState& cluster, int h,
                                           int feasible_hosts) {
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
  NoteChanged(h);  // (also when a reserve fails: undoing it may have moved the generation)
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
  out.feasible_hosts = feasible_hosts;
  return out;
}

Status Framework::Release(const VmRequest& req, const Allocation& a, ClusterState& cluster) {
  if (a.host_index < 0 || a.host_index >= static_cast<int>(cluster.states.size())) {
    return Status::InvalidArgument("release of " + a.request_id + ": unknown host index");
  }
  NoteChanged(a.host_index);
  DS_RETURN_IF_ERROR(cluster.states[a.host_index].Release(a));
  score_->Released(req, a);
  return Status::Ok();
}

}  // namespace devshare::placement
