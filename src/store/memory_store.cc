// The `memory` Store backend: ordered maps in one process, for tests and throwaway runs.
// A Txn writes the maps in place and keeps an undo log (a savepoint is a position in it), so
// Rollback and RollbackToSavepoint restore exactly the state before; reads (Load, ReadAudit,
// ReadAuditHead) see committed data only, as the sqlite backend's reader connection does.
// Thread-safety: one mutex guards all state; Begin waits on a condition variable while another
// Txn is open. Error codes and messages follow the sqlite backend.
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "devshare/core/check.h"
#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"
#include "store/change_set.h"

namespace devshare::store {
namespace {

struct State {
  std::map<std::string, TenantRecord> tenants;        // by id
  std::map<std::string, std::string> tenant_by_name;  // name -> id
  std::map<std::string, TokenRecord> tokens;          // by id
  std::map<std::string, std::string> token_by_hash;   // sha256_hex -> id
  std::map<std::string, HostRecord> hosts;            // by name
  std::map<std::string, VmRecord> vms;                // by id
  std::map<std::string, ImageRecord> images;          // by name
  std::map<std::string, NetworkRecord> networks;      // by id
  std::map<std::pair<std::string, std::string>, IdempotencyRecord> idempotency;
  std::vector<AuditRecord> audit;  // seq i+1 at index i
};

// Restores one write on the state it is applied to (the live state or a copy of it).
using Undo = std::function<void(State&)>;

void ApplyUndo(State& state, const std::vector<Undo>& undo, size_t down_to) {
  for (size_t i = undo.size(); i > down_to; --i) undo[i - 1](state);
}

// The host `name` at `expected_generation`, for a compare-and-swap on it: NotFound when absent,
// Aborted when its generation differs.
Result<HostRecord*> HostAt(State& s, const std::string& name, uint64_t expected_generation) {
  auto it = s.hosts.find(name);
  if (it == s.hosts.end()) return Status::NotFound("unknown host '" + name + "'");
  if (it->second.generation != expected_generation) {
    return Status::Aborted("host '" + name + "' is at generation " +
                           std::to_string(it->second.generation) + ", expected " +
                           std::to_string(expected_generation));
  }
  return &it->second;
}

class MemoryStore;

class MemoryTxn final : public Txn {
 public:
  explicit MemoryTxn(MemoryStore* store) : store_(store) {}
  ~MemoryTxn() override {
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
  Status CheckOpen() const {
    if (done_) return Status::FailedPrecondition("transaction already committed or rolled back");
    return Status::Ok();
  }

  MemoryStore* store_;
  bool done_ = false;
  ChangeSet changes_;
  int64_t change_seq_ = 0;
  std::optional<size_t> savepoint_;  // position in the store's undo log
};

class MemoryStore final : public Store {
 public:
  ~MemoryStore() override {
    std::lock_guard<std::mutex> lock(mu_);
    DS_CHECK(!txn_open_);  // every Txn must end before its Store is destroyed
  }

  std::string Describe() const override { return "memory:"; }

  Result<std::unique_ptr<Txn>> Begin() override {
    std::unique_lock<std::mutex> lock(mu_);
    if (txn_open_ && txn_owner_ == std::this_thread::get_id()) {
      return Status::FailedPrecondition(
          "a transaction is already open on this thread (one Txn at a time per Store)");
    }
    txn_ended_.wait(lock, [this] { return !txn_open_; });
    txn_open_ = true;
    txn_owner_ = std::this_thread::get_id();
    return std::unique_ptr<Txn>(std::make_unique<MemoryTxn>(this));
  }

  Result<StoreSnapshot> Load() override {
    std::lock_guard<std::mutex> lock(mu_);
    return LoadLocked();
  }

  Result<ChangedRows> ReadChangedRows(int64_t after_seq) override {
    std::lock_guard<std::mutex> lock(mu_);
    ChangedRows out;
    out.rows = LoadLocked();
    for (const ChangeRecord& c : changes_) {
      if (c.seq > after_seq) out.changes.push_back(c);
    }
    return out;
  }

