// ControlPlane: authorisation, operations, and the group-commit writer.
#include "server/control_plane.h"

#include <chrono>
#include <cstdio>
#include <random>

#include "devshare/store/audit_chain.h"
#include "server/host_spec.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

constexpr const char* kRoles[] = {"admin", "member", "reader"};

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = kDigits[p[i] >> 4];
    s[2 * i + 1] = kDigits[p[i] & 15];
  }
  return s;
}

int64_t SystemNowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ApiResponse Forbidden(const std::string& what) { return ErrorResponse(403, "forbidden", what); }

ApiResponse NotFound(const std::string& what) { return ErrorResponse(404, "not_found", what); }

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
      ids_(options_.id_seed != 0 ? options_.id_seed : std::random_device{}()) {
  if (!options_.now_unix_ms) options_.now_unix_ms = SystemNowUnixMs;
  placement::RegisterBuiltinPlacementPlugins(registry_);
}

Result<std::unique_ptr<ControlPlane>> ControlPlane::Open(std::unique_ptr<store::Store> store,
                                                         ControlPlaneOptions options) {
  std::unique_ptr<ControlPlane> cp(new ControlPlane(std::move(store), std::move(options)));
  if (!cp->registry_.HasPolicy(cp->options_.default_policy)) {
    return Status::InvalidArgument("unknown default policy '" + cp->options_.default_policy + "'");
  }
  DS_RETURN_IF_ERROR(cp->ReloadLedger());
  cp->writer_ = std::thread([raw = cp.get()] { raw->WriterLoop(); });
  DS_RETURN_IF_ERROR(cp->Bootstrap());
  return cp;
}

ControlPlane::~ControlPlane() { Shutdown(); }

void ControlPlane::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

Status ControlPlane::ReloadLedger() {
  DS_ASSIGN_OR_RETURN(store::StoreSnapshot snap, store_->Load());
  Status s = ledger_.Load(snap);
  PublishTokens();
  return s;
}

void ControlPlane::PublishTokens() {
  if (ledger_.tokens_version() == published_tokens_version_) return;
  std::unique_lock<std::shared_mutex> lock(tokens_mu_);
  tokens_ = ledger_.tokens();
  published_tokens_version_ = ledger_.tokens_version();
}

// The "system" tenant and the bootstrap admin token exist after Open.
Status ControlPlane::Bootstrap() {
  const Principal system = Principal::SystemAdmin("bootstrap");
  const std::string sha = options_.bootstrap_admin_sha256;
  ApiResponse r = Submit([this, system, sha](store::Txn& tx) {
    OpResult out;
    out.audit = Audit(system, "server.bootstrap", "tenant/system");
    out.write_audit = false;
    if (ledger_.FindTenant(kSystemTenant) == nullptr) {
      store::TenantRecord t{kSystemTenant, kSystemTenant, options_.now_unix_ms()};
      Status s = tx.InsertTenant(t);
      if (!s.ok()) {
        out.response = ErrorFromStatus(s);
        return out;
      }
      ledger_.AddTenant(t);
      out.undo = [this] { ledger_.RemoveTenant(kSystemTenant); };
      out.write_audit = true;
    }
    if (!sha.empty() && ledger_.FindTokenByHash(sha) == nullptr) {
      store::TokenRecord k{"k-admin-" + sha.substr(0, 12), sha, kSystemTenant, "admin",
                           options_.now_unix_ms()};
      Status s = tx.InsertToken(k);
      if (!s.ok()) {
        out.response = ErrorFromStatus(s);
        return out;
      }
      ledger_.AddToken(k);
      auto prev = out.undo;
      out.undo = [this, sha, prev] {
        ledger_.RemoveToken(sha);
        if (prev) prev();
      };
      out.audit.operation = "token.bootstrap";
      out.audit.object = "token/" + k.id;
      out.write_audit = true;
    }
    out.audit.outcome = "ok";
    out.keep = true;
    out.response = {200, {}};
    return out;
  });
  if (r.status != 200) {
    return Status::Unavailable("bootstrap failed: " + r.body.value("message", std::string()));
  }
  return Status::Ok();
}

// --- writer ---------------------------------------------------------------------------------

ApiResponse ControlPlane::Submit(Op op) {
  auto p = std::make_unique<Pending>();
  p->op = std::move(op);
  std::future<ApiResponse> f = p->done.get_future();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) return ErrorResponse(503, "unavailable", "server is shutting down");
    queue_.push_back(std::move(p));
  }
  queue_cv_.notify_one();
  return f.get();
}

