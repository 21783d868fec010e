// The right-sizing controller through the real server on loopback (issue 17), with the host
// agent played by the test: heartbeats carry driven usage; the controller grows, then shrinks a
// VM's CPU and memory through the ledger (the desired state the agent reads changes with it),
// every change is an audit record of actor "rightsizer" with the recommendation's reason, GET
// /v1/vms/{id} shows the latest recommendation per resource, a grow the host cannot hold is a
// recorded no_room outcome, the shrink rate limit holds a shrink back, and bad "rightsize" specs
// are refused naming the field. The server runs on the wall clock (serve has no injected clock):
// the specs use period_s 0 (every heartbeat is a sample), so the outcome does not depend on time
// except where a test wants the rate limit (shrink_interval_s 3600).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

// A heartbeat reporting `id` running with the given usage.
nlohmann::json Usage(const std::string& id, int64_t cpu_milli, int64_t memory_mib) {
  return {{"agent", {{"hypervisor", "test:///default"}}},
          {"vms",
           {{{"id", id},
             {"state", "running"},
             {"usage",
              {{"window_ms", 5000},
               {"cpu_milli", cpu_milli},
               {"memory_mib", memory_mib},
               {"memory_source", "usable"},
               {"applied", {{"memory_mib", 512}, {"cpu_cap_milli", 500}}}}}}}}};
}

nlohmann::json RightSized(const std::string& name, int64_t shrink_interval_s) {
  return {{"name", name},
          {"cpu_milli", 500},
          {"memory_mib", 512},
          {"rightsize",
           {{"cpu", {{"min_milli", 250}, {"max_milli", 3000}}},
            {"memory", {{"min_mib", 256}, {"max_mib", 3072}}},
            {"forecaster", "last"},
            {"margin", 0.25},
            {"period_s", 0},
            {"warmup_samples", 0},
            {"shrink_interval_s", shrink_interval_s}}}};
}

class RightSizingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::make_unique<TempFolder>("rightsize");
    server_ = std::make_unique<ServerProcess>(tmp_->path());
    ASSERT_TRUE(server_->Start());
    admin_ = std::make_unique<Api>(server_->url(), server_->AdminToken());
    Reply t = admin_->Post("/v1/hosts/h1/tokens", "");
    ASSERT_EQ(t.status, 201) << t.Describe();
    agent_ = std::make_unique<Api>(server_->url(), t.body["token"].get<std::string>());
    ASSERT_EQ(agent_->Put("/v1/hosts/h1", nlohmann::json{{"cpu_milli", 4000}, {"memory_mib", 4096}})
                  .status,
              201);
    const std::string tenant = CreateTenant(*admin_, "acme");
    member_ = std::make_unique<Api>(server_->url(), CreateToken(*admin_, tenant, "member"));
    tenant_admin_ = std::make_unique<Api>(server_->url(), CreateToken(*admin_, tenant, "admin"));
  }
  void TearDown() override {
    if (server_ != nullptr) EXPECT_TRUE(server_->Stop());
  }

  std::string Create(const nlohmann::json& body) {
    Reply r = member_->Post("/v1/vms", body);
    EXPECT_EQ(r.status, 201) << r.Describe();
    return r.body.value("id", "");
  }
  nlohmann::json Beat(const std::string& id, int64_t cpu_milli, int64_t memory_mib) {
    Reply r = agent_->Post("/v1/hosts/h1/heartbeat", Usage(id, cpu_milli, memory_mib));
    EXPECT_EQ(r.status, 200) << r.Describe();
    Reply vm = member_->Get("/v1/vms/" + id);
    EXPECT_EQ(vm.status, 200) << vm.Describe();
    return vm.body;
  }
  // The audit records of `operation` by actor "rightsizer".
  std::vector<nlohmann::json> RightsizerRecords() {
    std::vector<nlohmann::json> out;
    Reply a = admin_->Get("/v1/audit?after=0&limit=1000");
    EXPECT_EQ(a.status, 200) << a.Describe();
    for (const auto& rec : a.body.value("records", nlohmann::json::array())) {
      if (rec.value("actor", "") == "rightsizer") out.push_back(rec);
    }
    return out;
  }

  std::unique_ptr<TempFolder> tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Api> admin_, agent_, member_, tenant_admin_;
};

