// The sqlite backend's file-level behaviour: durability across reopen, migrations of older
// schemas, pragmas, foreign and future files, tampering, one large transaction.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"
#include "store/sqlite_schema.h"
#include "store/store_test_util.h"

namespace devshare::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class SqliteStoreTest : public testing::Test {
 protected:
  std::string Path(const std::string& name = "ledger.db") {
    return (folder_.path() / name).string();
  }
  std::unique_ptr<Store> MustOpen(const std::string& path) {
    Result<std::unique_ptr<Store>> s = OpenSqliteStore(path);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  TempFolder folder_;
};

TEST_F(SqliteStoreTest, DataSurvivesCloseAndReopen) {
  const std::string path = Path("a/b/c/ledger.db");
  StoreSnapshot before;
  std::vector<AuditRecord> log_before;
  {
    auto store = MustOpen(path);
    ASSERT_NE(store, nullptr);
    auto txn = std::move(store->Begin()).value();
    ASSERT_TRUE(txn->InsertTenant(Tenant("t-1", "acme")).ok());
    ASSERT_TRUE(txn->PutHost("h1", "{}", 0, 1).ok());
    ASSERT_TRUE(txn->InsertVm(Vm("vm-1", "h1")).ok());
    ASSERT_TRUE(txn->AppendAudit(Audit("vm.create", "vm/vm-1")).ok());
    ASSERT_TRUE(txn->Commit().ok());
    before = std::move(store->Load()).value();
    log_before = std::move(store->ReadAudit(0, 0)).value();
  }
  auto store = MustOpen(path);  // an already migrated file
  ASSERT_NE(store, nullptr);
  ExpectSameSnapshot(std::move(store->Load()).value(), before);
  std::vector<AuditRecord> log = std::move(store->ReadAudit(0, 0)).value();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].hash_hex, log_before[0].hash_hex);
  EXPECT_TRUE(VerifyAuditChain(log, std::move(store->ReadAuditHead()).value()).ok());
  // And the chain continues across the reopen.
  auto txn = std::move(store->Begin()).value();
  Result<AuditRecord> next = txn->AppendAudit(Audit("vm.delete", "vm/vm-1"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->seq, 2);
  EXPECT_EQ(next->prev_hash_hex, log[0].hash_hex);
  ASSERT_TRUE(txn->Commit().ok());
}

TEST_F(SqliteStoreTest, MigrationsAreRecordedAndPragmasSet) {
  const std::string path = Path();
  {
    auto store = MustOpen(path);
    ASSERT_NE(store, nullptr);
    auto again = MustOpen(path);  // a second store on a migrated file
    ASSERT_NE(again, nullptr);
  }
  RawDb raw(path);
  auto rows = raw.Query("SELECT version, applied_unix_ms FROM schema_migrations ORDER BY version");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0][0], "1");
  EXPECT_EQ(rows[1][0], "2");
  EXPECT_EQ(rows[2][0], "3");
  EXPECT_EQ(rows[3][0], "4");
  EXPECT_EQ(std::to_string(SqliteLatestSchemaVersion()), "4");
  for (const auto& row : rows) EXPECT_GT(std::stoll(row[1]), 0);
  EXPECT_EQ(raw.Query("PRAGMA journal_mode")[0][0], "wal");
  auto tables = raw.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  std::vector<std::string> names;
  for (const auto& r : tables) names.push_back(r[0]);
  EXPECT_EQ(names, (std::vector<std::string>{"audit", "audit_head", "change_head", "changes",
                                             "hosts", "idempotency", "images", "networks",
                                             "schema_migrations", "tenants", "tokens", "vms"}));
}

// Builds a database of schema version `version` from the released migrations (exactly what an
// older devshare left on disk), without the store.
void CreateSchemaAt(const std::string& path, int version) {
  RawDb raw(path);
  raw.Exec("PRAGMA journal_mode=WAL");
  raw.Exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_unix_ms INTEGER NOT "
      "NULL)");
  for (const SqliteMigration& m : SqliteMigrations()) {
    if (m.version > version) break;
    raw.Exec(m.sql);
    raw.Exec("INSERT INTO schema_migrations (version, applied_unix_ms) VALUES (" +
             std::to_string(m.version) + ", 1)");
  }
}

