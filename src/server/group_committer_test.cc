// GroupCommitter against the memory store (and a wrapper whose commits can fail): savepoints,
// undo on rollback, audit outcomes, batching up to max_batch, stale-generation retries, the
// failed commit answered Unavailable to the batch with a reload, shutdown.
#include "server/group_committer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

namespace devshare::server {
namespace {

// Delegates to a real store; Commit fails while `fail_commit` is set.
class FlakyStore : public store::Store {
 public:
  class FlakyTxn : public store::Txn {
   public:
    FlakyTxn(std::unique_ptr<store::Txn> inner, const std::atomic<bool>* fail)
        : inner_(std::move(inner)), fail_(fail) {}
    Status Savepoint() override { return inner_->Savepoint(); }
    Status ReleaseSavepoint() override { return inner_->ReleaseSavepoint(); }
    Status RollbackToSavepoint() override { return inner_->RollbackToSavepoint(); }
    Status InsertTenant(const store::TenantRecord& t) override { return inner_->InsertTenant(t); }
    Status InsertToken(const store::TokenRecord& t) override { return inner_->InsertToken(t); }
    Result<uint64_t> PutHost(const std::string& name, const std::string& inventory_json,
                             uint64_t expected, int64_t now) override {
      return inner_->PutHost(name, inventory_json, expected, now);
    }
    Result<uint64_t> GuardHost(const std::string& name, uint64_t expected) override {
      return inner_->GuardHost(name, expected);
    }
    Result<uint64_t> UpdateHostStatus(const std::string& name, const std::string& schedule,
                                      bool managed, uint64_t expected, int64_t now) override {
      return inner_->UpdateHostStatus(name, schedule, managed, expected, now);
    }
    Status DeleteHost(const std::string& name, uint64_t expected) override {
      return inner_->DeleteHost(name, expected);
    }
    Status InsertVm(const store::VmRecord& vm) override { return inner_->InsertVm(vm); }
    Status UpdateVm(const store::VmRecord& vm) override { return inner_->UpdateVm(vm); }
    Status DeleteVm(const std::string& id) override { return inner_->DeleteVm(id); }
    Status InsertImage(const store::ImageRecord& i) override { return inner_->InsertImage(i); }
    Status DeleteImage(const std::string& name) override { return inner_->DeleteImage(name); }
    Status InsertNetwork(const store::NetworkRecord& n) override {
      return inner_->InsertNetwork(n);
    }
    Status DeleteNetwork(const std::string& id) override { return inner_->DeleteNetwork(id); }
    Status InsertIdempotency(const store::IdempotencyRecord& r) override {
      return inner_->InsertIdempotency(r);
    }
    Result<store::AuditRecord> AppendAudit(store::AuditRecord r) override {
      return inner_->AppendAudit(std::move(r));
    }
    Status Commit() override {
      if (fail_->load()) return Status::Unavailable("disk full");
      return inner_->Commit();
    }
    void Rollback() override { inner_->Rollback(); }
    int64_t change_seq() const override { return inner_->change_seq(); }

   private:
    std::unique_ptr<store::Txn> inner_;
    const std::atomic<bool>* fail_;
  };

  FlakyStore() : inner_(store::NewMemoryStore()) {}
  std::string Describe() const override { return "flaky:"; }
  Result<std::unique_ptr<store::Txn>> Begin() override {
    DS_ASSIGN_OR_RETURN(std::unique_ptr<store::Txn> t, inner_->Begin());
    return std::unique_ptr<store::Txn>(new FlakyTxn(std::move(t), &fail_commit));
  }
  Result<store::StoreSnapshot> Load() override { return inner_->Load(); }
  Result<std::vector<store::AuditRecord>> ReadAudit(int64_t after, int64_t limit) override {
    return inner_->ReadAudit(after, limit);
  }
  Result<store::AuditHead> ReadAuditHead() override { return inner_->ReadAuditHead(); }
  Result<std::vector<store::ChangeRecord>> ReadChanges(int64_t after, int64_t limit) override {
    return inner_->ReadChanges(after, limit);
  }
  Result<store::ChangedRows> ReadChangedRows(int64_t after) override {
    return inner_->ReadChangedRows(after);
  }

