// The `postgresql` Store backend: the ledger in a PostgreSQL database that several control-plane
// replicas may share. Schema migrations are the SQL files of src/store/postgres/ (embedded at
// build time, postgres_schema.h), applied under an advisory lock so that replicas starting
// together apply each once.
//
// Two connections, as the sqlite backend: the writer runs the one open Txn (READ COMMITTED), the
// reader serves Load (one REPEATABLE READ snapshot for every table), ReadAudit and
// ReadAuditHead from committed data. Invariants across replicas:
//   - host generations are a compare-and-swap (`UPDATE ... WHERE generation = $n`: a concurrent
//     writer of the same row waits for the other's commit, then finds the new generation and
//     changes nothing, so a decision on stale state is never written);
//   - DeleteHost locks the host row (FOR UPDATE) before it checks for VMs;
//   - every write Txn locks the audit head row (FOR UPDATE) first, until it ends: one chain, no
//     fork, no gap, whichever replica writes, and locks are taken in one order (head, then host
//     rows), so replicas never deadlock.
// Statements never fail on an expected conflict: inserts use ON CONFLICT DO NOTHING and check
// their references in the same statement, so a duplicate or unknown reference is a clean error
// and the Txn goes on, as with sqlite. A statement PostgreSQL refuses (a race with another
// replica, a lost connection) aborts the Txn on the server: later calls and Commit then fail
// with Aborted (RollbackToSavepoint recovers when the failure came after the savepoint).
// Commit waits for the WAL flush (synchronous_commit as the server is configured; on by
// default).
// Thread-safety: Begin admits one Txn at a time (mutex + condition variable) and only that
// Txn's thread uses the writer; the reader has its own mutex.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "devshare/core/check.h"
#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"
#include "store/change_set.h"
#include "store/postgres_connection.h"
#include "store/postgres_schema.h"

