// ControlPlane: wiring of the ledger, the group committer and the services; authentication;
// the audit log read; stats.
#include "server/control_plane.h"

#include <chrono>
#include <cstdio>

#include "devshare/store/audit_chain.h"
#include "server/authorizer.h"

namespace devshare::server {
namespace {

int64_t SystemNowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

placement::PluginArgs PolicyArgs(const ControlPlaneOptions& o) {
  placement::PluginArgs args;
  if (o.workload_history != nullptr && !o.workload_history->empty()) {
    args.typical_pods = std::make_shared<const placement::TypicalPods>(
        placement::TypicalPods::FromPods(*o.workload_history));
    args.history = o.workload_history;
  }
  return args;
}

}  // namespace

ControlPlane::ControlPlane(std::unique_ptr<store::Store> store, ControlPlaneOptions options)
    : store_(std::move(store)),
      options_(std::move(options)),
      ledger_(&registry_, options_.default_policy, PolicyArgs(options_)),
      fleet_state_([this] { return options_.now_unix_ms(); }, options_.host_timeout_ms) {
  if (!options_.now_unix_ms) options_.now_unix_ms = SystemNowUnixMs;
  placement::RegisterBuiltinPlacementPlugins(registry_);
  ledger_.set_replica_index(options_.replica_index);
}

Result<std::unique_ptr<ControlPlane>> ControlPlane::Open(std::unique_ptr<store::Store> store,
                                                         ControlPlaneOptions options) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane(std::move(store), std::move(options)));
  if (!cp->registry_.HasPolicy(cp->options_.default_policy)) {
    return Status::InvalidArgument("unknown default policy '" + cp->options_.default_policy + "'");
  }
  DS_RETURN_IF_ERROR(cp->ReloadLedger());
  ControlPlane* raw = cp.get();
  GroupCommitterOptions commit;
  commit.max_batch = raw->options_.max_batch;
  commit.max_retries = raw->options_.max_cas_retries;
  commit.retry_subject = "the host";
  commit.reload = [raw] { return raw->ReloadLedger(); };
  commit.refresh = [raw] { return raw->CatchUp(); };
  commit.committed = [raw](int64_t change_seq) {
    raw->Committed(change_seq);
    raw->PublishTokens();
    raw->fleet_state_.Changed();  // desired-state watchers look again
  };
  raw->committer_ =
      std::make_unique<GroupCommitter>(raw->store_.get(), &raw->ledger_mu_, std::move(commit));
  raw->ctx_ =
      std::make_unique<ServiceContext>(&raw->options_, &raw->ledger_, &raw->ledger_mu_,
                                       raw->committer_.get(), &raw->fleet_state_, &raw->consoles_);
  raw->tenants_ = std::make_unique<TenantService>(raw->ctx_.get());
  raw->hosts_ = std::make_unique<HostService>(raw->ctx_.get());
  raw->vms_ = std::make_unique<VmService>(raw->ctx_.get());
  raw->volumes_ = std::make_unique<VolumeService>(raw->ctx_.get());
  raw->fleet_ = std::make_unique<FleetService>(raw->ctx_.get());
  raw->images_ = std::make_unique<ImageService>(raw->ctx_.get());
  raw->networks_ = std::make_unique<NetworkService>(raw->ctx_.get());
  DS_ASSIGN_OR_RETURN(raw->rightsizing_, RightSizing::Create(raw->ctx_.get(), raw->vms_.get(),
                                                             raw->options_.rightsize_forecaster));
  raw->ctx_->set_rightsizing(raw->rightsizing_.get());
  // Hosts with agents get one timeout from now to send their first heartbeat.
  for (const auto& [name, index] : raw->ledger_.host_index()) {
    if (raw->ledger_.FindHost(name)->record.managed) raw->fleet_state_.Expect(name);
  }
  DS_RETURN_IF_ERROR(raw->tenants_->Bootstrap(raw->options_.bootstrap_admin_sha256));
  if (raw->options_.follow_interval_ms > 0) {
    raw->follower_ = std::thread([raw] { raw->FollowLoop(); });
  }
  return cp;
}

