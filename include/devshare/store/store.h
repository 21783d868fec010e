// Store: the control plane's durable ledger behind one small interface, with backends `memory`
// (tests, throwaway runs), `sqlite` (default: WAL, synchronous=FULL, migrations) and
// `postgresql` (one database shared by several control-plane replicas).
//
// All writes go through a Txn (one SQLite `BEGIN IMMEDIATE` transaction). Capacity decisions are
// made by the server against its in-memory state and guarded here by the host generation
// (compare-and-swap): GuardHost/PutHost fail with Aborted when the generation moved, so a
// decision taken on stale state is never written. Savepoints let one group-committed transaction
// hold many requests, each of which can fail alone.
//
// Thread-safety: a Store may be used from several threads; at most one Txn is open at a time per
// Store (Begin blocks, SQLite: busy timeout, until the previous one ends). A Txn belongs to the
// thread that began it and must end before its Store is destroyed. Load, ReadAudit and
// ReadAuditHead see committed data only and never wait for an open Txn.
#ifndef DEVSHARE_STORE_STORE_H_
#define DEVSHARE_STORE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/core/status.h"
#include "devshare/store/records.h"

namespace devshare::store {

class Txn {
 public:
  virtual ~Txn() = default;  // rolls back if neither Commit nor Rollback was called

  // One level of savepoint: Savepoint(), then ReleaseSavepoint() to keep or
  // RollbackToSavepoint() to undo everything written since (the Txn stays open).
  virtual Status Savepoint() = 0;
  virtual Status ReleaseSavepoint() = 0;
  virtual Status RollbackToSavepoint() = 0;

  // AlreadyExists when the id or the name is taken.
  virtual Status InsertTenant(const TenantRecord& t) = 0;
  // AlreadyExists when the id or hash is taken; NotFound for an unknown tenant. `t.host` is
  // not checked (an agent token may be issued before its host registers).
  virtual Status InsertToken(const TokenRecord& t) = 0;

  // Creates (expected_generation == 0, host absent; schedule "open", not managed) or replaces
  // the host's inventory (expected_generation == its current generation; schedule and managed
  // are kept); the generation becomes expected + 1.
  // Aborted when the generation does not match (including "exists" for 0 and "absent" for > 0).
  virtual Result<uint64_t> PutHost(const std::string& name, const std::string& inventory_json,
                                   uint64_t expected_generation, int64_t now_unix_ms) = 0;
  // Compare-and-swap of a host's generation to expected + 1, for every allocation change on it.
  // Aborted when stale, NotFound for an unknown host.
  virtual Result<uint64_t> GuardHost(const std::string& name, uint64_t expected_generation) = 0;
  // Sets a host's schedule and managed flag (and updated_unix_ms) with the same compare-and-swap
  // as GuardHost and returns the new generation (expected + 1). Aborted when stale, NotFound for
  // an unknown host. The values are not checked (the server owns their vocabulary).
  virtual Result<uint64_t> UpdateHostStatus(const std::string& name, const std::string& schedule,
                                            bool managed, uint64_t expected_generation,
                                            int64_t now_unix_ms) = 0;
  // Deletes a host at `expected_generation` together with the tokens scoped to it
  // (TokenRecord.host == name). NotFound for an unknown host, Aborted when stale,
  // FailedPrecondition (naming a VM) while any VM is on it.
  virtual Status DeleteHost(const std::string& name, uint64_t expected_generation) = 0;

  // AlreadyExists for a taken id, NotFound for an unknown host or tenant.
  virtual Status InsertVm(const VmRecord& vm) = 0;
  // NotFound when absent. Replaces every field but id, tenant_id and created_unix_ms.
  virtual Status UpdateVm(const VmRecord& vm) = 0;
  virtual Status DeleteVm(const std::string& id) = 0;  // NotFound when absent

  // AlreadyExists when the name is taken. The fields are not checked (the server validates them).
  virtual Status InsertImage(const ImageRecord& image) = 0;
  // NotFound when absent. VMs referring to it are the server's concern (their spec_json).
  virtual Status DeleteImage(const std::string& name) = 0;

  // AlreadyExists when the id, (tenant_id, name) or segment_id is taken; NotFound for an
  // unknown tenant. CIDR overlaps are the server's concern.
  virtual Status InsertNetwork(const NetworkRecord& network) = 0;
  // NotFound when absent. NICs on it are the server's concern (it refuses while any exists).
  virtual Status DeleteNetwork(const std::string& id) = 0;

  // AlreadyExists when (tenant_id, key) is taken.
  virtual Status InsertIdempotency(const IdempotencyRecord& r) = 0;

  // Appends `r` after the current head: fills seq, prev_hash_hex and hash_hex (AuditHash),
  // moves the head to it and returns the stored record.
  virtual Result<AuditRecord> AppendAudit(AuditRecord r) = 0;

  // Makes every write durable (SQLite: fsync of the WAL with synchronous=FULL) or fails with
  // nothing written. A Txn that changed any row (not counting audit records) also appends its
  // changed rows to the change feed under the next change seq.
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
  // After a successful Commit: the change seq it took, or 0 when it changed no row.
  virtual int64_t change_seq() const = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // e.g. "sqlite:/var/devshare.db" or "memory:".
  virtual std::string Describe() const = 0;
  // Waits while another thread's Txn is open. FailedPrecondition when this thread already holds
  // one (it would wait forever); Unavailable when another process keeps the database locked.
  virtual Result<std::unique_ptr<Txn>> Begin() = 0;
  // Everything but the audit records (their count is included).
  virtual Result<StoreSnapshot> Load() = 0;
  // Audit records with seq > after_seq, in seq order, at most `limit` (0 = all).
  virtual Result<std::vector<AuditRecord>> ReadAudit(int64_t after_seq, int64_t limit) = 0;
  virtual Result<AuditHead> ReadAuditHead() = 0;
  // The change feed (ChangeRecord): rows with seq > after_seq, in seq order, of at most `limit`
  // Txns (0 = all); committed data only.
  virtual Result<std::vector<ChangeRecord>> ReadChanges(int64_t after_seq, int64_t limit) = 0;
  // The changes after `after_seq` and the rows they name, from one committed snapshot (so the
  // rows are consistent with each other and with rows.change_seq). Backends may return more
  // rows than named (memory and sqlite return all of them).
  virtual Result<ChangedRows> ReadChangedRows(int64_t after_seq) = 0;
};

// Opens a store from a URL: "sqlite:PATH" (a plain PATH means the same; missing parent folders
// are created, the schema is created or migrated), "postgresql://..." / "postgres://..." (a
// libpq connection URI, e.g. postgresql://devshare@db1/ledger or
// postgresql:///ledger?host=/run/postgresql; the schema is created or migrated) or "memory:".
// InvalidArgument names an unknown scheme; DataLoss/Unavailable when the file cannot be opened or
// is not a devshare database.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url);

// Backend constructors (OpenStore dispatches to them by scheme; explicit registry in
// store_factory.cc).
std::unique_ptr<Store> NewMemoryStore();
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);
// Unavailable when this build has no PostgreSQL support (built without libpq) or the server
// cannot be reached; DataLoss for a database that is not devshare's.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url);

}  // namespace devshare::store

#endif  // DEVSHARE_STORE_STORE_H_