namespace devshare::store {
namespace {

enum Sql : size_t {
  kInsertTenant,
  kTenantExists,
  kInsertToken,
  kInsertHost,
  kUpdateHost,
  kBumpHost,
  kHostGeneration,
  kLockHost,
  kUpdateHostStatus,
  kFirstVmOnHost,
  kDeleteHostTokens,
  kDeleteHost,
  kInsertVm,
  kVmExists,
  kUpdateVm,
  kDeleteVm,
  kInsertImage,
  kDeleteImage,
  kInsertNetwork,
  kDeleteNetwork,
  kInsertIdempotency,
  kLockHead,
  kInsertAudit,
  kUpdateHead,
  kReadHead,
  kSelectTenants,
  kSelectTokens,
  kSelectHosts,
  kSelectVms,
  kSelectImages,
  kSelectNetworks,
  kSelectIdempotency,
  kCountAudit,
  kSelectAudit,
  kWriteChanges,
  kReadChangeHead,
  kSelectChanges,
  kRowsTenants,
  kRowsTokens,
  kRowsHosts,
  kRowsVms,
  kRowsImages,
  kRowsNetworks,
  kRowsIdempotency,
  kNumSql,
};

// Text order is byte order (COLLATE "C"), as sqlite's and the memory backend's, whatever the
// database's collation.
const std::vector<const char*> kStatements = {
    "INSERT INTO tenants (id, name, created_unix_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    "SELECT 1 FROM tenants WHERE id = $1",
    "INSERT INTO tokens (id, sha256_hex, tenant_id, role, created_unix_ms, host) "
    "SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text "
    "WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $3::text) ON CONFLICT DO NOTHING",
    "INSERT INTO hosts (name, inventory_json, generation, updated_unix_ms) VALUES ($1, $2, 1, $3) "
    "ON CONFLICT DO NOTHING",
    "UPDATE hosts SET inventory_json = $2, generation = generation + 1, updated_unix_ms = $3 "
    "WHERE name = $1 AND generation = $4",
    "UPDATE hosts SET generation = generation + 1 WHERE name = $1 AND generation = $2",
    "SELECT generation FROM hosts WHERE name = $1",
    "SELECT generation FROM hosts WHERE name = $1 FOR UPDATE",
    "UPDATE hosts SET schedule = $2, managed = $3, generation = generation + 1, "
    "updated_unix_ms = $4 WHERE name = $1 AND generation = $5",
    "SELECT count(*), min(id COLLATE \"C\") FROM vms WHERE host = $1",
    "DELETE FROM tokens WHERE host = $1 RETURNING id",
    "DELETE FROM hosts WHERE name = $1 AND generation = $2",
    "INSERT INTO vms (id, tenant_id, name, host, spec_json, allocation_json, state, "
    "created_unix_ms, updated_unix_ms, power, reboot_seq, state_detail) "
    "SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::bigint, "
    "$9::bigint, $10::text, $11::bigint, $12::text "
    "WHERE EXISTS (SELECT 1 FROM hosts WHERE name = $4::text) "
    "AND EXISTS (SELECT 1 FROM tenants WHERE id = $2::text) ON CONFLICT DO NOTHING",
    "SELECT 1 FROM vms WHERE id = $1",
    "UPDATE vms SET name = $2, host = $3, spec_json = $4, allocation_json = $5, state = $6, "
    "updated_unix_ms = $7, power = $8, reboot_seq = $9, state_detail = $10 "
    "WHERE id = $1 AND EXISTS (SELECT 1 FROM hosts WHERE name = $3)",
    "DELETE FROM vms WHERE id = $1",
    "INSERT INTO images (name, kind, file, kernel, initrd, cmdline, created_unix_ms) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    "DELETE FROM images WHERE name = $1",
    "INSERT INTO networks (id, tenant_id, name, cidr, segment_id, physical_network, "
    "created_unix_ms) SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text, "
    "$7::bigint WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2::text) ON CONFLICT DO NOTHING",
    "DELETE FROM networks WHERE id = $1",
    "INSERT INTO idempotency (tenant_id, key, request_sha256_hex, http_status, response_json, "
    "created_unix_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    "SELECT seq, hash_hex FROM audit_head WHERE id = 1 FOR UPDATE",
    "INSERT INTO audit (seq, time_unix_ms, tenant_id, actor, operation, object, outcome, "
    "detail_json, prev_hash_hex, hash_hex) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT DO NOTHING",
    "UPDATE audit_head SET seq = $1, hash_hex = $2 WHERE id = 1",
    "SELECT seq, hash_hex FROM audit_head WHERE id = 1",
    "SELECT id, name, created_unix_ms FROM tenants ORDER BY id COLLATE \"C\"",
    "SELECT id, sha256_hex, tenant_id, role, created_unix_ms, host FROM tokens "
    "ORDER BY id COLLATE \"C\"",
    "SELECT name, inventory_json, generation, updated_unix_ms, schedule, managed FROM hosts "
    "ORDER BY name COLLATE \"C\"",
    "SELECT id, tenant_id, name, host, spec_json, allocation_json, state, created_unix_ms, "
    "updated_unix_ms, power, reboot_seq, state_detail FROM vms ORDER BY id COLLATE \"C\"",
    "SELECT name, kind, file, kernel, initrd, cmdline, created_unix_ms FROM images "
    "ORDER BY name COLLATE \"C\"",
    "SELECT id, tenant_id, name, cidr, segment_id, physical_network, created_unix_ms FROM "
    "networks ORDER BY id COLLATE \"C\"",
    "SELECT tenant_id, key, request_sha256_hex, http_status, response_json, created_unix_ms "
    "FROM idempotency ORDER BY tenant_id COLLATE \"C\", key COLLATE \"C\"",
    "SELECT count(*) FROM audit",
    "SELECT seq, time_unix_ms, tenant_id, actor, operation, object, outcome, detail_json, "
    "prev_hash_hex, hash_hex FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
    // One round trip: take the next seq (the row lock is held until COMMIT, so seqs follow
    // commit order) and list the rows.
    "WITH h AS (UPDATE change_head SET seq = seq + 1 WHERE id = 1 RETURNING seq) "
    "INSERT INTO changes (seq, kind, key) SELECT h.seq, c.kind, c.key FROM h, "
    "unnest($1::text[], $2::text[]) AS c(kind, key) RETURNING seq",
    "SELECT seq FROM change_head WHERE id = 1",
    "SELECT seq, kind, key FROM changes WHERE seq > $1 AND seq <= $2 "
    "ORDER BY seq, kind COLLATE \"C\", key COLLATE \"C\"",
    // The rows a change list names (ReadChangedRows), by kind.
    "SELECT id, name, created_unix_ms FROM tenants WHERE id = ANY($1::text[])",
    "SELECT id, sha256_hex, tenant_id, role, created_unix_ms, host FROM tokens "
    "WHERE id = ANY($1::text[])",
    "SELECT name, inventory_json, generation, updated_unix_ms, schedule, managed FROM hosts "
    "WHERE name = ANY($1::text[])",
    "SELECT id, tenant_id, name, host, spec_json, allocation_json, state, created_unix_ms, "
    "updated_unix_ms, power, reboot_seq, state_detail FROM vms WHERE id = ANY($1::text[])",
    "SELECT name, kind, file, kernel, initrd, cmdline, created_unix_ms FROM images "
    "WHERE name = ANY($1::text[])",
    "SELECT id, tenant_id, name, cidr, segment_id, physical_network, created_unix_ms FROM "
    "networks WHERE id = ANY($1::text[])",
    "SELECT tenant_id, key, request_sha256_hex, http_status, response_json, created_unix_ms "
    "FROM idempotency WHERE tenant_id || '/' || key = ANY($1::text[])",
};

// A write Txn locks the audit head first (every write Txn appends audit records, which lock it
// anyway): so locks are always taken head first, then host rows, and two replicas' Txns cannot
// deadlock on them (one holding a host row and waiting for the head, the other the reverse).
constexpr const char* kBeginWrite =
    "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE";

// Any constant: the advisory lock that serialises migrations of one database.
constexpr int64_t kMigrationLockKey = 0x6465767368617265;  // "devshare"

// A text[] literal in PostgreSQL's array syntax: {"a","b\\"c"} (every element quoted; \\ and "
// escaped).
std::string TextArray(const std::vector<std::string>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Creates schema_migrations in an empty database, refuses foreign ones and newer schemas, and
// applies the missing migrations: one transaction under the migration lock.
Status Migrate(PgConnection& c) {
  const std::string& db = c.display();
  auto step = [&]() -> Status {
    DS_RETURN_IF_ERROR(c.Exec("BEGIN", "locking " + db + " to check its schema").status());
    DS_RETURN_IF_ERROR(
        c.Exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")",
               "locking " + db + " to check its schema")
            .status());
    DS_ASSIGN_OR_RETURN(PgResult has,
                        c.Exec("SELECT to_regclass('schema_migrations') IS NOT NULL, "
                               "(SELECT count(*) FROM information_schema.tables WHERE "
                               "table_schema = current_schema())",
                               "inspecting " + db));
    if (has.Text(0, 0) != "t") {
      if (has.Int(0, 1) > 0) {
        return Status::DataLoss(db +
                                " is a PostgreSQL database but not a devshare one (its schema "
                                "has tables but no schema_migrations)");
      }
      DS_RETURN_IF_ERROR(c.Exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                                "applied_unix_ms BIGINT NOT NULL)",
                                "creating schema_migrations in " + db)
                             .status());
    }
    DS_ASSIGN_OR_RETURN(PgResult v,
                        c.Exec("SELECT coalesce(max(version), 0) FROM schema_migrations",
                               "reading the schema version of " + db));
    const int64_t version = v.Int(0, 0);
    const int latest = PostgresLatestSchemaVersion();
    if (version > latest) {
      return Status::FailedPrecondition(db + " has schema version " + std::to_string(version) +
                                        ", newer than this build of devshare knows (" +
                                        std::to_string(latest) +
                                        "): use a newer devshare or another database");
    }
    for (const PostgresMigration& m : PostgresMigrations()) {
      if (m.version <= version) continue;
      const std::string what = "migrating " + db + " to schema version " +
                               std::to_string(m.version) + " (" + m.file + ")";
      DS_RETURN_IF_ERROR(c.Exec(m.sql, what).status());
      DS_RETURN_IF_ERROR(c.Exec("INSERT INTO schema_migrations (version, applied_unix_ms) "
                                "VALUES (" +
                                    std::to_string(m.version) + ", " + std::to_string(NowUnixMs()) +
                                    ")",
                                what)
                             .status());
    }
    return c.Exec("COMMIT", "committing the schema of " + db).status();
  };
  Status s = step();
  if (!s.ok() && c.in_transaction()) (void)c.Exec("ROLLBACK", "rolling back");
  return s;
}

class PostgresStore;

class PostgresTxn final : public Txn {
 public:
  PostgresTxn(PostgresStore* store, PgConnection* conn) : store_(store), c_(conn) {}
  ~PostgresTxn() override {
    if (!done_) Rollback();
  }

