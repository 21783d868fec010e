// SystemWaiter, Backoff, ErrorLog.
#include "devshare/agent/waiter.h"

#include <algorithm>

namespace devshare::agent {

bool SystemWaiter::WaitFor(Duration timeout, const std::function<bool()>& wake) {
  std::unique_lock<std::mutex> lock(mu_);
  if (timeout <= Duration::zero()) return wake();
  return cv_.wait_for(lock, timeout, wake);
}

void SystemWaiter::Notify() {
  // Taking the mutex orders the notifier's state change before a waiter's predicate check.
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
}

Backoff::Backoff(Duration initial, Duration max, uint64_t seed)
    : initial_(std::max(initial, Duration(1))), max_(std::max(max, initial_)), rng_(seed) {}

Duration Backoff::Next() {
  current_ = current_ == Duration::zero() ? initial_ : std::min(current_ * 2, max_);
  const int64_t half = current_.count() / 2;
  return Duration(half + static_cast<int64_t>(rng_.Uniform(static_cast<uint64_t>(half) + 1)));
}

void ErrorLog::Failed(const Status& s) {
  if (!failing_ || s.code() != last_) log_(what_ + ": " + s.ToString());
  failing_ = true;
  last_ = s.code();
}

void ErrorLog::Succeeded() {
  if (failing_) log_(what_ + ": ok again");
  failing_ = false;
  last_ = StatusCode::kOk;
}

}  // namespace devshare::agent
