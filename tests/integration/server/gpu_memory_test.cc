// GPU memory through the real server on loopback (issue 17): a VM with an 8 GiB share of a
// 16 GiB T4 grows to 12 GiB in place (same GPU, same host, audited); once a second VM fills the
// GPU's memory a further resize is 409 gpu_memory_full naming the GPU, its free memory and the
// ask; with "move": true the share moves to the host's other GPU in one change; when no GPU has
// room the move is 409 again. Slices carry memory_mib through a restart, and the offline checker
// finds GPU memory sums within capacity.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

constexpr int64_t kGiB = 1024;

// h0: two fractional T4 GPUs; their memory (16 GiB) comes from the model table.
nlohmann::json T4Host() {
  return {{"cpu_milli", 64000},
          {"memory_mib", 262144},
          {"gpus", {{{"id", "gpu0"}, {"model", "T4"}}, {{"id", "gpu1"}, {"model", "T4"}}}}};
}

// A VM with a share of one GPU; best_fit puts shares on the fitting GPU with the least free
// milli (ties: the lowest ordinal), which makes the GPU each lands on predictable here.
nlohmann::json ShareVm(const std::string& name, int64_t milli, int64_t memory_mib) {
  return {{"name", name},
          {"cpu_milli", 1000},
          {"memory_mib", 2048},
          {"policy", "best_fit"},
          {"gpu", {{"count", 1}, {"milli", milli}, {"memory_mib", memory_mib}}}};
}

nlohmann::json GpuSlice(const Reply& vm) {
  for (const auto& d : vm.body["devices"]) {
    if (d.value("kind", std::string()) == "gpu") return d;
  }
  return nlohmann::json();
}

