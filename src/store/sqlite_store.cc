// The `sqlite` Store backend: one database file in WAL mode with synchronous=FULL, foreign keys
// on, and schema migrations (sqlite_schema.cc) recorded in `schema_migrations`.
// Two connections: the writer runs the one open Txn (`BEGIN IMMEDIATE`; other processes wait
// up to the busy timeout), the reader serves Load/ReadAudit/ReadAuditHead from the last
// committed snapshot, so reads never wait for an open Txn nor see its writes. Statements are
// prepared once per connection and reused.
// Thread-safety: Begin admits one Txn at a time (mutex + condition variable), and only that
// Txn's thread touches the writer; the reader is guarded by its own mutex. Connections are opened
// with SQLITE_OPEN_NOMUTEX since all access is serialised here.
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "devshare/core/check.h"
#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"
#include "store/change_set.h"
#include "store/sqlite_schema.h"

namespace devshare::store {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// ---------------------------------------------------------------------------------------------
// Statements, prepared lazily once per connection.

enum class Sql {
  kBegin,
  kBeginDeferred,
  kCommit,
  kRollback,
  kSavepoint,
  kRelease,
  kRollbackTo,
  kInsertTenant,
  kInsertToken,
  kInsertHost,
  kUpdateHost,
  kBumpHost,
  kHostGeneration,
  kUpdateHostStatus,
  kFirstVmOnHost,
  kDeleteHostTokens,
  kDeleteHost,
  kInsertVm,
  kUpdateVm,
  kDeleteVm,
  kInsertImage,
  kDeleteImage,
  kInsertNetwork,
  kDeleteNetwork,
  kInsertIdempotency,
  kReadHead,
  kInsertAudit,
  kUpdateHead,
  kSelectTenants,
  kSelectTokens,
  kSelectHosts,
  kSelectVms,
  kSelectImages,
  kSelectNetworks,
  kSelectIdempotency,
  kCountAudit,
  kSelectAudit,
  kReadChangeHead,
  kBumpChangeHead,
  kInsertChange,
  kSelectChanges,
  kCount,  // number of statements
};

constexpr std::array<const char*, static_cast<size_t>(Sql::kCount)> kSqlText = {
    "BEGIN IMMEDIATE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT sp",
    "RELEASE sp",
    "ROLLBACK TO sp",
    "INSERT INTO tenants (id, name, created_unix_ms) VALUES (?1, ?2, ?3)",
    "INSERT INTO tokens (id, sha256_hex, tenant_id, role, created_unix_ms, host) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT INTO hosts (name, inventory_json, generation, updated_unix_ms) VALUES (?1, ?2, 1, ?3)",
    "UPDATE hosts SET inventory_json = ?2, generation = generation + 1, updated_unix_ms = ?3 "
    "WHERE name = ?1 AND generation = ?4",
    "UPDATE hosts SET generation = generation + 1 WHERE name = ?1 AND generation = ?2",
    "SELECT generation FROM hosts WHERE name = ?1",
    "UPDATE hosts SET schedule = ?2, managed = ?3, generation = generation + 1, "
    "updated_unix_ms = ?4 WHERE name = ?1 AND generation = ?5",
    "SELECT count(*), min(id) FROM vms WHERE host = ?1",
    "DELETE FROM tokens WHERE host = ?1 RETURNING id",
    "DELETE FROM hosts WHERE name = ?1 AND generation = ?2",
    "INSERT INTO vms (id, tenant_id, name, host, spec_json, allocation_json, state, "
    "created_unix_ms, updated_unix_ms, power, reboot_seq, state_detail) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    "UPDATE vms SET name = ?2, host = ?3, spec_json = ?4, allocation_json = ?5, state = ?6, "
    "updated_unix_ms = ?7, power = ?8, reboot_seq = ?9, state_detail = ?10 WHERE id = ?1",
    "DELETE FROM vms WHERE id = ?1",
    "INSERT INTO images (name, kind, file, kernel, initrd, cmdline, created_unix_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "DELETE FROM images WHERE name = ?1",
    "INSERT INTO networks (id, tenant_id, name, cidr, segment_id, physical_network, "
    "created_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "DELETE FROM networks WHERE id = ?1",
    "INSERT INTO idempotency (tenant_id, key, request_sha256_hex, http_status, response_json, "
    "created_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "SELECT seq, hash_hex FROM audit_head WHERE id = 1",
    "INSERT INTO audit (seq, time_unix_ms, tenant_id, actor, operation, object, outcome, "
    "detail_json, prev_hash_hex, hash_hex) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    "UPDATE audit_head SET seq = ?1, hash_hex = ?2 WHERE id = 1",
    "SELECT id, name, created_unix_ms FROM tenants ORDER BY id",
    "SELECT id, sha256_hex, tenant_id, role, created_unix_ms, host FROM tokens ORDER BY id",
    "SELECT name, inventory_json, generation, updated_unix_ms, schedule, managed FROM hosts "
    "ORDER BY name",
    "SELECT id, tenant_id, name, host, spec_json, allocation_json, state, created_unix_ms, "
    "updated_unix_ms, power, reboot_seq, state_detail FROM vms ORDER BY id",
    "SELECT name, kind, file, kernel, initrd, cmdline, created_unix_ms FROM images ORDER BY name",
    "SELECT id, tenant_id, name, cidr, segment_id, physical_network, created_unix_ms FROM networks "
    "ORDER BY id",
    "SELECT tenant_id, key, request_sha256_hex, http_status, response_json, created_unix_ms "
    "FROM idempotency ORDER BY tenant_id, key",
    "SELECT count(*) FROM audit",
    "SELECT seq, time_unix_ms, tenant_id, actor, operation, object, outcome, detail_json, "
    "prev_hash_hex, hash_hex FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    "SELECT seq FROM change_head WHERE id = 1",
    "UPDATE change_head SET seq = seq + 1 WHERE id = 1 RETURNING seq",
    "INSERT INTO changes (seq, kind, key) VALUES (?1, ?2, ?3)",
    "SELECT seq, kind, key FROM changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq, kind, key",
};

bool IsUniqueViolation(int rc) {
  return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE ||
         rc == SQLITE_CONSTRAINT_ROWID;
}

// Maps a SQLite result code to our codes; `what` says what was being done.
Status FromSqlite(int rc, sqlite3* db, const std::string& what) {
  std::string msg = what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (IsUniqueViolation(rc)) return Status::AlreadyExists(std::move(msg));
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return Status::NotFound(std::move(msg));
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return Status::InvalidArgument(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
      return Status::Unavailable(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::DataLoss(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

// One connection and its prepared statements.
class Connection {
 public:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }

  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

  Result<sqlite3_stmt*> Get(Sql sql) {
    sqlite3_stmt*& s = stmts_[static_cast<size_t>(sql)];
    if (s == nullptr) {
      int rc = sqlite3_prepare_v3(db_, kSqlText[static_cast<size_t>(sql)], -1,
                                  SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      if (rc != SQLITE_OK) {
        s = nullptr;
        return FromSqlite(
            rc, db_,
            std::string("preparing \"") + kSqlText[static_cast<size_t>(sql)] + "\" on " + path_);
      }
    }
    return s;
  }

  // Runs one or more statements without results (migrations, pragmas).
  Status Exec(const char* sql, const std::string& what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (err != nullptr) sqlite3_free(err);
    if (rc != SQLITE_OK) return FromSqlite(sqlite3_extended_errcode(db_), db_, what);
    return Status::Ok();
  }

 private:
  sqlite3* db_;
  std::string path_;
  std::array<sqlite3_stmt*, static_cast<size_t>(Sql::kCount)> stmts_{};
};

// A use of a cached statement: binds, steps, reads columns; resets on scope exit. Text is bound
// SQLITE_STATIC, so bound strings must outlive the Stmt (they are the callers' arguments).
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }

  // SQLITE_ROW, SQLITE_DONE or an (extended) error code.
  int Step() { return sqlite3_step(s_); }

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(s_, col);
    if (p == nullptr) return std::string();
    return std::string(reinterpret_cast<const char*>(p),
                       static_cast<size_t>(sqlite3_column_bytes(s_, col)));
  }

 private:
  sqlite3_stmt* s_;
};

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Opens a connection with our pragmas. A file that is not an SQLite database is DataLoss.
Result<std::unique_ptr<Connection>> OpenConnection(const std::string& path, bool reader) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = Status::Unavailable("cannot open sqlite database '" + path +
                                   "': " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close_v2(db);
    return s;
  }
  auto conn = std::make_unique<Connection>(db, path);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // The first statement reads the file header: a foreign file fails here.
  Status s = conn->Exec("PRAGMA journal_mode=WAL", "setting WAL mode on '" + path + "'");
  if (!s.ok()) {
    if (s.code() == StatusCode::kDataLoss) {
      return Status::DataLoss("'" + path + "' is not a devshare sqlite database (" + s.message() +
                              ")");
    }
    return s;
  }
  DS_RETURN_IF_ERROR(conn->Exec("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON",
                                "setting pragmas on '" + path + "'"));
  if (reader) DS_RETURN_IF_ERROR(conn->Exec("PRAGMA query_only=ON", "reader on '" + path + "'"));
  return conn;
}

// Reads max(version) of schema_migrations (0 when empty).
Result<int64_t> SchemaVersion(Connection& c) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(c.db(), "SELECT coalesce(max(version), 0) FROM schema_migrations", -1,
                              &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return FromSqlite(rc, c.db(), "reading the schema version of '" + c.path() + "'");
  }
  int64_t version = 0;
  {
    Stmt st(raw);
    rc = st.Step();
    if (rc == SQLITE_ROW) version = st.Int(0);
  }
  sqlite3_finalize(raw);
  if (rc != SQLITE_ROW) {
    return FromSqlite(rc, c.db(), "reading the schema version of '" + c.path() + "'");
  }
  return version;
}

