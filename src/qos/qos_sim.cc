// The qos-sim event loop: clients issue requests, each server pulls from its own scheduler and
// serves one request at a time; everything happens on a virtual clock.
#include "devshare/qos/qos_sim.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <unordered_map>

#include "devshare/core/random.h"
#include "devshare/qos/dmclock_tracker.h"
#include "qos/event_queue.h"

namespace devshare::qos {
namespace {

Duration FromSeconds(double s) { return Duration(static_cast<int64_t>(std::llround(s * 1e9))); }

enum class EventType : uint8_t {
  kCapacityChange,  // a: server, b: change index
  kQosChange,       // a: client, b: change index
  kClientStart,     // a: client
  kClientStop,      // a: client
  kArrival,         // a: client (open-loop arrival)
  kRetry,           // a: client (resend one held request after a rejection)
  kCompletion,      // a: server
  kServerWake,      // a: server (a future time from Dequeue came due)
};

struct Event {
  TimePoint at;
  EventType type;
  uint32_t a;
  uint32_t b;
};

struct ServerState {
  std::unique_ptr<Scheduler> scheduler;
  double iops = 0;
  bool busy = false;
  DequeuedRequest current;
  TimePoint wake_at = TimePoint::max();
  SimServerResult result;
};

struct ClientState {
  bool active = false;
  int in_flight = 0;    // issued and not completed (queued, in service or waiting to retry)
  int64_t waiting = 0;  // open loop: arrivals held back by `outstanding`
  int64_t issued = 0;
  size_t next_server = 0;
  std::vector<uint32_t> servers;
  DmClockTracker tracker;
  Random rng{0};
  std::deque<TimePoint> held;  // issue times of requests waiting to be resent after a rejection
  bool retry_scheduled = false;
  // Results.
  std::vector<uint64_t> per_bucket;
  uint64_t completed = 0, res = 0, prop = 0, rejected = 0;
  std::vector<double> latency_ms;
};

class Simulation {
 public:
  Simulation(const SimConfig& config, const SchedulerRegistry& registry, std::string_view scheduler)
      : config_(config), registry_(registry), scheduler_name_(scheduler) {}

  Result<SimRunResult> Run() {
    DS_RETURN_IF_ERROR(Setup());
    const TimePoint end = TimePoint(config_.duration);
    while (!events_.empty()) {
      if (events_.top().at >= end) break;
      const Event e = events_.Pop();
      ++event_count_;
      DS_RETURN_IF_ERROR(Handle(e));
    }
    return Collect();
  }

 private:
  Status Setup() {
    qos_.clear();
    for (const SimClient& c : config_.clients) qos_.push_back(c.qos);
    SchedulerArgs args;
    args.qos_fn = [this](ClientId id) -> std::optional<ClientQos> {
      if (id >= qos_.size()) return std::nullopt;
      return qos_[id];
    };
    args.mclock.at_limit = config_.at_limit;
    args.mclock.reject_threshold = config_.reject_threshold;
    args.mclock.anticipation_timeout = config_.anticipation_timeout;
    args.mclock.dynamic_qos = true;  // clients' "changes" take effect on their next request

    servers_.resize(config_.servers.size());
    for (size_t s = 0; s < servers_.size(); ++s) {
      DS_ASSIGN_OR_RETURN(servers_[s].scheduler, registry_.Create(scheduler_name_, args));
      servers_[s].iops = config_.servers[s].iops;
      servers_[s].result.id = config_.servers[s].id;
      servers_[s].result.ops_by_client.assign(config_.clients.size(), 0);
      servers_[s].result.res_ops_by_client.assign(config_.clients.size(), 0);
      for (size_t k = 0; k < config_.servers[s].changes.size(); ++k) {
        Push(TimePoint(config_.servers[s].changes[k].at), EventType::kCapacityChange,
             static_cast<uint32_t>(s), static_cast<uint32_t>(k));
      }
    }
    const size_t buckets = static_cast<size_t>(
        (config_.duration.count() + config_.bucket.count() - 1) / config_.bucket.count());
    Random master(config_.seed);
    clients_.resize(config_.clients.size());
    for (size_t i = 0; i < clients_.size(); ++i) {
      const SimClient& c = config_.clients[i];
      ClientState& st = clients_[i];
      st.rng = Random(master.Next());
      st.per_bucket.assign(buckets, 0);
      for (size_t s = 0; s < config_.servers.size(); ++s) {
        if (c.servers.empty() || std::find(c.servers.begin(), c.servers.end(),
                                           config_.servers[s].id) != c.servers.end()) {
          st.servers.push_back(static_cast<uint32_t>(s));
        }
      }
      const auto ci = static_cast<uint32_t>(i);
      Push(TimePoint(c.start), EventType::kClientStart, ci);
      if (c.stop) Push(TimePoint(*c.stop), EventType::kClientStop, ci);
      for (size_t k = 0; k < c.changes.size(); ++k) {
        Push(TimePoint(c.changes[k].at), EventType::kQosChange, ci, static_cast<uint32_t>(k));
      }
    }
    return Status::Ok();
  }

