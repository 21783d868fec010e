// Time-based trace replay (arrivals, departures, FIFO wait queue with backfill and a max-wait
// horizon) with worker threads over (policy, seed) runs, and its JSON / table output.
#include "devshare/sim/replay.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <queue>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "devshare/core/json_writer.h"
#include "devshare/core/random.h"
#include "devshare/placement/fragmentation.h"
#include "devshare/sim/stats.h"
#include "sim/run_grid.h"

namespace devshare::sim {
namespace {

// A pod of the trace that has both times, in trace order.
struct TimedPod {
  VmRequest req;
  int64_t creation_s = 0;
  int64_t duration_s = 0;  // > 0
  int shape = 0;           // equal for requests the filters cannot tell apart (see ShapeKey)
};

// Everything of a request the filters may look at (all but its id): requests with equal keys
// pass or fail every filter on a host alike.
std::string ShapeKey(const VmRequest& r) {
  std::string k;
  auto add = [&k](char tag, std::string_view v) {
    k += '\x1f';
    k += tag;
    k += v;
  };
  add('t', r.tenant);
  add('c', std::to_string(r.cpu_milli));
  add('m', std::to_string(r.memory_mib));
  add('n', std::to_string(r.gpu.count));
  add('g', std::to_string(r.gpu.milli));
  add('p', r.gpu.profile);
  add('i', r.isolation_floor ? std::to_string(static_cast<int>(*r.isolation_floor)) : "-");
  for (const std::string& m : r.gpu.models) add('M', m);
  for (const std::string& t : r.required_traits) add('R', t);
  for (const std::string& t : r.forbidden_traits) add('F', t);
  return k;
}

// An entry of the wait queue, packed for the retry scan (which visits the queue per instant).
struct Waiting {
  int64_t creation_s = 0;
  int pod = 0;
  int shape = 0;
};

// Departures sort before arrivals at equal time: the freed capacity is usable by the arrival.
enum class EventKind : uint8_t { kDeparture = 0, kArrival = 1 };

struct Event {
  int64_t time_s = 0;
  EventKind kind = EventKind::kArrival;
  uint64_t sequence = 0;  // push order; arrivals are pushed first, in trace order
  int pod = 0;            // index into the timed pods
};

// Orders the priority queue so that top() is the smallest (time_s, kind, sequence).
struct EventAfter {
  bool operator()(const Event& a, const Event& b) const {
    return std::tie(a.time_s, a.kind, a.sequence) > std::tie(b.time_s, b.kind, b.sequence);
  }
};

// Allocated GPU milli from `time_s` on, until the next step.
struct AllocStep {
  int64_t time_s = 0;
  int64_t used_milli = 0;
};

// Time-weighted allocation % in `bins` equal bins of [start_s, end_s].
std::vector<double> Timeline(const std::vector<AllocStep>& steps, int64_t start_s, int64_t end_s,
                             int64_t capacity_milli, int bins) {
  std::vector<double> out(bins, 0.0);
  if (end_s <= start_s || capacity_milli <= 0 || bins <= 0) return out;
  const double span = static_cast<double>(end_s - start_s);
  auto bin_start = [&](int j) {
    return j >= bins ? static_cast<double>(end_s)
                     : static_cast<double>(start_s) + span * static_cast<double>(j) / bins;
  };
  std::vector<double> milli_s(bins, 0.0);
  for (size_t k = 0; k < steps.size(); ++k) {
    const double a = static_cast<double>(steps[k].time_s);
    const double b = k + 1 < steps.size() ? static_cast<double>(steps[k + 1].time_s)
                                          : static_cast<double>(end_s);
    if (!(b > a) || steps[k].used_milli == 0) continue;
    int j =
        std::clamp(static_cast<int>((a - static_cast<double>(start_s)) / span * bins), 0, bins - 1);
    while (j > 0 && bin_start(j) > a) --j;  // guard against rounding
    for (; j < bins && bin_start(j) < b; ++j) {
      const double overlap = std::min(b, bin_start(j + 1)) - std::max(a, bin_start(j));
      if (overlap > 0) milli_s[j] += static_cast<double>(steps[k].used_milli) * overlap;
    }
  }
  const double bin_s = span / bins;
  for (int j = 0; j < bins; ++j) {
    out[j] = 100.0 * milli_s[j] / (bin_s * static_cast<double>(capacity_milli));
  }
  return out;
}

Result<ReplayRunResult> RunOne(const std::vector<Host>& hosts, const std::vector<TimedPod>& pods,
                               int skipped,
                               const std::shared_ptr<const placement::TypicalPods>& typical,
                               const std::string& policy, uint64_t seed, int64_t max_wait_s,
                               const placement::PluginRegistry& registry, const Clock& clock) {
  const TimePoint wall_start = clock.Now();
  // Node rank: a seeded permutation of the hosts (the only use of the seed's Random).
  Random rng(seed);
  std::vector<int> node_order(hosts.size());
  std::iota(node_order.begin(), node_order.end(), 0);
  rng.Shuffle(node_order);
  ClusterState cluster;
  cluster.hosts.reserve(hosts.size());
  for (int idx : node_order) cluster.hosts.push_back(hosts[idx]);
  cluster.Reset();
  const int64_t capacity_milli = cluster.GpuCapacityMilli();

  placement::FrameworkConfig config;
  config.policy = policy;
  config.args.seed = seed;
  config.args.typical_pods = typical;
  DS_ASSIGN_OR_RETURN(std::unique_ptr<placement::Framework> fw, registry.BuildFramework(config));
  fw->set_sole_writer(true);  // hosts change only through fw (no scan of every host)

  ReplayRunResult run;
  run.policy = policy;
  run.seed = seed;
  run.pods_with_times = static_cast<int>(pods.size());
  run.pods_skipped_no_times = skipped;

  const size_t n = pods.size();
  std::priority_queue<Event, std::vector<Event>, EventAfter> events;
  uint64_t sequence = 0;
  for (size_t i = 0; i < n; ++i) {
    events.push({pods[i].creation_s, EventKind::kArrival, sequence++, static_cast<int>(i)});
  }
  std::vector<Allocation> allocs(n);
  std::vector<int64_t> start_s(n, -1);
  std::vector<Waiting> waiting;  // oldest first (arrival order)
  int num_shapes = 0;
  for (const TimedPod& p : pods) num_shapes = std::max(num_shapes, p.shape + 1);
  std::vector<uint64_t> shape_failed_in(num_shapes, 0);  // last retry pass the shape failed in
  uint64_t pass = 0;
  std::vector<int> released_hosts;  // hosts that gained capacity at the current instant
  std::vector<char> host_released(cluster.states.size(), 0);
  std::vector<double> decision_us;
  decision_us.reserve(n + n / 4);
  std::vector<AllocStep> steps;
  steps.reserve(2 * n + 1);

  int64_t now_s = events.empty() ? 0 : events.top().time_s;
  run.span_start_s = now_s;
  int64_t used_milli = 0;
  int64_t alloc_milli_s = 0;         // integral of used_milli over the whole span
  int64_t window_alloc_milli_s = 0;  // the same over the arrival window
  int64_t window_end_s = now_s;      // last arrival
  for (const TimedPod& p : pods) window_end_s = std::max(window_end_s, p.creation_s);
  steps.push_back({now_s, 0});

  auto advance_to = [&](int64_t t_s) {
    alloc_milli_s += used_milli * (t_s - now_s);
    const int64_t end_s = std::min(t_s, window_end_s);
    if (end_s > now_s) window_alloc_milli_s += used_milli * (end_s - now_s);
    now_s = t_s;
  };
  auto note_step = [&] {
    if (steps.back().time_s == now_s) {
      steps.back().used_milli = used_milli;
    } else {
      steps.push_back({now_s, used_milli});
    }
  };
  // Schedules pod i now; on success starts it and queues its departure.
  auto schedule = [&](int i) -> Result<bool> {
    const TimePoint t0 = clock.Now();
    DS_ASSIGN_OR_RETURN(placement::PlacementOutcome out, fw->Schedule(pods[i].req, cluster));
    const TimePoint t1 = clock.Now();
    decision_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (!out.placed()) return false;
    used_milli += out.allocation.GpuMilli();
    allocs[i] = std::move(out.allocation);
    start_s[i] = now_s;
    events.push({now_s + pods[i].duration_s, EventKind::kDeparture, sequence++, i});
    return true;
  };

  while (!events.empty()) {
    const Event e = events.top();
    advance_to(e.time_s);
    if (e.kind == EventKind::kArrival) {
      events.pop();
      DS_ASSIGN_OR_RETURN(bool placed, schedule(e.pod));
      if (!placed) waiting.push_back({pods[e.pod].creation_s, e.pod, pods[e.pod].shape});
      note_step();
      continue;
    }
    // Every departure of this instant (they precede its arrivals), then one retry pass.
    released_hosts.clear();
    while (!events.empty() && events.top().time_s == now_s &&
           events.top().kind == EventKind::kDeparture) {
      const int i = events.top().pod;
      events.pop();
      DS_RETURN_IF_ERROR(fw->Release(pods[i].req, allocs[i], cluster));
      used_milli -= allocs[i].GpuMilli();
      const int h = allocs[i].host_index;
      if (!host_released[h]) {
        host_released[h] = 1;
        released_hosts.push_back(h);
      }
    }
    for (int h : released_hosts) host_released[h] = 0;
    // FIFO with backfill, oldest first. A waiting pod failed on every host when last tried and
    // only released hosts gained capacity since, so it can fit now only if one of them passes the
    // filters; only then is Schedule (which scores all hosts) called. Free capacity only shrinks
    // during the pass, so once a shape fails on the released hosts, later pods of that shape are
    // skipped without a check. Exact (the outcome of calling Schedule for every waiting pod in
    // order) at one cheap pass over the queue per instant plus a few filter calls per shape.
    ++pass;
    size_t kept = 0;
    for (size_t k = 0; k < waiting.size(); ++k) {
      const Waiting w = waiting[k];
      if (now_s - w.creation_s > max_wait_s) {
        ++run.pods_never_ran;
        continue;
      }
      if (shape_failed_in[w.shape] != pass) {
        bool may_fit = false;
        for (int h : released_hosts) {
          if (fw->Feasible(pods[w.pod].req, cluster.states[h])) {
            may_fit = true;
            break;
          }
        }
        if (may_fit) {
          DS_ASSIGN_OR_RETURN(bool placed, schedule(w.pod));
          if (placed) {
            ++run.pods_started_after_wait;
            continue;
          }
        }
        shape_failed_in[w.shape] = pass;
      }
      waiting[kept++] = w;
    }
    waiting.resize(kept);
    note_step();
  }
  run.pods_never_ran += static_cast<int>(waiting.size());
  run.span_end_s = now_s;

  std::vector<double> delays_s;
  delays_s.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (start_s[i] < 0) continue;
    delays_s.push_back(static_cast<double>(start_s[i] - pods[i].creation_s));
  }
  run.pods_started = static_cast<int>(delays_s.size());
  // No pod started: no delay to report (0 rather than NaN in tables and JSON).
  run.queue_delay_s_p50 = delays_s.empty() ? 0 : Quantile(delays_s, 0.50);
  run.queue_delay_s_p99 = delays_s.empty() ? 0 : Quantile(delays_s, 0.99);
  const int64_t span_s = run.span_end_s - run.span_start_s;
  if (span_s > 0 && capacity_milli > 0) {
    run.time_weighted_gpu_alloc_pct =
        100.0 * static_cast<double>(alloc_milli_s) /
        (static_cast<double>(capacity_milli) * static_cast<double>(span_s));
  }
  // While load is offered (first to last arrival): the figure that compares policies, since
  // the tail after the last arrival only drains the cluster.
  const int64_t window_s = window_end_s - run.span_start_s;
  run.arrival_window_gpu_alloc_pct =
      window_s > 0 && capacity_milli > 0
          ? 100.0 * static_cast<double>(window_alloc_milli_s) /
                (static_cast<double>(capacity_milli) * static_cast<double>(window_s))
          : run.time_weighted_gpu_alloc_pct;
  run.alloc_timeline_pct =
      Timeline(steps, run.span_start_s, run.span_end_s, capacity_milli, kReplayTimelineSamples);
  run.decision_us_p50 = Quantile(decision_us, 0.50);
  run.decision_us_p99 = Quantile(decision_us, 0.99);
  run.wall_s = std::chrono::duration<double>(clock.Now() - wall_start).count();
  return run;
}

}  // namespace

