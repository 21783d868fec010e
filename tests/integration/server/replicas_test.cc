// Replicas (issue 18): two and three `devshare serve` processes on one PostgreSQL database (a
// throwaway server, tests/testutil/postgres_server.h; skipped with the reason when none can be
// started), on loopback. Each sees what the others wrote within its follow interval; clients
// spread over the replicas creating on tight hosts never over-commit them (checked in the
// database itself); an idempotency key used on one replica replays on another; one audit chain
// verifies; kill -9 of a replica loses no acknowledged write and the others go on serving.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/host/fleet_it_util.h"
#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"
#include "tests/testutil/postgres_server.h"

namespace devshare::it {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<testutil::PostgresServer>> pg = testutil::PostgresServer::Start();
    if (!pg.ok()) GTEST_SKIP() << pg.status().ToString();
    pg_ = std::move(pg).value();
    ASSERT_TRUE(pg_->CreateDatabase("ledger").ok());
    tmp_ = std::make_unique<TempFolder>("replicas");
  }

  // Replica i: its own folder, the shared database, the first replica's admin token.
  ServerProcess& StartReplica() {
    const std::string dir = tmp_->path() + "/r" + std::to_string(replicas_.size());
    std::filesystem::create_directories(dir);
    if (!replicas_.empty()) {
      std::filesystem::copy_file(replicas_[0]->token_file(), dir + "/admin.token");
    }
    replicas_.push_back(std::make_unique<ServerProcess>(dir));
    ServerProcess& r = *replicas_.back();
    r.set_db_url(pg_->Url("ledger"));
    r.set_extra_args({"--follow-ms", "100"});
    EXPECT_TRUE(r.Start()) << r.StderrLog();
    return r;
  }

  std::string Sql(const std::string& query) {
    Result<std::string> v = pg_->Query("ledger", query);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : "";
  }

  void TearDown() override {
    for (auto& r : replicas_) r->Kill();
    replicas_.clear();
    pg_.reset();
  }

  std::unique_ptr<testutil::PostgresServer> pg_;
  std::unique_ptr<TempFolder> tmp_;
  std::vector<std::unique_ptr<ServerProcess>> replicas_;
};

TEST_F(ReplicasTest, EachSeesTheOthersWritesAndKeysReplayAcrossThem) {
  ServerProcess& a = StartReplica();
  ServerProcess& b = StartReplica();
  Api admin_a(a.url(), a.AdminToken()), admin_b(b.url(), a.AdminToken());
  ASSERT_EQ(PutHost(admin_a, "h1", {{"cpu_milli", 8000}, {"memory_mib", 16384}}), 201);
  const std::string tenant = CreateTenant(admin_a, "acme");
  // B learns of the host, the tenant and the token from the change feed, not from a conflict.
  const std::string token = CreateToken(admin_a, tenant, "member");
  Api member_b(b.url(), token);
  EXPECT_TRUE(WaitFor([&] { return member_b.Get("/v1/vms").status == 200; }, seconds(5)))
      << "B never accepted a token created on A";
  EXPECT_TRUE(WaitFor([&] { return admin_b.Get("/v1/hosts/h1").status == 200; }, seconds(5)));

  // A VM created on A is visible on B; deleted on B, gone on A.
  Api member_a(a.url(), token);
  Reply vm = member_a.Post("/v1/vms", R"({"name": "web", "cpu_milli": 1000, "memory_mib": 1024})");
  ASSERT_EQ(vm.status, 201) << vm.Describe();
  const std::string id = vm.body.value("id", "");
  EXPECT_TRUE(WaitFor([&] { return member_b.Get("/v1/vms/" + id).status == 200; }, seconds(5)));
  Reply del = member_b.Delete("/v1/vms/" + id);
  EXPECT_TRUE(del.status == 200 || del.status == 202 || del.status == 204) << del.Describe();
  EXPECT_TRUE(WaitFor([&] { return member_a.Get("/v1/vms/" + id).status == 404; }, seconds(5)));

  // One idempotency key on both replicas, B asked right after A (before it can have followed):
  // one VM, the same answer.
  const Headers key = {{"Idempotency-Key", "once-1"}};
  const std::string body = R"({"name": "once", "cpu_milli": 500, "memory_mib": 512})";
  Reply first = member_a.Post("/v1/vms", body, key);
  Reply second = member_b.Post("/v1/vms", body, key);
  ASSERT_EQ(first.status, 201) << first.Describe();
  EXPECT_EQ(second.status, 201) << second.Describe();
  EXPECT_EQ(second.body.value("id", ""), first.body.value("id", "")) << second.Describe();
  EXPECT_EQ(Sql("SELECT count(*) FROM vms WHERE name = 'once'"), "1");
}

