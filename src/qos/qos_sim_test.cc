// The QoS simulator: reference qos.md §1.8's example under both capacity models, §1.10.6
// (capacity drop) and §1.10.7 (dmClock across two servers) end to end, the fifo baseline, config
// errors, warnings, output shape and determinism.
#include "devshare/qos/qos_sim.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace devshare::qos {
namespace {

SchedulerRegistry& Registry() {
  static SchedulerRegistry* r = [] {
    auto* reg = new SchedulerRegistry();
    RegisterBuiltinSchedulers(*reg);
    return reg;
  }();
  return *r;
}

SimConfig Parse(const std::string& json) {
  auto c = ParseSimConfig(json, "test.json", Registry().Names());
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : SimConfig{};
}

SimReport RunSim(const std::string& json) {
  auto r = RunQosSim(Parse(json), Registry());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SimReport{};
}

const SimClientResult& Client(const SimRunResult& run, const std::string& id) {
  for (const SimClientResult& c : run.clients) {
    if (c.id == id) return c;
  }
  ADD_FAILURE() << "no client " << id;
  static SimClientResult none;
  return none;
}

// Mean ops/s of `id` over seconds [from, to) (1 s buckets).
double Rate(const SimRunResult& run, const std::string& id, size_t from, size_t to) {
  return MeanOpsPerSecond(Client(run, id), from, to);
}

// dmclock's sim/dmc_sim_example.conf as reference qos.md §1.8 describes it: one server of 160
// IOPS, Wait mode; c0 w1 from 0 s; c1 w1 l40 from 5 s; c2 w2 l50 cost 1 and c3 w2 l50 cost 3
// from 10 s; every client asks 200 requests/s with 32 outstanding.
std::string DmcExample(const std::string& capacity_unit) {
  return R"({"duration_s": 60, "seed": 1, "scheduler": "mclock", "at_limit": "wait",
    "bucket_s": 1, "capacity_unit": ")" +
         capacity_unit + R"(",
    "servers": [{"id": "s0", "iops": 160}],
    "clients": [
      {"id": "c0", "start_s": 0, "weight": 1, "iops_goal": 200, "outstanding": 32},
      {"id": "c1", "start_s": 5, "weight": 1, "limit": 40, "iops_goal": 200, "outstanding": 32},
      {"id": "c2", "start_s": 10, "weight": 2, "limit": 50, "cost": 1, "iops_goal": 200,
       "outstanding": 32},
      {"id": "c3", "start_s": 10, "weight": 2, "limit": 50, "cost": 3, "iops_goal": 200,
       "outstanding": 32}]})";
}

struct Expectation {
  const char* client;
  size_t from_s, to_s;
  double want;  // requests per second
};

void ExpectWithin5Percent(const SimRunResult& run, const std::vector<Expectation>& table) {
  for (const Expectation& e : table) {
    SCOPED_TRACE(std::string(e.client) + " in [" + std::to_string(e.from_s) + ", " +
                 std::to_string(e.to_s) + ") s");
    const double got = Rate(run, e.client, e.from_s, e.to_s);
    if (e.want == 0) {
      EXPECT_EQ(0, got);
    } else {
      EXPECT_NEAR(e.want, got, 0.05 * e.want);
    }
  }
}

// §1.8 under its own assumption (server capacity counts requests, tags count cost): the hand
// water-filling numbers hold after each join settles.
TEST(QosSimDmcExample, RequestCapacityMatchesReferenceHandNumbers) {
  SimReport r = RunSim(DmcExample("requests"));
  ExpectWithin5Percent(r.primary, {{"c0", 1, 5, 160},
                                   {"c0", 6, 10, 120},
                                   {"c1", 6, 10, 40},
                                   {"c0", 12, 60, 160.0 - 40 - 50 - 50.0 / 3},
                                   {"c1", 12, 60, 40},
                                   {"c2", 12, 60, 50},
                                   {"c3", 12, 60, 50.0 / 3}});
}