TEST_F(RightSizingTest, GrowsThenShrinksCpuAndMemoryThroughTheLedgerWithAuditedReasons) {
  const std::string id = Create(RightSized("web", 0));
  // Load above the allocation: grow at once to usage x 1.25, rounded up to 50 milli / 64 MiB.
  nlohmann::json vm = Beat(id, 900, 900);
  EXPECT_EQ(vm.value("cpu_milli", 0), 1150) << vm.dump(2);
  EXPECT_EQ(vm.value("memory_mib", 0), 1152) << vm.dump(2);
  ASSERT_TRUE(vm.contains("rightsizing")) << vm.dump(2);
  const nlohmann::json& rs = vm["rightsizing"];
  EXPECT_EQ(rs["forecaster"], "last");
  EXPECT_EQ(rs["usage"].value("cpu_milli", 0), 900);
  EXPECT_EQ(rs["usage"]["applied"].value("cpu_cap_milli", 0), 500);
  EXPECT_EQ(rs["cpu_milli"].value("allocation", 0), 1150);
  EXPECT_EQ(rs["cpu_milli"].value("outcome", ""), "applied");
  EXPECT_NE(rs["cpu_milli"].value("reason", "").find("grow 500 milli-CPU -> 1150 milli-CPU"),
            std::string::npos)
      << rs.dump(2);
  EXPECT_NE(rs["memory_mib"].value("reason", "").find("grow 512 MiB -> 1.1 GiB"), std::string::npos)
      << rs.dump(2);
  EXPECT_GT(rs["memory_mib"].value("time_unix_ms", int64_t{0}), 0);
  // The agent sees the new size in its desired state.
  Reply desired = agent_->Get("/v1/hosts/h1/desired");
  ASSERT_EQ(desired.status, 200);
  EXPECT_EQ(desired.body["vms"][0]["allocation"].value("cpu_milli", 0), 1150) << desired.raw;

  // The same load again: nothing to change.
  vm = Beat(id, 900, 900);
  EXPECT_EQ(vm.value("cpu_milli", 0), 1150);
  EXPECT_EQ(vm["rightsizing"]["cpu_milli"].value("outcome", ""), "kept");

  // Load falls: shrink to forecast x 1.25, not below the minimums (250 milli, 256 MiB).
  vm = Beat(id, 100, 200);
  EXPECT_EQ(vm.value("cpu_milli", 0), 250) << vm.dump(2);
  EXPECT_EQ(vm.value("memory_mib", 0), 256) << vm.dump(2);
  EXPECT_NE(vm["rightsizing"]["cpu_milli"].value("reason", "").find("shrink 1150 milli-CPU"),
            std::string::npos)
      << vm.dump(2);

  // A grow the host cannot hold: recorded, the VM keeps its size, the next heartbeat is fine.
  Create({{"name", "filler"}, {"cpu_milli", 3000}, {"memory_mib", 1024}});
  vm = Beat(id, 2000, 200);
  EXPECT_EQ(vm.value("cpu_milli", 0), 250) << vm.dump(2);
  EXPECT_EQ(vm["rightsizing"]["cpu_milli"].value("outcome", "").rfind("no_room", 0), 0)
      << vm.dump(2);
  vm = Beat(id, 2000, 200);  // not retried at once
  EXPECT_EQ(vm["rightsizing"]["cpu_milli"].value("outcome", "").rfind("deferred", 0), 0)
      << vm.dump(2);

  // Every change, and the refused grow, in the audit log with actor and reason.
  const std::vector<nlohmann::json> records = RightsizerRecords();
  int ok = 0, no_room = 0;
  for (const nlohmann::json& r : records) {
    EXPECT_EQ(r.value("operation", ""), "vm.resize");
    EXPECT_EQ(r.value("object", ""), "vm/" + id);
    const nlohmann::json& d = r["detail"]["rightsizer"];
    EXPECT_FALSE(d.value("reason", "").empty()) << r.dump();
    EXPECT_TRUE(d.value("resource", "") == "cpu_milli" || d.value("resource", "") == "memory_mib");
    if (r.value("outcome", "") == "ok") ++ok;
    if (r.value("outcome", "") == "no_room") ++no_room;
  }
  EXPECT_EQ(ok, 4);  // cpu and memory grown, cpu and memory shrunk
  EXPECT_EQ(no_room, 1);
  // The tenant's admin sees the controller's records of its VM too (they carry its tenant).
  Reply mine = tenant_admin_->Get("/v1/audit?after=0&limit=1000");
  ASSERT_EQ(mine.status, 200) << mine.Describe();
  int seen = 0;
  for (const auto& r : mine.body["records"]) seen += r.value("actor", "") == "rightsizer";
  EXPECT_EQ(seen, 5);
}

