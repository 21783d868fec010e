// MClockQueue: tags, the three heaps (reservation, limit, ready), two-phase selection, the
// idle-client adjustment and the idle/erase cleaner. Rules: reference qos.md §1.2-§1.4.
#include "devshare/qos/mclock.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <utility>

#include "devshare/core/check.h"
#include "devshare/core/json_writer.h"
#include "qos/indexed_heap.h"

namespace devshare::qos {
namespace {

// A tag: nanoseconds on the clock of `now`. The extremes are +inf / -inf.
using Tag = int64_t;
constexpr Tag kInfTag = std::numeric_limits<Tag>::max();
constexpr Tag kNegInfTag = std::numeric_limits<Tag>::min();
// The reservation roll-back offset is folded into the tags once it passes this (about 36 years).
constexpr Tag kRebaseShift = Tag{1} << 60;

Tag ToTag(TimePoint t) { return t.time_since_epoch().count(); }
TimePoint FromTag(Tag t) { return TimePoint(Duration(t)); }

// Finite + finite, saturating short of the infinities.
Tag AddTag(Tag a, Tag b) {
  if (b > 0 && a > kInfTag - 1 - b) return kInfTag - 1;
  if (b < 0 && a < kNegInfTag + 1 - b) return kNegInfTag + 1;
  return a + b;
}

// `units` cost units at `inv_ns` nanoseconds per unit, rounded to the tag resolution.
Tag Increment(double inv_ns, uint64_t units) {
  double v = inv_ns * static_cast<double>(units);
  if (v >= static_cast<double>(kInfTag / 2)) return kInfTag / 2;
  return static_cast<Tag>(std::llround(v));
}

double InverseNs(double per_s) { return per_s > 0 ? 1e9 / per_s : 0; }

}  // namespace

struct MClockQueue::Request {
  RequestId id = 0;
  uint32_t cost = 1;
  TimePoint arrival{};
  bool tagged = false;
  bool ready = false;   // the limit tag was due when last checked
  Tag r_raw = kInfTag;  // effective R = r_raw - Client::r_shift
  Tag p = kInfTag;
  Tag l = kNegInfTag;
  uint32_t rho = 0;  // from the ReqParams it was tagged with
};

struct MClockQueue::Client {
  ClientId id = 0;
  ClientQos qos;
  double r_inv_ns = 0, w_inv_ns = 0, l_inv_ns = 0;  // 0 when the value is unset
  std::deque<Request> queue;
  // The previous tag (dmclock prev_tag); kNegInfTag until a finite value was computed.
  Tag prev_r_raw = kNegInfTag, prev_p = kNegInfTag, prev_l = kNegInfTag;
  TimePoint prev_arrival{};
  bool has_prev_arrival = false;
  // Reservation credit handed back by weight-phase service (§1.4): subtracting it from every
  // stored R moves all of this client's R tags earlier at once, in O(1).
  Tag r_shift = 0;
  Tag prop_delta = 0;
  bool idle = true;
  TimePoint last_active{};
  ReqParams latest_params;  // for delayed tagging
};

// The three orderings of dmclock, over cached head keys so a comparison touches one array.
class MClockQueue::Heaps {
 public:
  struct Keys {
    Tag r = kInfTag;      // effective R of the head
    Tag p_key = kInfTag;  // P + prop_delta of the head
    Tag l = kNegInfTag;
    bool has = false;
    bool ready = false;
  };

  struct ResvLess {
    const std::vector<Keys>* k;
    bool operator()(uint32_t a, uint32_t b) const {
      const Keys& x = (*k)[a];
      const Keys& y = (*k)[b];
      if (x.has != y.has) return x.has;
      return x.r < y.r;
    }
  };
  // Heads not yet within their limit first, by L.
  struct LimitLess {
    const std::vector<Keys>* k;
    bool operator()(uint32_t a, uint32_t b) const {
      const Keys& x = (*k)[a];
      const Keys& y = (*k)[b];
      if (x.has != y.has) return x.has;
      if (x.ready != y.ready) return !x.ready;
      return x.l < y.l;
    }
  };
  // Heads within their limit first, by P + prop_delta.
  struct ReadyLess {
    const std::vector<Keys>* k;
    bool operator()(uint32_t a, uint32_t b) const {
      const Keys& x = (*k)[a];
      const Keys& y = (*k)[b];
      if (x.has != y.has) return x.has;
      if (x.ready != y.ready) return x.ready;
      return x.p_key < y.p_key;
    }
  };