void ControlPlane::WriterLoop() {
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

void ControlPlane::RunBatch(std::deque<std::unique_ptr<Pending>>& batch) {
  std::unique_lock<std::shared_mutex> ledger_lock(ledger_mu_);
  auto fail_all = [&](const Status& s) {
    for (auto& p : batch) {
      p->done.set_value(ErrorResponse(503, "unavailable", "store: " + s.message()));
    }
  };
  Result<std::unique_ptr<store::Txn>> begun = store_->Begin();
  if (!begun.ok()) {
    fail_all(begun.status());
    return;
  }
  store::Txn& tx = **begun;
  std::vector<std::pair<Pending*, ApiResponse>> answers;
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
        r.audit.outcome = r.response.body.value("code", std::string("ok"));
      }
      batch_status = tx.AppendAudit(std::move(r.audit)).status();
    }
    answers.emplace_back(p.get(), std::move(r.response));
    if (!batch_status.ok()) break;
  }
  if (batch_status.ok()) batch_status = tx.Commit();
  if (!batch_status.ok()) {
    tx.Rollback();
    Status reload = ReloadLedger();
    if (!reload.ok()) {
      std::fprintf(stderr, "devshare serve: reloading the ledger failed: %s\n",
                   reload.ToString().c_str());
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.failed_commits++;
    }
    for (auto& p : batch) {
      if (p)
        p->done.set_value(
            ErrorResponse(503, "unavailable", "store commit failed: " + batch_status.message()));
    }
    for (auto& p : retries) {
      p->done.set_value(
          ErrorResponse(503, "unavailable", "store commit failed: " + batch_status.message()));
    }
    return;
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.commits++;
    stats_.committed_ops += static_cast<int64_t>(answers.size());
    stats_.max_batch_seen = std::max<int64_t>(stats_.max_batch_seen, batch.size());
    stats_.cas_retries += static_cast<int64_t>(retries.size());
  }
  PublishTokens();
  if (!retries.empty()) {
    Status reload = ReloadLedger();
    std::lock_guard<std::mutex> lock(queue_mu_);
    for (auto it = retries.rbegin(); it != retries.rend(); ++it) {
      if (!reload.ok() || ++(*it)->attempts > options_.max_cas_retries) {
        (*it)->done.set_value(ErrorResponse(409, "concurrent_update",
                                            "the host changed under this request " +
                                                std::to_string(options_.max_cas_retries) +
                                                " times; retry later"));
      } else {
        queue_.push_front(std::move(*it));
      }
    }
  }
  ledger_lock.unlock();
  for (auto& [p, response] : answers) p->done.set_value(std::move(response));
}

// --- helpers ----------------------------------------------------------------------------------

std::string ControlPlane::NewId(const char* prefix) {
  uint64_t x = ids_.Next();
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(x >> (8 * i));
  return std::string(prefix) + "-" + Hex(b, 8);
}

store::AuditRecord ControlPlane::Audit(const Principal& p, std::string operation,
                                       std::string object) const {
  store::AuditRecord a;
  a.time_unix_ms = options_.now_unix_ms();
  a.tenant_id = p.tenant_id;
  a.actor = p.actor;
  a.operation = std::move(operation);
  a.object = std::move(object);
  a.detail_json = "{}";
  return a;
}

std::optional<ApiResponse> ControlPlane::ReplayIdempotent(const Principal& p,
                                                          const std::string& key,
                                                          const std::string& request_hash) const {
  if (key.empty()) return std::nullopt;
  const store::IdempotencyRecord* r = ledger_.FindIdempotency(p.tenant_id, key);
  if (r == nullptr) return std::nullopt;
  if (r->request_sha256_hex != request_hash) {
    return ErrorResponse(422, "idempotency_key_reused",
                         "Idempotency-Key '" + key + "' was used with another request");
  }
  ApiResponse replay;
  replay.status = r->http_status;
  replay.body = nlohmann::json::parse(r->response_json, nullptr, false);
  return replay;
}

Status ControlPlane::RecordIdempotent(store::Txn& tx, OpResult& r, const Principal& p,
                                      const std::string& key, const std::string& request_hash) {
  if (key.empty()) return Status::Ok();
  store::IdempotencyRecord rec{
      p.tenant_id,           key, request_hash, r.response.status, JsonText(r.response.body),
      options_.now_unix_ms()};
  DS_RETURN_IF_ERROR(tx.InsertIdempotency(rec));
  ledger_.AddIdempotency(rec);
  auto prev = r.undo;
  r.undo = [this, tenant = p.tenant_id, key, prev] {
    ledger_.RemoveIdempotency(tenant, key);
    if (prev) prev();
  };
  return Status::Ok();
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
  const store::TokenRecord* t = it == tokens_.end() ? nullptr : &it->second;
  if (t == nullptr) {
    p.kind = Principal::Kind::kBadToken;
    p.actor = "bad-token";
    return p;
  }
  p.kind = Principal::Kind::kToken;
  p.tenant_id = t->tenant_id;
  p.role = t->role;
  p.actor = t->id;
  return p;
}

bool ControlPlane::AdmitUnauthenticatedAudit(int64_t* unaudited_before) {
  *unaudited_before = 0;
  if (!(options_.unauthenticated_audit_per_s > 0)) return true;
  const TimePoint now{std::chrono::milliseconds(options_.now_unix_ms())};
  std::lock_guard<std::mutex> lock(unauth_mu_);
  if (!unauth_audit_bucket_) {
    Result<qos::TokenBucket> b =
        qos::TokenBucket::Create(options_.unauthenticated_audit_per_s,
                                 std::max<int64_t>(1, options_.unauthenticated_audit_burst), now);
    if (!b.ok()) return true;  // (rate > 0 and burst >= 1: cannot happen)
    unauth_audit_bucket_ = *b;
  }
  if (!unauth_audit_bucket_->TryConsume(1, now)) {
    ++unaudited_since_last_;
    std::lock_guard<std::mutex> stats_lock(stats_mu_);
    ++stats_.unaudited_refusals;
    return false;
  }
  *unaudited_before = std::exchange(unaudited_since_last_, 0);
  return true;
}

