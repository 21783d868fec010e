// ControlPlane: the service behind the REST API, a facade over its parts: the per-resource
// services (tenant_service, host_service, vm_service, volume_service, image_service,
// network_service, and fleet_service for the host agents) that authorise by the one access table
// (authorizer.h) and run the operations, the group committer (group_committer.h) that writes
// every change with its audit record to the Store, and the Ledger they decide against.
//
// Writes are group-committed: request threads queue operations; one writer thread takes all that
// are waiting (up to max_batch), runs each inside its own savepoint of one store transaction
// (decision against the in-memory ledger, host-generation compare-and-swap in the store, audit
// record), commits once (one fsync for the batch) and only then answers every request of the
// batch. A failed commit answers 503 to the whole batch and reloads the ledger from the store,
// so no answer is ever given for a write that is not durable. A stale host generation (another
// writer changed the store) catches the ledger up and retries the operation, up to 10 times, then
// answers 409 concurrent_update. Errors are Status values until api_types.cc maps them to HTTP.
//
// Replicas: several control planes may share one store (postgresql; docs/scale-out.md). A
// follower thread reads the store's change feed every follow_interval_ms and, when a commit of
// another process is newer than what the ledger holds, applies the rows it changed
// (Ledger::ApplyChanges; a reload when they need one); the control plane's own commits advance
// its applied change seq without either.
//
// Thread-safety: all public methods are thread-safe. Reads take a shared lock on the ledger;
// the writer holds the exclusive lock while it runs and commits a batch (no dirty reads).
#ifndef DEVSHARE_SERVER_CONTROL_PLANE_H_
#define DEVSHARE_SERVER_CONTROL_PLANE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "devshare/placement/registry.h"
#include "devshare/store/store.h"
#include "server/api_types.h"
#include "server/console_buffer.h"
#include "server/fleet_service.h"
#include "server/fleet_state.h"
#include "server/group_committer.h"
#include "server/host_service.h"
#include "server/image_service.h"
#include "server/ledger.h"
#include "server/network_service.h"
#include "server/right_sizing.h"
#include "server/service_context.h"
#include "server/tenant_service.h"
#include "server/usage_view.h"
#include "server/vm_service.h"
#include "server/volume_service.h"

namespace devshare::server {

// ControlPlaneOptions: see service_context.h.

// Counters the HTTP layer exports in /metrics.
// The writer's counters (GroupCommitStats) and the ledger's totals.
struct ControlPlaneStats : GroupCommitStats {
  int64_t unaudited_refusals = 0;  // unauthenticated refusals beyond the audit rate
  // Catching up with other control planes on the store: row by row, or by a reload.
  int64_t catchups_applied = 0, catchups_reloaded = 0;
  int64_t tenants = 0, hosts = 0, vms = 0;
  // Every resource of every device kind (cpu, memory, gpu, nic_vf, nic_bandwidth_mbps, and per
  // tier disk_gib and disk_iops), over all hosts.
  std::vector<ResourceTotal> resources;

  // The totals of `resource` (and `tier`, for disk resources); a zero total when absent.
  ResourceTotal Total(const std::string& resource, const std::string& tier = "") const;
};

class ControlPlane {
 public:
  // Loads the ledger from `store` and starts the writer thread. DataLoss when the store holds
  // records the server cannot read back.
  static Result<std::unique_ptr<ControlPlane>> Open(std::unique_ptr<store::Store> store,
                                                    ControlPlaneOptions options);
  ~ControlPlane();  // Shutdown()
  // Finishes the queued operations and stops the writer; later writes answer 503. Reads keep
  // working. Idempotent; after it returns every acknowledged write is committed.
  void Shutdown();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Bearer token -> principal (kAnonymous for an empty token, kBadToken when unknown).
  Principal Authenticate(const std::string& bearer_token) const;

  // Writes one audit record for a request refused before it reached an operation (401, 403,
  // 404 of another tenant's object, malformed body) and returns `refusal`. Unauthenticated
  // refusals are recorded at a bounded rate (ControlPlaneOptions::unauthenticated_audit_per_s).
  ApiResponse AuditRefusal(const Principal& p, const std::string& operation,
                           const std::string& object, ApiResponse refusal);

