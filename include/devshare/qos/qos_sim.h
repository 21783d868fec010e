// The QoS simulator behind `devshare qos-sim`: deterministic discrete-event runs (virtual clock,
// seeded) of clients and servers, the chosen scheduler next to fifo (dmclock's dmc_sim vs
// ssched_sim without the wall clock). Format and cost model: docs/qos.md.
// Thread-safety: a run touches only its own state; concurrent runs are independent.
#ifndef DEVSHARE_QOS_QOS_SIM_H_
#define DEVSHARE_QOS_QOS_SIM_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/qos/scheduler.h"

namespace devshare::qos {

// What a server's `iops` counts. kCost (default): a request of cost c occupies the server for
// c / iops seconds, so capacity is in the same cost units as the tags. kRequests: every request
// takes 1 / iops whatever its cost (dmclock's simulator, and reference qos.md §1.8's hand model).
enum class CapacityUnit { kCost, kRequests };

enum class ServerSelect { kRoundRobin, kRandom };

struct SimCapacityChange {
  Duration at{0};
  double iops = 0;
};

struct SimServer {
  std::string id;
  double iops = 0;
  std::vector<SimCapacityChange> changes;  // sorted by `at`
};

struct SimQosChange {
  Duration at{0};
  ClientQos qos;  // the full new values (fields left out of the config keep the old ones)
};

struct SimClient {
  std::string id;
  Duration start{0};
  std::optional<Duration> stop;  // no new requests from then on
  ClientQos qos;
  uint32_t cost = 1;
  int outstanding = 32;  // requests in flight at most
  // 0: always backlogged (a new request the moment one completes). Otherwise Poisson arrivals
  // at this many requests per second; arrivals beyond `outstanding` wait at the client.
  double iops_goal = 0;
  int64_t total_ops = 0;             // stop after this many requests; 0 = no bound
  std::vector<std::string> servers;  // the servers it uses; empty = all
  std::vector<SimQosChange> changes;
};

struct SimConfig {
  Duration duration{0};
  uint64_t seed = 1;
  std::string scheduler = "mclock";
  AtLimit at_limit = AtLimit::kWait;
  Duration reject_threshold{0};
  Duration anticipation_timeout{0};
  Duration bucket = std::chrono::seconds(1);
  CapacityUnit capacity_unit = CapacityUnit::kCost;
  ServerSelect server_select = ServerSelect::kRoundRobin;
  // With several servers, send dmClock's delta/rho with each request (false: plain mClock per
  // server, for comparison).
  bool dmclock = true;
  std::vector<SimServer> servers;
  std::vector<SimClient> clients;
};

// Parses and validates a JSON config. Errors are InvalidArgument "<source>: <field path>: ..."
// naming the offending field, e.g. "sim.json: clients[1].weight: ..."; unknown fields are errors.
// `known_schedulers` are the names the `scheduler` field may take.
Result<SimConfig> ParseSimConfig(std::string_view json, const std::string& source,
                                 const std::vector<std::string>& known_schedulers);

// Validation of an already built config (ParseSimConfig calls it): ids, ranges, QoS values.
Status ValidateSimConfig(const SimConfig& config, const std::string& source);

// Non-fatal advice, such as the large-weight pitfall (WeightClampWarning) for each client.
std::vector<std::string> SimConfigWarnings(const SimConfig& config);

struct SimClientResult {
  std::string id;
  uint64_t total_ops = 0;  // completed within the run
  uint64_t res_ops = 0;    // of which served in the reservation phase
  uint64_t prop_ops = 0;   // of which served in the weight (proportional) phase
  uint64_t rejected_ops = 0;
  std::vector<double> ops_per_s;  // completions per bucket / bucket length
  double mean_latency_ms = 0;     // issue to completion
  double p99_latency_ms = 0;
};

struct SimServerResult {
  std::string id;
  uint64_t total_ops = 0;
  uint64_t res_ops = 0;
  uint64_t prop_ops = 0;
  std::vector<uint64_t> ops_by_client;  // in config order
  std::vector<uint64_t> res_ops_by_client;
};

struct SimRunResult {
  std::string scheduler;
  std::vector<SimClientResult> clients;  // in config order
  std::vector<SimServerResult> servers;  // in config order
  uint64_t events = 0;
};

struct SimReport {
  SimConfig config;
  SimRunResult primary;  // the configured scheduler
  SimRunResult fifo;     // the baseline on the same config
  std::vector<std::string> warnings;
};

// Runs `config.scheduler` and "fifo" from `registry` on the same config: clients send requests
// to servers whose capacity may change; the report has per-client throughput per time bucket,
// totals and phase counts. REQUIRES: config validated.
Result<SimReport> RunQosSim(const SimConfig& config, const SchedulerRegistry& registry);
// One run with the named scheduler.
Result<SimRunResult> RunQosSimOnce(const SimConfig& config, const SchedulerRegistry& registry,
                                   std::string_view scheduler);

// Human-readable tables (dmc_sim style: one row per bucket, one column per client).
std::string FormatSimReportText(const SimReport& report);
// {"clients": [{"id", "total_ops", "res_ops", "prop_ops", "ops_per_s": [...], ...}],
//  "fifo": {"clients": [...]}, plus run metadata}.
std::string FormatSimReportJson(const SimReport& report);

// Mean ops/s of one client over buckets [from, to) of a run; for tests and docs.
double MeanOpsPerSecond(const SimClientResult& client, size_t from_bucket, size_t to_bucket);

}  // namespace devshare::qos

#endif  // DEVSHARE_QOS_QOS_SIM_H_
