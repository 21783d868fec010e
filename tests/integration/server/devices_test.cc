// NICs and volumes through the real server on loopback: VMs with NICs and volumes are placed,
// listed with their concrete slices and survive a restart (and kill -9); 16 clients racing for
// the last VFs and the last GiB of a tier get exactly the capacity, checked in the SQLite file;
// bad requests are 400 naming the field and over-capacity ones 409 with the device's numbers.
#include <gtest/gtest.h>

#include <atomic>
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

// h0: an SR-IOV NIC (4 VFs, 10 Gbit/s) and a plain one on "default", 100 GiB NVMe (1000 IOPS),
// 500 GiB SSD. h1: a plain NIC on "storage" only, 1 TiB HDD.
nlohmann::json H0() {
  return {{"cpu_milli", 64000},
          {"memory_mib", 262144},
          {"nics",
           {{{"id", "nic0"}, {"vfs", 4}, {"line_rate_mbps", 10000}},
            {{"id", "nic1"}, {"line_rate_mbps", 1000}}}},
          {"disks",
           {{{"id", "nvme0"}, {"tier", "nvme"}, {"capacity_gib", 100}, {"iops", 1000}},
            {{"id", "ssd0"}, {"tier", "ssd"}, {"capacity_gib", 500}, {"iops", 5000}}}}};
}

nlohmann::json H1() {
  return {{"cpu_milli", 64000},
          {"memory_mib", 262144},
          {"nics", {{{"id", "eth0"}, {"network", "storage"}, {"line_rate_mbps", 25000}}}},
          {"disks", {{{"id", "hdd0"}, {"tier", "hdd"}, {"capacity_gib", 1024}}}}};
}

nlohmann::json VfVm(const std::string& name) {
  return {{"name", name},
          {"cpu_milli", 500},
          {"memory_mib", 512},
          {"nics", {{{"network", "default"}, {"vf", true}}}}};
}

nlohmann::json VolumeVm(const std::string& name, int64_t gib, const std::string& tier = "nvme") {
  return {{"name", name},
          {"cpu_milli", 500},
          {"memory_mib", 512},
          {"volumes", {{{"name", "data"}, {"size_gib", gib}, {"tier", tier}}}}};
}

// The devices of `kind` in a VM answer or stored allocation.
std::vector<nlohmann::json> Slices(const nlohmann::json& devices, const std::string& kind) {
  std::vector<nlohmann::json> out;
  for (const auto& d : devices) {
    if (d.value("kind", std::string()) == kind) out.push_back(d);
  }
  return out;
}

// A server in a fresh folder with hosts h0 and h1 and a member token of tenant "acme".
class ServerDevices : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::make_unique<TempFolder>("devices");
    server_ = std::make_unique<ServerProcess>(tmp_->path());
    ASSERT_TRUE(server_->Start());
    Api admin(server_->url(), server_->AdminToken());
    ASSERT_EQ(PutHost(admin, "h0", H0()), 201);
    ASSERT_EQ(PutHost(admin, "h1", H1()), 201);
    const std::string tenant = CreateTenant(admin, "acme");
    member_ = CreateToken(admin, tenant, "member");
    ASSERT_FALSE(member_.empty());
  }

  std::unique_ptr<TempFolder> tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string member_;
};