// Our cost model (docs/qos.md): a request of cost c occupies the server c/160 s. After 10 s the
// server's 160 cost units/s go 50 to c2, 50 (16.7 requests) to c3 and 30 + 30 to c0 and c1,
// whose equal weights now both sit below c1's limit. c1 first spends the weight credit it
// built up while held at its limit (5-10 s), so the split settles at about 30 s.
TEST(QosSimDmcExample, CostCapacityWaterFilling) {
  SimReport r = RunSim(DmcExample("cost"));
  ExpectWithin5Percent(r.primary, {{"c0", 1, 5, 160},
                                   {"c0", 6, 10, 120},
                                   {"c1", 6, 10, 40},
                                   {"c0", 35, 60, 30},
                                   {"c1", 35, 60, 30},
                                   {"c2", 35, 60, 50},
                                   {"c3", 35, 60, 50.0 / 3}});
  // The transient: c1 at its limit, c0 gets what is left (160 - 40 - 50 - 50 cost units).
  ExpectWithin5Percent(r.primary, {{"c1", 12, 28, 40}, {"c0", 12, 28, 20}});
  for (size_t s = 0; s < 60; ++s) {
    EXPECT_LE(Client(r.primary, "c1").ops_per_s[s], 41) << "limit 40 holds, second " << s;
    EXPECT_LE(Client(r.primary, "c3").ops_per_s[s] * 3, 51) << "limit 50 cost/s, second " << s;
  }
}

// The fifo column of the same run: no limits, no weights. c1 takes half the server from 5 s
// (80/s against its limit of 40) and c3's 3-cost requests get as many slots as anyone's.
TEST(QosSimDmcExample, FifoLosesLimitsAndWeights) {
  SimReport r = RunSim(DmcExample("cost"));
  EXPECT_EQ("fifo", r.fifo.scheduler);
  EXPECT_GT(Rate(r.fifo, "c1", 6, 10), 70);
  EXPECT_GT(Rate(r.fifo, "c3", 12, 60) * 3, 60) << "c3 above its 50 cost/s limit";
  EXPECT_NEAR(Rate(r.fifo, "c2", 12, 60), Rate(r.fifo, "c3", 12, 60), 5)
      << "weights and costs ignored: equal request rates";
  for (const SimClientResult& c : r.fifo.clients) {
    EXPECT_EQ(0u, c.res_ops + c.prop_ops) << "fifo has no phases";
  }
}

// §1.10.6: capacity drops 1000 -> 500 with reservations 400 + 200 = 600: each reserved client
// gets 500 * r / 600 (+-5 %), the unreserved one nothing. Clients issue 1000 requests/s into
// deep queues, so every R tag falls behind at the same pace.
TEST(QosSimExpectations, CapacityDropSharesByReservation) {
  SimReport r = RunSim(R"({"duration_s": 20, "seed": 7, "bucket_s": 1,
    "servers": [{"id": "s0", "iops": 1000, "changes": [{"at_s": 10, "iops": 500}]}],
    "clients": [
      {"id": "A", "reservation": 400, "weight": 1, "iops_goal": 1000, "outstanding": 100000},
      {"id": "B", "reservation": 200, "weight": 1, "iops_goal": 1000, "outstanding": 100000},
      {"id": "C", "weight": 1, "iops_goal": 1000, "outstanding": 100000}]})");
  ExpectWithin5Percent(r.primary, {{"A", 2, 10, 400},
                                   {"B", 2, 10, 300},
                                   {"C", 2, 10, 300},
                                   {"A", 12, 20, 500.0 * 400 / 600},
                                   {"B", 12, 20, 500.0 * 200 / 600},
                                   {"C", 12, 20, 0}});
}

