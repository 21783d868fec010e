// ServiceContext: what the per-resource services (tenant, host, VM) share: the ledger and its
// lock, the group committer, object ids, audit records, idempotency answers and the audited
// refusals of requests stopped before an operation. ControlPlaneOptions live here too.
// Thread-safety: Run/Refuse/AuditRefusal/Check may be called from any thread. NewId,
// ReplayIdempotent and RecordIdempotent run inside operations (writer thread, ledger lock held).
#ifndef DEVSHARE_SERVER_SERVICE_CONTEXT_H_
#define DEVSHARE_SERVER_SERVICE_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/random.h"
#include "devshare/placement/registry.h"
#include "devshare/qos/token_bucket.h"
#include "devshare/store/store.h"
#include "server/api_types.h"
#include "server/console_buffer.h"
#include "server/fleet_state.h"
#include "server/group_committer.h"
#include "server/ledger.h"

namespace devshare::server {

// VmRecord::power of a VM whose delete waits for its host's agent to remove the domain.
inline constexpr char kPowerDeleted[] = "deleted";

struct ControlPlaneOptions {
  std::string default_policy = placement::kDefaultPolicy;
  // Wall-clock time for records (injected; tests pass a fixed counter).
  std::function<int64_t()> now_unix_ms;
  uint64_t id_seed = 0;  // seed of object ids; 0 = from the OS
  int max_batch = 512;   // operations per group commit
  int max_cas_retries = 10;
  // SHA-256 hex of the bootstrap admin token (an admin of the "system" tenant); empty = none.
  std::string bootstrap_admin_sha256;
  // A managed host (one whose agent registered it or sent a heartbeat) that sends no heartbeat
  // for longer than this is unreachable: its VMs show "unknown" and new VMs avoid it.
  int64_t host_timeout_ms = 30'000;
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
  // The right-sizing controller's forecaster for VMs whose spec names none (serve
  // --rightsize-forecaster); empty = "autopilot" when registered, else "last".
  std::string rightsize_forecaster;
  // Replicas on one database (docs/scale-out.md): every this many ms the control plane reads the
  // store's change feed and, when another process committed since, applies what it changed to
  // the ledger, so its reads are at most about this much behind; decisions never act on stale
  // state either way (the host-generation compare-and-swap). 0: never (one process per store).
  int64_t follow_interval_ms = 200;
  // This replica's index among those on one store (serve --replica-index): placement ties break
  // differently on each (Ledger::set_replica_index). 0 = host name order.
  int64_t replica_index = 0;
};

class RightSizing;  // right_sizing.h

// NotFound "vm '<id>' not found": a missing VM, and one the caller may not see.
Status VmNotFound(const std::string& id);

class ServiceContext {
 public:
  // All pointers outlive the context; `options.now_unix_ms` is set.
  ServiceContext(const ControlPlaneOptions* options, Ledger* ledger, std::shared_mutex* ledger_mu,
                 GroupCommitter* committer, FleetState* fleet, ConsoleBuffers* consoles);

  const ControlPlaneOptions& options() const { return *options_; }
  // Operations use it freely; readers hold ledger_mu() shared.
  Ledger& ledger() const { return *ledger_; }
  std::shared_mutex& ledger_mu() const { return *ledger_mu_; }
  int64_t Now() const { return options_->now_unix_ms(); }
  FleetState& fleet() const { return *fleet_; }
  ConsoleBuffers& consoles() const { return *consoles_; }
  // The right-sizing controller (set once by ControlPlane::Open; nullptr before).
  RightSizing* rightsizing() const { return rightsizing_; }
  void set_rightsizing(RightSizing* r) { rightsizing_ = r; }

  // --- the fleet (REQUIRE the ledger lock, shared or inside an operation)
  // A managed host whose agent's heartbeats stopped.
  bool Unreachable(const HostEntry& h) const {
    return h.record.managed && fleet_->Unreachable(h.record.name);
  }
  // "ready", "unreachable", or "unmanaged" (no agent: allocations only).
  std::string HostStatus(const HostEntry& h) const;
  // Hosts new VMs must not use: not open (cordoned, draining) or unreachable, with the reason.
  std::vector<ClosedHost> ClosedHosts() const;
  // Frees a VM's allocation inside `tx` (host-generation CAS, row, ledger) and chains the undo
  // into r.undo; a stale generation sets r.retry.
  Result<VmEntry> RemoveVmInTxn(store::Txn& tx, const std::string& id, OpResult& r);
  // Writes a host's schedule/managed through the host-generation CAS and the ledger (undo
  // chained; a stale generation sets r.retry).
  Status WriteHostStatus(store::Txn& tx, OpResult& r, const std::string& name,
                         const std::string& schedule, bool managed);
  // r.undo runs `undo` first, then what it held before (undo in reverse order of the changes).
  static void ChainUndo(OpResult& r, std::function<void()> undo);