TEST(ServerGpuMemory, ResizeInPlaceThenFullThenMove) {
  TempFolder tmp("gpumem");
  ServerProcess server(tmp.path());
  ASSERT_TRUE(server.Start());
  Api admin(server.url(), server.AdminToken());
  ASSERT_EQ(PutHost(admin, "h0", T4Host()), 201);
  Reply host = admin.Get("/v1/hosts/h0");
  ASSERT_EQ(host.status, 200) << host.Describe();
  const std::string tenant = CreateTenant(admin, "acme");
  const std::string token = CreateToken(admin, tenant, "member");
  Api api(server.url(), token);

  // More GPU memory than any GPU has: the body's fault.
  Reply huge = api.Post("/v1/vms", ShareVm("huge", 300, 20 * kGiB));
  ASSERT_EQ(huge.status, 400) << huge.Describe();
  EXPECT_NE(huge.raw.find("gpu.memory_mib"), std::string::npos) << huge.Describe();

  // vm1: 8 GiB of gpu0.
  Reply created = api.Post("/v1/vms", ShareVm("vm1", 300, 8 * kGiB));
  ASSERT_EQ(created.status, 201) << created.Describe();
  const std::string vm1 = created.body["id"];
  EXPECT_EQ(created.body["gpu"]["memory_mib"], 8 * kGiB);
  EXPECT_EQ(GpuSlice(created)["id"], "gpu0");
  EXPECT_EQ(GpuSlice(created)["memory_mib"], 8 * kGiB);
  const int64_t audit_before = AuditHeadSeq(admin);

  // Grow to 12 GiB in place: same host, same GPU.
  Reply grown = api.Post("/v1/vms/" + vm1 + "/resize", R"({"gpu_memory_mib": 12288})");
  ASSERT_EQ(grown.status, 200) << grown.Describe();
  EXPECT_EQ(grown.body["host"], "h0");
  EXPECT_EQ(GpuSlice(grown)["id"], "gpu0");
  EXPECT_EQ(GpuSlice(grown)["memory_mib"], 12 * kGiB);
  EXPECT_EQ(grown.body["gpu"]["memory_mib"], 12 * kGiB);
  Reply audit = admin.Get("/v1/audit?after=" + std::to_string(audit_before) + "&limit=100");
  ASSERT_EQ(audit.status, 200) << audit.Describe();
  int resize_ok = 0;
  for (const auto& r : audit.body["records"]) {
    if (r["operation"] != "vm.resize" || r["outcome"] != "ok") continue;
    ++resize_ok;
    EXPECT_EQ(r["object"], "vm/" + vm1);
    EXPECT_EQ(r["detail"]["allocation"]["devices"][0]["memory_mib"], 12 * kGiB) << r.dump();
    EXPECT_FALSE(r["detail"].contains("gpu_moved")) << r.dump();
  }
  EXPECT_EQ(resize_ok, 1) << audit.Describe();

  // vm2 takes the last 4 GiB of gpu0 (best fit: gpu0 has the least free milli).
  Reply second = api.Post("/v1/vms", ShareVm("vm2", 300, 4 * kGiB));
  ASSERT_EQ(second.status, 201) << second.Describe();
  const std::string vm2 = second.body["id"];
  ASSERT_EQ(GpuSlice(second)["id"], "gpu0");

  // gpu0 is full: 409 with the reason, the GPU, its free memory and the ask.
  Reply full = api.Post("/v1/vms/" + vm1 + "/resize", R"({"gpu_memory_mib": 14336})");
  ASSERT_EQ(full.status, 409) << full.Describe();
  EXPECT_EQ(full.body["code"], "gpu_memory_full") << full.Describe();
  const std::string message = full.body["message"];
  EXPECT_NE(message.find("gpu0 has 12288 MiB GPU memory of 16384"), std::string::npos) << message;
  EXPECT_NE(message.find("asked 14336 MiB"), std::string::npos) << message;
  EXPECT_NE(message.find("\"move\": true"), std::string::npos) << message;
  EXPECT_EQ(full.body["details"]["free_memory_mib"], 12 * kGiB);
  EXPECT_EQ(full.body["details"]["requested_memory_mib"], 14 * kGiB);
  EXPECT_EQ(full.body["details"]["gpu"], "gpu0");
  EXPECT_EQ(GpuSlice(api.Get("/v1/vms/" + vm1))["memory_mib"], 12 * kGiB) << "nothing changed";

  // With move: the share goes to gpu1 of the same host in one change.
  Reply moved =
      api.Post("/v1/vms/" + vm1 + "/resize", R"({"gpu_memory_mib": 14336, "move": true})");
  ASSERT_EQ(moved.status, 200) << moved.Describe();
  EXPECT_EQ(moved.body["host"], "h0");
  EXPECT_EQ(GpuSlice(moved)["id"], "gpu1");
  EXPECT_EQ(GpuSlice(moved)["memory_mib"], 14 * kGiB);
  EXPECT_EQ(GpuSlice(moved)["milli"], 300);
  Reply moves = admin.Get("/v1/audit?after=" + std::to_string(audit_before) + "&limit=100");
  ASSERT_EQ(moves.status, 200) << moves.Describe();
  const nlohmann::json& last = moves.body["records"].back();
  EXPECT_EQ(last["operation"], "vm.resize") << last.dump();
  EXPECT_EQ(last["detail"]["gpu_moved"], nlohmann::json({{"from", "gpu0"}, {"to", "gpu1"}}))
      << last.dump();

  // vm3 fills gpu0 again (10 of its 12 free GiB); vm2 cannot grow to 8 GiB anywhere.
  Reply third = api.Post("/v1/vms", ShareVm("vm3", 300, 10 * kGiB));
  ASSERT_EQ(third.status, 201) << third.Describe();
  ASSERT_EQ(GpuSlice(third)["id"], "gpu0");
  Reply nowhere =
      api.Post("/v1/vms/" + vm2 + "/resize", R"({"gpu_memory_mib": 8192, "move": true})");
  ASSERT_EQ(nowhere.status, 409) << nowhere.Describe();
  EXPECT_EQ(nowhere.body["code"], "gpu_memory_full");
  EXPECT_NE(nowhere.raw.find("no other GPU of host h0 has room for 8192 MiB"), std::string::npos)
      << nowhere.Describe();
  EXPECT_NE(nowhere.raw.find("gpu1 2048 MiB"), std::string::npos) << nowhere.Describe();

  // Shrinking always fits in place.
  Reply shrunk = api.Post("/v1/vms/" + vm1 + "/resize", R"({"gpu_memory_mib": 2048})");
  ASSERT_EQ(shrunk.status, 200) << shrunk.Describe();
  EXPECT_EQ(GpuSlice(shrunk)["id"], "gpu1");

  // The slices keep their memory across a restart; the checker sees sums within capacity.
  const nlohmann::json before = api.Get("/v1/vms").body;
  ASSERT_TRUE(server.Stop());
  StoreCheck check = CheckStore(server.db_path());
  EXPECT_TRUE(check.violations.empty()) << check.Summary();
  EXPECT_EQ(check.audit_counts["vm.resize ok"], 3);
  EXPECT_EQ(check.audit_counts["vm.resize gpu_memory_full"], 2);
  ASSERT_TRUE(server.Start());
  Api again(server.url(), token);
  Reply after = again.Get("/v1/vms");
  ASSERT_EQ(after.status, 200) << after.Describe();
  EXPECT_EQ(after.body, before);
}

}  // namespace
}  // namespace devshare::it