TEST_F(SqliteStoreTest, VersionOneDatabaseMigratesAndKeepsItsRowsWithDefaults) {
  const std::string path = Path();
  CreateSchemaAt(path, 1);
  {
    RawDb raw(path);  // rows as devshare with schema 1 wrote them
    raw.Exec("INSERT INTO tenants VALUES ('t-1', 'acme', 1000)");
    raw.Exec("INSERT INTO tokens VALUES ('k-1', 'aa', 't-1', 'admin', 1100)");
    raw.Exec("INSERT INTO hosts VALUES ('h1', '{\"cpus\":64}', 3, 500)");
    raw.Exec(
        "INSERT INTO vms VALUES ('vm-1', 't-1', 'web', 'h1', '{}', '{\"cpu_milli\":1}', "
        "'allocated', 2000, 2100)");
    raw.Exec("INSERT INTO idempotency VALUES ('t-1', 'key', 'bb', 201, '{}', 1200)");
  }
  auto store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  StoreSnapshot want;
  want.tenants = {Tenant("t-1", "acme")};
  want.tokens = {{"k-1", "aa", "t-1", "admin", 1100, ""}};
  want.hosts = {{"h1", R"({"cpus":64})", 3, 500, "open", false}};
  VmRecord vm{"vm-1", "t-1", "web", "h1", "{}", R"({"cpu_milli":1})", "allocated", 2000, 2100};
  EXPECT_EQ(vm.power, "running");
  EXPECT_EQ(vm.reboot_seq, 0);
  want.vms = {vm};
  want.idempotency = {{"t-1", "key", "bb", 201, "{}", 1200}};
  ExpectSameSnapshot(std::move(store->Load()).value(), want);

  // The migrated file takes every new write and keeps it across a reopen.
  {
    auto txn = std::move(store->Begin()).value();
    ASSERT_TRUE(txn->UpdateHostStatus("h1", "cordoned", true, 3, 600).ok());
    VmRecord stopped = vm;
    stopped.power = "stopped";
    stopped.reboot_seq = 2;
    stopped.state_detail = "shutoff: destroyed";
    ASSERT_TRUE(txn->UpdateVm(stopped).ok());
    ASSERT_TRUE(txn->InsertToken({"k-2", "cc", "t-1", "agent", 1300, "h1"}).ok());
    ASSERT_TRUE(txn->InsertImage(DiskImage("debian")).ok());
    ASSERT_TRUE(txn->Commit().ok());
    want.hosts = {{"h1", R"({"cpus":64})", 4, 600, "cordoned", true}};
    want.vms = {stopped};
    want.tokens.push_back({"k-2", "cc", "t-1", "agent", 1300, "h1"});
    want.images = {DiskImage("debian")};
  }
  store.reset();
  store = MustOpen(path);
  ASSERT_NE(store, nullptr);
  ExpectSameSnapshot(std::move(store->Load()).value(), want);
  RawDb raw(path);
  EXPECT_EQ(raw.Query("SELECT max(version) FROM schema_migrations")[0][0],
            std::to_string(SqliteLatestSchemaVersion()));
}

TEST_F(SqliteStoreTest, FailedMigrationLeavesTheOldSchema) {
  const std::string path = Path();
  CreateSchemaAt(path, 1);
  {
    RawDb raw(path);  // a table in the way of migration 2
    raw.Exec("CREATE TABLE images (name TEXT)");
  }
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(path);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("schema version 2"));
  RawDb raw(path);
  EXPECT_EQ(raw.Query("SELECT max(version) FROM schema_migrations")[0][0], "1");
  // Migration 2 ran in one transaction: none of its columns were added.
  EXPECT_TRUE(
      raw.Query("SELECT name FROM pragma_table_info('hosts') WHERE name = 'schedule'").empty());
}

