// Test 2: kill -9 durability. 20 rounds on one SQLite file; each round 8 clients create and
// delete VMs until the server is SIGKILLed after a seeded 50-400 ms. After every kill:
// acknowledged creates are present, acknowledged deletes are absent, anything else present was
// in flight when the server died (acked <= state <= acked + in flight), the offline invariant
// checker passes, host generations never go back, and `devshare audit verify` exits 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

constexpr int kRounds = 20;
constexpr int kClients = 8;

struct ClientLog {
  std::map<std::string, std::string> created;  // id -> name, answered 201
  std::set<std::string> deleted;               // answered 200
  std::set<std::string> uncertain_creates;     // names of creates without an answer
  std::set<std::string> uncertain_deletes;     // ids of deletes without an answer
  std::vector<std::string> unexpected;
};

// What the clients know about the VMs of the tenant, across rounds.
struct Knowledge {
  std::map<std::string, std::string> live;  // id -> name: acknowledged and not deleted
  std::set<std::string> deleted;            // acknowledged deletes
  std::set<std::string> uncertain_creates;  // names, from the round just killed
  std::set<std::string> uncertain_deletes;  // ids, from the round just killed
  int inflight_creates_committed = 0;       // in flight at the kill, found present after it
  int inflight_deletes_committed = 0;       // in flight at the kill, found done after it
};

nlohmann::json SmallVm(std::mt19937_64& rng, const std::string& name) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  nlohmann::json vm = {
      {"name", name}, {"cpu_milli", pick(1, 4) * 250}, {"memory_mib", pick(1, 8) * 256}};
  const int64_t kind = pick(0, 9);
  if (kind >= 6 && kind < 9) vm["gpu"] = {{"count", 1}, {"milli", pick(1, 5) * 100}};
  if (kind == 9) vm["gpu"] = {{"count", 1}, {"milli", 1000}};
  return vm;
}

// Compares the VMs the server lists after a restart with what the clients know, then folds the
// uncertain operations of the last round into the knowledge.
void Reconcile(const std::map<std::string, std::string>& listed, Knowledge& k, int round) {
  for (const auto& [id, name] : k.live) {
    if (listed.count(id) == 0 && k.uncertain_deletes.count(id) == 0) {
      ADD_FAILURE() << "round " << round << ": acknowledged VM " << id << " (" << name
                    << ") is missing after kill -9";
    }
  }
  for (const std::string& id : k.deleted) {
    EXPECT_EQ(listed.count(id), 0u)
        << "round " << round << ": VM " << id << " is present although its DELETE was acknowledged";
  }
  for (const auto& [id, name] : listed) {
    if (k.live.count(id) != 0 || k.deleted.count(id) != 0) continue;
    if (k.uncertain_creates.count(name) == 0) {
      ADD_FAILURE() << "round " << round << ": VM " << id << " (" << name
                    << ") is present but was neither acknowledged nor in flight";
      continue;
    }
    k.live[id] = name;  // an in-flight create that committed before the kill
    ++k.inflight_creates_committed;
  }
  for (const std::string& id : k.uncertain_deletes) {
    if (listed.count(id) == 0) {
      k.live.erase(id);
      k.deleted.insert(id);
      ++k.inflight_deletes_committed;
    }
  }
  k.uncertain_creates.clear();
  k.uncertain_deletes.clear();
}

