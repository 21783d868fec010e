// AgentLoop driven one step at a time with a fake link, driver, clock and waiter: start-up
// reconcile, resize / power / reboot handling, heartbeats, the watch and console steps and the
// backoff on server errors.
#include "devshare/agent/agent_loop.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "agent/agent_test_fakes.h"

namespace devshare::agent {
namespace {

using testing::Desired;
using testing::FakeClock;
using testing::FakeDriver;
using testing::FakeLink;
using testing::FakeWaiter;
using testing::Vm;
using Calls = std::vector<std::string>;
using std::chrono::milliseconds;

class AgentLoopTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(); }
  void Make() {
    loop_.reset();
    AgentOptions o;
    o.info = {"test:///default", "devshare-", {}};
    o.inventory = {{"cpu_milli", 4000}};
    o.log = [this](const std::string& line) { logs_.push_back(line); };
    o.seed = 7;
    loop_ = std::make_unique<AgentLoop>(link_, driver_, clock_, waiter_, o);
  }
  int LogsContaining(const std::string& s) const {
    return static_cast<int>(std::count_if(logs_.begin(), logs_.end(), [&](const std::string& l) {
      return l.find(s) != std::string::npos;
    }));
  }
  std::string StateOf(const std::string& id) const {
    for (const ObservedVm& v : loop_->Observed()) {
      if (v.id == id) return v.state;
    }
    return "";
  }

  FakeLink link_;
  FakeDriver driver_;
  FakeClock clock_;
  FakeWaiter waiter_{clock_};
  std::vector<std::string> logs_;
  std::unique_ptr<AgentLoop> loop_;
};

TEST_F(AgentLoopTest, StartAdoptsRemovesOrphansAndRecreatesMissing) {
  driver_.SetGuest("vm-a", {});                            // desired, running: adopted
  driver_.SetGuest("vm-orphan", {});                       // not desired: removed
  link_.SetDesired(Desired(5, {Vm("vm-a"), Vm("vm-b")}));  // vm-b has no domain: created
  ASSERT_TRUE(loop_->Start().ok());
  EXPECT_EQ(link_.register_calls, 1);
  EXPECT_EQ(link_.registered["cpu_milli"], 4000);
  const ReconcileCounts& c = loop_->start_counts();
  EXPECT_EQ(c.adopted, 1);
  EXPECT_EQ(c.removed, 1);
  EXPECT_EQ(c.created, 1);
  EXPECT_EQ(c.failed, 0);
  EXPECT_EQ(driver_.TakeCalls(), (Calls{"remove vm-orphan", "update vm-a", "realize vm-b"}));
  EXPECT_EQ(loop_->revision(), 5);
  EXPECT_EQ(StateOf("vm-a"), kStateRunning);
  EXPECT_EQ(StateOf("vm-b"), kStateRunning);
  EXPECT_EQ(StateOf("vm-orphan"), "");
  EXPECT_EQ(LogsContaining("registered"), 1);
  EXPECT_EQ(LogsContaining("reconciled: 1 adopted / 1 removed / 1 created"), 1);
  // The first watch passes the revision of the start-up answer.
  EXPECT_EQ(link_.watch_revisions, (std::vector<int64_t>{-1}));
  loop_->WatchStep();
  EXPECT_EQ(link_.watch_revisions.back(), 5);
}

TEST_F(AgentLoopTest, PowerStoppedIsRespected) {
  driver_.SetGuest("vm-run", {});
  link_.SetDesired(Desired(1, {Vm("vm-new", 1000, "stopped"), Vm("vm-run", 1000, "stopped")}));
  ASSERT_TRUE(loop_->Start().ok());
  EXPECT_EQ(driver_.TakeCalls(),
            (Calls{"realize vm-new", "stop vm-new", "update vm-run", "stop vm-run"}));
  EXPECT_EQ(StateOf("vm-new"), kStateStopped);
  EXPECT_EQ(StateOf("vm-run"), kStateStopped);
  // Unchanged desired state: nothing to do.
  loop_->WatchStep();
  EXPECT_TRUE(driver_.TakeCalls().empty());
  // Power on again.
  link_.SetDesired(Desired(2, {Vm("vm-new"), Vm("vm-run", 1000, "stopped")}));
  loop_->WatchStep();
  EXPECT_EQ(driver_.TakeCalls(), (Calls{"start vm-new"}));
  EXPECT_EQ(StateOf("vm-new"), kStateRunning);
}

