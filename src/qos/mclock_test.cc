// MClockQueue against the expectations of reference qos.md §1.10 (1-5, 7, 8; 6 runs through the
// simulator in qos_sim_test.cc) and properties of tags, limits and costs. Virtual time only.
#include "devshare/qos/mclock.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include "devshare/core/random.h"
#include "devshare/qos/dmclock_tracker.h"
#include "qos/qos_test_util.h"

namespace devshare::qos {
namespace {

using testutil::At;
using testutil::MakeQueue;
using testutil::QosMap;
using testutil::Seconds;

// One saturated server of `capacity` cost units per second pulling from an MClockQueue, with
// closed-loop clients that keep `depth` requests queued while active.
class Harness {
 public:
  Harness(MClockQueue& q, double capacity_per_s) : q_(q), capacity_(capacity_per_s) {}

  void Backlog(ClientId c, int depth, uint32_t cost = 1) {
    Client& cl = clients_[c];
    cl.depth = depth;
    cl.cost = cost;
    cl.active = true;
  }
  void Pause(ClientId c) { clients_[c].active = false; }
  void Resume(ClientId c) { clients_[c].active = true; }

  // Serves until `until_s` (or `max_pulls` requests).
  void RunUntil(double until_s, int64_t max_pulls = INT64_MAX) {
    const TimePoint until = At(until_s);
    while (now_ < until && pulls_ < max_pulls) {
      TopUp();
      PullResult pr = q_.Dequeue(now_);
      if (pr.is_ready()) {
        const DequeuedRequest& r = pr.request();
        Client& cl = clients_[r.client];
        --cl.queued;
        ++pulls_;
        auto sec = static_cast<size_t>(Seconds(now_));
        if (cl.per_second.size() <= sec) cl.per_second.resize(sec + 1, 0);
        ++cl.per_second[sec];
        ++cl.served;
        if (r.phase == Phase::kReservation) ++cl.res;
        if (r.phase == Phase::kPriority) ++cl.prop;
        now_ += Duration(std::llround(1e9 * r.cost / capacity_));
      } else if (pr.is_future()) {
        now_ = std::min(pr.when(), until);
      } else {
        // Nothing queued: idle for a millisecond so paused clients stay paused in time.
        now_ = std::min(now_ + std::chrono::milliseconds(1), until);
      }
    }
  }

  // Requests of c served in [from_s, to_s).
  int64_t Served(ClientId c, int from_s, int to_s) const {
    const Client& cl = clients_.at(c);
    int64_t n = 0;
    for (int s = from_s; s < to_s && s < static_cast<int>(cl.per_second.size()); ++s) {
      n += cl.per_second[static_cast<size_t>(s)];
    }
    return n;
  }
  int64_t InSecond(ClientId c, int s) const { return Served(c, s, s + 1); }
  int64_t served(ClientId c) const { return clients_.at(c).served; }
  int64_t res(ClientId c) const { return clients_.at(c).res; }
  int64_t prop(ClientId c) const { return clients_.at(c).prop; }
  TimePoint now() const { return now_; }

 private:
  struct Client {
    int depth = 0;
    uint32_t cost = 1;
    bool active = false;
    int queued = 0;
    int64_t served = 0, res = 0, prop = 0;
    std::vector<int64_t> per_second;
  };

  void TopUp() {
    for (auto& [id, cl] : clients_) {
      while (cl.active && cl.queued < cl.depth) {
        auto r = q_.Enqueue(id, next_id_++, cl.cost, now_);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        ASSERT_EQ(EnqueueOutcome::kAccepted, *r);
        ++cl.queued;
      }
    }
  }

