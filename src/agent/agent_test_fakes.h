// Test doubles of the agent loop: a fake control plane (FakeLink), a fake host (FakeDriver), a
// thread-safe fake clock and a Waiter that advances that clock instead of sleeping.
// Thread-safety: every fake is thread-safe (the threaded tests share them between threads).
#ifndef DEVSHARE_SRC_AGENT_AGENT_TEST_FAKES_H_
#define DEVSHARE_SRC_AGENT_AGENT_TEST_FAKES_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "devshare/agent/control_link.h"
#include "devshare/agent/guest_driver.h"
#include "devshare/agent/waiter.h"
#include "devshare/core/clock.h"

namespace devshare::agent::testing {

class FakeClock final : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(Duration(ns_.load())); }
  void Advance(Duration d) { ns_ += d.count(); }

 private:
  std::atomic<int64_t> ns_{1'000'000'000};
};

// Records each wait and advances the clock by it (unless woken first). Blocks for real at most
// `real_cap` so that threaded tests do not spin, and not at all when real_cap is zero.
class FakeWaiter final : public Waiter {
 public:
  explicit FakeWaiter(FakeClock& clock, Duration real_cap = Duration::zero())
      : clock_(clock), real_cap_(real_cap) {}
  bool WaitFor(Duration timeout, const std::function<bool()>& wake) override {
    std::unique_lock<std::mutex> lock(mu_);
    waits_.push_back(timeout);
    if (wake()) return true;
    if (real_cap_ > Duration::zero()) cv_.wait_for(lock, std::min(timeout, real_cap_), wake);
    const bool woken = wake();
    if (!woken) clock_.Advance(timeout);
    return woken;
  }
  void Notify() override {
    { std::lock_guard<std::mutex> lock(mu_); }
    cv_.notify_all();
  }
  std::vector<Duration> waits() {
    std::lock_guard<std::mutex> lock(mu_);
    return waits_;
  }

 private:
  FakeClock& clock_;
  Duration real_cap_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Duration> waits_;
};

// The control plane: a desired state the test edits, recorded heartbeats, a console buffer per
// VM with the server's offset rules, and errors to inject per call kind.
class FakeLink final : public ControlLink {
 public:
  Status Register(const nlohmann::json& inventory) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++register_calls;
    registered = inventory;
    if (!register_always.ok()) return register_always;
    return Pop(register_errors);
  }
  Result<HeartbeatReply> Heartbeat(const AgentInfo& agent,
                                   const std::vector<ObservedVm>& vms) override {
    std::lock_guard<std::mutex> lock(mu_);
    Status s = Pop(heartbeat_errors);
    if (!s.ok()) return s;
    heartbeats.push_back(vms);
    last_agent = agent;
    HeartbeatReply r = heartbeat_reply;
    r.revision = desired.revision;
    cv_.notify_all();
    return r;
  }
  Result<HeartbeatReply> KeepAlive(const AgentInfo& agent) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++keepalives;
    last_agent = agent;
    HeartbeatReply r = heartbeat_reply;
    r.revision = desired.revision;
    cv_.notify_all();
    return r;
  }
  Result<DesiredState> WatchDesired(std::optional<int64_t> revision,
                                    std::chrono::milliseconds wait) override {
    std::unique_lock<std::mutex> lock(mu_);
    watch_revisions.push_back(revision.value_or(-1));
    Status s = Pop(watch_errors);
    if (!s.ok()) return s;
    // A long poll: wait (for real, only in threaded tests) while nothing changed.
    if (block_watch && revision && *revision == desired.revision && wait.count() > 0) {
      cv_.wait(lock, [&] { return interrupted || *revision != desired.revision; });
      if (interrupted) return Status::Unavailable("GET desired: interrupted");
    }
    return desired;
  }
  Result<ConsolePushReply> PushConsole(const std::string& vm_id, int64_t offset,
                                       const std::string& bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++console_calls;
    Status s = Pop(console_errors);
    if (!s.ok()) return s;
    std::string& buf = console[vm_id];
    const int64_t end = static_cast<int64_t>(buf.size());
    if (offset > end) return ConsolePushReply{false, end};
    if (offset + static_cast<int64_t>(bytes.size()) > end) buf += bytes.substr(end - offset);
    return ConsolePushReply{true, static_cast<int64_t>(buf.size())};
  }
  void Interrupt() override {
    std::lock_guard<std::mutex> lock(mu_);
    interrupted = true;
    cv_.notify_all();
  }

  // Test side.
  void SetDesired(DesiredState d) {
    std::lock_guard<std::mutex> lock(mu_);
    desired = std::move(d);
    cv_.notify_all();
  }
  // Waits (for real, up to 5 s) until a heartbeat satisfies `pred`.
  bool WaitForHeartbeat(const std::function<bool(const std::vector<ObservedVm>&)>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5),
                        [&] { return std::any_of(heartbeats.begin(), heartbeats.end(), pred); });
  }
  std::mutex& mu() { return mu_; }

  // Guarded by mu() while threads run.
  DesiredState desired;
  HeartbeatReply heartbeat_reply;
  std::deque<Status> register_errors, heartbeat_errors, watch_errors, console_errors;
  Status register_always;  // when not OK, every Register fails with it
  std::vector<std::vector<ObservedVm>> heartbeats;
  int keepalives = 0;  // liveness-only heartbeats
  std::vector<int64_t> watch_revisions;
  std::map<std::string, std::string> console;
  AgentInfo last_agent;
  nlohmann::json registered;
  int register_calls = 0;
  int console_calls = 0;
  bool block_watch = false;
  bool interrupted = false;

 private:
  static Status Pop(std::deque<Status>& q) {
    if (q.empty()) return Status::Ok();
    Status s = q.front();
    q.pop_front();
    return s;
  }
  std::mutex mu_;
  std::condition_variable cv_;
};