TEST_F(AgentLoopTest, RebootSeqBumpRebootsOnce) {
  driver_.SetGuest("vm-a", {});
  link_.SetDesired(Desired(1, {Vm("vm-a", 1000, "running", 3)}));
  ASSERT_TRUE(loop_->Start().ok());
  EXPECT_EQ(driver_.TakeCalls(), (Calls{"update vm-a"}));  // adopting does not replay reboots
  link_.SetDesired(Desired(2, {Vm("vm-a", 1000, "running", 4)}));
  loop_->WatchStep();
  EXPECT_EQ(driver_.TakeCalls(), (Calls{"reboot vm-a"}));
  EXPECT_EQ(LogsContaining("vm vm-a: rebooted"), 1);
  loop_->WatchStep();  // same revision again
  EXPECT_TRUE(driver_.TakeCalls().empty());
}

TEST_F(AgentLoopTest, ResizeUpdatesOnlyWhenTheSpecChanges) {
  link_.SetDesired(Desired(1, {Vm("vm-a", 1000)}));
  ASSERT_TRUE(loop_->Start().ok());
  EXPECT_EQ(driver_.TakeCalls(), (Calls{"realize vm-a"}));
  link_.SetDesired(Desired(2, {Vm("vm-a", 2000)}));
  loop_->WatchStep();
  EXPECT_EQ(driver_.TakeCalls(), (Calls{"update vm-a"}));
  EXPECT_EQ(driver_.guests["vm-a"].spec_hash, Vm("vm-a", 2000).SpecHash());
  link_.SetDesired(Desired(3, {Vm("vm-a", 2000)}));  // e.g. another VM's change
  loop_->WatchStep();
  EXPECT_TRUE(driver_.TakeCalls().empty());
}

TEST_F(AgentLoopTest, FailedRealizationIsReportedAndRetried) {
  driver_.realize_errors["vm-a"] = Status::FailedPrecondition("iommu group 21 is split");
  link_.SetDesired(Desired(1, {Vm("vm-a")}));
  ASSERT_TRUE(loop_->Start().ok());
  EXPECT_EQ(loop_->start_counts().failed, 1);
  const std::vector<ObservedVm> seen = loop_->Observed();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].state, kStateFailed);
  EXPECT_EQ(seen[0].detail, "iommu group 21 is split");
  loop_->WatchStep();  // retried, logged once
  EXPECT_EQ(driver_.TakeCalls(), (Calls{"realize vm-a", "realize vm-a"}));
  EXPECT_EQ(LogsContaining("iommu group 21 is split"), 1);
  driver_.realize_errors.clear();
  loop_->WatchStep();
  EXPECT_EQ(StateOf("vm-a"), kStateRunning);
}

TEST_F(AgentLoopTest, WithoutListVmIdsOnlyKnownVmsAreRemoved) {
  driver_.list_status = Status::Unimplemented("ListVmIds");
  driver_.SetGuest("vm-stranger", {});
  link_.SetDesired(Desired(1, {Vm("vm-a")}));
  ASSERT_TRUE(loop_->Start().ok());
  link_.SetDesired(Desired(2, {}));
  loop_->WatchStep();
  loop_->WatchStep();
  EXPECT_EQ(driver_.TakeCalls(), (Calls{"realize vm-a", "remove vm-a"}));
  EXPECT_TRUE(driver_.guests.count("vm-stranger"));
  EXPECT_EQ(LogsContaining("listing this agent's domains: unimplemented"), 1);
  EXPECT_TRUE(loop_->Observed().empty());
}

TEST_F(AgentLoopTest, HeartbeatCarriesStatesAndFollowsTheServerInterval) {
  driver_.SetGuest("vm-a", {});
  link_.SetDesired(Desired(1, {Vm("vm-a"), Vm("vm-b")}));
  link_.heartbeat_reply.heartbeat_interval = milliseconds(7000);
  ASSERT_TRUE(loop_->Start().ok());
  driver_.guests["vm-b"].state = kStateStopped;  // the guest shut itself down meanwhile
  Duration wait = loop_->HeartbeatStep();        // sent at once after start
  ASSERT_EQ(link_.heartbeats.size(), 1u);
  const std::vector<ObservedVm>& hb = link_.heartbeats[0];
  ASSERT_EQ(hb.size(), 2u);
  EXPECT_EQ(hb[0], (ObservedVm{"vm-a", kStateRunning, "running (fake)", "devshare-vm-a"}));
  EXPECT_EQ(hb[1].state, kStateStopped);
  EXPECT_EQ(link_.last_agent.hypervisor, "test:///default");
  EXPECT_EQ(loop_->heartbeat_interval(), milliseconds(7000));
  EXPECT_EQ(wait, milliseconds(2000));  // the state poll comes first
  clock_.Advance(wait);
  loop_->HeartbeatStep();
  EXPECT_EQ(link_.heartbeats.size(), 1u);       // nothing changed, interval not over
  driver_.guests["vm-a"].state = kStateFailed;  // crashed: reported at once
  loop_->HeartbeatStep();
  ASSERT_EQ(link_.heartbeats.size(), 2u);
  EXPECT_EQ(link_.heartbeats[1][0].state, kStateFailed);
  clock_.Advance(milliseconds(7000));
  loop_->HeartbeatStep();
  EXPECT_EQ(link_.heartbeats.size(), 3u);  // the interval
}