  std::atomic<bool> fail_commit{false};

 private:
  std::unique_ptr<store::Store> inner_;
};

store::AuditRecord Record(const std::string& object) {
  store::AuditRecord a;
  a.time_unix_ms = 1;
  a.tenant_id = "system";
  a.actor = "test";
  a.operation = "test.op";
  a.object = object;
  a.detail_json = "{}";
  return a;
}

class GroupCommitterTest : public ::testing::Test {
 protected:
  std::unique_ptr<GroupCommitter> Make(GroupCommitterOptions o = {}) {
    o.reload = [this] {
      ++reloads_;
      return Status::Ok();
    };
    o.committed = [this](int64_t) { ++committed_hooks_; };
    return std::make_unique<GroupCommitter>(&store_, &mu_, std::move(o));
  }
  std::vector<std::string> TenantIds() {
    Result<store::StoreSnapshot> snap = store_.Load();
    EXPECT_TRUE(snap.ok());
    std::vector<std::string> ids;
    for (const auto& t : snap->tenants) ids.push_back(t.id);
    return ids;
  }

  FlakyStore store_;
  std::shared_mutex mu_;
  std::atomic<int> reloads_{0};
  std::atomic<int> committed_hooks_{0};
};

TEST_F(GroupCommitterTest, KeepsOrRollsBackEachOperationAndAuditsItsOutcome) {
  auto gc = Make();
  bool undone = false;
  Result<Reply> kept = gc->Submit([](store::Txn& tx) {
    OpResult r;
    EXPECT_TRUE(tx.InsertTenant({"t-kept", "kept", 1}).ok());
    r.keep = true;
    r.audit = Record("tenant/t-kept");
    r.answer = Reply::Created({{"id", "t-kept"}});
    return r;
  });
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_TRUE(kept->created);
  EXPECT_EQ(kept->body["id"], "t-kept");
  Result<Reply> refused = gc->Submit([&undone](store::Txn& tx) {
    OpResult r;
    EXPECT_TRUE(tx.InsertTenant({"t-refused", "refused", 1}).ok());
    r.undo = [&undone] { undone = true; };
    r.audit = Record("tenant/t-refused");
    r.answer = Status::PermissionDenied("no");
    return r;
  });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(undone);
  Result<Reply> silent = gc->Submit([](store::Txn&) {
    OpResult r;
    r.write_audit = false;
    r.answer = Reply{};
    return r;
  });
  EXPECT_TRUE(silent.ok());

  EXPECT_EQ(TenantIds(), std::vector<std::string>{"t-kept"});
  Result<std::vector<store::AuditRecord>> audit = store_.ReadAudit(0, 0);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].object, "tenant/t-kept");
  EXPECT_EQ((*audit)[0].outcome, "ok");
  EXPECT_EQ((*audit)[1].object, "tenant/t-refused");
  EXPECT_EQ((*audit)[1].outcome, "forbidden");  // the answer's API error code
  const GroupCommitStats s = gc->Stats();
  EXPECT_EQ(s.commits, 3);
  EXPECT_EQ(s.committed_ops, 3);
  EXPECT_EQ(s.failed_commits, 0);
  EXPECT_EQ(committed_hooks_.load(), 3);
}