  void Push(TimePoint at, EventType type, uint32_t a, uint32_t b = 0) {
    events_.Push(Event{at, type, a, b});
  }

  Status Handle(const Event& e) {
    switch (e.type) {
      case EventType::kCapacityChange:
        servers_[e.a].iops = config_.servers[e.a].changes[e.b].iops;
        return Status::Ok();
      case EventType::kQosChange:
        qos_[e.a] = config_.clients[e.a].changes[e.b].qos;
        return Status::Ok();
      case EventType::kClientStart:
        return Start(e.a, e.at);
      case EventType::kClientStop:
        clients_[e.a].active = false;
        clients_[e.a].waiting = 0;
        return Status::Ok();
      case EventType::kArrival:
        return Arrival(e.a, e.at);
      case EventType::kRetry: {
        ClientState& c = clients_[e.a];
        c.retry_scheduled = false;
        if (c.held.empty()) return Status::Ok();
        TimePoint issued = c.held.front();
        c.held.pop_front();
        DS_RETURN_IF_ERROR(Send(e.a, e.at, issued));
        if (!c.held.empty()) ScheduleRetry(e.a, e.at);
        return Status::Ok();
      }
      case EventType::kCompletion:
        return Complete(e.a, e.at);
      case EventType::kServerWake:
        if (servers_[e.a].wake_at == e.at) servers_[e.a].wake_at = TimePoint::max();
        return Dispatch(e.a, e.at);
    }
    return Status::Ok();
  }

  bool MayIssue(uint32_t ci) const {
    const SimClient& c = config_.clients[ci];
    const ClientState& st = clients_[ci];
    return st.active && (c.total_ops == 0 || st.issued < c.total_ops);
  }

  Status Start(uint32_t ci, TimePoint now) {
    const SimClient& c = config_.clients[ci];
    ClientState& st = clients_[ci];
    if (st.servers.empty()) return Status::Ok();
    st.active = true;
    if (c.iops_goal > 0) {
      Push(now + NextGap(ci), EventType::kArrival, ci);
      return Status::Ok();
    }
    for (int i = 0; i < c.outstanding && MayIssue(ci); ++i) DS_RETURN_IF_ERROR(NewRequest(ci, now));
    return Status::Ok();
  }

  Duration NextGap(uint32_t ci) {
    double u = clients_[ci].rng.UniformDouble();
    return std::max(Duration(1), FromSeconds(-std::log(1.0 - u) / config_.clients[ci].iops_goal));
  }