Result<int64_t> CountRows(Connection& c, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(c.db(), sql, -1, &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return FromSqlite(rc, c.db(), "inspecting '" + c.path() + "'");
  }
  int64_t n = 0;
  {
    Stmt st(raw);
    rc = st.Step();
    if (rc == SQLITE_ROW) n = st.Int(0);
  }
  sqlite3_finalize(raw);
  if (rc != SQLITE_ROW) return FromSqlite(rc, c.db(), "inspecting '" + c.path() + "'");
  return n;
}

// Rolls back when `c` is inside a transaction (after a failed step); errors are moot here.
void RollbackQuietly(Connection& c) {
  if (!sqlite3_get_autocommit(c.db())) sqlite3_exec(c.db(), "ROLLBACK", nullptr, nullptr, nullptr);
}

// Creates schema_migrations in a new file, refuses foreign files and newer schemas, then
// applies the missing migrations, one transaction each.
Status Migrate(Connection& c) {
  const std::string& path = c.path();
  DS_RETURN_IF_ERROR(c.Exec("BEGIN IMMEDIATE", "locking '" + path + "' to check its schema"));
  auto bootstrap = [&]() -> Status {
    DS_ASSIGN_OR_RETURN(int64_t has_migrations,
                        CountRows(c,
                                  "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                  "AND name = 'schema_migrations'"));
    if (has_migrations == 0) {
      DS_ASSIGN_OR_RETURN(int64_t objects,
                          CountRows(c,
                                    "SELECT count(*) FROM sqlite_master "
                                    "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"));
      if (objects > 0) {
        return Status::DataLoss("'" + path +
                                "' is an sqlite database but not a devshare one (it has tables "
                                "but no schema_migrations)");
      }
      DS_RETURN_IF_ERROR(
          c.Exec("CREATE TABLE schema_migrations ("
                 "version INTEGER PRIMARY KEY, applied_unix_ms INTEGER NOT NULL)",
                 "creating schema_migrations in '" + path + "'"));
    }
    DS_ASSIGN_OR_RETURN(int64_t version, SchemaVersion(c));
    const int latest = SqliteLatestSchemaVersion();
    if (version > latest) {
      return Status::FailedPrecondition(
          "'" + path + "' has schema version " + std::to_string(version) +
          ", newer than this build of devshare knows (" + std::to_string(latest) +
          "): use a newer devshare or another file");
    }
    return c.Exec("COMMIT", "committing schema_migrations in '" + path + "'");
  };
  Status s = bootstrap();
  if (!s.ok()) {
    RollbackQuietly(c);
    return s;
  }

  for (const SqliteMigration& m : SqliteMigrations()) {
    const std::string what =
        "migrating '" + path + "' to schema version " + std::to_string(m.version);
    DS_RETURN_IF_ERROR(c.Exec("BEGIN IMMEDIATE", what));
    auto step = [&]() -> Status {
      DS_ASSIGN_OR_RETURN(int64_t version, SchemaVersion(c));  // another process may have run it
      if (version >= m.version) return c.Exec("COMMIT", what);
      DS_RETURN_IF_ERROR(c.Exec(m.sql, what));
      const std::string record =
          "INSERT INTO schema_migrations (version, applied_unix_ms) VALUES (" +
          std::to_string(m.version) + ", " + std::to_string(NowUnixMs()) + ")";
      DS_RETURN_IF_ERROR(c.Exec(record.c_str(), what));
      return c.Exec("COMMIT", what);
    };
    s = step();
    if (!s.ok()) {
      RollbackQuietly(c);
      return s;
    }
  }
  return Status::Ok();
}

class SqliteStore;

class SqliteTxn final : public Txn {
 public:
  SqliteTxn(SqliteStore* store, Connection* conn) : store_(store), c_(conn) {}
  ~SqliteTxn() override {
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
      return Status::Aborted("transaction was rolled back by sqlite after an earlier error (" +
                             broken_.ToString() + ")");
    }
    return Status::Ok();
  }

  // Maps a failed step; notes when SQLite rolled the whole transaction back (I/O error, full
  // disk), so that later calls and Commit fail instead of writing outside the transaction.
  Status Fail(int rc, const std::string& what) {
    Status s = FromSqlite(rc, c_->db(), what);
    if (sqlite3_get_autocommit(c_->db())) broken_ = s;
    return s;
  }

  // Runs a statement without parameters or rows (transaction control).
  Status Run(Sql sql, const std::string& what) {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(sql));
    Stmt st(raw);
    int rc = st.Step();
    if (rc != SQLITE_DONE) return Fail(rc, what);
    return Status::Ok();
  }

  // Generation of a host; NotFound when absent.
  Result<uint64_t> HostGeneration(const std::string& name);
  // The answer to a compare-and-swap on host `name` that changed no row: NotFound when the host
  // is absent, else Aborted naming its current generation.
  Status StaleHost(const std::string& name, uint64_t expected_generation);
  void End();

  SqliteStore* store_;
  Connection* c_;
  bool done_ = false;
  bool in_savepoint_ = false;
  Status broken_;
  ChangeSet changes_;
  int64_t change_seq_ = 0;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, std::unique_ptr<Connection> writer,
              std::unique_ptr<Connection> reader)
      : path_(std::move(path)), writer_(std::move(writer)), reader_(std::move(reader)) {}
  ~SqliteStore() override {
    std::lock_guard<std::mutex> lock(txn_mu_);
    DS_CHECK(!txn_open_);  // every Txn must end before its Store is destroyed
  }

  std::string Describe() const override { return "sqlite:" + path_; }

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
      DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, writer_->Get(Sql::kBegin));
      Stmt st(raw);
      int rc = st.Step();
      if (rc == SQLITE_DONE) return Status::Ok();
      if ((rc & 0xff) == SQLITE_BUSY) {
        return Status::Unavailable("'" + path_ + "' is locked by another writer for longer than " +
                                   std::to_string(kBusyTimeoutMs) + " ms");
      }
      return FromSqlite(rc, writer_->db(), "beginning a transaction on '" + path_ + "'");
    }();
    if (!s.ok()) {
      EndTxn();
      return s;
    }
    return std::unique_ptr<Txn>(std::make_unique<SqliteTxn>(this, writer_.get()));
  }

  Result<StoreSnapshot> Load() override {
    std::lock_guard<std::mutex> lock(read_mu_);
    Connection& c = *reader_;
    // One read transaction, so that every table comes from the same committed snapshot.
    DS_RETURN_IF_ERROR(RunReader(Sql::kBeginDeferred));
    StoreSnapshot snap;
    Status s = LoadInto(snap);
    if (s.ok()) {
      s = RunReader(Sql::kCommit);
    }
    if (!s.ok()) RollbackQuietly(c);
    if (!s.ok()) return s;
    return snap;
  }

  Result<std::vector<AuditRecord>> ReadAudit(int64_t after_seq, int64_t limit) override {
    std::lock_guard<std::mutex> lock(read_mu_);
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, reader_->Get(Sql::kSelectAudit));
    Stmt st(raw);
    st.Bind(1, after_seq).Bind(2, limit > 0 ? limit : int64_t{-1});
    std::vector<AuditRecord> out;
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      AuditRecord r;
      r.seq = st.Int(0);
      r.time_unix_ms = st.Int(1);
      r.tenant_id = st.Text(2);
      r.actor = st.Text(3);
      r.operation = st.Text(4);
      r.object = st.Text(5);
      r.outcome = st.Text(6);
      r.detail_json = st.Text(7);
      r.prev_hash_hex = st.Text(8);
      r.hash_hex = st.Text(9);
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return FromSqlite(rc, reader_->db(), "reading the audit log");
    return out;
  }

  Result<AuditHead> ReadAuditHead() override {
    std::lock_guard<std::mutex> lock(read_mu_);
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, reader_->Get(Sql::kReadHead));
    Stmt st(raw);
    int rc = st.Step();
    if (rc == SQLITE_DONE)
      return Status::DataLoss("'" + path_ + "': the audit head row is missing");
    if (rc != SQLITE_ROW) return FromSqlite(rc, reader_->db(), "reading the audit head");
    return AuditHead{st.Int(0), st.Text(1)};
  }

  Result<ChangedRows> ReadChangedRows(int64_t after_seq) override {
    std::lock_guard<std::mutex> lock(read_mu_);
    DS_RETURN_IF_ERROR(RunReader(Sql::kBeginDeferred));  // one snapshot for both
    ChangedRows out;
    Status s = LoadInto(out.rows);
    if (s.ok()) {
      Result<std::vector<ChangeRecord>> changes = ReadChangesLocked(after_seq, 0);
      if (changes.ok()) {
        out.changes = std::move(changes).value();
      } else {
        s = changes.status();
      }
    }
    if (s.ok()) s = RunReader(Sql::kCommit);
    if (!s.ok()) {
      RollbackQuietly(*reader_);
      return s;
    }
    return out;
  }

  Result<std::vector<ChangeRecord>> ReadChanges(int64_t after_seq, int64_t limit) override {
    std::lock_guard<std::mutex> lock(read_mu_);
    return ReadChangesLocked(after_seq, limit);
  }

  // REQUIRES: read_mu_ held.
  Result<std::vector<ChangeRecord>> ReadChangesLocked(int64_t after_seq, int64_t limit) {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, reader_->Get(Sql::kSelectChanges));
    Stmt st(raw);
    st.Bind(1, after_seq).Bind(2, limit > 0 ? after_seq + limit : INT64_MAX);
    std::vector<ChangeRecord> out;
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      out.push_back(ChangeRecord{st.Int(0), st.Text(1), st.Text(2)});
    }
    if (rc != SQLITE_DONE) return FromSqlite(rc, reader_->db(), "reading the change feed");
    return out;
  }

 private:
  friend class SqliteTxn;

  void EndTxn() {
    {
      std::lock_guard<std::mutex> lock(txn_mu_);
      txn_open_ = false;
    }
    txn_ended_.notify_one();
  }

  Status RunReader(Sql sql) {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, reader_->Get(sql));
    Stmt st(raw);
    int rc = st.Step();
    if (rc != SQLITE_DONE) return FromSqlite(rc, reader_->db(), "reading '" + path_ + "'");
    return Status::Ok();
  }

  // Steps `sql` to its end, calling `row(st)` for each row.
  template <typename RowFn>
  Status ForEachRow(Sql sql, RowFn row) {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, reader_->Get(sql));
    Stmt st(raw);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) row(st);
    if (rc != SQLITE_DONE) return FromSqlite(rc, reader_->db(), "loading '" + path_ + "'");
    return Status::Ok();
  }

  Status LoadInto(StoreSnapshot& snap) {
    DS_RETURN_IF_ERROR(ForEachRow(Sql::kSelectTenants, [&](const Stmt& st) {
      snap.tenants.push_back(TenantRecord{st.Text(0), st.Text(1), st.Int(2)});
    }));
    DS_RETURN_IF_ERROR(ForEachRow(Sql::kSelectTokens, [&](const Stmt& st) {
      snap.tokens.push_back(
          TokenRecord{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Text(5)});
    }));
    DS_RETURN_IF_ERROR(ForEachRow(Sql::kSelectHosts, [&](const Stmt& st) {
      snap.hosts.push_back(HostRecord{st.Text(0), st.Text(1), static_cast<uint64_t>(st.Int(2)),
                                      st.Int(3), st.Text(4), st.Int(5) != 0});
    }));
    DS_RETURN_IF_ERROR(ForEachRow(Sql::kSelectVms, [&](const Stmt& st) {
      snap.vms.push_back(VmRecord{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4),
                                  st.Text(5), st.Text(6), st.Int(7), st.Int(8), st.Text(9),
                                  st.Int(10), st.Text(11)});
    }));
    DS_RETURN_IF_ERROR(ForEachRow(Sql::kSelectImages, [&](const Stmt& st) {
      snap.images.push_back(ImageRecord{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4),
                                        st.Text(5), st.Int(6)});
    }));
    DS_RETURN_IF_ERROR(ForEachRow(Sql::kSelectNetworks, [&](const Stmt& st) {
      snap.networks.push_back(NetworkRecord{st.Text(0), st.Text(1), st.Text(2), st.Text(3),
                                            st.Int(4), st.Text(5), st.Int(6)});
    }));
    DS_RETURN_IF_ERROR(ForEachRow(Sql::kSelectIdempotency, [&](const Stmt& st) {
      snap.idempotency.push_back(IdempotencyRecord{
          st.Text(0), st.Text(1), st.Text(2), static_cast<int>(st.Int(3)), st.Text(4), st.Int(5)});
    }));
    DS_RETURN_IF_ERROR(
        ForEachRow(Sql::kCountAudit, [&](const Stmt& st) { snap.audit_records = st.Int(0); }));
    return ForEachRow(Sql::kReadChangeHead, [&](const Stmt& st) { snap.change_seq = st.Int(0); });
  }

  const std::string path_;
  std::unique_ptr<Connection> writer_;  // used by the open Txn only
  std::unique_ptr<Connection> reader_;  // guarded by read_mu_

  std::mutex txn_mu_;
  std::condition_variable txn_ended_;
  bool txn_open_ = false;
  std::thread::id txn_owner_;

  std::mutex read_mu_;
};

