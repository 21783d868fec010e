// PoolQueue on virtual time: mClock shares (reservation, weights, limit) and the fifo baseline
// at a pool's capacity, and the cost of a request by its size.
#include "devshare/storage/pool_queue.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace devshare::storage {
namespace {

constexpr double kCapacity = 400;

PoolConfig Pool(PoolScheduler s, double iops = kCapacity, double mbps = 100) {
  PoolConfig p;
  p.name = "p";
  p.dir = "/tmp";
  p.capacity_iops = iops;
  p.capacity_mbps = mbps;
  p.scheduler = s;
  return p;
}

// Closed-loop clients that keep `depth` requests of `bytes` queued, served with zero latency:
// whatever the pool releases is replaced by a new request at the same instant.
class Backlog {
 public:
  Backlog(PoolQueue& q, int depth, uint64_t bytes) : q_(q), depth_(depth), bytes_(bytes) {}

  void Add(VolumeId v, qos::ClientQos qos) {
    ASSERT_TRUE(q_.SetVolumeQos(v, qos).ok());
    for (int i = 0; i < depth_; ++i) Submit(v);
  }

  // Runs until `seconds` of virtual time; counts releases per volume per whole second.
  void Run(double seconds) {
    const TimePoint end = TimePoint{} + Duration(static_cast<int64_t>(seconds * 1e9));
    while (now_ < end) {
      std::vector<ReleasedRequest> out;
      std::optional<TimePoint> next = q_.Pull(now_, out);
      for (const ReleasedRequest& r : out) {
        auto sec = static_cast<size_t>((now_ - TimePoint{}).count() / 1000000000);
        auto& v = per_second_[r.volume];
        if (v.size() <= sec) v.resize(sec + 1, 0);
        v[sec] += 1;
        cost_[r.volume] += r.cost;
        Submit(r.volume);
      }
      ASSERT_TRUE(next.has_value());
      ASSERT_GT(*next, now_);
      now_ = *next;
    }
  }

  int64_t InSecond(VolumeId v, size_t s) const {
    auto it = per_second_.find(v);
    return it == per_second_.end() || it->second.size() <= s ? 0 : it->second[s];
  }
  int64_t Total(VolumeId v, size_t from_s, size_t to_s) const {
    int64_t n = 0;
    for (size_t s = from_s; s < to_s; ++s) n += InSecond(v, s);
    return n;
  }
  uint64_t cost(VolumeId v) const { return cost_.count(v) ? cost_.at(v) : 0; }

 private:
  void Submit(VolumeId v) { ASSERT_TRUE(q_.Submit(v, next_id_++, bytes_, now_).ok()); }

