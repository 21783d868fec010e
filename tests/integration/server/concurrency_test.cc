// Test 1: 32 clients x 500 mixed create/delete requests against 8 tight hosts; afterwards the
// offline invariant checker (capacity, GPU sharing, orphans, audit chain and replay) and the
// acknowledged answers must agree exactly with the stored state.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/server/server_process.h"
#include "tests/integration/server/test_util.h"

namespace devshare::it {
namespace {

constexpr int kThreads = 32;
constexpr int kRequestsPerThread = 500;

// A random VM shape: ~40 % CPU-only, ~35 % one shared GPU (100-900 milli), ~25 % 1-2 whole GPUs.
nlohmann::json RandomVm(std::mt19937_64& rng, const std::string& name) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  nlohmann::json vm = {
      {"name", name}, {"cpu_milli", pick(1, 16) * 250}, {"memory_mib", pick(1, 16) * 1024}};
  const int64_t kind = pick(0, 99);
  if (kind < 40) {
    // CPU only
  } else if (kind < 75) {
    vm["gpu"] = {{"count", 1}, {"milli", pick(100, 900)}};
  } else {
    vm["gpu"] = {{"count", pick(1, 2)}, {"milli", 1000}};
  }
  return vm;
}

struct ThreadLog {
  std::vector<std::string> created;  // ids answered 201
  std::vector<std::string> deleted;  // ids answered 200 to DELETE
  int creates = 0, deletes = 0;
  int create_rejected = 0;              // 409 unschedulable
  std::vector<std::string> unexpected;  // any other answer
};

TEST(ServerConcurrency, ThirtyTwoClientsKeepEveryInvariant) {
  TempFolder tmp("concurrency");
  ServerProcess server(tmp.path());
  ASSERT_TRUE(server.Start());
  const auto t0 = std::chrono::steady_clock::now();

  // 8 hosts: h3 overcommits CPU 2x, h5 reserves 2 cores and 4 GiB for itself.
  std::string member;
  {
    Api admin(server.url(), server.AdminToken());
    for (int h = 0; h < 8; ++h) {
      nlohmann::json inv = h == 3   ? TightHost(2.0)
                           : h == 5 ? TightHost(1.0, 2000, 4096)
                                    : TightHost();
      ASSERT_EQ(PutHost(admin, "h" + std::to_string(h), inv), 201);
    }
    const std::string tenant = CreateTenant(admin, "acme");
    ASSERT_FALSE(tenant.empty());
    member = CreateToken(admin, tenant, "member");
    ASSERT_FALSE(member.empty());
  }

  std::vector<ThreadLog> logs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ThreadLog& log = logs[t];
      std::mt19937_64 rng(0xC0FFEE + static_cast<uint64_t>(t));  // deterministic per thread
      Api api(server.url(), member);
      std::vector<std::string> live;
      for (int i = 0; i < kRequestsPerThread; ++i) {
        const bool create = live.empty() || std::uniform_int_distribution<int>(0, 99)(rng) < 60;
        if (create) {
          ++log.creates;
          const std::string name = "c" + std::to_string(t) + "-" + std::to_string(i);
          Reply r = api.Post("/v1/vms", RandomVm(rng, name));
          if (r.status == 201 && r.is_json() && r.body.contains("id")) {
            live.push_back(r.body["id"]);
            log.created.push_back(r.body["id"]);
          } else if (r.status == 409 && r.is_json() &&
                     r.body.value("code", "") == "unschedulable") {
            ++log.create_rejected;
          } else {
            log.unexpected.push_back(r.Describe());
          }
        } else {
          ++log.deletes;
          const size_t k = std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng);
          const std::string id = live[k];
          Reply r = api.Delete("/v1/vms/" + id);
          if (r.status == 200) {
            live.erase(live.begin() + static_cast<long>(k));
            log.deleted.push_back(id);
          } else {
            log.unexpected.push_back(r.Describe());
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::set<std::string> expected_live;
  int created = 0, deleted = 0, rejected = 0, total = 0;
  std::vector<std::string> unexpected;
  for (const ThreadLog& log : logs) {
    for (const std::string& id : log.created) {
      EXPECT_TRUE(expected_live.insert(id).second) << "id " << id << " answered 201 twice";
    }
    created += static_cast<int>(log.created.size());
    rejected += log.create_rejected;
    total += log.creates + log.deletes;
    unexpected.insert(unexpected.end(), log.unexpected.begin(), log.unexpected.end());
  }
  for (const ThreadLog& log : logs) {
    for (const std::string& id : log.deleted) {
      EXPECT_EQ(expected_live.erase(id), 1u) << "deleted " << id << " was never created";
      ++deleted;
    }
  }
  std::printf(
      "[ load ] %d requests in %.1f s: %d created, %d unschedulable, %d deleted, %zu live\n", total,
      load_s, created, rejected, deleted, expected_live.size());
  EXPECT_EQ(total, kThreads * kRequestsPerThread);
  EXPECT_TRUE(unexpected.empty()) << unexpected.size() << " unexpected answers, e.g.:\n"
                                  << (unexpected.empty() ? "" : unexpected.front());
  // The mix must exercise both sides of the capacity check.
  EXPECT_GT(created, 500);
  EXPECT_GT(rejected, 100);

  // The live view through the API equals the acknowledged set.
  {
    Api api(server.url(), member);
    Reply r = api.Get("/v1/vms");
    ASSERT_EQ(r.status, 200) << r.Describe();
    std::set<std::string> listed;
    for (const auto& vm : r.body["vms"]) listed.insert(vm.value("id", std::string()));
    EXPECT_EQ(listed, expected_live);
  }

  ASSERT_TRUE(server.Stop());
  StoreCheck check = CheckStore(server.db_path());
  EXPECT_TRUE(check.violations.empty()) << check.Summary();
  std::set<std::string> stored;
  for (const auto& [id, vm] : check.vms) stored.insert(id);
  std::vector<std::string> missing, extra;
  std::set_difference(expected_live.begin(), expected_live.end(), stored.begin(), stored.end(),
                      std::back_inserter(missing));
  std::set_difference(stored.begin(), stored.end(), expected_live.begin(), expected_live.end(),
                      std::back_inserter(extra));
  EXPECT_TRUE(missing.empty()) << missing.size() << " acknowledged VMs are missing, e.g. "
                               << (missing.empty() ? "" : missing.front());
  EXPECT_TRUE(extra.empty()) << extra.size() << " VMs are stored that were deleted (or never "
                             << "acknowledged), e.g. " << (extra.empty() ? "" : extra.front());
  // One audit record per answered mutation: every 201, every 409, every 200 of a DELETE.
  EXPECT_EQ(check.audit_counts["vm.create ok"], created);
  EXPECT_EQ(check.audit_counts["vm.create unschedulable"], rejected);
  EXPECT_EQ(check.audit_counts["vm.delete ok"], deleted);

  ProcessResult verify = RunProcess({DevshareBinary(), "audit", "verify", "--db", server.db_url()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find("OK"), std::string::npos) << verify.output;
}

}  // namespace
}  // namespace devshare::it
