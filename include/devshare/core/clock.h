// Clock: injected time source. SimulatedClock is advanced explicitly by the simulator and tests;
// SystemClock reads the steady clock (only the CLI and servers use it).
// Thread-safety: SystemClock is thread-safe; SimulatedClock is not (single-threaded simulations).
#ifndef DEVSHARE_CORE_CLOCK_H_
#define DEVSHARE_CORE_CLOCK_H_

#include <chrono>

namespace devshare {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(TimePoint start = TimePoint{}) : now_(start) {}
  TimePoint Now() const override { return now_; }
  void Advance(Duration d) { now_ += d; }
  void SetTime(TimePoint t) { now_ = t; }

 private:
  TimePoint now_;
};

}  // namespace devshare

#endif  // DEVSHARE_CORE_CLOCK_H_
