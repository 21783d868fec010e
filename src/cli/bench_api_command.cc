// `devshare bench api`: sustained VM create+delete throughput and latency of the REST API with
// many keep-alive clients against a server on loopback (in-process on a temp SQLite file by
// default, or an external one with --url).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/flags.h"
#include "devshare/core/random.h"
#include "devshare/sim/stats.h"
#include "server/control_plane.h"
#include "server/http_api.h"

namespace devshare::cli {
namespace {

constexpr const char* kUsage =
    "usage: devshare bench api [--hosts 1000] [--clients 32] [--seconds 10] [--seed 42]\n"
    "                          [--db sqlite:PATH|postgresql://...] [--replicas 1] [--keep-db]\n"
    "  starts the control plane on 127.0.0.1 (SQLite, synchronous=FULL, in a temp folder\n"
    "  unless --db), registers --hosts hosts of 64 CPUs / 256 GiB / 8 GPUs, then --clients\n"
    "  keep-alive clients each create a VM and delete it again, for --seconds; prints\n"
    "  requests/s, create+delete pairs/s and latency percentiles per operation.\n"
    "  --replicas N: N control planes on the one --db (docs/scale-out.md), each on its own\n"
    "  port; client i talks to replica i mod N.\n";

struct Sample {
  std::vector<double> create_ms, delete_ms;
  int64_t failures = 0;
  std::string first_failure;
};

// doc[key] when doc is an object holding a string there, else "".
std::string StringOf(const nlohmann::json& doc, const char* key) {
  if (!doc.is_object() || !doc.contains(key) || !doc[key].is_string()) return "";
  return doc[key].get<std::string>();
}

}  // namespace

int RunBenchApiCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"hosts", "clients", "seconds", "seed", "db", "replicas"},
                            {"help", "keep-db"});
  if (!flags.ok()) return Fail("bench api", flags.status());
  if (flags->Has("help")) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  auto hosts = flags->GetInt("hosts", 1000, 1, 100000);
  auto clients = flags->GetInt("clients", 32, 1, 512);
  auto seconds = flags->GetInt("seconds", 10, 1, 3600);
  auto seed = flags->GetInt("seed", 42, 0, INT64_MAX);
  auto replicas = flags->GetInt("replicas", 1, 1, 16);
  for (const Status& s :
       {hosts.status(), clients.status(), seconds.status(), seed.status(), replicas.status()}) {
    if (!s.ok()) return Fail("bench api", s);
  }
  std::error_code ec;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("devshare-bench-api-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir, ec);
  ServeConfig config;
  config.listen = "127.0.0.1:0";
  config.db = flags->Get("db", "sqlite:" + (dir / "bench.db").string());
  config.admin_token_file = (dir / "admin.token").string();
  config.threads = static_cast<int>(*clients) + 8;
  if (*replicas > 1 && config.db.rfind("memory:", 0) == 0) {
    return Fail("bench api",
                Status::InvalidArgument("--replicas: a memory: store cannot be shared"));
  }
  // The replicas: one control plane each, on the one store, the same admin token.
  std::vector<std::unique_ptr<ServerBundle>> bundles;
  for (int64_t i = 0; i < *replicas; ++i) {
    config.replica_index = i;
    Result<std::unique_ptr<ServerBundle>> b = StartServer(config);
    if (!b.ok()) return Fail("bench api", b.status());
    bundles.push_back(std::move(b).value());
  }
  std::string admin;
  std::ifstream(config.admin_token_file) >> admin;
  const std::string url = bundles[0]->url;
  for (const auto& b : bundles) {
    std::fprintf(stderr, "bench api: server %s, store %s\n", b->url.c_str(), config.db.c_str());
  }

  // One keep-alive ApiClient per thread. The URL is a server's own, so Create cannot fail.
  auto client_of = [&](const std::string& token, const std::string& server) {
    ApiClientOptions options;
    options.connect_timeout_s = 30;
    options.read_timeout_s = 30;
    options.keep_alive = true;
    return std::make_unique<ApiClient>(*ApiClient::Create(server, token, options));
  };
  auto client = [&](const std::string& token) { return client_of(token, url); };
  // "STATUS BODY" of a refused call, or "transport: why" when there was no answer.
  auto failure = [](const ApiClient& c, const Status& s) {
    const ApiError& e = c.last_error();
    return e.http_status != 0 ? std::to_string(e.http_status) + " " + e.body
                              : "transport: " + s.message();
  };
  // Hosts, registered by --clients threads in parallel (group commit batches them).
  const auto t_hosts = std::chrono::steady_clock::now();
  std::atomic<int64_t> next_host{0};
  std::atomic<int64_t> host_errors{0};
  std::mutex first_error_mu;
  std::string first_error;
  {
    std::vector<std::thread> ts;
    for (int64_t c = 0; c < *clients; ++c) {
      ts.emplace_back([&] {
        auto cli = client(admin);
        for (int64_t i; (i = next_host++) < *hosts;) {
          nlohmann::json body = {
              {"cpu_milli", 64000}, {"memory_mib", 262144}, {"gpus", nlohmann::json::array()}};
          for (int g = 0; g < 8; ++g) {
            body["gpus"].push_back({{"id", "gpu" + std::to_string(g)}, {"model", "A100"}});
          }
          char name[32];
          std::snprintf(name, sizeof name, "h%05lld", static_cast<long long>(i));
          Result<ApiReply> r = cli->PutHost(name, body.dump());
          if (!r.ok() || (r->http_status != 201 && r->http_status != 200)) {
            if (host_errors++ == 0) {
              std::lock_guard<std::mutex> lock(first_error_mu);
              first_error = r.ok() ? std::to_string(r->http_status) + " " + r->body
                                   : failure(*cli, r.status());
            }
          }
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  if (host_errors > 0) {
    return Fail("bench api", Status::Internal(std::to_string(host_errors.load()) +
                                              " host registrations failed; first: " + first_error));
  }
  std::fprintf(stderr, "bench api: %lld hosts registered in %.2f s\n",
               static_cast<long long>(*hosts),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t_hosts).count());
  auto admin_cli = client(admin);
  Result<ApiReply> tr = admin_cli->CreateTenant("bench");
  if (!tr.ok() || tr->http_status != 201) {
    return Fail("bench api", Status::Internal("tenant create failed"));
  }
  const std::string tenant = StringOf(tr->doc, "id");
  Result<ApiReply> kr = admin_cli->CreateToken(tenant, "member");
  if (!kr.ok() || kr->http_status != 201) {
    return Fail("bench api", Status::Internal("token create failed"));
  }
  const std::string member = StringOf(kr->doc, "token");
  if (bundles.size() > 1) {
    // The other replicas follow the store's change feed: wait until each knows the token.
    for (const auto& b : bundles) {
      auto cli = client_of(member, b->url);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (true) {
        Result<ApiReply> r = cli->ListVms();
        if (r.ok() && r->http_status == 200) break;
        if (std::chrono::steady_clock::now() > deadline) {
          return Fail("bench api", Status::Unavailable("replica " + b->url +
                                                       " did not learn the bench token in 30 s"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }

  std::vector<Sample> samples(*clients);
  std::atomic<bool> stop{false};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  for (int64_t c = 0; c < *clients; ++c) {
    ts.emplace_back([&, c] {
      auto cli = client_of(member, bundles[static_cast<size_t>(c) % bundles.size()]->url);
      Random rng(static_cast<uint64_t>(*seed) * 1000003 + static_cast<uint64_t>(c));
      Sample& s = samples[c];
      int64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        nlohmann::json body = {{"name", "b" + std::to_string(c) + "-" + std::to_string(n++)},
                               {"cpu_milli", 1000 + 1000 * static_cast<int64_t>(rng.Uniform(4))},
                               {"memory_mib", 2048 * (1 + static_cast<int64_t>(rng.Uniform(4)))}};
        if (rng.Uniform(2) == 0) {
          body["gpu"] = {{"count", 1}, {"milli", 100 * (1 + static_cast<int64_t>(rng.Uniform(5)))}};
        }
        auto a = std::chrono::steady_clock::now();
        Result<ApiReply> r = cli->CreateVm(body);
        auto b = std::chrono::steady_clock::now();
        if (!r.ok() || r->http_status != 201) {
          if (s.failures++ == 0) {
            s.first_failure =
                r.ok() ? std::to_string(r->http_status) + " " + r->body : failure(*cli, r.status());
          }
          continue;
        }
        s.create_ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
        const std::string id = StringOf(r->doc, "id");
        a = std::chrono::steady_clock::now();
        Result<ApiReply> d = cli->DeleteVm(id);
        b = std::chrono::steady_clock::now();
        if (!d.ok() || d->http_status != 200) {
          if (s.failures++ == 0) {
            s.first_failure = d.ok() ? d->body : "on delete: " + failure(*cli, d.status());
          }
          continue;
        }
        s.delete_ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(*seconds));
  stop = true;
  for (auto& t : ts) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  Sample all;
  for (Sample& s : samples) {
    all.create_ms.insert(all.create_ms.end(), s.create_ms.begin(), s.create_ms.end());
    all.delete_ms.insert(all.delete_ms.end(), s.delete_ms.begin(), s.delete_ms.end());
    all.failures += s.failures;
    if (all.first_failure.empty()) all.first_failure = s.first_failure;
  }
  std::vector<double> both = all.create_ms;
  both.insert(both.end(), all.delete_ms.begin(), all.delete_ms.end());
  server::ControlPlaneStats st;
  for (const auto& b : bundles) {
    const server::ControlPlaneStats one = b->control_plane->Stats();
    st.commits += one.commits;
    st.committed_ops += one.committed_ops;
    st.cas_retries += one.cas_retries;
    st.catchups_applied += one.catchups_applied;
    st.catchups_reloaded += one.catchups_reloaded;
    st.max_batch_seen = std::max(st.max_batch_seen, one.max_batch_seen);
  }
  std::printf("bench api: %lld hosts, %lld keep-alive clients, %lld replica(s), %.1f s, store %s\n",
              static_cast<long long>(*hosts), static_cast<long long>(*clients),
              static_cast<long long>(bundles.size()), wall, config.db.c_str());
  std::printf("%-10s %10s %10s %10s %10s %10s\n", "operation", "count", "per s", "p50 ms", "p99 ms",
              "max ms");
  auto row = [&](const char* name, const std::vector<double>& v) {
    std::printf("%-10s %10zu %10.0f %10.2f %10.2f %10.2f\n", name, v.size(),
                static_cast<double>(v.size()) / wall, sim::Quantile(v, 0.5), sim::Quantile(v, 0.99),
                sim::Quantile(v, 1.0));
  };
  row("create", all.create_ms);
  row("delete", all.delete_ms);
  row("all", both);
  std::printf(
      "create+delete pairs/s: %.0f; failures: %lld; group commits: %lld (%.1f ops each, "
      "max %lld); stale-generation retries: %lld; catch-ups row by row %lld, by reload %lld\n",
      static_cast<double>(all.delete_ms.size()) / wall, static_cast<long long>(all.failures),
      static_cast<long long>(st.commits),
      st.commits ? static_cast<double>(st.committed_ops) / st.commits : 0.0,
      static_cast<long long>(st.max_batch_seen), static_cast<long long>(st.cas_retries),
      static_cast<long long>(st.catchups_applied), static_cast<long long>(st.catchups_reloaded));
  if (all.failures > 0) std::printf("first failure: %s\n", all.first_failure.c_str());
  bundles.clear();
  if (!flags->Has("keep-db")) std::filesystem::remove_all(dir, ec);
  return all.failures > 0 ? kExitFailure : kExitOk;
}

}  // namespace devshare::cli
