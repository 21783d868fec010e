// FleetState: the control plane's in-memory view of its host agents. It knows when each managed
// host's agent was last heard from (liveness against a timeout, on the injected clock) and keeps
// a change counter that long-polling watchers (GET /v1/hosts/{name}/desired) wait on; it is
// bumped after every commit of the ledger and whenever a host's liveness changes.
// Liveness is not durable: after a restart every managed host gets one timeout of grace.
// Thread-safety: thread-safe; WaitForChange blocks the caller only.
#ifndef DEVSHARE_SERVER_FLEET_STATE_H_
#define DEVSHARE_SERVER_FLEET_STATE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace devshare::server {

class FleetState {
 public:
  // `now_unix_ms` is the control plane's clock; `host_timeout_ms` > 0.
  FleetState(std::function<int64_t()> now_unix_ms, int64_t host_timeout_ms);

  int64_t host_timeout_ms() const { return timeout_ms_; }
  // The interval agents are asked to heartbeat at: a sixth of the timeout, at least 100 ms.
  int64_t heartbeat_interval_ms() const;

  // The host's agent spoke (registration or heartbeat) now. Returns true when the host was
  // unreachable (or unknown) before, i.e. its liveness changed.
  bool Heard(const std::string& host);
  // A managed host loaded at start: reachable for one timeout from now unless heard from.
  void Expect(const std::string& host);
  void Forget(const std::string& host);
  // Managed (an agent has spoken for it or it was loaded as managed) and not heard from for
  // longer than the timeout.
  bool Unreachable(const std::string& host) const;
  // Unix ms of the last heartbeat; 0 when never heard in this server's life.
  int64_t LastHeardUnixMs(const std::string& host) const;

  // Change notification for watchers.
  uint64_t changes() const;
  void Changed();
  // Blocks until changes() differs from `seen`, `wait_ms` pass (steady clock) or Shutdown;
  // returns changes().
  uint64_t WaitForChange(uint64_t seen, int64_t wait_ms) const;
  // Wakes every waiter and makes later waits return at once.
  void Shutdown();

 private:
  struct Liveness {
    int64_t since_unix_ms = 0;  // last heartbeat, or the grace start of Expect
    int64_t heard_unix_ms = 0;  // last heartbeat; 0 = never
  };
  bool UnreachableLocked(const Liveness& l, int64_t now) const;

  const std::function<int64_t()> now_;
  const int64_t timeout_ms_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, Liveness> hosts_;  // GUARDED_BY(mu_)
  uint64_t changes_ = 1;                   // GUARDED_BY(mu_)
  bool shutdown_ = false;                  // GUARDED_BY(mu_)
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_FLEET_STATE_H_