  Result<std::vector<AuditRecord>> ReadAudit(int64_t after_seq, int64_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AuditRecord> out;
    size_t begin = after_seq < 0 ? 0 : static_cast<size_t>(after_seq);
    for (size_t i = begin; i < committed_audit_; ++i) {
      if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
      out.push_back(state_.audit[i]);
    }
    return out;
  }

  Result<AuditHead> ReadAuditHead() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (committed_audit_ == 0) return AuditHead{0, std::string(kAuditGenesisHash)};
    const AuditRecord& last = state_.audit[committed_audit_ - 1];
    return AuditHead{last.seq, last.hash_hex};
  }

  Result<std::vector<ChangeRecord>> ReadChanges(int64_t after_seq, int64_t limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ChangeRecord> out;
    auto it = std::upper_bound(changes_.begin(), changes_.end(), after_seq,
                               [](int64_t seq, const ChangeRecord& c) { return seq < c.seq; });
    for (; it != changes_.end(); ++it) {
      if (limit > 0 && it->seq > after_seq + limit) break;
      out.push_back(*it);
    }
    return out;
  }

 private:
  friend class MemoryTxn;

  // REQUIRES: mu_ held.
  StoreSnapshot LoadLocked() {
    const State* view = &state_;
    State committed;
    if (!undo_.empty()) {  // hide the open Txn's writes (the audit log is not needed here)
      committed.tenants = state_.tenants;
      committed.tenant_by_name = state_.tenant_by_name;
      committed.tokens = state_.tokens;
      committed.token_by_hash = state_.token_by_hash;
      committed.hosts = state_.hosts;
      committed.vms = state_.vms;
      committed.images = state_.images;
      committed.networks = state_.networks;
      committed.idempotency = state_.idempotency;
      ApplyUndo(committed, undo_, 0);
      view = &committed;
    }
    StoreSnapshot snap;
    for (const auto& [id, t] : view->tenants) snap.tenants.push_back(t);
    for (const auto& [id, t] : view->tokens) snap.tokens.push_back(t);
    for (const auto& [name, h] : view->hosts) snap.hosts.push_back(h);
    for (const auto& [id, vm] : view->vms) snap.vms.push_back(vm);
    for (const auto& [key, r] : view->idempotency) snap.idempotency.push_back(r);
    for (const auto& [name, image] : view->images) snap.images.push_back(image);
    for (const auto& [id, n] : view->networks) snap.networks.push_back(n);
    snap.audit_records = static_cast<int64_t>(committed_audit_);
    snap.change_seq = change_head_;
    return snap;
  }

  // Ends the open Txn: keeps (commit, with its changed rows appended to the change feed; returns
  // the change seq, 0 for none) or undoes its writes, then wakes one waiting Begin.
  int64_t EndTxn(bool commit, const ChangeSet* changed = nullptr) {
    int64_t seq = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (commit) {
        committed_audit_ = state_.audit.size();
        if (changed != nullptr && !changed->empty()) {
          seq = ++change_head_;
          for (auto& [kind, key] : changed->Unique()) {
            changes_.push_back(ChangeRecord{seq, std::move(kind), std::move(key)});
          }
        }
      } else {
        ApplyUndo(state_, undo_, 0);
      }
      undo_.clear();
      txn_open_ = false;
    }
    txn_ended_.notify_one();
    return seq;
  }

