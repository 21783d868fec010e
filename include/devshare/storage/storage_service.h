// StorageService: everything the nbdkit plugin serves: pools (one PoolDispatcher each), volumes,
// live moves, a config watcher that polls the config file every 200 ms and applies changes, and
// a stats writer that replaces stats_file atomically every stats_interval_ms.
// Thread-safety: thread-safe; OpenExport/ExportNames may be called from any nbdkit thread.
#ifndef DEVSHARE_STORAGE_STORAGE_SERVICE_H_
#define DEVSHARE_STORAGE_STORAGE_SERVICE_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/storage/migration_budget.h"
#include "devshare/storage/pool_dispatcher.h"
#include "devshare/storage/volume.h"
#include "devshare/storage/volume_config.h"
#include "devshare/storage/volume_stats.h"

namespace devshare::storage {

inline constexpr Duration kConfigPollInterval = std::chrono::milliseconds(200);
// A failed move is retried after this long.
inline constexpr Duration kMoveRetryDelay = std::chrono::seconds(5);

struct StorageServiceOptions {
  std::string config_path;
  LogFn log_error;               // required
  LogFn log_info;                // required
  const Clock* clock = nullptr;  // a real clock; null: a SystemClock owned by the service
  bool start_threads = true;     // false: no watcher/stats threads (tests call Poll/WriteStats)
};

class StorageService {
 public:
  // Loads the config, starts every pool, opens every volume (RecoverVolumeFile) and starts the
  // moves the config asks for. Errors: the config's, or the first volume that cannot be opened.
  static Result<std::unique_ptr<StorageService>> Start(StorageServiceOptions options);
  ~StorageService();  // stops threads and moves (a move resumes on the next start)
  StorageService(const StorageService&) = delete;
  StorageService& operator=(const StorageService&) = delete;

  // The volume named `export_name`; NotFound when the config does not (or no longer) list it.
  Result<std::shared_ptr<Volume>> OpenExport(const std::string& export_name);
  std::vector<std::string> ExportNames() const;

  // One watcher step: re-reads the config when the file changed (a bad config is logged and the
  // previous one stays), then starts/finishes what the config asks for (moves, pools).
  void Poll();
  // Writes the stats file once. Errors of WriteFileAtomically.
  Status WriteStats();

 private:
  explicit StorageService(StorageServiceOptions options);
  Status Apply(const StorageConfig& config, bool initial);
  Status OpenVolume(const VolumeConfig& v);
  void Reconcile();
  std::shared_ptr<PoolDispatcher> PoolForFile(const std::string& file, const VolumeConfig& v,
                                              std::string* name) const;
  Status SetQos(const VolumeConfig& v, Volume& vol);
  void WatchLoop();
  void StatsLoop();

  StorageServiceOptions options_;
  SystemClock system_clock_;
  const Clock* clock_;

  mutable std::mutex mu_;
  StorageConfig config_;
  struct FileId {
    int64_t mtime_ns = 0;
    int64_t size = 0;
    uint64_t inode = 0;
    bool operator==(const FileId&) const = default;
  };
  FileId config_id_;
  std::map<std::string, std::shared_ptr<PoolDispatcher>> pools_;
  std::map<std::string, std::shared_ptr<Volume>> volumes_;
  std::map<std::string, VolumeId> ids_;  // stable per export name for the process
  VolumeId next_id_ = 1;
  std::unique_ptr<MigrationBudget> budget_;
  StatsTracker stats_;
  std::mutex stats_mu_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread watcher_;
  std::thread stats_thread_;
};

}  // namespace devshare::storage

#endif  // DEVSHARE_STORAGE_STORAGE_SERVICE_H_