TEST_F(GroupCommitterTest, BatchesWaitingOperationsUpToMaxBatch) {
  GroupCommitterOptions o;
  o.max_batch = 2;
  auto gc = Make(o);
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  std::thread first([&] {
    Result<Reply> r = gc->Submit([&started, released](store::Txn&) {
      started.set_value();
      released.wait();  // holds the writer while the others queue up
      OpResult out;
      out.answer = Reply{};
      out.write_audit = false;
      return out;
    });
    EXPECT_TRUE(r.ok());
  });
  started.get_future().wait();
  std::vector<std::thread> others;
  std::atomic<int> ok{0};
  for (int i = 0; i < 5; ++i) {
    others.emplace_back([&, i] {
      Result<Reply> r = gc->Submit([i](store::Txn&) {
        OpResult out;
        out.keep = true;
        out.audit = Record("op/" + std::to_string(i));
        out.answer = Reply{};
        return out;
      });
      if (r.ok()) ++ok;
    });
  }
  while (gc->queued() < 5) std::this_thread::yield();
  release.set_value();
  first.join();
  for (std::thread& t : others) t.join();
  EXPECT_EQ(ok.load(), 5);
  const GroupCommitStats s = gc->Stats();
  EXPECT_EQ(s.committed_ops, 6);
  EXPECT_EQ(s.max_batch_seen, 2);
  EXPECT_EQ(s.commits, 4);  // the first alone, then 2 + 2 + 1
  Result<std::vector<store::AuditRecord>> audit = store_.ReadAudit(0, 0);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->size(), 5u);
}

TEST_F(GroupCommitterTest, StaleGenerationIsRetriedThenAnsweredAborted) {
  GroupCommitterOptions o;
  o.max_retries = 3;
  o.retry_subject = "the host";
  auto gc = Make(o);
  int attempts = 0;
  Result<Reply> r = gc->Submit([&attempts](store::Txn& tx) {
    ++attempts;
    OpResult out;
    EXPECT_TRUE(tx.InsertTenant({"t-" + std::to_string(attempts), "n", 1}).ok());
    out.retry = true;
    out.audit = Record("never");
    out.answer = Status::Aborted("stale");
    return out;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_EQ(r.status().message(), "the host changed under this request 3 times; retry later");
  EXPECT_EQ(ApiErrorCode(r.status()), "concurrent_update");
  EXPECT_EQ(attempts, 4);
  EXPECT_EQ(reloads_.load(), 4);
  EXPECT_EQ(gc->Stats().cas_retries, 4);
  EXPECT_TRUE(TenantIds().empty());  // every attempt was rolled back
  Result<std::vector<store::AuditRecord>> audit = store_.ReadAudit(0, 0);
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit->empty());  // a retried attempt is not audited

  int tries = 0;
  Result<Reply> later = gc->Submit([&tries](store::Txn&) {
    OpResult out;
    out.retry = ++tries < 3;
    out.keep = !out.retry;
    out.write_audit = false;
    out.answer = Reply::Ok({{"tries", tries}});
    return out;
  });
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_EQ(later->body["tries"], 3);
}

TEST_F(GroupCommitterTest, FailedCommitAnswersUnavailableToTheWholeBatchAndReloads) {
  auto gc = Make();
  store_.fail_commit = true;
  const GroupCommitter::Op create_tenant = [](store::Txn& tx) {
    OpResult out;
    EXPECT_TRUE(tx.InsertTenant({"t-lost", "lost", 1}).ok());
    out.keep = true;
    out.audit = Record("tenant/t-lost");
    out.answer = Reply::Created({});
    return out;
  };
  Result<Reply> r = gc->Submit(create_tenant);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "store commit failed: disk full");
  EXPECT_EQ(reloads_.load(), 1);
  EXPECT_EQ(gc->Stats().failed_commits, 1);
  EXPECT_EQ(gc->Stats().commits, 0);
  EXPECT_EQ(committed_hooks_.load(), 0);
  EXPECT_TRUE(TenantIds().empty());

  store_.fail_commit = false;
  Result<Reply> again = gc->Submit(create_tenant);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(TenantIds(), std::vector<std::string>{"t-lost"});
}

TEST_F(GroupCommitterTest, ShutdownFinishesQueuedWorkAndRefusesLaterSubmits) {
  auto gc = Make();
  EXPECT_TRUE(gc->Submit([](store::Txn&) {
                  OpResult out;
                  out.write_audit = false;
                  out.answer = Reply{};
                  return out;
                }).ok());
  gc->Shutdown();
  gc->Shutdown();  // idempotent
  bool ran = false;
  Result<Reply> r = gc->Submit([&ran](store::Txn&) {
    ran = true;
    return OpResult{};
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "server is shutting down");
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace devshare::server