ApiResponse ControlPlane::AuditRefusal(const Principal& p, const std::string& operation,
                                       const std::string& object, ApiResponse refusal) {
  int64_t unaudited_before = 0;
  if (!p.authenticated() && !AdmitUnauthenticatedAudit(&unaudited_before)) return refusal;
  ApiResponse copy = refusal;
  ApiResponse r = Submit([this, p, operation, object, copy, unaudited_before](store::Txn&) {
    OpResult out;
    out.audit = Audit(p, operation, object);
    out.audit.outcome = copy.body.value("code", std::string("refused"));
    nlohmann::json detail = {{"status", copy.status},
                             {"message", copy.body.value("message", std::string())}};
    // Unauthenticated refusals refused without a record since the previous recorded one.
    if (unaudited_before > 0) detail["unaudited_before"] = unaudited_before;
    out.audit.detail_json = JsonText(detail);
    out.response = copy;
    return out;
  });
  return r.status >= 500 ? r : refusal;
}

// --- JSON views -------------------------------------------------------------------------------

nlohmann::json ControlPlane::VmJson(const VmEntry& vm) const {
  nlohmann::json j = vm.spec.normalized;
  j["id"] = vm.record.id;
  j["tenant_id"] = vm.record.tenant_id;
  j["host"] = vm.record.host;
  j["state"] = vm.record.state;
  j["policy"] = vm.spec.policy.empty() ? options_.default_policy : vm.spec.policy;
  j["devices"] = AllocationToJson(vm.allocation)["devices"];
  j["created_unix_ms"] = vm.record.created_unix_ms;
  j["updated_unix_ms"] = vm.record.updated_unix_ms;
  return j;
}

nlohmann::json ControlPlane::HostJson(const HostEntry& h, bool with_devices) const {
  const HostState& s = ledger_.host_state(ledger_.host_index().at(h.record.name));
  nlohmann::json usage = {{"cpu_milli",
                           {{"used", s.cpu_capacity_milli() - s.cpu_free_milli()},
                            {"capacity", s.cpu_capacity_milli()}}},
                          {"memory_mib",
                           {{"used", s.memory_capacity_mib() - s.memory_free_mib()},
                            {"capacity", s.memory_capacity_mib()}}},
                          {"gpu_milli",
                           {{"used", s.gpu_capacity_total_milli() - s.gpu_free_total_milli()},
                            {"capacity", s.gpu_capacity_total_milli()}}}};
  nlohmann::json j = {{"name", h.record.name},
                      {"generation", h.record.generation},
                      {"updated_unix_ms", h.record.updated_unix_ms},
                      {"usage", usage}};
  if (with_devices) {
    j["inventory"] = h.inventory;
    nlohmann::json gpus = nlohmann::json::array();
    for (int g = 0; g < s.gpu_count(); ++g) {
      const GpuUsage& u = s.gpu_usage(g);
      gpus.push_back({{"id", s.gpu_device(g).id},
                      {"used_milli", u.used_milli},
                      {"whole", u.whole},
                      {"shares", u.shares},
                      {"partitions", u.partitions.size()}});
    }
    j["usage"]["gpus"] = gpus;
  }
  return j;
}

// --- tenants and tokens -----------------------------------------------------------------------

ApiResponse ControlPlane::CreateTenant(const Principal& p, const std::string& body,
                                       const std::string& key) {
  if (!p.operator_admin()) {
    return AuditRefusal(p, "tenant.create", "tenant",
                        Forbidden("only an admin of the system tenant creates tenants"));
  }
  Result<nlohmann::json> j = ParseJsonObject(body);
  std::string name;
  Status parsed = j.status();
  if (j.ok()) {
    FieldReader r(*j, "");
    Result<std::string> n = r.String("name", true, 63);
    parsed = n.ok() ? CheckName(*n, "name") : n.status();
    if (parsed.ok()) parsed = r.CheckNoUnknown();
    if (n.ok()) name = *n;
  }
  if (!parsed.ok()) return AuditRefusal(p, "tenant.create", "tenant", ErrorFromStatus(parsed));
  const std::string hash = store::Sha256Hex("POST /v1/tenants\n" + body);
  return Submit([this, p, name, key, hash](store::Txn& tx) {
    OpResult r;
    r.audit = Audit(p, "tenant.create", "tenant/" + name);
    if (auto replay = ReplayIdempotent(p, key, hash)) {
      r.response = *replay;
      r.write_audit = false;
      return r;
    }
    if (ledger_.TenantNameTaken(name) || name == kSystemTenant) {
      r.response = ErrorResponse(409, "already_exists", "tenant '" + name + "' exists");
      return r;
    }
    store::TenantRecord t{NewId("t"), name, options_.now_unix_ms()};
    Status s = tx.InsertTenant(t);
    if (!s.ok()) {
      r.response = ErrorFromStatus(s);
      return r;
    }
    ledger_.AddTenant(t);
    r.undo = [this, id = t.id] { ledger_.RemoveTenant(id); };
    r.response = {201, {{"id", t.id}, {"name", t.name}, {"created_unix_ms", t.created_unix_ms}}};
    s = RecordIdempotent(tx, r, p, key, hash);
    if (!s.ok()) {
      r.response = ErrorFromStatus(s);
      return r;
    }
    r.audit.object = "tenant/" + t.id;
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"name", name}}));
    r.keep = true;
    return r;
  });
}