Result<ReplayResult> RunReplayExperiment(const std::vector<NodeRecord>& nodes,
                                         const std::vector<PodRecord>& pods,
                                         const ReplayOptions& options,
                                         const placement::PluginRegistry& registry,
                                         const Clock& clock, ReplayProgressFn progress) {
  if (options.max_wait.count() < 0) {
    return Status::InvalidArgument("--max-wait " + std::to_string(options.max_wait.count()) +
                                   " s is negative");
  }
  DS_ASSIGN_OR_RETURN(internal::PreparedTrace trace,
                      internal::PrepareTrace(nodes, pods, options.policies, options.seeds,
                                             options.typical_coverage, registry));
  ReplayResult result;
  result.cluster = trace.cluster;
  result.pods = static_cast<int>(pods.size());
  result.max_wait = options.max_wait;

  std::vector<TimedPod> timed;
  timed.reserve(pods.size());
  int skipped = 0;
  if (!(options.arrival_speedup >= 1.0) || options.arrival_speedup > 1e6) {
    return Status::InvalidArgument("--arrival-speedup must be in [1, 1e6]");
  }
  int64_t first_creation_s = INT64_MAX;
  for (const PodRecord& p : pods) {
    if (p.creation_time_s) first_creation_s = std::min(first_creation_s, *p.creation_time_s);
  }
  for (const PodRecord& p : pods) {
    if (!p.creation_time_s || !p.deletion_time_s || *p.deletion_time_s <= *p.creation_time_s) {
      ++skipped;
      continue;
    }
    const int64_t created_s =
        first_creation_s +
        static_cast<int64_t>(static_cast<double>(*p.creation_time_s - first_creation_s) /
                             options.arrival_speedup);
    timed.push_back({RequestFromPod(p), created_s, *p.deletion_time_s - *p.creation_time_s});
  }
  std::unordered_map<std::string, int> shapes;
  for (TimedPod& t : timed) {
    t.shape = shapes.emplace(ShapeKey(t.req), static_cast<int>(shapes.size())).first->second;
  }
  if (timed.empty()) {
    return Status::InvalidArgument(
        "no pod of the trace has a creation_time and a later deletion_time (" +
        std::to_string(pods.size()) + " pods); the replay needs both");
  }

  result.typical_shapes = trace.typical->distinct_shapes();
  result.typical_kept = static_cast<int>(trace.typical->shapes().size());
  result.typical_coverage = trace.typical->kept_coverage();
  const int64_t max_wait_s = options.max_wait.count();
  DS_ASSIGN_OR_RETURN(result.runs, internal::RunGrid<ReplayRunResult>(
                                       options.policies, options.seeds, options.jobs,
                                       [&](const internal::GridTask& t) {
                                         return RunOne(trace.hosts, timed, skipped, trace.typical,
                                                       t.policy, t.seed, max_wait_s, registry,
                                                       clock);
                                       },
                                       [&](const ReplayRunResult& run, int done, int total) {
                                         if (progress) progress(run, done, total);
                                       }));
  return result;
}

