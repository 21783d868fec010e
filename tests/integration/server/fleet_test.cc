// The fleet API through the real server on loopback, with the agents played by the test over
// HTTP (the real `devshare agent` is tested against libvirt in tests/integration/host): agent
// tokens act only for their host; a managed host heartbeats, watches its desired state by long
// poll and reports VM states; a host whose heartbeats stop becomes unreachable within the
// timeout, its VMs show "unknown" and new VMs avoid it; cordon, drain (refused, or re-placing
// all or nothing), delete (409 while VMs remain); two-phase deletes; consoles; images.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

nlohmann::json SmallHost() { return {{"cpu_milli", 8000}, {"memory_mib", 16384}}; }

nlohmann::json Vm(const std::string& name, int64_t cpu_milli = 1000) {
  return {{"name", name}, {"cpu_milli", cpu_milli}, {"memory_mib", 512}};
}

nlohmann::json Running(const std::vector<std::string>& ids, const std::string& state = "running") {
  nlohmann::json vms = nlohmann::json::array();
  for (const std::string& id : ids) vms.push_back({{"id", id}, {"state", state}});
  return {{"agent", {{"hypervisor", "test:///default"}}}, {"vms", vms}};
}

// A server with --host-timeout 2, two agent-managed hosts a1 and a2 (registered with their own
// agent tokens), and tenant acme's member token.
class ServerFleet : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::make_unique<TempFolder>("fleet");
    server_ = std::make_unique<ServerProcess>(tmp_->path());
    server_->set_extra_args({"--host-timeout", "2"});
    ASSERT_TRUE(server_->Start());
    admin_ = std::make_unique<Api>(server_->url(), server_->AdminToken());
    for (const char* h : {"a1", "a2"}) {
      Reply t = admin_->Post(std::string("/v1/hosts/") + h + "/tokens", "");
      ASSERT_EQ(t.status, 201) << t.Describe();
      EXPECT_EQ(t.body["role"], "agent");
      EXPECT_EQ(t.body["host"], h);
      agents_[h] = std::make_unique<Api>(server_->url(), t.body["token"].get<std::string>());
      Reply put = agents_[h]->Put(std::string("/v1/hosts/") + h, SmallHost());
      ASSERT_EQ(put.status, 201) << put.Describe();
    }
    const std::string tenant = CreateTenant(*admin_, "acme");
    member_ = std::make_unique<Api>(server_->url(), CreateToken(*admin_, tenant, "member"));
  }

  Api& Agent(const std::string& host) { return *agents_.at(host); }

  std::string Create(const nlohmann::json& body, const std::string& want_host = "") {
    Reply r = member_->Post("/v1/vms", body);
    EXPECT_EQ(r.status, 201) << r.Describe();
    EXPECT_EQ(r.body.value("state", ""), "creating");  // an agent's host: it realizes the VM
    if (!want_host.empty()) EXPECT_EQ(r.body.value("host", ""), want_host);
    return r.body.value("id", "");
  }

  void Beat(const std::string& host, const nlohmann::json& body) {
    Reply r = Agent(host).Post("/v1/hosts/" + host + "/heartbeat", body);
    ASSERT_EQ(r.status, 200) << r.Describe();
  }

  // host -> VM id: two VMs of one anti-affinity group, so one lands on each host.
  std::map<std::string, std::string> OneVmOnEachHost() {
    std::map<std::string, std::string> vm_of;
    for (int i = 0; i < 2; ++i) {
      nlohmann::json body = Vm("v" + std::to_string(i));
      body["anti_affinity_group"] = "spread";
      const std::string id = Create(body);
      vm_of.emplace(HostOf(id), id);
    }
    return vm_of;
  }

  std::string HostOf(const std::string& vm) {
    return member_->Get("/v1/vms/" + vm).body.value("host", "");
  }

  std::unique_ptr<TempFolder> tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> admin_, member_;
  std::map<std::string, std::unique_ptr<Api>> agents_;
};

