// AgentLoop with its threads running against the fakes: a desired change reaches the host through
// the long poll, a guest state change triggers a heartbeat although the interval is an hour, and
// Stop() ends a blocked long poll and joins the threads while the guests stay.
// Real waiting is capped at 1 ms per wait (FakeWaiter) and bounded by 5 s deadlines.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "agent/agent_test_fakes.h"
#include "devshare/agent/agent_loop.h"

namespace devshare::agent {
namespace {

using std::chrono::milliseconds;
using testing::Desired;
using testing::FakeClock;
using testing::FakeDriver;
using testing::FakeLink;
using testing::FakeWaiter;
using testing::Vm;

bool Eventually(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return pred();
}

// A first reconcile that takes long (here: a Realize held back) sends liveness-only heartbeats
// meanwhile, so a managed host does not look unreachable; VM states only once it has observed
// its guests, and no keep-alive after Start returns.
TEST(AgentThreadsTest, KeepAlivesWhileTheFirstReconcileRuns) {
  FakeLink link;
  FakeDriver driver;
  FakeClock clock;
  FakeWaiter waiter(clock, milliseconds(1));
  link.SetDesired(Desired(1, {Vm("vm-a")}));
  AgentOptions o;
  o.log = [](const std::string&) {};
  o.keepalive_during_start = true;
  AgentLoop loop(link, driver, clock, waiter, o);
  driver.hold_realize = true;
  Status started;
  std::thread starter([&] { started = loop.Start(); });
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(link.mu());
    return link.keepalives >= 2;
  }));
  {
    std::lock_guard<std::mutex> lock(link.mu());
    EXPECT_TRUE(link.heartbeats.empty());  // no VM states before the guests are observed
  }
  driver.hold_realize = false;
  starter.join();
  ASSERT_TRUE(started.ok()) << started.ToString();
  int after = 0;
  {
    std::lock_guard<std::mutex> lock(link.mu());
    after = link.keepalives;
  }
  std::this_thread::sleep_for(milliseconds(20));
  {
    std::lock_guard<std::mutex> lock(link.mu());
    EXPECT_EQ(link.keepalives, after);
  }
  loop.Stop();
}

TEST(AgentThreadsTest, WatchHeartbeatAndCleanShutdown) {
  FakeLink link;
  FakeDriver driver;
  FakeClock clock;
  FakeWaiter waiter(clock, milliseconds(1));
  link.block_watch = true;  // a real long poll: answers only on change or Interrupt
  link.heartbeat_reply.heartbeat_interval = std::chrono::hours(1);
  link.SetDesired(Desired(1, {Vm("vm-a")}));
  AgentOptions o;
  o.log = [](const std::string&) {};
  AgentLoop loop(link, driver, clock, waiter, o);
  ASSERT_TRUE(loop.Start().ok());
  loop.RunThreads();

  // The first heartbeat reports the created guest.
  EXPECT_TRUE(link.WaitForHeartbeat([](const std::vector<ObservedVm>& vms) {
    return vms.size() == 1 && vms[0].state == kStateRunning;
  }));
  // A new desired VM arrives through the blocked long poll.
  link.SetDesired(Desired(2, {Vm("vm-a"), Vm("vm-b")}));
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(driver.mu_);
    return driver.guests.count("vm-b") > 0;
  }));
  // A guest crashes: reported although the next heartbeat is an hour away.
  {
    std::lock_guard<std::mutex> lock(driver.mu_);
    driver.guests["vm-a"].state = kStateFailed;
  }
  EXPECT_TRUE(link.WaitForHeartbeat([](const std::vector<ObservedVm>& vms) {
    return vms.size() == 2 && vms[0].state == kStateFailed;
  }));

  // Stop ends the long poll in flight and joins; nothing is removed.
  const auto t0 = std::chrono::steady_clock::now();
  loop.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(link.interrupted);
  for (const std::string& call : driver.TakeCalls()) {
    EXPECT_EQ(call.rfind("remove", 0), std::string::npos) << call;
  }
  EXPECT_EQ(driver.guests.size(), 2u);
  loop.Stop();  // idempotent
}

TEST(AgentThreadsTest, StopDuringStartWhileTheServerIsAway) {
  FakeLink link;
  FakeDriver driver;
  FakeClock clock;
  FakeWaiter waiter(clock, milliseconds(1));
  link.register_always = Status::Unavailable("down");
  driver.SetGuest("vm-a", {});
  AgentOptions o;
  o.log = [](const std::string&) {};
  AgentLoop loop(link, driver, clock, waiter, o);
  Status started;
  std::thread starter([&] { started = loop.Start(); });
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(link.mu());
    return link.register_calls >= 3;
  }));
  loop.Stop();
  starter.join();
  EXPECT_EQ(started.code(), StatusCode::kAborted);
  EXPECT_TRUE(driver.TakeCalls().empty());  // the guest was left alone
}

}  // namespace
}  // namespace devshare::agent