TEST_F(AgentLoopTest, HeartbeatCarriesUsageWithCpuFromTheCpuTimeDelta) {
  driver_.SetGuest("vm-a", {});
  GuestCounters c;
  c.cpu_time_ns = 5'000'000'000;
  c.memory_used_mib = 300;
  c.memory_source = "usable";
  c.balloon_current_mib = 512;
  c.balloon_maximum_mib = 1024;
  c.cpu_cap_milli = 500;
  c.gpu_memory_mib = 4096;
  driver_.usage["vm-a"] = c;
  link_.SetDesired(Desired(1, {Vm("vm-a")}));
  link_.heartbeat_reply.heartbeat_interval = milliseconds(2000);
  ASSERT_TRUE(loop_->Start().ok());
  loop_->HeartbeatStep();
  ASSERT_EQ(link_.heartbeats.size(), 1u);
  ASSERT_TRUE(link_.heartbeats[0][0].usage.has_value());
  const VmUsage first = *link_.heartbeats[0][0].usage;
  EXPECT_EQ(first.cpu_milli, -1);  // no previous reading yet
  EXPECT_EQ(first.memory_mib, 300);
  EXPECT_EQ(first.memory_source, "usable");
  EXPECT_EQ(first.applied_memory_mib, 512);
  EXPECT_EQ(first.applied_max_memory_mib, 1024);
  EXPECT_EQ(first.applied_cpu_cap_milli, 500);
  EXPECT_EQ(first.gpu_memory_mib, 4096);
  // 2 s later the guest used 0.7 s of CPU: 350 milli-CPU.
  driver_.usage["vm-a"].cpu_time_ns += 700'000'000;
  clock_.Advance(milliseconds(2000));
  loop_->HeartbeatStep();
  ASSERT_EQ(link_.heartbeats.size(), 2u);
  EXPECT_EQ(link_.heartbeats[1][0].usage->cpu_milli, 350);
  EXPECT_EQ(link_.heartbeats[1][0].usage->window_ms, 2000);
  // Usage changes are no state changes: no extra heartbeat before the interval.
  driver_.usage["vm-a"].memory_used_mib = 900;
  loop_->HeartbeatStep();
  EXPECT_EQ(link_.heartbeats.size(), 2u);
  // A stopped guest carries none.
  driver_.guests["vm-a"].state = kStateStopped;
  loop_->HeartbeatStep();
  ASSERT_EQ(link_.heartbeats.size(), 3u);
  EXPECT_FALSE(link_.heartbeats[2][0].usage.has_value());
  const nlohmann::json body = HeartbeatBody(AgentInfo{}, link_.heartbeats[1]);
  EXPECT_EQ(body["vms"][0]["usage"]["cpu_milli"], 350);
  EXPECT_EQ(body["vms"][0]["usage"]["applied"]["memory_mib"], 512);
}

TEST_F(AgentLoopTest, HeartbeatErrorsBackOffAndReRegisterWhenTheHostIsGone) {
  link_.SetDesired(Desired(1, {}));
  ASSERT_TRUE(loop_->Start().ok());
  for (int i = 0; i < 6; ++i) link_.heartbeat_errors.push_back(Status::Unavailable("down"));
  int steps = 0;
  while (link_.heartbeats.empty() && steps < 1000) {
    clock_.Advance(loop_->HeartbeatStep());
    ++steps;
  }
  EXPECT_EQ(link_.heartbeats.size(), 1u);
  EXPECT_LT(steps, 40);  // 6 attempts over ~30 s of backoff, waking every 2 s at most
  EXPECT_EQ(LogsContaining("heartbeat: unavailable: down"), 1);
  EXPECT_EQ(LogsContaining("heartbeat: ok again"), 1);
  link_.heartbeat_errors.push_back(Status::NotFound("POST /v1/hosts/n1/heartbeat: HTTP 404"));
  clock_.Advance(milliseconds(60000));
  loop_->HeartbeatStep();
  EXPECT_EQ(link_.register_calls, 2);
  EXPECT_EQ(LogsContaining("registered again"), 1);
}