TEST_F(ServerFleet, AgentTokensActForTheirHostOnly) {
  Api& a1 = Agent("a1");
  EXPECT_EQ(a1.Put("/v1/hosts/a2", SmallHost()).status, 403);
  EXPECT_EQ(a1.Post("/v1/hosts/a2/heartbeat", Running({})).status, 403);
  EXPECT_EQ(a1.Get("/v1/hosts/a2/desired").status, 403);
  EXPECT_EQ(a1.Post("/v1/vms", Vm("x")).status, 403);
  EXPECT_EQ(a1.Get("/v1/tenants").status, 403);
  EXPECT_EQ(a1.Get("/v1/audit").status, 403);
  EXPECT_EQ(a1.Post("/v1/hosts/a1/cordon", "").status, 403);
  EXPECT_EQ(a1.Get("/v1/hosts/a1").status, 200);
  EXPECT_EQ(member_->Post("/v1/hosts/a1/heartbeat", Running({})).status, 403);
  EXPECT_EQ(member_->Post("/v1/hosts/a1/tokens", "").status, 403);

  // One VM on each host: each agent sees (lists, reads, reports, pushes the console of) only
  // its own host's VM; the other is answered like a missing one.
  std::map<std::string, std::string> vm_of = OneVmOnEachHost();
  ASSERT_EQ(vm_of.size(), 2u) << "placement never used both hosts";
  Reply list = a1.Get("/v1/vms");
  ASSERT_EQ(list.status, 200);
  for (const auto& vm : list.body["vms"]) EXPECT_EQ(vm["host"], "a1");
  EXPECT_EQ(a1.Get("/v1/vms/" + vm_of["a1"]).status, 200);
  EXPECT_EQ(a1.Get("/v1/vms/" + vm_of["a2"]).status, 404);
  EXPECT_EQ(a1.Post("/v1/vms/" + vm_of["a2"] + "/console?offset=0", "x").status, 404);
  EXPECT_EQ(a1.Delete("/v1/vms/" + vm_of["a1"]).status, 403);
  // A VM of another host in a report is not taken: it comes back as unknown.
  Reply hb = a1.Post("/v1/hosts/a1/heartbeat", Running({vm_of["a2"]}));
  ASSERT_EQ(hb.status, 200) << hb.Describe();
  EXPECT_EQ(hb.body["unknown_vms"], nlohmann::json::array({vm_of["a2"]}));
  EXPECT_EQ(member_->Get("/v1/vms/" + vm_of["a2"]).body["state"], "creating");
}

