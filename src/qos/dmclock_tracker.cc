// DmClockTracker: delta/rho bookkeeping per server.
#include "devshare/qos/dmclock_tracker.h"

#include <algorithm>
#include <limits>

namespace devshare::qos {
namespace {

uint32_t Saturate(uint64_t v) {
  return static_cast<uint32_t>(std::min<uint64_t>(v, std::numeric_limits<uint32_t>::max()));
}

}  // namespace

ReqParams DmClockTracker::PrepareRequest(ServerId server) {
  auto [it, inserted] = servers_.try_emplace(server);
  PerServer& s = it->second;
  ReqParams p;
  if (!inserted) {
    p.delta = Saturate(delta_total_ - s.delta_at_last_request - s.own_delta);
    p.rho = Saturate(rho_total_ - s.rho_at_last_request - s.own_rho);
    p.rho = std::min(p.rho, p.delta);
  }
  s.delta_at_last_request = delta_total_;
  s.rho_at_last_request = rho_total_;
  s.own_delta = 0;
  s.own_rho = 0;
  return p;
}

void DmClockTracker::TrackResponse(ServerId server, Phase phase, uint32_t cost) {
  delta_total_ += cost;
  const bool reservation = phase == Phase::kReservation;
  if (reservation) rho_total_ += cost;
  auto it = servers_.find(server);
  if (it == servers_.end()) return;  // a response without a tracked request: count it globally
  it->second.own_delta += cost;
  if (reservation) it->second.own_rho += cost;
}

}  // namespace devshare::qos