Status ControlPlane::CatchUp() {
  Result<store::ChangedRows> changed = store_->ReadChangedRows(applied_change_seq_.load());
  if (!changed.ok()) return changed.status();
  if (changed->changes.empty()) return Status::Ok();
  Result<bool> applied = ledger_.ApplyChanges(*changed);
  if (!applied.ok() || !*applied) {
    // A change the ledger cannot take row by row (or a half-applied one): the whole store.
    ++catchups_reloaded_;
    return ReloadLedger();
  }
  ++catchups_applied_;
  applied_change_seq_ = changed->rows.change_seq;
  PublishTokens();
  return Status::Ok();
}

void ControlPlane::Committed(int64_t change_seq) {
  // Only the next seq is ours alone; a gap is another process's commit in between, which the
  // ledger does not hold yet: the follower catches up with it.
  if (change_seq == applied_change_seq_.load() + 1) applied_change_seq_ = change_seq;
}

void ControlPlane::FollowLoop() {
  const auto interval = std::chrono::milliseconds(options_.follow_interval_ms);
  std::unique_lock<std::mutex> lock(follow_mu_);
  while (!follow_cv_.wait_for(lock, interval, [this] { return follow_stop_; })) {
    lock.unlock();
    const int64_t applied = applied_change_seq_.load();
    Result<std::vector<store::ChangeRecord>> newer = store_->ReadChanges(applied, 1);
    if (newer.ok() && !newer->empty()) {
      std::unique_lock<std::shared_mutex> state(ledger_mu_);
      if (applied_change_seq_.load() == applied) {  // not caught up by our own commit meanwhile
        Status s = CatchUp();
        if (s.ok()) {
          fleet_state_.Changed();
        } else {
          std::fprintf(stderr, "devshare serve: following the store failed: %s\n",
                       s.ToString().c_str());
        }
      }
    }
    lock.lock();
  }
}

ControlPlane::~ControlPlane() { Shutdown(); }

void ControlPlane::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(follow_mu_);
    follow_stop_ = true;
  }
  follow_cv_.notify_all();
  if (follower_.joinable()) follower_.join();
  // Long polls return first, so HTTP threads are free to finish.
  fleet_state_.Shutdown();
  consoles_.Shutdown();
  if (committer_) committer_->Shutdown();
}

Status ControlPlane::ReloadLedger() {
  DS_ASSIGN_OR_RETURN(store::StoreSnapshot snap, store_->Load());
  Status s = ledger_.Load(snap);
  if (s.ok()) applied_change_seq_ = snap.change_seq;
  PublishTokens();
  return s;
}

void ControlPlane::PublishTokens() {
  if (ledger_.tokens_version() == published_tokens_version_) return;
  std::unique_lock<std::shared_mutex> lock(tokens_mu_);
  tokens_ = ledger_.tokens();
  published_tokens_version_ = ledger_.tokens_version();
}

Principal ControlPlane::Authenticate(const std::string& bearer_token) const {
  Principal p;
  if (bearer_token.empty()) {
    p.actor = "anonymous";
    return p;
  }
  const std::string sha = store::Sha256Hex(bearer_token);
  std::shared_lock<std::shared_mutex> lock(tokens_mu_);
  auto it = tokens_.find(sha);
  if (it == tokens_.end()) {
    p.kind = Principal::Kind::kBadToken;
    p.actor = "bad-token";
    return p;
  }
  p.kind = Principal::Kind::kToken;
  p.tenant_id = it->second.tenant_id;
  p.role = it->second.role;
  p.actor = it->second.id;
  p.host = it->second.host;
  return p;
}

ApiResponse ControlPlane::AuditRefusal(const Principal& p, const std::string& operation,
                                       const std::string& object, ApiResponse refusal) {
  return ctx_->AuditRefusal(p, operation, object, std::move(refusal));
}

// --- endpoints: each a service call, answered through the one Status -> HTTP mapping --------

ApiResponse ControlPlane::CreateTenant(const Principal& p, const std::string& body,
                                       const std::string& key) {
  return ToResponse(tenants_->Create(p, body, key));
}

ApiResponse ControlPlane::ListTenants(const Principal& p) { return ToResponse(tenants_->List(p)); }