// --- SqliteTxn --------------------------------------------------------------------------------

void SqliteTxn::End() {
  done_ = true;
  in_savepoint_ = false;
  store_->EndTxn();
}

Status SqliteTxn::Savepoint() {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (in_savepoint_) return Status::FailedPrecondition("a savepoint is already open");
  DS_RETURN_IF_ERROR(Run(Sql::kSavepoint, "opening a savepoint"));
  in_savepoint_ = true;
  changes_.Mark();
  return Status::Ok();
}

Status SqliteTxn::ReleaseSavepoint() {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (!in_savepoint_) return Status::FailedPrecondition("no savepoint is open");
  DS_RETURN_IF_ERROR(Run(Sql::kRelease, "releasing the savepoint"));
  in_savepoint_ = false;
  return Status::Ok();
}

Status SqliteTxn::RollbackToSavepoint() {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (!in_savepoint_) return Status::FailedPrecondition("no savepoint is open");
  // ROLLBACK TO keeps the savepoint on the stack; RELEASE pops it (nothing left to keep).
  DS_RETURN_IF_ERROR(Run(Sql::kRollbackTo, "rolling back to the savepoint"));
  DS_RETURN_IF_ERROR(Run(Sql::kRelease, "releasing the savepoint"));
  in_savepoint_ = false;
  changes_.TruncateToMark();
  return Status::Ok();
}