  std::mutex mu_;
  std::condition_variable txn_ended_;
  bool txn_open_ = false;
  std::thread::id txn_owner_;
  State state_;                        // includes the open Txn's writes
  std::vector<Undo> undo_;             // the open Txn's writes, oldest first
  size_t committed_audit_ = 0;         // audit records visible to readers
  std::vector<ChangeRecord> changes_;  // the change feed, by seq
  int64_t change_head_ = 0;
};

Status MemoryTxn::Savepoint() {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (savepoint_) return Status::FailedPrecondition("a savepoint is already open");
  std::lock_guard<std::mutex> lock(store_->mu_);
  savepoint_ = store_->undo_.size();
  changes_.Mark();
  return Status::Ok();
}

Status MemoryTxn::ReleaseSavepoint() {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (!savepoint_) return Status::FailedPrecondition("no savepoint is open");
  savepoint_.reset();  // its undo entries stay, for a rollback of the whole Txn
  return Status::Ok();
}

Status MemoryTxn::RollbackToSavepoint() {
  DS_RETURN_IF_ERROR(CheckOpen());
  if (!savepoint_) return Status::FailedPrecondition("no savepoint is open");
  std::lock_guard<std::mutex> lock(store_->mu_);
  ApplyUndo(store_->state_, store_->undo_, *savepoint_);
  store_->undo_.resize(*savepoint_);
  savepoint_.reset();
  changes_.TruncateToMark();
  return Status::Ok();
}

Status MemoryTxn::InsertTenant(const TenantRecord& t) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  if (s.tenants.count(t.id)) return Status::AlreadyExists("tenant id '" + t.id + "' is taken");
  if (s.tenant_by_name.count(t.name)) {
    return Status::AlreadyExists("tenant name '" + t.name + "' is taken");
  }
  s.tenants.emplace(t.id, t);
  s.tenant_by_name.emplace(t.name, t.id);
  store_->undo_.push_back([id = t.id, name = t.name](State& st) {
    st.tenants.erase(id);
    st.tenant_by_name.erase(name);
  });
  changes_.Record("tenant", t.id);
  return Status::Ok();
}

Status MemoryTxn::InsertToken(const TokenRecord& t) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  if (s.tokens.count(t.id)) return Status::AlreadyExists("token id '" + t.id + "' is taken");
  if (s.token_by_hash.count(t.sha256_hex)) {
    return Status::AlreadyExists("a token with this hash already exists");
  }
  if (!s.tenants.count(t.tenant_id)) {
    return Status::NotFound("token '" + t.id + "': unknown tenant '" + t.tenant_id + "'");
  }
  s.tokens.emplace(t.id, t);
  s.token_by_hash.emplace(t.sha256_hex, t.id);
  store_->undo_.push_back([id = t.id, hash = t.sha256_hex](State& st) {
    st.tokens.erase(id);
    st.token_by_hash.erase(hash);
  });
  changes_.Record("token", t.id);
  return Status::Ok();
}

Result<uint64_t> MemoryTxn::PutHost(const std::string& name, const std::string& inventory_json,
                                    uint64_t expected_generation, int64_t now_unix_ms) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  auto it = s.hosts.find(name);
  if (it == s.hosts.end()) {
    if (expected_generation != 0) {
      return Status::Aborted("host '" + name + "' is absent, expected generation " +
                             std::to_string(expected_generation));
    }
    HostRecord h;  // schedule "open", not managed
    h.name = name;
    h.inventory_json = inventory_json;
    h.generation = 1;
    h.updated_unix_ms = now_unix_ms;
    s.hosts.emplace(name, std::move(h));
    store_->undo_.push_back([name](State& st) { st.hosts.erase(name); });
    changes_.Record("host", name);
    return uint64_t{1};
  }
  if (it->second.generation != expected_generation) {
    return Status::Aborted("host '" + name + "' is at generation " +
                           std::to_string(it->second.generation) + ", expected " +
                           std::to_string(expected_generation));
  }
  store_->undo_.push_back([old = it->second](State& st) { st.hosts[old.name] = old; });
  it->second.inventory_json = inventory_json;
  it->second.generation = expected_generation + 1;
  it->second.updated_unix_ms = now_unix_ms;
  changes_.Record("host", name);
  return it->second.generation;
}

Result<uint64_t> MemoryTxn::GuardHost(const std::string& name, uint64_t expected_generation) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  DS_ASSIGN_OR_RETURN(HostRecord * host, HostAt(store_->state_, name, expected_generation));
  store_->undo_.push_back(
      [name, expected_generation](State& st) { st.hosts[name].generation = expected_generation; });
  host->generation = expected_generation + 1;
  changes_.Record("host", name);
  return host->generation;
}