  MClockQueue& q_;
  double capacity_;
  std::map<ClientId, Client> clients_;
  TimePoint now_{};
  RequestId next_id_ = 1;
  int64_t pulls_ = 0;
};

constexpr ClientId kA = 1;
constexpr ClientId kB = 2;

// §1.10.1: w 1:3, r = l = 0, both saturated, 10 000 pulls -> 1:3 within 5 %, no reservation ops.
TEST(MClockExpectations, WeightsOneToThree) {
  QosMap qos{{kA, {0, 1, 0}}, {kB, {0, 3, 0}}};
  auto q = MakeQueue(qos, {});
  Harness h(*q, 1000);
  h.Backlog(kA, 64);
  h.Backlog(kB, 64);
  h.RunUntil(1e9, 10000);
  ASSERT_EQ(10000, h.served(kA) + h.served(kB));
  const double ratio = static_cast<double>(h.served(kB)) / static_cast<double>(h.served(kA));
  EXPECT_NEAR(3.0, ratio, 3.0 * 0.05) << h.served(kA) << " vs " << h.served(kB);
  EXPECT_EQ(0, h.res(kA) + h.res(kB));
}

// §1.10.2: C = 1000, A (r 600, w 1), B (w 9): A's weight share (100) is below its reservation,
// so A gets 600 +- 2 % and B the remaining 400.
TEST(MClockExpectations, ReservationHonouredAboveWeightShare) {
  QosMap qos{{kA, {600, 1, 0}}, {kB, {0, 9, 0}}};
  auto q = MakeQueue(qos, {});
  Harness h(*q, 1000);
  h.Backlog(kA, 64);
  h.Backlog(kB, 64);
  h.RunUntil(11);
  const double a = static_cast<double>(h.Served(kA, 1, 11)) / 10;
  const double b = static_cast<double>(h.Served(kB, 1, 11)) / 10;
  EXPECT_NEAR(600, a, 600 * 0.02);
  EXPECT_NEAR(400, b, 400 * 0.02);
  EXPECT_GT(h.res(kA), h.prop(kA)) << "A is carried by its reservation";
}

// With a reservation below its weight share, the client gets its share: reservations include
// weight-phase service (max(r, share), not r + share).
TEST(MClockExpectations, ReservationBelowShareGivesShare) {
  QosMap qos{{kA, {100, 1, 0}}, {kB, {0, 1, 0}}};
  auto q = MakeQueue(qos, {});
  Harness h(*q, 1000);
  h.Backlog(kA, 64);
  h.Backlog(kB, 64);
  h.RunUntil(11);
  EXPECT_NEAR(500, h.Served(kA, 1, 11) / 10.0, 10);
  EXPECT_NEAR(500, h.Served(kB, 1, 11) / 10.0, 10);
  EXPECT_NEAR(100, h.res(kA) / 11.0, 5) << "the reservation phase still delivers r";
}

// §1.10.3 Wait: A limited to 200/s on an otherwise idle server stays at <= 200 (+1) in every
// one-second window, and close to 200 on average.
TEST(MClockExpectations, LimitWaitHoldsEveryWindow) {
  QosMap qos{{kA, {0, 1, 200}}};
  auto q = MakeQueue(qos, {});
  Harness h(*q, 1000);
  h.Backlog(kA, 64);
  h.RunUntil(10);
  for (int s = 0; s < 10; ++s) EXPECT_LE(h.InSecond(kA, s), 201) << "second " << s;
  EXPECT_NEAR(200, h.Served(kA, 1, 10) / 9.0, 2);
}

// §1.10.3 Allow: A (l 200) exceeds its limit only while B has nothing queued; Wait never does.
TEST(MClockExpectations, LimitAllowExceedsOnlyWhenOthersIdle) {
  for (AtLimit mode : {AtLimit::kAllow, AtLimit::kWait}) {
    SCOPED_TRACE(std::string(AtLimitName(mode)));
    QosMap qos{{kA, {0, 1, 200}}, {kB, {0, 1, 0}}};
    MClockOptions opt;
    opt.at_limit = mode;
    auto q = MakeQueue(qos, opt);
    Harness h(*q, 1000);
    h.Backlog(kA, 64);
    h.Backlog(kB, 64);
    h.RunUntil(5);
    h.Pause(kB);
    h.RunUntil(10);
    for (int s = 0; s < 5; ++s) {
      EXPECT_LE(h.InSecond(kA, s), 201) << "B busy, second " << s;
      EXPECT_GE(h.InSecond(kB, s), 790) << "B gets the rest, second " << s;
    }
    for (int s = 6; s < 10; ++s) {
      if (mode == AtLimit::kAllow) {
        EXPECT_GE(h.InSecond(kA, s), 990) << "B idle: A may use the whole server, second " << s;
      } else {
        EXPECT_LE(h.InSecond(kA, s), 201) << "Wait holds the limit, second " << s;
      }
    }
  }
}

// §1.10.4: B (w 2) idles 60 s while A (w 1) runs alone, then saturates again: within the first
// second the ratio is the weights' (+-10 %), no burst from B's stale tags. Without the
// prop_delta adjustment B monopolizes the server.
TEST(MClockExpectations, IdleReentryWithoutBurst) {
  for (bool adjust : {true, false}) {
    SCOPED_TRACE(adjust ? "with prop_delta" : "without prop_delta");
    QosMap qos{{kA, {0, 1, 0}}, {kB, {0, 2, 0}}};
    MClockOptions opt;
    opt.idle_adjust = adjust;
    opt.idle_age = std::chrono::seconds(10);
    opt.erase_age = std::chrono::seconds(600);
    opt.check_time = std::chrono::seconds(1);
    auto q = MakeQueue(qos, opt);
    Harness h(*q, 1000);
    h.Backlog(kA, 64);
    h.Backlog(kB, 64);
    h.RunUntil(10);
    h.Pause(kB);
    h.RunUntil(70);
    ASSERT_TRUE(q->ClientState(kB)->idle) << "60 s without arrivals is idle (idle_age 10 s)";
    h.Resume(kB);
    h.RunUntil(71);
    const double a = static_cast<double>(h.InSecond(kA, 70));
    const double b = static_cast<double>(h.InSecond(kB, 70));
    if (adjust) {
      ASSERT_GT(a, 0);
      EXPECT_NEAR(2.0, b / a, 0.2) << a << " vs " << b;
    } else {
      EXPECT_GT(b / (a + b), 0.95) << "stale P tags let B monopolize: " << a << " vs " << b;
    }
  }
}

// §1.10.5 property: rejected requests advance the limit tag exactly like accepted ones, so the
// accept/reject sequence follows L = max(L + cost/l, t) over *all* attempts.
TEST(MClockExpectations, RejectedRequestsStillAdvanceLimitTag) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Random rng(seed);
    const double limit = 50;
    const double threshold_s = seed == 3 ? 0.05 : 0;
    QosMap qos{{kA, {0, 1, limit}}};
    MClockOptions opt;
    opt.at_limit = AtLimit::kReject;
    opt.reject_threshold = Duration(std::llround(threshold_s * 1e9));
    auto q = MakeQueue(qos, opt);
    double t = 1, model_l = -1;
    int accepted = 0, rejected = 0;
    for (int i = 0; i < 2000; ++i) {
      t += rng.UniformDouble() * 0.08;  // 25 attempts (37.5 cost units) per second, bursty
      const uint32_t cost = 1 + static_cast<uint32_t>(rng.Uniform(2));
      model_l = model_l < 0 ? t : std::max(model_l + cost / limit, t);
      const bool want_reject = model_l > t + threshold_s + 1e-9;
      auto r = q->Enqueue(kA, i, cost, At(t));
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(want_reject, *r == EnqueueOutcome::kRejected) << "attempt " << i << " t=" << t;
      (*r == EnqueueOutcome::kRejected ? rejected : accepted) += 1;
    }
    EXPECT_GT(rejected, 50) << "the sequence exercised rejection";
    EXPECT_GT(accepted, 100);
  }
}

