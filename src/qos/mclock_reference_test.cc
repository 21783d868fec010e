// The sequences asserted by ceph/dmclock test/test_dmclock_server.cc (reference qos.md §1.7),
// replayed on MClockQueue with virtual time: dmclock's get_time() becomes an explicit `now`.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include "devshare/qos/mclock.h"
#include "qos/qos_test_util.h"

namespace devshare::qos {
namespace {

using testutil::At;
using testutil::MakeQueue;
using testutil::QosMap;

constexpr ClientId kC1 = 17;
constexpr ClientId kC2 = 98;

// Pulls n requests at `now`; every one must be ready in `phase`. Returns requests per client.
// Enqueues requests 0..n-1 of kC1 and of kC2, alternating, at `at` (cost 1, delta = rho = 1).
void EnqueueBoth(MClockQueue& q, int n, TimePoint at) {
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(q.Enqueue(kC1, i, 1, at, {1, 1}).ok());
    ASSERT_TRUE(q.Enqueue(kC2, i, 1, at, {1, 1}).ok());
  }
}

// Dequeues `pulls` ready requests at `now` and counts, per client, the first `counted` of them.
std::map<ClientId, int> CountFirstPulls(MClockQueue& q, int pulls, int counted, TimePoint now) {
  std::map<ClientId, int> count;
  for (int i = 0; i < pulls; ++i) {
    PullResult pr = q.Dequeue(now);
    EXPECT_TRUE(pr.is_ready()) << "pull " << i;
    if (!pr.is_ready()) break;
    if (i < counted) ++count[pr.request().client];
  }
  return count;
}

std::map<ClientId, int> PullN(MClockQueue& q, int n, TimePoint now, Phase phase) {
  std::map<ClientId, int> count;
  for (int i = 0; i < n; ++i) {
    PullResult pr = q.Dequeue(now);
    EXPECT_TRUE(pr.is_ready()) << "pull " << i;
    if (!pr.is_ready()) break;
    EXPECT_EQ(phase, pr.request().phase) << "pull " << i;
    ++count[pr.request().client];
  }
  return count;
}

TEST(DmclockReference, PullWeight) {
  QosMap qos{{kC1, {0, 1, 0}}, {kC2, {0, 2, 0}}};
  auto q = MakeQueue(qos, {});
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(EnqueueOutcome::kAccepted, *q->Enqueue(kC1, i, 1, At(100), {1, 1}));
    ASSERT_EQ(EnqueueOutcome::kAccepted, *q->Enqueue(kC2, i, 1, At(100), {1, 1}));
  }
  auto count = PullN(*q, 6, At(100), Phase::kPriority);
  EXPECT_EQ(2, count[kC1]) << "one third from the weight-1 client";
  EXPECT_EQ(4, count[kC2]) << "two thirds from the weight-2 client";
}

TEST(DmclockReference, PullReservation) {
  constexpr ClientId a = 52, b = 8;
  QosMap qos{{a, {2, 0, 0}}, {b, {1, 0, 0}}};
  auto q = MakeQueue(qos, {});
  double old_s = 100;  // tags well before `now`
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(q->Enqueue(a, i, 1, At(old_s), {1, 1}).ok());
    ASSERT_TRUE(q->Enqueue(b, i, 1, At(old_s), {1, 1}).ok());
    old_s += 0.001;
  }
  auto count = PullN(*q, 6, At(200), Phase::kReservation);
  EXPECT_EQ(4, count[a]);
  EXPECT_EQ(2, count[b]);
}

TEST(DmclockReference, ReadyAndUnderLimit) {
  constexpr ClientId a = 52, b = 8;
  QosMap qos{{a, {1, 0, 0}}, {b, {1, 0, 0}}};
  auto q = MakeQueue(qos, {});
  const double s = 100;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(q->Enqueue(a, i, 1, At(s), {0, 0}).ok());
    ASSERT_TRUE(q->Enqueue(b, i, 1, At(s), {0, 0}).ok());
  }
  for (double offset : {0.5, 1.5}) {
    EXPECT_TRUE(q->Dequeue(At(s + offset)).is_ready()) << offset;
    EXPECT_TRUE(q->Dequeue(At(s + offset)).is_ready()) << offset;
    EXPECT_TRUE(q->Dequeue(At(s + offset)).is_future()) << "too soon for the next reservation";
  }
  EXPECT_TRUE(q->Dequeue(At(s + 2.5)).is_ready());
  EXPECT_TRUE(q->Dequeue(At(s + 2.5)).is_ready());
  EXPECT_TRUE(q->Dequeue(At(s + 2.5)).is_empty()) << "no requests left";
}