  Status Arrival(uint32_t ci, TimePoint now) {
    ClientState& st = clients_[ci];
    if (!MayIssue(ci)) return Status::Ok();
    if (st.in_flight < config_.clients[ci].outstanding) {
      DS_RETURN_IF_ERROR(NewRequest(ci, now));
    } else {
      ++st.waiting;
    }
    Push(now + NextGap(ci), EventType::kArrival, ci);
    return Status::Ok();
  }

  Status NewRequest(uint32_t ci, TimePoint now) {
    ClientState& st = clients_[ci];
    ++st.in_flight;
    ++st.issued;
    if (!st.held.empty()) {  // backing off after a rejection: queue behind the held requests
      st.held.push_back(now);
      return Status::Ok();
    }
    return Send(ci, now, now);
  }

  // After a rejection the client resends its held requests one at a time, every 1.25 x
  // cost / limit: a little slower than its limit, because each attempt (rejected ones too)
  // advances the limit tag and resending at exactly the limit would never catch up.
  void ScheduleRetry(uint32_t ci, TimePoint now) {
    ClientState& st = clients_[ci];
    if (st.retry_scheduled) return;
    const double limit = qos_[ci].limit_per_s;
    const double cost = config_.clients[ci].cost;
    const Duration pace = std::max<Duration>(std::chrono::milliseconds(1),
                                             FromSeconds(limit > 0 ? 1.25 * cost / limit : 0));
    st.retry_scheduled = true;
    Push(now + pace, EventType::kRetry, ci);
  }

  // Sends one request of client ci to its next server; a rejection schedules a resend.
  Status Send(uint32_t ci, TimePoint now, TimePoint issued) {
    const SimClient& c = config_.clients[ci];
    ClientState& st = clients_[ci];
    uint32_t s;
    if (config_.server_select == ServerSelect::kRandom) {
      s = st.servers[st.rng.Uniform(st.servers.size())];
    } else {
      s = st.servers[st.next_server++ % st.servers.size()];
    }
    ReqParams params;
    if (config_.dmclock && st.servers.size() > 1) params = st.tracker.PrepareRequest(s);
    const RequestId id = next_request_++;
    DS_ASSIGN_OR_RETURN(EnqueueOutcome out,
                        servers_[s].scheduler->Enqueue(ci, id, c.cost, now, params));
    if (out == EnqueueOutcome::kRejected) {
      ++st.rejected;
      st.held.push_front(issued);
      ScheduleRetry(ci, now);
      return Status::Ok();
    }
    issue_time_.emplace(id, issued);
    return Dispatch(s, now);
  }

  Status Dispatch(uint32_t s, TimePoint now) {
    ServerState& sv = servers_[s];
    if (sv.busy) return Status::Ok();
    PullResult pr = sv.scheduler->Dequeue(now);
    if (pr.is_ready()) {
      sv.busy = true;
      sv.current = pr.request();
      const double units =
          config_.capacity_unit == CapacityUnit::kCost ? static_cast<double>(sv.current.cost) : 1;
      Push(now + std::max(Duration(1), FromSeconds(units / sv.iops)), EventType::kCompletion, s);
    } else if (pr.is_future()) {
      if (sv.wake_at <= now || pr.when() < sv.wake_at) {
        sv.wake_at = pr.when();
        Push(pr.when(), EventType::kServerWake, s);
      }
    }
    return Status::Ok();
  }

