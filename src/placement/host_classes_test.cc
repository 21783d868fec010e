// Tests of host equivalence classes and incremental class scoring: classes group exactly the
// hosts of equal description and usage, and the class path of Framework::Schedule decides
// exactly as the per-host scan (same host, same GPUs, same refusal reasons) on generated
// clusters, with and without departures, for the state-only policies.
#include "placement/host_classes.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devshare/core/random.h"
#include "devshare/placement/fragmentation.h"
#include "devshare/placement/framework.h"
#include "devshare/placement/registry.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/workload_generator.h"
#include "placement/class_scores.h"

namespace devshare::placement {
namespace {

struct Workload {
  std::vector<Host> hosts;
  std::vector<VmRequest> requests;
  std::shared_ptr<const TypicalPods> typical;
};

Workload Generate(int nodes, uint64_t seed) {
  sim::GeneratorOptions g;
  g.nodes = nodes;
  g.seed = seed;
  g.with_times = false;
  auto w = sim::GenerateWorkload(g);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  Workload out;
  for (const sim::NodeRecord& n : w->nodes) out.hosts.push_back(sim::HostFromNode(n));
  out.requests = sim::RequestsFromPods(w->pods);
  out.typical = std::make_shared<const TypicalPods>(TypicalPods::FromPods(out.requests));
  return out;
}

ClusterState ClusterOf(const std::vector<Host>& hosts) {
  ClusterState c;
  c.hosts = hosts;
  c.Reset();
  return c;
}

std::unique_ptr<Framework> Build(const std::string& policy, const Workload& w) {
  PluginRegistry registry;
  RegisterBuiltinPlacementPlugins(registry);
  FrameworkConfig config;
  config.policy = policy;
  config.args.typical_pods = w.typical;
  config.args.seed = 42;
  auto fw = registry.BuildFramework(config);
  EXPECT_TRUE(fw.ok()) << fw.status().ToString();
  return std::move(*fw);
}

// The usage-and-shape key of every host, computed directly.
std::string KeyOf(const ClusterState& c, int i) {
  std::string key = HostShapeKey(c.hosts[i]);
  AppendUsageKey(c.states[i], &key);
  return key;
}

// Checks that `classes` partitions the hosts exactly by KeyOf, with the lowest member as
// representative.
void ExpectClassesMatch(const HostClasses& classes, const ClusterState& c) {
  std::map<std::string, std::vector<int>> by_key;
  for (int i = 0; i < static_cast<int>(c.states.size()); ++i) by_key[KeyOf(c, i)].push_back(i);
  ASSERT_EQ(classes.live_classes(), by_key.size());
  for (const auto& [key, members] : by_key) {
    const int s = classes.class_of(members.front());
    ASSERT_TRUE(classes.slot(s).live);
    EXPECT_EQ(classes.representative(s), members.front());
    EXPECT_EQ(std::vector<int>(classes.slot(s).members.begin(), classes.slot(s).members.end()),
              members);
  }
}

TEST(HostClassesTest, ClassesAreExactlyTheHostsOfEqualUsage) {
  Workload w = Generate(300, 7);
  ClusterState c = ClusterOf(w.hosts);
  HostClasses classes;
  classes.Reset(c);
  ExpectClassesMatch(classes, c);
  std::unique_ptr<Framework> fw = Build("first_fit", w);
  Random rng(11);
  std::vector<std::pair<size_t, Allocation>> placed;
  for (size_t r = 0; r < 1500 && r < w.requests.size(); ++r) {
    auto out = fw->Schedule(w.requests[r], c);
    ASSERT_TRUE(out.ok());
    if (out->placed()) placed.emplace_back(r, out->allocation);
    if (!placed.empty() && rng.Uniform(4) == 0) {  // a departure
      const size_t k = rng.Uniform(placed.size());
      ASSERT_TRUE(fw->Release(w.requests[placed[k].first], placed[k].second, c).ok());
      placed.erase(placed.begin() + static_cast<std::ptrdiff_t>(k));
    }
    if (r % 50 == 0) {
      classes.RefileChanged(c);
      ExpectClassesMatch(classes, c);
    }
  }
  classes.RefileChanged(c);
  ExpectClassesMatch(classes, c);
  EXPECT_LT(classes.live_classes(), c.states.size());  // the idle hosts of a type are one class
}

// A deterministic pseudo-score of a host: a hash of its usage key, so that many hosts tie.
class KeyScore final : public ClassEvaluator {
 public:
  KeyScore(const ClusterState& c, int64_t cpu_milli) : c_(c), cpu_milli_(cpu_milli) {}
  int FirstRejecting(int host) override {
    return c_.states[host].cpu_free_milli() >= cpu_milli_ ? -1 : 0;
  }
  int64_t Score(int host) override {
    return static_cast<int64_t>(std::hash<std::string>()(KeyOf(c_, host)) % 5) + epoch_;
  }
  int64_t epoch_ = 0;