  Status Savepoint() override;
  Status ReleaseSavepoint() override;
  Status RollbackToSavepoint() override;
  Status InsertTenant(const TenantRecord& t) override;
  Status InsertToken(const TokenRecord& t) override;
  Result<uint64_t> PutHost(const std::string& name, const std::string& inventory_json,
                           uint64_t expected_generation, int64_t now_unix_ms) override;
  Result<uint64_t> GuardHost(const std::string& name, uint64_t expected_generation) override;
  Result<uint64_t> UpdateHostStatus(const std::string& name, const std::string& schedule,
                                    bool managed, uint64_t expected_generation,
                                    int64_t now_unix_ms) override;
  Status DeleteHost(const std::string& name, uint64_t expected_generation) override;
  Status InsertVm(const VmRecord& vm) override;
  Status UpdateVm(const VmRecord& vm) override;
  Status DeleteVm(const std::string& id) override;
  Status InsertImage(const ImageRecord& image) override;
  Status DeleteImage(const std::string& name) override;
  Status InsertNetwork(const NetworkRecord& network) override;
  Status DeleteNetwork(const std::string& id) override;
  Status InsertIdempotency(const IdempotencyRecord& r) override;
  Result<AuditRecord> AppendAudit(AuditRecord r) override;
  Status Commit() override;
  void Rollback() override;
  int64_t change_seq() const override { return change_seq_; }

 private:
  // Appends the changed rows to the change feed under the next change seq (before COMMIT).
  Status WriteChanges();

  Status CheckOpen() const {
    if (done_) return Status::FailedPrecondition("transaction already committed or rolled back");
    if (!broken_.ok()) {
      return Status::Aborted("transaction was aborted by PostgreSQL after an earlier error (" +
                             broken_.ToString() + ")");
    }
    if (!savepoint_broken_.ok()) {
      return Status::Aborted(
          "transaction was aborted by PostgreSQL after an error since the savepoint (" +
          savepoint_broken_.ToString() + "); roll back to the savepoint");
    }
    return Status::Ok();
  }

  // Runs a statement of the Txn. A failure aborts the transaction on the server: noted, so that
  // later calls and Commit fail instead of appearing to work.
  Result<PgResult> Run(Sql sql, const PgParams& p, const std::string& what) {
    Result<PgResult> r = c_->Run(sql, p, what);
    if (!r.ok()) (in_savepoint_ ? savepoint_broken_ : broken_) = r.status();
    return r;
  }
  Result<PgResult> Exec(const char* sql, const std::string& what) {
    Result<PgResult> r = c_->Exec(sql, what);
    if (!r.ok()) broken_ = r.status();
    return r;
  }
  // True when the statement changed a row; that row is then part of the change feed.
  bool Wrote(const PgResult& r, const char* kind, std::string key) {
    if (r.affected() == 0) return false;
    changes_.Record(kind, std::move(key));
    return true;
  }
  Result<bool> Exists(Sql sql, const std::string& key, const std::string& what) {
    DS_ASSIGN_OR_RETURN(PgResult r, Run(sql, PgParams().Add(key), what));
    return r.rows() > 0;
  }
  Result<uint64_t> HostGeneration(const std::string& name, Sql sql = kHostGeneration);
  Status StaleHost(const std::string& name, uint64_t expected_generation);
  void End();

  PostgresStore* store_;
  PgConnection* c_;
  bool done_ = false;
  bool in_savepoint_ = false;
  Status broken_;
  Status savepoint_broken_;
  ChangeSet changes_;
  int64_t change_seq_ = 0;
};

class PostgresStore final : public Store {
 public:
  PostgresStore(std::string display, std::unique_ptr<PgConnection> writer,
                std::unique_ptr<PgConnection> reader)
      : display_(std::move(display)), writer_(std::move(writer)), reader_(std::move(reader)) {}
  ~PostgresStore() override {
    std::lock_guard<std::mutex> lock(txn_mu_);
    DS_CHECK(!txn_open_);  // every Txn must end before its Store is destroyed
  }

  std::string Describe() const override { return display_; }

