// DmClockTracker: the client side of dmClock (OSDI'10 §3.2): turns the cost servers completed
// for this client into the delta / rho of its next request to each server.
// Thread-safety: not thread-safe; one tracker per client.
#ifndef DEVSHARE_QOS_DMCLOCK_TRACKER_H_
#define DEVSHARE_QOS_DMCLOCK_TRACKER_H_

#include <cstdint>
#include <unordered_map>

#include "devshare/qos/scheduler.h"

namespace devshare::qos {

using ServerId = uint64_t;

// ReqParams count the cost served by the *other* servers since the previous request to the target
// (delta: all phases, rho: reservation phase). The target's own completions are left out: its
// tags already advanced by each request's cost (dmclock's OrigTracker).
class DmClockTracker {
 public:
  // Parameters for a request about to be sent to `server`; {0, 0} for its first request.
  // Counts above 2^32-1 saturate.
  ReqParams PrepareRequest(ServerId server);
  // A response from `server`: `cost` served in `phase`.
  void TrackResponse(ServerId server, Phase phase, uint32_t cost);

 private:
  struct PerServer {
    uint64_t delta_at_last_request = 0;  // totals when the last request went to this server
    uint64_t rho_at_last_request = 0;
    uint64_t own_delta = 0;  // this server's completions since then
    uint64_t own_rho = 0;
  };
  uint64_t delta_total_ = 0;
  uint64_t rho_total_ = 0;
  std::unordered_map<ServerId, PerServer> servers_;
};

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_DMCLOCK_TRACKER_H_