TEST_F(AgentLoopTest, WatchErrorsBackOffWithJitterAndLogOncePerClass) {
  link_.SetDesired(Desired(1, {}));
  ASSERT_TRUE(loop_->Start().ok());
  for (int i = 0; i < 8; ++i) link_.watch_errors.push_back(Status::Unavailable("refused"));
  link_.watch_errors.push_back(Status::PermissionDenied("HTTP 403"));
  std::vector<Duration> waits;
  for (int i = 0; i < 9; ++i) waits.push_back(loop_->WatchStep());
  for (size_t i = 0; i < waits.size(); ++i) {
    EXPECT_GE(waits[i], milliseconds(250)) << i;  // never a busy retry
    EXPECT_LE(waits[i], milliseconds(30000)) << i;
  }
  EXPECT_GE(waits[7], milliseconds(15000));  // 500 ms doubled up to the 30 s cap, jittered
  EXPECT_EQ(LogsContaining("watching the desired state: unavailable: refused"), 1);
  EXPECT_EQ(LogsContaining("watching the desired state: permission_denied"), 1);
  EXPECT_EQ(loop_->WatchStep(), milliseconds(500));  // OK, same revision: the minimum gap
  EXPECT_EQ(LogsContaining("watching the desired state: ok again"), 1);
  link_.SetDesired(Desired(2, {Vm("vm-a")}));
  EXPECT_EQ(loop_->WatchStep(), Duration::zero());  // changed: poll again at once
  EXPECT_EQ(loop_->revision(), 2);
  EXPECT_EQ(StateOf("vm-a"), kStateRunning);
}

TEST_F(AgentLoopTest, ConsolePushResumesAtTheExpectedOffsetAfterA409) {
  link_.SetDesired(Desired(1, {Vm("vm-a")}));
  ASSERT_TRUE(loop_->Start().ok());
  driver_.guests["vm-a"].console = "boot: ok\n";
  EXPECT_EQ(loop_->ConsoleStep(), AgentOptions{}.console_interval);
  EXPECT_EQ(link_.console["vm-a"], "boot: ok\n");
  driver_.guests["vm-a"].console += "login: ";
  loop_->ConsoleStep();
  EXPECT_EQ(link_.console["vm-a"], "boot: ok\nlogin: ");
  const int calls = link_.console_calls;
  loop_->ConsoleStep();  // nothing new: no push
  EXPECT_EQ(link_.console_calls, calls);
  // The server restarted and lost its buffer: it answers 409 expected 0; the agent resends.
  link_.console["vm-a"].clear();
  driver_.guests["vm-a"].console += "root\n";
  loop_->ConsoleStep();
  EXPECT_EQ(link_.console["vm-a"], "boot: ok\nlogin: root\n");
  EXPECT_EQ(LogsContaining("the server expects offset 0, resuming there"), 1);
  // Push errors back off.
  link_.console_errors.push_back(Status::Unavailable("down"));
  driver_.guests["vm-a"].console += "$ ";
  const Duration wait = loop_->ConsoleStep();
  EXPECT_GE(wait, milliseconds(250));
  EXPECT_EQ(LogsContaining("pushing console output: unavailable"), 1);
  loop_->ConsoleStep();
  EXPECT_EQ(link_.console["vm-a"], "boot: ok\nlogin: root\n$ ");
}

TEST_F(AgentLoopTest, StartRetriesAnUnreachableServerAndStopsOnPermanentErrors) {
  for (int i = 0; i < 3; ++i) link_.register_errors.push_back(Status::Unavailable("refused"));
  link_.SetDesired(Desired(1, {}));
  ASSERT_TRUE(loop_->Start().ok());
  EXPECT_EQ(link_.register_calls, 4);
  ASSERT_EQ(waiter_.waits().size(), 3u);
  for (Duration d : waiter_.waits()) EXPECT_GE(d, milliseconds(250));
  EXPECT_EQ(LogsContaining("registering the host: unavailable: refused (retrying)"), 1);

  Make();
  link_.register_errors.push_back(Status::PermissionDenied("HTTP 403 forbidden"));
  Status s = loop_->Start();
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("registering the host"), std::string::npos);
}

}  // namespace
}  // namespace devshare::agent