  Heaps() : resv(ResvLess{&keys}), limit(LimitLess{&keys}), ready(ReadyLess{&keys}) {}

  void Add(uint32_t slot) {
    if (slot >= keys.size()) keys.resize(slot + 1);
    keys[slot] = Keys{};
    resv.Push(slot);
    limit.Push(slot);
    ready.Push(slot);
  }
  void Remove(uint32_t slot) {
    resv.Remove(slot);
    limit.Remove(slot);
    ready.Remove(slot);
  }
  void AdjustAll(uint32_t slot) {
    resv.Adjust(slot);
    limit.Adjust(slot);
    ready.Adjust(slot);
  }

  std::vector<Keys> keys;
  IndexedHeap<ResvLess> resv;
  IndexedHeap<LimitLess> limit;
  IndexedHeap<ReadyLess> ready;
};

Result<std::unique_ptr<MClockQueue>> MClockQueue::Create(ClientQosFn qos_fn,
                                                         MClockOptions options) {
  if (!qos_fn) return Status::InvalidArgument("mclock: a client QoS callback is required");
  if (options.at_limit == AtLimit::kReject && options.delayed_tags) {
    return Status::InvalidArgument(
        "mclock: at_limit reject needs immediate tags (delayed_tags = false)");
  }
  if (options.reject_threshold < Duration::zero() ||
      options.anticipation_timeout < Duration::zero()) {
    return Status::InvalidArgument("mclock: reject_threshold and anticipation_timeout >= 0");
  }
  if (options.check_time <= Duration::zero() || options.idle_age < options.check_time ||
      options.erase_age < options.idle_age) {
    return Status::InvalidArgument("mclock: need 0 < check_time <= idle_age <= erase_age");
  }
  return std::unique_ptr<MClockQueue>(new MClockQueue(std::move(qos_fn), options));
}

MClockQueue::MClockQueue(ClientQosFn qos_fn, MClockOptions options)
    : qos_fn_(std::move(qos_fn)), options_(options), heaps_(std::make_unique<Heaps>()) {}

MClockQueue::~MClockQueue() = default;

Status MClockQueue::RefreshQos(Client& c) {
  std::optional<ClientQos> q = qos_fn_(c.id);
  if (!q) return Status::NotFound("mclock: no QoS for client " + std::to_string(c.id));
  DS_RETURN_IF_ERROR(ValidateClientQos(*q, "client " + std::to_string(c.id)));
  c.qos = *q;
  c.r_inv_ns = InverseNs(q->reservation_per_s);
  c.w_inv_ns = InverseNs(q->weight);
  c.l_inv_ns = InverseNs(q->limit_per_s);
  return Status::Ok();
}

Result<uint32_t> MClockQueue::SlotFor(ClientId client) {
  auto it = clients_.find(client);
  if (it != clients_.end()) return it->second;
  auto c = std::make_unique<Client>();
  c->id = client;
  DS_RETURN_IF_ERROR(RefreshQos(*c));
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[slot] = std::move(c);
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::move(c));
  }
  clients_.emplace(client, slot);
  heaps_->Add(slot);
  return slot;
}

void MClockQueue::WakeIdle(uint32_t slot, TimePoint now) {
  Client& c = *slots_[slot];
  c.idle = false;
  if (!options_.idle_adjust) return;
  // The frontier: the lowest P (+ its prop_delta) among active clients, head or last tag.
  Tag lowest = kInfTag;
  for (const auto& [id, other_slot] : clients_) {
    if (other_slot == slot) continue;
    const Client& o = *slots_[other_slot];
    if (o.idle) continue;
    Tag p = kInfTag;
    if (!o.queue.empty() && o.queue.front().tagged) {
      p = o.queue.front().p;
    } else if (o.prev_p != kNegInfTag) {
      p = o.prev_p;
    }
    if (p == kInfTag) continue;
    lowest = std::min(lowest, AddTag(p, o.prop_delta));
  }
  if (lowest != kInfTag) c.prop_delta = lowest - ToTag(now);
  // Start from `now` rather than from the stale last tag: when tags run ahead of real time
  // (weights small next to the capacity) the old P would sit far beyond the frontier and starve
  // the returning client. dmclock keeps the stale tag; the paper's intent is P = now + shift.
  c.prev_p = kNegInfTag;
}

