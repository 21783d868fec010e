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
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "1");
  EXPECT_GT(std::stoll(rows[0][1]), 0);
  EXPECT_EQ(raw.Query("PRAGMA journal_mode")[0][0], "wal");
  auto tables = raw.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  std::vector<std::string> names;
  for (const auto& r : tables) names.push_back(r[0]);
  EXPECT_EQ(names, (std::vector<std::string>{"audit", "audit_head", "hosts", "idempotency",
                                             "schema_migrations", "tenants", "tokens", "vms"}));
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
