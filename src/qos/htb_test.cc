// Htb against reference qos.md §6.3: borrowing splits spare bandwidth by quantum, ceil bounds a
// leaf even on an idle link, a lower prio borrows first, and every leaf keeps its rate.
#include "devshare/qos/htb.h"

#include <gtest/gtest.h>

#include <vector>

#include "qos/qos_test_util.h"

namespace devshare::qos {
namespace {

using testutil::At;
using testutil::Seconds;

constexpr double kGbit = 1e9 / 8;       // bytes per second
constexpr int64_t kPacket = 64 * 1024;  // TSO-sized packets keep the loop short

// Transmits on a link of `link` bytes/s, keeping the `busy` leaves backlogged, from `now` to
// `until_s`; returns each leaf's Gbit/s over [measure_from_s, until_s).
std::vector<double> RunLink(Htb& htb, double link, const std::vector<bool>& busy, TimePoint& now,
                            double measure_from_s, double until_s) {
  std::vector<double> bytes(htb.leaf_count(), 0);
  while (now < At(until_s)) {
    for (size_t i = 0; i < busy.size(); ++i) {
      while (busy[i] && htb.backlog(i) < 4) EXPECT_TRUE(htb.Enqueue(i, kPacket).ok());
    }
    HtbDequeue d = htb.Dequeue(now);
    if (d.kind() == HtbDequeue::Kind::kPacket) {
      if (Seconds(now) >= measure_from_s)
        bytes[d.packet().leaf] += static_cast<double>(d.packet().bytes);
      now += Duration(static_cast<int64_t>(static_cast<double>(d.packet().bytes) / link * 1e9));
    } else if (d.kind() == HtbDequeue::Kind::kFuture) {
      now = d.when();
    } else {
      now += std::chrono::milliseconds(1);
    }
  }
  for (double& b : bytes) b = b / (until_s - measure_from_s) / kGbit;
  return bytes;
}

std::unique_ptr<Htb> Make(double parent_gbit, std::vector<HtbClassSpec> leaves, int64_t r2q = 10) {
  HtbOptions opt;
  opt.parent_rate_bytes_per_s = parent_gbit * kGbit;
  opt.r2q = r2q;
  auto h = Htb::Create(opt, std::move(leaves), At(0));
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? std::move(h).value() : nullptr;
}

// §6.3.2: parent 8G, A rate 3G ceil 8G, B rate 1G ceil 8G, both saturated: A 6G, B 2G (the 4G
// spare split 3:1 by quantum). r2q 2000 keeps the quanta (187 500 and 62 500 bytes) inside the
// kernel's clamp, so they stay proportional to the rates.
TEST(Htb, SpareSplitByQuantum) {
  auto htb = Make(8, {{"A", 3 * kGbit, 8 * kGbit}, {"B", 1 * kGbit, 8 * kGbit}}, 2000);
  EXPECT_EQ(187500, htb->quantum_bytes(0));
  EXPECT_EQ(62500, htb->quantum_bytes(1));
  TimePoint now = At(0);
  auto g = RunLink(*htb, 10 * kGbit, {true, true}, now, 0.2, 2.2);
  EXPECT_NEAR(6.0, g[0], 6.0 * 0.05);
  EXPECT_NEAR(2.0, g[1], 2.0 * 0.05);
}

// tc's default r2q = 10 at Gbit rates gives quanta far above 200 000 bytes; the kernel clamps
// both to 200 000, so the spare is split 1:1 (A 5G, B 3G), not 3:1. The pitfall docs/qos.md
// warns about.
TEST(Htb, KernelQuantumClampEqualisesTheSpare) {
  auto htb = Make(8, {{"A", 3 * kGbit, 8 * kGbit}, {"B", 1 * kGbit, 8 * kGbit}});
  EXPECT_EQ(200000, htb->quantum_bytes(0));
  EXPECT_EQ(200000, htb->quantum_bytes(1));
  TimePoint now = At(0);
  auto g = RunLink(*htb, 10 * kGbit, {true, true}, now, 0.2, 2.2);
  EXPECT_NEAR(5.0, g[0], 5.0 * 0.05);
  EXPECT_NEAR(3.0, g[1], 3.0 * 0.05);
}

// §6.3.3: B idle -> A reaches its ceil (the parent's 8G); with ceil 4G, A stays at 4G although
// the link is idle.
TEST(Htb, CeilBoundsEvenOnAnIdleLink) {
  auto htb = Make(8, {{"A", 3 * kGbit, 8 * kGbit}, {"B", 1 * kGbit, 8 * kGbit}});
  TimePoint now = At(0);
  auto g = RunLink(*htb, 10 * kGbit, {true, false}, now, 0.2, 1.2);
  EXPECT_NEAR(8.0, g[0], 8.0 * 0.03);
  ASSERT_TRUE(htb->SetCeil(0, 4 * kGbit, now).ok());
  g = RunLink(*htb, 10 * kGbit, {true, false}, now, 1.4, 2.4);
  EXPECT_LE(g[0], 4.0 * 1.01);
  EXPECT_GE(g[0], 4.0 * 0.97);
}

// §6.3.4: equal rates, A prio 0, B prio 1, 2G spare: A borrows all of it.
TEST(Htb, LowerPrioBorrowsFirst) {
  HtbClassSpec a{"A", 2 * kGbit, 6 * kGbit};
  HtbClassSpec b{"B", 2 * kGbit, 6 * kGbit};
  a.prio = 0;
  b.prio = 1;
  auto htb = Make(6, {a, b});
  TimePoint now = At(0);
  auto g = RunLink(*htb, 10 * kGbit, {true, true}, now, 0.2, 2.2);
  EXPECT_NEAR(4.0, g[0], 4.0 * 0.05);
  EXPECT_NEAR(2.0, g[1], 2.0 * 0.05) << "B keeps its rate";
}

// Every saturated leaf gets at least its rate when the rates add up to the parent's.
TEST(Htb, GuaranteesHoldUnderFullLoad) {
  auto htb = Make(
      10,
      {{"a", 5 * kGbit, 10 * kGbit}, {"b", 3 * kGbit, 10 * kGbit}, {"c", 2 * kGbit, 10 * kGbit}});
  TimePoint now = At(0);
  auto g = RunLink(*htb, 10 * kGbit, {true, true, true}, now, 0.2, 2.2);
  EXPECT_GE(g[0], 5.0 * 0.97);
  EXPECT_GE(g[1], 3.0 * 0.97);
  EXPECT_GE(g[2], 2.0 * 0.97);
}

TEST(Htb, BadSpecs) {
  HtbOptions opt;
  opt.parent_rate_bytes_per_s = 8 * kGbit;
  EXPECT_FALSE(Htb::Create(opt, {{"x", 0, 0}}, At(0)).ok()) << "rate 0";
  EXPECT_FALSE(Htb::Create(opt, {{"x", 2 * kGbit, 1 * kGbit}}, At(0)).ok()) << "ceil < rate";
  EXPECT_FALSE(Htb::Create(opt, {{"x", 5 * kGbit}, {"y", 5 * kGbit}}, At(0)).ok())
      << "rates above the parent";
  HtbClassSpec p{"p", kGbit};
  p.prio = 8;
  auto r = Htb::Create(opt, {p}, At(0));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string::npos, r.status().message().find("'p'")) << r.status().message();
}

// ResolveHtbClasses fills the defaults Create uses (the host agent writes them to tc).
TEST(Htb, ResolveFillsDefaults) {
  HtbOptions opt;
  opt.parent_rate_bytes_per_s = 125e6;  // 1 Gbit/s
  HtbClassSpec fixed{"fixed", 1e6, 2e6, 5000, 6000, 3, 4000};
  auto r = ResolveHtbClasses(opt, {{"a", 1000}, {"b", 12.5e6, 125e6}, fixed});
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  // a: tiny rate -> ceil = rate, bursts 2 x mtu, quantum clamped up to 1000.
  EXPECT_EQ((*r)[0].ceil_bytes_per_s, 1000);
  EXPECT_EQ((*r)[0].burst_bytes, 3000);
  EXPECT_EQ((*r)[0].cburst_bytes, 3000);
  EXPECT_EQ((*r)[0].quantum_bytes, 1000);
  // b: 100 Mbit/s rate, 1 Gbit/s ceil -> burst 12500, cburst 125000, quantum 1.25e6/10 clamped.
  EXPECT_EQ((*r)[1].burst_bytes, 12500);
  EXPECT_EQ((*r)[1].cburst_bytes, 125000);
  EXPECT_EQ((*r)[1].quantum_bytes, 200000);
  // Explicit values stay.
  EXPECT_EQ((*r)[2].burst_bytes, 5000);
  EXPECT_EQ((*r)[2].cburst_bytes, 6000);
  EXPECT_EQ((*r)[2].quantum_bytes, 4000);
  EXPECT_EQ(ResolveHtbParentBurst(opt), 125000);
  // The guarantee check Create makes.
  EXPECT_FALSE(ResolveHtbClasses(opt, {{"x", 100e6}, {"y", 30e6}}).ok());
  EXPECT_TRUE(ResolveHtbClasses(opt, {{"x", 100e6}, {"y", 25e6}}).ok());
}

}  // namespace
}  // namespace devshare::qos