void MClockQueue::TagRequest(Client& c, Request& r, const ReqParams& params) {
  TimePoint at = r.arrival;
  if (options_.anticipation_timeout > Duration::zero() && c.has_prev_arrival &&
      r.arrival - options_.anticipation_timeout < c.prev_arrival) {
    at -= options_.anticipation_timeout;
  }
  const Tag t = ToTag(at);
  auto next = [t](Tag prev, Tag inc) {
    return prev == kNegInfTag ? t : std::max(AddTag(prev, inc), t);
  };
  if (c.r_inv_ns > 0) {
    Tag prev_eff = c.prev_r_raw == kNegInfTag ? kNegInfTag : AddTag(c.prev_r_raw, -c.r_shift);
    Tag eff = next(prev_eff, Increment(c.r_inv_ns, uint64_t{params.rho} + r.cost));
    r.r_raw = AddTag(eff, c.r_shift);
    c.prev_r_raw = r.r_raw;
  } else {
    r.r_raw = kInfTag;
  }
  if (c.w_inv_ns > 0) {
    r.p = next(c.prev_p, Increment(c.w_inv_ns, uint64_t{params.delta} + r.cost));
    c.prev_p = r.p;
  } else {
    r.p = kInfTag;
  }
  if (c.l_inv_ns > 0) {
    r.l = next(c.prev_l, Increment(c.l_inv_ns, uint64_t{params.delta} + r.cost));
    c.prev_l = r.l;
  } else {
    r.l = kNegInfTag;
  }
  r.rho = params.rho;
  r.tagged = true;
  r.ready = false;
  c.prev_arrival = r.arrival;
  c.has_prev_arrival = true;
}

void MClockQueue::RefreshHead(uint32_t slot) {
  Client& c = *slots_[slot];
  Heaps::Keys& k = heaps_->keys[slot];
  if (c.queue.empty()) {
    k = Heaps::Keys{};
  } else {
    Request& h = c.queue.front();
    if (!h.tagged) {
      // Delayed tagging. A failed lookup keeps the last good values; Enqueue reports it.
      if (options_.dynamic_qos) (void)RefreshQos(c);
      TagRequest(c, h, c.latest_params);
    }
    if (h.l == kNegInfTag) h.ready = true;  // no limit: always within it
    k.has = true;
    k.ready = h.ready;
    k.r = h.r_raw == kInfTag ? kInfTag : AddTag(h.r_raw, -c.r_shift);
    k.p_key = h.p == kInfTag ? kInfTag : AddTag(h.p, c.prop_delta);
    k.l = h.l;
  }
  heaps_->AdjustAll(slot);
}

// Folds the roll-back offset into the stored tags before it can overflow (a small reservation
// next to heavy weight-phase service adds (cost + rho) / r per request). O(queue), rarely.
void MClockQueue::RebaseReservation(Client& c) {
  for (Request& q : c.queue) {
    if (q.tagged && q.r_raw != kInfTag) q.r_raw = AddTag(q.r_raw, -c.r_shift);
  }
  if (c.prev_r_raw != kNegInfTag) c.prev_r_raw = AddTag(c.prev_r_raw, -c.r_shift);
  c.r_shift = 0;
}

DequeuedRequest MClockQueue::PopHead(uint32_t slot, Phase phase) {
  Client& c = *slots_[slot];
  Request r = c.queue.front();
  c.queue.pop_front();
  --request_count_;
  if (phase == Phase::kReservation) {
    ++counters_.reservation;
  } else {
    ++counters_.priority;
    // Weight-phase service must not use up reservation: hand back what this request added to
    // the R tags (§1.4, dmclock reduce_reservation_tags).
    if (c.r_inv_ns > 0) {
      c.r_shift += Increment(c.r_inv_ns, uint64_t{r.rho} + r.cost);
      if (c.r_shift > kRebaseShift) RebaseReservation(c);
    }
  }
  RefreshHead(slot);
  return DequeuedRequest{c.id, r.id, r.cost, phase};
}

Result<EnqueueOutcome> MClockQueue::Enqueue(ClientId client, RequestId request, uint32_t cost,
                                            TimePoint now, ReqParams params) {
  if (cost == 0) return Status::InvalidArgument("mclock: request cost must be > 0");
  if (params.rho > params.delta) {
    return Status::InvalidArgument("mclock: rho must not exceed delta");
  }
  Clean(now);
  DS_ASSIGN_OR_RETURN(uint32_t slot, SlotFor(client));
  Client& c = *slots_[slot];
  if (options_.dynamic_qos) DS_RETURN_IF_ERROR(RefreshQos(c));
  if (c.idle) WakeIdle(slot, now);
  c.last_active = now;
  c.latest_params = params;

  Request r;
  r.id = request;
  r.cost = cost;
  r.arrival = now;
  if (!options_.delayed_tags || c.queue.empty()) TagRequest(c, r, params);
  if (options_.at_limit == AtLimit::kReject &&
      r.l > AddTag(ToTag(now), options_.reject_threshold.count())) {
    ++counters_.rejected;  // the tags above already advanced: rejected requests count
    return EnqueueOutcome::kRejected;
  }
  c.queue.push_back(r);
  ++request_count_;
  if (c.queue.size() == 1) RefreshHead(slot);
  return EnqueueOutcome::kAccepted;
}