Result<uint64_t> SqliteTxn::HostGeneration(const std::string& name) {
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kHostGeneration));
  Stmt st(raw);
  st.Bind(1, name);
  int rc = st.Step();
  if (rc == SQLITE_ROW) return static_cast<uint64_t>(st.Int(0));
  if (rc == SQLITE_DONE) return Status::NotFound("unknown host '" + name + "'");
  return Fail(rc, "looking up host '" + name + "'");
}

Status SqliteTxn::InsertTenant(const TenantRecord& t) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertTenant));
  Stmt st(raw);
  st.Bind(1, t.id).Bind(2, t.name).Bind(3, t.created_unix_ms);
  int rc = st.Step();
  if (rc == SQLITE_DONE) {
    changes_.Record("tenant", t.id);
    return Status::Ok();
  }
  return Fail(rc, "inserting tenant '" + t.id + "' (name '" + t.name + "')");
}

Status SqliteTxn::InsertToken(const TokenRecord& t) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertToken));
  Stmt st(raw);
  st.Bind(1, t.id).Bind(2, t.sha256_hex).Bind(3, t.tenant_id).Bind(4, t.role);
  st.Bind(5, t.created_unix_ms).Bind(6, t.host);
  int rc = st.Step();
  if (rc == SQLITE_DONE) {
    changes_.Record("token", t.id);
    return Status::Ok();
  }
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    Status s = Fail(rc, "inserting token '" + t.id + "'");
    if (!broken_.ok()) return s;
    return Status::NotFound("token '" + t.id + "': unknown tenant '" + t.tenant_id + "'");
  }
  return Fail(rc, "inserting token '" + t.id + "'");
}