// The host: guests with a state, the spec hash last applied and a console log; every call is
// recorded as "<call> <vm>".
class FakeDriver final : public GuestDriver {
 public:
  struct Guest {
    std::string state = kStateRunning;
    std::string console;
    uint64_t spec_hash = 0;
  };

  Result<GuestState> Realize(const DesiredVm& vm) override {
    while (hold_realize) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> lock(mu_);
    calls.push_back("realize " + vm.id);
    if (auto it = realize_errors.find(vm.id); it != realize_errors.end()) return it->second;
    if (guests.count(vm.id)) return Status::AlreadyExists("domain exists");
    guests[vm.id] = Guest{kStateRunning, "", vm.SpecHash()};
    return GuestState{"devshare-" + vm.id, kStateRunning, "running (booted)"};
  }
  Status Remove(const std::string& vm_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls.push_back("remove " + vm_id);
    guests.erase(vm_id);
    return Status::Ok();
  }
  Status Update(const DesiredVm& vm) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls.push_back("update " + vm.id);
    auto it = guests.find(vm.id);
    if (it == guests.end()) return Status::NotFound("no domain");
    it->second.spec_hash = vm.SpecHash();
    return Status::Ok();
  }
  Result<GuestState> State(const std::string& vm_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = guests.find(vm_id);
    if (it == guests.end()) return Status::NotFound("no domain");
    return GuestState{"devshare-" + vm_id, it->second.state, it->second.state + " (fake)"};
  }
  Status Start(const std::string& vm_id) override { return Power("start", vm_id, kStateRunning); }
  Status Stop(const std::string& vm_id) override { return Power("stop", vm_id, kStateStopped); }
  Status Reboot(const std::string& vm_id) override { return Power("reboot", vm_id, kStateRunning); }
  Result<GuestCounters> Usage(const std::string& vm_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = usage.find(vm_id);
    if (it == usage.end()) return Status::Unimplemented("no usage for " + vm_id);
    return it->second;
  }
  Result<std::vector<std::string>> ListVmIds() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!list_status.ok()) return list_status;
    std::vector<std::string> ids;
    for (const auto& [id, g] : guests) ids.push_back(id);
    return ids;
  }
  Result<std::string> ReadConsole(const std::string& vm_id, int64_t offset,
                                  int64_t max_bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = guests.find(vm_id);
    if (it == guests.end()) return Status::NotFound("no console log");
    const std::string& log = it->second.console;
    if (offset >= static_cast<int64_t>(log.size())) return std::string();
    return log.substr(offset, max_bytes);
  }

  // Test side.
  void SetGuest(const std::string& id, Guest g) {
    std::lock_guard<std::mutex> lock(mu_);
    guests[id] = std::move(g);
  }
  std::vector<std::string> TakeCalls() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    out.swap(calls);
    return out;
  }

  std::mutex mu_;  // guards the members below while threads run
  std::map<std::string, Guest> guests;
  std::map<std::string, Status> realize_errors;
  std::map<std::string, GuestCounters> usage;  // Usage(): absent = Unimplemented
  std::atomic<bool> hold_realize{false};       // Realize waits (for real) while true
  Status list_status;
  std::vector<std::string> calls;

 private:
  Status Power(const char* what, const std::string& vm_id, const char* state) {
    std::lock_guard<std::mutex> lock(mu_);
    calls.push_back(std::string(what) + " " + vm_id);
    auto it = guests.find(vm_id);
    if (it == guests.end()) return Status::NotFound("no domain");
    it->second.state = state;
    return Status::Ok();
  }
};

// A desired VM with a small allocation and spec; `cpu_milli` changes the spec hash.
inline DesiredVm Vm(const std::string& id, int64_t cpu_milli = 1000,
                    const std::string& power = "running", int64_t reboot_seq = 0) {
  DesiredVm vm;
  vm.id = id;
  vm.tenant_id = "t-1";
  vm.name = id;
  vm.power = power;
  vm.reboot_seq = reboot_seq;
  vm.allocation = {
      {"cpu_milli", cpu_milli}, {"memory_mib", 512}, {"devices", nlohmann::json::array()}};
  vm.spec = {{"name", id}, {"cpu_milli", cpu_milli}, {"memory_mib", 512}};
  return vm;
}

inline DesiredState Desired(int64_t revision, std::vector<DesiredVm> vms) {
  DesiredState d;
  d.revision = revision;
  d.schedule = "open";
  d.vms = std::move(vms);
  return d;
}

}  // namespace devshare::agent::testing

#endif  // DEVSHARE_SRC_AGENT_AGENT_TEST_FAKES_H_
