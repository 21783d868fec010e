// GroupCommitter: the writer thread, batching, savepoints, commit-then-answer, retries.
#include "server/group_committer.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

namespace devshare::server {

GroupCommitter::GroupCommitter(store::Store* store, std::shared_mutex* state_mu,
                               GroupCommitterOptions options)
    : store_(store), state_mu_(state_mu), options_(std::move(options)) {
  writer_ = std::thread([this] { WriterLoop(); });
}

GroupCommitter::~GroupCommitter() { Shutdown(); }

void GroupCommitter::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

Result<Reply> GroupCommitter::Submit(Op op) {
  auto p = std::make_unique<Pending>();
  p->op = std::move(op);
  std::future<Result<Reply>> f = p->done.get_future();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) return Status::Unavailable("server is shutting down");
    queue_.push_back(std::move(p));
  }
  queue_cv_.notify_one();
  return f.get();
}

GroupCommitStats GroupCommitter::Stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

int64_t GroupCommitter::queued() const {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return static_cast<int64_t>(queue_.size());
}

Status GroupCommitter::Reload() { return options_.reload ? options_.reload() : Status::Ok(); }

void GroupCommitter::WriterLoop() {
  for (;;) {
    std::deque<std::unique_ptr<Pending>> batch;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunBatch(batch);
  }
}

void GroupCommitter::RunBatch(std::deque<std::unique_ptr<Pending>>& batch) {
  std::unique_lock<std::shared_mutex> state_lock(*state_mu_);
  Result<std::unique_ptr<store::Txn>> begun = store_->Begin();
  if (!begun.ok()) {
    for (auto& p : batch) {
      p->done.set_value(Status::Unavailable("store: " + begun.status().message()));
    }
    return;
  }
  store::Txn& tx = **begun;
  std::vector<std::pair<Pending*, Result<Reply>>> answers;
  std::vector<std::unique_ptr<Pending>> retries;
  Status batch_status;
  for (auto& p : batch) {
    batch_status = tx.Savepoint();
    if (!batch_status.ok()) break;
    OpResult r = p->op(tx);
    if (r.retry) {
      batch_status = tx.RollbackToSavepoint();
      if (r.undo) r.undo();
      retries.push_back(std::move(p));
      if (!batch_status.ok()) break;
      continue;
    }
    if (r.keep) {
      batch_status = tx.ReleaseSavepoint();
    } else {
      batch_status = tx.RollbackToSavepoint();
      if (r.undo) r.undo();
      r.undo = nullptr;
    }
    if (batch_status.ok() && r.write_audit) {
      if (r.audit.outcome.empty()) {
        r.audit.outcome = r.answer.ok() ? "ok" : std::string(ApiErrorCode(r.answer.status()));
      }
      batch_status = tx.AppendAudit(std::move(r.audit)).status();
    }
    answers.emplace_back(p.get(), std::move(r.answer));
    if (!batch_status.ok()) break;
  }
  if (batch_status.ok()) batch_status = tx.Commit();
  if (!batch_status.ok()) {
    tx.Rollback();
    Status reload = Reload();
    if (!reload.ok()) {
      std::fprintf(stderr, "devshare serve: reloading the ledger failed: %s\n",
                   reload.ToString().c_str());
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.failed_commits++;
    }
    const Status refused = Status::Unavailable("store commit failed: " + batch_status.message());
    for (auto& p : batch) {
      if (p) p->done.set_value(refused);
    }
    for (auto& p : retries) p->done.set_value(refused);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.commits++;
    stats_.committed_ops += static_cast<int64_t>(answers.size());
    stats_.max_batch_seen = std::max<int64_t>(stats_.max_batch_seen, batch.size());
    stats_.cas_retries += static_cast<int64_t>(retries.size());
  }
  if (options_.committed) options_.committed(tx.change_seq());
  if (!retries.empty()) {
    Status reload = options_.refresh ? options_.refresh() : Reload();
    std::lock_guard<std::mutex> lock(queue_mu_);
    for (auto it = retries.rbegin(); it != retries.rend(); ++it) {
      if (!reload.ok() || ++(*it)->attempts > options_.max_retries) {
        (*it)->done.set_value(
            Status::Aborted(options_.retry_subject + " changed under this request " +
                            std::to_string(options_.max_retries) + " times; retry later"));
      } else {
        queue_.push_front(std::move(*it));
      }
    }
  }
  state_lock.unlock();
  for (auto& [p, answer] : answers) p->done.set_value(std::move(answer));
}

}  // namespace devshare::server
