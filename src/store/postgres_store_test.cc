// The postgresql backend's own behaviour, on a throwaway server (postgres_test_env.h; skipped
// with the reason when none can be started): several Store objects on one database behave as
// control-plane replicas do (the host-generation compare-and-swap and the audit chain hold
// across them), migrations run once when replicas start together, committed data survives a
// crash of the server and the store reconnects, foreign and newer databases are refused, and
// passwords stay out of messages.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"
#include "store/postgres_connection.h"
#include "store/postgres_schema.h"
#include "store/postgres_test_env.h"
#include "store/store_test_util.h"

namespace devshare::store {
namespace {

TEST(PostgresUrl, PasswordsAreLeftOutOfDisplays) {
  EXPECT_EQ(PgDisplayUrl("postgresql://ds:s3cret@db1:5432/ledger"),
            "postgresql://ds@db1:5432/ledger");
  EXPECT_EQ(PgDisplayUrl("postgresql:///ledger?host=/run/pg&password=s3cret&user=ds"),
            "postgresql:///ledger?host=/run/pg&password=***&user=ds");
  EXPECT_EQ(PgDisplayUrl("postgresql://db1/ledger"), "postgresql://db1/ledger");
}

TEST(PostgresUrl, AnUnreachableServerIsUnavailableNamingIt) {
  Result<std::unique_ptr<Store>> s =
      OpenStore("postgresql:///ledger?host=/nonexistent-devshare&password=s3cret");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status().ToString();
  EXPECT_NE(s.status().message().find("/nonexistent-devshare"), std::string::npos)
      << s.status().ToString();
  EXPECT_EQ(s.status().message().find("s3cret"), std::string::npos) << s.status().ToString();
  Result<std::unique_ptr<Store>> bad = OpenStore("postgresql:ledger");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << bad.status().ToString();
}

class PostgresStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    Result<testutil::PostgresServer*> server = SharedPostgres();
    if (!server.ok()) GTEST_SKIP() << server.status().ToString();
    server_ = *server;
    Result<std::string> url = FreshPostgresDatabase(&db_);
    ASSERT_TRUE(url.ok()) << url.status().ToString();
    url_ = *url;
  }