Result<uint64_t> SqliteTxn::PutHost(const std::string& name, const std::string& inventory_json,
                                    uint64_t expected_generation, int64_t now_unix_ms) {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (expected_generation == 0) {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertHost));
    Stmt st(raw);
    st.Bind(1, name).Bind(2, inventory_json).Bind(3, now_unix_ms);
    int rc = st.Step();
    if (rc == SQLITE_DONE) {
      changes_.Record("host", name);
      return uint64_t{1};
    }
    if (IsUniqueViolation(rc)) {
      Status s = Fail(rc, "inserting host '" + name + "'");
      if (!broken_.ok()) return s;
      return Status::Aborted("host '" + name + "' already exists, expected generation 0");
    }
    return Fail(rc, "inserting host '" + name + "'");
  }
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kUpdateHost));
    Stmt st(raw);
    st.Bind(1, name).Bind(2, inventory_json).Bind(3, now_unix_ms);
    st.Bind(4, static_cast<int64_t>(expected_generation));
    int rc = st.Step();
    if (rc != SQLITE_DONE) return Fail(rc, "updating host '" + name + "'");
    if (sqlite3_changes(c_->db()) == 1) {
      changes_.Record("host", name);
      return expected_generation + 1;
    }
  }
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

Result<uint64_t> SqliteTxn::GuardHost(const std::string& name, uint64_t expected_generation) {
  DS_RETURN_IF_ERROR(CheckOpen());
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kBumpHost));
    Stmt st(raw);
    st.Bind(1, name).Bind(2, static_cast<int64_t>(expected_generation));
    int rc = st.Step();
    if (rc != SQLITE_DONE) return Fail(rc, "guarding host '" + name + "'");
    if (sqlite3_changes(c_->db()) == 1) {
      changes_.Record("host", name);
      return expected_generation + 1;
    }
  }
  return StaleHost(name, expected_generation);
}

