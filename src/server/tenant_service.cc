// TenantService: tenant and token operations.
#include "server/tenant_service.h"

#include "devshare/store/audit_chain.h"
#include "server/authorizer.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

constexpr const char* kRoles[] = {"admin", "member", "reader"};

nlohmann::json TenantJson(const store::TenantRecord& t) {
  return {{"id", t.id}, {"name", t.name}, {"created_unix_ms", t.created_unix_ms}};
}

}  // namespace

Status TenantService::Bootstrap(const std::string& sha) {
  const Principal system = Principal::SystemAdmin("bootstrap");
  Result<Reply> r = ctx_.Run([this, system, sha](store::Txn& tx, OpResult& out) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    out.audit = ctx_.Audit(system, "server.bootstrap", "tenant/system");
    out.write_audit = false;
    if (ledger.FindTenant(kSystemTenant) == nullptr) {
      store::TenantRecord t{kSystemTenant, kSystemTenant, ctx_.Now()};
      DS_RETURN_IF_ERROR(tx.InsertTenant(t));
      ledger.AddTenant(t);
      out.undo = [&ledger] { ledger.RemoveTenant(kSystemTenant); };
      out.write_audit = true;
    }
    if (!sha.empty() && ledger.FindTokenByHash(sha) == nullptr) {
      store::TokenRecord k{
          "k-admin-" + sha.substr(0, 12), sha, kSystemTenant, "admin", ctx_.Now(), /*host=*/""};
      DS_RETURN_IF_ERROR(tx.InsertToken(k));
      ledger.AddToken(k);
      auto prev = out.undo;
      out.undo = [&ledger, sha, prev] {
        ledger.RemoveToken(sha);
        if (prev) prev();
      };
      out.audit.operation = "token.bootstrap";
      out.audit.object = "token/" + k.id;
      out.write_audit = true;
    }
    out.audit.outcome = "ok";
    return Reply{};
  });
  if (!r.ok()) return Status::Unavailable("bootstrap failed: " + r.status().message());
  return Status::Ok();
}

Result<Reply> TenantService::Create(const Principal& p, const std::string& body,
                                    const std::string& key) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "tenant.create", "tenant"));
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
  if (!parsed.ok()) return ctx_.Refuse(p, "tenant.create", "tenant", parsed);
  const std::string hash = store::Sha256Hex("POST /v1/tenants\n" + body);
  return ctx_.Run([this, p, name, key, hash](store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "tenant.create", "tenant/" + name);
    if (auto replay = ctx_.ReplayIdempotent(p, key, hash)) {
      r.write_audit = false;
      return *replay;
    }
    if (ledger.TenantNameTaken(name) || name == kSystemTenant) {
      return Status::AlreadyExists("tenant '" + name + "' exists");
    }
    store::TenantRecord t{ctx_.NewId("t"), name, ctx_.Now()};
    DS_RETURN_IF_ERROR(tx.InsertTenant(t));
    ledger.AddTenant(t);
    r.undo = [&ledger, id = t.id] { ledger.RemoveTenant(id); };
    Reply reply = Reply::Created(TenantJson(t));
    DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
    r.audit.object = "tenant/" + t.id;
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"name", name}}));
    return reply;
  });
}

Result<Reply> TenantService::List(const Principal& p) {
  DS_RETURN_IF_ERROR(ctx_.Check(p, "tenant.list", "tenant"));
  std::shared_lock<std::shared_mutex> lock(ctx_.ledger_mu());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [id, t] : ctx_.ledger().tenants()) list.push_back(TenantJson(t));
  return Reply::Ok({{"tenants", list}});
}

Result<Reply> TenantService::CreateToken(const Principal& p, const std::string& tenant_id,
                                         const std::string& body, const std::string& key) {
  const std::string object = "tenant/" + tenant_id;
  const Status not_found = Status::NotFound("tenant '" + tenant_id + "' not found");
  Status allowed = AuthorizeOn(p, "token.create", tenant_id, not_found);
  if (!allowed.ok()) return ctx_.Refuse(p, "token.create", object, allowed);
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
  if (!parsed.ok()) return ctx_.Refuse(p, "token.create", object, parsed);
  const std::string hash = store::Sha256Hex("POST /v1/tenants/" + tenant_id + "/tokens\n" + body);
  return ctx_.Run([this, p, tenant_id, role, key, hash, object, not_found](
                      store::Txn& tx, OpResult& r) -> Result<Reply> {
    Ledger& ledger = ctx_.ledger();
    r.audit = ctx_.Audit(p, "token.create", object);
    if (auto replay = ctx_.ReplayIdempotent(p, key, hash)) {
      r.write_audit = false;
      return *replay;
    }
    if (ledger.FindTenant(tenant_id) == nullptr) return not_found;
    DS_ASSIGN_OR_RETURN(const std::string token, NewBearerToken());
    store::TokenRecord k{ctx_.NewId("k"), store::Sha256Hex(token), tenant_id, role, ctx_.Now(),
                         /*host=*/""};
    DS_RETURN_IF_ERROR(tx.InsertToken(k));
    ledger.AddToken(k);
    r.undo = [&ledger, sha = k.sha256_hex] { ledger.RemoveToken(sha); };
    // The idempotent replay must not hold the secret: it is stored without it.
    Reply reply = Reply::Created(
        {{"id", k.id}, {"tenant_id", tenant_id}, {"role", role}, {"token_redacted", true}});
    DS_RETURN_IF_ERROR(ctx_.RecordIdempotent(tx, r, p, key, hash, ToResponse(reply)));
    reply.body.erase("token_redacted");
    reply.body["token"] = token;
    r.audit.object = "token/" + k.id;
    r.audit.outcome = "ok";
    r.audit.detail_json = JsonText(nlohmann::json({{"tenant_id", tenant_id}, {"role", role}}));
    return reply;
  });
}

}  // namespace devshare::server