TEST(DmclockReference, PullNone) {
  QosMap qos{{kC1, {1, 1, 1}}};
  auto q = MakeQueue(qos, {});
  EXPECT_TRUE(q->Dequeue(At(100)).is_empty());
}

TEST(DmclockReference, PullFuture) {
  QosMap qos{{52, {1, 0, 1}}};
  auto q = MakeQueue(qos, {});
  ASSERT_TRUE(q->Enqueue(52, 1, 1, At(200), {1, 1}).ok());
  PullResult pr = q->Dequeue(At(100));
  ASSERT_TRUE(pr.is_future());
  EXPECT_EQ(At(200), pr.when());
}

TEST(DmclockReference, PullFutureLimitBreakWeight) {
  QosMap qos{{52, {0, 1, 1}}};
  MClockOptions opt;
  opt.at_limit = AtLimit::kAllow;
  auto q = MakeQueue(qos, opt);
  ASSERT_TRUE(q->Enqueue(52, 1, 1, At(200), {1, 1}).ok());
  PullResult pr = q->Dequeue(At(100));
  ASSERT_TRUE(pr.is_ready());
  EXPECT_EQ(52u, pr.request().client);
  EXPECT_EQ(1u, q->counters().limit_break);
}

TEST(DmclockReference, PullFutureLimitBreakReservation) {
  QosMap qos{{52, {1, 0, 1}}};
  MClockOptions opt;
  opt.at_limit = AtLimit::kAllow;
  auto q = MakeQueue(qos, opt);
  ASSERT_TRUE(q->Enqueue(52, 1, 1, At(200), {1, 1}).ok());
  PullResult pr = q->Dequeue(At(100));
  ASSERT_TRUE(pr.is_ready());
  EXPECT_EQ(52u, pr.request().client);
  EXPECT_EQ(Phase::kReservation, pr.request().phase);
}

TEST(DmclockReference, PullRejectAtLimit) {
  QosMap qos{{52, {0, 1, 1}}, {53, {0, 1, 1}}};
  MClockOptions opt;
  opt.at_limit = AtLimit::kReject;
  auto q = MakeQueue(qos, opt);
  struct Step {
    double t;
    EnqueueOutcome want;
  };
  const Step steps[] = {
      {1, EnqueueOutcome::kAccepted}, {2, EnqueueOutcome::kAccepted},
      {3, EnqueueOutcome::kAccepted}, {3.9, EnqueueOutcome::kRejected},  // too soon
      {4, EnqueueOutcome::kRejected},  // the rejected request counted against the limit
      {6, EnqueueOutcome::kAccepted},
  };
  for (const Step& s : steps) {
    auto r = q->Enqueue(52, 0, 1, At(s.t), {});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(s.want, *r) << "t=" << s.t;
  }
  // A rejected request stays with the caller: nothing of it is queued.
  ASSERT_EQ(EnqueueOutcome::kAccepted, *q->Enqueue(53, 1, 1, At(1), {}));
  ASSERT_EQ(EnqueueOutcome::kRejected, *q->Enqueue(53, 2, 1, At(1), {}));
  EXPECT_EQ(5u, q->request_count());
  EXPECT_EQ(3u, q->counters().rejected);
}

TEST(DmclockReference, PullRejectThreshold) {
  QosMap qos{{52, {0, 1, 1}}};
  MClockOptions opt;
  opt.at_limit = AtLimit::kReject;
  opt.reject_threshold = std::chrono::seconds(3);
  auto q = MakeQueue(qos, opt);
  const EnqueueOutcome at_1[] = {EnqueueOutcome::kAccepted, EnqueueOutcome::kAccepted,
                                 EnqueueOutcome::kAccepted, EnqueueOutcome::kAccepted,
                                 EnqueueOutcome::kRejected};
  for (size_t i = 0; i < std::size(at_1); ++i) {
    EXPECT_EQ(at_1[i], *q->Enqueue(52, i, 1, At(1), {})) << "add " << i << " at t=1";
  }
  EXPECT_EQ(EnqueueOutcome::kAccepted, *q->Enqueue(52, 9, 1, At(3), {})) << "3 s over at t=3";
}