  // Endpoints. `body` is the raw request body; `idempotency_key` may be empty.
  ApiResponse CreateTenant(const Principal& p, const std::string& body,
                           const std::string& idempotency_key);
  ApiResponse ListTenants(const Principal& p);
  ApiResponse CreateToken(const Principal& p, const std::string& tenant_id, const std::string& body,
                          const std::string& idempotency_key);
  ApiResponse PutHost(const Principal& p, const std::string& name, const std::string& body);
  ApiResponse ListHosts(const Principal& p);
  ApiResponse GetHost(const Principal& p, const std::string& name);
  ApiResponse CreateVm(const Principal& p, const std::string& body,
                       const std::string& idempotency_key);
  ApiResponse ListVms(const Principal& p);
  ApiResponse GetVm(const Principal& p, const std::string& id);
  ApiResponse DeleteVm(const Principal& p, const std::string& id, bool force = false);
  ApiResponse ResizeVm(const Principal& p, const std::string& id, const std::string& body,
                       const std::string& idempotency_key);
  ApiResponse ListAudit(const Principal& p, int64_t after_seq, int64_t limit);

  // The services of the newer endpoints, called by HttpApi directly (answers through
  // ToResponse like the ones above).
  HostService& hosts() { return *hosts_; }
  VmService& vms() { return *vms_; }
  VolumeService& volumes() { return *volumes_; }
  FleetService& fleet() { return *fleet_; }
  ImageService& images() { return *images_; }
  NetworkService& networks() { return *networks_; }

  ControlPlaneStats Stats() const;
  // Ids of the VMs the ledger places on `host`.
  std::vector<std::string> VmIdsOnHost(const std::string& host) const;
  const store::Store& store() const { return *store_; }

 private:
  ControlPlane(std::unique_ptr<store::Store> store, ControlPlaneOptions options);
  // Rebuilds the ledger from the store. REQUIRES: ledger_mu_ held (or no writer yet).
  Status ReloadLedger();
  // Copies the ledger's tokens for Authenticate when they changed. REQUIRES: ledger_mu_ held.
  void PublishTokens();
  // After a commit that took `change_seq`: the ledger holds it too. REQUIRES: ledger_mu_ held.
  void Committed(int64_t change_seq);
  // The follower thread: polls the change feed, catches up on other processes' commits.
  void FollowLoop();
  // Applies the store's changes since applied_change_seq_ to the ledger (Ledger::ApplyChanges),
  // or reloads it when they need that. REQUIRES: ledger_mu_ held.
  Status CatchUp();

  std::unique_ptr<store::Store> store_;
  ControlPlaneOptions options_;
  placement::PluginRegistry registry_;

  mutable std::shared_mutex ledger_mu_;
  Ledger ledger_;  // GUARDED_BY(ledger_mu_)

  // Committed tokens, by hash: Authenticate reads them without waiting for a group commit.
  mutable std::shared_mutex tokens_mu_;
  std::unordered_map<std::string, store::TokenRecord> tokens_;  // GUARDED_BY(tokens_mu_)
  uint64_t published_tokens_version_ = UINT64_MAX;              // writer (ledger_mu_) only

  // The change feed's seq the ledger reflects (written with ledger_mu_ held; read without it by
  // the follower to look for newer commits).
  std::atomic<int64_t> applied_change_seq_{0};
  std::atomic<int64_t> catchups_applied_{0};   // changes applied row by row
  std::atomic<int64_t> catchups_reloaded_{0};  // changes that needed a reload
  std::mutex follow_mu_;
  std::condition_variable follow_cv_;
  bool follow_stop_ = false;  // GUARDED_BY(follow_mu_)
  std::thread follower_;

  FleetState fleet_state_;  // liveness and watchers; woken by every commit
  ConsoleBuffers consoles_;

  // Built by Open, in this order; Shutdown stops the committer before anything is destroyed.
  std::unique_ptr<GroupCommitter> committer_;
  std::unique_ptr<ServiceContext> ctx_;
  std::unique_ptr<TenantService> tenants_;
  std::unique_ptr<HostService> hosts_;
  std::unique_ptr<VmService> vms_;
  std::unique_ptr<VolumeService> volumes_;
  std::unique_ptr<FleetService> fleet_;
  std::unique_ptr<ImageService> images_;
  std::unique_ptr<NetworkService> networks_;
  std::unique_ptr<RightSizing> rightsizing_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_CONTROL_PLANE_H_