  Result<std::unique_ptr<Txn>> Begin() override {
    {
      std::unique_lock<std::mutex> lock(txn_mu_);
      if (txn_open_ && txn_owner_ == std::this_thread::get_id()) {
        return Status::FailedPrecondition(
            "a transaction is already open on this thread (one Txn at a time per Store)");
      }
      txn_ended_.wait(lock, [this] { return !txn_open_; });
      txn_open_ = true;
      txn_owner_ = std::this_thread::get_id();
    }
    Status s = [&]() -> Status {
      if (writer_->broken()) DS_RETURN_IF_ERROR(writer_->Reset());
      Status begun = writer_->Exec(kBeginWrite, "beginning a transaction").status();
      if (begun.code() != StatusCode::kUnavailable) return begun;
      // A connection the server closed (restart, failover) shows at its first use: nothing was
      // sent in a transaction yet, so reconnecting and beginning again is safe.
      DS_RETURN_IF_ERROR(writer_->Reset());
      return writer_->Exec(kBeginWrite, "beginning a transaction").status();
    }();
    if (!s.ok()) {
      // BEGIN may have run before the head lock failed: leave no transaction open behind.
      if (!writer_->broken() && writer_->in_transaction()) {
        (void)writer_->Exec("ROLLBACK", "rolling back");
      }
      EndTxn();
      return s;
    }
    return std::unique_ptr<Txn>(std::make_unique<PostgresTxn>(this, writer_.get()));
  }

  Result<StoreSnapshot> Load() override {
    std::lock_guard<std::mutex> lock(read_mu_);
    return WithReader([&] { return LoadLocked(); });
  }

  Result<std::vector<AuditRecord>> ReadAudit(int64_t after_seq, int64_t limit) override {
    std::lock_guard<std::mutex> lock(read_mu_);
    return WithReader([&] { return ReadAuditLocked(after_seq, limit); });
  }

  Result<AuditHead> ReadAuditHead() override {
    std::lock_guard<std::mutex> lock(read_mu_);
    return WithReader([&] { return ReadAuditHeadLocked(); });
  }

  Result<ChangedRows> ReadChangedRows(int64_t after_seq) override {
    std::lock_guard<std::mutex> lock(read_mu_);
    return WithReader([&] { return ReadChangedRowsLocked(after_seq); });
  }

  Result<std::vector<ChangeRecord>> ReadChanges(int64_t after_seq, int64_t limit) override {
    std::lock_guard<std::mutex> lock(read_mu_);
    return WithReader([&]() -> Result<std::vector<ChangeRecord>> {
      const int64_t upto = limit > 0 ? after_seq + limit : INT64_MAX;
      DS_ASSIGN_OR_RETURN(PgResult r,
                          reader_->Run(kSelectChanges, PgParams().Add(after_seq).Add(upto),
                                       "reading the change feed"));
      std::vector<ChangeRecord> out;
      out.reserve(static_cast<size_t>(r.rows()));
      for (int i = 0; i < r.rows(); ++i) out.push_back({r.Int(i, 0), r.Text(i, 1), r.Text(i, 2)});
      return out;
    });
  }

 private:
  friend class PostgresTxn;

  // Runs a read; a connection the server closed is reconnected and the read run once more
  // (reads are idempotent). REQUIRES: read_mu_ held.
  template <typename Fn>
  auto WithReader(Fn fn) -> decltype(fn()) {
    if (reader_->broken()) DS_RETURN_IF_ERROR(reader_->Reset());
    auto r = fn();
    if (r.ok() || r.status().code() != StatusCode::kUnavailable) return r;
    DS_RETURN_IF_ERROR(reader_->Reset());
    return fn();
  }

  Result<StoreSnapshot> LoadLocked() {
    // One snapshot for every table.
    DS_RETURN_IF_ERROR(
        reader_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "loading").status());
    StoreSnapshot snap;
    Status s = LoadInto(snap);
    if (s.ok()) s = reader_->Exec("COMMIT", "loading").status();
    if (!s.ok() && reader_->in_transaction()) (void)reader_->Exec("ROLLBACK", "rolling back");
    if (!s.ok()) return s;
    return snap;
  }

  Result<std::vector<AuditRecord>> ReadAuditLocked(int64_t after_seq, int64_t limit) {
    PgParams p;
    p.Add(after_seq);
    if (limit > 0) {
      p.Add(limit);
    } else {
      p.AddNull();  // LIMIT NULL: all
    }
    DS_ASSIGN_OR_RETURN(PgResult r, reader_->Run(kSelectAudit, p, "reading the audit log"));
    std::vector<AuditRecord> out;
    out.reserve(static_cast<size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
      AuditRecord a;
      a.seq = r.Int(i, 0);
      a.time_unix_ms = r.Int(i, 1);
      a.tenant_id = r.Text(i, 2);
      a.actor = r.Text(i, 3);
      a.operation = r.Text(i, 4);
      a.object = r.Text(i, 5);
      a.outcome = r.Text(i, 6);
      a.detail_json = r.Text(i, 7);
      a.prev_hash_hex = r.Text(i, 8);
      a.hash_hex = r.Text(i, 9);
      out.push_back(std::move(a));
    }
    return out;
  }

  Result<AuditHead> ReadAuditHeadLocked() {
    DS_ASSIGN_OR_RETURN(PgResult r, reader_->Run(kReadHead, PgParams(), "reading the audit head"));
    if (r.rows() == 0) return Status::DataLoss(display_ + ": the audit head row is missing");
    return AuditHead{r.Int(0, 0), r.Text(0, 1)};
  }

  void EndTxn() {
    {
      std::lock_guard<std::mutex> lock(txn_mu_);
      txn_open_ = false;
    }
    txn_ended_.notify_one();
  }

  template <typename RowFn>
  Status ForEachRow(Sql sql, RowFn row) {
    DS_ASSIGN_OR_RETURN(PgResult r, reader_->Run(sql, PgParams(), "loading"));
    for (int i = 0; i < r.rows(); ++i) row(r, i);
    return Status::Ok();
  }