TEST_F(ReplicasTest, ClientsSpreadOverThreeReplicasNeverOverCommitAndKillLosesNothing) {
  for (int i = 0; i < 3; ++i) StartReplica();
  Api admin(replicas_[0]->url(), replicas_[0]->AdminToken());
  // Tight hosts: 4 hosts x 4000 milli hold exactly 16 VMs of 1000 milli.
  for (int h = 0; h < 4; ++h) {
    ASSERT_EQ(PutHost(admin, "h" + std::to_string(h), {{"cpu_milli", 4000}, {"memory_mib", 65536}}),
              201);
  }
  const std::string tenant = CreateTenant(admin, "acme");
  const std::string token = CreateToken(admin, tenant, "member");
  for (auto& r : replicas_) {
    Api m(r->url(), token);
    ASSERT_TRUE(WaitFor([&] { return m.Get("/v1/vms").status == 200; }, seconds(5)));
  }
  constexpr int kClients = 12;
  constexpr int kRounds = 6;
  std::atomic<int> created{0}, refused{0}, other{0};
  std::vector<std::string> acknowledged[kClients];
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kRounds; ++i) {
        // Each client moves over the replicas: 0, 1, 2, 0, ...
        Api api(replicas_[(c + i) % 3]->url(), token);
        Reply r = api.Post(
            "/v1/vms", nlohmann::json{{"name", "c" + std::to_string(c) + "-" + std::to_string(i)},
                                      {"cpu_milli", 1000},
                                      {"memory_mib", 1024}});
        if (r.status == 201) {
          ++created;
          acknowledged[c].push_back(r.body.value("id", ""));
          if (i % 2 == 1) {  // and some go again, so that room comes and goes
            Reply d = api.Delete("/v1/vms/" + acknowledged[c].back());
            if (d.status / 100 == 2) acknowledged[c].pop_back();
          }
        } else if (r.status == 409 || r.status == 503) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  std::printf("FIGURE replicas: %d created, %d refused (409/503) of %d creates on 3 replicas\n",
              created.load(), refused.load(), kClients * kRounds);
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(created.load(), 16);  // deletes made room again
  // In the database itself: no host holds more than its 4000 milli.
  EXPECT_EQ(
      Sql("SELECT count(*) FROM (SELECT host, sum((allocation_json::json->>'cpu_milli')::int) "
          "AS used FROM vms GROUP BY host) u WHERE used > 4000"),
      "0");
  const std::string vms = Sql("SELECT count(*) FROM vms");
  EXPECT_LE(std::stoi(vms), 16);
  // Every replica's ledger, caught up row by row from the change feed, is the database's: each
  // host's generation and used CPU as GET /v1/hosts/{name} shows them.
  for (auto& r : replicas_) {
    Api a(r->url(), replicas_[0]->AdminToken());
    std::string mismatch;
    const bool same = WaitFor(
        [&] {
          for (int h = 0; h < 4; ++h) {
            const std::string name = "h" + std::to_string(h);
            Reply got = a.Get("/v1/hosts/" + name);
            const std::string used =
                Sql("SELECT coalesce(sum((allocation_json::json->>'cpu_milli')::int), 0) FROM vms "
                    "WHERE host = '" +
                    name + "'");
            const std::string gen = Sql("SELECT generation FROM hosts WHERE name = '" + name + "'");
            const std::string mine =
                std::to_string(got.body["usage"]["cpu_milli"].value("used", -1));
            const std::string my_gen = std::to_string(got.body.value("generation", -1));
            if (mine != used || my_gen != gen) {
              mismatch = r->url() + " " + name + ": used " + mine + " (db " + used +
                         "), generation " + my_gen + " (db " + gen + ")";
              return false;
            }
          }
          return true;
        },
        seconds(5));
    EXPECT_TRUE(same) << mismatch;
  }
  // ... and they got there row by row (Ledger::ApplyChanges), not only by reloads.
  int64_t applied = 0;
  for (auto& r : replicas_) {
    const std::string m = Api(r->url(), replicas_[0]->AdminToken()).Get("/metrics").raw;
    const std::string name = "devshare_store_catchups_applied_total ";
    const size_t at = m.find("\n" + name);
    if (at != std::string::npos) applied += std::atoll(m.c_str() + at + 1 + name.size());
  }
  std::printf("FIGURE replicas: %lld catch-ups applied row by row\n",
              static_cast<long long>(applied));
  EXPECT_GT(applied, 0);

  // kill -9 of replica 0: every acknowledged VM is in the database; the others go on.
  replicas_[0]->Kill();
  size_t acked = 0;
  for (const auto& ids : acknowledged) {
    for (const std::string& id : ids) {
      ++acked;
      EXPECT_EQ(Sql("SELECT count(*) FROM vms WHERE id = '" + id + "'"), "1") << id;
    }
  }
  EXPECT_EQ(std::to_string(acked), vms);
  Api on_b(replicas_[1]->url(), token);
  Reply listed = on_b.Get("/v1/vms");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body["vms"].size(), acked) << listed.raw;
  Reply one_more = on_b.Post("/v1/vms", R"({"name": "after", "cpu_milli": 100, "memory_mib": 64})");
  EXPECT_TRUE(one_more.status == 201 || one_more.status == 409) << one_more.Describe();

  // One audit chain, verified offline over the database.
  ProcessResult verify =
      RunProcess({DevshareBinary(), "audit", "verify", "--db", pg_->Url("ledger")});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("OK"), std::string::npos) << verify.output;
}

