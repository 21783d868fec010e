// BenchClient: the HTTP client of the fleet benchmarks (`bench vm-start`, `bench io`): JSON calls
// on the in-process control plane with the admin token, and elapsed-time helpers.
// Thread-safety: one client per thread (httplib::Client is not shared).
#ifndef DEVSHARE_CLI_BENCH_CLIENT_H_
#define DEVSHARE_CLI_BENCH_CLIENT_H_

#include <httplib.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "devshare/core/result.h"

namespace devshare::cli {

using BenchClock = std::chrono::steady_clock;

inline double MsSince(BenchClock::time_point t) {
  return std::chrono::duration<double, std::milli>(BenchClock::now() - t).count();
}

class BenchClient {
 public:
  BenchClient(const std::string& url, const std::string& admin_token)
      : cli_(std::make_unique<httplib::Client>(url)) {
    cli_->set_keep_alive(true);
    cli_->set_tcp_nodelay(true);
    cli_->set_read_timeout(120, 0);
    cli_->set_default_headers({{"Authorization", "Bearer " + admin_token}});
  }
  // METHOD path [body] -> the answer's JSON; Unavailable with the status and body unless 2xx.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const std::string& body = "") {
    httplib::Result r = method == "POST"     ? cli_->Post(path, body, "application/json")
                        : method == "DELETE" ? cli_->Delete(path)
                                             : cli_->Get(path);
    if (!r) return Status::Unavailable(method + " " + path + ": no answer");
    if (r->status / 100 != 2) {
      return Status::Unavailable(method + " " + path + ": HTTP " + std::to_string(r->status) + " " +
                                 r->body);
    }
    return nlohmann::json::parse(r->body, nullptr, false);
  }

 private:
  std::unique_ptr<httplib::Client> cli_;
};

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_BENCH_CLIENT_H_
