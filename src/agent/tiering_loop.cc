// TieringLoop: samples heat, runs the tiering policy, asks the server to migrate.
#include "devshare/agent/tiering_loop.h"

#include <map>

namespace devshare::agent {

void TieringSample(const std::vector<host::StoragePool>& pools,
                   const std::vector<host::HostAgent::RealizedVolume>& realized,
                   const std::vector<host::VolumeExport>& exports, const nlohmann::json& stats,
                   std::vector<host::TieringPool>* pool_out,
                   std::vector<host::TieringVolume>* volume_out) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  std::map<std::string, const host::VolumeExport*> by_export;
  for (const host::VolumeExport& e : exports) by_export[e.export_name] = &e;
  std::map<std::string, nlohmann::json> stat_of;
  if (stats.is_object() && stats.contains("volumes") && stats["volumes"].is_array()) {
    for (const nlohmann::json& v : stats["volumes"]) {
      if (v.is_object()) stat_of[v.value("export", "")] = v;
    }
  }
  std::map<std::string, host::TieringPool> out;
  for (const host::StoragePool& p : pools) {
    if (p.scheduler == "none") continue;
    out[p.name] = {p.name, p.tier, p.iops, p.capacity_gib, 0, 0};
  }
  for (const host::VolumeExport& e : exports) {
    auto p = out.find(e.pool);
    if (p == out.end()) continue;
    p->second.used_gib += (e.size_bytes + kGiB - 1) / kGiB;
    p->second.reserved_iops += e.reservation_iops;
  }
  for (auto& [name, p] : out) pool_out->push_back(p);
  for (const host::HostAgent::RealizedVolume& r : realized) {
    if (!out.count(r.pool)) continue;
    auto e = by_export.find(r.export_name);
    auto s = stat_of.find(r.export_name);
    if (e == by_export.end() || s == stat_of.end()) continue;  // not served (yet)
    host::TieringVolume v;
    v.vm_id = r.vm_id;
    v.volume = r.name;
    v.pool = r.pool;
    v.heat_iops = s->second.value("heat_iops", 0.0);
    v.size_gib = (r.size_bytes + kGiB - 1) / kGiB;
    v.reservation_iops = e->second->reservation_iops;
    const bool stats_moving = s->second.contains("moving") && s->second["moving"].is_object();
    v.moving = stats_moving || s->second.value("pool", r.pool) != r.pool;
    volume_out->push_back(std::move(v));
  }
}

TieringLoop::TieringLoop(host::HostAgent& agent, host::VolumeServer& server,
                         std::vector<host::StoragePool> pools, MigrateVolumeFn migrate,
                         Clock& clock, TieringLoopOptions options)
    : agent_(agent),
      server_(server),
      pools_(std::move(pools)),
      migrate_(std::move(migrate)),
      clock_(clock),
      options_(std::move(options)),
      policy_(options_.policy) {}

TieringLoop::~TieringLoop() { Stop(); }

void TieringLoop::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

std::optional<host::TieringMove> TieringLoop::Step() {
  Result<nlohmann::json> stats = server_.Stats();
  if (!stats.ok()) return std::nullopt;  // nbdkit (re)starting: try at the next period
  std::vector<host::TieringPool> pools;
  std::vector<host::TieringVolume> volumes;
  TieringSample(pools_, agent_.RealizedVolumes(), server_.Exports(), *stats, &pools, &volumes);
  const TimePoint now = clock_.Now();
  std::optional<host::TieringMove> m = policy_.Observe(now, pools, volumes);
  if (!m) return std::nullopt;
  Status s = migrate_(m->vm_id, m->volume, m->to_tier);
  if (s.ok()) {
    Log("tiering: vm " + m->vm_id + " volume " + m->volume + " " + m->from_pool + " -> " +
        m->to_pool + " (" + m->to_tier + "): " + m->reason);
  } else {
    policy_.Refused(m->vm_id, m->volume, now);
    Log("tiering: vm " + m->vm_id + " volume " + m->volume + " to " + m->to_tier +
        " refused: " + s.message());
  }
  return m;
}

void TieringLoop::Start() {
  if (thread_.joinable() || options_.period.count() <= 0) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, options_.period, [this] { return stop_; });
      if (stop_) break;
      lock.unlock();
      (void)Step();
      lock.lock();
    }
  });
}

void TieringLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace devshare::agent