// A VM with a share of one GPU whose framebuffer the controller manages.
nlohmann::json GpuRightSized(const std::string& name, int64_t memory_mib, bool gpu_move) {
  return {{"name", name},
          {"cpu_milli", 500},
          {"memory_mib", 512},
          {"policy", "best_fit"},  // shares on the fitting GPU with the least free milli
          {"gpu", {{"count", 1}, {"milli", 300}, {"memory_mib", memory_mib}}},
          {"rightsize",
           {{"gpu_memory", {{"min_mib", 1024}, {"max_mib", 16384}}},
            {"gpu_move", gpu_move},
            {"forecaster", "last"},
            {"margin", 0.25},
            {"period_s", 0},
            {"warmup_samples", 0},
            {"shrink_interval_s", 0}}}};
}

nlohmann::json GpuSlice(const nlohmann::json& vm) {
  for (const auto& d : vm.value("devices", nlohmann::json::array())) {
    if (d.value("kind", std::string()) == "gpu") return d;
  }
  return nlohmann::json::object();
}

// GPU memory 8 -> 12 GiB in place; a grow its GPU cannot hold is gpu_memory_full (kept, no
// retry at once); with gpu_move the share moves to the host's other GPU.
TEST_F(RightSizingTest, GpuMemoryGrowsInPlaceThenIsRefusedOnAFullGpuOrMoves) {
  ASSERT_EQ(agent_->Put("/v1/hosts/h1",
                        nlohmann::json{{"cpu_milli", 4000},
                                       {"memory_mib", 4096},
                                       {"gpus",
                                        {{{"id", "gpu0"}, {"model", "T4"}},  // 16 GiB each
                                         {{"id", "gpu1"}, {"model", "T4"}}}}})
                    .status /
                100,
            2);
  const std::string mover = Create(GpuRightSized("mover", 2048, true));
  const std::string infer = Create(GpuRightSized("infer", 8192, false));
  auto beat = [&](const std::string& id, int64_t gpu_memory_mib) {
    nlohmann::json hb = Usage(id, 100, 100);
    hb["vms"][0]["usage"]["gpu_memory_mib"] = gpu_memory_mib;
    Reply r = agent_->Post("/v1/hosts/h1/heartbeat", hb);
    EXPECT_EQ(r.status, 200) << r.Describe();
    return member_->Get("/v1/vms/" + id).body;
  };
  ASSERT_EQ(GpuSlice(member_->Get("/v1/vms/" + mover).body).value("id", ""), "gpu0");
  ASSERT_EQ(GpuSlice(member_->Get("/v1/vms/" + infer).body).value("id", ""), "gpu0");

  // 9600 MiB used of 8 GiB: grow at once to 9600 x 1.25, rounded up to 256 MiB, on the same GPU.
  nlohmann::json vm = beat(infer, 9600);
  EXPECT_EQ(GpuSlice(vm).value("memory_mib", 0), 12032) << vm.dump(2);
  EXPECT_EQ(GpuSlice(vm).value("id", ""), "gpu0");
  EXPECT_EQ(vm["gpu"].value("memory_mib", 0), 12032);
  EXPECT_EQ(vm["rightsizing"]["gpu_memory_mib"].value("outcome", ""), "applied") << vm.dump(2);
  EXPECT_EQ(vm["rightsizing"]["usage"].value("gpu_memory_mib", 0), 9600);
  EXPECT_EQ(vm.value("memory_mib", 0), 512);  // memory is not managed for this VM

  // 13000 MiB: 16384 wanted, gpu0 has 16384 - 2048 (mover) for it: kept, 409's reason recorded.
  vm = beat(infer, 13000);
  EXPECT_EQ(GpuSlice(vm).value("memory_mib", 0), 12032) << vm.dump(2);
  const std::string outcome = vm["rightsizing"]["gpu_memory_mib"].value("outcome", "");
  EXPECT_EQ(outcome.rfind("gpu_memory_full: ", 0), 0) << vm.dump(2);
  EXPECT_NE(outcome.find("gpu0"), std::string::npos) << outcome;
  vm = beat(infer, 13000);
  EXPECT_EQ(vm["rightsizing"]["gpu_memory_mib"].value("outcome", "").rfind("deferred", 0), 0)
      << vm.dump(2);

  // mover (gpu_move): 4000 MiB used wants 5120, gpu0 has 16384 - 12032 for it: moves to gpu1.
  vm = beat(mover, 4000);
  EXPECT_EQ(GpuSlice(vm).value("memory_mib", 0), 5120) << vm.dump(2);
  EXPECT_EQ(GpuSlice(vm).value("id", ""), "gpu1") << vm.dump(2);
  EXPECT_EQ(vm["rightsizing"]["gpu_memory_mib"].value("outcome", ""), "applied") << vm.dump(2);

  int ok = 0, full = 0;
  for (const nlohmann::json& r : RightsizerRecords()) {
    EXPECT_EQ(r["detail"]["rightsizer"].value("resource", ""), "gpu_memory_mib") << r.dump();
    ok += r.value("outcome", "") == "ok";
    full += r.value("outcome", "") == "gpu_memory_full";
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(full, 1);
}

TEST_F(RightSizingTest, ShrinksWaitForTheShrinkInterval) {
  const std::string id = Create(RightSized("db", 3600));
  nlohmann::json vm = Beat(id, 900, 900);
  ASSERT_EQ(vm.value("memory_mib", 0), 1152);
  vm = Beat(id, 100, 200);
  EXPECT_EQ(vm.value("memory_mib", 0), 1152) << vm.dump(2);
  const std::string why = vm["rightsizing"]["memory_mib"].value("reason", "");
  EXPECT_NE(why.find("would shrink to 256 MiB"), std::string::npos) << why;
  EXPECT_NE(why.find("at most one change per 1 h"), std::string::npos) << why;
}

TEST_F(RightSizingTest, VmsWithoutRightsizeKeepTheirSizeAndShowTheirUsage) {
  const std::string id = Create({{"name", "plain"}, {"cpu_milli", 500}, {"memory_mib", 512}});
  nlohmann::json vm = Beat(id, 2000, 2000);
  EXPECT_EQ(vm.value("cpu_milli", 0), 500);
  EXPECT_EQ(vm["rightsizing"]["usage"].value("memory_mib", 0), 2000) << vm.dump(2);
  EXPECT_FALSE(vm["rightsizing"].contains("cpu_milli"));
  EXPECT_TRUE(RightsizerRecords().empty());
}

TEST_F(RightSizingTest, BadSpecsAndUsageAreRefusedNamingTheField) {
  struct Case {
    nlohmann::json rightsize;
    std::string field;
  } cases[] = {
      {{{"cpu", {{"min_milli", 500}, {"max_milli", 100}}}}, "rightsize.cpu.min_milli"},
      {{{"memory", {{"max_mib", 0}}}}, "rightsize.memory.max_mib"},
      {{{"memory", "yes"}}, "rightsize.memory"},
      {{{"cpu", true}, {"margin", -1}}, "rightsize.margin"},
      {{{"cpu", true}, {"forecaster", "crystal_ball"}}, "rightsize.forecaster"},
      {{{"cpu", true}, {"colour", "red"}}, "rightsize.colour"},
      {{{"cpu", true}, {"period_s", 600}, {"horizon_s", 60}}, "rightsize.horizon_s"},
      {{{"gpu_memory", true}}, "rightsize.gpu_memory"},  // the VM has no GPU share
      {{{"cpu", true}, {"gpu_move", true}}, "rightsize.gpu_move"},
  };
  for (const Case& c : cases) {
    Reply r = member_->Post(
        "/v1/vms",
        nlohmann::json{
            {"name", "bad"}, {"cpu_milli", 500}, {"memory_mib", 512}, {"rightsize", c.rightsize}});
    EXPECT_EQ(r.status, 400) << c.rightsize.dump() << " " << r.Describe();
    EXPECT_NE(r.raw.find("'" + c.field + "'"), std::string::npos)
        << c.rightsize.dump() << " " << r.raw;
  }
  // The defaults are resolved and shown.
  Reply ok = member_->Post("/v1/vms", nlohmann::json{{"name", "good"},
                                                     {"cpu_milli", 1500},
                                                     {"memory_mib", 512},
                                                     {"rightsize", {{"cpu", true}}}});
  ASSERT_EQ(ok.status, 201) << ok.Describe();
  EXPECT_EQ(ok.body["rightsize"]["cpu"], nlohmann::json({{"min_milli", 100}, {"max_milli", 2000}}));
  EXPECT_EQ(ok.body["rightsize"]["memory"], false);
  // A heartbeat's usage with a negative figure names the field.
  nlohmann::json bad = Usage(ok.body.value("id", ""), -5, 100);
  Reply hb = agent_->Post("/v1/hosts/h1/heartbeat", bad);
  EXPECT_EQ(hb.status, 400) << hb.Describe();
  EXPECT_NE(hb.raw.find("vms[0].usage.cpu_milli"), std::string::npos) << hb.raw;
}

}  // namespace
}  // namespace devshare::it