ApiResponse ControlPlane::ListTenants(const Principal& p) {
  if (!p.operator_admin()) {
    return AuditRefusal(p, "tenant.list", "tenant",
                        Forbidden("only an admin of the system tenant lists tenants"));
  }
  std::shared_lock<std::shared_mutex> lock(ledger_mu_);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, t] : ledger_.tenants()) {
    list.push_back({{"id", t.id}, {"name", t.name}, {"created_unix_ms", t.created_unix_ms}});
  }
  return {200, {{"tenants", list}}};
}

ApiResponse ControlPlane::CreateToken(const Principal& p, const std::string& tenant_id,
                                      const std::string& body, const std::string& key) {
  const std::string object = "tenant/" + tenant_id;
  if (!p.operator_admin()) {
    if (p.tenant_id != tenant_id) {
      return AuditRefusal(p, "token.create", object,
                          NotFound("tenant '" + tenant_id + "' not found"));
    }
    if (p.role != "admin") {
      return AuditRefusal(p, "token.create", object,
                          Forbidden("only an admin of the tenant creates its tokens"));
    }
  }
  Result<nlohmann::json> j = ParseJsonObject(body);
  std::string role;
  Status parsed = j.status();
  if (j.ok()) {
    FieldReader r(*j, "");
    Result<std::string> v = r.String("role", true, 16);
    parsed = v.status();
    if (v.ok()) {
      role = *v;
      bool known = false;
      for (const char* k : kRoles) known = known || role == k;
      if (!known) {
        parsed = Status::InvalidArgument("field 'role': unknown role '" + role +
                                         "' (known: admin, member, reader)");
      }
    }
    if (parsed.ok()) parsed = r.CheckNoUnknown();
  }
  if (!parsed.ok()) return AuditRefusal(p, "token.create", object, ErrorFromStatus(parsed));
  const std::string hash = store::Sha256Hex("POST /v1/tenants/" + tenant_id + "/tokens\n" + body);
  return Submit([this, p, tenant_id, role, key, hash, object](store::Txn& tx) {
    OpResult r;
    r.audit = Audit(p, "token.create", object);
    if (auto replay = ReplayIdempotent(p, key, hash)) {
      r.response = *replay;
      r.write_audit = false;
      return r;
    }
    if (ledger_.FindTenant(tenant_id) == nullptr) {
      r.response = NotFound("tenant '" + tenant_id + "' not found");
      return r;
    }
    Result<std::string> secret = NewBearerToken();
    if (!secret.ok()) {
      r.response = ErrorFromStatus(secret.status());
      return r;
    }
    const std::string token = *secret;
    store::TokenRecord k{NewId("k"), store::Sha256Hex(token), tenant_id, role,
                         options_.now_unix_ms()};
    Status s = tx.InsertToken(k);
    if (!s.ok()) {
      r.response = ErrorFromStatus(s);
      return r;
    }
    ledger_.AddToken(k);
    r.undo = [this, sha = k.sha256_hex] { ledger_.RemoveToken(sha); };
    // The idempotent replay must not hold the secret: it is stored without it.
    r.response = {
        201, {{"id", k.id}, {"tenant_id", tenant_id}, {"role", role}, {"token_redacted", true}}};
    s = RecordIdempotent(tx, r, p, key, hash);
    if (!s.ok()) {
      r.response = ErrorFromStatus(s);
      return r;
    }
    r.response.body.erase("token_redacted");
    r.response.body["token"] = token;
    r.audit.object = "token/" + k.id;
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"tenant_id", tenant_id}, {"role", role}}));
    r.keep = true;
    return r;
  });
}

// --- hosts ------------------------------------------------------------------------------------

ApiResponse ControlPlane::PutHost(const Principal& p, const std::string& name,
                                  const std::string& body) {
  const std::string object = "host/" + name;
  if (!p.operator_admin()) {
    return AuditRefusal(p, "host.put", object,
                        Forbidden("only an admin of the system tenant registers hosts"));
  }
  Result<nlohmann::json> j = ParseJsonObject(body);
  if (!j.ok()) return AuditRefusal(p, "host.put", object, ErrorFromStatus(j.status()));
  Result<HostSpec> spec = ParseHostSpec(name, *j);
  if (!spec.ok()) return AuditRefusal(p, "host.put", object, ErrorFromStatus(spec.status()));
  return Submit([this, p, name, object, spec = std::move(*spec)](store::Txn& tx) {
    OpResult r;
    r.audit = Audit(p, "host.put", object);
    const HostEntry* existing = ledger_.FindHost(name);
    std::optional<HostEntry> previous;
    std::optional<Host> previous_host;
    if (existing != nullptr) {
      previous = *existing;
      previous_host = ledger_.cluster().hosts[ledger_.host_index().at(name)];
    }
    const uint64_t expected = existing != nullptr ? existing->record.generation : 0;
    const std::string inventory = JsonText(spec.normalized);
    Result<uint64_t> gen = tx.PutHost(name, inventory, expected, options_.now_unix_ms());
    if (!gen.ok()) {
      r.retry = gen.status().IsAborted();
      r.response = ErrorFromStatus(gen.status());
      return r;
    }
    store::HostRecord rec{name, inventory, *gen, options_.now_unix_ms()};
    Status s = ledger_.PutHost(rec, spec.host, spec.normalized);
    if (!s.ok()) {
      r.response = ErrorResponse(409, "inventory_in_use", s.message());
      return r;
    }
    r.undo = [this, name, previous, previous_host] {
      ledger_.RestoreHost(name, previous ? &*previous : nullptr,
                          previous_host ? &*previous_host : nullptr);
    };
    r.response = {existing != nullptr ? 200 : 201, HostJson(*ledger_.FindHost(name), true)};
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"generation", *gen}}));
    r.keep = true;
    return r;
  });
}