  Status Complete(uint32_t s, TimePoint now) {
    ServerState& sv = servers_[s];
    const DequeuedRequest done = sv.current;
    sv.busy = false;
    const auto ci = static_cast<uint32_t>(done.client);
    ClientState& st = clients_[ci];
    --st.in_flight;
    ++st.completed;
    if (done.phase == Phase::kReservation) ++st.res;
    if (done.phase == Phase::kPriority) ++st.prop;
    const auto bucket = static_cast<size_t>(now.time_since_epoch() / config_.bucket);
    if (bucket < st.per_bucket.size()) ++st.per_bucket[bucket];
    SimServerResult& sr = sv.result;
    ++sr.total_ops;
    ++sr.ops_by_client[ci];
    if (done.phase == Phase::kReservation) {
      ++sr.res_ops;
      ++sr.res_ops_by_client[ci];
    }
    if (done.phase == Phase::kPriority) ++sr.prop_ops;
    auto it = issue_time_.find(done.request);
    if (it != issue_time_.end()) {
      st.latency_ms.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
      issue_time_.erase(it);
    }
    st.tracker.TrackResponse(s, done.phase, done.cost);
    // The client answers first (a backlogged client sends its next request now), then the
    // server pulls again.
    if (MayIssue(ci)) {
      if (config_.clients[ci].iops_goal <= 0) {
        DS_RETURN_IF_ERROR(NewRequest(ci, now));
      } else if (st.waiting > 0) {
        --st.waiting;
        DS_RETURN_IF_ERROR(NewRequest(ci, now));
      }
    }
    return Dispatch(s, now);
  }

  SimRunResult Collect() {
    SimRunResult out;
    out.scheduler = std::string(scheduler_name_);
    out.events = event_count_;
    const double bucket_s = std::chrono::duration<double>(config_.bucket).count();
    for (size_t i = 0; i < clients_.size(); ++i) {
      ClientState& st = clients_[i];
      SimClientResult r;
      r.id = config_.clients[i].id;
      r.res_ops = st.res;
      r.prop_ops = st.prop;
      r.rejected_ops = st.rejected;
      for (uint64_t n : st.per_bucket) {
        r.total_ops += n;
        r.ops_per_s.push_back(static_cast<double>(n) / bucket_s);
      }
      if (!st.latency_ms.empty()) {
        double sum = 0;
        for (double l : st.latency_ms) sum += l;
        r.mean_latency_ms = sum / static_cast<double>(st.latency_ms.size());
        size_t k = static_cast<size_t>(0.99 * static_cast<double>(st.latency_ms.size() - 1));
        std::nth_element(st.latency_ms.begin(), st.latency_ms.begin() + static_cast<long>(k),
                         st.latency_ms.end());
        r.p99_latency_ms = st.latency_ms[k];
      }
      out.clients.push_back(std::move(r));
    }
    for (ServerState& sv : servers_) out.servers.push_back(std::move(sv.result));
    return out;
  }

  const SimConfig& config_;
  const SchedulerRegistry& registry_;
  std::string_view scheduler_name_;
  std::vector<ClientQos> qos_;
  std::vector<ServerState> servers_;
  std::vector<ClientState> clients_;
  EventQueue<Event> events_;
  std::unordered_map<RequestId, TimePoint> issue_time_;
  RequestId next_request_ = 1;
  uint64_t event_count_ = 0;
};

}  // namespace

Result<SimRunResult> RunQosSimOnce(const SimConfig& config, const SchedulerRegistry& registry,
                                   std::string_view scheduler) {
  Simulation sim(config, registry, scheduler);
  return sim.Run();
}

Result<SimReport> RunQosSim(const SimConfig& config, const SchedulerRegistry& registry) {
  SimReport report;
  report.config = config;
  report.warnings = SimConfigWarnings(config);
  DS_ASSIGN_OR_RETURN(report.primary, RunQosSimOnce(config, registry, config.scheduler));
  DS_ASSIGN_OR_RETURN(report.fifo, RunQosSimOnce(config, registry, "fifo"));
  return report;
}

double MeanOpsPerSecond(const SimClientResult& client, size_t from_bucket, size_t to_bucket) {
  to_bucket = std::min(to_bucket, client.ops_per_s.size());
  if (from_bucket >= to_bucket) return 0;
  double sum = 0;
  for (size_t b = from_bucket; b < to_bucket; ++b) sum += client.ops_per_s[b];
  return sum / static_cast<double>(to_bucket - from_bucket);
}

}  // namespace devshare::qos