Result<uint64_t> MemoryTxn::UpdateHostStatus(const std::string& name, const std::string& schedule,
                                             bool managed, uint64_t expected_generation,
                                             int64_t now_unix_ms) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  DS_ASSIGN_OR_RETURN(HostRecord * host, HostAt(store_->state_, name, expected_generation));
  store_->undo_.push_back([old = *host](State& st) { st.hosts[old.name] = old; });
  host->schedule = schedule;
  host->managed = managed;
  host->generation = expected_generation + 1;
  host->updated_unix_ms = now_unix_ms;
  changes_.Record("host", name);
  return host->generation;
}

Status MemoryTxn::DeleteHost(const std::string& name, uint64_t expected_generation) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  DS_ASSIGN_OR_RETURN(HostRecord * host, HostAt(s, name, expected_generation));
  int64_t vms_on_host = 0;
  const VmRecord* first = nullptr;
  for (const auto& [id, vm] : s.vms) {
    if (vm.host != name) continue;
    if (first == nullptr) first = &vm;
    ++vms_on_host;
  }
  if (first != nullptr) {
    return Status::FailedPrecondition("host '" + name + "' still has " +
                                      std::to_string(vms_on_host) + " VM(s) on it, e.g. '" +
                                      first->id + "'");
  }
  std::vector<TokenRecord> tokens;  // scoped to the host, deleted with it
  for (auto it = s.tokens.begin(); it != s.tokens.end();) {
    if (it->second.host != name) {
      ++it;
      continue;
    }
    s.token_by_hash.erase(it->second.sha256_hex);
    changes_.Record("token", it->second.id);
    tokens.push_back(std::move(it->second));
    it = s.tokens.erase(it);
  }
  store_->undo_.push_back([old = std::move(*host), tokens = std::move(tokens)](State& st) {
    st.hosts[old.name] = old;
    for (const TokenRecord& t : tokens) {
      st.tokens[t.id] = t;
      st.token_by_hash[t.sha256_hex] = t.id;
    }
  });
  s.hosts.erase(name);
  changes_.Record("host", name);
  return Status::Ok();
}

Status MemoryTxn::InsertVm(const VmRecord& vm) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  if (s.vms.count(vm.id)) return Status::AlreadyExists("vm id '" + vm.id + "' is taken");
  if (!s.hosts.count(vm.host)) {
    return Status::NotFound("vm '" + vm.id + "': unknown host '" + vm.host + "'");
  }
  if (!s.tenants.count(vm.tenant_id)) {
    return Status::NotFound("vm '" + vm.id + "': unknown tenant '" + vm.tenant_id + "'");
  }
  s.vms.emplace(vm.id, vm);
  store_->undo_.push_back([id = vm.id](State& st) { st.vms.erase(id); });
  changes_.Record("vm", vm.id);
  return Status::Ok();
}

Status MemoryTxn::UpdateVm(const VmRecord& vm) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  auto it = s.vms.find(vm.id);
  if (it == s.vms.end()) return Status::NotFound("unknown vm '" + vm.id + "'");
  if (!s.hosts.count(vm.host)) {
    return Status::NotFound("vm '" + vm.id + "': unknown host '" + vm.host + "'");
  }
  store_->undo_.push_back([old = it->second](State& st) { st.vms[old.id] = old; });
  VmRecord& cur = it->second;
  cur.name = vm.name;
  cur.host = vm.host;
  cur.spec_json = vm.spec_json;
  cur.allocation_json = vm.allocation_json;
  cur.state = vm.state;
  cur.updated_unix_ms = vm.updated_unix_ms;
  cur.power = vm.power;
  cur.reboot_seq = vm.reboot_seq;
  cur.state_detail = vm.state_detail;
  changes_.Record("vm", vm.id);
  return Status::Ok();
}

