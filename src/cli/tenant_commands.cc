// `devshare tenant create|list|token`: tenants and their tokens through the control plane's REST
// API (docs/api.md#tenants, #tokens).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_common.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace devshare::cli::client {
namespace {

constexpr const char* kTenantHelp =
    "usage: devshare tenant create NAME [--idempotency-key K]      (system admins)\n"
    "       devshare tenant list                                     (system admins)\n"
    "       devshare tenant token TENANT --role admin|member|reader [--idempotency-key K]\n"
    "  TENANT is a tenant id (t-...); system admins may also give a tenant's name.\n"
    "  The new token is printed once: the server keeps only its hash.\n";

void PrintTenant(const json& t) {
  PrintBlock(
      {{"id", Str(t, "id")}, {"name", Str(t, "name")}, {"created", TimeOf(t, "created_unix_ms")}});
}

int TenantCreate(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {"idempotency-key"}, {}, 1, "the tenant name");
  if (!p.ok()) return Usage("tenant create", p.status().message());
  return Finish("tenant create", *p,
                p->api.CreateTenant(p->positionals[0], p->flags.Get("idempotency-key")),
                PrintTenant);
}

int TenantList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 0, "");
  if (!p.ok()) return Usage("tenant list", p.status().message());
  return Finish("tenant list", *p, p->api.ListTenants(), [](const json& doc) {
    std::vector<std::vector<std::string>> rows;
    for (const json& t : doc.value("tenants", json::array())) {
      rows.push_back({Str(t, "id"), Str(t, "name"), TimeOf(t, "created_unix_ms")});
    }
    PrintTable({"ID", "NAME", "CREATED"}, {false, false, false}, rows);
  });
}

// Tenant ids are "system" or "t-" and 16 hex digits (ControlPlane::NewId).
bool LooksLikeTenantId(const std::string& s) {
  if (s == "system") return true;
  if (s.size() != 18 || s.rfind("t-", 0) != 0) return false;
  return std::all_of(s.begin() + 2, s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

int TenantToken(const std::vector<std::string>& args) {
  const std::string cmd = "tenant token";
  Result<Parsed> p = ParseArgs(args, {"role", "idempotency-key"}, {}, 1, "the tenant (id or name)");
  if (!p.ok()) return Usage(cmd, p.status().message());
  if (!p->flags.Has("role")) return Usage(cmd, "--role admin|member|reader is required");
  std::string tenant = p->positionals[0];
  if (!LooksLikeTenantId(tenant)) {
    // A tenant name: system admins can look its id up (others get 404 for the name below).
    Result<ApiReply> list = p->api.ListTenants();
    if (!list.ok() && p->api.last_error().http_status == 0) return Fail(cmd, list.status());
    if (list.ok() && list->http_status == 200 && list->doc.is_object()) {
      for (const json& t : list->doc.value("tenants", json::array())) {
        if (Str(t, "name") == tenant) tenant = Str(t, "id");
      }
    }
  }
  Result<ApiReply> a =
      p->api.CreateToken(tenant, p->flags.Get("role"), p->flags.Get("idempotency-key"));
  if (!a.ok()) return ReportFailure(cmd, *p, a.status());
  if (p->json_output) {
    std::fputs(a->body.c_str(), stdout);
    return kExitOk;
  }
  const json& t = a->doc;
  const bool redacted = t.value("token_redacted", false);
  PrintBlock({{"id", Str(t, "id")},
              {"tenant", Str(t, "tenant_id")},
              {"role", Str(t, "role")},
              {"token", redacted ? "(redacted: a replay of an earlier request with this "
                                   "Idempotency-Key; the secret is shown only once)"
                                 : Str(t, "token")}});
  if (!redacted) {
    std::fprintf(stderr,
                 "devshare tenant token: keep the token now: the server stores only "
                 "its hash\n");
  }
  return kExitOk;
}

}  // namespace

int RunTenant(const std::vector<std::string>& args) {
  return Dispatch("tenant", kTenantHelp,
                  {{"create", TenantCreate}, {"list", TenantList}, {"token", TenantToken}}, args);
}

}  // namespace devshare::cli::client