// The issue's acceptance run (label slow: devshare_replicas_acceptance_test): 3 replicas, 32
// clients spread over them, 500 mixed creates/deletes each (CPU, GPU shares, SR-IOV VFs, NVMe
// volumes) on tight hosts; replica 0 is killed with SIGKILL half-way. Checked in the database
// itself: no host over its CPU or memory, no GPU over 1000 milli, no NIC over its VFs (and no VF
// given twice), no disk over its GiB; every acknowledged create that was not deleted is there
// and every acknowledged delete is gone; the clients of the other replicas saw no transport
// error or 5xx; the audit chain verifies.
TEST_F(ReplicasTest, AcceptanceRunOnTightHostsWithAKillHalfWay) {
  for (int i = 0; i < 3; ++i) StartReplica();
  Api admin(replicas_[0]->url(), replicas_[0]->AdminToken());
  constexpr int kHosts = 8;
  for (int h = 0; h < kHosts; ++h) {
    const nlohmann::json host = {
        {"cpu_milli", 16000},
        {"memory_mib", 32768},
        {"gpus", {{{"id", "gpu0"}, {"model", "A100"}}, {{"id", "gpu1"}, {"model", "A100"}}}},
        {"nics", {{{"id", "nic0"}, {"vfs", 4}, {"line_rate_mbps", 10000}}}},
        {"disks", {{{"id", "nvme0"}, {"tier", "nvme"}, {"capacity_gib", 200}}}}};
    ASSERT_EQ(PutHost(admin, "h" + std::to_string(h), host), 201);
  }
  const std::string tenant = CreateTenant(admin, "acme");
  const std::string token = CreateToken(admin, tenant, "member");
  for (auto& r : replicas_) {
    Api m(r->url(), token);
    ASSERT_TRUE(WaitFor([&] { return m.Get("/v1/vms").status == 200; }, seconds(10)));
  }
  constexpr int kClients = 32;
  constexpr int kOps = 500;
  struct Client {
    std::vector<std::string> alive, deleted;
    int transport_or_5xx = 0, created = 0, refused = 0;
    std::string first_error;
  };
  std::vector<Client> clients(kClients);
  std::atomic<int> done_ops{0};
  std::atomic<bool> killed{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      Client& me = clients[c];
      const int replica = c % 3;
      Api api(replicas_[replica]->url(), token);
      uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(c + 1);
      auto next = [&] {  // xorshift: deterministic per client
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
      };
      for (int i = 0; i < kOps; ++i, ++done_ops) {
        if (replica == 0 && killed.load()) break;  // its server is gone
        if (!me.alive.empty() && next() % 2 == 0) {
          const size_t k = next() % me.alive.size();
          Reply d = api.Delete("/v1/vms/" + me.alive[k]);
          if (d.status / 100 == 2) {
            me.deleted.push_back(me.alive[k]);
            me.alive.erase(me.alive.begin() + static_cast<std::ptrdiff_t>(k));
          } else if (d.status == 0 || d.status >= 500) {
            if (replica != 0 || !killed.load()) {
              if (me.transport_or_5xx++ == 0) me.first_error = d.Describe();
            }
          }
          continue;
        }
        nlohmann::json body = {{"name", "c" + std::to_string(c) + "-" + std::to_string(i)},
                               {"cpu_milli", 1000 + 500 * static_cast<int64_t>(next() % 3)},
                               {"memory_mib", 1024 * (1 + static_cast<int64_t>(next() % 4))}};
        switch (next() % 4) {
          case 0:
            body["gpu"] = {{"count", 1}, {"milli", 200 * (1 + static_cast<int64_t>(next() % 3))}};
            break;
          case 1:
            body["nics"] = {{{"network", "default"}, {"vf", true}}};
            break;
          case 2:
            body["volumes"] = {{{"name", "data"},
                                {"size_gib", 20 * (1 + static_cast<int64_t>(next() % 3))},
                                {"tier", "nvme"}}};
            break;
          default:
            break;
        }
        Reply r = api.Post("/v1/vms", body);
        if (r.status == 201) {
          ++me.created;
          me.alive.push_back(r.body.value("id", ""));
        } else if (r.status == 409) {
          ++me.refused;
        } else if (replica != 0 || !killed.load()) {
          if (me.transport_or_5xx++ == 0) me.first_error = r.Describe();
        }
      }
    });
  }
  // Half-way through, replica 0 dies.
  while (done_ops.load() < kClients * kOps / 2) std::this_thread::sleep_for(milliseconds(20));
  killed = true;
  replicas_[0]->Kill();
  for (std::thread& t : threads) t.join();

  int created = 0, refused = 0, errors = 0;
  for (int c = 0; c < kClients; ++c) {
    created += clients[c].created;
    refused += clients[c].refused;
    if (c % 3 != 0) {
      EXPECT_EQ(clients[c].transport_or_5xx, 0) << "client " << c << ": " << clients[c].first_error;
      errors += clients[c].transport_or_5xx;
    }
  }
  std::printf("FIGURE acceptance: %d created, %d refused (409); %d transport/5xx on replicas 1-2\n",
              created, refused, errors);

  // In the database: capacities hold.
  const nlohmann::json allocations = nlohmann::json::parse(
      Sql("SELECT coalesce(json_agg(json_build_object('id', id, 'host', host, 'a', "
          "allocation_json::json)), '[]') FROM vms"));
  std::map<std::string, int64_t> cpu, mem, gpu_milli, disk_gib;
  std::map<std::string, std::set<int64_t>> vfs;
  std::map<std::string, int64_t> vf_count;
  std::set<std::string> in_db;
  for (const nlohmann::json& v : allocations) {
    const std::string host = v["host"];
    in_db.insert(v["id"].get<std::string>());
    cpu[host] += v["a"].value("cpu_milli", 0);
    mem[host] += v["a"].value("memory_mib", 0);
    for (const nlohmann::json& d : v["a"].value("devices", nlohmann::json::array())) {
      const std::string key = host + "/" + d.value("id", "");
      const std::string kind = d.value("kind", "");
      if (kind == "gpu") gpu_milli[key] += d.value("milli", 0);
      if (kind == "disk") disk_gib[key] += d.value("size_gib", 0);
      if (kind == "nic" && d.contains("vf")) {
        vfs[key].insert(d["vf"].get<int64_t>());
        ++vf_count[key];
      }
    }
  }
  for (const auto& [h, v] : cpu) EXPECT_LE(v, 16000) << h;
  for (const auto& [h, v] : mem) EXPECT_LE(v, 32768) << h;
  for (const auto& [g, v] : gpu_milli) EXPECT_LE(v, 1000) << g;
  for (const auto& [d, v] : disk_gib) EXPECT_LE(v, 200) << d;
  for (const auto& [n, v] : vf_count) {
    EXPECT_LE(v, 4) << n;
    EXPECT_EQ(static_cast<int64_t>(vfs[n].size()), v) << n << ": a VF given twice";
  }
  std::printf("FIGURE acceptance: %zu VMs in the database, %zu GPUs, %zu NICs, %zu disks in use\n",
              in_db.size(), gpu_milli.size(), vf_count.size(), disk_gib.size());
  // Acknowledged writes: creates not deleted are there, deletes are gone.
  for (const Client& cl : clients) {
    for (const std::string& id : cl.alive) EXPECT_TRUE(in_db.count(id)) << id << " was lost";
    for (const std::string& id : cl.deleted) EXPECT_FALSE(in_db.count(id)) << id << " came back";
  }
  ProcessResult verify =
      RunProcess({DevshareBinary(), "audit", "verify", "--db", pg_->Url("ledger")});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  std::printf("FIGURE acceptance: audit %s\n", verify.output.c_str());
}

}  // namespace
}  // namespace devshare::it