  // Which rows LoadInto reads of a kind: all (`keys` null: the full select), the named ones
  // (the targeted select with the kind's keys), or none.
  using Keys = std::map<std::string, std::vector<std::string>>;
  template <typename RowFn>
  Status RowsOf(const Keys* keys, const char* kind, Sql all, Sql named, RowFn row) {
    if (keys == nullptr) return ForEachRow(all, row);
    auto it = keys->find(kind);
    if (it == keys->end()) return Status::Ok();
    DS_ASSIGN_OR_RETURN(PgResult r,
                        reader_->Run(named, PgParams().Add(TextArray(it->second)), "loading"));
    for (int i = 0; i < r.rows(); ++i) row(r, i);
    return Status::Ok();
  }

  Result<ChangedRows> ReadChangedRowsLocked(int64_t after_seq) {
    DS_RETURN_IF_ERROR(
        reader_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "reading changes")
            .status());
    auto read = [&]() -> Result<ChangedRows> {
      ChangedRows out;
      DS_ASSIGN_OR_RETURN(PgResult r,
                          reader_->Run(kSelectChanges, PgParams().Add(after_seq).Add(INT64_MAX),
                                       "reading the change feed"));
      Keys keys;
      for (int i = 0; i < r.rows(); ++i) {
        out.changes.push_back({r.Int(i, 0), r.Text(i, 1), r.Text(i, 2)});
        keys[out.changes.back().kind].push_back(out.changes.back().key);
      }
      DS_RETURN_IF_ERROR(LoadInto(out.rows, &keys));
      DS_RETURN_IF_ERROR(reader_->Exec("COMMIT", "reading changes").status());
      return out;
    };
    Result<ChangedRows> out = read();
    if (!out.ok() && reader_->in_transaction()) (void)reader_->Exec("ROLLBACK", "rolling back");
    return out;
  }

  Status LoadInto(StoreSnapshot& snap, const Keys* keys = nullptr) {
    DS_RETURN_IF_ERROR(
        RowsOf(keys, "tenant", kSelectTenants, kRowsTenants, [&](const PgResult& r, int i) {
          snap.tenants.push_back(TenantRecord{r.Text(i, 0), r.Text(i, 1), r.Int(i, 2)});
        }));
    DS_RETURN_IF_ERROR(
        RowsOf(keys, "token", kSelectTokens, kRowsTokens, [&](const PgResult& r, int i) {
          snap.tokens.push_back(TokenRecord{r.Text(i, 0), r.Text(i, 1), r.Text(i, 2), r.Text(i, 3),
                                            r.Int(i, 4), r.Text(i, 5)});
        }));
    DS_RETURN_IF_ERROR(
        RowsOf(keys, "host", kSelectHosts, kRowsHosts, [&](const PgResult& r, int i) {
          snap.hosts.push_back(HostRecord{r.Text(i, 0), r.Text(i, 1),
                                          static_cast<uint64_t>(r.Int(i, 2)), r.Int(i, 3),
                                          r.Text(i, 4), r.Text(i, 5) == "t"});
        }));
    DS_RETURN_IF_ERROR(RowsOf(keys, "vm", kSelectVms, kRowsVms, [&](const PgResult& r, int i) {
      VmRecord v;
      v.id = r.Text(i, 0);
      v.tenant_id = r.Text(i, 1);
      v.name = r.Text(i, 2);
      v.host = r.Text(i, 3);
      v.spec_json = r.Text(i, 4);
      v.allocation_json = r.Text(i, 5);
      v.state = r.Text(i, 6);
      v.created_unix_ms = r.Int(i, 7);
      v.updated_unix_ms = r.Int(i, 8);
      v.power = r.Text(i, 9);
      v.reboot_seq = r.Int(i, 10);
      v.state_detail = r.Text(i, 11);
      snap.vms.push_back(std::move(v));
    }));
    DS_RETURN_IF_ERROR(
        RowsOf(keys, "image", kSelectImages, kRowsImages, [&](const PgResult& r, int i) {
          snap.images.push_back(ImageRecord{r.Text(i, 0), r.Text(i, 1), r.Text(i, 2), r.Text(i, 3),
                                            r.Text(i, 4), r.Text(i, 5), r.Int(i, 6)});
        }));
    DS_RETURN_IF_ERROR(
        RowsOf(keys, "network", kSelectNetworks, kRowsNetworks, [&](const PgResult& r, int i) {
          snap.networks.push_back(NetworkRecord{r.Text(i, 0), r.Text(i, 1), r.Text(i, 2),
                                                r.Text(i, 3), r.Int(i, 4), r.Text(i, 5),
                                                r.Int(i, 6)});
        }));
    DS_RETURN_IF_ERROR(RowsOf(
        keys, "idempotency", kSelectIdempotency, kRowsIdempotency, [&](const PgResult& r, int i) {
          snap.idempotency.push_back(IdempotencyRecord{r.Text(i, 0), r.Text(i, 1), r.Text(i, 2),
                                                       static_cast<int>(r.Int(i, 3)), r.Text(i, 4),
                                                       r.Int(i, 5)});
        }));
    if (keys == nullptr) {
      DS_RETURN_IF_ERROR(ForEachRow(
          kCountAudit, [&](const PgResult& r, int i) { snap.audit_records = r.Int(i, 0); }));
    }
    return ForEachRow(kReadChangeHead,
                      [&](const PgResult& r, int i) { snap.change_seq = r.Int(i, 0); });
  }

  const std::string display_;
  std::unique_ptr<PgConnection> writer_;  // used by the open Txn only
  std::mutex read_mu_;
  std::unique_ptr<PgConnection> reader_;  // GUARDED_BY(read_mu_)

  std::mutex txn_mu_;
  std::condition_variable txn_ended_;
  bool txn_open_ = false;  // GUARDED_BY(txn_mu_)
  std::thread::id txn_owner_;
};