PullResult MClockQueue::Dequeue(TimePoint now) {
  Clean(now);
  if (request_count_ == 0) return PullResult::Empty();
  Heaps& h = *heaps_;
  const Tag t = ToTag(now);

  // Phase 1: a due reservation.
  const uint32_t resv_top = h.resv.top();
  if (h.keys[resv_top].has && h.keys[resv_top].r <= t) {
    return PullResult::Ready(PopHead(resv_top, Phase::kReservation));
  }

  // Phase 2: heads whose limit tag is due become ready; serve the lowest P among them.
  while (true) {
    uint32_t lim_top = h.limit.top();
    Heaps::Keys& k = h.keys[lim_top];
    if (!k.has || k.ready || k.l > t) break;
    k.ready = true;
    slots_[lim_top]->queue.front().ready = true;
    h.ready.Promote(lim_top);
    h.limit.Demote(lim_top);
  }
  const uint32_t ready_top = h.ready.top();
  const Heaps::Keys& rk = h.keys[ready_top];
  if (rk.has && rk.ready && rk.p_key < kInfTag) {
    return PullResult::Ready(PopHead(ready_top, Phase::kPriority));
  }

  if (options_.at_limit == AtLimit::kAllow) {
    if (rk.has && rk.p_key < kInfTag) {
      ++counters_.limit_break;
      return PullResult::Ready(PopHead(ready_top, Phase::kPriority));
    }
    if (h.keys[resv_top].has && h.keys[resv_top].r < kInfTag) {
      ++counters_.limit_break;
      return PullResult::Ready(PopHead(resv_top, Phase::kReservation));
    }
  }

  // Nothing now: the next reservation or the next limit tag to come due.
  Tag next = kInfTag;
  if (h.keys[resv_top].has) next = h.keys[resv_top].r;
  const Heaps::Keys& lk = h.keys[h.limit.top()];
  if (lk.has && !lk.ready) next = std::min(next, lk.l);
  DS_CHECK(next != kInfTag);  // every client has r > 0 or w > 0
  return PullResult::Future(FromTag(next));
}

Status MClockQueue::UpdateClientQos(ClientId client) {
  auto it = clients_.find(client);
  if (it == clients_.end()) return Status::Ok();
  return RefreshQos(*slots_[it->second]);
}

