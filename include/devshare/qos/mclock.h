// MClockQueue: mClock / dmClock request scheduling with reservation, weight and limit per client
// (Gulati, Merchant, Varman, "mClock: Handling Throughput Variability for Hypervisor IO
// Scheduling", OSDI 2010). Pull-queue API after ceph/dmclock; time is always passed in.
// Thread-safety: not thread-safe; one queue per server, used by one thread.
#ifndef DEVSHARE_QOS_MCLOCK_H_
#define DEVSHARE_QOS_MCLOCK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/qos/scheduler.h"

namespace devshare::qos {

// Tags are integer nanoseconds on the clock of `now`; this is their resolution.
inline constexpr Duration kTagResolution{1};

// InvalidArgument (naming `what`, e.g. "clients[2]") when a value is negative or not finite,
// when neither reservation nor weight is set, or when 1/x of a set value is below the tag
// resolution (the tag would not advance: 1/w of a weight above 1e9 rounds to 0 ns).
Status ValidateClientQos(const ClientQos& qos, const std::string& what);

// The large-weight pitfall (reference qos.md §1.3, Ceph "Subtleties of mClock"): when cost/w is
// shorter than the gap between a client's arrivals, P_prev + cost/w < now and the P tag clamps
// to the arrival time, so weight differences vanish. Returns a warning naming `what`, or nullopt.
std::optional<std::string> WeightClampWarning(const ClientQos& qos, uint32_t cost,
                                              Duration typical_interarrival,
                                              const std::string& what);

// Per-client state visible to tests and tools.
struct MClockClientState {
  bool idle = true;
  size_t queued = 0;
  Duration prop_delta{0};
};

struct MClockCounters {
  uint64_t reservation = 0;  // served because the reservation tag was due
  uint64_t priority = 0;     // served by weight, within limits
  uint64_t limit_break = 0;  // AtLimit::kAllow: served over the limit (counted in one of above)
  uint64_t rejected = 0;     // AtLimit::kReject refusals
};

class MClockQueue final : public Scheduler {
 public:
  // InvalidArgument for a missing callback, kReject with delayed tags, or ages out of order.
  static Result<std::unique_ptr<MClockQueue>> Create(ClientQosFn qos_fn,
                                                     MClockOptions options = {});
  ~MClockQueue() override;
  MClockQueue(const MClockQueue&) = delete;
  MClockQueue& operator=(const MClockQueue&) = delete;

  std::string_view Name() const override { return "mclock"; }

  // Tags the request (reference qos.md §1.2):
  //   R = max(R_prev + (rho + cost)/r, t), P = max(P_prev + (delta + cost)/w, t),
  //   L = max(L_prev + (delta + cost)/l, t); r, w or l == 0 gives +inf, +inf, -inf.
  // A client that was idle (new, or no arrival for idle_age) first gets prop_delta = (lowest
  // P + prop_delta of the active clients) - now and a P tag that restarts at now, so it competes
  // from the current frontier (§1.3).
  // kReject: kRejected when L > now + reject_threshold; the rejected request still advances
  // the tags. Errors: see Scheduler::Enqueue.
  Result<EnqueueOutcome> Enqueue(ClientId client, RequestId request, uint32_t cost, TimePoint now,
                                 ReqParams params = {}) override;

  // Two-phase selection (reference qos.md §1.4): the lowest due reservation tag; else, among
  // heads within their limit, the lowest P + prop_delta (and the reservation credit that
  // service consumed is rolled back); else under kAllow the lowest P or R regardless of
  // limits; else the earliest R or L as a future time.
  PullResult Dequeue(TimePoint now) override;

  // Re-reads one client's QoS from the callback (no-op for unknown ids). NotFound when the
  // callback no longer knows it, InvalidArgument when the new values are invalid.
  Status UpdateClientQos(ClientId client);
  // Same for every known client; the first error wins, the others are still updated.
  Status UpdateAllClientQos();

  // Removes a client's queued requests, visiting them oldest first (or newest first).
  // Returns how many were removed.
  size_t RemoveByClient(ClientId client, bool newest_first = false,
                        const std::function<void(RequestId)>& visit = nullptr);
  // Removes every queued request for which `pred` is true. Returns how many.
  size_t RemoveIf(const std::function<bool(ClientId, RequestId)>& pred, bool newest_first = false);

  // Runs the idle/erase cleaner as of `now` if a check is due (Enqueue and Dequeue call it).
  void Clean(TimePoint now);

  size_t request_count() const override { return request_count_; }
  size_t client_count() const override { return clients_.size(); }
  std::optional<MClockClientState> ClientState(ClientId client) const;
  const MClockCounters& counters() const { return counters_; }
  const MClockOptions& options() const { return options_; }

 private:
  struct Client;
  struct Request;
  class Heaps;

  MClockQueue(ClientQosFn qos_fn, MClockOptions options);
  Result<uint32_t> SlotFor(ClientId client);
  Status RefreshQos(Client& c);
  void WakeIdle(uint32_t slot, TimePoint now);
  void TagRequest(Client& c, Request& r, const ReqParams& params);
  void RefreshHead(uint32_t slot);
  DequeuedRequest PopHead(uint32_t slot, Phase phase);
  void RebaseReservation(Client& c);
  void EraseSlot(uint32_t slot);
  TimePoint RoundUpToCleanGrid(TimePoint t) const;

  ClientQosFn qos_fn_;
  MClockOptions options_;
  std::vector<std::unique_ptr<Client>> slots_;  // null entries are free
  std::vector<uint32_t> free_slots_;
  std::unordered_map<ClientId, uint32_t> clients_;
  std::unique_ptr<Heaps> heaps_;
  size_t request_count_ = 0;
  MClockCounters counters_;
  bool clean_started_ = false;
  TimePoint clean_origin_{};
  TimePoint next_clean_{};
};

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_MCLOCK_H_