Status SqliteTxn::StaleHost(const std::string& name, uint64_t expected_generation) {
  DS_ASSIGN_OR_RETURN(uint64_t current, HostGeneration(name));  // NotFound when absent
  return Status::Aborted("host '" + name + "' is at generation " + std::to_string(current) +
                         ", expected " + std::to_string(expected_generation));
}

Result<uint64_t> SqliteTxn::UpdateHostStatus(const std::string& name, const std::string& schedule,
                                             bool managed, uint64_t expected_generation,
                                             int64_t now_unix_ms) {
  DS_RETURN_IF_ERROR(CheckOpen());
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kUpdateHostStatus));
    Stmt st(raw);
    st.Bind(1, name).Bind(2, schedule).Bind(3, int64_t{managed ? 1 : 0}).Bind(4, now_unix_ms);
    st.Bind(5, static_cast<int64_t>(expected_generation));
    int rc = st.Step();
    if (rc != SQLITE_DONE) return Fail(rc, "updating the status of host '" + name + "'");
    if (sqlite3_changes(c_->db()) == 1) {
      changes_.Record("host", name);
      return expected_generation + 1;
    }
  }
  return StaleHost(name, expected_generation);
}

Status SqliteTxn::DeleteHost(const std::string& name, uint64_t expected_generation) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(uint64_t current, HostGeneration(name));  // NotFound when absent
  if (current != expected_generation) return StaleHost(name, expected_generation);
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kFirstVmOnHost));
    Stmt st(raw);
    st.Bind(1, name);
    int rc = st.Step();
    if (rc != SQLITE_ROW) return Fail(rc, "looking for VMs on host '" + name + "'");
    if (st.Int(0) > 0) {
      return Status::FailedPrecondition("host '" + name + "' still has " +
                                        std::to_string(st.Int(0)) + " VM(s) on it, e.g. '" +
                                        st.Text(1) + "'");
    }
  }
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kDeleteHostTokens));
    Stmt st(raw);
    st.Bind(1, name);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) changes_.Record("token", st.Text(0));
    if (rc != SQLITE_DONE) return Fail(rc, "deleting the tokens of host '" + name + "'");
  }
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kDeleteHost));
  Stmt st(raw);
  st.Bind(1, name).Bind(2, static_cast<int64_t>(expected_generation));
  int rc = st.Step();
  if (rc != SQLITE_DONE) return Fail(rc, "deleting host '" + name + "'");
  changes_.Record("host", name);
  return Status::Ok();  // the generation was read in this Txn: the row is there
}

