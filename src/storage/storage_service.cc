// StorageService: config application, move reconciliation, config watcher and stats writer.
#include "devshare/storage/storage_service.h"

#include <sys/stat.h>

#include <algorithm>

#include "devshare/core/atomic_file.h"

namespace devshare::storage {
namespace {

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

// A reservation is served 2 % above its value (never above the volume's limit): a guarantee of
// "at least r per second" then holds in every 1 s window a guest measures, whose edges jitter
// against the dispatcher's tag grid (served at exactly r, a window reads r - 1 now and then).
constexpr double kReservationHeadroom = 1.02;

qos::ClientQos QosOf(const VolumeConfig& v) {
  double r = v.reservation_iops * kReservationHeadroom;
  if (v.limit_iops > 0) r = std::min(r, v.limit_iops);
  return qos::ClientQos{r, v.weight, v.limit_iops};
}

}  // namespace

StorageService::StorageService(StorageServiceOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : &system_clock_) {}

Result<std::unique_ptr<StorageService>> StorageService::Start(StorageServiceOptions options) {
  std::unique_ptr<StorageService> s(new StorageService(std::move(options)));
  struct stat st {};
  if (::stat(s->options_.config_path.c_str(), &st) == 0) {
    s->config_id_ = FileId{st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec, st.st_size,
                           static_cast<uint64_t>(st.st_ino)};
  }
  DS_ASSIGN_OR_RETURN(StorageConfig config, LoadStorageConfig(s->options_.config_path));
  s->budget_ = std::make_unique<MigrationBudget>(*s->clock_, config.migration_mbps);
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    DS_RETURN_IF_ERROR(s->Apply(config, /*initial=*/true));
    s->Reconcile();
  }
  if (s->options_.start_threads) {
    s->watcher_ = std::thread([p = s.get()] { p->WatchLoop(); });
    s->stats_thread_ = std::thread([p = s.get()] { p->StatsLoop(); });
  }
  return s;
}

StorageService::~StorageService() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  if (stats_thread_.joinable()) stats_thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  volumes_.clear();  // handles still open keep their volume (and its pool) alive
  pools_.clear();
}

std::shared_ptr<PoolDispatcher> StorageService::PoolForFile(const std::string& file,
                                                            const VolumeConfig& v,
                                                            std::string* name) const {
  // While the data still lives in another pool's dir, that pool serves it.
  for (const PoolConfig& p : config_.pools) {
    if (p.dir == DirOf(file) && pools_.count(p.name)) {
      *name = p.name;
      return pools_.at(p.name);
    }
  }
  *name = v.pool;
  return pools_.at(v.pool);
}

Status StorageService::SetQos(const VolumeConfig& v, Volume& vol) {
  qos::ClientQos q = QosOf(v);
  Status s = pools_.at(v.pool)->SetVolumeQos(vol.id(), q);
  std::shared_ptr<PoolDispatcher> current = vol.pool();
  if (s.ok() && current != pools_.at(v.pool)) s = current->SetVolumeQos(vol.id(), q);
  return s;
}

Status StorageService::OpenVolume(const VolumeConfig& v) {
  DS_ASSIGN_OR_RETURN(std::string file, RecoverVolumeFile(v));
  std::string pool_name;
  std::shared_ptr<PoolDispatcher> pool = PoolForFile(file, v, &pool_name);
  auto [it, fresh] = ids_.emplace(v.export_name, next_id_);
  if (fresh) ++next_id_;
  VolumeId id = it->second;
  DS_RETURN_IF_ERROR(pools_.at(v.pool)->SetVolumeQos(id, QosOf(v)));
  DS_RETURN_IF_ERROR(pool->SetVolumeQos(id, QosOf(v)));
  DS_ASSIGN_OR_RETURN(std::shared_ptr<Volume> vol, Volume::Open(id, v, file, pool_name, pool));
  volumes_[v.export_name] = std::move(vol);
  options_.log_info("volume '" + v.export_name + "' serves " + file + " (pool " + pool_name + ")");
  return Status::Ok();
}

