// ControlPlane: the service behind the REST API. It authenticates bearer tokens, authorises by
// tenant and role, places VMs with the placement engine and writes every change, with its audit
// record, to the Store.
//
// Writes are group-committed: request threads queue operations; one writer thread takes all that
// are waiting (up to max_batch), runs each inside its own savepoint of one store transaction
// (decision against the in-memory ledger, host-generation compare-and-swap in the store, audit
// record), commits once (one fsync for the batch) and only then answers every request of the
// batch. A failed commit answers 503 to the whole batch and reloads the ledger from the store,
// so no answer is ever given for a write that is not durable. A stale host generation (another
// writer changed the store) reloads the ledger and retries the operation, up to 10 times, then
// answers 409 concurrent_update.
//
// Thread-safety: all public methods are thread-safe. Reads take a shared lock on the ledger;
// the writer holds the exclusive lock while it runs and commits a batch (no dirty reads).
#ifndef DEVSHARE_SERVER_CONTROL_PLANE_H_
#define DEVSHARE_SERVER_CONTROL_PLANE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "devshare/core/random.h"
#include "devshare/host/host_agent.h"
#include "devshare/placement/registry.h"
#include "devshare/qos/token_bucket.h"
#include "devshare/store/store.h"
#include "server/api_types.h"
#include "server/ledger.h"

namespace devshare::server {

struct ControlPlaneOptions {
  std::string default_policy = placement::kDefaultPolicy;
  // Wall-clock time for records (injected; tests pass a fixed counter).
  std::function<int64_t()> now_unix_ms;
  uint64_t id_seed = 0;  // seed of object ids; 0 = from the OS
  int max_batch = 512;   // operations per group commit
  int max_cas_retries = 10;
  // SHA-256 hex of the bootstrap admin token (an admin of the "system" tenant); empty = none.
  std::string bootstrap_admin_sha256;
  // The host this server runs on (serve --local-host) and its agent: VMs placed there are
  // realized as libvirt domains (create = define + start, a failure rolls the allocation back;
  // delete = destroy + undefine; resize = live update). Null = allocations only.
  host::HostAgent* local_agent = nullptr;  // not owned; outlives the ControlPlane
  std::string local_host;
  // Refusals of unauthenticated requests (no token, bad token) are audited at most this many
  // per second, in bursts of up to `unauthenticated_audit_burst`; beyond that they are refused
  // without a record of their own (counted in the next such record's detail and in /metrics),
  // so a client without a token cannot grow the log or the fsync load at will. <= 0: audit all.
  double unauthenticated_audit_per_s = 10;
  int64_t unauthenticated_audit_burst = 100;
  // The workload's history (serve --workload-history): past requests. The policies get the
  // typical-pod distribution derived from it (`fgd` needs one, `devshare` starts from it) and
  // devshare prices rare classes by it until it has seen enough of its own. Null or empty: none
  // (`fgd` is then refused as a policy).
  std::shared_ptr<const std::vector<VmRequest>> workload_history;
};

// Counters the HTTP layer exports in /metrics.
struct ControlPlaneStats {
  int64_t commits = 0;
  int64_t committed_ops = 0;
  int64_t failed_commits = 0;
  int64_t cas_retries = 0;
  int64_t max_batch_seen = 0;
  int64_t unaudited_refusals = 0;  // unauthenticated refusals beyond the audit rate
  int64_t tenants = 0, hosts = 0, vms = 0;
  int64_t cpu_used_milli = 0, cpu_capacity_milli = 0;
  int64_t memory_used_mib = 0, memory_capacity_mib = 0;
  int64_t gpu_used_milli = 0, gpu_capacity_milli = 0;
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
  ApiResponse DeleteVm(const Principal& p, const std::string& id);
  ApiResponse ResizeVm(const Principal& p, const std::string& id, const std::string& body,
                       const std::string& idempotency_key);
  ApiResponse ListAudit(const Principal& p, int64_t after_seq, int64_t limit);

