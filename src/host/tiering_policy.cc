// TieringPolicy: hot volumes up, cold ones down, with dwell, cooldown and capacity checks.
#include "devshare/host/tiering_policy.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "devshare/core/request.h"

namespace devshare::host {
namespace {

int TierRank(const std::string& tier) {  // 0 = fastest; unknown tiers sort last
  for (size_t i = 0; i < std::size(kStorageTiers); ++i) {
    if (tier == kStorageTiers[i]) return static_cast<int>(i);
  }
  return static_cast<int>(std::size(kStorageTiers));
}

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}

bool Fits(const TieringPool& p, const TieringVolume& v) {
  return p.capacity_gib - p.used_gib >= v.size_gib &&
         p.capacity_iops - p.reserved_iops >= v.reservation_iops;
}

// The pool of the nearest tier faster (up) or slower (down) than `from` that holds `v`; among
// pools of that tier the one with the most free GiB. Null when none.
const TieringPool* Neighbour(const std::vector<TieringPool>& pools, const TieringPool& from,
                             const TieringVolume& v, bool up, bool need_room) {
  const int rank = TierRank(from.tier);
  int best_rank = -1;
  for (const TieringPool& p : pools) {
    const int r = TierRank(p.tier);
    if (up ? r < rank : r > rank) {
      if (best_rank < 0 || (up ? r > best_rank : r < best_rank)) best_rank = r;
    }
  }
  if (best_rank < 0) return nullptr;
  const TieringPool* out = nullptr;
  for (const TieringPool& p : pools) {
    if (TierRank(p.tier) != best_rank || (need_room && !Fits(p, v))) continue;
    if (out == nullptr || p.capacity_gib - p.used_gib > out->capacity_gib - out->used_gib) {
      out = &p;
    }
  }
  return out;
}

}  // namespace

std::optional<TieringMove> TieringPolicy::Observe(TimePoint now,
                                                  const std::vector<TieringPool>& pools,
                                                  const std::vector<TieringVolume>& volumes) {
  std::map<std::string, const TieringPool*> by_name;
  for (const TieringPool& p : pools) by_name[p.name] = &p;
  bool any_moving = false;
  struct Candidate {
    const TieringVolume* v;
    const TieringPool* from;
    const TieringPool* to;
    bool up;
  };
  std::vector<Candidate> candidates;
  std::map<std::string, State> next;
  for (const TieringVolume& v : volumes) {
    const std::string key = v.vm_id + "/" + v.volume;
    State s = state_.count(key) ? state_[key] : State{};
    any_moving |= v.moving;
    auto pool = by_name.find(v.pool);
    const bool resting = s.rest_until && now < *s.rest_until;
    if (v.moving || resting || pool == by_name.end()) {
      s.hot = s.cold = 0;
      next[key] = s;
      continue;
    }
    const TieringPool& from = *pool->second;
    const TieringPool* faster = Neighbour(pools, from, v, /*up=*/true, /*need_room=*/false);
    const TieringPool* slower = Neighbour(pools, from, v, /*up=*/false, /*need_room=*/false);
    const bool hot = faster != nullptr &&
                     v.heat_iops >= options_.hot_fraction * static_cast<double>(from.capacity_iops);
    const bool cold =
        slower != nullptr &&
        v.heat_iops <= options_.cold_fraction * static_cast<double>(slower->capacity_iops);
    s.hot = hot ? s.hot + 1 : 0;
    s.cold = cold ? s.cold + 1 : 0;
    next[key] = s;
    if (s.hot >= options_.dwell_samples) {
      if (const TieringPool* to = Neighbour(pools, from, v, true, true)) {
        candidates.push_back({&v, &from, to, true});
      }
    } else if (s.cold >= options_.dwell_samples) {
      if (const TieringPool* to = Neighbour(pools, from, v, false, true)) {
        candidates.push_back({&v, &from, to, false});
      }
    }
  }
  state_ = std::move(next);  // volumes that are gone are forgotten
  if (any_moving || candidates.empty()) return std::nullopt;
  // Hot ones first, hottest first; then cold ones, coldest first; ties by name (deterministic).
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.up != b.up) return a.up;
    if (a.v->heat_iops != b.v->heat_iops) {
      return a.up ? a.v->heat_iops > b.v->heat_iops : a.v->heat_iops < b.v->heat_iops;
    }
    return a.v->vm_id + "/" + a.v->volume < b.v->vm_id + "/" + b.v->volume;
  });
  const Candidate& c = candidates.front();
  TieringMove m;
  m.vm_id = c.v->vm_id;
  m.volume = c.v->volume;
  m.from_pool = c.from->name;
  m.to_pool = c.to->name;
  m.to_tier = c.to->tier;
  m.reason = c.up ? "hot: heat " + Num(c.v->heat_iops) + " IOPS >= " +
                        Num(options_.hot_fraction * static_cast<double>(c.from->capacity_iops)) +
                        " (" + Num(options_.hot_fraction * 100) + " % of pool " + c.from->name + ")"
                  : "cold: heat " + Num(c.v->heat_iops) + " IOPS <= " +
                        Num(options_.cold_fraction * static_cast<double>(c.to->capacity_iops)) +
                        " (" + Num(options_.cold_fraction * 100) + " % of pool " + c.to->name + ")";
  Refused(m.vm_id, m.volume, now);  // rests from now on, moved or refused
  return m;
}

void TieringPolicy::Refused(const std::string& vm_id, const std::string& volume, TimePoint now) {
  State& s = state_[vm_id + "/" + volume];
  s.hot = s.cold = 0;
  s.rest_until = now + options_.cooldown;
}

}  // namespace devshare::host
