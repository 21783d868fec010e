// VolumeServer: the host's NBD server for volumes on pools with devshare QoS: one nbdkit daemon
// running devshare's plugin (src/storage, docs/storage.md) on a unix socket, started (or adopted
// from its pid file after an agent restart) and restarted by a watchdog when it dies; the
// plugin's config file (pools and volumes, written atomically) and its stats file. nbdkit is
// left running when this object goes away (guests keep using it), unless Stop() is called.
// Thread-safety: thread-safe.
#ifndef DEVSHARE_HOST_VOLUME_SERVER_H_
#define DEVSHARE_HOST_VOLUME_SERVER_H_

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/host/storage_pool.h"

namespace devshare::host {

// One export of the plugin: a volume file in a pool with its mClock terms (IOPS-equivalent cost
// units per second, docs/storage.md). `moving_from` is set while a live move from another pool's
// file runs.
struct VolumeExport {
  std::string export_name;
  std::string pool;
  std::string file;
  std::string moving_from;
  int64_t size_bytes = 0;
  int64_t reservation_iops = 0;
  int64_t weight = 1;
  int64_t limit_iops = 0;
  bool operator==(const VolumeExport&) const = default;
};

struct VolumeServerOptions {
  std::string state_dir;    // socket, pid file, config, stats, log (created 0755)
  std::string plugin_path;  // libdevshare_nbdkit.so
  std::string nbdkit = "nbdkit";
  std::vector<StoragePool> pools;  // those with scheduler "none" are not served
  int64_t migration_mbps = 64;     // budget for all live moves together
  int stats_interval_ms = 250;
  std::chrono::milliseconds watchdog_period{500};
  std::function<void(const std::string&)> log;  // may be empty
  // QEMU runs as this user under libvirt's qemu:///system (Debian: libvirt-qemu): the socket is
  // given to its primary group, mode 0660, so guests can connect and other users cannot. When
  // the user does not exist the socket keeps nbdkit's mode (root-only with umask 022).
  std::string qemu_user = "libvirt-qemu";
};

// The plugin shipped with this binary: <dir of /proc/self/exe>/../storage/libdevshare_nbdkit.so
// (the build tree), then <dir>/libdevshare_nbdkit.so, then /usr/lib/devshare/. NotFound listing
// the places looked at.
Result<std::string> FindNbdkitPlugin();

class VolumeServer {
 public:
  // Writes the config (keeping the exports of a config already there, so an agent restart does
  // not cut running guests off), adopts a running nbdkit of this state dir or starts one, waits
  // until its socket answers (up to 10 s), then starts the watchdog. Unavailable with nbdkit's
  // log when it does not come up; InvalidArgument for options without state_dir or plugin.
  static Result<std::unique_ptr<VolumeServer>> Start(VolumeServerOptions options);
  ~VolumeServer();  // stops the watchdog; nbdkit keeps running
  VolumeServer(const VolumeServer&) = delete;
  VolumeServer& operator=(const VolumeServer&) = delete;

  const std::string& socket_path() const { return socket_; }
  const std::string& stats_path() const { return stats_; }
  const std::string& config_path() const { return config_; }

  // Adds or replaces the export and rewrites the config; then waits (up to `wait`) until the
  // plugin's stats list the export with this file (the plugin has loaded it). Unavailable when
  // the config cannot be written; DeadlineExceeded-like Unavailable when the plugin does not
  // pick it up in time.
  Status Put(const VolumeExport& e, std::chrono::milliseconds wait = std::chrono::seconds(5));
  // Drops the export from the config (OK when unknown).
  Status Remove(const std::string& export_name);
  std::vector<VolumeExport> Exports() const;
  // The plugin's last stats file (docs/storage.md). Unavailable when absent or unreadable.
  Result<nlohmann::json> Stats() const;
  // The nbdkit pid, or -1 when none runs.
  pid_t pid() const;
  // Stops nbdkit (SIGTERM, then SIGKILL after 3 s) and the watchdog; removes the socket.
  Status Stop();

 private:
  explicit VolumeServer(VolumeServerOptions options);
  Status WriteConfigLocked();
  Status EnsureRunningLocked();
  bool AliveLocked();
  Status SpawnLocked();
  void OpenSocketToQemu();
  void Watchdog();
  void Log(const std::string& line) const;

  VolumeServerOptions options_;
  std::string socket_, pidfile_, config_, stats_, logfile_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, VolumeExport> exports_;  // by mu_
  pid_t pid_ = -1;                               // by mu_
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_VOLUME_SERVER_H_
