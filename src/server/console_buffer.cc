// ConsoleBuffers: per-VM serial console bytes, bounded, with waiting readers.
#include "server/console_buffer.h"

#include <algorithm>
#include <chrono>

namespace devshare::server {

ConsoleBuffers::ConsoleBuffers(int64_t max_bytes_per_vm)
    : max_bytes_(std::max<int64_t>(1, max_bytes_per_vm)) {}

Result<int64_t> ConsoleBuffers::Append(const std::string& vm_id, int64_t offset,
                                       std::string_view bytes) {
  if (offset < 0) return Status::InvalidArgument("console offset must be >= 0");
  std::lock_guard<std::mutex> lock(mu_);
  Log& log = logs_[vm_id];
  const int64_t end = log.start + static_cast<int64_t>(log.data.size());
  if (offset > end) {
    return Status::FailedPrecondition("console bytes from offset " + std::to_string(offset) +
                                      " would leave a gap after the server's end " +
                                      std::to_string(end))
        .WithReason("console_gap", "{\"expected\":" + std::to_string(end) + "}");
  }
  const int64_t skip = end - offset;
  if (skip < static_cast<int64_t>(bytes.size())) {
    log.data.append(bytes.substr(static_cast<size_t>(skip)));
    if (static_cast<int64_t>(log.data.size()) > max_bytes_) {
      const int64_t drop = static_cast<int64_t>(log.data.size()) - max_bytes_;
      log.data.erase(0, static_cast<size_t>(drop));
      log.start += drop;
    }
    cv_.notify_all();
  }
  return log.start + static_cast<int64_t>(log.data.size());
}

ConsoleBuffers::Chunk ConsoleBuffers::Read(const std::string& vm_id, int64_t offset,
                                           int64_t max_bytes, int64_t wait_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto end_of = [this, &vm_id]() -> int64_t {
    auto it = logs_.find(vm_id);
    return it == logs_.end() ? 0 : it->second.start + static_cast<int64_t>(it->second.data.size());
  };
  if (wait_ms > 0 && end_of() <= offset) {
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                 [&] { return shutdown_ || end_of() > offset; });
  }
  Chunk c;
  auto it = logs_.find(vm_id);
  if (it == logs_.end()) return c;
  const Log& log = it->second;
  const int64_t end = log.start + static_cast<int64_t>(log.data.size());
  c.start = std::clamp<int64_t>(offset, log.start, end);
  const int64_t n = std::min<int64_t>(std::max<int64_t>(0, max_bytes), end - c.start);
  c.bytes = log.data.substr(static_cast<size_t>(c.start - log.start), static_cast<size_t>(n));
  c.next = c.start + n;
  return c;
}

int64_t ConsoleBuffers::End(const std::string& vm_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = logs_.find(vm_id);
  return it == logs_.end() ? 0 : it->second.start + static_cast<int64_t>(it->second.data.size());
}

void ConsoleBuffers::Drop(const std::string& vm_id) {
  std::lock_guard<std::mutex> lock(mu_);
  logs_.erase(vm_id);
  cv_.notify_all();
}

void ConsoleBuffers::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

}  // namespace devshare::server