  ControlPlaneStats Stats() const;
  // Ids of the VMs the ledger places on `host` (for reconciling the local host's domains).
  std::vector<std::string> VmIdsOnHost(const std::string& host) const;
  // At start: VMs among `vm_ids` still "creating" (the server died between committing the
  // allocation and realizing it) and without a domain get their allocation rolled back, audited
  // as vm.realize / rolled_back_at_start. Returns the ids rolled back.
  std::vector<std::string> RollBackUnrealized(const std::vector<std::string>& vm_ids);
  const store::Store& store() const { return *store_; }

 private:
  // What one queued operation did inside its savepoint.
  struct OpResult {
    ApiResponse response;
    bool keep = false;           // release the savepoint (else roll back to it)
    bool retry = false;          // stale generation: reload and run again
    std::function<void()> undo;  // restores the ledger when the savepoint is rolled back
    store::AuditRecord audit;    // written after the savepoint, kept either way
    bool write_audit = true;
  };
  using Op = std::function<OpResult(store::Txn&)>;
  struct Pending {
    Op op;
    std::promise<ApiResponse> done;
    int attempts = 0;
  };

  ControlPlane(std::unique_ptr<store::Store> store, ControlPlaneOptions options);
  Status Bootstrap();
  ApiResponse Submit(Op op);
  void WriterLoop();
  void RunBatch(std::deque<std::unique_ptr<Pending>>& batch);
  Status ReloadLedger();
  // Copies the ledger's tokens for Authenticate when they changed. REQUIRES: ledger_mu_ held.
  void PublishTokens();
  std::string NewId(const char* prefix);
  store::AuditRecord Audit(const Principal& p, std::string operation, std::string object) const;
  // Idempotency: the stored answer for a repeat, 422 for a reuse with another body, or nullopt.
  std::optional<ApiResponse> ReplayIdempotent(const Principal& p, const std::string& key,
                                              const std::string& request_hash) const;
  Status RecordIdempotent(store::Txn& tx, OpResult& r, const Principal& p, const std::string& key,
                          const std::string& request_hash);
  Result<VmEntry> RemoveVmInTxn(store::Txn& tx, const std::string& id, OpResult& r);
  nlohmann::json VmJson(const VmEntry& vm) const;
  bool IsLocal(const std::string& host) const {
    return options_.local_agent != nullptr && host == options_.local_host;
  }
  host::GuestRequest GuestFor(const VmEntry& vm) const;
  // Second half of a create on the local host: realize the committed VM (state "creating"),
  // then record its state, or delete it again when libvirt failed (audited either way).
  ApiResponse FinishLocalCreate(const Principal& p, const std::string& vm_id,
                                const std::string& key, const std::string& request_hash);
  nlohmann::json HostJson(const HostEntry& h, bool with_devices) const;
  // True if an unauthenticated refusal may be audited now (a token of the audit rate taken);
  // then *unaudited_before = the refusals not audited since the last audited one.
  bool AdmitUnauthenticatedAudit(int64_t* unaudited_before);

  std::unique_ptr<store::Store> store_;
  ControlPlaneOptions options_;
  placement::PluginRegistry registry_;

  mutable std::shared_mutex ledger_mu_;
  Ledger ledger_;  // GUARDED_BY(ledger_mu_)
  Random ids_;     // writer thread only

  // Committed tokens, by hash: Authenticate reads them without waiting for a group commit.
  mutable std::shared_mutex tokens_mu_;
  std::unordered_map<std::string, store::TokenRecord> tokens_;  // GUARDED_BY(tokens_mu_)
  uint64_t published_tokens_version_ = UINT64_MAX;              // writer (ledger_mu_) only

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::unique_ptr<Pending>> queue_;  // GUARDED_BY(queue_mu_)
  bool stopping_ = false;                       // GUARDED_BY(queue_mu_)

  mutable std::mutex stats_mu_;
  ControlPlaneStats stats_;  // GUARDED_BY(stats_mu_), counters only

  // Rate of audit records for unauthenticated refusals (see ControlPlaneOptions).
  std::mutex unauth_mu_;
  std::optional<qos::TokenBucket> unauth_audit_bucket_;  // GUARDED_BY(unauth_mu_)
  int64_t unaudited_since_last_ = 0;                     // GUARDED_BY(unauth_mu_)

  std::thread writer_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_CONTROL_PLANE_H_