Status MemoryTxn::DeleteVm(const std::string& id) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  auto it = s.vms.find(id);
  if (it == s.vms.end()) return Status::NotFound("unknown vm '" + id + "'");
  store_->undo_.push_back([old = std::move(it->second)](State& st) { st.vms[old.id] = old; });
  s.vms.erase(it);
  changes_.Record("vm", id);
  return Status::Ok();
}

Status MemoryTxn::InsertImage(const ImageRecord& image) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  if (s.images.count(image.name)) {
    return Status::AlreadyExists("image name '" + image.name + "' is taken");
  }
  s.images.emplace(image.name, image);
  store_->undo_.push_back([name = image.name](State& st) { st.images.erase(name); });
  changes_.Record("image", image.name);
  return Status::Ok();
}

Status MemoryTxn::DeleteImage(const std::string& name) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  auto it = s.images.find(name);
  if (it == s.images.end()) return Status::NotFound("unknown image '" + name + "'");
  store_->undo_.push_back([old = std::move(it->second)](State& st) { st.images[old.name] = old; });
  s.images.erase(it);
  changes_.Record("image", name);
  return Status::Ok();
}

Status MemoryTxn::InsertNetwork(const NetworkRecord& n) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  bool taken = s.networks.count(n.id) > 0;
  for (const auto& [id, other] : s.networks) {
    taken = taken || other.segment_id == n.segment_id ||
            (other.tenant_id == n.tenant_id && other.name == n.name);
  }
  if (taken) {
    return Status::AlreadyExists("network " + n.id + ": its id, name '" + n.name +
                                 "' in the tenant or segment " + std::to_string(n.segment_id) +
                                 " is taken");
  }
  if (!s.tenants.count(n.tenant_id))
    return Status::NotFound("unknown tenant '" + n.tenant_id + "'");
  s.networks.emplace(n.id, n);
  store_->undo_.push_back([id = n.id](State& st) { st.networks.erase(id); });
  changes_.Record("network", n.id);
  return Status::Ok();
}

Status MemoryTxn::DeleteNetwork(const std::string& id) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  auto it = s.networks.find(id);
  if (it == s.networks.end()) return Status::NotFound("unknown network '" + id + "'");
  store_->undo_.push_back([old = std::move(it->second)](State& st) { st.networks[old.id] = old; });
  s.networks.erase(it);
  changes_.Record("network", id);
  return Status::Ok();
}

Status MemoryTxn::InsertIdempotency(const IdempotencyRecord& r) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  auto key = std::make_pair(r.tenant_id, r.key);
  if (s.idempotency.count(key)) {
    return Status::AlreadyExists("idempotency key '" + r.key + "' of tenant '" + r.tenant_id +
                                 "' is taken");
  }
  s.idempotency.emplace(key, r);
  store_->undo_.push_back([key](State& st) { st.idempotency.erase(key); });
  changes_.Record("idempotency", IdempotencyChangeKey(r.tenant_id, r.key));
  return Status::Ok();
}

Result<AuditRecord> MemoryTxn::AppendAudit(AuditRecord r) {
  DS_RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> lock(store_->mu_);
  State& s = store_->state_;
  r.seq = static_cast<int64_t>(s.audit.size()) + 1;
  r.prev_hash_hex = s.audit.empty() ? std::string(kAuditGenesisHash) : s.audit.back().hash_hex;
  r.hash_hex = AuditHash(r.prev_hash_hex, r);
  s.audit.push_back(r);
  store_->undo_.push_back([](State& st) {
    if (!st.audit.empty()) st.audit.pop_back();  // empty in Load's copy, which skips the log
  });
  return r;
}

Status MemoryTxn::Commit() {
  DS_RETURN_IF_ERROR(CheckOpen());
  done_ = true;
  change_seq_ = store_->EndTxn(/*commit=*/true, &changes_);
  return Status::Ok();
}

void MemoryTxn::Rollback() {
  if (done_) return;
  done_ = true;
  store_->EndTxn(/*commit=*/false);
}

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace devshare::store