Status SqliteTxn::InsertVm(const VmRecord& vm) {
  DS_RETURN_IF_ERROR(CheckOpen());
  int rc;
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertVm));
    Stmt st(raw);
    st.Bind(1, vm.id).Bind(2, vm.tenant_id).Bind(3, vm.name).Bind(4, vm.host);
    st.Bind(5, vm.spec_json).Bind(6, vm.allocation_json).Bind(7, vm.state);
    st.Bind(8, vm.created_unix_ms).Bind(9, vm.updated_unix_ms).Bind(10, vm.power);
    st.Bind(11, vm.reboot_seq).Bind(12, vm.state_detail);
    rc = st.Step();
    if (rc == SQLITE_DONE) {
      changes_.Record("vm", vm.id);
      return Status::Ok();
    }
    if (rc != SQLITE_CONSTRAINT_FOREIGNKEY) return Fail(rc, "inserting vm '" + vm.id + "'");
  }
  Status fk = Fail(rc, "inserting vm '" + vm.id + "'");
  if (!broken_.ok()) return fk;
  // SQLite does not say which reference failed: name it for the caller.
  Result<uint64_t> host = HostGeneration(vm.host);
  if (!host.ok() && host.status().IsNotFound()) {
    return Status::NotFound("vm '" + vm.id + "': unknown host '" + vm.host + "'");
  }
  return Status::NotFound("vm '" + vm.id + "': unknown tenant '" + vm.tenant_id + "'");
}

Status SqliteTxn::UpdateVm(const VmRecord& vm) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kUpdateVm));
  Stmt st(raw);
  st.Bind(1, vm.id).Bind(2, vm.name).Bind(3, vm.host).Bind(4, vm.spec_json);
  st.Bind(5, vm.allocation_json).Bind(6, vm.state).Bind(7, vm.updated_unix_ms);
  st.Bind(8, vm.power).Bind(9, vm.reboot_seq).Bind(10, vm.state_detail);
  int rc = st.Step();
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    Status s = Fail(rc, "updating vm '" + vm.id + "'");
    if (!broken_.ok()) return s;
    return Status::NotFound("vm '" + vm.id + "': unknown host '" + vm.host + "'");
  }
  if (rc != SQLITE_DONE) return Fail(rc, "updating vm '" + vm.id + "'");
  if (sqlite3_changes(c_->db()) == 0) return Status::NotFound("unknown vm '" + vm.id + "'");
  changes_.Record("vm", vm.id);
  return Status::Ok();
}

Status SqliteTxn::DeleteVm(const std::string& id) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kDeleteVm));
  Stmt st(raw);
  st.Bind(1, id);
  int rc = st.Step();
  if (rc != SQLITE_DONE) return Fail(rc, "deleting vm '" + id + "'");
  if (sqlite3_changes(c_->db()) == 0) return Status::NotFound("unknown vm '" + id + "'");
  changes_.Record("vm", id);
  return Status::Ok();
}

Status SqliteTxn::InsertImage(const ImageRecord& image) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertImage));
  Stmt st(raw);
  st.Bind(1, image.name).Bind(2, image.kind).Bind(3, image.file).Bind(4, image.kernel);
  st.Bind(5, image.initrd).Bind(6, image.cmdline).Bind(7, image.created_unix_ms);
  int rc = st.Step();
  if (rc == SQLITE_DONE) {
    changes_.Record("image", image.name);
    return Status::Ok();
  }
  Status s = Fail(rc, "inserting image '" + image.name + "'");
  if (IsUniqueViolation(rc) && broken_.ok()) {
    return Status::AlreadyExists("image name '" + image.name + "' is taken");
  }
  return s;
}

Status SqliteTxn::DeleteImage(const std::string& name) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kDeleteImage));
  Stmt st(raw);
  st.Bind(1, name);
  int rc = st.Step();
  if (rc != SQLITE_DONE) return Fail(rc, "deleting image '" + name + "'");
  if (sqlite3_changes(c_->db()) == 0) return Status::NotFound("unknown image '" + name + "'");
  changes_.Record("image", name);
  return Status::Ok();
}

Status SqliteTxn::InsertNetwork(const NetworkRecord& n) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertNetwork));
  Stmt st(raw);
  st.Bind(1, n.id).Bind(2, n.tenant_id).Bind(3, n.name).Bind(4, n.cidr).Bind(5, n.segment_id);
  st.Bind(6, n.physical_network).Bind(7, n.created_unix_ms);
  int rc = st.Step();
  if (rc == SQLITE_DONE) {
    changes_.Record("network", n.id);
    return Status::Ok();
  }
  Status s = Fail(rc, "inserting network '" + n.id + "'");
  if (IsUniqueViolation(rc) && broken_.ok()) {
    return Status::AlreadyExists("network " + n.id + ": its id, name '" + n.name +
                                 "' in the tenant or segment " + std::to_string(n.segment_id) +
                                 " is taken");
  }
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY && broken_.ok()) {
    return Status::NotFound("unknown tenant '" + n.tenant_id + "'");
  }
  return s;
}