std::vector<ReplayPolicySummary> SummarizeReplayRuns(const ReplayResult& r,
                                                     const std::vector<std::string>& policies) {
  std::vector<ReplayPolicySummary> out;
  for (const std::string& p : policies) {
    ReplayPolicySummary s;
    s.policy = p;
    for (const ReplayRunResult& run : r.runs) {
      if (run.policy != p) continue;
      ++s.seeds;
      s.time_weighted_gpu_alloc_pct_mean += run.time_weighted_gpu_alloc_pct;
      s.arrival_window_gpu_alloc_pct_mean += run.arrival_window_gpu_alloc_pct;
      s.pods_never_ran_mean += run.pods_never_ran;
      s.pods_started_after_wait_mean += run.pods_started_after_wait;
      s.queue_delay_s_p50_mean += run.queue_delay_s_p50;
      s.queue_delay_s_p99_mean += run.queue_delay_s_p99;
      s.decision_us_p99_mean += run.decision_us_p99;
      s.wall_s_mean += run.wall_s;
    }
    if (s.seeds == 0) continue;
    const double n = static_cast<double>(s.seeds);
    s.time_weighted_gpu_alloc_pct_mean /= n;
    s.arrival_window_gpu_alloc_pct_mean /= n;
    s.pods_never_ran_mean /= n;
    s.pods_started_after_wait_mean /= n;
    s.queue_delay_s_p50_mean /= n;
    s.queue_delay_s_p99_mean /= n;
    s.decision_us_p99_mean /= n;
    s.wall_s_mean /= n;
    out.push_back(s);
  }
  return out;
}