void PostgresTxn::End() {
  done_ = true;
  store_->EndTxn();
}

Status PostgresTxn::Savepoint() {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (in_savepoint_) return Status::FailedPrecondition("a savepoint is already open");
  DS_RETURN_IF_ERROR(Exec("SAVEPOINT sp", "opening a savepoint").status());
  in_savepoint_ = true;
  changes_.Mark();
  return Status::Ok();
}

Status PostgresTxn::ReleaseSavepoint() {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (!in_savepoint_) return Status::FailedPrecondition("no savepoint is open");
  DS_RETURN_IF_ERROR(Exec("RELEASE SAVEPOINT sp", "releasing the savepoint").status());
  in_savepoint_ = false;
  return Status::Ok();
}

Status PostgresTxn::RollbackToSavepoint() {
  if (done_) return Status::FailedPrecondition("transaction already committed or rolled back");
  if (!broken_.ok()) return CheckOpen();
  if (!in_savepoint_) return Status::FailedPrecondition("no savepoint is open");
  // ROLLBACK TO keeps the savepoint; RELEASE pops it. Either also ends a failed state that
  // began after the savepoint.
  DS_RETURN_IF_ERROR(Exec("ROLLBACK TO SAVEPOINT sp", "rolling back to the savepoint").status());
  DS_RETURN_IF_ERROR(Exec("RELEASE SAVEPOINT sp", "releasing the savepoint").status());
  savepoint_broken_ = Status::Ok();
  in_savepoint_ = false;
  changes_.TruncateToMark();
  return Status::Ok();
}

Result<uint64_t> PostgresTxn::HostGeneration(const std::string& name, Sql sql) {
  DS_ASSIGN_OR_RETURN(PgResult r, Run(sql, PgParams().Add(name), "looking up host '" + name + "'"));
  if (r.rows() == 0) return Status::NotFound("unknown host '" + name + "'");
  return static_cast<uint64_t>(r.Int(0, 0));
}

Status PostgresTxn::StaleHost(const std::string& name, uint64_t expected_generation) {
  DS_ASSIGN_OR_RETURN(uint64_t current, HostGeneration(name));  // NotFound when absent
  return Status::Aborted("host '" + name + "' is at generation " + std::to_string(current) +
                         ", expected " + std::to_string(expected_generation));
}

Status PostgresTxn::InsertTenant(const TenantRecord& t) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(PgResult r,
                      Run(kInsertTenant, PgParams().Add(t.id).Add(t.name).Add(t.created_unix_ms),
                          "inserting tenant '" + t.id + "'"));
  if (Wrote(r, "tenant", t.id)) return Status::Ok();
  return Status::AlreadyExists("inserting tenant '" + t.id + "' (name '" + t.name +
                               "'): its id or name is taken");
}

Status PostgresTxn::InsertToken(const TokenRecord& t) {
  DS_RETURN_IF_ERROR(CheckOpen());
  const std::string what = "inserting token '" + t.id + "'";
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kInsertToken,
                                      PgParams()
                                          .Add(t.id)
                                          .Add(t.sha256_hex)
                                          .Add(t.tenant_id)
                                          .Add(t.role)
                                          .Add(t.created_unix_ms)
                                          .Add(t.host),
                                      what));
  if (Wrote(r, "token", t.id)) return Status::Ok();
  DS_ASSIGN_OR_RETURN(bool tenant, Exists(kTenantExists, t.tenant_id, what));
  if (!tenant) {
    return Status::NotFound("token '" + t.id + "': unknown tenant '" + t.tenant_id + "'");
  }
  return Status::AlreadyExists(what + ": its id or hash is taken");
}

Result<uint64_t> PostgresTxn::PutHost(const std::string& name, const std::string& inventory_json,
                                      uint64_t expected_generation, int64_t now_unix_ms) {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (expected_generation == 0) {
    DS_ASSIGN_OR_RETURN(PgResult r,
                        Run(kInsertHost, PgParams().Add(name).Add(inventory_json).Add(now_unix_ms),
                            "inserting host '" + name + "'"));
    if (Wrote(r, "host", name)) return uint64_t{1};
    return Status::Aborted("host '" + name + "' already exists, expected generation 0");
  }
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kUpdateHost,
                                      PgParams()
                                          .Add(name)
                                          .Add(inventory_json)
                                          .Add(now_unix_ms)
                                          .Add(static_cast<int64_t>(expected_generation)),
                                      "updating host '" + name + "'"));
  if (Wrote(r, "host", name)) return expected_generation + 1;
  Result<uint64_t> current = HostGeneration(name);
  if (current.ok()) {
    return Status::Aborted("host '" + name + "' is at generation " + std::to_string(*current) +
                           ", expected " + std::to_string(expected_generation));
  }
  if (current.status().IsNotFound()) {
    return Status::Aborted("host '" + name + "' is absent, expected generation " +
                           std::to_string(expected_generation));
  }
  return current.status();
}

Result<uint64_t> PostgresTxn::GuardHost(const std::string& name, uint64_t expected_generation) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(
      PgResult r,
      Run(kBumpHost, PgParams().Add(name).Add(static_cast<int64_t>(expected_generation)),
          "guarding host '" + name + "'"));
  if (Wrote(r, "host", name)) return expected_generation + 1;
  return StaleHost(name, expected_generation);
}

Result<uint64_t> PostgresTxn::UpdateHostStatus(const std::string& name, const std::string& schedule,
                                               bool managed, uint64_t expected_generation,
                                               int64_t now_unix_ms) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kUpdateHostStatus,
                                      PgParams()
                                          .Add(name)
                                          .Add(schedule)
                                          .AddBool(managed)
                                          .Add(now_unix_ms)
                                          .Add(static_cast<int64_t>(expected_generation)),
                                      "updating the status of host '" + name + "'"));
  if (Wrote(r, "host", name)) return expected_generation + 1;
  return StaleHost(name, expected_generation);
}