  PoolQueue& q_;
  int depth_;
  uint64_t bytes_;
  TimePoint now_{};
  qos::RequestId next_id_ = 1;
  std::map<VolumeId, std::vector<int64_t>> per_second_;
  std::map<VolumeId, uint64_t> cost_;
};

TEST(PoolQueueTest, MClockReservationThenWeights) {
  auto q = PoolQueue::Create(Pool(PoolScheduler::kMClock), TimePoint{});
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  Backlog b(**q, 8, 4096);
  b.Add(1, {kCapacity / 2, 1, 0});
  b.Add(2, {0, 1, 0});
  b.Add(3, {0, 2, 0});
  b.Run(10);
  for (size_t s = 0; s < 10; ++s) {
    EXPECT_GE(b.InSecond(1, s), kCapacity / 2) << "second " << s;
    EXPECT_LE(b.InSecond(1, s) + b.InSecond(2, s) + b.InSecond(3, s), kCapacity + 4)
        << "second " << s;
  }
  // The rest splits 1:2 within 10 %.
  double v2 = static_cast<double>(b.Total(2, 1, 10));
  double v3 = static_cast<double>(b.Total(3, 1, 10));
  EXPECT_NEAR(v3 / v2, 2.0, 0.2) << v2 << " " << v3;
  EXPECT_NEAR(v2 + v3 + static_cast<double>(b.Total(1, 1, 10)), 9 * kCapacity, 9 * 2);
}

TEST(PoolQueueTest, FifoGivesEachAThird) {
  auto q = PoolQueue::Create(Pool(PoolScheduler::kFifo), TimePoint{});
  ASSERT_TRUE(q.ok());
  Backlog b(**q, 8, 4096);
  b.Add(1, {kCapacity / 2, 1, 0});
  b.Add(2, {0, 1, 0});
  b.Add(3, {0, 2, 0});
  b.Run(10);
  for (VolumeId v : {1, 2, 3}) {
    for (size_t s = 1; s < 10; ++s) {
      EXPECT_NEAR(static_cast<double>(b.InSecond(v, s)), kCapacity / 3, kCapacity / 3 * 0.05)
          << "volume " << v << " second " << s;
    }
  }
}

TEST(PoolQueueTest, LimitIsHeld) {
  auto q = PoolQueue::Create(Pool(PoolScheduler::kMClock), TimePoint{});
  ASSERT_TRUE(q.ok());
  Backlog b(**q, 8, 4096);
  b.Add(1, {0, 1, 100});
  b.Run(10);
  for (size_t s = 1; s < 10; ++s) EXPECT_NEAR(b.InSecond(1, s), 100, 5) << "second " << s;
}

TEST(PoolQueueTest, QosChangeKeepsQueuedRequests) {
  auto q = PoolQueue::Create(Pool(PoolScheduler::kMClock), TimePoint{});
  ASSERT_TRUE(q.ok());
  Backlog b(**q, 8, 4096);
  b.Add(1, {0, 1, 100});
  b.Run(3);
  EXPECT_EQ((*q)->queued(), 8u);
  ASSERT_TRUE((*q)->SetVolumeQos(1, {0, 1, 300}).ok());
  EXPECT_EQ((*q)->queued(), 8u);
  b.Run(8);
  for (size_t s = 4; s < 8; ++s) EXPECT_NEAR(b.InSecond(1, s), 300, 15) << "second " << s;
}

TEST(PoolQueueTest, CostBySize) {
  PoolConfig p = Pool(PoolScheduler::kMClock, 400, 100);  // unit = 250000 bytes
  EXPECT_DOUBLE_EQ(PoolCostUnitBytes(p), 250000);
  EXPECT_EQ(PoolRequestCost(p, 0), 1u);
  EXPECT_EQ(PoolRequestCost(p, 4096), 1u);
  EXPECT_EQ(PoolRequestCost(p, 250000), 1u);
  EXPECT_EQ(PoolRequestCost(p, 250001), 2u);
  EXPECT_EQ(PoolRequestCost(p, 1 << 20), 5u);
}

TEST(PoolQueueTest, LargeRequestsAreBandwidthBound) {
  // 1 MiB requests cost 5 units each: 400 units/s is 80 requests/s, i.e. ~84 MB/s of 100.
  auto q = PoolQueue::Create(Pool(PoolScheduler::kMClock), TimePoint{});
  ASSERT_TRUE(q.ok());
  Backlog b(**q, 4, 1 << 20);
  b.Add(1, {0, 1, 0});
  b.Run(10);
  for (size_t s = 1; s < 10; ++s) EXPECT_NEAR(b.InSecond(1, s), 80, 2) << "second " << s;
  EXPECT_NEAR(static_cast<double>(b.cost(1)), 10 * kCapacity, 25);
}

TEST(PoolQueueTest, NoneReleasesAtOnce) {
  auto q = PoolQueue::Create(Pool(PoolScheduler::kNone), TimePoint{});
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE((*q)->SetVolumeQos(1, {0, 1, 0}).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE((*q)->Submit(1, i, 4096, TimePoint{}).ok());
  std::vector<ReleasedRequest> out;
  EXPECT_FALSE((*q)->Pull(TimePoint{}, out).has_value());
  EXPECT_EQ(out.size(), 1000u);
}

TEST(PoolQueueTest, UnknownVolumeIsNotFound) {
  auto q = PoolQueue::Create(Pool(PoolScheduler::kMClock), TimePoint{});
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE((*q)->Submit(7, 1, 4096, TimePoint{}).status().IsNotFound());
}

}  // namespace
}  // namespace devshare::storage