  // One operation of the group commit: `body` runs in its savepoint and its Result is the
  // answer. Success keeps the savepoint (a replayed answer does not); an error rolls it back
  // unless `body` set keep itself. Returns the answer once committed (or the committer's error).
  using Body = std::function<Result<Reply>(store::Txn&, OpResult&)>;
  Result<Reply> Run(Body body);
  // A raw operation (the body fills the whole OpResult).
  Result<Reply> Submit(GroupCommitter::Op op) { return committer_->Submit(std::move(op)); }

  std::string NewId(const char* prefix);  // "<prefix>-<16 hex digits>"
  store::AuditRecord Audit(const Principal& p, std::string operation, std::string object) const;
  // Marks a stale generation (Aborted) from a compare-and-swap for retry; returns `s`.
  static Status RetryIfStale(OpResult& r, Status s) {
    r.retry = s.IsAborted();
    return s;
  }

  // Idempotency: nullopt (run the operation), the stored answer for a repeat, or
  // FailedPrecondition idempotency_key_reused for the key used with another request.
  std::optional<Result<Reply>> ReplayIdempotent(const Principal& p, const std::string& key,
                                                const std::string& request_hash) const;
  // Stores `answer` for (tenant, key) in `tx` and the ledger; chains the undo into r.undo.
  Status RecordIdempotent(store::Txn& tx, OpResult& r, const Principal& p, const std::string& key,
                          const std::string& request_hash, const ApiResponse& answer);

  // Audits a request refused before it reached an operation and returns `refusal` (or
  // Unavailable when the record could not be committed). Unauthenticated callers are audited
  // at a bounded rate (ControlPlaneOptions::unauthenticated_audit_per_s).
  Status Refuse(const Principal& p, const std::string& operation, const std::string& object,
                Status refusal);
  ApiResponse AuditRefusal(const Principal& p, const std::string& operation,
                           const std::string& object, ApiResponse refusal);
  // Authorize(p, operation); a PermissionDenied is audited as a refusal of `object`, an
  // Unauthenticated answer is returned unaudited (HttpApi audits requests without a token).
  Status Check(const Principal& p, std::string_view operation, const std::string& object);
  // Reads the VM `id` for `operation` (AuthorizeOnVm: its tenant, or its host's agent) under the
  // ledger's shared lock: Reply{read(vm)}. NotFound for a missing VM; a VM `p` may not see is
  // answered exactly like a missing one and audited as a refusal.
  Result<Reply> ReadVm(const Principal& p, const std::string& operation, const std::string& id,
                       const std::function<nlohmann::json(const VmEntry&)>& read);
  // The same with AuthorizeHost: an agent token only for its own host.
  Status CheckHost(const Principal& p, std::string_view operation, const std::string& host);

  int64_t unaudited_refusals() const { return unaudited_refusals_.load(); }

 private:
  // OK when recorded (or beyond the rate, not recorded); the committer's error otherwise.
  Status RecordRefusal(const Principal& p, const std::string& operation, const std::string& object,
                       const ApiResponse& refusal);
  // True if an unauthenticated refusal may be audited now (a token of the audit rate taken);
  // then *unaudited_before = the refusals not audited since the last audited one.
  bool AdmitUnauthenticatedAudit(int64_t* unaudited_before);

  const ControlPlaneOptions* options_;
  Ledger* ledger_;
  std::shared_mutex* ledger_mu_;
  GroupCommitter* committer_;
  FleetState* fleet_;
  ConsoleBuffers* consoles_;
  RightSizing* rightsizing_ = nullptr;
  Random ids_;  // writer thread only

  std::mutex unauth_mu_;
  std::optional<qos::TokenBucket> unauth_audit_bucket_;  // GUARDED_BY(unauth_mu_)
  int64_t unaudited_since_last_ = 0;                     // GUARDED_BY(unauth_mu_)
  std::atomic<int64_t> unaudited_refusals_{0};
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_SERVICE_CONTEXT_H_
