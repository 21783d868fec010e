// RightSizing: heartbeat usage -> RightSizer per VM resource -> ledger resizes as "rightsizer".
#include "server/right_sizing.h"

#include <algorithm>
#include <set>
#include <utility>

#include "devshare/store/audit_chain.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

// The managed resources. GPU memory is the framebuffer of a free-size share of one GPU (the spec
// parser refuses gpu_memory for any other kind, and the ledger's resize for a VM moved to one).
struct ResourceKind {
  const char* name;  // the allocation field and the key in GET /v1/vms/{id}
  const char* unit;  // in reasons
  double granularity;
  const RightSizeResource& (*bounds)(const RightSizeSpec&);
  int64_t (*usage)(const UsageSample&);
  int64_t (*current)(const Allocation&);
  void (*set)(ResizeSpec&, int64_t, const RightSizeSpec&);
};

const ResourceKind kResources[] = {
    {"cpu_milli", "milli-CPU", static_cast<double>(kRightSizeCpuStepMilli),
     [](const RightSizeSpec& s) -> const RightSizeResource& { return s.cpu; },
     [](const UsageSample& u) { return u.cpu_milli; },
     [](const Allocation& a) { return a.cpu_milli; },
     [](ResizeSpec& r, int64_t v, const RightSizeSpec&) { r.cpu_milli = v; }},
    {"memory_mib", "MiB", static_cast<double>(kRightSizeMemoryStepMib),
     [](const RightSizeSpec& s) -> const RightSizeResource& { return s.memory; },
     // rss counts the QEMU process (device model, TCG's translation cache) and every page the
     // guest ever touched: shown, never sized on.
     [](const UsageSample& u) { return u.memory_source == "rss" ? int64_t{-1} : u.memory_mib; },
     [](const Allocation& a) { return a.memory_mib; },
     [](ResizeSpec& r, int64_t v, const RightSizeSpec&) { r.memory_mib = v; }},
    {"gpu_memory_mib", "MiB", static_cast<double>(kRightSizeGpuMemoryStepMib),
     [](const RightSizeSpec& s) -> const RightSizeResource& { return s.gpu_memory; },
     [](const UsageSample& u) { return u.gpu_memory_mib; },
     [](const Allocation& a) { return a.gpus.size() == 1 ? a.gpus[0].memory_mib : int64_t{-1}; },
     [](ResizeSpec& r, int64_t v, const RightSizeSpec& s) {
       r.gpu_memory_mib = v;
       r.move = s.gpu_move;
     }},
};
constexpr size_t kNumResources = sizeof(kResources) / sizeof(kResources[0]);

// A grow refused for want of room is retried after max(this, shrink interval, period).
constexpr int64_t kNoRoomRetryMinS = 60;

// ForecastOptions of a spec: the period is at least 1 s (a period of 0 steps per heartbeat),
// the season a whole number of periods.
predict::ForecastOptions ForecastOptionsOf(const RightSizeSpec& s) {
  predict::ForecastOptions f;
  f.quantile = s.quantile;
  f.sample_period_s = std::max<int64_t>(1, s.period_s);
  f.horizon_s = std::max(s.horizon_s, f.sample_period_s);
  f.season_s = std::max<int64_t>(1, 86'400 / f.sample_period_s) * f.sample_period_s;
  return f;
}

}  // namespace

nlohmann::json UsageSample::ToJson() const {
  nlohmann::json j = {{"window_ms", window_ms}};
  if (cpu_milli >= 0) j["cpu_milli"] = cpu_milli;
  if (memory_mib >= 0) {
    j["memory_mib"] = memory_mib;
    j["memory_source"] = memory_source;
  }
  if (gpu_memory_mib >= 0) j["gpu_memory_mib"] = gpu_memory_mib;
  if (gpu_busy_pct >= 0) j["gpu_busy_pct"] = gpu_busy_pct;
  nlohmann::json applied = nlohmann::json::object();
  if (applied_memory_mib >= 0) applied["memory_mib"] = applied_memory_mib;
  if (applied_max_memory_mib >= 0) applied["max_memory_mib"] = applied_max_memory_mib;
  if (applied_cpu_cap_milli >= 0) applied["cpu_cap_milli"] = applied_cpu_cap_milli;
  if (!applied.empty()) j["applied"] = std::move(applied);
  return j;
}