// The same drop with closed-loop clients (64 outstanding, a new request on each completion):
// arrivals come no faster than service, new R tags clamp to the arrival time and reservations
// are met in deadline order: the smaller reservation (B, 200) is met in full, A absorbs the
// shortfall. docs/qos.md discusses this.
TEST(QosSimExpectations, CapacityDropClosedLoopMeetsSmallReservationFirst) {
  SimReport r = RunSim(R"({"duration_s": 20, "seed": 7, "bucket_s": 1,
    "servers": [{"id": "s0", "iops": 1000, "changes": [{"at_s": 10, "iops": 500}]}],
    "clients": [{"id": "A", "reservation": 400, "weight": 1, "outstanding": 64},
                {"id": "B", "reservation": 200, "weight": 1, "outstanding": 64},
                {"id": "C", "weight": 1, "outstanding": 64}]})");
  ExpectWithin5Percent(r.primary, {{"A", 12, 20, 300}, {"B", 12, 20, 200}, {"C", 12, 20, 0}});
}

// §1.10.7 end to end: A (r 150) spread over two servers gets 150/s in total with dmClock's rho,
// not 150 per server; each server's reservation ops are a part of it.
TEST(QosSimExpectations, DmClockTotalReservationAcrossServers) {
  const std::string base = R"({"duration_s": 20, "seed": 3, "bucket_s": 1, "dmclock": DM,
    "servers": [{"id": "s0", "iops": 1000}, {"id": "s1", "iops": 1000}],
    "clients": [{"id": "A", "reservation": 150, "outstanding": 64},
                {"id": "B", "weight": 1, "outstanding": 64}]})";
  auto with = [&](const char* dm) {
    std::string j = base;
    j.replace(j.find("DM"), 2, dm);
    return RunSim(j);
  };
  SimReport dm = with("true");
  EXPECT_NEAR(150, Rate(dm.primary, "A", 2, 20), 150 * 0.05);
  uint64_t res_sum = 0;
  for (const SimServerResult& s : dm.primary.servers) {
    EXPECT_GT(s.res_ops_by_client[0], 0u) << s.id;
    res_sum += s.res_ops_by_client[0];
  }
  EXPECT_EQ(Client(dm.primary, "A").res_ops, res_sum);
  SimReport plain = with("false");
  EXPECT_NEAR(300, Rate(plain.primary, "A", 2, 20), 300 * 0.05)
      << "without rho each server grants the full reservation";
}

TEST(QosSimCli, IssueExampleRuns) {
  SimReport r = RunSim(R"({"duration_s": 60, "seed": 1, "scheduler": "mclock", "at_limit": "wait",
    "bucket_s": 1,
    "servers": [{"id": "s0", "iops": 1000, "changes": [{"at_s": 30, "iops": 500}]}],
    "clients": [{"id": "a", "start_s": 0, "reservation": 600, "weight": 1, "limit": 0,
                 "cost": 1, "outstanding": 64}]})");
  const SimClientResult& a = Client(r.primary, "a");
  ASSERT_EQ(60u, a.ops_per_s.size());
  EXPECT_NEAR(1000, MeanOpsPerSecond(a, 1, 30), 1);
  EXPECT_NEAR(500, MeanOpsPerSecond(a, 31, 60), 1);
  EXPECT_EQ(a.total_ops, a.res_ops + a.prop_ops);
  EXPECT_GT(a.res_ops, 0u);
  EXPECT_GT(a.prop_ops, 0u) << "above its reservation a lone client is served by weight";
  EXPECT_NEAR(static_cast<double>(a.total_ops), static_cast<double>(Client(r.fifo, "a").total_ops),
              2);
}