std::string ReplayJson(const ReplayResult& r, const std::vector<std::string>& policies) {
  JsonWriter w;
  w.BeginObject();
  w.Key("mode").String("replay");
  internal::WriteTraceJson(w, r.cluster, r.typical_shapes, r.typical_kept, r.typical_coverage);
  w.Key("pods").Int(r.pods);
  w.Key("max_wait_s").Int(r.max_wait.count());
  w.Key("runs").BeginArray();
  for (const ReplayRunResult& run : r.runs) {
    w.BeginObject();
    w.Key("policy").String(run.policy);
    w.Key("seed").Uint(run.seed);
    w.Key("pods_with_times").Int(run.pods_with_times);
    w.Key("pods_skipped_no_times").Int(run.pods_skipped_no_times);
    w.Key("pods_started").Int(run.pods_started);
    w.Key("pods_started_after_wait").Int(run.pods_started_after_wait);
    w.Key("pods_never_ran").Int(run.pods_never_ran);
    w.Key("time_weighted_gpu_alloc_pct").Double(run.time_weighted_gpu_alloc_pct);
    w.Key("arrival_window_gpu_alloc_pct").Double(run.arrival_window_gpu_alloc_pct);
    w.Key("queue_delay_s_p50").Double(run.queue_delay_s_p50, 1);
    w.Key("queue_delay_s_p99").Double(run.queue_delay_s_p99, 1);
    w.Key("decision_us_p50").Double(run.decision_us_p50, 2);
    w.Key("decision_us_p99").Double(run.decision_us_p99, 2);
    w.Key("wall_s").Double(run.wall_s, 3);
    w.Key("span_start_s").Int(run.span_start_s);
    w.Key("span_end_s").Int(run.span_end_s);
    w.Key("alloc_timeline_pct").DoubleArray(run.alloc_timeline_pct, 3);
    w.EndObject();
  }
  w.EndArray();
  w.Key("summary").BeginArray();
  for (const ReplayPolicySummary& s : SummarizeReplayRuns(r, policies)) {
    w.BeginObject();
    w.Key("policy").String(s.policy);
    w.Key("seeds").Int(s.seeds);
    w.Key("time_weighted_gpu_alloc_pct_mean").Double(s.time_weighted_gpu_alloc_pct_mean);
    w.Key("arrival_window_gpu_alloc_pct_mean").Double(s.arrival_window_gpu_alloc_pct_mean);
    w.Key("pods_never_ran_mean").Double(s.pods_never_ran_mean, 2);
    w.Key("pods_started_after_wait_mean").Double(s.pods_started_after_wait_mean, 2);
    w.Key("queue_delay_s_p50_mean").Double(s.queue_delay_s_p50_mean, 1);
    w.Key("queue_delay_s_p99_mean").Double(s.queue_delay_s_p99_mean, 1);
    w.Key("decision_us_p99_mean").Double(s.decision_us_p99_mean, 2);
    w.Key("wall_s_mean").Double(s.wall_s_mean, 3);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str() + "\n";
}

std::string ReplayTable(const ReplayResult& r, const std::vector<std::string>& policies) {
  std::string out;
  char line[256];
  const int with_times = r.runs.empty() ? 0 : r.runs.front().pods_with_times;
  const int skipped = r.runs.empty() ? 0 : r.runs.front().pods_skipped_no_times;
  std::snprintf(line, sizeof(line),
                "cluster: %d nodes, %d GPUs; trace: %d pods (%d with times, %d skipped); "
                "max wait %lld s\n\n",
                r.cluster.nodes, r.cluster.gpus, r.pods, with_times, skipped,
                static_cast<long long>(r.max_wait.count()));
  out += line;
  std::snprintf(line, sizeof(line), "%-16s %5s %11s %10s %10s %10s %12s %12s %10s %8s\n", "policy",
                "seeds", "alloc% load", "alloc% all", "never ran", "waited", "delay p50 s",
                "delay p99 s", "p99 us", "run s");
  out += line;
  out += "(alloc% load: time-weighted GPU allocation while arrivals last; all: whole span)\n";
  for (const ReplayPolicySummary& s : SummarizeReplayRuns(r, policies)) {
    std::snprintf(
        line, sizeof(line), "%-16s %5d %11.2f %10.2f %10.1f %10.1f %12.1f %12.1f %10.1f %8.2f\n",
        s.policy.c_str(), s.seeds, s.arrival_window_gpu_alloc_pct_mean,
        s.time_weighted_gpu_alloc_pct_mean, s.pods_never_ran_mean, s.pods_started_after_wait_mean,
        s.queue_delay_s_p50_mean, s.queue_delay_s_p99_mean, s.decision_us_p99_mean, s.wall_s_mean);
    out += line;
  }
  return out;
}

}  // namespace devshare::sim