TEST_F(ServerFleet, HeartbeatsReportStatesAndDesiredIsLongPolled) {
  const std::string id = Create(Vm("web"));
  const std::string host = HostOf(id);
  Reply d = Agent(host).Get("/v1/hosts/" + host + "/desired");
  ASSERT_EQ(d.status, 200) << d.Describe();
  ASSERT_EQ(d.body["vms"].size(), 1u);
  EXPECT_EQ(d.body["vms"][0]["id"], id);
  EXPECT_EQ(d.body["vms"][0]["power"], "running");
  EXPECT_EQ(d.body["vms"][0]["allocation"]["cpu_milli"], 1000);
  const uint64_t rev = d.body["revision"].get<uint64_t>();

  // Nothing changes: the poll waits its full time and answers the same revision.
  const auto t0 = steady_clock::now();
  Reply same = Agent(host).Get("/v1/hosts/" + host + "/desired?revision=" + std::to_string(rev) +
                               "&wait_ms=400");
  EXPECT_GE(steady_clock::now() - t0, milliseconds(350));
  EXPECT_EQ(same.body["revision"].get<uint64_t>(), rev);

  // A change wakes a waiting poll at once.
  Reply woke;
  std::thread watcher([&] {
    woke = Agent(host).Get("/v1/hosts/" + host + "/desired?revision=" + std::to_string(rev) +
                           "&wait_ms=20000");
  });
  std::this_thread::sleep_for(milliseconds(200));
  const auto t1 = steady_clock::now();
  ASSERT_EQ(member_->Post("/v1/vms/" + id + "/stop", "").status, 202);
  watcher.join();
  EXPECT_LT(steady_clock::now() - t1, milliseconds(5000));
  ASSERT_EQ(woke.status, 200) << woke.Describe();
  EXPECT_NE(woke.body["revision"].get<uint64_t>(), rev);
  EXPECT_EQ(woke.body["vms"][0]["power"], "stopped");

  Beat(host, Running({id}, "stopped"));
  EXPECT_EQ(member_->Get("/v1/vms/" + id).body["state"], "stopped");
  ASSERT_EQ(member_->Post("/v1/vms/" + id + "/reboot", "").status, 202);
  Reply after = Agent(host).Get("/v1/hosts/" + host + "/desired");
  EXPECT_EQ(after.body["vms"][0]["power"], "running");
  EXPECT_EQ(after.body["vms"][0]["reboot_seq"], 1);
  nlohmann::json failed = Running({});
  failed["vms"].push_back({{"id", id}, {"state", "failed"}, {"detail", "shut off (crashed)"}});
  Beat(host, failed);
  Reply vm = member_->Get("/v1/vms/" + id);
  EXPECT_EQ(vm.body["state"], "failed");
  EXPECT_EQ(vm.body["state_detail"], "shut off (crashed)");

  // Bad reports are 400 naming the field; nothing is taken from them.
  Reply bad = Agent(host).Post("/v1/hosts/" + host + "/heartbeat",
                               R"({"vms": [{"id": "x", "state": "dancing"}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.value("message", "").find("vms[0].state"), std::string::npos) << bad.raw;
  EXPECT_EQ(Agent(host).Post("/v1/hosts/" + host + "/heartbeat", R"({"color": 1})").status, 400);
  EXPECT_EQ(Agent(host).Get("/v1/hosts/" + host + "/desired?wait_ms=99999999").status, 400);
}

TEST_F(ServerFleet, SilentHostBecomesUnreachableAndNewVmsAvoidIt) {
  std::map<std::string, std::string> vm_of = OneVmOnEachHost();
  ASSERT_EQ(vm_of.size(), 2u);
  // a1 keeps beating; a2 falls silent.
  const auto silent_since = steady_clock::now();
  std::string a2_status;
  while (steady_clock::now() - silent_since < milliseconds(7000)) {
    Beat("a1", Running({vm_of["a1"]}));
    a2_status = admin_->Get("/v1/hosts/a2").body.value("status", "");
    if (a2_status == "unreachable") break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_EQ(a2_status, "unreachable");
  EXPECT_LT(steady_clock::now() - silent_since, milliseconds(2000 + 5000));
  Reply vm = member_->Get("/v1/vms/" + vm_of["a2"]);
  EXPECT_EQ(vm.body["state"], "unknown");
  EXPECT_EQ(vm.body["last_state"], "creating");
  EXPECT_EQ(vm.body["host"], "a2");  // never placed twice
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(HostOf(Create(Vm("after" + std::to_string(i)))), "a1");
  }
  // Only a2 fits a VM bigger than what a1 has left: unschedulable, naming why a2 is closed.
  Reply big = member_->Post("/v1/vms", Vm("big", 7000));
  ASSERT_EQ(big.status, 409) << big.Describe();
  EXPECT_NE(big.raw.find("host: unreachable"), std::string::npos) << big.raw;
  // a2 comes back.
  Beat("a2", Running({vm_of["a2"]}));
  EXPECT_EQ(admin_->Get("/v1/hosts/a2").body["status"], "ready");
  EXPECT_EQ(member_->Get("/v1/vms/" + vm_of["a2"]).body["state"], "running");
}

TEST_F(ServerFleet, CordonDrainAndDeleteHosts) {
  ASSERT_EQ(admin_->Post("/v1/hosts/a1/cordon", "").status, 200);
  EXPECT_EQ(admin_->Get("/v1/hosts/a1").body["schedule"], "cordoned");
  std::vector<std::string> on_a2;
  for (int i = 0; i < 3; ++i) on_a2.push_back(Create(Vm("c" + std::to_string(i)), "a2"));
  ASSERT_EQ(admin_->Post("/v1/hosts/a2/cordon", "").status, 200);
  Reply none = member_->Post("/v1/vms", Vm("nowhere"));
  ASSERT_EQ(none.status, 409);
  EXPECT_NE(none.raw.find("host: cordoned"), std::string::npos) << none.raw;

  // Drain without --replace moves nothing and says what remains; delete is refused.
  Reply drain = admin_->Post("/v1/hosts/a2/drain", "");
  ASSERT_EQ(drain.status, 409) << drain.Describe();
  EXPECT_EQ(drain.body["code"], "host_in_use");
  EXPECT_EQ(drain.body["details"]["vms"].size(), 3u);
  EXPECT_EQ(admin_->Get("/v1/hosts/a2").body["schedule"], "draining");
  for (const std::string& id : on_a2) EXPECT_EQ(HostOf(id), "a2");
  Reply del = admin_->Delete("/v1/hosts/a2");
  EXPECT_EQ(del.status, 409);
  EXPECT_EQ(del.body["code"], "host_in_use");

  // With --replace while a1 is cordoned too: nowhere to go, so none moves.
  Reply stuck = admin_->Post("/v1/hosts/a2/drain?replace=true", "");
  EXPECT_EQ(stuck.status, 409) << stuck.Describe();
  EXPECT_EQ(stuck.body["code"], "unschedulable");
  for (const std::string& id : on_a2) EXPECT_EQ(HostOf(id), "a2");

  ASSERT_EQ(admin_->Post("/v1/hosts/a1/uncordon", "").status, 200);
  // Room on a1 for one of the three only: the first moves, the second fits nowhere, and the
  // whole drain is undone (the first VM back on a2, both hosts' usage as before).
  const std::string filler = Create(Vm("filler", 6500), "a1");
  auto used = [&](const std::string& h) {
    return admin_->Get("/v1/hosts/" + h).body["usage"]["cpu_milli"]["used"].get<int64_t>();
  };
  Reply partial = admin_->Post("/v1/hosts/a2/drain?replace=true", "");
  EXPECT_EQ(partial.status, 409) << partial.Describe();
  for (const std::string& id : on_a2) EXPECT_EQ(HostOf(id), "a2");
  EXPECT_EQ(used("a1"), 6500);
  EXPECT_EQ(used("a2"), 3000);
  ASSERT_EQ(member_->Delete("/v1/vms/" + filler).status, 202);
  Beat("a1", Running({}));  // its guest is gone: the filler's allocation is freed
  EXPECT_EQ(used("a1"), 0);

  Reply moved = admin_->Post("/v1/hosts/a2/drain?replace=true", "");
  ASSERT_EQ(moved.status, 200) << moved.Describe();
  EXPECT_EQ(moved.body["moves"].size(), 3u);
  for (const std::string& id : on_a2) {
    Reply vm = member_->Get("/v1/vms/" + id);
    EXPECT_EQ(vm.body["host"], "a1");
    EXPECT_EQ(vm.body["state"], "creating");  // a1's agent creates it, a2's removes it
  }
  EXPECT_TRUE(Agent("a2").Get("/v1/hosts/a2/desired").body["vms"].empty());
  EXPECT_EQ(Agent("a1").Get("/v1/hosts/a1/desired").body["vms"].size(), 3u);

  ASSERT_EQ(admin_->Delete("/v1/hosts/a2").status, 200);
  EXPECT_EQ(admin_->Get("/v1/hosts/a2").status, 404);
  // Its agent token went with it.
  EXPECT_EQ(Agent("a2").Post("/v1/hosts/a2/heartbeat", Running({})).status, 401);
}

TEST_F(ServerFleet, DeleteWaitsForTheAgentAndConsolesFollowOffsets) {
  const std::string id = Create(Vm("gone"));
  const std::string host = HostOf(id);
  Beat(host, Running({id}));
  Api& agent = Agent(host);
  Reply push = agent.Post("/v1/vms/" + id + "/console?offset=0", "booting\ndevshare-guest: up\n");
  ASSERT_EQ(push.status, 200) << push.Describe();
  EXPECT_EQ(push.body["offset"], 27);
  EXPECT_EQ(agent.Post("/v1/vms/" + id + "/console?offset=8", "devshare-guest: up\nmore\n")
                .body["offset"],
            32);
  Reply gap = agent.Post("/v1/vms/" + id + "/console?offset=99", "x");
  EXPECT_EQ(gap.status, 409);
  EXPECT_EQ(gap.body["details"]["expected"], 32);
  Reply read = member_->Get("/v1/vms/" + id + "/console?offset=8");
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(read.body["data"], "devshare-guest: up\nmore\n");
  EXPECT_EQ(read.body["next"], 32);
  const std::string other = CreateTenant(*admin_, "other");
  Api stranger(server_->url(), CreateToken(*admin_, other, "admin"));
  EXPECT_EQ(stranger.Get("/v1/vms/" + id + "/console").status, 404);
  EXPECT_EQ(member_->Post("/v1/vms/" + id + "/console?offset=32", "x").status, 403);

  // Delete: 202 "deleting"; the allocation stays until a heartbeat without the VM.
  Reply del = member_->Delete("/v1/vms/" + id);
  ASSERT_EQ(del.status, 202) << del.Describe();
  EXPECT_EQ(del.body["state"], "deleting");
  EXPECT_TRUE(agent.Get("/v1/hosts/" + host + "/desired").body["vms"].empty());
  EXPECT_EQ(admin_->Get("/v1/hosts/" + host).body["vms"], 1);
  Beat(host, Running({id}));  // its domain is still there
  EXPECT_EQ(member_->Get("/v1/vms/" + id).body["state"], "deleting");
  // A liveness-only heartbeat (no "vms": an agent still reconciling) frees nothing.
  Beat(host, nlohmann::json{{"agent", {{"hypervisor", "test:///default"}}}});
  EXPECT_EQ(member_->Get("/v1/vms/" + id).body["state"], "deleting");
  Beat(host, Running({}));  // gone from libvirt: freed
  EXPECT_EQ(member_->Get("/v1/vms/" + id).status, 404);
  EXPECT_EQ(admin_->Get("/v1/hosts/" + host).body["vms"], 0);
}

TEST_F(ServerFleet, ImagesAreCheckedAndNamedByVms) {
  const std::string not_qcow2 = tmp_->path() + "/plain.img";
  const std::string qcow2 = tmp_->path() + "/base.qcow2";
  std::ofstream(not_qcow2) << "not an image";
  std::ofstream(qcow2, std::ios::binary) << std::string("QFI\xfb", 4) << std::string(100, '\0');
  auto add = [&](const nlohmann::json& body) { return admin_->Post("/v1/images", body); };
  Reply bad = add({{"name", "plain"}, {"kind", "disk"}, {"file", not_qcow2}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.raw.find("not a qcow2 image"), std::string::npos) << bad.raw;
  EXPECT_EQ(add({{"name", "rel"}, {"kind", "disk"}, {"file", "base.qcow2"}}).status, 400);
  EXPECT_EQ(add({{"name", "gone"}, {"kind", "disk"}, {"file", "/nonexistent.qcow2"}}).status, 400);
  EXPECT_EQ(add({{"name", "x"}, {"kind", "floppy"}}).status, 400);
  EXPECT_EQ(member_->Post("/v1/images", nlohmann::json{{"name", "y"}, {"kind", "disk"}}).status,
            403);
  ASSERT_EQ(add({{"name", "base"}, {"kind", "disk"}, {"file", qcow2}}).status, 201);
  EXPECT_EQ(add({{"name", "base"}, {"kind", "disk"}, {"file", qcow2}}).status, 409);
  ASSERT_EQ(add({{"name", "remote"},
                 {"kind", "kernel"},
                 {"kernel", "/hosts/only/vmlinuz"},
                 {"initrd", "/hosts/only/initrd"},
                 {"verify", false}})
                .status,
            201);
  EXPECT_EQ(member_->Get("/v1/images").body["images"].size(), 2u);

  nlohmann::json unknown = Vm("u");
  unknown["image"] = "nope";
  Reply u = member_->Post("/v1/vms", unknown);
  EXPECT_EQ(u.status, 400);
  EXPECT_NE(u.raw.find("field 'image': unknown image 'nope'"), std::string::npos) << u.raw;
  nlohmann::json with = Vm("w");
  with["image"] = "base";
  with["ssh_key"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== me@laptop";
  const std::string id = Create(with);
  const std::string host = HostOf(id);
  Reply d = Agent(host).Get("/v1/hosts/" + host + "/desired");
  ASSERT_EQ(d.body["vms"].size(), 1u);
  EXPECT_EQ(d.body["vms"][0]["image"]["file"], qcow2);
  EXPECT_EQ(d.body["vms"][0]["ssh_key"], with["ssh_key"]);
  Reply in_use = admin_->Delete("/v1/images/base");
  EXPECT_EQ(in_use.status, 409);
  EXPECT_EQ(in_use.body["code"], "image_in_use");
  EXPECT_EQ(admin_->Delete("/v1/images/remote").status, 200);
}

TEST_F(ServerFleet, FleetStateSurvivesRestart) {
  const std::string id = Create(Vm("durable"));
  const std::string host = HostOf(id);
  Beat(host, Running({id}));
  ASSERT_EQ(admin_->Post("/v1/hosts/a1/cordon", "").status, 200);
  ASSERT_EQ(member_->Post("/v1/vms/" + id + "/stop", "").status, 202);
  server_->Kill();
  ASSERT_TRUE(server_->Start());
  Api admin(server_->url(), server_->AdminToken());
  Reply h = admin.Get("/v1/hosts/a1");
  EXPECT_EQ(h.body["schedule"], "cordoned");
  EXPECT_EQ(h.body["status"], "ready");  // one timeout of grace after the restart
  Reply vm = admin.Get("/v1/vms/" + id);
  EXPECT_EQ(vm.body["state"], "running");
  EXPECT_EQ(vm.body["power"], "stopped");
  server_->Stop();
  const StoreCheck check = CheckStore(server_->db_path());
  EXPECT_TRUE(check.violations.empty()) << check.Summary();
}

}  // namespace
}  // namespace devshare::it
