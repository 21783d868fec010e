// Volume: paced I/O on the volume's file, and the live move protocol (docs/storage.md).
#include "devshare/storage/volume.h"

#include <vector>

namespace devshare::storage {

Result<std::string> RecoverVolumeFile(const VolumeConfig& config) {
  if (FileExists(config.file)) {
    if (!config.moving_from.empty() && FileExists(config.moving_from)) {
      // The rename committed the move; the old copy is garbage.
      DS_RETURN_IF_ERROR(RemoveFileDurably(config.moving_from));
    }
    return config.file;
  }
  if (!config.moving_from.empty()) {
    if (FileExists(config.moving_from)) return config.moving_from;
    return Status::DataLoss("volume '" + config.export_name + "': neither " + config.file +
                            " nor moving_from " + config.moving_from + " exists");
  }
  if (FileExists(config.file + ".part")) {
    return Status::FailedPrecondition("volume '" + config.export_name + "': " + config.file +
                                      " is missing but " + config.file +
                                      ".part exists (a move was under way; set moving_from)");
  }
  DS_ASSIGN_OR_RETURN(VolumeFile f, VolumeFile::Create(config.file, config.size_bytes, false));
  return config.file;
}

Volume::Volume(VolumeId id, const VolumeConfig& config, VolumeFile file,
               const std::string& pool_name, std::shared_ptr<PoolDispatcher> pool)
    : id_(id),
      file_(std::move(file)),
      config_(config),
      pool_name_(pool_name),
      pool_(std::move(pool)) {}

Result<std::shared_ptr<Volume>> Volume::Open(VolumeId id, const VolumeConfig& config,
                                             const std::string& file, const std::string& pool_name,
                                             std::shared_ptr<PoolDispatcher> pool) {
  DS_ASSIGN_OR_RETURN(VolumeFile f, VolumeFile::Open(file));
  DS_RETURN_IF_ERROR(f.GrowTo(config.size_bytes));
  return std::shared_ptr<Volume>(new Volume(id, config, std::move(f), pool_name, std::move(pool)));
}

Volume::~Volume() {
  move_stop_ = true;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    if (move_budget_ != nullptr) move_budget_->WakeAll();
  }
  if (move_thread_.joinable()) move_thread_.join();
}

std::shared_ptr<PoolDispatcher> Volume::CurrentPool() const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  return pool_;
}

Status Volume::Paced(uint64_t bytes) {
  std::shared_ptr<PoolDispatcher> pool = CurrentPool();
  Result<uint32_t> cost = pool->Acquire(id_, bytes);
  if (!cost.ok()) return cost.status();
  cost_served_ += *cost;
  return Status::Ok();
}

Status Volume::Count(Status s) {
  if (!s.ok()) ++errors_;
  return s;
}

Status Volume::Read(void* buf, uint32_t count, uint64_t offset) {
  Status paced = Paced(count);
  if (!paced.ok()) return Count(paced);
  std::shared_lock<std::shared_mutex> lock(io_mu_);
  Status s = file_.ReadAt(buf, count, offset);
  if (s.ok()) {
    ++ops_read_;
    bytes_read_ += count;
  }
  return Count(s);
}

namespace {

// Applies a change to the volume's file and, while a move copies, to the new copy too (the
// copier's exclusive chunks re-copy whatever it had not reached yet from the updated old file).
// A failure on the copy only marks the move failed; the old file's result is the answer.
template <typename Op>
Status ToBoth(VolumeFile& file, VolumeFile& part, std::atomic<bool>& part_failed, bool fua, Op op) {
  Status s = op(file);
  if (s.ok() && fua) s = file.Sync();
  if (s.ok() && part.is_open() && !part_failed) {
    Status p = op(part);
    if (p.ok() && fua) p = part.Sync();
    if (!p.ok()) part_failed = true;
  }
  return s;
}

}  // namespace

Status Volume::Write(const void* buf, uint32_t count, uint64_t offset, bool fua) {
  Status paced = Paced(count);
  if (!paced.ok()) return Count(paced);
  std::shared_lock<std::shared_mutex> lock(io_mu_);
  Status s = ToBoth(file_, part_, part_failed_, fua,
                    [&](VolumeFile& f) { return f.WriteAt(buf, count, offset); });
  if (s.ok()) {
    ++ops_write_;
    bytes_written_ += count;
  }
  return Count(s);
}