ApiResponse ControlPlane::ListHosts(const Principal& p) {
  if (!p.authenticated()) return ErrorResponse(401, "unauthenticated", "missing or bad token");
  std::shared_lock<std::shared_mutex> lock(ledger_mu_);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [name, index] : ledger_.host_index()) {
    list.push_back(HostJson(*ledger_.FindHost(name), false));
  }
  return {200, {{"hosts", list}}};
}

ApiResponse ControlPlane::GetHost(const Principal& p, const std::string& name) {
  if (!p.authenticated()) return ErrorResponse(401, "unauthenticated", "missing or bad token");
  std::shared_lock<std::shared_mutex> lock(ledger_mu_);
  const HostEntry* h = ledger_.FindHost(name);
  if (h == nullptr) return NotFound("host '" + name + "' not found");
  return {200, HostJson(*h, true)};
}

// --- VMs --------------------------------------------------------------------------------------

ApiResponse ControlPlane::CreateVm(const Principal& p, const std::string& body,
                                   const std::string& key) {
  if (!p.can_write()) {
    return AuditRefusal(p, "vm.create", "vm", Forbidden("a reader cannot create VMs"));
  }
  Result<nlohmann::json> j = ParseJsonObject(body);
  if (!j.ok()) return AuditRefusal(p, "vm.create", "vm", ErrorFromStatus(j.status()));
  Result<VmSpec> parsed = ParseVmSpec(*j);
  if (!parsed.ok()) return AuditRefusal(p, "vm.create", "vm", ErrorFromStatus(parsed.status()));
  const std::string hash = store::Sha256Hex("POST /v1/vms\n" + body);
  ApiResponse created = Submit([this, p, key, hash, spec = std::move(*parsed)](store::Txn& tx) {
    OpResult r;
    r.audit = Audit(p, "vm.create", "vm/" + spec.name);
    if (auto replay = ReplayIdempotent(p, key, hash)) {
      r.response = *replay;
      r.write_audit = false;
      return r;
    }
    const std::string id = NewId("vm");
    Result<placement::PlacementOutcome> outcome = ledger_.Place(id, p.tenant_id, spec);
    if (!outcome.ok()) {
      r.response = ErrorFromStatus(outcome.status());
      return r;
    }
    if (!outcome->placed()) {
      nlohmann::json reasons = nlohmann::json::array();
      for (const placement::Reason& why : outcome->reasons) {
        reasons.push_back({{"filter", why.plugin},
                           {"resource", why.resource},
                           {"hosts", why.hosts},
                           {"example", why.message}});
      }
      const int hosts = static_cast<int>(ledger_.cluster().states.size());
      r.response = ErrorResponse(
          409, "unschedulable", outcome->Summary(hosts),
          {{"reasons", reasons}, {"candidates", ledger_.ExplainCandidates(spec, p.tenant_id, 5)}});
      r.audit.detail_json = JsonText(nlohmann::json({{"message", outcome->Summary(hosts)}}));
      return r;
    }
    const Allocation a = outcome->allocation;
    r.undo = [this, a] { ledger_.ReleasePlacement(a); };
    const uint64_t old_gen = ledger_.FindHost(a.host_id)->record.generation;
    Result<uint64_t> gen = tx.GuardHost(a.host_id, old_gen);
    if (!gen.ok()) {
      r.retry = gen.status().IsAborted();
      r.response = ErrorFromStatus(gen.status());
      return r;
    }
    const int64_t now = options_.now_unix_ms();
    const nlohmann::json alloc = AllocationToJson(a);
    // On the local host the VM is answered only after libvirt has it (FinishLocalCreate).
    const bool realize = IsLocal(a.host_id);
    store::VmRecord rec{id,
                        p.tenant_id,
                        spec.name,
                        a.host_id,
                        JsonText(spec.normalized),
                        JsonText(alloc),
                        realize ? "creating" : "allocated",
                        now,
                        now};
    Status s = tx.InsertVm(rec);
    if (!s.ok()) {
      r.response = ErrorFromStatus(s);
      return r;
    }
    VmEntry entry{rec, spec, a};
    entry.spec.request.id = id;
    entry.spec.request.tenant = p.tenant_id;
    ledger_.AddVm(entry);
    ledger_.SetHostGeneration(a.host_id, *gen);
    r.undo = [this, id, host = a.host_id, old_gen] {
      (void)ledger_.RemoveVm(id);
      ledger_.SetHostGeneration(host, old_gen);
    };
    r.response = {201, VmJson(entry)};
    s = realize ? Status::Ok() : RecordIdempotent(tx, r, p, key, hash);
    if (!s.ok()) {
      r.response = ErrorFromStatus(s);
      return r;
    }
    r.audit.object = "vm/" + id;
    r.audit.outcome = "ok";
    r.audit.detail_json =
        JsonText(nlohmann::json({{"host", a.host_id}, {"name", spec.name}, {"allocation", alloc}}));
    r.keep = true;
    return r;
  });
  if (created.status == 201 && created.body.value("state", std::string()) == "creating") {
    return FinishLocalCreate(p, created.body["id"].get<std::string>(), key, hash);
  }
  return created;
}