TEST_F(ServerDevices, PlacedListedWithSlicesAndSurviveRestart) {
  ServerProcess& server = *server_;
  Api api(server.url(), member_);

  nlohmann::json body = {
      {"name", "db"},
      {"cpu_milli", 2000},
      {"memory_mib", 4096},
      {"nics",
       {{{"network", "default"}, {"bandwidth_mbps", {{"min", 1000}, {"max", 5000}}}, {"vf", true}},
        {{"network", "default"}, {"bandwidth_mbps", {{"min", 100}}}}}},
      {"volumes",
       {{{"name", "data"},
         {"size_gib", 50},
         {"tier", "nvme"},
         {"iops", {{"reservation", 500}, {"weight", 1}, {"limit", 0}}}},
        {{"name", "logs"}, {"size_gib", 20}, {"tier", "ssd"}}}}};
  Reply created = api.Post("/v1/vms", body);
  ASSERT_EQ(created.status, 201) << created.Describe();
  const std::string id = created.body["id"];
  EXPECT_EQ(created.body["host"], "h0");
  const auto nics = Slices(created.body["devices"], "nic");
  const auto disks = Slices(created.body["devices"], "disk");
  ASSERT_EQ(nics.size(), 2u) << created.Describe();
  EXPECT_EQ(nics[0]["id"], "nic0");
  EXPECT_EQ(nics[0]["vf"], 0);
  EXPECT_EQ(nics[0]["bandwidth_mbps"]["min"], 1000);
  EXPECT_EQ(nics[0]["bandwidth_mbps"]["max"], 5000);
  EXPECT_EQ(nics[1]["id"], "nic1") << "a virtio NIC keeps the VFs of nic0 free";
  EXPECT_EQ(nics[1]["mode"], "virtio");
  ASSERT_EQ(disks.size(), 2u);
  EXPECT_EQ(disks[0]["id"], "nvme0");
  EXPECT_EQ(disks[0]["volume"], "data");
  EXPECT_EQ(disks[0]["size_gib"], 50);
  EXPECT_EQ(disks[0]["iops"]["reservation"], 500);
  EXPECT_EQ(disks[1]["id"], "ssd0");

  Reply host = api.Get("/v1/hosts/h0");
  ASSERT_EQ(host.status, 200) << host.Describe();
  EXPECT_EQ(host.body["usage"]["nic_vf"]["used"], 1);
  EXPECT_EQ(host.body["usage"]["nic_vf"]["capacity"], 4);
  EXPECT_EQ(host.body["usage"]["nic_bandwidth_mbps"]["used"], 1100);
  EXPECT_EQ(host.body["usage"]["disk_gib"]["nvme"]["used"], 50);
  EXPECT_EQ(host.body["usage"]["disk_iops"]["nvme"]["used"], 500);
  EXPECT_EQ(host.body["usage"]["disks"][0]["gib"]["used"], 50);
  EXPECT_EQ(host.body["usage"]["nics"][0]["vfs_taken"], nlohmann::json::array({0}));

  // Over capacity: 409 with the device kind and numbers.
  Reply full = api.Post("/v1/vms", VolumeVm("big", 60));
  ASSERT_EQ(full.status, 409) << full.Describe();
  EXPECT_EQ(full.body["code"], "unschedulable");
  EXPECT_NE(full.raw.find("volume: tier nvme requested 60 GiB, free 50 GiB"), std::string::npos)
      << full.Describe();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(api.Post("/v1/vms", VfVm("vf" + std::to_string(i))).status, 201);
  Reply no_vf = api.Post("/v1/vms", VfVm("vf3"));
  ASSERT_EQ(no_vf.status, 409) << no_vf.Describe();
  EXPECT_NE(no_vf.raw.find("nic: requested 1 VF, free 0 of 4 on nic0"), std::string::npos)
      << no_vf.Describe();

  // Resize: a volume grows (not beyond its disk), a NIC's bandwidth changes.
  Reply grown = api.Post("/v1/vms/" + id + "/resize",
                         R"({"volumes": [{"name": "data", "size_gib": 80}],
                             "nics": [{"index": 0, "bandwidth_mbps": {"min": 2000, "max": 8000}}]})");
  ASSERT_EQ(grown.status, 200) << grown.Describe();
  EXPECT_EQ(Slices(grown.body["devices"], "disk")[0]["size_gib"], 80);
  EXPECT_EQ(Slices(grown.body["devices"], "nic")[0]["bandwidth_mbps"]["min"], 2000);
  EXPECT_EQ(grown.body["volumes"][0]["size_gib"], 80);
  Reply too_big =
      api.Post("/v1/vms/" + id + "/resize", R"({"volumes": [{"name": "data", "size_gib": 101}]})");
  EXPECT_EQ(too_big.status, 409) << too_big.Describe();
  Reply shrink =
      api.Post("/v1/vms/" + id + "/resize", R"({"volumes": [{"name": "data", "size_gib": 10}]})");
  EXPECT_EQ(shrink.status, 400) << shrink.Describe();
  EXPECT_NE(shrink.raw.find("volumes[0].size_gib"), std::string::npos) << shrink.Describe();

  // Restart (graceful) and kill -9: the VM comes back with the same slices.
  const nlohmann::json before = api.Get("/v1/vms/" + id).body["devices"];
  ASSERT_TRUE(server.Stop());
  ASSERT_TRUE(server.Start());
  Api again(server.url(), member_);
  Reply after = again.Get("/v1/vms/" + id);
  ASSERT_EQ(after.status, 200) << after.Describe();
  EXPECT_EQ(after.body["devices"], before);
  server.Kill();
  ASSERT_TRUE(server.Start());
  Api third(server.url(), member_);
  EXPECT_EQ(third.Get("/v1/vms/" + id).body["devices"], before);
  Reply usage = third.Get("/v1/hosts/h0");
  EXPECT_EQ(usage.body["usage"]["nic_vf"]["used"], 4);
  EXPECT_EQ(usage.body["usage"]["disk_gib"]["nvme"]["used"], 80);
  Reply metrics = third.Get("/metrics");
  EXPECT_NE(metrics.raw.find("devshare_resource_used{resource=\"nic_vf\"} 4"), std::string::npos)
      << metrics.raw;
  EXPECT_NE(metrics.raw.find("devshare_resource_used{resource=\"disk_gib\",tier=\"nvme\"} 80"),
            std::string::npos)
      << metrics.raw;
  // Deleting frees every slice.
  ASSERT_EQ(third.Delete("/v1/vms/" + id).status, 200);
  Reply freed = third.Get("/v1/hosts/h0");
  EXPECT_EQ(freed.body["usage"]["nic_vf"]["used"], 3);
  EXPECT_EQ(freed.body["usage"]["disk_gib"]["nvme"]["used"], 0);
  ASSERT_TRUE(server.Stop());
  StoreCheck check = CheckStore(server.db_path());
  EXPECT_TRUE(check.violations.empty()) << check.Summary();
}