// §1.10.7 (dmClock): A (r 150) is served 100/s in the reservation phase by server 1; its
// requests to server 2 carry rho, so server 2 adds only the missing 50/s. Without rho (plain
// mClock per server) server 2 alone gives the full 150/s.
TEST(MClockExpectations, DmClockRhoAccounting) {
  for (bool with_rho : {true, false}) {
    SCOPED_TRACE(with_rho ? "dmClock rho" : "no rho");
    QosMap qos{{kA, {150, 0, 0}}, {kB, {0, 1, 0}}};
    auto q = MakeQueue(qos, {});  // server 2's queue
    constexpr ServerId kServer1 = 1, kServer2 = 2;
    DmClockTracker tracker;
    const double capacity = 1000;
    TimePoint now = At(0);
    double next_s1_completion = 0;
    int a_queued = 0, b_queued = 0;
    int64_t a_res = 0;
    RequestId id = 1;
    while (now < At(20)) {
      // Server 1 completes one of A's requests every 10 ms, in the reservation phase.
      while (Seconds(now) >= next_s1_completion) {
        tracker.TrackResponse(kServer1, Phase::kReservation, 1);
        next_s1_completion += 0.01;
      }
      while (a_queued < 16) {
        ReqParams p = with_rho ? tracker.PrepareRequest(kServer2) : ReqParams{};
        ASSERT_TRUE(q->Enqueue(kA, id++, 1, now, p).ok());
        ++a_queued;
      }
      while (b_queued < 16) {
        ASSERT_TRUE(q->Enqueue(kB, id++, 1, now).ok());
        ++b_queued;
      }
      PullResult pr = q->Dequeue(now);
      ASSERT_TRUE(pr.is_ready()) << "B keeps server 2 busy";
      if (pr.request().client == kA) {
        --a_queued;
        if (Seconds(now) >= 5) a_res += pr.request().phase == Phase::kReservation;
        tracker.TrackResponse(kServer2, pr.request().phase, 1);
      } else {
        --b_queued;
      }
      now += Duration(std::llround(1e9 / capacity));
    }
    const double a_res_per_s = static_cast<double>(a_res) / 15;
    EXPECT_NEAR(with_rho ? 50 : 150, a_res_per_s, with_rho ? 2.5 : 7.5);
  }
}