Status PostgresTxn::DeleteHost(const std::string& name, uint64_t expected_generation) {
  DS_RETURN_IF_ERROR(CheckOpen());
  // The row lock keeps other replicas from placing on the host until this Txn ends.
  DS_ASSIGN_OR_RETURN(uint64_t current, HostGeneration(name, kLockHost));
  if (current != expected_generation) {
    return Status::Aborted("host '" + name + "' is at generation " + std::to_string(current) +
                           ", expected " + std::to_string(expected_generation));
  }
  {
    DS_ASSIGN_OR_RETURN(PgResult r, Run(kFirstVmOnHost, PgParams().Add(name),
                                        "looking for VMs on host '" + name + "'"));
    if (r.Int(0, 0) > 0) {
      return Status::FailedPrecondition("host '" + name + "' still has " +
                                        std::to_string(r.Int(0, 0)) + " VM(s) on it, e.g. '" +
                                        r.Text(0, 1) + "'");
    }
  }
  {
    DS_ASSIGN_OR_RETURN(PgResult tokens, Run(kDeleteHostTokens, PgParams().Add(name),
                                             "deleting the tokens of host '" + name + "'"));
    for (int i = 0; i < tokens.rows(); ++i) changes_.Record("token", tokens.Text(i, 0));
  }
  DS_RETURN_IF_ERROR(Run(kDeleteHost,
                         PgParams().Add(name).Add(static_cast<int64_t>(expected_generation)),
                         "deleting host '" + name + "'")
                         .status());
  changes_.Record("host", name);
  return Status::Ok();
}

Status PostgresTxn::InsertVm(const VmRecord& vm) {
  DS_RETURN_IF_ERROR(CheckOpen());
  const std::string what = "inserting vm '" + vm.id + "'";
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kInsertVm,
                                      PgParams()
                                          .Add(vm.id)
                                          .Add(vm.tenant_id)
                                          .Add(vm.name)
                                          .Add(vm.host)
                                          .Add(vm.spec_json)
                                          .Add(vm.allocation_json)
                                          .Add(vm.state)
                                          .Add(vm.created_unix_ms)
                                          .Add(vm.updated_unix_ms)
                                          .Add(vm.power)
                                          .Add(vm.reboot_seq)
                                          .Add(vm.state_detail),
                                      what));
  if (Wrote(r, "vm", vm.id)) return Status::Ok();
  DS_ASSIGN_OR_RETURN(bool taken, Exists(kVmExists, vm.id, what));
  if (taken) return Status::AlreadyExists(what + ": the id is taken");
  Result<uint64_t> host = HostGeneration(vm.host);
  if (!host.ok() && host.status().IsNotFound()) {
    return Status::NotFound("vm '" + vm.id + "': unknown host '" + vm.host + "'");
  }
  DS_RETURN_IF_ERROR(host.status());
  return Status::NotFound("vm '" + vm.id + "': unknown tenant '" + vm.tenant_id + "'");
}

Status PostgresTxn::UpdateVm(const VmRecord& vm) {
  DS_RETURN_IF_ERROR(CheckOpen());
  const std::string what = "updating vm '" + vm.id + "'";
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kUpdateVm,
                                      PgParams()
                                          .Add(vm.id)
                                          .Add(vm.name)
                                          .Add(vm.host)
                                          .Add(vm.spec_json)
                                          .Add(vm.allocation_json)
                                          .Add(vm.state)
                                          .Add(vm.updated_unix_ms)
                                          .Add(vm.power)
                                          .Add(vm.reboot_seq)
                                          .Add(vm.state_detail),
                                      what));
  if (Wrote(r, "vm", vm.id)) return Status::Ok();
  DS_ASSIGN_OR_RETURN(bool exists, Exists(kVmExists, vm.id, what));
  if (!exists) return Status::NotFound("unknown vm '" + vm.id + "'");
  return Status::NotFound("vm '" + vm.id + "': unknown host '" + vm.host + "'");
}

Status PostgresTxn::DeleteVm(const std::string& id) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kDeleteVm, PgParams().Add(id), "deleting vm '" + id + "'"));
  if (r.affected() == 0) return Status::NotFound("unknown vm '" + id + "'");
  changes_.Record("vm", id);
  return Status::Ok();
}

Status PostgresTxn::InsertImage(const ImageRecord& image) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kInsertImage,
                                      PgParams()
                                          .Add(image.name)
                                          .Add(image.kind)
                                          .Add(image.file)
                                          .Add(image.kernel)
                                          .Add(image.initrd)
                                          .Add(image.cmdline)
                                          .Add(image.created_unix_ms),
                                      "inserting image '" + image.name + "'"));
  if (Wrote(r, "image", image.name)) return Status::Ok();
  return Status::AlreadyExists("image name '" + image.name + "' is taken");
}

Status PostgresTxn::DeleteImage(const std::string& name) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(PgResult r,
                      Run(kDeleteImage, PgParams().Add(name), "deleting image '" + name + "'"));
  if (r.affected() == 0) return Status::NotFound("unknown image '" + name + "'");
  changes_.Record("image", name);
  return Status::Ok();
}