Status SqliteTxn::DeleteNetwork(const std::string& id) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kDeleteNetwork));
  Stmt st(raw);
  st.Bind(1, id);
  int rc = st.Step();
  if (rc != SQLITE_DONE) return Fail(rc, "deleting network '" + id + "'");
  if (sqlite3_changes(c_->db()) == 0) return Status::NotFound("unknown network '" + id + "'");
  changes_.Record("network", id);
  return Status::Ok();
}

Status SqliteTxn::InsertIdempotency(const IdempotencyRecord& r) {
  DS_RETURN_IF_ERROR(CheckOpen());
  DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertIdempotency));
  Stmt st(raw);
  st.Bind(1, r.tenant_id).Bind(2, r.key).Bind(3, r.request_sha256_hex);
  st.Bind(4, int64_t{r.http_status}).Bind(5, r.response_json).Bind(6, r.created_unix_ms);
  int rc = st.Step();
  if (rc == SQLITE_DONE) {
    changes_.Record("idempotency", IdempotencyChangeKey(r.tenant_id, r.key));
    return Status::Ok();
  }
  return Fail(rc, "inserting idempotency key '" + r.key + "' of tenant '" + r.tenant_id + "'");
}

Result<AuditRecord> SqliteTxn::AppendAudit(AuditRecord r) {
  DS_RETURN_IF_ERROR(CheckOpen());
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kReadHead));
    Stmt st(raw);
    int rc = st.Step();
    if (rc == SQLITE_DONE) return Status::DataLoss("the audit head row is missing");
    if (rc != SQLITE_ROW) return Fail(rc, "reading the audit head");
    r.seq = st.Int(0) + 1;
    r.prev_hash_hex = st.Text(1);
  }
  r.hash_hex = AuditHash(r.prev_hash_hex, r);
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertAudit));
    Stmt st(raw);
    st.Bind(1, r.seq).Bind(2, r.time_unix_ms).Bind(3, r.tenant_id).Bind(4, r.actor);
    st.Bind(5, r.operation).Bind(6, r.object).Bind(7, r.outcome).Bind(8, r.detail_json);
    st.Bind(9, r.prev_hash_hex).Bind(10, r.hash_hex);
    int rc = st.Step();
    if (IsUniqueViolation(rc)) {
      Status s = Fail(rc, "appending audit record " + std::to_string(r.seq));
      if (!broken_.ok()) return s;
      return Status::DataLoss("audit record " + std::to_string(r.seq) +
                              " already exists beyond the audit head: the log was tampered with");
    }
    if (rc != SQLITE_DONE) return Fail(rc, "appending audit record " + std::to_string(r.seq));
  }
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kUpdateHead));
    Stmt st(raw);
    st.Bind(1, r.seq).Bind(2, r.hash_hex);
    int rc = st.Step();
    if (rc != SQLITE_DONE) return Fail(rc, "moving the audit head");
  }
  return r;
}

Status SqliteTxn::Commit() {
  if (done_) return Status::FailedPrecondition("transaction already committed or rolled back");
  if (!broken_.ok()) {
    Status s = CheckOpen();
    RollbackQuietly(*c_);
    End();
    return s;
  }
  Status s = WriteChanges();
  if (s.ok()) s = Run(Sql::kCommit, "committing to '" + c_->path() + "'");
  if (!s.ok()) {
    RollbackQuietly(*c_);  // a failed COMMIT may leave the transaction open
    change_seq_ = 0;
  }
  End();
  return s;
}

Status SqliteTxn::WriteChanges() {
  if (changes_.empty()) return Status::Ok();
  {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kBumpChangeHead));
    Stmt st(raw);
    int rc = st.Step();
    if (rc != SQLITE_ROW) return Fail(rc, "numbering the change feed");
    change_seq_ = st.Int(0);
  }
  for (const auto& [kind, key] : changes_.Unique()) {
    DS_ASSIGN_OR_RETURN(sqlite3_stmt * raw, c_->Get(Sql::kInsertChange));
    Stmt st(raw);
    st.Bind(1, change_seq_).Bind(2, kind).Bind(3, key);
    int rc = st.Step();
    if (rc != SQLITE_DONE) return Fail(rc, "appending to the change feed");
  }
  return Status::Ok();
}

void SqliteTxn::Rollback() {
  if (done_) return;
  if (!sqlite3_get_autocommit(c_->db())) {
    Status s = Run(Sql::kRollback, "rolling back");
    if (!s.ok()) RollbackQuietly(*c_);
  }
  End();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("sqlite store: empty path");
  const std::filesystem::path fs_path(path);
  if (fs_path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(fs_path.parent_path(), ec);
    if (ec) {
      return Status::Unavailable("cannot create the folder of '" + path + "': " + ec.message());
    }
  }
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer, OpenConnection(path, /*reader=*/false));
  Status s = Migrate(*writer);
  if (!s.ok()) {
    if (s.code() == StatusCode::kDataLoss && s.message().find(path) == std::string::npos) {
      s = Status::DataLoss("'" + path + "': " + s.message());
    }
    return s;
  }
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader, OpenConnection(path, /*reader=*/true));
  return std::unique_ptr<Store>(
      std::make_unique<SqliteStore>(path, std::move(writer), std::move(reader)));
}

}  // namespace devshare::store
