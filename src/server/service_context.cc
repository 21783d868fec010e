// ServiceContext: ids, audit records, idempotency answers and audited refusals.
#include "server/service_context.h"

#include <chrono>
#include <random>
#include <utility>

#include "devshare/core/clock.h"
#include "server/authorizer.h"
#include "server/json_fields.h"

namespace devshare::server {

ServiceContext::ServiceContext(const ControlPlaneOptions* options, Ledger* ledger,
                               std::shared_mutex* ledger_mu, GroupCommitter* committer,
                               FleetState* fleet, ConsoleBuffers* consoles)
    : options_(options),
      ledger_(ledger),
      ledger_mu_(ledger_mu),
      committer_(committer),
      fleet_(fleet),
      consoles_(consoles),
      ids_(options->id_seed != 0 ? options->id_seed : std::random_device{}()) {}

std::string ServiceContext::HostStatus(const HostEntry& h) const {
  if (!h.record.managed) return "unmanaged";
  return fleet_->Unreachable(h.record.name) ? "unreachable" : "ready";
}

std::vector<ClosedHost> ServiceContext::ClosedHosts() const {
  std::vector<ClosedHost> closed;
  for (const auto& [name, h] : ledger_->host_index()) {
    const HostEntry* e = ledger_->FindHost(name);
    if (e->record.schedule != "open") {
      closed.push_back({name, e->record.schedule});
    } else if (Unreachable(*e)) {
      const int64_t heard = fleet_->LastHeardUnixMs(name);
      closed.push_back({name, heard == 0 ? "unreachable (no heartbeat since the server started)"
                                         : "unreachable (no heartbeat for " +
                                               std::to_string((Now() - heard) / 1000) + " s)"});
    }
  }
  return closed;
}

Result<VmEntry> ServiceContext::RemoveVmInTxn(store::Txn& tx, const std::string& id, OpResult& r) {
  Ledger& ledger = *ledger_;
  const VmEntry* vm = ledger.FindVm(id);
  if (vm == nullptr) return Status::NotFound("vm '" + id + "' not found");
  const std::string host = vm->record.host;
  const uint64_t old_gen = ledger.FindHost(host)->record.generation;
  Result<uint64_t> gen = tx.GuardHost(host, old_gen);
  Status s = gen.ok() ? tx.DeleteVm(id) : gen.status();
  Result<VmEntry> removed = s.ok() ? ledger.RemoveVm(id) : Result<VmEntry>(s);
  if (!removed.ok()) return RetryIfStale(r, removed.status());
  ledger.SetHostGeneration(host, *gen);
  ChainUndo(r, [&ledger, vm = *removed, host, old_gen] {
    (void)ledger.RestoreVm(vm);
    ledger.SetHostGeneration(host, old_gen);
  });
  return removed;
}

Status ServiceContext::WriteHostStatus(store::Txn& tx, OpResult& r, const std::string& name,
                                       const std::string& schedule, bool managed) {
  Ledger& ledger = *ledger_;
  const store::HostRecord before = ledger.FindHost(name)->record;
  Result<uint64_t> gen = tx.UpdateHostStatus(name, schedule, managed, before.generation, Now());
  if (!gen.ok()) return RetryIfStale(r, gen.status());
  ledger.SetHostStatus(name, schedule, managed, *gen);
  ChainUndo(r, [&ledger, before] {
    ledger.SetHostStatus(before.name, before.schedule, before.managed, before.generation);
  });
  return Status::Ok();
}

void ServiceContext::ChainUndo(OpResult& r, std::function<void()> undo) {
  if (!r.undo) {
    r.undo = std::move(undo);
    return;
  }
  r.undo = [first = std::move(undo), then = std::move(r.undo)] {
    first();
    then();
  };
}

Result<Reply> ServiceContext::Run(Body body) {
  return committer_->Submit([body = std::move(body)](store::Txn& tx) {
    OpResult out;
    Result<Reply> answer = body(tx, out);
    if (answer.ok() && !answer->replayed) out.keep = true;
    out.answer = std::move(answer);
    return out;
  });
}

std::string ServiceContext::NewId(const char* prefix) {
  static const char* kDigits = "0123456789abcdef";
  const uint64_t x = ids_.Next();
  std::string s = std::string(prefix) + "-";
  for (int i = 0; i < 8; ++i) {
    const unsigned char b = static_cast<unsigned char>(x >> (8 * i));
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

store::AuditRecord ServiceContext::Audit(const Principal& p, std::string operation,
                                         std::string object) const {
  store::AuditRecord a;
  a.time_unix_ms = Now();
  a.tenant_id = p.tenant_id;
  a.actor = p.actor;
  a.operation = std::move(operation);
  a.object = std::move(object);
  a.detail_json = "{}";
  return a;
}

std::optional<Result<Reply>> ServiceContext::ReplayIdempotent(
    const Principal& p, const std::string& key, const std::string& request_hash) const {
  if (key.empty()) return std::nullopt;
  const store::IdempotencyRecord* r = ledger_->FindIdempotency(p.tenant_id, key);
  if (r == nullptr) return std::nullopt;
  if (r->request_sha256_hex != request_hash) {
    return Result<Reply>(
        Status::FailedPrecondition("Idempotency-Key '" + key + "' was used with another request")
            .WithReason("idempotency_key_reused"));
  }
  Reply replay;
  replay.replayed =
      ApiResponse{r->http_status, nlohmann::json::parse(r->response_json, nullptr, false)};
  return Result<Reply>(std::move(replay));
}

Status ServiceContext::RecordIdempotent(store::Txn& tx, OpResult& r, const Principal& p,
                                        const std::string& key, const std::string& request_hash,
                                        const ApiResponse& answer) {
  if (key.empty()) return Status::Ok();
  store::IdempotencyRecord rec{p.tenant_id,           key,  request_hash, answer.status,
                               JsonText(answer.body), Now()};
  Status inserted = tx.InsertIdempotency(rec);
  if (inserted.code() == StatusCode::kAlreadyExists) {
    // Another replica recorded the key since this one's ledger was loaded: roll back, reload
    // and run again, which replays that replica's answer.
    return RetryIfStale(
        r, Status::Aborted("idempotency key '" + key + "' was recorded by another control plane"));
  }
  DS_RETURN_IF_ERROR(inserted);
  ledger_->AddIdempotency(rec);
  auto prev = r.undo;
  r.undo = [this, tenant = p.tenant_id, key, prev] {
    ledger_->RemoveIdempotency(tenant, key);
    if (prev) prev();
  };
  return Status::Ok();
}

bool ServiceContext::AdmitUnauthenticatedAudit(int64_t* unaudited_before) {
  *unaudited_before = 0;
  if (!(options_->unauthenticated_audit_per_s > 0)) return true;
  const TimePoint now{std::chrono::milliseconds(Now())};
  std::lock_guard<std::mutex> lock(unauth_mu_);
  if (!unauth_audit_bucket_) {
    Result<qos::TokenBucket> b =
        qos::TokenBucket::Create(options_->unauthenticated_audit_per_s,
                                 std::max<int64_t>(1, options_->unauthenticated_audit_burst), now);
    if (!b.ok()) return true;  // (rate > 0 and burst >= 1: cannot happen)
    unauth_audit_bucket_ = *b;
  }
  if (!unauth_audit_bucket_->TryConsume(1, now)) {
    ++unaudited_since_last_;
    ++unaudited_refusals_;
    return false;
  }
  *unaudited_before = std::exchange(unaudited_since_last_, 0);
  return true;
}

Status ServiceContext::RecordRefusal(const Principal& p, const std::string& operation,
                                     const std::string& object, const ApiResponse& refusal) {
  int64_t unaudited_before = 0;
  if (!p.authenticated() && !AdmitUnauthenticatedAudit(&unaudited_before)) return Status::Ok();
  Result<Reply> r = Submit([this, p, operation, object, refusal, unaudited_before](store::Txn&) {
    OpResult out;
    out.audit = Audit(p, operation, object);
    out.audit.outcome = refusal.body.value("code", std::string("refused"));
    nlohmann::json detail = {{"status", refusal.status},
                             {"message", refusal.body.value("message", std::string())}};
    // Unauthenticated refusals refused without a record since the previous recorded one.
    if (unaudited_before > 0) detail["unaudited_before"] = unaudited_before;
    out.audit.detail_json = JsonText(detail);
    out.answer = Reply{};
    return out;
  });
  return r.ok() ? Status::Ok() : r.status();
}

Status VmNotFound(const std::string& id) { return Status::NotFound("vm '" + id + "' not found"); }

Result<Reply> ServiceContext::ReadVm(const Principal& p, const std::string& operation,
                                     const std::string& id,
                                     const std::function<nlohmann::json(const VmEntry&)>& read) {
  DS_RETURN_IF_ERROR(Authorize(p, operation));
  Reply r;
  Status visible;
  {
    std::shared_lock<std::shared_mutex> lock(ledger_mu());
    const VmEntry* vm = ledger().FindVm(id);
    if (vm == nullptr) return VmNotFound(id);
    visible = AuthorizeOnVm(p, operation, vm->record.tenant_id, vm->record.host, VmNotFound(id));
    if (visible.ok()) r.body = read(*vm);
  }
  if (!visible.ok()) return Refuse(p, operation, "vm/" + id, visible);
  return r;
}

Status ServiceContext::Refuse(const Principal& p, const std::string& operation,
                              const std::string& object, Status refusal) {
  Status recorded = RecordRefusal(p, operation, object, ErrorFromStatus(refusal));
  return recorded.ok() ? refusal : recorded;
}

ApiResponse ServiceContext::AuditRefusal(const Principal& p, const std::string& operation,
                                         const std::string& object, ApiResponse refusal) {
  Status recorded = RecordRefusal(p, operation, object, refusal);
  return recorded.ok() ? refusal : ErrorFromStatus(recorded);
}

Status ServiceContext::CheckHost(const Principal& p, std::string_view operation,
                                 const std::string& host) {
  Status s = AuthorizeHost(p, operation, host);
  if (s.ok() || s.code() == StatusCode::kUnauthenticated) return s;
  return Refuse(p, std::string(operation), "host/" + host, std::move(s));
}

Status ServiceContext::Check(const Principal& p, std::string_view operation,
                             const std::string& object) {
  Status s = Authorize(p, operation);
  if (s.ok() || s.code() == StatusCode::kUnauthenticated) return s;
  return Refuse(p, std::string(operation), object, std::move(s));
}

}  // namespace devshare::server