ApiResponse ControlPlane::CreateToken(const Principal& p, const std::string& tenant_id,
                                      const std::string& body, const std::string& key) {
  return ToResponse(tenants_->CreateToken(p, tenant_id, body, key));
}

ApiResponse ControlPlane::PutHost(const Principal& p, const std::string& name,
                                  const std::string& body) {
  return ToResponse(hosts_->Put(p, name, body));
}

ApiResponse ControlPlane::ListHosts(const Principal& p) { return ToResponse(hosts_->List(p)); }

ApiResponse ControlPlane::GetHost(const Principal& p, const std::string& name) {
  return ToResponse(hosts_->Get(p, name));
}

ApiResponse ControlPlane::CreateVm(const Principal& p, const std::string& body,
                                   const std::string& key) {
  return ToResponse(vms_->Create(p, body, key));
}

ApiResponse ControlPlane::ListVms(const Principal& p) { return ToResponse(vms_->List(p)); }

ApiResponse ControlPlane::GetVm(const Principal& p, const std::string& id) {
  return ToResponse(vms_->Get(p, id));
}

ApiResponse ControlPlane::DeleteVm(const Principal& p, const std::string& id, bool force) {
  return ToResponse(vms_->Delete(p, id, force));
}

ApiResponse ControlPlane::ResizeVm(const Principal& p, const std::string& id,
                                   const std::string& body, const std::string& key) {
  return ToResponse(vms_->Resize(p, id, body, key));
}

ApiResponse ControlPlane::ListAudit(const Principal& p, int64_t after_seq, int64_t limit) {
  Status allowed = ctx_->Check(p, "audit.list", "audit");
  if (!allowed.ok()) return ErrorFromStatus(allowed);
  nlohmann::json list = nlohmann::json::array();
  int64_t next = after_seq;
  // A tenant admin sees only its tenant's records: page through until `limit` are found.
  while (static_cast<int64_t>(list.size()) < limit) {
    Result<std::vector<store::AuditRecord>> page = store_->ReadAudit(next, 1000);
    if (!page.ok()) return ErrorFromStatus(page.status());
    if (page->empty()) break;
    for (const store::AuditRecord& a : *page) {
      next = a.seq;
      if (!AuthorizeOn(p, "audit.list", a.tenant_id, Status::NotFound("")).ok()) continue;
      list.push_back({{"seq", a.seq},
                      {"time_unix_ms", a.time_unix_ms},
                      {"tenant_id", a.tenant_id},
                      {"actor", a.actor},
                      {"operation", a.operation},
                      {"object", a.object},
                      {"outcome", a.outcome},
                      {"detail", nlohmann::json::parse(a.detail_json, nullptr, false)},
                      {"hash", a.hash_hex}});
      if (static_cast<int64_t>(list.size()) >= limit) break;
    }
  }
  return ToResponse(Reply::Ok({{"records", list}, {"next_after", next}}));
}

std::vector<std::string> ControlPlane::VmIdsOnHost(const std::string& host) const {
  return vms_->IdsOnHost(host);
}

ResourceTotal ControlPlaneStats::Total(const std::string& resource, const std::string& tier) const {
  for (const ResourceTotal& t : resources) {
    if (t.resource == resource && t.tier == tier) return t;
  }
  return ResourceTotal{resource, tier, 0, 0};
}

ControlPlaneStats ControlPlane::Stats() const {
  ControlPlaneStats s;
  static_cast<GroupCommitStats&>(s) = committer_->Stats();
  s.unaudited_refusals = ctx_->unaudited_refusals();
  s.catchups_applied = catchups_applied_.load();
  s.catchups_reloaded = catchups_reloaded_.load();
  std::shared_lock<std::shared_mutex> lock(ledger_mu_);
  s.tenants = static_cast<int64_t>(ledger_.tenants().size());
  s.hosts = static_cast<int64_t>(ledger_.host_index().size());
  s.vms = static_cast<int64_t>(ledger_.vms().size());
  s.resources = ClusterTotals(ledger_.cluster());
  return s;
}

}  // namespace devshare::server
