// Storage pools of a host: a directory the agent offers as one disk of the inventory (one tier),
// how it is declared (`devshare agent --pool NAME:TIER:DIR[,key=value...]`), its calibration
// (IOPS and MB/s measured by a short run of O_DIRECT 4 KiB random writes and 1 MiB sequential
// writes on a scratch file in the pool), and where a VM's volume lives in it.
// Thread-safety: pure functions, except CalibratePool and PreparePool (they write in the pool's
// directory; do not run two on one pool at once).
#ifndef DEVSHARE_HOST_STORAGE_POOL_H_
#define DEVSHARE_HOST_STORAGE_POOL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "devshare/core/result.h"

namespace devshare::host {

// Device attribute keys of a pool's disk device (read by realization).
inline constexpr const char* kAttrPoolDir = "pool_dir";
inline constexpr const char* kAttrPoolScheduler = "pool_scheduler";
inline constexpr const char* kAttrPoolMbps = "pool_mbps";

// How a pool's volumes reach their guests:
//   mclock: through devshare's nbdkit plugin, mClock over the pool's volumes (reservation, weight,
//           limit per volume; paced at the pool's capacity);
//   fifo:   the same data path and pacing in arrival order (the baseline, no per-volume QoS);
//   none:   plain files opened by QEMU (no devshare in the data path, no QoS).
inline constexpr const char* kPoolSchedulers[] = {"mclock", "fifo", "none"};

struct StoragePool {
  std::string name;          // the inventory disk id (a device name: [A-Za-z0-9_.-], at most 63)
  std::string tier;          // nvme | ssd | hdd
  std::string dir;           // absolute
  int64_t capacity_gib = 0;  // 0 = the filesystem's free space when prepared
  int64_t iops = 0;          // 0 = calibrate
  int64_t mbps = 0;          // 0 = calibrate
  std::string scheduler = "mclock";
  std::string origin;  // how capacity and speed were obtained ("declared", "calibrated ...")
};

// "fast:nvme:/srv/pools/fast,iops=400,mbps=100,capacity_gib=20,scheduler=fifo" -> StoragePool.
// The directory is made absolute. InvalidArgument naming the part for a missing or bad name,
// an unknown tier or scheduler, an unknown key, or a number out of range.
Result<StoragePool> ParsePoolFlag(std::string_view flag);

struct PoolCalibration {
  int64_t iops = 0;    // 4 KiB random writes per second
  int64_t mbps = 0;    // 1 MiB sequential writes, MB (1e6 bytes) per second
  bool direct = true;  // O_DIRECT was honoured (else buffered writes + fdatasync per batch)
  std::chrono::milliseconds took{0};
};
// Measures the pool directory: `phase` of 4 KiB random O_DIRECT writes from 4 threads on a 64 MiB
// scratch file, then `phase` of 1 MiB sequential writes, then removes the file. Where O_DIRECT is
// refused (tmpfs) every write batch ends with fdatasync instead. Unavailable naming the
// directory when it cannot be written.
Result<PoolCalibration> CalibratePool(const std::string& dir, std::chrono::milliseconds phase);

// Creates the directory (0755), fills capacity_gib from the filesystem's free space when 0 and
// iops/mbps from CalibratePool when 0, and sets `origin`. Unavailable when the directory cannot
// be created or written; FailedPrecondition when it has less than 1 GiB free.
Status PreparePool(StoragePool& pool, std::chrono::milliseconds calibration_phase);

// The file of a VM's volume in a pool, and its NBD export name:
// <dir>/<domain name>-<volume name>.raw and "<domain name>-<volume name>".
std::string VolumeExportName(std::string_view domain_name, std::string_view volume_name);
std::string VolumeFilePath(std::string_view pool_dir, std::string_view domain_name,
                           std::string_view volume_name);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_STORAGE_POOL_H_