// §1.10.8: w = 10 000 with 1 ms between arrivals: cost/w (0.1 ms) is below the gap, so P clamps
// to the arrival time; validation warns. The queue shows why: two such clients with weights
// 1:3 are served 1:1.
TEST(MClockExpectations, LargeWeightPitfallWarns) {
  const ClientQos big{0, 10000, 0};
  auto warning = WeightClampWarning(big, 1, std::chrono::milliseconds(1), "clients[0]");
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(std::string::npos, warning->find("clients[0]")) << *warning;
  EXPECT_NE(std::string::npos, warning->find("clamp")) << *warning;
  EXPECT_FALSE(WeightClampWarning({0, 100, 0}, 1, std::chrono::milliseconds(1), "x").has_value())
      << "1/w = 10 ms exceeds the gap";

  for (double scale : {10000.0, 1.0}) {
    SCOPED_TRACE("weights x" + std::to_string(scale));
    QosMap qos{{kA, {0, 1 * scale, 0}}, {kB, {0, 3 * scale, 0}}};
    auto q = MakeQueue(qos, {});
    // Both send one request per ms; the server does 1 per ms, so both queues grow.
    int64_t a = 0, b = 0;
    RequestId id = 1;
    for (int ms = 0; ms < 4000; ++ms) {
      ASSERT_TRUE(q->Enqueue(kA, id++, 1, At(ms / 1000.0)).ok());
      ASSERT_TRUE(q->Enqueue(kB, id++, 1, At(ms / 1000.0)).ok());
      PullResult pr = q->Dequeue(At(ms / 1000.0));
      ASSERT_TRUE(pr.is_ready());
      (pr.request().client == kA ? a : b) += 1;
    }
    const double ratio = static_cast<double>(b) / static_cast<double>(a);
    if (scale > 1) {
      EXPECT_NEAR(1.0, ratio, 0.05) << "P tags clamp to arrival: weights vanish";
    } else {
      EXPECT_NEAR(3.0, ratio, 0.15) << "small weights keep the ratio";
    }
  }
}

TEST(MClockValidation, NeitherReservationNorWeightIsAnError) {
  Status s = ValidateClientQos({0, 0, 100}, "clients[3]");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(std::string::npos, s.message().find("clients[3]")) << s.message();
  EXPECT_NE(std::string::npos, s.message().find("reservation or a weight")) << s.message();
}

TEST(MClockValidation, WeightBelowTagResolutionIsAnError) {
  // 1/w below 1 ns: the P tag could not advance at all.
  Status s = ValidateClientQos({0, 2e9, 0}, "clients[0]");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(std::string::npos, s.message().find("resolution")) << s.message();
  EXPECT_TRUE(ValidateClientQos({0, 1e9, 0}, "c").ok()) << "1 ns is still one step";
}

TEST(MClockValidation, RejectsNegativeAndContradictoryValues) {
  EXPECT_FALSE(ValidateClientQos({-1, 1, 0}, "c").ok());
  EXPECT_FALSE(ValidateClientQos({0, NAN, 0}, "c").ok());
  EXPECT_FALSE(ValidateClientQos({100, 1, 50}, "c").ok()) << "limit below reservation";
  EXPECT_TRUE(ValidateClientQos({100, 0, 100}, "c").ok());
}

