// Volume: one served export: its file, the pool dispatcher that paces its requests, cumulative
// counters, and the live move of its data to another pool (docs/storage.md "Live move").
// Thread-safety: thread-safe. I/O holds the volume's shared_mutex shared; the mover takes it
// exclusive per chunk and for the switch, so no stale chunk overwrites a newer write.
#ifndef DEVSHARE_STORAGE_VOLUME_H_
#define DEVSHARE_STORAGE_VOLUME_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>

#include "devshare/core/result.h"
#include "devshare/storage/migration_budget.h"
#include "devshare/storage/pool_dispatcher.h"
#include "devshare/storage/volume_config.h"
#include "devshare/storage/volume_file.h"

namespace devshare::storage {

// Copy unit of a live move.
inline constexpr uint64_t kMoveChunkBytes = 1 << 20;

// The crash-recovery rule of a volume's files; returns the path to serve.
// `file` exists: it is the data (the rename is the commit point); `moving_from` is deleted when
// it still exists. Else `moving_from` exists: serve it (the caller restarts the move). Else,
// without `moving_from`: a new sparse file of size_bytes is created, unless `<file>.part`
// exists (FailedPrecondition: a move was under way, say moving_from). Else DataLoss.
Result<std::string> RecoverVolumeFile(const VolumeConfig& config);

struct VolumeCounterValues {
  uint64_t ops_read = 0, ops_write = 0, ops_flush = 0, ops_trim = 0;
  uint64_t bytes_read = 0, bytes_written = 0, cost_served = 0, errors = 0;
  uint64_t ops() const { return ops_read + ops_write + ops_flush + ops_trim; }
};

struct MoveProgress {
  std::string to_pool;
  std::string to_file;
  uint64_t copied_bytes = 0;
  uint64_t total_bytes = 0;
};

struct VolumeSnapshot {
  VolumeConfig config;  // the last config applied
  std::string pool;     // the pool serving it now
  std::string file;     // the file serving it now
  VolumeCounterValues counters;
  std::optional<MoveProgress> moving;
};

using LogFn = std::function<void(const std::string&)>;

class Volume {
 public:
  // Serves `file` (from RecoverVolumeFile) paced by `pool` (named `pool_name`); grows the file
  // to config.size_bytes. Errors of opening the file.
  static Result<std::shared_ptr<Volume>> Open(VolumeId id, const VolumeConfig& config,
                                              const std::string& file, const std::string& pool_name,
                                              std::shared_ptr<PoolDispatcher> pool);
  ~Volume();  // stops a running move (its .part stays; the next start truncates it)
  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;

  // I/O, each paced by the current pool first. Read/Write cost by size; flush, trim and zero
  // cost one unit. Errors: the pool's (Unavailable when stopping) or the file's.
  Status Read(void* buf, uint32_t count, uint64_t offset);
  Status Write(const void* buf, uint32_t count, uint64_t offset, bool fua);
  Status Flush();
  Status Trim(uint32_t count, uint64_t offset, bool fua);
  Status Zero(uint32_t count, uint64_t offset, bool may_trim, bool fua);

  // Records a new config (QoS values are applied by the caller to the dispatchers); grows the
  // file when size_bytes grew. FailedPrecondition for a shrink (the old size stays).
  Status SetConfig(const VolumeConfig& config);
  // Routes later requests to `pool` (e.g. after the pool's scheduler changed).
  void SetPool(const std::string& pool_name, std::shared_ptr<PoolDispatcher> pool);

  // Starts copying the data to `to_file` (via `<to_file>.part`) within `budget`; when done the
  // volume serves `to_file`, is paced by `to_pool` and the old file is deleted. FailedPrecondition
  // when a move runs. Failures of the copier are logged with `log_error` and end the move
  // (move_failed_at() is set; the old file keeps serving).
  Status StartMove(const std::string& to_file, const std::string& to_pool_name,
                   std::shared_ptr<PoolDispatcher> to_pool, MigrationBudget& budget,
                   LogFn log_error, LogFn log_info);
  // Stops a running move and deletes its .part. No-op without one.
  void CancelMove();
  bool moving() const;
  std::optional<std::chrono::steady_clock::time_point> move_failed_at() const;

  VolumeId id() const { return id_; }
  // The dispatcher pacing the volume now.
  std::shared_ptr<PoolDispatcher> pool() const { return CurrentPool(); }
  // The file a running move copies to (empty when none runs).
  std::string move_target() const;
  uint64_t size_bytes() const;
  std::string file() const;
  VolumeSnapshot Snapshot() const;

 private:
  Volume(VolumeId id, const VolumeConfig& config, VolumeFile file, const std::string& pool_name,
         std::shared_ptr<PoolDispatcher> pool);
  std::shared_ptr<PoolDispatcher> CurrentPool() const;
  Status Paced(uint64_t bytes);
  Status Count(Status s);
  void RunMove(MigrationBudget* budget, LogFn log_error, LogFn log_info);
  void JoinFinishedMove();  // REQUIRES: meta_mu_ not held

  const VolumeId id_;

  // Data path: file_ and part_ change only under io_mu_ held exclusive.
  mutable std::shared_mutex io_mu_;
  VolumeFile file_;
  VolumeFile part_;  // open while a move copies
  std::atomic<bool> part_failed_{false};

  // Metadata, guarded by meta_mu_ (taken after io_mu_ when both are held).
  mutable std::mutex meta_mu_;
  VolumeConfig config_;
  std::string pool_name_;
  std::shared_ptr<PoolDispatcher> pool_;
  std::optional<MoveProgress> move_;
  std::shared_ptr<PoolDispatcher> move_pool_;
  std::optional<std::chrono::steady_clock::time_point> move_failed_at_;

  MigrationBudget* move_budget_ = nullptr;  // of the running move
  std::thread move_thread_;
  std::atomic<bool> move_stop_{false};
  std::atomic<bool> move_running_{false};

  std::atomic<uint64_t> ops_read_{0}, ops_write_{0}, ops_flush_{0}, ops_trim_{0};
  std::atomic<uint64_t> bytes_read_{0}, bytes_written_{0}, cost_served_{0}, errors_{0};
};

}  // namespace devshare::storage

#endif  // DEVSHARE_STORAGE_VOLUME_H_
