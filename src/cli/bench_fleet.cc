// BenchFleet; see bench_fleet.h.
#include "cli/bench_fleet.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "cli/flags.h"

namespace devshare::cli {
namespace {

volatile sig_atomic_t g_interrupted = 0;
void OnSignal(int) { g_interrupted = 1; }

}  // namespace

bool BenchFleet::Interrupted() { return g_interrupted != 0; }

Result<std::unique_ptr<BenchFleet>> BenchFleet::Start(const std::filesystem::path& dir,
                                                      const std::string& host, AgentConfig a) {
  std::unique_ptr<BenchFleet> f(new BenchFleet());
  g_interrupted = 0;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &f->old_int_);
  sigaction(SIGTERM, &sa, &f->old_term_);
  f->handlers_set_ = true;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ServeConfig config;
  config.listen = "127.0.0.1:0";
  config.db = "sqlite:" + (dir / "bench.db").string();
  config.admin_token_file = (dir / "admin.token").string();
  DS_ASSIGN_OR_RETURN(f->bundle_, StartServer(config));
  std::string admin;
  std::ifstream(config.admin_token_file) >> admin;
  f->client_ = std::make_unique<BenchClient>(f->bundle_->url, admin);
  f->host_ = host;
  DS_ASSIGN_OR_RETURN(nlohmann::json token,
                      f->client_->Call("POST", "/v1/hosts/" + host + "/tokens"));
  a.server_url = f->bundle_->url;
  a.token = token.value("token", "");
  a.name = host;
  a.runtime_dir = (dir / "run").string();
  a.log = [mu = f->log_mu_, log = f->log_](const std::string& line) {
    std::lock_guard<std::mutex> lock(*mu);
    log->push_back(line);
  };
  f->prefix_ = a.domain_prefix;
  DS_ASSIGN_OR_RETURN(f->agent_, AgentRun::Start(std::move(a)));
  const BenchClock::time_point t0 = BenchClock::now();
  for (;;) {
    Result<nlohmann::json> h = f->client_->Call("GET", "/v1/hosts/" + host);
    if (h.ok() && h->value("status", "") == "ready") return f;
    Status why;
    if (f->agent_->Failed(&why)) return Status::Unavailable("agent: " + why.message());
    if (MsSince(t0) > 60'000) {
      return Status::Unavailable(host + " never became ready" + f->AgentLogTail(8));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

BenchFleet::~BenchFleet() { Stop(); }

Result<std::string> BenchFleet::CreateVm(const nlohmann::json& body) {
  DS_ASSIGN_OR_RETURN(nlohmann::json vm, client_->Call("POST", "/v1/vms", body.dump()));
  vms_.push_back(vm.value("id", ""));
  return vms_.back();
}

Status BenchFleet::PollConsoles(const std::string& marker, double timeout_ms,
                                std::vector<std::string>& consoles) {
  consoles.resize(vms_.size());
  const BenchClock::time_point start = BenchClock::now();
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < vms_.size(); ++i) {
      if (consoles[i].find(marker) != std::string::npos) continue;
      all = false;
      Result<nlohmann::json> c = client_->Call(
          "GET", "/v1/vms/" + vms_[i] + "/console?offset=" + std::to_string(consoles[i].size()));
      if (c.ok()) consoles[i] += c->value("data", "");
      Result<nlohmann::json> v = client_->Call("GET", "/v1/vms/" + vms_[i]);
      if (v.ok() && v->value("state", "") == "failed") {
        return Status::Unavailable("vm " + vms_[i] + " failed: " + v->value("state_detail", ""));
      }
    }
    if (all) return Status::Ok();
    if (Interrupted()) return Status::Aborted("interrupted");
    if (MsSince(start) > timeout_ms) {
      return Status::Unavailable("no '" + marker + "' on every guest console after " +
                                 std::to_string(static_cast<int>(timeout_ms / 1000)) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void BenchFleet::Stop() {
  if (bundle_ != nullptr) {
    if (Interrupted()) std::fprintf(stderr, "interrupted: deleting %zu guests\n", vms_.size());
    for (const std::string& id : vms_) (void)client_->Call("DELETE", "/v1/vms/" + id);
    const BenchClock::time_point t = BenchClock::now();
    while (!vms_.empty() && MsSince(t) < 120'000) {
      Result<nlohmann::json> list = client_->Call("GET", "/v1/vms");
      if (list.ok() && list->value("vms", nlohmann::json::array()).empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    vms_.clear();
    if (agent_ != nullptr) agent_->Stop();
    agent_.reset();
    client_.reset();
    bundle_.reset();
  }
  if (handlers_set_) {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    handlers_set_ = false;
  }
}

std::string BenchFleet::AgentLogTail(size_t n) const {
  std::lock_guard<std::mutex> lock(*log_mu_);
  std::string tail;
  for (size_t i = log_->size() > n ? log_->size() - n : 0; i < log_->size(); ++i) {
    tail += "\n  agent: " + (*log_)[i];
  }
  return tail;
}

Result<std::vector<int64_t>> BenchIntList(const std::string& s, const std::string& flag, int n,
                                          int64_t fallback, int64_t min) {
  std::vector<int64_t> out;
  if (!s.empty()) {
    DS_ASSIGN_OR_RETURN(std::vector<std::string> items, ParseList(s, flag));
    for (const std::string& it : items) {
      char* end = nullptr;
      const long long v = std::strtoll(it.c_str(), &end, 10);
      if (end == it.c_str() || *end != '\0' || v < min) {
        return Status::InvalidArgument("--" + flag + " " + s + ": '" + it +
                                       "' is not an integer >= " + std::to_string(min));
      }
      out.push_back(v);
    }
  }
  if (static_cast<int>(out.size()) > n) {
    return Status::InvalidArgument("--" + flag + " has " + std::to_string(out.size()) +
                                   " values for " + std::to_string(n) + " guests");
  }
  while (static_cast<int>(out.size()) < n) out.push_back(fallback);
  return out;
}

}  // namespace devshare::cli