Status Volume::Flush() {
  Status paced = Paced(0);
  if (!paced.ok()) return Count(paced);
  std::shared_lock<std::shared_mutex> lock(io_mu_);
  Status s = file_.Sync();
  if (s.ok() && part_.is_open() && !part_failed_ && !part_.Sync().ok()) part_failed_ = true;
  if (s.ok()) ++ops_flush_;
  return Count(s);
}

Status Volume::Trim(uint32_t count, uint64_t offset, bool fua) {
  Status paced = Paced(0);
  if (!paced.ok()) return Count(paced);
  std::shared_lock<std::shared_mutex> lock(io_mu_);
  Status s = ToBoth(file_, part_, part_failed_, fua,
                    [&](VolumeFile& f) { return f.PunchHole(count, offset); });
  if (s.ok()) ++ops_trim_;
  return Count(s);
}

Status Volume::Zero(uint32_t count, uint64_t offset, bool may_trim, bool fua) {
  Status paced = Paced(0);
  if (!paced.ok()) return Count(paced);
  std::shared_lock<std::shared_mutex> lock(io_mu_);
  Status s = ToBoth(file_, part_, part_failed_, fua,
                    [&](VolumeFile& f) { return f.ZeroRange(count, offset, may_trim); });
  if (s.ok()) {
    ++ops_write_;
    bytes_written_ += count;
  }
  return Count(s);
}

Status Volume::SetConfig(const VolumeConfig& config) {
  uint64_t old_size = size_bytes();
  if (config.size_bytes < old_size) {
    return Status::FailedPrecondition("volume '" + config.export_name + "': size_bytes " +
                                      std::to_string(config.size_bytes) + " is below its size " +
                                      std::to_string(old_size) + " (volumes never shrink)");
  }
  if (config.size_bytes > old_size) {
    std::unique_lock<std::shared_mutex> io(io_mu_);
    DS_RETURN_IF_ERROR(file_.GrowTo(config.size_bytes));
    if (part_.is_open() && !part_.GrowTo(config.size_bytes).ok()) part_failed_ = true;
  }
  std::lock_guard<std::mutex> lock(meta_mu_);
  config_ = config;
  return Status::Ok();
}

void Volume::SetPool(const std::string& pool_name, std::shared_ptr<PoolDispatcher> pool) {
  std::lock_guard<std::mutex> lock(meta_mu_);
  pool_name_ = pool_name;
  pool_ = std::move(pool);
}

void Volume::JoinFinishedMove() {
  if (!move_running_ && move_thread_.joinable()) move_thread_.join();
}

Status Volume::StartMove(const std::string& to_file, const std::string& to_pool_name,
                         std::shared_ptr<PoolDispatcher> to_pool, MigrationBudget& budget,
                         LogFn log_error, LogFn log_info) {
  JoinFinishedMove();
  if (move_running_) return Status::FailedPrecondition("a move is already running");
  uint64_t size = size_bytes();
  DS_ASSIGN_OR_RETURN(VolumeFile part, VolumeFile::Create(to_file + ".part", size, true));
  {
    std::unique_lock<std::shared_mutex> io(io_mu_);
    part_ = std::move(part);
    part_failed_ = false;
    std::lock_guard<std::mutex> lock(meta_mu_);
    move_ = MoveProgress{to_pool_name, to_file, 0, size};
    move_pool_ = std::move(to_pool);
    move_budget_ = &budget;
    move_failed_at_.reset();
  }
  move_stop_ = false;
  move_running_ = true;
  move_thread_ =
      std::thread([this, b = &budget, log_error, log_info] { RunMove(b, log_error, log_info); });
  return Status::Ok();
}