TEST(ServerCrash, KillNineNeverLosesAnAcknowledgedWrite) {
  TempFolder tmp("crash");
  ServerProcess server(tmp.path());
  ASSERT_TRUE(server.Start());
  std::string member;
  {
    Api admin(server.url(), server.AdminToken());
    for (int h = 0; h < 4; ++h) {
      ASSERT_EQ(PutHost(admin, "h" + std::to_string(h), h == 1 ? TightHost(2.0) : TightHost()),
                201);
    }
    const std::string tenant = CreateTenant(admin, "crashers");
    ASSERT_FALSE(tenant.empty());
    member = CreateToken(admin, tenant, "member");
    ASSERT_FALSE(member.empty());
  }

  std::mt19937_64 master(20240917);  // seeds the kill times and the clients
  Knowledge known;
  std::map<std::string, uint64_t> generations;
  int total_acked_creates = 0, total_acked_deletes = 0, total_uncertain = 0;

  // After a kill: offline checks on the file, then restart and compare through the API.
  auto check_after_kill = [&](int round) {
    StoreCheck check = CheckStore(server.db_path());
    EXPECT_TRUE(check.violations.empty()) << "round " << round << ":\n" << check.Summary();
    for (const auto& [host, gen] : check.host_generations) {
      EXPECT_GE(gen, generations[host])
          << "round " << round << ": host " << host << " generation went back";
      generations[host] = gen;
    }
    ProcessResult verify =
        RunProcess({DevshareBinary(), "audit", "verify", "--db", server.db_url()});
    EXPECT_EQ(verify.exit_code, 0) << "round " << round << ": " << verify.output;

    if (!server.Start()) {
      ADD_FAILURE() << "round " << round << ": the server does not restart\n" << server.StderrLog();
      return false;
    }
    Api api(server.url(), member);  // the tokens survive the restart
    Reply r = api.Get("/v1/vms");
    if (r.status != 200) {
      ADD_FAILURE() << "round " << round << ": " << r.Describe();
      return false;
    }
    std::map<std::string, std::string> listed;
    for (const auto& vm : r.body["vms"]) listed[vm.value("id", "")] = vm.value("name", "");
    std::set<std::string> stored;
    for (const auto& [id, vm] : check.vms) stored.insert(id);
    std::set<std::string> listed_ids;
    for (const auto& [id, name] : listed) listed_ids.insert(id);
    EXPECT_EQ(listed_ids, stored) << "round " << round
                                  << ": the API and the file disagree after the restart";
    Reconcile(listed, known, round);
    return true;
  };

  for (int round = 0; round < kRounds; ++round) {
    if (round > 0 && !check_after_kill(round)) return;
    // Deal the live VMs out to the clients: each deletes only its own.
    std::vector<std::vector<std::string>> own(kClients);
    int next = 0;
    for (const auto& [id, name] : known.live) own[next++ % kClients].push_back(id);

    std::vector<ClientLog> logs(kClients);
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      const uint64_t seed = master();
      clients.emplace_back([&, c, seed] {
        std::mt19937_64 rng(seed);
        Api api(server.url(), member);
        std::vector<std::string> live = own[c];
        ClientLog& log = logs[c];
        for (int i = 0; !stop.load(); ++i) {
          if (live.empty() || std::uniform_int_distribution<int>(0, 99)(rng) < 60) {
            const std::string name =
                "r" + std::to_string(round) + "-c" + std::to_string(c) + "-" + std::to_string(i);
            Reply r = api.Post("/v1/vms", SmallVm(rng, name));
            if (r.status == 201 && r.is_json()) {
              log.created[r.body.value("id", "")] = name;
              live.push_back(r.body.value("id", ""));
            } else if (r.status == 0) {
              log.uncertain_creates.insert(name);
              break;  // the server is gone: this create stays in flight
            } else if (r.status != 409) {
              log.unexpected.push_back(r.Describe());
            }
          } else {
            const size_t k = std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng);
            const std::string id = live[k];
            live.erase(live.begin() + static_cast<long>(k));
            Reply r = api.Delete("/v1/vms/" + id);
            if (r.status == 200) {
              log.deleted.insert(id);
            } else if (r.status == 0) {
              log.uncertain_deletes.insert(id);
              break;  // the server is gone: this delete stays in flight
            } else {
              log.unexpected.push_back(r.Describe());
            }
          }
        }
      });
    }
    // The fault: SIGKILL after a seeded delay (a sleep on purpose: it is the injected timing,
    // not a wait for a condition).
    const int delay_ms = std::uniform_int_distribution<int>(50, 400)(master);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    EXPECT_TRUE(server.Alive()) << "round " << round << ": the server died before the kill\n"
                                << server.StderrLog();
    server.Kill();
    stop = true;
    for (std::thread& t : clients) t.join();

    int acked = 0;
    for (const ClientLog& log : logs) {
      for (const auto& [id, name] : log.created) known.live[id] = name;
      acked += static_cast<int>(log.created.size() + log.deleted.size());
      total_acked_creates += static_cast<int>(log.created.size());
      total_acked_deletes += static_cast<int>(log.deleted.size());
      total_uncertain +=
          static_cast<int>(log.uncertain_creates.size() + log.uncertain_deletes.size());
      known.uncertain_creates.insert(log.uncertain_creates.begin(), log.uncertain_creates.end());
      known.uncertain_deletes.insert(log.uncertain_deletes.begin(), log.uncertain_deletes.end());
      for (const std::string& u : log.unexpected) ADD_FAILURE() << "round " << round << ": " << u;
    }
    for (const ClientLog& log : logs) {
      for (const std::string& id : log.deleted) {
        known.live.erase(id);
        known.deleted.insert(id);
      }
    }
    std::printf("[ round %2d ] killed after %3d ms: %d acknowledged writes, %zu live\n", round,
                delay_ms, acked, known.live.size());
  }
  ASSERT_TRUE(check_after_kill(kRounds));
  ASSERT_TRUE(server.Stop());
  std::printf(
      "[ crash ] %d rounds: %d creates and %d deletes acknowledged, %d in flight at kills "
      "(%d creates and %d deletes of them had committed)\n",
      kRounds, total_acked_creates, total_acked_deletes, total_uncertain,
      known.inflight_creates_committed, known.inflight_deletes_committed);
  // The rounds must have done real work for the checks to mean anything.
  EXPECT_GT(total_acked_creates, 100);
  EXPECT_GT(total_acked_deletes, 30);
}

}  // namespace
}  // namespace devshare::it
