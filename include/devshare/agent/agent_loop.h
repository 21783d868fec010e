// AgentLoop: the `devshare agent` process (fleet contract, issue 14). Start() registers the host,
// reads the desired state and reconciles the host's guests with it (adopt the domains of desired
// VMs, remove the agent's other domains, create the missing ones, apply power, reboots and
// resizes); RunThreads() then runs three threads:
//   heartbeat: re-reads the guests' states, reports them every heartbeat_interval_ms (the
//              server's answer sets it) and at once when a state changes, each running VM with
//              its usage since the previous heartbeat (GuestDriver::Usage: CPU-time delta over
//              the clock's delta, used memory, GPU figures, the sizes in force);
//   watch:     long-polls the desired state and reconciles each answer;
//   console:   tails each guest's serial log and pushes new bytes (resuming at the server's
//              expected offset after a 409).
// Errors back off exponentially with jitter and log one line per change of error class. When
// the server is away the guests keep running untouched; Stop() ends the threads (guests stay).
// Time and waiting are injected (Clock, Waiter); the steps each thread repeats are public so
// tests can drive them one at a time.
// Thread-safety: Start, RunThreads and the *Step / Reconcile calls belong to one thread each as
// documented; Stop() and the accessors are thread-safe.
#ifndef DEVSHARE_AGENT_AGENT_LOOP_H_
#define DEVSHARE_AGENT_AGENT_LOOP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "devshare/agent/control_link.h"
#include "devshare/agent/guest_driver.h"
#include "devshare/agent/waiter.h"
#include "devshare/core/clock.h"

namespace devshare::agent {

struct AgentOptions {
  AgentInfo info;                                      // sent with every heartbeat
  nlohmann::json inventory;                            // body of PUT /v1/hosts/{name}
  std::chrono::milliseconds watch_wait{25000};         // long-poll wait_ms
  std::chrono::milliseconds watch_min_interval{500};   // after an answer with the same revision
  std::chrono::milliseconds heartbeat_interval{5000};  // until the server's answer says
  // While Start()'s first reconcile runs (it may create many guests), send liveness-only
  // heartbeats from a helper thread every heartbeat_interval, so that the host does not look
  // unreachable; the VM states go out after the reconcile. Off in step-driven tests.
  bool keepalive_during_start = false;
  std::chrono::milliseconds state_poll_interval{2000};  // re-reading guest states
  std::chrono::milliseconds console_interval{250};
  int64_t console_chunk_bytes = 64 * 1024;
  int console_chunks_per_step = 16;  // per VM
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  uint64_t seed = 1;  // backoff jitter
  // One progress or error line (no trailing newline). Default: stderr.
  std::function<void(const std::string&)> log;
};

// What one reconcile did.
struct ReconcileCounts {
  int adopted = 0;  // existing domains of desired VMs taken over (at start)
  int removed = 0;  // domains of VMs not desired here
  int created = 0;  // desired VMs without a domain, realized
  int updated = 0;  // allocation / QoS changed
  int started = 0, stopped = 0, rebooted = 0;
  int failed = 0;               // actions that failed (retried at the next reconcile)
  std::string Summary() const;  // "2 adopted / 1 removed / 0 created" (+ non-zero others)
};

class AgentLoop {
 public:
  // REQUIRES: link, driver, clock and waiter outlive the loop.
  AgentLoop(ControlLink& link, GuestDriver& driver, const Clock& clock, Waiter& waiter,
            AgentOptions options);
  ~AgentLoop();  // Stop()
  AgentLoop(const AgentLoop&) = delete;
  AgentLoop& operator=(const AgentLoop&) = delete;

  // Registers (retrying transient errors with backoff), reads the first desired state and
  // reconciles. Returns the permanent error (bad request, token refused, endpoint missing)
  // naming the step, or Aborted when Stop() was called meanwhile. Logs "registered" and
  // "reconciled: ...". Call once, before RunThreads.
  Status Start();
  // Starts the heartbeat, watch and console threads. REQUIRES: Start() returned OK; once.
  void RunThreads();
  // Ends the threads (interrupting the link's calls in flight) and joins them; the guests stay
  // as they are. Idempotent.
  void Stop();
  bool stopping() const { return stopping_; }

