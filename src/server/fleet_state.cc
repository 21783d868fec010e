// FleetState: liveness of managed hosts and the change counter of desired-state watchers.
#include "server/fleet_state.h"

#include <algorithm>
#include <chrono>

namespace devshare::server {

FleetState::FleetState(std::function<int64_t()> now_unix_ms, int64_t host_timeout_ms)
    : now_(std::move(now_unix_ms)), timeout_ms_(std::max<int64_t>(1, host_timeout_ms)) {}

int64_t FleetState::heartbeat_interval_ms() const {
  return std::max<int64_t>(100, timeout_ms_ / 6);
}

bool FleetState::UnreachableLocked(const Liveness& l, int64_t now) const {
  return now - l.since_unix_ms > timeout_ms_;
}

bool FleetState::Heard(const std::string& host) {
  const int64_t now = now_();
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = hosts_.try_emplace(host);
  const bool changed =
      inserted || it->second.heard_unix_ms == 0 || UnreachableLocked(it->second, now);
  it->second.since_unix_ms = now;
  it->second.heard_unix_ms = now;
  if (changed) {
    ++changes_;
    cv_.notify_all();
  }
  return changed;
}

void FleetState::Expect(const std::string& host) {
  const int64_t now = now_();
  std::lock_guard<std::mutex> lock(mu_);
  hosts_.try_emplace(host, Liveness{now, 0});
}

void FleetState::Forget(const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  hosts_.erase(host);
}

bool FleetState::Unreachable(const std::string& host) const {
  const int64_t now = now_();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host);
  return it != hosts_.end() && UnreachableLocked(it->second, now);
}

int64_t FleetState::LastHeardUnixMs(const std::string& host) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.heard_unix_ms;
}

uint64_t FleetState::changes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return changes_;
}

void FleetState::Changed() {
  std::lock_guard<std::mutex> lock(mu_);
  ++changes_;
  cv_.notify_all();
}

uint64_t FleetState::WaitForChange(uint64_t seen, int64_t wait_ms) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, wait_ms)),
               [&] { return shutdown_ || changes_ != seen; });
  return changes_;
}

void FleetState::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

}  // namespace devshare::server
