// Types shared by the control plane and its HTTP layer: who is asking (Principal), what is
// answered (ApiResponse), and the one place that maps Status codes to HTTP statuses.
// Thread-safety: value types and pure functions.
#ifndef DEVSHARE_SERVER_API_TYPES_H_
#define DEVSHARE_SERVER_API_TYPES_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
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
  std::string role;   // "admin" | "member" | "reader" | "agent"
  std::string actor;  // token id; "anonymous" / "bad-token" otherwise
  std::string host;   // role "agent": the one host it acts for
  bool authenticated() const { return kind == Kind::kToken; }
  // A host agent's token: it acts only for `host` and sees only that host's VMs.
  bool agent() const { return authenticated() && role == "agent"; }
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

// A successful answer of an operation: its body, and whether it created the object (201) or
// not (200). A repeat of an idempotent request carries the stored answer as it was first given.
struct Reply {
  nlohmann::json body = nlohmann::json::object();
  bool created = false;
  std::optional<ApiResponse> replayed;

  static Reply Ok(nlohmann::json body) { return Reply{std::move(body), false, std::nullopt}; }
  static Reply Created(nlohmann::json body) { return Reply{std::move(body), true, std::nullopt}; }
  // 202: taken; a host agent carries it out (delete, start, stop, reboot on an agent's host).
  static Reply Accepted(nlohmann::json body) {
    Reply r{std::move(body), false, std::nullopt};
    r.accepted = true;
    return r;
  }
  bool accepted = false;
};

// {code, message, details} with the given HTTP status. Only api_types.cc chooses error
// statuses; elsewhere build a Status and answer it with ErrorFromStatus.
ApiResponse ErrorResponse(int status, const std::string& code, const std::string& message,
                          nlohmann::json details = nlohmann::json::object());

// Status -> HTTP, the one mapping (table in api_types.cc). The Status code chooses the HTTP
// status and the API error code; a Status reason (Status::WithReason) picks one of the API codes
// a Status code stands for (e.g. FailedPrecondition: conflict, unschedulable, inventory_in_use,
// idempotency_key_reused) and its details_json becomes `details`:
//   invalid_argument 400, unauthenticated 401, permission_denied 403 forbidden, not_found 404,
//   already_exists 409, failed_precondition 409 conflict | unschedulable | inventory_in_use,
//   failed_precondition + idempotency_key_reused 422, resource_exhausted 409 conflict | no_room,
//   resource_exhausted + payload_too_large 413, aborted 409 concurrent_update,
//   unavailable 503, everything else 500 internal. Fleet reasons under failed_precondition:
//   host_in_use, image_in_use, console_gap (409).
// A reason the table does not know for the code is ignored (the code's default API code).
ApiResponse ErrorFromStatus(const Status& s);
// The API error code ErrorFromStatus puts in `code` (audit outcomes use it).
std::string_view ApiErrorCode(const Status& s);
// A Reply as 200/201 (or its stored answer), an error through ErrorFromStatus.
ApiResponse ToResponse(const Result<Reply>& r);
// Answers for requests the HTTP library refused before any route ran (body too large, no
// route, unreadable request): `library_status` is cpp-httplib's.
ApiResponse TransportErrorResponse(int library_status, const std::string& method,
                                   const std::string& path, const std::string& content_type);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_API_TYPES_H_
