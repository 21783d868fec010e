// Scheduler: the pull-queue interface of the request schedulers (mClock, fifo; after dmclock's
// PullPriorityQueue, time passed in), their value types, and an explicit registry by name.
// Thread-safety: a scheduler is used by one thread; the registry is read-only once filled.
#ifndef DEVSHARE_QOS_SCHEDULER_H_
#define DEVSHARE_QOS_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"

namespace devshare::qos {

using ClientId = uint64_t;
using RequestId = uint64_t;

// Which rule released a request. Schedulers without phases (fifo) report kNone.
enum class Phase { kReservation, kPriority, kNone };
std::string_view PhaseName(Phase phase);

// dmClock request parameters (OSDI'10 §3.2): cost the client had served by *other* servers since
// its previous request to this server, in all phases (delta) and in the reservation phase (rho).
// Single-server mClock uses {0, 0}. rho <= delta.
struct ReqParams {
  uint32_t delta = 0;
  uint32_t rho = 0;
};

// An expected negative outcome of Enqueue (AtLimit::kReject), not an error.
enum class EnqueueOutcome { kAccepted, kRejected };

struct DequeuedRequest {
  ClientId client = 0;
  RequestId request = 0;
  uint32_t cost = 1;
  Phase phase = Phase::kNone;
};

// Result of Dequeue(now): a request to serve now, the earliest time worth asking again, or
// nothing queued.
class PullResult {
 public:
  enum class Kind { kReady, kFuture, kEmpty };

  static PullResult Ready(const DequeuedRequest& r) { return PullResult(Kind::kReady, r, {}); }
  static PullResult Future(TimePoint when) { return PullResult(Kind::kFuture, {}, when); }
  static PullResult Empty() { return PullResult(Kind::kEmpty, {}, {}); }

  Kind kind() const { return kind_; }
  bool is_ready() const { return kind_ == Kind::kReady; }
  bool is_future() const { return kind_ == Kind::kFuture; }
  bool is_empty() const { return kind_ == Kind::kEmpty; }
  // REQUIRES: is_ready().
  const DequeuedRequest& request() const { return request_; }
  // REQUIRES: is_future(). Strictly after the `now` that produced it.
  TimePoint when() const { return when_; }

 private:
  PullResult(Kind k, const DequeuedRequest& r, TimePoint w) : kind_(k), request_(r), when_(w) {}
  Kind kind_;
  DequeuedRequest request_;
  TimePoint when_;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;

  // Stable name ("mclock", "fifo").
  virtual std::string_view Name() const = 0;

  // Queues `request` of `cost` (> 0) from `client`, arriving at `now`. kRejected (AtLimit::kReject
  // only) leaves the request with the caller. InvalidArgument for cost 0 or invalid QoS values,
  // NotFound when the QoS callback does not know the client.
  virtual Result<EnqueueOutcome> Enqueue(ClientId client, RequestId request, uint32_t cost,
                                         TimePoint now, ReqParams params = {}) = 0;

  // The next request to serve at `now`, else when to ask again, else empty. `now` must not go
  // backwards between calls.
  virtual PullResult Dequeue(TimePoint now) = 0;

  virtual size_t request_count() const = 0;
  virtual size_t client_count() const = 0;
};

// QoS parameters of one client, in cost units per second (IOPS when every cost is 1).
// 0 means unset: no reservation, never served by weight, no limit.
struct ClientQos {
  double reservation_per_s = 0;
  double weight = 0;
  double limit_per_s = 0;
};

// Looks up a client's QoS; nullopt for an unknown client. Called when a client is first seen,
// on UpdateClientQos, and (MClockOptions::dynamic_qos) on every tag computation.
using ClientQosFn = std::function<std::optional<ClientQos>(ClientId)>;

// What happens to a request that arrives over its limit (dmclock AtLimit).
enum class AtLimit {
  kWait,    // held until its limit tag is due
  kAllow,   // served over the limit only when nothing else is eligible (work-conserving)
  kReject,  // Enqueue answers kRejected when the limit tag exceeds now + reject_threshold
};
std::string_view AtLimitName(AtLimit mode);

struct MClockOptions {
  AtLimit at_limit = AtLimit::kWait;
  // kReject only: accept while the limit tag is at most this far ahead of now.
  Duration reject_threshold{0};
  // A client re-arriving within this time of its previous arrival is tagged as of
  // (now - anticipation_timeout), so a briefly idle client keeps its place. 0 disables.
  Duration anticipation_timeout{0};
  // Tag a request only when it reaches the head of its client's queue (freshest rho/delta).
  // Not allowed with kReject, which needs the tag on arrival.
  bool delayed_tags = false;
  // Ask the ClientQosFn on every tag computation, so QoS changes apply without UpdateClientQos.
  bool dynamic_qos = false;
  // The idle-client adjustment (prop_delta). Only experiments turn it off.
  bool idle_adjust = true;
  // A client with nothing queued and no arrival for idle_age is idle (its next arrival resets
  // its weight position to the current frontier); after erase_age its record is dropped. The
  // cleaner runs every check_time of the `now` values passed in.
  Duration idle_age = std::chrono::seconds(300);
  Duration erase_age = std::chrono::seconds(600);
  Duration check_time = std::chrono::seconds(60);
};

// Everything a scheduler factory may need.
struct SchedulerArgs {
  ClientQosFn qos_fn;
  MClockOptions mclock;
};

using SchedulerFactory = std::function<Result<std::unique_ptr<Scheduler>>(const SchedulerArgs&)>;

// Name -> factory, owned by whoever builds schedulers (no global registration).
class SchedulerRegistry {
 public:
  // AlreadyExists when `name` is taken.
  Status Register(std::string name, SchedulerFactory factory);
  // NotFound naming the known schedulers; otherwise the factory's result.
  Result<std::unique_ptr<Scheduler>> Create(std::string_view name, const SchedulerArgs& args) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, SchedulerFactory, std::less<>> factories_;
};

// Registers "mclock" and "fifo".
void RegisterBuiltinSchedulers(SchedulerRegistry& registry);

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_SCHEDULER_H_