  // One step of each thread; each returns how long its thread waits before the next one.
  Duration HeartbeatStep();  // heartbeat thread
  Duration WatchStep();      // watch thread (reconciles)
  Duration ConsoleStep();    // console thread
  // Brings the guests in line with `desired` (watch thread, or Start).
  ReconcileCounts Reconcile(const DesiredState& desired);

  // Thread-safe snapshots.
  std::vector<ObservedVm> Observed() const;
  int64_t revision() const;
  Duration heartbeat_interval() const;
  const ReconcileCounts& start_counts() const { return start_counts_; }

 private:
  // What was last applied to a VM's guest (watch thread only).
  struct Applied {
    uint64_t spec_hash = 0;
    int64_t reboot_seq = 0;
    bool realize_failed = false;
    std::string last_error;  // logged once per distinct message
  };

  void Log(const std::string& line) const;
  Status Retry(const std::string& what, const std::function<Status()>& call);
  void ThreadMain(const std::function<Duration()>& step, const std::atomic<bool>* kick);
  // Reconcile helpers (agent_reconcile.cc).
  void ReconcileVm(const DesiredVm& vm, ReconcileCounts& c);
  void CreateGuest(const DesiredVm& vm, ReconcileCounts& c);
  bool Act(const std::string& vm_id, const std::string& what, const Status& s, int& counter,
           ReconcileCounts& c);
  void SetBusy(const std::string& vm_id, bool busy);
  // Records an observed state; a change schedules an immediate heartbeat.
  void SetObserved(const ObservedVm& vm);
  ObservedVm ObserveNow(const std::string& vm_id, const std::string& failure);
  void RefreshObserved();  // heartbeat thread: re-read the guests the reconcile is not touching
  void Kick(std::atomic<bool>& flag);
  // Heartbeat thread: `vms` with VmUsage for each running one (CPU from the previous reading).
  std::vector<ObservedVm> WithUsage(std::vector<ObservedVm> vms);

  ControlLink& link_;
  GuestDriver& driver_;
  const Clock& clock_;
  Waiter& waiter_;
  AgentOptions options_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> heartbeat_kick_{false};
  std::atomic<bool> watch_kick_{false};
  std::atomic<bool> watch_failing_{false};  // the watch is backing off from errors
  std::mutex threads_mu_;
  std::vector<std::thread> threads_;

  mutable std::mutex mu_;                       // guards the members up to the next blank line
  std::map<std::string, ObservedVm> observed_;  // every desired VM of this host
  std::set<std::string> busy_;                  // VMs a reconcile is changing right now
  uint64_t observed_gen_ = 0;                   // bumped by every reconcile-side write
  int64_t revision_ = -1;                       // -1: none yet
  Duration heartbeat_interval_;

  // Watch thread (and Start).
  std::map<std::string, Applied> applied_;
  std::string schedule_;
  Backoff watch_backoff_;
  ErrorLog watch_errors_, list_errors_;
  ReconcileCounts start_counts_;

  // Heartbeat thread.
  TimePoint next_heartbeat_{};
  Backoff heartbeat_backoff_;
  ErrorLog heartbeat_errors_;
  std::set<std::string> reported_unknown_;
  struct UsageMark {
    int64_t cpu_time_ns = 0;
    TimePoint at{};
  };
  std::map<std::string, UsageMark> usage_marks_;  // the previous reading per running VM
  ErrorLog usage_errors_;

  // Console thread.
  std::map<std::string, int64_t> console_offsets_;
  Backoff console_backoff_;
  ErrorLog console_errors_, console_read_errors_;
};

}  // namespace devshare::agent

#endif  // DEVSHARE_AGENT_AGENT_LOOP_H_