TEST(DmclockReference, PullWaitAtLimit) {
  constexpr ClientId c1 = 52, c2 = 8;
  // c1: high limit; c2: low limit and a lower weight.
  QosMap qos{{c1, {1, 2, 100}}, {c2, {1, 1, 2}}};
  auto q = MakeQueue(qos, {});
  const double old_s = 100;
  double add_s = old_s;
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(q->Enqueue(c1, i, 1, At(add_s), {1, 1}).ok());
    ASSERT_TRUE(q->Enqueue(c2, i, 1, At(add_s), {1, 1}).ok());
    add_s += 0.01;
  }
  const TimePoint now = At(old_s + 1);  // "all times are before now"
  auto first = PullN(*q, 2, now, Phase::kReservation);
  EXPECT_EQ(1, first[c1]);
  EXPECT_EQ(1, first[c2]);
  EXPECT_EQ(98u, q->request_count());

  auto second = PullN(*q, 50, now, Phase::kPriority);
  EXPECT_EQ(49, second[c1]) << "all remaining c1 requests";
  EXPECT_EQ(1, second[c2]) << "c2 only once more: its limit holds";
  EXPECT_EQ(48u, q->request_count());

  PullResult pr = q->Dequeue(now);
  ASSERT_TRUE(pr.is_future());
  EXPECT_EQ(At(old_s + 2.0), pr.when());

  pr = q->Dequeue(At(old_s + 2.0));
  ASSERT_TRUE(pr.is_ready());
  EXPECT_EQ(c2, pr.request().client);
  EXPECT_EQ(47u, q->request_count());
}

TEST(DmclockReference, ClientIdleErase) {
  QosMap qos{{17, {100, 1, 0}}};
  MClockOptions opt;
  opt.idle_age = std::chrono::seconds(3);
  opt.erase_age = std::chrono::seconds(5);
  opt.check_time = std::chrono::seconds(2);
  auto q = MakeQueue(qos, opt);
  EXPECT_EQ(0u, q->client_count());
  ASSERT_TRUE(q->Enqueue(17, 1, 1, At(0), {1, 1}).ok());
  ASSERT_TRUE(q->Dequeue(At(0)).is_ready());

  q->Clean(At(1));
  ASSERT_EQ(1u, q->client_count());
  EXPECT_FALSE(q->ClientState(17)->idle) << "not idle at first";

  q->Clean(At(7));  // cleaner ran at 2, 4, 6 s: idle at 6 (5 = 2 + 3 was the due time)
  ASSERT_TRUE(q->ClientState(17).has_value());
  EXPECT_TRUE(q->ClientState(17)->idle) << "idle after idle_age";

  q->Clean(At(9));  // erased by the run at 8 s (7 = 2 + 5 was the due time)
  EXPECT_EQ(0u, q->client_count()) << "record erased after erase_age";
}

TEST(DmclockReference, DelayedTagCalc) {
  QosMap qos{{17, {0, 1, 1}}};
  const double t = 1;
  {
    MClockOptions opt;
    opt.delayed_tags = true;
    auto q = MakeQueue(qos, opt);
    ASSERT_TRUE(q->Enqueue(17, 1, 1, At(t), {0, 0}).ok());
    ASSERT_TRUE(q->Enqueue(17, 2, 1, At(t + 1), {0, 0}).ok());
    ASSERT_TRUE(q->Enqueue(17, 3, 1, At(t + 2), {10, 10}).ok());
    EXPECT_TRUE(q->Dequeue(At(t)).is_ready());
    // ReqParams{10,10} of request 3 push request 2 over the limit by 10 s.
    PullResult pr = q->Dequeue(At(t + 1));
    ASSERT_TRUE(pr.is_future());
    EXPECT_EQ(At(t + 11), pr.when());
  }
  {
    auto q = MakeQueue(qos, {});
    ASSERT_TRUE(q->Enqueue(17, 1, 1, At(t), {0, 0}).ok());
    ASSERT_TRUE(q->Enqueue(17, 2, 1, At(t + 1), {0, 0}).ok());
    ASSERT_TRUE(q->Enqueue(17, 3, 1, At(t + 2), {10, 10}).ok());
    EXPECT_TRUE(q->Dequeue(At(t)).is_ready());
    EXPECT_TRUE(q->Dequeue(At(t + 1)).is_ready()) << "request 3's params do not touch request 2";
    PullResult pr = q->Dequeue(At(t + 2));
    ASSERT_TRUE(pr.is_future());
    EXPECT_EQ(At(t + 12), pr.when());
  }
}