TEST_F(SqliteStoreTest, GarbageFileIsDataLoss) {
  const std::string path = Path("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 200; ++i) out << "this is not an sqlite database, just text. ";
  }
  ASSERT_GT(fs::file_size(path), 4096u);
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss) << s.status().ToString();
  EXPECT_THAT(s.status().message(), HasSubstr(path));
}

TEST_F(SqliteStoreTest, ForeignSqliteDatabaseIsDataLoss) {
  const std::string path = Path("other.db");
  {
    RawDb raw(path);
    raw.Exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
  }
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss) << s.status().ToString();
  EXPECT_THAT(s.status().message(), HasSubstr(path));
  EXPECT_THAT(s.status().message(), HasSubstr("not a devshare"));
}

TEST_F(SqliteStoreTest, FutureSchemaVersionIsRefused) {
  const std::string path = Path();
  { ASSERT_NE(MustOpen(path), nullptr); }
  {
    RawDb raw(path);
    raw.Exec("INSERT INTO schema_migrations (version, applied_unix_ms) VALUES (99, 1)");
  }
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
  EXPECT_THAT(s.status().message(), HasSubstr("schema version 99"));
}

TEST_F(SqliteStoreTest, FolderInPlaceOfTheFileIsUnavailable) {
  const std::string path = Path("dir.db");
  fs::create_directories(path);
  Result<std::unique_ptr<Store>> s = OpenSqliteStore(path);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr(path));
}

TEST_F(SqliteStoreTest, TamperingWithTheFileIsCaughtByVerify) {
  const std::string path = Path();
  {
    auto store = MustOpen(path);
    auto txn = std::move(store->Begin()).value();
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(txn->AppendAudit(Audit("op", "o")).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  {
    RawDb raw(path);
    raw.Exec("UPDATE audit SET outcome = 'forbidden' WHERE seq = 2");
  }
  auto store = MustOpen(path);
  Status s = VerifyAuditChain(std::move(store->ReadAudit(0, 0)).value(),
                              std::move(store->ReadAuditHead()).value());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("audit record 2: hash mismatch"));
}

TEST_F(SqliteStoreTest, ManyWritesInOneTxnAreFast) {
  // Group commit: a few hundred VM inserts + deletes with audit records in one transaction.
  auto store = MustOpen(Path());
  auto txn = std::move(store->Begin()).value();
  ASSERT_TRUE(txn->InsertTenant(Tenant("t-1", "acme")).ok());
  ASSERT_TRUE(txn->PutHost("h1", "{}", 0, 1).ok());
  uint64_t gen = 1;
  for (int i = 0; i < 300; ++i) {
    const std::string id = "vm-" + std::to_string(i);
    ASSERT_TRUE(txn->Savepoint().ok());
    ASSERT_TRUE(txn->InsertVm(Vm(id, "h1")).ok());
    gen = std::move(txn->GuardHost("h1", gen)).value();
    ASSERT_TRUE(txn->AppendAudit(Audit("vm.create", "vm/" + id)).ok());
    ASSERT_TRUE(txn->ReleaseSavepoint().ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(txn->DeleteVm(id).ok());
      gen = std::move(txn->GuardHost("h1", gen)).value();
      ASSERT_TRUE(txn->AppendAudit(Audit("vm.delete", "vm/" + id)).ok());
    }
  }
  ASSERT_TRUE(txn->Commit().ok());
  StoreSnapshot snap = std::move(store->Load()).value();
  EXPECT_EQ(snap.vms.size(), 150u);
  EXPECT_EQ(snap.audit_records, 450);
  EXPECT_EQ(snap.hosts.at(0).generation, gen);
  EXPECT_TRUE(VerifyAuditChain(std::move(store->ReadAudit(0, 0)).value(),
                               std::move(store->ReadAuditHead()).value())
                  .ok());
}

}  // namespace
}  // namespace devshare::store
