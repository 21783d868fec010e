// CreditSim against the acceptance of issue 6 and reference qos.md §2.6.6: proportional share by
// weight, caps, BOOST wake latency, and multi-pCPU behaviour.
#include "devshare/qos/credit_scheduler.h"

#include <gtest/gtest.h>

#include <tuple>

namespace devshare::qos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::unique_ptr<CreditSim> Make(CreditOptions opt, std::vector<CreditVmSpec> vms) {
  auto sim = CreditSim::Create(opt, std::move(vms));
  EXPECT_TRUE(sim.ok()) << sim.status().ToString();
  return sim.ok() ? std::move(sim).value() : nullptr;
}

// Two always-busy vCPUs on one pCPU, weights 256:512 -> 1:2 within 5 %.
TEST(CreditSim, WeightsShareOnePcpu) {
  auto sim =
      Make({}, {{"a", 256, 0, 1, CpuWorkload::Busy()}, {"b", 512, 0, 1, CpuWorkload::Busy()}});
  sim->RunFor(seconds(1));  // warm-up
  sim->ResetStats();
  sim->RunFor(seconds(30));
  auto st = sim->Stats();
  const double ratio = st[1].share_of_pcpu / st[0].share_of_pcpu;
  EXPECT_NEAR(2.0, ratio, 2.0 * 0.05) << st[0].share_of_pcpu << " vs " << st[1].share_of_pcpu;
  EXPECT_NEAR(1.0, st[0].share_of_pcpu + st[1].share_of_pcpu, 1e-6) << "work-conserving";
}

// Table of weight pairs: the share follows the weights, not the order.
TEST(CreditSim, WeightTable) {
  struct Case {
    int64_t wa, wb;
  };
  for (Case c : {Case{256, 256}, Case{100, 300}, Case{1000, 250}, Case{1, 3}}) {
    SCOPED_TRACE(std::to_string(c.wa) + ":" + std::to_string(c.wb));
    auto sim = Make({}, {{"a", c.wa, 0, 1, {}}, {"b", c.wb, 0, 1, {}}});
    sim->RunFor(seconds(1));
    sim->ResetStats();
    sim->RunFor(seconds(30));
    auto st = sim->Stats();
    const double want = static_cast<double>(c.wa) / static_cast<double>(c.wa + c.wb);
    EXPECT_NEAR(want, st[0].share_of_pcpu, 0.05 * want);
  }
}

// cap 50 alone on an idle pCPU -> at most 50 % (+-1), and not far below: the cap is a ceiling
// that parks the vCPU, not a weight.
TEST(CreditSim, CapFiftyOnIdleHost) {
  auto sim = Make({}, {{"capped", 256, 50, 1, CpuWorkload::Busy()}});
  sim->RunFor(seconds(1));
  sim->ResetStats();
  sim->RunFor(seconds(6));
  const double share = sim->Stats()[0].share_of_pcpu;
  EXPECT_LE(share, 0.51);
  EXPECT_GE(share, 0.49);
}

TEST(CreditSim, CapTable) {
  for (int64_t cap : {10, 25, 75, 100}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto sim = Make({}, {{"capped", 256, cap, 1, {}}});
    sim->RunFor(seconds(1));
    sim->ResetStats();
    sim->RunFor(seconds(12));
    const double share = sim->Stats()[0].share_of_pcpu;
    EXPECT_LE(share, cap / 100.0 + 0.01);
    EXPECT_GE(share, cap / 100.0 - 0.02);
  }
}

// A capped VM next to an uncapped one: the cap holds and the other takes the rest.
TEST(CreditSim, CapWithCompetitor) {
  auto sim = Make({}, {{"capped", 512, 30, 1, {}}, {"free", 256, 0, 1, {}}});
  sim->RunFor(seconds(1));
  sim->ResetStats();
  sim->RunFor(seconds(12));
  auto st = sim->Stats();
  EXPECT_LE(st[0].share_of_pcpu, 0.31);
  EXPECT_GE(st[1].share_of_pcpu, 0.68);
}

// An I/O-bound vCPU (1 ms of CPU, then 20 ms asleep) next to a CPU hog: it wakes UNDER, is
// boosted and runs within one 30 ms period of waking, every time.
TEST(CreditSim, BoostWakeLatencyBelowOnePeriod) {
  auto sim =
      Make({}, {{"hog", 256, 0, 1, CpuWorkload::Busy()},
                {"io", 256, 0, 1, CpuWorkload::Periodic(milliseconds(1), milliseconds(20))}});
  sim->RunFor(seconds(1));
  sim->ResetStats();
  sim->RunFor(seconds(20));
  auto st = sim->Stats();
  ASSERT_GT(st[1].wakes, 900u);
  EXPECT_LT(st[1].max_wake_latency, milliseconds(30));
  EXPECT_NEAR(1.0 / 21.0, st[1].share_of_pcpu, 0.002) << "it gets all the CPU it asks for";
}