TEST(DmclockReference, ReservationTiming) {
  // dmclock's (disabled, wall-clock) test: reservation 1/s, five requests are served one second
  // apart. Here the server pulls whenever the queue says so.
  QosMap qos{{17, {1, 0, 0}}};
  auto q = MakeQueue(qos, {});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q->Enqueue(17, i, 1, At(10), {}).ok());
  std::vector<double> served_s;
  TimePoint now = At(10);
  while (true) {
    PullResult pr = q->Dequeue(now);
    if (pr.is_empty()) break;
    if (pr.is_future()) {
      now = pr.when();
      continue;
    }
    served_s.push_back(testutil::Seconds(now));
  }
  EXPECT_EQ((std::vector<double>{10, 11, 12, 13, 14}), served_s);
}

TEST(DmclockReference, UpdateClientInfo) {
  QosMap qos{{kC1, {0, 100, 0}}, {kC2, {0, 200, 0}}};
  auto q = MakeQueue(qos, {});
  ASSERT_NO_FATAL_FAILURE(EnqueueBoth(*q, 5, At(100)));
  std::map<ClientId, int> before = CountFirstPulls(*q, 10, 6, At(100));
  EXPECT_EQ(2, before[kC1]);
  EXPECT_EQ(4, before[kC2]);

  qos[kC1] = {0, 200, 0};
  ASSERT_TRUE(q->UpdateClientQos(kC1).ok());
  ASSERT_NO_FATAL_FAILURE(EnqueueBoth(*q, 5, At(101)));
  auto after = PullN(*q, 6, At(101), Phase::kPriority);
  EXPECT_EQ(3, after[kC1]);
  EXPECT_EQ(3, after[kC2]);
}

TEST(DmclockReference, DynamicClientInfo) {
  QosMap qos{{kC1, {0, 100, 0}}, {kC2, {0, 200, 0}}};
  MClockOptions opt;
  opt.delayed_tags = true;
  opt.dynamic_qos = true;
  auto q = MakeQueue(qos, opt);
  ASSERT_NO_FATAL_FAILURE(EnqueueBoth(*q, 5, At(100)));
  std::map<ClientId, int> before = CountFirstPulls(*q, 10, 6, At(100));
  EXPECT_EQ(2, before[kC1]);
  EXPECT_EQ(4, before[kC2]);

  qos[kC1] = {0, 150, 0};  // no UpdateClientQos: the callback is asked on every tag
  qos[kC2] = {0, 50, 0};
  ASSERT_NO_FATAL_FAILURE(EnqueueBoth(*q, 6, At(101)));
  auto after = PullN(*q, 8, At(101), Phase::kPriority);
  EXPECT_EQ(6, after[kC1]);
  EXPECT_EQ(2, after[kC2]);
}