TEST(QosSimCli, JsonHasTheIssueShape) {
  SimReport r = RunSim(R"({"duration_s": 4, "bucket_s": 2, "servers": [{"id": "s", "iops": 100}],
    "clients": [{"id": "x", "weight": 1}, {"id": "y", "weight": 3}]})");
  nlohmann::json j = nlohmann::json::parse(FormatSimReportJson(r));
  for (const nlohmann::json* run : {&j, &j["fifo"]}) {
    ASSERT_TRUE((*run)["clients"].is_array());
    ASSERT_EQ(2u, (*run)["clients"].size());
    for (const auto& c : (*run)["clients"]) {
      for (const char* k : {"id", "total_ops", "res_ops", "prop_ops", "ops_per_s"}) {
        EXPECT_TRUE(c.contains(k)) << k;
      }
      EXPECT_EQ(2u, c["ops_per_s"].size()) << "one entry per bucket";
    }
  }
  EXPECT_EQ("x", j["clients"][0]["id"]);
  EXPECT_EQ(1, j["seed"]) << "every run reports its seed";
  std::string text = FormatSimReportText(r);
  EXPECT_NE(std::string::npos, text.find("==== mclock")) << text;
  EXPECT_NE(std::string::npos, text.find("==== fifo")) << text;
  EXPECT_NE(std::string::npos, text.find("res_ops:")) << text;
}

TEST(QosSimCli, DeterministicPerSeed) {
  const std::string cfg = R"({"duration_s": 10, "seed": SEED, "bucket_s": 1,
    "server_select": "random",
    "servers": [{"id": "s0", "iops": 300}, {"id": "s1", "iops": 200}],
    "clients": [{"id": "a", "weight": 1, "iops_goal": 150, "outstanding": 8},
                {"id": "b", "reservation": 50, "weight": 2, "iops_goal": 250}]})";
  auto json_for = [&](const char* seed) {
    std::string j = cfg;
    j.replace(j.find("SEED"), 4, seed);
    return FormatSimReportJson(RunSim(j));
  };
  EXPECT_EQ(json_for("42"), json_for("42"));
  EXPECT_NE(json_for("42"), json_for("43")) << "the seed drives arrivals and server choice";
}

TEST(QosSimCli, QosChangesApplyAtRunTime) {
  SimReport r = RunSim(R"({"duration_s": 20, "bucket_s": 1, "servers": [{"id": "s", "iops": 1000}],
    "clients": [{"id": "a", "weight": 1, "changes": [{"at_s": 10, "weight": 3}]},
                {"id": "b", "weight": 1}]})");
  EXPECT_NEAR(500, Rate(r.primary, "a", 2, 10), 25);
  EXPECT_NEAR(750, Rate(r.primary, "a", 12, 20), 37.5);
}

// Reject mode end to end: a closed-loop client over its limit is refused, backs off and resends
// a little below its limit; it never exceeds the limit, and the other client takes the rest.
TEST(QosSimExpectations, RejectModeHoldsTheLimit) {
  SimReport r = RunSim(R"({"duration_s": 10, "seed": 1, "at_limit": "reject", "bucket_s": 1,
    "servers": [{"id": "s0", "iops": 1000}],
    "clients": [{"id": "a", "weight": 1, "limit": 100, "outstanding": 8},
                {"id": "b", "weight": 1, "outstanding": 8}]})");
  const SimClientResult& a = Client(r.primary, "a");
  EXPECT_GT(a.rejected_ops, 0u);
  for (size_t s = 0; s < a.ops_per_s.size(); ++s) EXPECT_LE(a.ops_per_s[s], 101) << s;
  EXPECT_NEAR(80, Rate(r.primary, "a", 1, 10), 4) << "resends pace at 1.25 x cost / limit";
  EXPECT_NEAR(920, Rate(r.primary, "b", 1, 10), 10);
  EXPECT_NE(std::string::npos, FormatSimReportText(r).find("rejected:"));
}

struct BadConfig {
  const char* name;
  std::string json;
  std::vector<std::string> want_in_message;
};