void Volume::RunMove(MigrationBudget* budget, LogFn log_error, LogFn log_info) {
  std::string from, to, part_path, to_pool_name, export_name;
  uint64_t total = 0;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    to = move_->to_file;
    to_pool_name = move_->to_pool;
    total = move_->total_bytes;
    export_name = config_.export_name;
  }
  {
    std::shared_lock<std::shared_mutex> io(io_mu_);
    from = file_.path();
    part_path = part_.path();
  }
  auto fail = [&](const Status& s) {
    log_error("volume '" + export_name + "': move to " + to + " failed: " + s.ToString());
    std::unique_lock<std::shared_mutex> io(io_mu_);
    part_.Close();
    (void)RemoveFileDurably(part_path);
    std::lock_guard<std::mutex> lock(meta_mu_);
    move_.reset();
    move_pool_.reset();
    move_budget_ = nullptr;
    move_failed_at_ = std::chrono::steady_clock::now();
    move_running_ = false;
  };

  std::vector<char> chunk(kMoveChunkBytes);
  for (uint64_t off = 0; off < total; off += kMoveChunkBytes) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kMoveChunkBytes, total - off));
    if (!budget->Wait(n, move_stop_)) {
      // Stopped: CancelMove removes the .part; a destructor leaves it for the next start.
      move_running_ = false;
      return;
    }
    std::unique_lock<std::shared_mutex> io(io_mu_);
    if (part_failed_) {
      io.unlock();
      return fail(Status::DataLoss("a write to " + part_path + " failed"));
    }
    Status s = file_.ReadAt(chunk.data(), n, off);
    if (s.ok()) s = part_.WriteAt(chunk.data(), n, off);
    if (!s.ok()) {
      io.unlock();
      return fail(s);
    }
    std::lock_guard<std::mutex> lock(meta_mu_);
    move_->copied_bytes = off + n;
  }

  // Commit: durable copy, rename (the commit point), durable directory, switch.
  std::unique_lock<std::shared_mutex> io(io_mu_);
  Status s = part_failed_ ? Status::DataLoss("a write to " + part_path + " failed") : part_.Sync();
  if (s.ok()) s = RenameDurably(part_path, to);
  if (!s.ok()) {
    io.unlock();
    return fail(s);
  }
  VolumeFile old = std::move(file_);
  file_ = std::move(part_);
  file_.Renamed(to);
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    pool_name_ = to_pool_name;
    pool_ = std::move(move_pool_);
    move_.reset();
    move_budget_ = nullptr;
  }
  io.unlock();
  old.Close();
  Status rm = RemoveFileDurably(from);
  if (!rm.ok()) log_error("volume '" + export_name + "': " + rm.ToString());
  log_info("volume '" + export_name + "': moved from " + from + " to " + to + " (" +
           std::to_string(total) + " bytes)");
  move_running_ = false;
}

void Volume::CancelMove() {
  move_stop_ = true;
  {
    std::lock_guard<std::mutex> lock(meta_mu_);
    if (move_budget_ != nullptr) move_budget_->WakeAll();
  }
  if (move_thread_.joinable()) move_thread_.join();
  std::unique_lock<std::shared_mutex> io(io_mu_);
  if (part_.is_open()) {
    std::string path = part_.path();
    part_.Close();
    (void)RemoveFileDurably(path);
  }
  std::lock_guard<std::mutex> lock(meta_mu_);
  move_.reset();
  move_pool_.reset();
  move_budget_ = nullptr;
}

bool Volume::moving() const { return move_running_; }

std::string Volume::move_target() const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  return move_ ? move_->to_file : std::string();
}

std::optional<std::chrono::steady_clock::time_point> Volume::move_failed_at() const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  return move_failed_at_;
}

uint64_t Volume::size_bytes() const {
  std::lock_guard<std::mutex> lock(meta_mu_);
  return config_.size_bytes;
}

std::string Volume::file() const {
  std::shared_lock<std::shared_mutex> io(io_mu_);
  return file_.path();
}

VolumeSnapshot Volume::Snapshot() const {
  VolumeSnapshot s;
  s.file = file();
  std::lock_guard<std::mutex> lock(meta_mu_);
  s.config = config_;
  s.pool = pool_name_;
  s.moving = move_;
  s.counters.ops_read = ops_read_;
  s.counters.ops_write = ops_write_;
  s.counters.ops_flush = ops_flush_;
  s.counters.ops_trim = ops_trim_;
  s.counters.bytes_read = bytes_read_;
  s.counters.bytes_written = bytes_written_;
  s.counters.cost_served = cost_served_;
  s.counters.errors = errors_;
  return s;
}

}  // namespace devshare::storage
