// VolumeConfig: the JSON config of devshare's nbdkit storage plugin (pools with capacity and
// scheduler, volumes with QoS and an optional live move), read strictly (docs/storage.md).
// Thread-safety: plain values; ParseStorageConfig is thread-safe.
#ifndef DEVSHARE_STORAGE_VOLUME_CONFIG_H_
#define DEVSHARE_STORAGE_VOLUME_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/result.h"

namespace devshare::storage {

// How a pool orders and paces its requests: mclock and fifo pace at capacity_iops cost units per
// second (fifo in arrival order, the baseline); none serves at once with no queue.
enum class PoolScheduler { kMClock, kFifo, kNone };
std::string_view PoolSchedulerName(PoolScheduler s);

struct PoolConfig {
  std::string name;
  std::string tier;
  std::string dir;  // absolute; volume files of this pool live directly in it
  double capacity_iops = 0;
  double capacity_mbps = 0;  // 1 MB = 1e6 bytes
  PoolScheduler scheduler = PoolScheduler::kMClock;
};

struct VolumeConfig {
  std::string export_name;
  std::string pool;
  std::string file;  // absolute, inside the pool's dir
  uint64_t size_bytes = 0;
  // In cost units per second (a cost unit is one request of at most PoolCostUnitBytes()).
  double reservation_iops = 0;
  double weight = 1;
  double limit_iops = 0;    // 0: no limit
  std::string moving_from;  // empty: not moving; else the file the data was moved away from
};

struct StorageConfig {
  std::string stats_file;
  std::chrono::milliseconds stats_interval_ms{1000};
  double migration_mbps = 64;
  std::vector<PoolConfig> pools;
  std::vector<VolumeConfig> volumes;

  const PoolConfig* FindPool(std::string_view name) const;
  const VolumeConfig* FindVolume(std::string_view export_name) const;
};

// Parses `text`; errors are InvalidArgument "<source_name>: field '<path>': <reason>" (e.g.
// "config.json: field 'volumes[1].pool': unknown pool 'x'"). Unknown fields are rejected,
// numbers range-checked, names unique, paths absolute, reservations of a pool within capacity.
Result<StorageConfig> ParseStorageConfig(std::string_view text, const std::string& source_name);

// Reads and parses the file at `path` (errors name the path; NotFound when it cannot be read).
Result<StorageConfig> LoadStorageConfig(const std::string& path);

}  // namespace devshare::storage

#endif  // DEVSHARE_STORAGE_VOLUME_CONFIG_H_
