// Tests for the time-based replay: waiting and starting at a departure, the max-wait horizon,
// skipped pods, the time-weighted allocation integral, event order at equal times, FIFO with
// backfill, determinism, argument checks, output helpers, and one run on the real openb trace.
#include "devshare/sim/replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/random.h"
#include "devshare/placement/registry.h"
#include "devshare/sim/trace.h"
#include "devshare/sim/workload_generator.h"
#include "tests/testutil/openb_traces.h"

namespace devshare::sim {
namespace {

using std::chrono::seconds;

NodeRecord Node(const std::string& name, int gpus) {
  NodeRecord n;
  n.name = name;
  n.cpu_milli = 64000;
  n.memory_mib = 262144;
  n.gpus = gpus;
  n.model = "V100M16";
  return n;
}

// A pod asking `num_gpu` x `gpu_milli` (num_gpu 0: CPU only) alive over [creation, deletion).
PodRecord Pod(const std::string& name, int num_gpu, int gpu_milli,
              std::optional<int64_t> creation_s, std::optional<int64_t> deletion_s) {
  PodRecord p;
  p.name = name;
  p.cpu_milli = 1000;
  p.memory_mib = 1024;
  p.num_gpu = num_gpu;
  p.gpu_milli = num_gpu > 0 ? gpu_milli : 0;
  p.creation_time_s = creation_s;
  p.deletion_time_s = deletion_s;
  return p;
}

// Reference replay without the retry pruning: at every departure instant, Schedule is called for
// every waiting pod (oldest first). Returns {started, never_ran, started_after_wait, delays}.
struct NaiveOutcome {
  int started = 0;
  int never_ran = 0;
  int started_after_wait = 0;
  std::vector<int64_t> delays_s;  // per timed pod in trace order, -1 if it never ran
  int64_t span_end_s = 0;
};

NaiveOutcome NaiveReplay(const std::vector<NodeRecord>& nodes, const std::vector<PodRecord>& pods,
                         const std::string& policy, uint64_t seed, int64_t max_wait_s,
                         const placement::PluginRegistry& registry) {
  NaiveOutcome o;
  Random rng(seed);
  std::vector<int> order(nodes.size());
  std::iota(order.begin(), order.end(), 0);
  rng.Shuffle(order);
  ClusterState cluster;
  for (int i : order) cluster.hosts.push_back(HostFromNode(nodes[i]));
  cluster.Reset();
  placement::FrameworkConfig config;
  config.policy = policy;
  config.args.seed = seed;
  Result<std::unique_ptr<placement::Framework>> fw = registry.BuildFramework(config);
  EXPECT_TRUE(fw.ok()) << fw.status().ToString();
  if (!fw.ok()) return o;
  std::vector<VmRequest> reqs;
  std::vector<int64_t> creation, duration;
  for (const PodRecord& p : pods) {
    reqs.push_back(RequestFromPod(p));
    creation.push_back(*p.creation_time_s);
    duration.push_back(*p.deletion_time_s - *p.creation_time_s);
  }
  // (time, kind: 0 departure / 1 arrival, sequence) -> pod
  std::map<std::tuple<int64_t, int, uint64_t>, int> events;
  uint64_t seq = 0;
  for (size_t i = 0; i < reqs.size(); ++i) events[{creation[i], 1, seq++}] = static_cast<int>(i);
  std::vector<Allocation> allocs(reqs.size());
  o.delays_s.assign(reqs.size(), -1);
  std::vector<int> waiting;
  auto schedule = [&](int i, int64_t now) {
    Result<placement::PlacementOutcome> out = (*fw)->Schedule(reqs[i], cluster);
    EXPECT_TRUE(out.ok());
    if (!out.ok() || !out->placed()) return false;
    allocs[i] = out->allocation;
    o.delays_s[i] = now - creation[i];
    events[{now + duration[i], 0, seq++}] = i;
    return true;
  };
  while (!events.empty()) {
    auto [key, i] = *events.begin();
    const int64_t now = std::get<0>(key);
    o.span_end_s = now;
    if (std::get<1>(key) == 1) {
      events.erase(events.begin());
      if (!schedule(i, now)) waiting.push_back(i);
      continue;
    }
    while (!events.empty() && std::get<0>(events.begin()->first) == now &&
           std::get<1>(events.begin()->first) == 0) {
      const int d = events.begin()->second;
      events.erase(events.begin());
      EXPECT_TRUE((*fw)->Release(reqs[d], allocs[d], cluster).ok());
    }
    std::vector<int> still;
    for (int w : waiting) {
      if (now - creation[w] > max_wait_s) {
        ++o.never_ran;
      } else if (schedule(w, now)) {
        ++o.started_after_wait;
      } else {
        still.push_back(w);
      }
    }
    waiting = std::move(still);
  }
  o.never_ran += static_cast<int>(waiting.size());
  for (int64_t d : o.delays_s) o.started += d >= 0 ? 1 : 0;
  return o;
}

double QuantileOf(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// A congested workload: 600 generated pods on 12 nodes, two arriving every 10 s, each living
// 1000..4000 s.
GeneratedWorkload CongestedWorkload() {
  GeneratorOptions g;
  g.nodes = 12;
  g.seed = 11;
  g.pods = 600;
  Result<GeneratedWorkload> w = GenerateWorkload(g);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return {};
  for (size_t i = 0; i < w->pods.size(); ++i) {
    PodRecord& p = w->pods[i];
    p.creation_time_s = static_cast<int64_t>(i / 2) * 10;
    p.deletion_time_s = *p.creation_time_s + 1000 + static_cast<int64_t>(i % 4) * 1000;
  }
  return std::move(w).value();
}

class ReplayTest : public ::testing::Test {
 protected:
  ReplayTest() { placement::RegisterBuiltinPlacementPlugins(registry_); }

  ReplayRunResult RunSingle(const std::vector<NodeRecord>& nodes,
                            const std::vector<PodRecord>& pods, seconds max_wait = seconds(86400),
                            const std::string& policy = "first_fit", uint64_t seed = 42) {
    ReplayOptions options;
    options.policies = {policy};
    options.seeds = {seed};
    options.max_wait = max_wait;
    options.jobs = 1;
    Result<ReplayResult> r = RunReplayExperiment(nodes, pods, options, registry_, clock_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->runs.size() != 1) return ReplayRunResult{};
    return r->runs[0];
  }

  placement::PluginRegistry registry_;
  SimulatedClock clock_;
};

// Linear-interpolation quantile of two values {0, x}.
double QuantileOf0And(double x, double q) { return q * x; }

TEST_F(ReplayTest, WaitingPodStartsWhenAnotherDeparts) {
  // a holds the only GPU over [0, 100); b arrives at 40 and waits until 100 (gap 60), then runs
  // its full trace duration of 30 s.
  const std::vector<PodRecord> pods = {Pod("a", 1, 1000, 0, 100), Pod("b", 1, 1000, 40, 70)};
  const ReplayRunResult run = RunSingle({Node("n0", 1)}, pods);
  EXPECT_EQ(run.pods_with_times, 2);
  EXPECT_EQ(run.pods_started, 2);
  EXPECT_EQ(run.pods_started_after_wait, 1);
  EXPECT_EQ(run.pods_never_ran, 0);
  EXPECT_DOUBLE_EQ(run.queue_delay_s_p50, QuantileOf0And(60, 0.5));
  EXPECT_DOUBLE_EQ(run.queue_delay_s_p99, QuantileOf0And(60, 0.99));
  EXPECT_EQ(run.span_start_s, 0);
  EXPECT_EQ(run.span_end_s, 130);  // 100 + b's full 30 s
  // The GPU is busy all the time: [0, 100) a, [100, 130) b.
  EXPECT_DOUBLE_EQ(run.time_weighted_gpu_alloc_pct, 100.0);
}

TEST_F(ReplayTest, MaxWaitHorizon) {
  // b would wait 60 s; it may start exactly at creation + max_wait, not later.
  struct Case {
    int64_t max_wait_s;
    int started;
    int never_ran;
  };
  const std::vector<Case> cases = {{0, 1, 1}, {59, 1, 1}, {60, 2, 0}, {3600, 2, 0}};
  const std::vector<PodRecord> pods = {Pod("a", 1, 1000, 0, 100), Pod("b", 1, 1000, 40, 70)};
  for (const Case& c : cases) {
    SCOPED_TRACE("max_wait_s " + std::to_string(c.max_wait_s));
    const ReplayRunResult run = RunSingle({Node("n0", 1)}, pods, seconds(c.max_wait_s));
    EXPECT_EQ(run.pods_started, c.started);
    EXPECT_EQ(run.pods_never_ran, c.never_ran);
    EXPECT_EQ(run.pods_started + run.pods_never_ran, run.pods_with_times);
  }
}

TEST_F(ReplayTest, PodsThatNeverFitNeverRun) {
  // Two GPUs asked on a one-GPU cluster: waits until the end, then counts as never ran.
  const std::vector<PodRecord> pods = {Pod("a", 1, 500, 0, 100), Pod("big", 2, 1000, 10, 20)};
  const ReplayRunResult run = RunSingle({Node("n0", 1)}, pods);
  EXPECT_EQ(run.pods_started, 1);
  EXPECT_EQ(run.pods_never_ran, 1);
  EXPECT_DOUBLE_EQ(run.queue_delay_s_p99, 0);  // over started pods only
}

TEST_F(ReplayTest, PodsWithoutTimesAreSkippedAndCounted) {
  const std::vector<PodRecord> pods = {
      Pod("ok", 1, 500, 0, 100),
      Pod("no-creation", 1, 500, std::nullopt, 100),
      Pod("no-deletion", 1, 500, 10, std::nullopt),
      Pod("no-times", 1, 500, std::nullopt, std::nullopt),
      Pod("deleted-before", 1, 500, 50, 40),
      Pod("zero-duration", 1, 500, 50, 50),
  };
  const ReplayRunResult run = RunSingle({Node("n0", 1)}, pods);
  EXPECT_EQ(run.pods_with_times, 1);
  EXPECT_EQ(run.pods_skipped_no_times, 5);
  EXPECT_EQ(run.pods_started, 1);
  EXPECT_EQ(run.span_end_s, 100);
}

TEST_F(ReplayTest, NoPodWithTimesIsAnError) {
  ReplayOptions options;
  options.policies = {"first_fit"};
  options.seeds = {1};
  Result<ReplayResult> r = RunReplayExperiment(
      {Node("n0", 1)}, {Pod("p", 1, 500, std::nullopt, std::nullopt)}, options, registry_, clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ReplayTest, TimeWeightedAllocationIsTheIntegral) {
  // One 1-GPU host; 500 milli for the first half of [0, 200] (the CPU-only pod spans it): 25 %.
  const std::vector<PodRecord> pods = {Pod("half", 1, 500, 0, 100), Pod("cpu", 0, 0, 0, 200)};
  const ReplayRunResult run = RunSingle({Node("n0", 1)}, pods);
  EXPECT_DOUBLE_EQ(run.time_weighted_gpu_alloc_pct, 25.0);
  ASSERT_EQ(run.alloc_timeline_pct.size(), static_cast<size_t>(kReplayTimelineSamples));
  EXPECT_DOUBLE_EQ(run.alloc_timeline_pct.front(), 50.0);
  EXPECT_DOUBLE_EQ(run.alloc_timeline_pct[kReplayTimelineSamples / 2 - 1], 50.0);
  EXPECT_DOUBLE_EQ(run.alloc_timeline_pct[kReplayTimelineSamples / 2], 0.0);
  EXPECT_DOUBLE_EQ(run.alloc_timeline_pct.back(), 0.0);
  const double mean =
      std::accumulate(run.alloc_timeline_pct.begin(), run.alloc_timeline_pct.end(), 0.0) /
      kReplayTimelineSamples;
  EXPECT_NEAR(mean, run.time_weighted_gpu_alloc_pct, 1e-9);
}

TEST_F(ReplayTest, TimelineHandlesStepsInsideBins) {
  // Span [0, 300] in 200 bins of 1.5 s: 2 of 4 GPUs over [0, 100), then 4 of 4 until 300.
  const std::vector<PodRecord> pods = {Pod("a", 2, 1000, 0, 100), Pod("b", 2, 1000, 100, 300),
                                       Pod("c", 2, 1000, 100, 300)};
  const ReplayRunResult run = RunSingle({Node("n0", 4)}, pods);
  const double expected = 100.0 * (2000.0 * 100 + 4000.0 * 200) / (4000.0 * 300);
  EXPECT_NEAR(run.time_weighted_gpu_alloc_pct, expected, 1e-9);
  const double mean =
      std::accumulate(run.alloc_timeline_pct.begin(), run.alloc_timeline_pct.end(), 0.0) /
      kReplayTimelineSamples;
  EXPECT_NEAR(mean, expected, 1e-9);
  // Bin 66 is [99, 100.5): 1 s at 50 %, 0.5 s at 100 %.
  EXPECT_NEAR(run.alloc_timeline_pct[66], (50.0 * 1 + 100.0 * 0.5) / 1.5, 1e-9);
}

TEST_F(ReplayTest, DeparturesPrecedeArrivalsAtEqualTime) {
  // a leaves at 100 and b arrives at 100 on the only GPU: b starts at once, without waiting.
  const std::vector<PodRecord> pods = {Pod("a", 1, 1000, 0, 100), Pod("b", 1, 1000, 100, 150)};
  const ReplayRunResult run = RunSingle({Node("n0", 1)}, pods, seconds(0));
  EXPECT_EQ(run.pods_started, 2);
  EXPECT_EQ(run.pods_started_after_wait, 0);
  EXPECT_EQ(run.pods_never_ran, 0);
  EXPECT_DOUBLE_EQ(run.queue_delay_s_p99, 0);
  EXPECT_DOUBLE_EQ(run.time_weighted_gpu_alloc_pct, 100.0);
}

TEST_F(ReplayTest, ArrivalsAtEqualTimeKeepTraceOrder) {
  // Both arrive at 0 for the only GPU; "z" comes first in the trace (not by name) and runs first,
  // so "a" waits z's 100 s (if "a" ran first, "z" would wait only 30 s).
  const std::vector<PodRecord> pods = {Pod("z", 1, 1000, 0, 100), Pod("a", 1, 1000, 0, 30)};
  const ReplayRunResult run = RunSingle({Node("n0", 1)}, pods);
  EXPECT_EQ(run.pods_started_after_wait, 1);
  EXPECT_DOUBLE_EQ(run.queue_delay_s_p50, QuantileOf0And(100, 0.5));
  EXPECT_EQ(run.span_end_s, 130);
}

TEST_F(ReplayTest, WaitQueueIsFifoOldestFirst) {
  // w1 (older) and w2 wait for the only GPU; at 100 w1 gets it, w2 follows at 150.
  const std::vector<PodRecord> pods = {Pod("a", 1, 1000, 0, 100), Pod("w1", 1, 1000, 10, 60),
                                       Pod("w2", 1, 1000, 20, 30)};
  const ReplayRunResult run = RunSingle({Node("n0", 1)}, pods);
  EXPECT_EQ(run.pods_started_after_wait, 2);
  // Delays {0, 90 (w1: 10 -> 100), 130 (w2: 20 -> 150)}; youngest first would give {0, 80, 100}.
  EXPECT_DOUBLE_EQ(run.queue_delay_s_p50, 90.0);
  EXPECT_EQ(run.span_end_s, 160);
}

TEST_F(ReplayTest, WaitQueueBackfillsBehindAHeadThatDoesNotFit) {
  // Two GPUs: h1 [0, 100) and h2 [0, 200) hold them. "big" (2 GPUs, arrives 10) and "small"
  // (1 GPU, arrives 20) wait. At 100 one GPU frees: big still does not fit, small backfills
  // (strict head-of-line FIFO would hold it until 250). Big starts when h2 leaves at 200.
  const std::vector<PodRecord> pods = {Pod("h1", 1, 1000, 0, 100), Pod("h2", 1, 1000, 0, 200),
                                       Pod("big", 2, 1000, 10, 60), Pod("small", 1, 1000, 20, 70)};
  const ReplayRunResult run = RunSingle({Node("n0", 2)}, pods);
  EXPECT_EQ(run.pods_started, 4);
  EXPECT_EQ(run.pods_started_after_wait, 2);
  // Delays {0, 0, 80 (small: 20 -> 100), 190 (big: 10 -> 200)}.
  EXPECT_DOUBLE_EQ(run.queue_delay_s_p50, 40.0);
  EXPECT_DOUBLE_EQ(run.queue_delay_s_p99, 80.0 + 0.97 * 110.0);
  EXPECT_EQ(run.span_end_s, 250);
}

TEST_F(ReplayTest, PrunedRetryMatchesRetryingEveryWaitingPod) {
  const GeneratedWorkload w = CongestedWorkload();
  const std::vector<PodRecord>& pods = w.pods;
  for (const std::string& policy : {"best_fit", "random", "first_fit"}) {
    for (int64_t max_wait_s : {int64_t{600}, int64_t{1000000}}) {
      SCOPED_TRACE(policy + " max_wait " + std::to_string(max_wait_s));
      const NaiveOutcome want = NaiveReplay(w.nodes, pods, policy, 5, max_wait_s, registry_);
      ASSERT_GT(want.started_after_wait, 10) << "the workload should congest the cluster";
      if (max_wait_s == 600) EXPECT_GT(want.never_ran, 0) << "the horizon should drop pods";
      const ReplayRunResult run = RunSingle(w.nodes, pods, seconds(max_wait_s), policy, 5);
      EXPECT_EQ(run.pods_started, want.started);
      EXPECT_EQ(run.pods_never_ran, want.never_ran);
      EXPECT_EQ(run.pods_started_after_wait, want.started_after_wait);
      EXPECT_EQ(run.span_end_s, want.span_end_s);
      std::vector<double> delays;
      for (int64_t d : want.delays_s) {
        if (d >= 0) delays.push_back(static_cast<double>(d));
      }
      EXPECT_DOUBLE_EQ(run.queue_delay_s_p50, QuantileOf(delays, 0.5));
      EXPECT_DOUBLE_EQ(run.queue_delay_s_p99, QuantileOf(delays, 0.99));
    }
  }
}

TEST_F(ReplayTest, DeterministicForASeedAndCountsBalance) {
  const GeneratedWorkload w = CongestedWorkload();
  ReplayOptions options;
  options.policies = {"first_fit", "best_fit", "random", "fgd"};
  options.seeds = {1, 2};
  options.max_wait = seconds(1800);
  options.jobs = 3;
  Result<ReplayResult> a = RunReplayExperiment(w.nodes, w.pods, options, registry_, clock_);
  options.jobs = 1;
  Result<ReplayResult> b = RunReplayExperiment(w.nodes, w.pods, options, registry_, clock_);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(a->runs.size(), 8u);
  ASSERT_EQ(b->runs.size(), 8u);
  for (size_t k = 0; k < a->runs.size(); ++k) {
    const ReplayRunResult& x = a->runs[k];
    const ReplayRunResult& y = b->runs[k];
    SCOPED_TRACE(x.policy + " seed " + std::to_string(x.seed));
    EXPECT_EQ(x.policy, options.policies[k / 2]);
    EXPECT_EQ(x.seed, options.seeds[k % 2]);
    EXPECT_EQ(x.policy, y.policy);
    EXPECT_EQ(x.seed, y.seed);
    EXPECT_EQ(x.pods_started, y.pods_started);
    EXPECT_EQ(x.pods_never_ran, y.pods_never_ran);
    EXPECT_EQ(x.pods_started_after_wait, y.pods_started_after_wait);
    EXPECT_EQ(x.time_weighted_gpu_alloc_pct, y.time_weighted_gpu_alloc_pct);
    EXPECT_EQ(x.queue_delay_s_p50, y.queue_delay_s_p50);
    EXPECT_EQ(x.queue_delay_s_p99, y.queue_delay_s_p99);
    EXPECT_EQ(x.span_end_s, y.span_end_s);
    EXPECT_EQ(x.alloc_timeline_pct, y.alloc_timeline_pct);
    EXPECT_EQ(x.pods_with_times + x.pods_skipped_no_times, static_cast<int>(w.pods.size()));
    EXPECT_EQ(x.pods_started + x.pods_never_ran, x.pods_with_times);
    EXPECT_LE(x.pods_started_after_wait, x.pods_started);
    EXPECT_GE(x.time_weighted_gpu_alloc_pct, 0.0);
    EXPECT_LE(x.time_weighted_gpu_alloc_pct, 100.0);
    EXPECT_LE(x.queue_delay_s_p99, 1800.0);
    EXPECT_GT(x.pods_started_after_wait, 0);
    // The injected clock does not move: no wall time leaks into the figures.
    EXPECT_EQ(x.decision_us_p99, 0.0);
    EXPECT_EQ(x.wall_s, 0.0);
  }
}

TEST_F(ReplayTest, RejectsBadArguments) {
  const std::vector<PodRecord> pods = {Pod("a", 1, 500, 0, 100)};
  ReplayOptions ok;
  ok.policies = {"first_fit"};
  ok.seeds = {1};
  struct Case {
    std::string name;
    std::vector<NodeRecord> nodes;
    ReplayOptions options;
  };
  ReplayOptions unknown = ok;
  unknown.policies = {"no_such_policy"};
  ReplayOptions no_seeds = ok;
  no_seeds.seeds.clear();
  ReplayOptions no_policies = ok;
  no_policies.policies.clear();
  ReplayOptions negative_wait = ok;
  negative_wait.max_wait = seconds(-1);
  const std::vector<Case> cases = {
      {"empty cluster", {}, ok},
      {"no GPUs", {Node("cpu", 0)}, ok},
      {"unknown policy", {Node("n0", 1)}, unknown},
      {"no seeds", {Node("n0", 1)}, no_seeds},
      {"no policies", {Node("n0", 1)}, no_policies},
      {"negative max wait", {Node("n0", 1)}, negative_wait},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result<ReplayResult> r = RunReplayExperiment(c.nodes, pods, c.options, registry_, clock_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST_F(ReplayTest, JsonAndTableCarryRunsAndSummary) {
  ReplayOptions options;
  options.policies = {"first_fit", "best_fit"};
  options.seeds = {1, 2};
  options.max_wait = seconds(120);
  const std::vector<PodRecord> pods = {Pod("a", 1, 1000, 0, 100), Pod("b", 1, 1000, 40, 70),
                                       Pod("c", 1, 500, std::nullopt, 70)};
  Result<ReplayResult> r = RunReplayExperiment({Node("n0", 1)}, pods, options, registry_, clock_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<ReplayPolicySummary> summary = SummarizeReplayRuns(*r, options.policies);
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[0].policy, "first_fit");
  EXPECT_EQ(summary[0].seeds, 2);
  EXPECT_DOUBLE_EQ(summary[0].time_weighted_gpu_alloc_pct_mean, 100.0);
  EXPECT_DOUBLE_EQ(summary[0].queue_delay_s_p99_mean, 59.4);

  const std::string json = ReplayJson(*r, options.policies);
  for (const std::string& key :
       {"\"mode\"", "\"replay\"", "\"max_wait_s\"", "\"runs\"", "\"summary\"",
        "\"time_weighted_gpu_alloc_pct\"", "\"pods_never_ran\"", "\"queue_delay_s_p99\"",
        "\"alloc_timeline_pct\"", "\"time_weighted_gpu_alloc_pct_mean\"", "\"best_fit\""}) {
    EXPECT_NE(json.find(key), std::string::npos) << key;
  }
  const std::string table = ReplayTable(*r, options.policies);
  EXPECT_NE(table.find("first_fit"), std::string::npos);
  EXPECT_NE(table.find("best_fit"), std::string::npos);
  EXPECT_NE(table.find("2 with times, 1 skipped"), std::string::npos) << table;
}

TEST_F(ReplayTest, RealDefaultTraceCompletes) {
  DS_SKIP_WITHOUT_OPENB("openb_node_list_gpu_node.csv", "openb_pod_list_default.csv");
  Result<std::vector<NodeRecord>> nodes =
      ReadNodeCsv(testutil::OpenbFile("openb_node_list_gpu_node.csv"));
  Result<std::vector<PodRecord>> pods =
      ReadPodCsv(testutil::OpenbFile("openb_pod_list_default.csv"));
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  ReplayOptions options;
  options.policies = {"fgd"};
  options.seeds = {42};
  options.jobs = 1;
  Result<ReplayResult> r = RunReplayExperiment(*nodes, *pods, options, registry_, clock_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->runs.size(), 1u);
  const ReplayRunResult& run = r->runs[0];
  EXPECT_GT(run.pods_with_times, 0);
  EXPECT_EQ(run.pods_with_times + run.pods_skipped_no_times, static_cast<int>(pods->size()));
  EXPECT_EQ(run.pods_started + run.pods_never_ran, run.pods_with_times);
  EXPECT_GT(run.time_weighted_gpu_alloc_pct, 0.0);
  EXPECT_LE(run.time_weighted_gpu_alloc_pct, 100.0);
}

}  // namespace
}  // namespace devshare::sim