// Tags count cost: equal weights with costs 1 and 3 receive equal cost, so 3:1 requests.
TEST(MClockProperties, TagsCountCost) {
  QosMap qos{{kA, {0, 1, 0}}, {kB, {0, 1, 0}}};
  auto q = MakeQueue(qos, {});
  Harness h(*q, 1000);
  h.Backlog(kA, 32, 1);
  h.Backlog(kB, 32, 3);
  h.RunUntil(10);
  const double cost_a = static_cast<double>(h.served(kA));
  const double cost_b = 3.0 * static_cast<double>(h.served(kB));
  EXPECT_NEAR(1.0, cost_b / cost_a, 0.02);
  EXPECT_NEAR(500, cost_a / 10, 10) << "half of 1000 cost units per second each";
}

// Limits count cost too: l = 60 cost units/s at cost 3 is 20 requests per second.
TEST(MClockProperties, LimitCountsCost) {
  QosMap qos{{kA, {0, 1, 60}}};
  auto q = MakeQueue(qos, {});
  Harness h(*q, 1000);
  h.Backlog(kA, 8, 3);
  h.RunUntil(10);
  EXPECT_NEAR(20, h.Served(kA, 1, 10) / 9.0, 0.5);
}

// Random workloads: a future time is always after now, a request is never released before its
// limit tag in Wait mode, and nothing is lost.
TEST(MClockProperties, RandomWorkloadInvariants) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Random rng(seed);
    QosMap qos;
    for (ClientId c = 0; c < 8; ++c) {
      double r = rng.Uniform(3) == 0 ? 0 : 10 + static_cast<double>(rng.Uniform(100));
      double w = r == 0 || rng.Uniform(2) ? 1 + static_cast<double>(rng.Uniform(5)) : 0;
      double l = rng.Uniform(2) ? 0 : std::max(r, 20.0) + static_cast<double>(rng.Uniform(200));
      qos[c] = {r, w, l};
    }
    MClockOptions opt;
    opt.delayed_tags = seed % 2 == 0;
    auto q = MakeQueue(qos, opt);
    TimePoint now = At(1);
    std::map<ClientId, int64_t> sent, got;
    std::map<ClientId, TimePoint> first_release;
    RequestId id = 1;
    for (int step = 0; step < 20000; ++step) {
      if (rng.Uniform(3) != 0) {
        ClientId c = rng.Uniform(8);
        ASSERT_TRUE(q->Enqueue(c, id++, 1 + static_cast<uint32_t>(rng.Uniform(3)), now).ok());
        ++sent[c];
      }
      PullResult pr = q->Dequeue(now);
      if (pr.is_future()) {
        ASSERT_GT(pr.when(), now);
        now = pr.when();
      } else if (pr.is_ready()) {
        ++got[pr.request().client];
      }
      now += Duration(static_cast<int64_t>(rng.Uniform(2000000)));  // up to 2 ms
    }
    // Drain.
    while (true) {
      PullResult pr = q->Dequeue(now);
      if (pr.is_empty()) break;
      if (pr.is_future()) {
        ASSERT_GT(pr.when(), now);
        now = pr.when();
        continue;
      }
      ++got[pr.request().client];
    }
    EXPECT_EQ(sent, got);
    EXPECT_EQ(0u, q->request_count());
    // Limited clients never beat their limit by more than one request per second plus burst.
    for (const auto& [c, v] : qos) {
      if (v.limit_per_s <= 0) continue;
      EXPECT_LE(static_cast<double>(got[c]) * 1.0,
                v.limit_per_s * Seconds(now) + 1 + 3 * v.limit_per_s)
          << "client " << c;
    }
  }
}

}  // namespace
}  // namespace devshare::qos

namespace devshare::qos {
namespace {

// A tiny reservation next to heavy weight-phase service: each weight-phase request hands back
// (cost + rho) / r = 1e15 ns of reservation credit, so the per-client offset outgrows int64
// within thousands of decisions unless the queue folds it back into the tags.
TEST(MClockProperties, ReservationRollbackNeverOverflows) {
  QosMap qos{{kA, {1e-6, 1, 0}}, {kB, {0, 1, 0}}};
  auto q = MakeQueue(qos, {});
  Harness h(*q, 1000);
  h.Backlog(kA, 16);
  h.Backlog(kB, 16);
  h.RunUntil(40);
  EXPECT_LE(h.res(kA), 1) << "1e-6 requests/s of reservation is next to nothing";
  EXPECT_NEAR(1.0, static_cast<double>(h.served(kA)) / static_cast<double>(h.served(kB)), 0.01);
  EXPECT_GT(h.served(kA), 19000);
}

}  // namespace
}  // namespace devshare::qos
