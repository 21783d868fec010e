// Types shared by the control plane and its HTTP layer: who is asking (Principal), what is
// answered (ApiResponse), and the one place that maps Status codes to HTTP statuses.
// Thread-safety: value types and pure functions.
#ifndef DEVSHARE_SERVER_API_TYPES_H_
#define DEVSHARE_SERVER_API_TYPES_H_

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace devshare::server {

// The operators' built-in tenant: its admins manage tenants and hosts and read every audit record.
inline constexpr const char* kSystemTenant = "system";

struct Principal {
  enum class Kind { kAnonymous, kBadToken, kToken };
  Kind kind = Kind::kAnonymous;
  std::string tenant_id;
  std::string role;   // "admin" | "member" | "reader"
  std::string actor;  // token id; "anonymous" / "bad-token" otherwise
  bool authenticated() const { return kind == Kind::kToken; }
  bool operator_admin() const {
    return authenticated() && tenant_id == kSystemTenant && role == "admin";
  }
  bool can_write() const { return authenticated() && (role == "admin" || role == "member"); }
  // May see the objects of `owner_tenant`: its own tenant's; a system admin every tenant's.
  bool Sees(const std::string& owner_tenant) const {
    return operator_admin() || owner_tenant == tenant_id;
  }
  // An admin of the "system" tenant acting for the server itself (bootstrap, demo, reconcile).
  static Principal SystemAdmin(std::string actor) {
    Principal p;
    p.kind = Kind::kToken;
    p.tenant_id = kSystemTenant;
    p.role = "admin";
    p.actor = std::move(actor);
    return p;
  }
};

// A fresh bearer token: "dst_" + 48 hex digits of OpenSSL randomness. Internal when the
// system has no randomness to give.
Result<std::string> NewBearerToken();

struct ApiResponse {
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
};

// {code, message, details} with the HTTP status for `code`.
ApiResponse ErrorResponse(int status, const std::string& code, const std::string& message,
                          nlohmann::json details = nlohmann::json::object());
// Status -> HTTP: invalid_argument 400, not_found 404, already_exists 409, failed_precondition
// 409, resource_exhausted 409, aborted 409 (concurrent_update), unavailable 503, else 500.
ApiResponse ErrorFromStatus(const Status& s);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_API_TYPES_H_