  std::unique_ptr<Store> Open() {
    Result<std::unique_ptr<Store>> s = OpenStore(url_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  testutil::PostgresServer* server_ = nullptr;
  std::string url_, db_;
};

TEST_F(PostgresStoreTest, AGenerationCasOnOneReplicaWaitsForTheOtherAndFindsItStale) {
  std::unique_ptr<Store> a = Open(), b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  {
    auto txn = a->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->PutHost("h1", "{}", 0, 1).ok());
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  // Replica A guards h1 at generation 1 and holds its Txn open; replica B decided on the same
  // generation: its guard waits for A, then finds generation 2.
  auto ta = a->Begin();
  ASSERT_TRUE(ta.ok());
  ASSERT_TRUE((*ta)->GuardHost("h1", 1).ok());
  std::atomic<bool> b_done{false};
  Status b_result;
  std::thread other([&] {
    auto tb = b->Begin();
    if (!tb.ok()) {
      b_result = tb.status();
    } else {
      b_result = (*tb)->GuardHost("h1", 1).status();
      (*tb)->Rollback();
    }
    b_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(b_done.load()) << "B's compare-and-swap did not wait for A's open Txn";
  ASSERT_TRUE((*ta)->Commit().ok());
  other.join();
  EXPECT_EQ(b_result.code(), StatusCode::kAborted) << b_result.ToString();
  EXPECT_NE(b_result.message().find("generation 2"), std::string::npos) << b_result.ToString();
  EXPECT_EQ(b->Load()->hosts.at(0).generation, 2u);
}

TEST_F(PostgresStoreTest, ReplicasAppendingTogetherKeepOneAuditChain) {
  constexpr int kReplicas = 3;
  constexpr int kTxns = 20;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kReplicas; ++i) {
    stores.push_back(Open());
    ASSERT_NE(stores.back(), nullptr);
  }
  std::vector<Status> failures(kReplicas);
  std::vector<std::thread> threads;
  for (int r = 0; r < kReplicas; ++r) {
    threads.emplace_back([&, r] {
      for (int i = 0; i < kTxns; ++i) {
        auto txn = stores[r]->Begin();
        if (!txn.ok()) {
          failures[r] = txn.status();
          return;
        }
        const std::string object = "r" + std::to_string(r) + "/" + std::to_string(i);
        AuditRecord a;
        a.operation = "test.append";
        a.object = object;
        a.outcome = "ok";
        a.detail_json = "{}";
        Status s = (*txn)->AppendAudit(a).status();
        if (s.ok()) s = (*txn)->AppendAudit(a).status();
        if (s.ok()) s = (*txn)->Commit();
        if (!s.ok()) {
          failures[r] = s;
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& s : failures) EXPECT_TRUE(s.ok()) << s.ToString();
  Result<std::vector<AuditRecord>> log = stores[0]->ReadAudit(0, 0);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 2u * kReplicas * kTxns);
  for (size_t i = 0; i < log->size(); ++i) {
    EXPECT_EQ((*log)[i].seq, static_cast<int64_t>(i) + 1);              // no gap, no duplicate
    if (i % 2 == 1) EXPECT_EQ((*log)[i].object, (*log)[i - 1].object);  // a Txn's pair together
  }
  Status valid = VerifyAuditChain(*log, *stores[1]->ReadAuditHead());
  EXPECT_TRUE(valid.ok()) << valid.ToString();
}

TEST_F(PostgresStoreTest, ReplicasStartingTogetherMigrateOnce) {
  std::vector<std::thread> threads;
  std::vector<Status> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = OpenStore(url_).status(); });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  Result<std::string> rows = server_->Query(db_, "SELECT count(*) FROM schema_migrations");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, std::to_string(PostgresLatestSchemaVersion()));  // each version once
  EXPECT_EQ(PostgresLatestSchemaVersion(), 2);
}

TEST_F(PostgresStoreTest, CommittedDataSurvivesAServerCrashAndTheStoreReconnects) {
  std::unique_ptr<Store> s = Open();
  ASSERT_NE(s, nullptr);
  {
    auto txn = s->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*txn)->InsertTenant(Tenant("t-1", "acme")).ok());
    ASSERT_TRUE((*txn)->Commit().ok());
  }
  ASSERT_TRUE(server_->Restart().ok());  // immediate stop: no checkpoint, as a crash
  // Both connections were closed by the crash: the store reconnects on their next use.
  Result<std::unique_ptr<Txn>> txn = s->Begin();
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  ASSERT_TRUE((*txn)->InsertTenant(Tenant("t-2", "beta")).ok());
  ASSERT_TRUE((*txn)->Commit().ok());
  Result<StoreSnapshot> snap = s->Load();
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  ExpectSameRecords(snap->tenants, {Tenant("t-1", "acme"), Tenant("t-2", "beta")});
}

TEST_F(PostgresStoreTest, AForeignDatabaseIsRefused) {
  ASSERT_TRUE(server_->Query(db_, "CREATE TABLE payroll (id int)").ok());
  Result<std::unique_ptr<Store>> s = OpenStore(url_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kDataLoss) << s.status().ToString();
  EXPECT_NE(s.status().message().find("not a devshare one"), std::string::npos);
}

TEST_F(PostgresStoreTest, ANewerSchemaIsRefused) {
  ASSERT_NE(Open(), nullptr);
  ASSERT_TRUE(
      server_->Query(db_, "INSERT INTO schema_migrations (version, applied_unix_ms) VALUES (99, 0)")
          .ok());
  Result<std::unique_ptr<Store>> s = OpenStore(url_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
  EXPECT_NE(s.status().message().find("schema version 99"), std::string::npos);
}

TEST_F(PostgresStoreTest, AStatementTheServerRefusesAbortsTheTxnUntilTheSavepointIsUndone) {
  std::unique_ptr<Store> s = Open();
  ASSERT_NE(s, nullptr);
  // A constraint the backend does not check first: the server refuses the statement and aborts
  // the transaction, as it would on a race with another replica.
  ASSERT_TRUE(server_->Query(db_, "ALTER TABLE images ADD CHECK (kind <> 'bad')").ok());
  auto txn = s->Begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE((*txn)->InsertTenant(Tenant("t-1", "acme")).ok());
  ASSERT_TRUE((*txn)->Savepoint().ok());
  VmRecord vm;
  vm.id = "vm-1";
  vm.tenant_id = "t-1";
  vm.host = "h-nope";
  EXPECT_EQ((*txn)->InsertVm(vm).code(), StatusCode::kNotFound);  // a clean refusal: goes on
  ASSERT_TRUE((*txn)->InsertTenant(Tenant("t-2", "beta")).ok());
  Status refused = (*txn)->InsertImage(ImageRecord{"img", "bad", "", "", "", "", 0});
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.ToString();
  Status later = (*txn)->InsertTenant(Tenant("t-3", "gamma"));
  EXPECT_EQ(later.code(), StatusCode::kAborted) << later.ToString();
  EXPECT_EQ((*txn)->ReleaseSavepoint().code(), StatusCode::kAborted);
  ASSERT_TRUE((*txn)->RollbackToSavepoint().ok());  // undoes t-2 and the failure
  ASSERT_TRUE((*txn)->InsertTenant(Tenant("t-4", "delta")).ok());
  ASSERT_TRUE((*txn)->Commit().ok());
  ExpectSameRecords(s->Load()->tenants, {Tenant("t-1", "acme"), Tenant("t-4", "delta")});
  // Without a savepoint the whole Txn is lost: Commit says so and nothing is written.
  txn = s->Begin();
  ASSERT_TRUE(txn.ok());
  ASSERT_TRUE((*txn)->InsertTenant(Tenant("t-5", "epsilon")).ok());
  EXPECT_FALSE((*txn)->InsertImage(ImageRecord{"img", "bad", "", "", "", "", 0}).ok());
  EXPECT_EQ((*txn)->Commit().code(), StatusCode::kAborted);
  EXPECT_EQ(s->Load()->tenants.size(), 2u);
}

}  // namespace
}  // namespace devshare::store