Status MClockQueue::UpdateAllClientQos() {
  Status first;
  for (const auto& [id, slot] : clients_) {
    Status s = RefreshQos(*slots_[slot]);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

size_t MClockQueue::RemoveByClient(ClientId client, bool newest_first,
                                   const std::function<void(RequestId)>& visit) {
  auto it = clients_.find(client);
  if (it == clients_.end()) return 0;
  Client& c = *slots_[it->second];
  size_t n = c.queue.size();
  if (visit) {
    if (newest_first) {
      for (auto r = c.queue.rbegin(); r != c.queue.rend(); ++r) visit(r->id);
    } else {
      for (const Request& r : c.queue) visit(r.id);
    }
  }
  c.queue.clear();
  request_count_ -= n;
  RefreshHead(it->second);
  return n;
}

size_t MClockQueue::RemoveIf(const std::function<bool(ClientId, RequestId)>& pred,
                             bool newest_first) {
  size_t removed = 0;
  for (const auto& [id, slot] : clients_) {
    Client& c = *slots_[slot];
    size_t before = c.queue.size();
    bool head_removed = false;
    if (newest_first) {
      for (size_t i = c.queue.size(); i-- > 0;) {
        if (pred(c.id, c.queue[i].id)) {
          head_removed |= (i == 0);
          c.queue.erase(c.queue.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
    } else {
      for (size_t i = 0; i < c.queue.size();) {
        if (pred(c.id, c.queue[i].id)) {
          head_removed |= (i == 0);
          c.queue.erase(c.queue.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
          ++i;
        }
      }
    }
    size_t n = before - c.queue.size();
    if (n == 0) continue;
    removed += n;
    request_count_ -= n;
    if (head_removed) RefreshHead(slot);
  }
  return removed;
}

TimePoint MClockQueue::RoundUpToCleanGrid(TimePoint t) const {
  const Duration step = options_.check_time;
  if (t <= clean_origin_ + step) return clean_origin_ + step;
  auto k = (t - clean_origin_ + step - Duration(1)) / step;
  return clean_origin_ + k * step;
}

void MClockQueue::Clean(TimePoint now) {
  if (!clean_started_) {
    clean_started_ = true;
    clean_origin_ = now;
    next_clean_ = now + options_.check_time;
  }
  if (now < next_clean_) return;
  // Act as the periodic cleaner would have at its latest run at or before `now`; activity is
  // noticed at the first run after it (dmclock's mark points).
  const TimePoint at =
      next_clean_ + ((now - next_clean_) / options_.check_time) * options_.check_time;
  next_clean_ = at + options_.check_time;
  std::vector<uint32_t> erase;
  for (const auto& [id, slot] : clients_) {
    Client& c = *slots_[slot];
    if (!c.queue.empty()) continue;
    TimePoint mark = RoundUpToCleanGrid(c.last_active);
    if (mark <= at - options_.erase_age) {
      erase.push_back(slot);
    } else if (mark <= at - options_.idle_age) {
      c.idle = true;
    }
  }
  for (uint32_t slot : erase) EraseSlot(slot);
}

void MClockQueue::EraseSlot(uint32_t slot) {
  heaps_->Remove(slot);
  clients_.erase(slots_[slot]->id);
  slots_[slot].reset();
  free_slots_.push_back(slot);
}

std::optional<MClockClientState> MClockQueue::ClientState(ClientId client) const {
  auto it = clients_.find(client);
  if (it == clients_.end()) return std::nullopt;
  const Client& c = *slots_[it->second];
  return MClockClientState{c.idle, c.queue.size(), Duration(c.prop_delta)};
}

// --- validation ---

Status ValidateClientQos(const ClientQos& qos, const std::string& what) {
  struct Field {
    const char* name;
    double value;
  };
  const Field fields[] = {
      {"reservation", qos.reservation_per_s}, {"weight", qos.weight}, {"limit", qos.limit_per_s}};
  for (const Field& f : fields) {
    if (!std::isfinite(f.value) || f.value < 0) {
      return Status::InvalidArgument(what + ": " + f.name + " must be a finite number >= 0");
    }
    // A value above 1e9 per second makes its tag step 1/x shorter than one nanosecond.
    if (f.value > 0 && InverseNs(f.value) < static_cast<double>(kTagResolution.count())) {
      return Status::InvalidArgument(
          what + ": " + f.name + " " + FormatDecimal(f.value, 3) + " makes 1/" + f.name + " = " +
          FormatDecimal(InverseNs(f.value), 3) +
          " ns, below the 1 ns tag resolution: its tag would not advance");
    }
  }
  if (qos.reservation_per_s == 0 && qos.weight == 0) {
    return Status::InvalidArgument(what +
                                   ": needs a reservation or a weight (both are 0, so its "
                                   "requests could never be scheduled)");
  }
  if (qos.limit_per_s > 0 && qos.limit_per_s < qos.reservation_per_s) {
    return Status::InvalidArgument(what + ": limit " + FormatDecimal(qos.limit_per_s, 3) +
                                   " is below reservation " +
                                   FormatDecimal(qos.reservation_per_s, 3));
  }
  return Status::Ok();
}

std::optional<std::string> WeightClampWarning(const ClientQos& qos, uint32_t cost,
                                              Duration typical_interarrival,
                                              const std::string& what) {
  if (qos.weight <= 0) return std::nullopt;
  const double step_ns = InverseNs(qos.weight) * cost;
  const double gap_ns = static_cast<double>(typical_interarrival.count());
  if (step_ns >= gap_ns) return std::nullopt;
  return what + ": weight " + FormatDecimal(qos.weight, 3) + " gives a P-tag step cost/w of " +
         FormatDecimal(step_ns / 1e3, 3) + " us, shorter than the " +
         FormatDecimal(gap_ns / 1e3, 3) +
         " us between its arrivals: P tags clamp to the arrival time and weight differences "
         "vanish (mClock large-weight pitfall); use smaller weights, only their ratios matter";
}

}  // namespace devshare::qos