Status StorageService::Apply(const StorageConfig& config, bool initial) {
  // Pools: new ones start; capacity changes apply live; a new scheduler kind gets a new
  // dispatcher (requests queued in the old one are still released by it).
  std::map<std::string, std::shared_ptr<PoolDispatcher>> pools;
  for (const PoolConfig& p : config.pools) {
    auto it = pools_.find(p.name);
    if (it != pools_.end() && it->second->Snapshot().pool.scheduler == p.scheduler) {
      DS_RETURN_IF_ERROR(it->second->SetCapacity(p));
      pools[p.name] = it->second;
      continue;
    }
    DS_ASSIGN_OR_RETURN(std::unique_ptr<PoolDispatcher> d, PoolDispatcher::Start(p, *clock_));
    pools[p.name] = std::move(d);
  }
  std::map<std::string, std::shared_ptr<PoolDispatcher>> old_pools = std::move(pools_);
  pools_ = std::move(pools);
  StorageConfig old_config = std::move(config_);
  config_ = config;
  budget_->SetRate(config.migration_mbps);

  // Volumes that left the config refuse new connections; open handles keep working.
  for (auto it = volumes_.begin(); it != volumes_.end();) {
    if (config.FindVolume(it->first) == nullptr) {
      it->second->CancelMove();
      options_.log_info("volume '" + it->first + "' removed from the config");
      it = volumes_.erase(it);
    } else {
      ++it;
    }
  }
  Status first_error;
  for (const VolumeConfig& v : config.volumes) {
    auto it = volumes_.find(v.export_name);
    Status s;
    if (it == volumes_.end()) {
      s = OpenVolume(v);
    } else {
      Volume& vol = *it->second;
      // A pool replaced above: route the volume to its successor.
      for (const auto& [name, old] : old_pools) {
        if (old == vol.pool() && pools_.count(name) && pools_.at(name) != old) {
          vol.SetPool(name, pools_.at(name));
        }
      }
      s = SetQos(v, vol);
      if (s.ok()) s = vol.SetConfig(v);
    }
    if (!s.ok()) {
      if (initial) return s;
      options_.log_error(s.ToString());
      if (first_error.ok()) first_error = s;
    }
  }
  return initial ? Status::Ok() : first_error;
}

void StorageService::Reconcile() {
  auto now = std::chrono::steady_clock::now();
  for (auto& [name, vol] : volumes_) {
    const VolumeConfig* v = config_.FindVolume(name);
    if (v == nullptr) continue;
    if (vol->moving()) {
      if (vol->move_target() != v->file) {
        options_.log_info("volume '" + name + "': move to " + vol->move_target() + " cancelled");
        vol->CancelMove();
      }
      continue;
    }
    std::string file = vol->file();
    if (file == v->file) {
      // Finished moves land on the target pool; make sure it is the current dispatcher.
      if (vol->pool() != pools_.at(v->pool)) vol->SetPool(v->pool, pools_.at(v->pool));
      continue;
    }
    std::optional<std::chrono::steady_clock::time_point> failed = vol->move_failed_at();
    if (failed && now - *failed < kMoveRetryDelay) continue;
    options_.log_info("volume '" + name + "': moving " + file + " to " + v->file + " (pool " +
                      v->pool + ")");
    Status s = vol->StartMove(v->file, v->pool, pools_.at(v->pool), *budget_, options_.log_error,
                              options_.log_info);
    if (!s.ok()) options_.log_error("volume '" + name + "': " + s.ToString());
  }
}

void StorageService::Poll() {
  struct stat st {};
  std::lock_guard<std::mutex> lock(mu_);
  if (::stat(options_.config_path.c_str(), &st) == 0) {
    FileId id{st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec, st.st_size,
              static_cast<uint64_t>(st.st_ino)};
    if (!(id == config_id_)) {
      config_id_ = id;
      Result<StorageConfig> c = LoadStorageConfig(options_.config_path);
      if (!c.ok()) {
        options_.log_error("config reload refused, keeping the previous config: " +
                           c.status().message());
      } else {
        Status s = Apply(*c, /*initial=*/false);
        options_.log_info(s.ok() ? "config reloaded" : "config reloaded with errors");
      }
    }
  }
  Reconcile();
}

Status StorageService::WriteStats() {
  std::vector<PoolSnapshot> pools;
  std::vector<VolumeSnapshot> volumes;
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    path = config_.stats_file;
    for (const PoolConfig& p : config_.pools) pools.push_back(pools_.at(p.name)->Snapshot());
    for (const VolumeConfig& v : config_.volumes) {
      auto it = volumes_.find(v.export_name);
      if (it != volumes_.end()) volumes.push_back(it->second->Snapshot());
    }
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  return WriteFileAtomically(path, stats_.Render(clock_->Now(), pools, volumes));
}

Result<std::shared_ptr<Volume>> StorageService::OpenExport(const std::string& export_name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = volumes_.find(export_name);
  if (it == volumes_.end()) {
    return Status::NotFound("unknown export '" + export_name + "'");
  }
  return it->second;
}

std::vector<std::string> StorageService::ExportNames() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const VolumeConfig& v : config_.volumes) {
    if (volumes_.count(v.export_name)) out.push_back(v.export_name);
  }
  return out;
}

void StorageService::WatchLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_) {
    if (stop_cv_.wait_for(lock, kConfigPollInterval, [&] { return stop_; })) break;
    lock.unlock();
    Poll();
    lock.lock();
  }
}

void StorageService::StatsLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_) {
    lock.unlock();
    Status s = WriteStats();
    if (!s.ok()) options_.log_error("stats: " + s.ToString());
    std::chrono::milliseconds interval;
    {
      std::lock_guard<std::mutex> l(mu_);
      interval = config_.stats_interval_ms;
    }
    lock.lock();
    if (stop_cv_.wait_for(lock, interval, [&] { return stop_; })) break;
  }
}

}  // namespace devshare::storage