RightSizing::RightSizing(ServiceContext* ctx, VmService* vms, std::string default_forecaster)
    : ctx_(*ctx), vms_(*vms), default_forecaster_(std::move(default_forecaster)) {
  predict::RegisterBuiltinForecasters(registry_);
}

Result<std::unique_ptr<RightSizing>> RightSizing::Create(ServiceContext* ctx, VmService* vms,
                                                         const std::string& default_forecaster) {
  std::unique_ptr<RightSizing> r(new RightSizing(ctx, vms, default_forecaster));
  const std::vector<std::string> names = r->registry_.Names();
  auto known = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) == names.end() ? false : true;
  };
  if (r->default_forecaster_.empty()) {
    r->default_forecaster_ = known("autopilot") ? "autopilot" : "last";
  }
  DS_RETURN_IF_ERROR(
      r->registry_.Create(r->default_forecaster_, predict::ForecastOptions{}).status());
  return r;
}

int RightSizing::Observe(const std::string& host,
                         const std::map<std::string, UsageSample>& samples) {
  const int64_t now_ms = ctx_.Now();
  struct Seen {
    std::string tenant;
    RightSizeSpec spec;
    std::string config;
    int64_t current[kNumResources] = {};
  };
  std::map<std::string, Seen> seen;
  std::set<std::string> on_host;
  {
    std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
    const std::set<std::string>& ids = ctx_.ledger().VmIdsOnHost(host);
    on_host.insert(ids.begin(), ids.end());
    for (const auto& [id, sample] : samples) {
      const VmEntry* vm = ctx_.ledger().FindVm(id);
      if (vm == nullptr || vm->record.host != host || vm->record.power == kPowerDeleted) continue;
      Seen s;
      s.tenant = vm->record.tenant_id;
      s.spec = vm->spec.rightsize;
      if (auto it = vm->spec.normalized.find("rightsize");
          s.spec.enabled() && it != vm->spec.normalized.end()) {
        s.config = JsonText(*it);
      }
      for (size_t k = 0; k < kNumResources; ++k)
        s.current[k] = kResources[k].current(vm->allocation);
      seen.emplace(id, std::move(s));
    }
  }
  struct Change {
    std::string vm, tenant, forecaster;
    RightSizeSpec spec;
    size_t k = 0;
    int64_t from = 0, to = 0;
    predict::Recommendation rec;
    int64_t retry_after_s = 0;
  };
  std::vector<Change> changes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // VMs that left this host (deleted, moved) are forgotten.
    for (auto it = vms_state_.begin(); it != vms_state_.end();) {
      it = it->second.host == host && !on_host.count(it->first) ? vms_state_.erase(it)
                                                                : std::next(it);
    }
    for (const auto& [id, s] : seen) {
      const UsageSample& u = samples.at(id);
      VmState& st = vms_state_[id];
      st.host = host;
      st.usage = u.ToJson();
      st.usage_unix_ms = now_ms;
      if (!s.spec.enabled()) {
        st.resources.clear();
        st.config.clear();
        continue;
      }
      const std::string forecaster =
          s.spec.forecaster.empty() ? default_forecaster_ : s.spec.forecaster;
      if (st.config != s.config || st.forecaster != forecaster) {
        // New or changed settings: fresh sizers (their history was for other settings).
        st.config = s.config;
        st.forecaster = forecaster;
        st.stepped = false;
        st.resources.clear();
        st.resources.resize(kNumResources);
        const predict::ForecastOptions fo = ForecastOptionsOf(s.spec);
        for (size_t k = 0; k < kNumResources; ++k) {
          const RightSizeResource& b = kResources[k].bounds(s.spec);
          if (!b.enabled) continue;
          Result<std::unique_ptr<predict::Forecaster>> f = registry_.Create(forecaster, fo);
          if (!f.ok()) {
            st.resources[k].latest = {{"outcome", "failed: " + f.status().ToString()},
                                      {"time_unix_ms", now_ms}};
            continue;
          }
          predict::RightSizeOptions o;
          o.margin = s.spec.margin;
          o.min_value = static_cast<double>(b.min);
          o.max_value = static_cast<double>(b.max);
          o.granularity = kResources[k].granularity;
          o.shrink_interval_s = s.spec.shrink_interval_s;
          o.warmup_samples = s.spec.warmup_samples;
          o.unit = kResources[k].unit;
          if (Status v = o.Validate(); !v.ok()) {
            st.resources[k].latest = {{"outcome", "failed: " + v.ToString()},
                                      {"time_unix_ms", now_ms}};
            continue;
          }
          st.resources[k].sizer = std::make_unique<predict::RightSizer>(std::move(*f), o, fo);
        }
      }
      for (size_t k = 0; k < kNumResources; ++k) {
        const int64_t used = kResources[k].usage(u);
        Resource& r = st.resources[k];
        if (r.sizer != nullptr && used >= 0) r.peak = std::max(r.peak, static_cast<double>(used));
      }
      const bool due =
          !st.stepped || s.spec.period_s == 0 || now_ms - st.last_step_ms >= s.spec.period_s * 1000;
      if (!due) continue;
      st.stepped = true;
      st.last_step_ms = now_ms;
      for (size_t k = 0; k < kNumResources; ++k) {
        Resource& r = st.resources[k];
        if (r.sizer == nullptr || r.peak < 0 || s.current[k] < 0) continue;
        const int64_t current = s.current[k];
        const predict::Recommendation rec = r.sizer->Step(now_ms / 1000, r.peak, current);
        r.latest = {{"allocation", static_cast<int64_t>(rec.allocation)},
                    {"current", current},
                    {"usage", r.peak},
                    {"forecast", rec.forecast},
                    {"reason", rec.reason},
                    {"time_unix_ms", now_ms}};
        r.peak = -1;
        const auto target = static_cast<int64_t>(rec.allocation);
        if (!rec.change || target == current) {
          r.latest["outcome"] = "kept";
          continue;
        }
        if (target > current && now_ms < r.no_room_until_ms) {
          r.latest["outcome"] = "deferred: the last grow found no room on host " + host;
          continue;
        }
        r.latest["outcome"] = "applying";
        changes.push_back(
            Change{id, s.tenant, forecaster, s.spec, k, current, target, rec,
                   std::max({kNoRoomRetryMinS, s.spec.shrink_interval_s, s.spec.period_s})});
      }
    }
  }
  int applied = 0;
  for (const Change& c : changes) {
    const ResourceKind& kind = kResources[c.k];
    Principal p;
    p.kind = Principal::Kind::kToken;
    p.tenant_id = c.tenant;  // the VM's tenant sees the record in its audit log
    p.role = "admin";
    p.actor = "rightsizer";
    ResizeSpec spec;
    kind.set(spec, c.to, c.spec);
    const nlohmann::json extra = {{"rightsizer",
                                   {{"resource", kind.name},
                                    {"from", c.from},
                                    {"to", c.to},
                                    {"forecast", c.rec.forecast},
                                    {"forecaster", c.forecaster},
                                    {"reason", c.rec.reason}}}};
    const std::string hash =
        store::Sha256Hex("rightsizer " + c.vm + " " + kind.name + " " + std::to_string(c.to));
    Result<Reply> r = vms_.ApplyResize(p, c.vm, spec, "", hash, extra);
    std::string outcome = "applied";
    int64_t no_room_until = 0;
    if (r.ok()) {
      ++applied;
    } else if (r.status().code() == StatusCode::kResourceExhausted) {
      // no_room (the host), gpu_memory_full / gpu_full (the share's GPU, and with gpu_move every
      // GPU of the host).
      const std::string reason(r.status().reason());
      outcome = (reason.empty() ? std::string("no_room") : reason) + ": " + r.status().message();
      no_room_until = ctx_.Now() + c.retry_after_s * 1000;
    } else {
      outcome = "failed: " + r.status().ToString();
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto it = vms_state_.find(c.vm);
    if (it == vms_state_.end() || it->second.resources.size() <= c.k) continue;
    Resource& res = it->second.resources[c.k];
    res.latest["outcome"] = outcome;
    if (no_room_until > 0) res.no_room_until_ms = no_room_until;
  }
  return applied;
}

nlohmann::json RightSizing::VmJson(const std::string& vm_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = vms_state_.find(vm_id);
  if (it == vms_state_.end()) return nullptr;
  const VmState& st = it->second;
  nlohmann::json j = {{"usage", st.usage}, {"usage_unix_ms", st.usage_unix_ms}};
  if (!st.forecaster.empty()) j["forecaster"] = st.forecaster;
  for (size_t k = 0; k < st.resources.size() && k < kNumResources; ++k) {
    if (!st.resources[k].latest.is_null()) j[kResources[k].name] = st.resources[k].latest;
  }
  return j;
}

}  // namespace devshare::server
