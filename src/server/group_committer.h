// GroupCommitter: runs queued write operations in batches, each batch in one store transaction
// with one savepoint per operation, and answers an operation only after its batch committed.
// It knows nothing of what the operations do (tenants, hosts, VMs): an operation is a callable
// on the open store::Txn that changes the caller's in-memory state and says how to undo it.
//
// One writer thread takes every queued operation (up to max_batch), holds the caller's state
// lock exclusively, and for each: Savepoint, run, then ReleaseSavepoint (keep) or
// RollbackToSavepoint + undo; its audit record is appended either way. Then one Commit (one
// fsync for the batch) and only then the answers. A failed Begin/Savepoint/audit/Commit answers
// Unavailable to the whole batch and reloads the caller's state from the store. An operation
// that reports a stale generation (retry) is rolled back, the state reloaded, and run again at
// the head of the queue, up to max_retries times, then answered Aborted.
//
// Thread-safety: Submit, Stats and queued may be called from any thread; Submit blocks until
// the operation's batch is committed (or refused).
#ifndef DEVSHARE_SERVER_GROUP_COMMITTER_H_
#define DEVSHARE_SERVER_GROUP_COMMITTER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "devshare/core/result.h"
#include "devshare/store/store.h"
#include "server/api_types.h"

namespace devshare::server {

// What one operation did inside its savepoint.
struct OpResult {
  Result<Reply> answer = Status::Internal("the operation gave no answer");
  bool keep = false;           // release the savepoint (else roll back to it and run undo)
  bool retry = false;          // stale generation: roll back, reload and run again
  std::function<void()> undo;  // restores the caller's state when the savepoint is rolled back
  store::AuditRecord audit;    // appended after the savepoint, kept either way; an empty
                               // outcome becomes "ok" or the answer's API error code
  bool write_audit = true;
};

struct GroupCommitterOptions {
  int max_batch = 512;  // operations per transaction
  int max_retries = 10;
  // Names what changed in the Aborted answer after max_retries: "<subject> changed under this
  // request N times; retry later".
  std::string retry_subject = "the store";
  // Restores the caller's in-memory state from the store after a failed commit and before
  // retries; runs with the state lock held. May be empty.
  std::function<Status()> reload;
  // Brings the caller's state up to date before the retries of stale operations (e.g. applies
  // only what other writers changed); runs with the state lock held. Empty: reload.
  std::function<Status()> refresh;
  // Runs after each successful commit with the state lock held (e.g. publish copies), with the
  // change seq the commit took (store::Txn::change_seq; 0 when it changed no row).
  std::function<void(int64_t change_seq)> committed;
};

struct GroupCommitStats {
  int64_t commits = 0;
  int64_t committed_ops = 0;
  int64_t failed_commits = 0;
  int64_t cas_retries = 0;
  int64_t max_batch_seen = 0;
};

class GroupCommitter {
 public:
  using Op = std::function<OpResult(store::Txn&)>;

  // Starts the writer thread. `store` and `state_mu` (held exclusively while a batch runs and
  // commits, so readers holding it shared never see uncommitted state) outlive the committer.
  GroupCommitter(store::Store* store, std::shared_mutex* state_mu, GroupCommitterOptions options);
  ~GroupCommitter();  // Shutdown()
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `op` and waits: the operation's answer once its batch is committed; Unavailable when
  // the store could not commit the batch or the committer is shut down; Aborted after
  // max_retries stale generations.
  Result<Reply> Submit(Op op);
  // Finishes the queued operations and stops the writer; later Submits answer Unavailable.
  // Idempotent.
  void Shutdown();

  GroupCommitStats Stats() const;
  int64_t queued() const;  // operations waiting for the writer

 private:
  struct Pending {
    Op op;
    std::promise<Result<Reply>> done;
    int attempts = 0;
  };

  void WriterLoop();
  void RunBatch(std::deque<std::unique_ptr<Pending>>& batch);
  Status Reload();

  store::Store* store_;
  std::shared_mutex* state_mu_;
  GroupCommitterOptions options_;

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::unique_ptr<Pending>> queue_;  // GUARDED_BY(queue_mu_)
  bool stopping_ = false;                       // GUARDED_BY(queue_mu_)

  mutable std::mutex stats_mu_;
  GroupCommitStats stats_;  // GUARDED_BY(stats_mu_)

  std::thread writer_;
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_GROUP_COMMITTER_H_