TEST_F(ServerDevices, BadRequestsNameTheField) {
  ServerProcess& server = *server_;
  Api api(server.url(), member_);
  struct Case {
    nlohmann::json extra;
    std::string field;
  } cases[] = {
      {{{"volumes", {{{"name", "d"}, {"size_gib", 5}, {"tier", "tape"}}}}}, "volumes[0].tier"},
      {{{"volumes", {{{"name", "d"}, {"size_gib", -5}, {"tier", "ssd"}}}}}, "volumes[0].size_gib"},
      {{{"nics", {{{"bandwidth_mbps", {{"min", 6000}, {"max", 5000}}}}}}},
       "nics[0].bandwidth_mbps.min"},
      {{{"nics", {{{"network", "storage"}, {"vf", true}}}}}, "nics[0].vf"},
      {{{"nics", {{{"network", "default"}, {"queues", 4}}}}}, "nics[0].queues"},
      {{{"volumes", {{{"name", "d"}, {"size_gib", 5}, {"tier", "ssd"}, {"iops", {{"x", 1}}}}}}},
       "volumes[0].iops.x"},
  };
  for (const Case& c : cases) {
    nlohmann::json body = {{"name", "vm"}, {"cpu_milli", 500}, {"memory_mib", 512}};
    body.update(c.extra);
    Reply r = api.Post("/v1/vms", body);
    EXPECT_EQ(r.status, 400) << body.dump() << " -> " << r.Describe();
    EXPECT_NE(r.body.value("message", std::string()).find(c.field), std::string::npos)
        << body.dump() << " -> " << r.Describe();
  }
  // A network that is neither the tenant's nor on any host's NIC is not found.
  Reply nowhere = api.Post("/v1/vms", nlohmann::json{{"name", "vm"},
                                                     {"cpu_milli", 500},
                                                     {"memory_mib", 512},
                                                     {"nics", {{{"network", "nowhere"}}}}});
  EXPECT_EQ(nowhere.status, 404) << nowhere.Describe();
  EXPECT_NE(nowhere.body.value("message", std::string()).find("nics[0].network"),
            std::string::npos)
      << nowhere.Describe();
  // Nothing was placed by any of them.
  EXPECT_EQ(api.Get("/v1/vms").body["vms"].size(), 0u);
  ASSERT_TRUE(server.Stop());
}

TEST_F(ServerDevices, SixteenClientsRaceForTheLastVfsAndGib) {
  ServerProcess& server = *server_;
  constexpr int kClients = 16;
  // Per client: one VM asking for a VF (4 exist) and one asking for 7 GiB of NVMe (100 GiB:
  // 14 fit), sent at the same time by every client.
  std::atomic<int> vf_ok{0}, vf_full{0}, gib_ok{0}, gib_full{0}, other{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      Api api(server.url(), member_);
      ready++;
      while (ready.load() < kClients) std::this_thread::yield();
      for (const bool vf : {true, false}) {
        const std::string name = (vf ? "vf-" : "vol-") + std::to_string(t);
        Reply r = api.Post("/v1/vms", vf ? VfVm(name) : VolumeVm(name, 7));
        if (r.status == 201) {
          (vf ? vf_ok : gib_ok)++;
        } else if (r.status == 409 && r.body.value("code", std::string()) == "unschedulable") {
          (vf ? vf_full : gib_full)++;
        } else {
          other++;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(vf_ok.load(), 4);
  EXPECT_EQ(vf_full.load(), kClients - 4);
  EXPECT_EQ(gib_ok.load(), 14);
  EXPECT_EQ(gib_full.load(), kClients - 14);
  ASSERT_TRUE(server.Stop());

  // The SQLite file itself: invariants (I4 sums VFs and GiB per device), and the exact totals.
  StoreCheck check = CheckStore(server.db_path());
  EXPECT_TRUE(check.violations.empty()) << check.Summary();
  std::map<std::string, int64_t> vfs, gib;
  std::set<int64_t> vf_indices;
  for (const auto& [id, vm] : check.vms) {
    for (const auto& d : Slices(vm.allocation["devices"], "nic")) {
      vfs[vm.host + "/" + d["id"].get<std::string>()]++;
      vf_indices.insert(d["vf"].get<int64_t>());
    }
    for (const auto& d : Slices(vm.allocation["devices"], "disk")) {
      gib[vm.host + "/" + d["id"].get<std::string>()] += d["size_gib"].get<int64_t>();
    }
  }
  EXPECT_EQ(vfs, (std::map<std::string, int64_t>{{"h0/nic0", 4}}));
  EXPECT_EQ(vf_indices, (std::set<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(gib, (std::map<std::string, int64_t>{{"h0/nvme0", 98}}));
}

}  // namespace
}  // namespace devshare::it
