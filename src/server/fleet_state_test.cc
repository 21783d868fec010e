// Tests of FleetState (liveness of managed hosts on an injected clock, grace after a restart,
// change notification) and ConsoleBuffers (offsets, overlap, gaps, bound, waiting readers).
#include "server/fleet_state.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "server/console_buffer.h"

namespace devshare::server {
namespace {

TEST(FleetStateTest, ManagedHostBecomesUnreachableAfterTheTimeoutAndReturns) {
  std::atomic<int64_t> now{1'000'000};
  FleetState fleet([&] { return now.load(); }, 30'000);
  EXPECT_EQ(fleet.heartbeat_interval_ms(), 5'000);
  EXPECT_FALSE(fleet.Unreachable("h1"));  // never managed: never unreachable
  EXPECT_TRUE(fleet.Heard("h1"));         // first word from its agent is a change
  EXPECT_FALSE(fleet.Heard("h1"));
  now += 30'000;
  EXPECT_FALSE(fleet.Unreachable("h1"));  // exactly the timeout: still reachable
  now += 1;
  EXPECT_TRUE(fleet.Unreachable("h1"));
  EXPECT_EQ(fleet.LastHeardUnixMs("h1"), 1'000'000);
  const uint64_t before = fleet.changes();
  EXPECT_TRUE(fleet.Heard("h1"));  // back: a liveness change, watchers are woken
  EXPECT_GT(fleet.changes(), before);
  EXPECT_FALSE(fleet.Unreachable("h1"));
}

TEST(FleetStateTest, HostsLoadedAtStartGetOneTimeoutOfGrace) {
  int64_t now = 5'000;
  FleetState fleet([&] { return now; }, 10'000);
  fleet.Expect("h1");
  EXPECT_EQ(fleet.LastHeardUnixMs("h1"), 0);
  now += 10'000;
  EXPECT_FALSE(fleet.Unreachable("h1"));
  now += 1;
  EXPECT_TRUE(fleet.Unreachable("h1"));
  fleet.Forget("h1");
  EXPECT_FALSE(fleet.Unreachable("h1"));
}

TEST(FleetStateTest, WaitForChangeReturnsOnChangeOrTimeout) {
  FleetState fleet([] { return int64_t{0}; }, 1000);
  const uint64_t seen = fleet.changes();
  EXPECT_EQ(fleet.WaitForChange(seen, 10), seen);  // nothing happened: times out
  std::thread t([&] { fleet.Changed(); });
  EXPECT_NE(fleet.WaitForChange(seen, 60'000), seen);
  t.join();
  fleet.Shutdown();
  const uint64_t now_seen = fleet.changes();
  EXPECT_EQ(fleet.WaitForChange(now_seen, 60'000), now_seen);  // returns at once
}

TEST(ConsoleBuffersTest, AppendsByOffsetSkippingWhatItHasAndRefusingGaps) {
  ConsoleBuffers c(16);
  ASSERT_EQ(*c.Append("vm", 0, "hello "), 6);
  ASSERT_EQ(*c.Append("vm", 3, "lo world"), 11);  // "lo " is known: only "world" is new
  Result<int64_t> gap = c.Append("vm", 20, "x");
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.status().reason(), "console_gap");
  EXPECT_EQ(gap.status().details_json(), "{\"expected\":11}");
  EXPECT_FALSE(c.Append("vm", -1, "x").ok());
  ConsoleBuffers::Chunk all = c.Read("vm", 0, 100, 0);
  EXPECT_EQ(all.bytes, "hello world");
  EXPECT_EQ(all.start, 0);
  EXPECT_EQ(all.next, 11);
  ConsoleBuffers::Chunk part = c.Read("vm", 6, 3, 0);
  EXPECT_EQ(part.bytes, "wor");
  EXPECT_EQ(part.next, 9);
}

TEST(ConsoleBuffersTest, KeepsTheNewestBytesAndReadsFromTheOldestKept) {
  ConsoleBuffers c(8);
  ASSERT_EQ(*c.Append("vm", 0, "0123456789abcdef"), 16);
  ConsoleBuffers::Chunk from0 = c.Read("vm", 0, 100, 0);
  EXPECT_EQ(from0.start, 8);
  EXPECT_EQ(from0.bytes, "89abcdef");
  EXPECT_EQ(c.Read("vm", 99, 100, 0).start, 16);  // beyond the end: nothing, from the end
  c.Drop("vm");
  EXPECT_EQ(c.End("vm"), 0);
  EXPECT_TRUE(c.Read("unknown", 0, 10, 0).bytes.empty());
}

TEST(ConsoleBuffersTest, ReaderWaitsForNewBytes) {
  ConsoleBuffers c;
  ASSERT_TRUE(c.Append("vm", 0, "a").ok());
  std::thread writer([&] { ASSERT_TRUE(c.Append("vm", 1, "b").ok()); });
  ConsoleBuffers::Chunk next = c.Read("vm", 1, 10, 60'000);
  writer.join();
  EXPECT_EQ(next.bytes, "b");
  EXPECT_TRUE(c.Read("vm", 2, 10, 5).bytes.empty());  // times out with nothing
}

}  // namespace
}  // namespace devshare::server