host::GuestRequest ControlPlane::GuestFor(const VmEntry& vm) const {
  host::GuestRequest g;
  g.vm_id = vm.record.id;
  g.tenant = vm.record.tenant_id;
  g.allocation = vm.allocation;
  g.qos = vm.spec.qos;
  return g;
}

ApiResponse ControlPlane::FinishLocalCreate(const Principal& p, const std::string& vm_id,
                                            const std::string& key,
                                            const std::string& request_hash) {
  host::GuestRequest guest;
  {
    std::shared_lock<std::shared_mutex> lock(ledger_mu_);
    const VmEntry* vm = ledger_.FindVm(vm_id);
    if (vm == nullptr) {
      return ErrorResponse(409, "conflict", "vm " + vm_id + " was deleted while being created");
    }
    guest = GuestFor(*vm);
  }
  Result<host::DomainStatus> realized = options_.local_agent->Realize(guest);
  return Submit([this, p, vm_id, key, request_hash, realized](store::Txn& tx) {
    OpResult r;
    r.audit = Audit(p, "vm.realize", "vm/" + vm_id);
    const VmEntry* vm = ledger_.FindVm(vm_id);
    if (vm == nullptr) {
      r.response = ErrorResponse(409, "conflict", "vm " + vm_id + " was deleted while created");
      return r;
    }
    if (realized.ok()) {
      VmEntry updated = *vm;
      updated.record.state = std::string(host::DomainStateName(realized->state));
      updated.record.updated_unix_ms = options_.now_unix_ms();
      Status s = tx.UpdateVm(updated.record);
      if (!s.ok()) {
        r.response = ErrorFromStatus(s);
        return r;
      }
      VmEntry previous = *vm;
      (void)ledger_.ReplaceVm(updated);
      r.undo = [this, previous] { (void)ledger_.ReplaceVm(previous); };
      r.response = {201, VmJson(updated)};
      r.response.body["domain"] = realized->name;
      s = RecordIdempotent(tx, r, p, key, request_hash);
      if (!s.ok()) {
        r.response = ErrorFromStatus(s);
        return r;
      }
      r.audit.outcome = "ok";
      r.audit.detail_json =
          JsonText(nlohmann::json({{"domain", realized->name}, {"state", updated.record.state}}));
      r.keep = true;
      return r;
    }
    // libvirt refused: the allocation is rolled back (deleted), and the refusal audited.
    Result<VmEntry> removed = RemoveVmInTxn(tx, vm_id, r);
    if (!removed.ok()) return r;
    const std::string host_name = removed->record.host;
    r.response = ErrorResponse(
        502, "realization_failed",
        "host " + host_name + " could not start the VM: " + realized.status().message(),
        {{"host", host_name}, {"vm", vm_id}, {"rolled_back", true}});
    r.audit.outcome = "realization_failed";
    r.audit.detail_json = JsonText(nlohmann::json({{"error", realized.status().message()}}));
    r.keep = true;  // the deletion of the allocation is the point
    return r;
  });
}

// Frees a VM's allocation inside `tx` (host-generation CAS, row, ledger) and sets r.undo. On
// failure r.response (and r.retry for a stale generation) say why.
Result<VmEntry> ControlPlane::RemoveVmInTxn(store::Txn& tx, const std::string& id, OpResult& r) {
  const std::string host = ledger_.FindVm(id)->record.host;
  const uint64_t old_gen = ledger_.FindHost(host)->record.generation;
  Result<uint64_t> gen = tx.GuardHost(host, old_gen);
  Status s = gen.ok() ? tx.DeleteVm(id) : gen.status();
  Result<VmEntry> removed = s.ok() ? ledger_.RemoveVm(id) : Result<VmEntry>(s);
  if (!removed.ok()) {
    r.retry = removed.status().IsAborted();
    r.response = ErrorFromStatus(removed.status());
    return removed;
  }
  ledger_.SetHostGeneration(host, *gen);
  r.undo = [this, vm = *removed, host, old_gen] {
    (void)ledger_.RestoreVm(vm);
    ledger_.SetHostGeneration(host, old_gen);
  };
  return removed;
}

ApiResponse ControlPlane::ListVms(const Principal& p) {
  if (!p.authenticated()) return ErrorResponse(401, "unauthenticated", "missing or bad token");
  std::shared_lock<std::shared_mutex> lock(ledger_mu_);
  std::vector<const VmEntry*> mine;
  for (const auto& [id, vm] : ledger_.vms()) {
    if (p.Sees(vm.record.tenant_id)) mine.push_back(&vm);
  }
  std::sort(mine.begin(), mine.end(), [](const VmEntry* a, const VmEntry* b) {
    return std::tie(a->record.created_unix_ms, a->record.id) <
           std::tie(b->record.created_unix_ms, b->record.id);
  });
  nlohmann::json list = nlohmann::json::array();
  for (const VmEntry* vm : mine) list.push_back(VmJson(*vm));
  return {200, {{"vms", list}}};
}