TEST(DmclockReference, RemoveByClient) {
  QosMap qos{{kC1, {0, 1, 0}}, {kC2, {0, 1, 0}}};
  MClockOptions opt;
  opt.at_limit = AtLimit::kAllow;
  auto q = MakeQueue(qos, opt);
  const std::vector<std::pair<ClientId, RequestId>> adds = {{kC1, 1},  {kC1, 11}, {kC2, 2},
                                                            {kC2, 0},  {kC2, 13}, {kC2, 2},
                                                            {kC2, 13}, {kC2, 98}, {kC1, 44}};
  for (auto [c, r] : adds) ASSERT_TRUE(q->Enqueue(c, r, 1, At(100), {1, 1}).ok());
  EXPECT_EQ(2u, q->client_count());
  EXPECT_EQ(9u, q->request_count());

  std::vector<RequestId> removed;
  EXPECT_EQ(3u,
            q->RemoveByClient(kC1, true, [&](RequestId r) { removed.insert(removed.begin(), r); }));
  EXPECT_EQ((std::vector<RequestId>{1, 11, 44}), removed);
  EXPECT_EQ(6u, q->request_count());

  PullResult pr = q->Dequeue(At(100));
  ASSERT_TRUE(pr.is_ready());
  EXPECT_EQ(2u, pr.request().request);
  pr = q->Dequeue(At(100));
  ASSERT_TRUE(pr.is_ready());
  EXPECT_EQ(0u, pr.request().request);

  q->RemoveByClient(kC2);
  EXPECT_EQ(0u, q->request_count()) << "after the second client is removed, none left";
}

TEST(DmclockReference, RemoveByRequestFilter) {
  QosMap qos{{kC1, {0, 1, 0}}, {kC2, {0, 1, 0}}};
  MClockOptions opt;
  opt.at_limit = AtLimit::kAllow;
  auto q = MakeQueue(qos, opt);
  const std::vector<std::pair<ClientId, RequestId>> adds = {{kC1, 1},  {kC1, 11}, {kC2, 2},
                                                            {kC2, 0},  {kC2, 13}, {kC2, 2},
                                                            {kC2, 13}, {kC2, 98}, {kC1, 44}};
  for (auto [c, r] : adds) ASSERT_TRUE(q->Enqueue(c, r, 1, At(100), {1, 1}).ok());
  EXPECT_EQ(4u, q->RemoveIf([](ClientId, RequestId r) { return r % 2 == 1; }));
  EXPECT_EQ(5u, q->request_count());
  RequestId total = 0;
  EXPECT_EQ(5u, q->RemoveIf(
                    [&](ClientId, RequestId r) {
                      total += r;
                      return r % 2 == 0;
                    },
                    true));
  EXPECT_EQ(0u, q->request_count());
  EXPECT_EQ(146u, total);
}

TEST(DmclockReference, RemoveByRequestFilterVisitOrder) {
  for (bool newest_first : {false, true}) {
    SCOPED_TRACE(newest_first ? "backwards" : "forwards");
    QosMap qos{{kC1, {0, 1, 0}}};
    auto q = MakeQueue(qos, {});
    for (RequestId r = 1; r <= 6; ++r) ASSERT_TRUE(q->Enqueue(kC1, r, 1, At(100), {}).ok());
    std::vector<RequestId> odd, even;
    q->RemoveIf([&](ClientId, RequestId r) { return r % 2 == 1 && (odd.push_back(r), true); },
                newest_first);
    q->RemoveIf([&](ClientId, RequestId r) { return r % 2 == 0 && (even.push_back(r), true); },
                newest_first);
    EXPECT_EQ(0u, q->request_count());
    if (newest_first) {
      EXPECT_EQ((std::vector<RequestId>{5, 3, 1}), odd);
      EXPECT_EQ((std::vector<RequestId>{6, 4, 2}), even);
    } else {
      EXPECT_EQ((std::vector<RequestId>{1, 3, 5}), odd);
      EXPECT_EQ((std::vector<RequestId>{2, 4, 6}), even);
    }
  }
}

TEST(DmclockReference, BadTagsAreErrors) {
  // dmclock asserts (a death test); here a client with neither reservation nor weight is an
  // InvalidArgument at Enqueue, and Reject with delayed tags fails at Create.
  QosMap qos{{17, {0, 0, 0}}, {18, {0, 0, 1}}};
  auto q = MakeQueue(qos, {});
  for (ClientId c : {17, 18}) {
    auto r = q->Enqueue(c, 1, 1, At(1), {1, 1});
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  }
  MClockOptions opt;
  opt.at_limit = AtLimit::kReject;
  opt.delayed_tags = true;
  auto made = MClockQueue::Create([](ClientId) { return std::optional<ClientQos>(); }, opt);
  EXPECT_FALSE(made.ok());
  EXPECT_TRUE(q->Enqueue(99, 1, 1, At(1), {}).status().IsNotFound()) << "unknown client";
}

}  // namespace
}  // namespace devshare::qos