Status PostgresTxn::InsertNetwork(const NetworkRecord& n) {
  DS_RETURN_IF_ERROR(CheckOpen());
  // The schema's CHECK, before PostgreSQL would abort the Txn on it.
  if (n.segment_id < 1 || n.segment_id > 4094) {
    return Status::InvalidArgument("network " + n.id + ": segment_id " +
                                   std::to_string(n.segment_id) + " is not in 1..4094");
  }
  const std::string what = "inserting network '" + n.id + "'";
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kInsertNetwork,
                                      PgParams()
                                          .Add(n.id)
                                          .Add(n.tenant_id)
                                          .Add(n.name)
                                          .Add(n.cidr)
                                          .Add(n.segment_id)
                                          .Add(n.physical_network)
                                          .Add(n.created_unix_ms),
                                      what));
  if (Wrote(r, "network", n.id)) return Status::Ok();
  DS_ASSIGN_OR_RETURN(bool tenant, Exists(kTenantExists, n.tenant_id, what));
  if (!tenant) return Status::NotFound("unknown tenant '" + n.tenant_id + "'");
  return Status::AlreadyExists("network " + n.id + ": its id, name '" + n.name +
                               "' in the tenant or segment " + std::to_string(n.segment_id) +
                               " is taken");
}

Status PostgresTxn::DeleteNetwork(const std::string& id) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(PgResult r,
                      Run(kDeleteNetwork, PgParams().Add(id), "deleting network '" + id + "'"));
  if (r.affected() == 0) return Status::NotFound("unknown network '" + id + "'");
  changes_.Record("network", id);
  return Status::Ok();
}

Status PostgresTxn::InsertIdempotency(const IdempotencyRecord& rec) {
  DS_RETURN_IF_ERROR(CheckOpen());
  const std::string what =
      "inserting idempotency key '" + rec.key + "' of tenant '" + rec.tenant_id + "'";
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kInsertIdempotency,
                                      PgParams()
                                          .Add(rec.tenant_id)
                                          .Add(rec.key)
                                          .Add(rec.request_sha256_hex)
                                          .Add(int64_t{rec.http_status})
                                          .Add(rec.response_json)
                                          .Add(rec.created_unix_ms),
                                      what));
  if (Wrote(r, "idempotency", IdempotencyChangeKey(rec.tenant_id, rec.key))) return Status::Ok();
  return Status::AlreadyExists(what + ": the key is taken");
}

Result<AuditRecord> PostgresTxn::AppendAudit(AuditRecord a) {
  DS_RETURN_IF_ERROR(CheckOpen());
  {
    // Locked until this Txn ends: appends of other replicas wait, then chain after ours.
    DS_ASSIGN_OR_RETURN(PgResult head, Run(kLockHead, PgParams(), "locking the audit head"));
    if (head.rows() == 0) return Status::DataLoss("the audit head row is missing");
    a.seq = head.Int(0, 0) + 1;
    a.prev_hash_hex = head.Text(0, 1);
  }
  a.hash_hex = AuditHash(a.prev_hash_hex, a);
  DS_ASSIGN_OR_RETURN(PgResult r, Run(kInsertAudit,
                                      PgParams()
                                          .Add(a.seq)
                                          .Add(a.time_unix_ms)
                                          .Add(a.tenant_id)
                                          .Add(a.actor)
                                          .Add(a.operation)
                                          .Add(a.object)
                                          .Add(a.outcome)
                                          .Add(a.detail_json)
                                          .Add(a.prev_hash_hex)
                                          .Add(a.hash_hex),
                                      "appending audit record " + std::to_string(a.seq)));
  if (r.affected() != 1) {
    return Status::DataLoss("audit record " + std::to_string(a.seq) +
                            " already exists beyond the audit head: the log was tampered with");
  }
  DS_RETURN_IF_ERROR(
      Run(kUpdateHead, PgParams().Add(a.seq).Add(a.hash_hex), "moving the audit head").status());
  return a;
}

Status PostgresTxn::Commit() {
  if (done_) return Status::FailedPrecondition("transaction already committed or rolled back");
  Status s = CheckOpen();
  if (s.ok()) s = WriteChanges();
  if (s.ok()) {
    Result<PgResult> r = c_->Exec("COMMIT", "committing");
    if (!r.ok()) {
      s = r.status().code() == StatusCode::kUnavailable
              ? Status::Unavailable(std::string(r.status().message()) +
                                    " (the commit's outcome is unknown)")
              : r.status();
    } else if (r->command() != "COMMIT") {  // the server rolled back instead
      s = Status::Aborted("PostgreSQL rolled the transaction back (" + std::string(r->command()) +
                          ")");
    }
  }
  if (!s.ok() && !c_->broken() && c_->in_transaction()) (void)c_->Exec("ROLLBACK", "rolling back");
  if (!s.ok()) change_seq_ = 0;
  End();
  return s;
}

Status PostgresTxn::WriteChanges() {
  if (changes_.empty()) return Status::Ok();
  std::vector<std::string> kinds, keys;
  for (auto& [kind, key] : changes_.Unique()) {
    kinds.push_back(std::move(kind));
    keys.push_back(std::move(key));
  }
  DS_ASSIGN_OR_RETURN(PgResult r,
                      Run(kWriteChanges, PgParams().Add(TextArray(kinds)).Add(TextArray(keys)),
                          "appending to the change feed"));
  if (r.rows() == 0) return Status::Internal("the change feed took no rows");
  change_seq_ = r.Int(0, 0);
  return Status::Ok();
}

void PostgresTxn::Rollback() {
  if (done_) return;
  if (!c_->broken() && c_->in_transaction()) (void)c_->Exec("ROLLBACK", "rolling back");
  End();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  if (url.empty()) return Status::InvalidArgument("postgresql store: empty URL");
  const std::string display = PgDisplayUrl(url);
  DS_CHECK(kStatements.size() == kNumSql);
  DS_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> writer,
                      PgConnection::Connect(url, display, &kStatements));
  DS_RETURN_IF_ERROR(Migrate(*writer));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> reader,
                      PgConnection::Connect(url, display, &kStatements));
  return std::unique_ptr<Store>(
      std::make_unique<PostgresStore>(display, std::move(writer), std::move(reader)));
}

}  // namespace devshare::store