ApiResponse ControlPlane::GetVm(const Principal& p, const std::string& id) {
  if (!p.authenticated()) return ErrorResponse(401, "unauthenticated", "missing or bad token");
  ApiResponse r;
  bool visible = false;
  bool live = false;
  {
    std::shared_lock<std::shared_mutex> lock(ledger_mu_);
    const VmEntry* vm = ledger_.FindVm(id);
    if (vm == nullptr) return NotFound("vm '" + id + "' not found");
    if (p.Sees(vm->record.tenant_id)) {
      visible = true;
      r = {200, VmJson(*vm)};
      live = IsLocal(vm->record.host) && vm->record.state != "creating";
    }
  }
  if (!visible) {
    // Another tenant's VM: answered exactly like a missing one, and audited as a denial.
    return AuditRefusal(p, "vm.get", "vm/" + id, NotFound("vm '" + id + "' not found"));
  }
  if (live) {
    // The live state asks libvirt: outside the ledger lock, so the writer never waits on it.
    Result<host::DomainStatus> st = options_.local_agent->State(id);
    if (st.ok()) {
      r.body["state"] = std::string(host::DomainStateName(st->state));
      r.body["domain"] = st->name;
      if (!st->detail.empty()) r.body["state_detail"] = st->detail;
    } else {
      r.body["state"] = "failed";
      r.body["state_detail"] = st.status().message();
    }
  }
  return r;
}

ApiResponse ControlPlane::DeleteVm(const Principal& p, const std::string& id) {
  if (options_.local_agent != nullptr) {
    bool local = false;
    {
      std::shared_lock<std::shared_mutex> lock(ledger_mu_);
      const VmEntry* vm = ledger_.FindVm(id);
      local = vm != nullptr && IsLocal(vm->record.host) && p.can_write() &&
              p.Sees(vm->record.tenant_id);
    }
    // The domain goes first: an allocation is never freed while its guest still runs.
    if (local) {
      Status removed = options_.local_agent->Remove(id);
      if (!removed.ok()) {
        return AuditRefusal(
            p, "vm.delete", "vm/" + id,
            ErrorResponse(502, "realization_failed",
                          "could not destroy the VM's domain: " + removed.message()));
      }
    }
  }
  return Submit([this, p, id](store::Txn& tx) {
    OpResult r;
    r.audit = Audit(p, "vm.delete", "vm/" + id);
    const VmEntry* vm = ledger_.FindVm(id);
    if (vm == nullptr || !p.Sees(vm->record.tenant_id)) {
      r.response = NotFound("vm '" + id + "' not found");
      return r;
    }
    if (!p.can_write()) {
      r.response = Forbidden("a reader cannot delete VMs");
      return r;
    }
    Result<VmEntry> removed = RemoveVmInTxn(tx, id, r);
    if (!removed.ok()) return r;
    const std::string host = removed->record.host;
    r.response = {200, {{"id", id}, {"deleted", true}}};
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"host", host}}));
    r.keep = true;
    return r;
  });
}

ApiResponse ControlPlane::ResizeVm(const Principal& p, const std::string& id,
                                   const std::string& body, const std::string& key) {
  Result<nlohmann::json> j = ParseJsonObject(body);
  Result<ResizeSpec> spec = j.ok() ? ParseResizeSpec(*j) : Result<ResizeSpec>(j.status());
  if (!spec.ok()) return AuditRefusal(p, "vm.resize", "vm/" + id, ErrorFromStatus(spec.status()));
  const std::string hash = store::Sha256Hex("POST /v1/vms/" + id + "/resize\n" + body);
  ApiResponse resized = Submit([this, p, id, key, hash, spec = *spec](store::Txn& tx) {
    OpResult r;
    r.audit = Audit(p, "vm.resize", "vm/" + id);
    const VmEntry* vm = ledger_.FindVm(id);
    if (vm == nullptr || !p.Sees(vm->record.tenant_id)) {
      r.response = NotFound("vm '" + id + "' not found");
      return r;
    }
    if (!p.can_write()) {
      r.response = Forbidden("a reader cannot resize VMs");
      return r;
    }
    if (auto replay = ReplayIdempotent(p, key, hash)) {
      r.response = *replay;
      r.write_audit = false;
      return r;
    }
    const std::string host = vm->record.host;
    Result<VmEntry> previous = ledger_.Resize(id, spec);
    if (!previous.ok()) {
      r.response = ErrorResponse(409, "no_room", previous.status().message());
      return r;
    }
    const uint64_t old_gen = ledger_.FindHost(host)->record.generation;
    r.undo = [this, prev = *previous, host, old_gen] {
      (void)ledger_.ReplaceVm(prev);
      ledger_.SetHostGeneration(host, old_gen);
    };
    Result<uint64_t> gen = tx.GuardHost(host, old_gen);
    if (!gen.ok()) {
      r.retry = gen.status().IsAborted();
      r.response = ErrorFromStatus(gen.status());
      return r;
    }
    const VmEntry& now = *ledger_.FindVm(id);
    store::VmRecord rec = now.record;
    rec.spec_json = JsonText(now.spec.normalized);
    rec.allocation_json = JsonText(AllocationToJson(now.allocation));
    rec.updated_unix_ms = options_.now_unix_ms();
    Status s = tx.UpdateVm(rec);
    if (!s.ok()) {
      r.response = ErrorFromStatus(s);
      return r;
    }
    VmEntry updated = now;
    updated.record = rec;
    (void)ledger_.ReplaceVm(updated);
    ledger_.SetHostGeneration(host, *gen);
    r.response = {200, VmJson(updated)};
    s = RecordIdempotent(tx, r, p, key, hash);
    if (!s.ok()) {
      r.response = ErrorFromStatus(s);
      return r;
    }
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(
        nlohmann::json({{"host", host}, {"allocation", AllocationToJson(updated.allocation)}}));
    r.keep = true;
    return r;
  });
  if (resized.status == 200 && IsLocal(resized.body.value("host", std::string()))) {
    host::GuestRequest guest;
    {
      std::shared_lock<std::shared_mutex> lock(ledger_mu_);
      const VmEntry* vm = ledger_.FindVm(id);
      if (vm == nullptr) return resized;
      guest = GuestFor(*vm);
    }
    Result<host::ResizeOutcome> live = options_.local_agent->Update(guest);
    if (live.ok()) {
      resized.body["realization"] = {
          {"cpu_live", live->cpu_live}, {"memory_live", live->memory_live}, {"notes", live->notes}};
    } else {
      resized.body["realization"] = {{"error", live.status().message()}};
    }
  }
  return resized;
}

