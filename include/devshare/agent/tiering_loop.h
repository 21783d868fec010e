// TieringLoop: the host agent's tiering controller. Every period it samples the volume server's
// stats (each export's heat and whether a live move runs) and the agent's realized volumes
// (which VM and pool each belongs to), runs host::TieringPolicy over them and asks the control
// plane to migrate at most one volume (the same API as `devshare volume migrate`, with the
// agent's token); the ledger checks capacity and the agent then moves the volume live like any
// desired-state change. docs/storage.md, "Tiering".
// Thread-safety: Start/Stop from the owner; Step runs on the loop's thread (or a test's).
#ifndef DEVSHARE_AGENT_TIERING_LOOP_H_
#define DEVSHARE_AGENT_TIERING_LOOP_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "devshare/core/clock.h"
#include "devshare/core/result.h"
#include "devshare/host/host_agent.h"
#include "devshare/host/storage_pool.h"
#include "devshare/host/tiering_policy.h"
#include "devshare/host/volume_server.h"

namespace devshare::agent {

// POST /v1/vms/{vm}/volumes/{volume}/migrate {"tier": tier}; the server's refusal as a Status.
using MigrateVolumeFn = std::function<Status(const std::string& vm, const std::string& volume,
                                             const std::string& tier)>;

struct TieringLoopOptions {
  std::chrono::milliseconds period{10'000};
  host::TieringOptions policy;
  std::function<void(const std::string&)> log;  // may be empty
};

// The policy's input from what the agent sees: pools (usage = the exports on them), volumes
// (heat and moves from the stats file, keyed by export). Volumes on pools without devshare's
// data path (scheduler none) are left out: they cannot move live.
void TieringSample(const std::vector<host::StoragePool>& pools,
                   const std::vector<host::HostAgent::RealizedVolume>& realized,
                   const std::vector<host::VolumeExport>& exports, const nlohmann::json& stats,
                   std::vector<host::TieringPool>* pool_out,
                   std::vector<host::TieringVolume>* volume_out);

class TieringLoop {
 public:
  // REQUIRES: agent, server and clock outlive the loop.
  TieringLoop(host::HostAgent& agent, host::VolumeServer& server,
              std::vector<host::StoragePool> pools, MigrateVolumeFn migrate, Clock& clock,
              TieringLoopOptions options);
  ~TieringLoop();  // Stop()

  void Start();  // the thread: Step() every period
  void Stop();
  // One sample and at most one migrate call; the move asked for, if any.
  std::optional<host::TieringMove> Step();

 private:
  void Log(const std::string& line) const;

  host::HostAgent& agent_;
  host::VolumeServer& server_;
  std::vector<host::StoragePool> pools_;
  MigrateVolumeFn migrate_;
  Clock& clock_;
  TieringLoopOptions options_;
  host::TieringPolicy policy_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace devshare::agent

#endif  // DEVSHARE_AGENT_TIERING_LOOP_H_