TEST(QosSimConfig, BadConfigsNameTheField) {
  const std::string ok_server = R"("servers": [{"id": "s0", "iops": 100}])";
  const std::vector<BadConfig> cases = {
      {"not json", "{duration_s: 1", {"sim.json", "not valid JSON"}},
      {"unknown top-level field",
       R"({"duration_s": 1, "durationn": 2, )" + ok_server +
           R"(, "clients": [{"id": "a", "weight": 1}]})",
       {"sim.json: durationn: unknown field"}},
      {"unknown client field",
       R"({"duration_s": 1, )" + ok_server + R"(, "clients": [{"id": "a", "wieght": 1}]})",
       {"clients[0].wieght: unknown field"}},
      {"neither reservation nor weight",
       R"({"duration_s": 1, )" + ok_server +
           R"(, "clients": [{"id": "a", "weight": 1}, {"id": "b", "limit": 10}]})",
       {"clients[1]", "'b'", "reservation or a weight"}},
      {"weight below the tag resolution",
       R"({"duration_s": 1, )" + ok_server + R"(, "clients": [{"id": "a", "weight": 2e9}]})",
       {"clients[0]", "weight", "resolution"}},
      {"missing servers",
       R"({"duration_s": 1, "clients": [{"id": "a", "weight": 1}]})",
       {"servers: required"}},
      {"bad at_limit",
       R"({"duration_s": 1, "at_limit": "drop", )" + ok_server +
           R"(, "clients": [{"id": "a", "weight": 1}]})",
       {"at_limit", "'drop'", "wait, allow, reject"}},
      {"unknown scheduler",
       R"({"duration_s": 1, "scheduler": "wfq", )" + ok_server +
           R"(, "clients": [{"id": "a", "weight": 1}]})",
       {"scheduler", "fifo, mclock"}},
      {"wrong type",
       R"({"duration_s": 1, "servers": [{"id": "s0", "iops": "fast"}],
           "clients": [{"id": "a", "weight": 1}]})",
       {"servers[0].iops: expected a number"}},
      {"unknown server reference",
       R"({"duration_s": 1, )" + ok_server +
           R"(, "clients": [{"id": "a", "weight": 1, "servers": ["s9"]}]})",
       {"clients[0].servers[0]", "'s9'"}},
      {"duplicate client id",
       R"({"duration_s": 1, )" + ok_server +
           R"(, "clients": [{"id": "a", "weight": 1}, {"id": "a", "weight": 2}]})",
       {"clients[1].id", "duplicate"}},
      {"fractional cost",
       R"({"duration_s": 1, )" + ok_server +
           R"(, "clients": [{"id": "a", "weight": 1, "cost": 1.5}]})",
       {"clients[0].cost", "integer"}},
      {"capacity change field",
       R"({"duration_s": 10, "servers": [{"id": "s0", "iops": 100,
           "changes": [{"at_s": 5, "iops_": 50}]}], "clients": [{"id": "a", "weight": 1}]})",
       {"servers[0].changes[0]"}},
  };
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = ParseSimConfig(c.json, "sim.json", Registry().Names());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalidArgument());
    EXPECT_EQ(0u, r.status().message().rfind("sim.json: ", 0)) << r.status().message();
    for (const std::string& part : c.want_in_message) {
      EXPECT_NE(std::string::npos, r.status().message().find(part)) << r.status().message();
    }
  }
}

TEST(QosSimConfig, LargeWeightsWarn) {
  SimConfig big = Parse(R"({"duration_s": 1, "servers": [{"id": "s0", "iops": 1000}],
    "clients": [{"id": "a", "weight": 10000}, {"id": "b", "weight": 30000}]})");
  std::vector<std::string> w = SimConfigWarnings(big);
  ASSERT_EQ(2u, w.size());
  EXPECT_NE(std::string::npos, w[0].find("clients[0] ('a')")) << w[0];
  SimConfig goal = Parse(R"({"duration_s": 1, "servers": [{"id": "s0", "iops": 100000}],
    "clients": [{"id": "a", "weight": 10000, "iops_goal": 1000}, {"id": "b", "weight": 1}]})");
  EXPECT_EQ(1u, SimConfigWarnings(goal).size()) << "w 10000 at 1 ms inter-arrival";
  SimConfig small = Parse(R"({"duration_s": 1, "servers": [{"id": "s0", "iops": 1000}],
    "clients": [{"id": "a", "weight": 1}, {"id": "b", "weight": 3}]})");
  EXPECT_TRUE(SimConfigWarnings(small).empty());
}

}  // namespace
}  // namespace devshare::qos