// --- audit and stats --------------------------------------------------------------------------

ApiResponse ControlPlane::ListAudit(const Principal& p, int64_t after_seq, int64_t limit) {
  if (!p.authenticated() || p.role != "admin") {
    return AuditRefusal(p, "audit.list", "audit", Forbidden("only admins read the audit log"));
  }
  nlohmann::json list = nlohmann::json::array();
  int64_t next = after_seq;
  // A tenant admin sees only its tenant's records: page through until `limit` are found.
  while (static_cast<int64_t>(list.size()) < limit) {
    Result<std::vector<store::AuditRecord>> page = store_->ReadAudit(next, 1000);
    if (!page.ok()) return ErrorFromStatus(page.status());
    if (page->empty()) break;
    for (const store::AuditRecord& a : *page) {
      next = a.seq;
      if (!p.Sees(a.tenant_id)) continue;
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
  return {200, {{"records", list}, {"next_after", next}}};
}

std::vector<std::string> ControlPlane::VmIdsOnHost(const std::string& host) const {
  std::shared_lock<std::shared_mutex> lock(ledger_mu_);
  std::vector<std::string> ids;
  for (const auto& [id, vm] : ledger_.vms()) {
    if (vm.record.host == host) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> ControlPlane::RollBackUnrealized(const std::vector<std::string>& vm_ids) {
  std::vector<std::string> rolled_back;
  const Principal system = Principal::SystemAdmin("serve-reconcile");
  for (const std::string& id : vm_ids) {
    ApiResponse r = Submit([this, system, id](store::Txn& tx) {
      OpResult out;
      out.audit = Audit(system, "vm.realize", "vm/" + id);
      out.write_audit = false;
      const VmEntry* vm = ledger_.FindVm(id);
      if (vm == nullptr || vm->record.state != "creating") {
        out.response = ErrorResponse(409, "conflict", "not an unrealized vm");
        return out;
      }
      Result<VmEntry> removed = RemoveVmInTxn(tx, id, out);
      if (!removed.ok()) return out;
      const std::string host_name = removed->record.host;
      out.audit.tenant_id = removed->record.tenant_id;
      out.audit.outcome = "rolled_back_at_start";
      out.audit.detail_json = JsonText(nlohmann::json({{"host", host_name}}));
      out.write_audit = true;
      out.keep = true;
      out.response = {200, {{"id", id}}};
      return out;
    });
    if (r.status == 200) rolled_back.push_back(id);
  }
  return rolled_back;
}

ControlPlaneStats ControlPlane::Stats() const {
  ControlPlaneStats s;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    s = stats_;
  }
  std::shared_lock<std::shared_mutex> lock(ledger_mu_);
  s.tenants = static_cast<int64_t>(ledger_.tenants().size());
  s.hosts = static_cast<int64_t>(ledger_.host_index().size());
  s.vms = static_cast<int64_t>(ledger_.vms().size());
  for (const HostState& h : ledger_.cluster().states) {
    s.cpu_capacity_milli += h.cpu_capacity_milli();
    s.cpu_used_milli += h.cpu_capacity_milli() - h.cpu_free_milli();
    s.memory_capacity_mib += h.memory_capacity_mib();
    s.memory_used_mib += h.memory_capacity_mib() - h.memory_free_mib();
    s.gpu_capacity_milli += h.gpu_capacity_total_milli();
    s.gpu_used_milli += h.gpu_capacity_total_milli() - h.gpu_free_total_milli();
  }
  return s;
}

}  // namespace devshare::server