 private:
  const ClusterState& c_;
  int64_t cpu_milli_;
};

TEST(ClassBoardTest, BestIsTheLowestIndexedBestHost) {
  Workload w = Generate(200, 3);
  ClusterState c = ClusterOf(w.hosts);
  HostClasses classes;
  classes.Reset(c);
  std::unique_ptr<Framework> fw = Build("first_fit", w);
  ClassBoard board;
  KeyScore eval(c, 8000);
  for (size_t r = 0; r < 800 && r < w.requests.size(); ++r) {
    if (r % 3 == 0) {  // sync only now and then: several changes per replay
      for (size_t i = 0; i < c.states.size(); ++i) classes.Refile(c, static_cast<int>(i));
      if (r % 120 == 0) ++eval.epoch_;
      board.SyncFit(classes, eval);
      board.SyncScores(static_cast<uint64_t>(eval.epoch_), eval);
      int best = -1;
      int64_t best_score = 0, fitting = 0;
      for (int i = 0; i < static_cast<int>(c.states.size()); ++i) {
        if (eval.FirstRejecting(i) >= 0) continue;
        ++fitting;
        const int64_t s = eval.Score(i);
        if (best < 0 || s > best_score) {
          best = i;
          best_score = s;
        }
      }
      ASSERT_EQ(board.best_host(), best) << "request " << r;
      ASSERT_EQ(board.fitting_hosts(), fitting);
    }
    ASSERT_TRUE(fw->Schedule(w.requests[r], c).ok());
  }
}

// Counts evaluations, to see which classes a board re-evaluates.
class CountingEval final : public ClassEvaluator {
 public:
  int FirstRejecting(int) override {
    ++fits;
    return -1;
  }
  int64_t Score(int) override {  // all equal: the lowest host wins
    ++scores;
    return 0;
  }
  int fits = 0;
  int scores = 0;
};

TEST(ClassBoardsTest, TheLeastRecentlyUsedBoardIsResetForTheNewKey) {
  Workload w = Generate(40, 4);
  ClusterState c = ClusterOf(w.hosts);
  HostClasses classes;
  classes.Reset(c);
  // A budget of 16 slot entries: kMinBoards boards, whatever the slots.
  ClassBoards boards(16);
  CountingEval eval;
  for (int k = 0; k < static_cast<int>(ClassBoards::kMinBoards); ++k) {
    ClassBoard& b = boards.Get("k" + std::to_string(k), classes.slot_count());
    b.SyncFit(classes, eval);
    b.SyncScores(0, eval);
    EXPECT_EQ(b.best_host(), 0);
  }
  EXPECT_EQ(boards.size(), ClassBoards::kMinBoards);
  boards.Get("k0", classes.slot_count());  // k1 is now the least recently used
  ClassBoard& fresh = boards.Get("new", classes.slot_count());
  EXPECT_EQ(boards.size(), ClassBoards::kMinBoards);
  EXPECT_FALSE(boards.Contains("k1"));
  EXPECT_TRUE(boards.Contains("k0"));
  eval.fits = 0;
  fresh.SyncFit(classes, eval);
  EXPECT_EQ(eval.fits, static_cast<int>(classes.live_classes()))
      << "a taken-over board starts over";
  fresh.SyncScores(0, eval);
  EXPECT_EQ(fresh.best_host(), 0);
  EXPECT_EQ(fresh.fitting_hosts(), static_cast<int64_t>(c.states.size()));
}

// Runs the same requests (with departures) through the per-host scan and the class path and
// compares every decision.
void ExpectSameDecisions(const std::string& policy, int nodes, uint64_t seed, bool sole_writer,
                         size_t requests) {
  Workload w = Generate(nodes, seed);
  ClusterState per_host = ClusterOf(w.hosts);
  ClusterState by_class = ClusterOf(w.hosts);
  std::unique_ptr<Framework> a = Build(policy, w);
  std::unique_ptr<Framework> b = Build(policy, w);
  a->set_host_classes(false);
  b->set_sole_writer(sole_writer);
  Random rng(seed);
  std::vector<std::pair<size_t, Allocation>> placed;
  int refused = 0;
  for (size_t r = 0; r < requests; ++r) {
    const VmRequest& req = w.requests[r % w.requests.size()];
    auto x = a->Schedule(req, per_host);
    auto y = b->Schedule(req, by_class);
    ASSERT_TRUE(x.ok() && y.ok());
    ASSERT_EQ(x->placed(), y->placed()) << policy << " request " << r;
    if (x->placed()) {
      ASSERT_EQ(x->allocation.host_index, y->allocation.host_index) << policy << " request " << r;
      ASSERT_EQ(x->Summary(nodes), y->Summary(nodes)) << policy << " request " << r;
      ASSERT_EQ(x->feasible_hosts, y->feasible_hosts);
      placed.emplace_back(r, x->allocation);
    } else {
      ++refused;
      ASSERT_EQ(x->Summary(nodes), y->Summary(nodes)) << policy << " request " << r;
    }
    if (!placed.empty() && rng.Uniform(5) == 0) {
      const size_t k = rng.Uniform(placed.size());
      const VmRequest& gone = w.requests[placed[k].first % w.requests.size()];
      ASSERT_TRUE(a->Release(gone, placed[k].second, per_host).ok());
      ASSERT_TRUE(b->Release(gone, placed[k].second, by_class).ok());
      placed.erase(placed.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  EXPECT_GT(refused, 0) << "the stream should fill the cluster";
}

TEST(ClassPathTest, FgdDecidesAsThePerHostScan) {
  ExpectSameDecisions("fgd", 150, 1, /*sole_writer=*/true, 4000);
  ExpectSameDecisions("fgd", 150, 2, /*sole_writer=*/false, 4000);
}

TEST(ClassPathTest, DevshareDecidesAsThePerHostScan) {
  ExpectSameDecisions("devshare", 150, 1, /*sole_writer=*/true, 4000);
  ExpectSameDecisions("devshare", 120, 5, /*sole_writer=*/false, 3000);
}

TEST(ClassPathTest, OtherPoliciesKeepThePerHostScan) {
  ExpectSameDecisions("best_fit", 80, 3, /*sole_writer=*/true, 1500);
  ExpectSameDecisions("random", 80, 3, /*sole_writer=*/true, 1500);
}

}  // namespace
}  // namespace devshare::placement