// What BOOST buys: when the running vCPU is itself UNDER (here a hog capped at 50 %, whose
// credit stays near zero), a waking UNDER vCPU cannot preempt it and waits for the slice to end;
// boosted, it preempts as soon as the 1 ms rate limit allows.
TEST(CreditSim, BoostPreemptsAnUnderVcpu) {
  for (bool boost : {true, false}) {
    SCOPED_TRACE(boost ? "boost" : "no boost");
    CreditOptions opt;
    opt.boost = boost;
    auto sim =
        Make(opt, {{"hog", 256, 50, 1, CpuWorkload::Busy()},
                   {"io", 256, 0, 1, CpuWorkload::Periodic(milliseconds(1), milliseconds(20))}});
    sim->RunFor(seconds(1));
    sim->ResetStats();
    sim->RunFor(seconds(20));
    auto st = sim->Stats();
    ASSERT_GT(st[1].wakes, 800u);
    if (boost) {
      EXPECT_LE(st[1].max_wake_latency, opt.ratelimit);
    } else {
      EXPECT_GT(st[1].max_wake_latency, milliseconds(10)) << "waits behind the hog's slice";
    }
  }
}

// With accounting aligned to the slice ends, every decision at a slice end uses the previous
// period's priorities and uneven weights drift (1:3 gives 2:5); 256:512 still holds.
TEST(CreditSim, AlignedAccountingSkewsUnevenWeights) {
  CreditOptions opt;
  opt.accounting_phase = opt.tslice;
  for (auto [wa, wb, want] :
       {std::tuple<int64_t, int64_t, double>{1, 3, 2.0 / 7.0}, {256, 512, 1.0 / 3.0}}) {
    auto sim = Make(opt, {{"a", wa, 0, 1, {}}, {"b", wb, 0, 1, {}}});
    sim->RunFor(seconds(1));
    sim->ResetStats();
    sim->RunFor(seconds(30));
    EXPECT_NEAR(want, sim->Stats()[0].share_of_pcpu, 0.01) << wa << ":" << wb;
  }
}

// Two pCPUs, three busy equal-weight VMs: each gets 2/3 of a pCPU (idle pCPUs steal work).
TEST(CreditSim, TwoPcpusThreeVms) {
  CreditOptions opt;
  opt.pcpus = 2;
  auto sim = Make(opt, {{"a", 256, 0, 1, {}}, {"b", 256, 0, 1, {}}, {"c", 256, 0, 1, {}}});
  sim->RunFor(seconds(1));
  sim->ResetStats();
  sim->RunFor(seconds(30));
  double total = 0;
  for (const CreditVmStats& s : sim->Stats()) {
    EXPECT_NEAR(2.0 / 3.0, s.share_of_pcpu, 0.05 * 2.0 / 3.0) << s.name;
    total += s.share_of_pcpu;
  }
  EXPECT_NEAR(2.0, total, 1e-6) << "both pCPUs always busy";
}

// A 2-vCPU VM with cap 100 (one pCPU in total) on two otherwise idle pCPUs.
TEST(CreditSim, CapSpansVcpus) {
  CreditOptions opt;
  opt.pcpus = 2;
  auto sim = Make(opt, {{"wide", 256, 100, 2, {}}});
  sim->RunFor(seconds(1));
  sim->ResetStats();
  sim->RunFor(seconds(12));
  EXPECT_LE(sim->Stats()[0].share_of_pcpu, 1.01);
  EXPECT_GE(sim->Stats()[0].share_of_pcpu, 0.95);
}

TEST(CreditSim, BadSpecsNameTheField) {
  struct Case {
    CreditVmSpec vm;
    std::string want;
  };
  for (const Case& c :
       {Case{{"w0", 0, 0, 1, {}}, "vms[0] ('w0').weight"}, Case{{"w", 65536, 0, 1, {}}, "weight"},
        Case{{"c", 256, 201, 2, {}}, "cap_pct"}, Case{{"v", 256, 0, 0, {}}, "vcpus"},
        Case{{"p", 256, 0, 1, CpuWorkload::Periodic(Duration(0), milliseconds(1))}, "periodic"}}) {
    auto sim = CreditSim::Create({}, {c.vm});
    ASSERT_FALSE(sim.ok()) << c.want;
    EXPECT_NE(std::string::npos, sim.status().message().find(c.want)) << sim.status().message();
  }
}

}  // namespace
}  // namespace devshare::qos
