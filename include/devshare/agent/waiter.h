// Waiting for the agent's threads, injected so that tests control time: Waiter (interruptible
// sleep: a wait ends at its deadline or as soon as its wake-up predicate holds after a Notify),
// Backoff (exponential with jitter from an injected seed) and ErrorLog (one log line per change
// of error class, so an unreachable server does not flood the log).
// Thread-safety: Waiter implementations are thread-safe; Backoff and ErrorLog are not (one per
// thread).
#ifndef DEVSHARE_AGENT_WAITER_H_
#define DEVSHARE_AGENT_WAITER_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "devshare/core/clock.h"
#include "devshare/core/random.h"
#include "devshare/core/status.h"

namespace devshare::agent {

class Waiter {
 public:
  virtual ~Waiter() = default;
  // Blocks up to `timeout` or until `wake()` is true (checked at entry and after each
  // Notify()). Returns wake()'s last value. `wake` must only read state that the notifier
  // changes before calling Notify().
  virtual bool WaitFor(Duration timeout, const std::function<bool()>& wake) = 0;
  // Makes every current WaitFor re-check its predicate.
  virtual void Notify() = 0;
};

// Real time: a condition variable.
class SystemWaiter final : public Waiter {
 public:
  bool WaitFor(Duration timeout, const std::function<bool()>& wake) override;
  void Notify() override;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

// Exponential backoff: initial, doubling up to max; each delay is drawn uniformly from
// [delay/2, delay] ("equal jitter") so that agents restarting together spread out.
class Backoff {
 public:
  Backoff(Duration initial, Duration max, uint64_t seed);
  Duration Next();
  void Reset() { current_ = Duration::zero(); }
  bool active() const { return current_ != Duration::zero(); }

 private:
  Duration initial_, max_;
  Duration current_ = Duration::zero();
  Random rng_;
};

// Logs "<what>: <status>" when the error class (status code) differs from the last one, and
// "<what>: ok again" once when calls succeed after errors.
class ErrorLog {
 public:
  ErrorLog(std::string what, std::function<void(const std::string&)> log)
      : what_(std::move(what)), log_(std::move(log)) {}
  void Failed(const Status& s);
  void Succeeded();
  bool failing() const { return failing_; }

 private:
  std::string what_;
  std::function<void(const std::string&)> log_;
  bool failing_ = false;
  StatusCode last_ = StatusCode::kOk;
};

}  // namespace devshare::agent

#endif  // DEVSHARE_AGENT_WAITER_H_
