// Status -> HTTP status and JSON error bodies: the only place that decides them.
#include "server/api_types.h"

#include <openssl/rand.h>

namespace devshare::server {
namespace {

// One row per (Status code, reason): the HTTP status and the API error code. The row with an
// empty reason is the code's default; codes without a row answer 500 internal.
struct HttpMapping {
  StatusCode code;
  std::string_view reason;
  int http_status;
  std::string_view api_code;
};

constexpr HttpMapping kHttpMappings[] = {
    {StatusCode::kInvalidArgument, "", 400, "invalid_argument"},
    {StatusCode::kUnauthenticated, "", 401, "unauthenticated"},
    {StatusCode::kPermissionDenied, "", 403, "forbidden"},
    {StatusCode::kNotFound, "", 404, "not_found"},
    {StatusCode::kAlreadyExists, "", 409, "already_exists"},
    {StatusCode::kAlreadyExists, "network_overlap", 409, "network_overlap"},
    {StatusCode::kAlreadyExists, "address_in_use", 409, "address_in_use"},
    {StatusCode::kFailedPrecondition, "", 409, "conflict"},
    {StatusCode::kFailedPrecondition, "unschedulable", 409, "unschedulable"},
    {StatusCode::kFailedPrecondition, "inventory_in_use", 409, "inventory_in_use"},
    {StatusCode::kFailedPrecondition, "host_in_use", 409, "host_in_use"},
    {StatusCode::kFailedPrecondition, "image_in_use", 409, "image_in_use"},
    {StatusCode::kFailedPrecondition, "network_in_use", 409, "network_in_use"},
    {StatusCode::kFailedPrecondition, "console_gap", 409, "console_gap"},
    {StatusCode::kFailedPrecondition, "idempotency_key_reused", 422, "idempotency_key_reused"},
    {StatusCode::kResourceExhausted, "", 409, "conflict"},
    {StatusCode::kResourceExhausted, "no_room", 409, "no_room"},
    {StatusCode::kResourceExhausted, "network_full", 409, "network_full"},
    {StatusCode::kResourceExhausted, "gpu_memory_full", 409, "gpu_memory_full"},
    {StatusCode::kResourceExhausted, "gpu_full", 409, "gpu_full"},
    {StatusCode::kResourceExhausted, "payload_too_large", 413, "payload_too_large"},
    {StatusCode::kAborted, "", 409, "concurrent_update"},
    {StatusCode::kUnavailable, "", 503, "unavailable"},
};

constexpr HttpMapping kInternal = {StatusCode::kInternal, "", 500, "internal"};

const HttpMapping& MappingFor(const Status& s) {
  const HttpMapping* fallback = &kInternal;
  for (const HttpMapping& m : kHttpMappings) {
    if (m.code != s.code()) continue;
    if (m.reason == s.reason()) return m;
    if (m.reason.empty()) fallback = &m;
  }
  return *fallback;
}

}  // namespace

Result<std::string> NewBearerToken() {
  unsigned char secret[24];
  if (RAND_bytes(secret, sizeof secret) != 1) return Status::Internal("no randomness for a token");
  static const char* kDigits = "0123456789abcdef";
  std::string token = "dst_";
  for (unsigned char c : secret) {
    token += kDigits[c >> 4];
    token += kDigits[c & 15];
  }
  return token;
}

ApiResponse ErrorResponse(int status, const std::string& code, const std::string& message,
                          nlohmann::json details) {
  return {status, {{"code", code}, {"message", message}, {"details", std::move(details)}}};
}

ApiResponse ErrorFromStatus(const Status& s) {
  const HttpMapping& m = MappingFor(s);
  nlohmann::json details = nlohmann::json::object();
  if (!s.details_json().empty()) {
    details = nlohmann::json::parse(s.details_json(), nullptr, false);
    if (details.is_discarded()) details = nlohmann::json::object();
  }
  return ErrorResponse(m.http_status, std::string(m.api_code), s.message(), std::move(details));
}

std::string_view ApiErrorCode(const Status& s) { return MappingFor(s).api_code; }

ApiResponse ToResponse(const Result<Reply>& r) {
  if (!r.ok()) return ErrorFromStatus(r.status());
  if (r->replayed) return *r->replayed;
  return {r->created ? 201 : (r->accepted ? 202 : 200), r->body};
}

ApiResponse TransportErrorResponse(int library_status, const std::string& method,
                                   const std::string& path, const std::string& content_type) {
  if (library_status == 413) {
    // cpp-httplib also caps form-encoded bodies (curl's default type) at 8 KiB.
    return ErrorFromStatus(
        Status::ResourceExhausted(content_type == "application/x-www-form-urlencoded"
                                      ? "request body over the 8 KiB limit of form-encoded "
                                        "bodies; send Content-Type: application/json (limit 1 MiB)"
                                      : "request body over the 1 MiB limit")
            .WithReason("payload_too_large"));
  }
  if (library_status == 404)
    return ErrorFromStatus(Status::NotFound("no route " + method + " " + path));
  // Anything else the library refused keeps the library's status.
  return ErrorResponse(library_status, "http_error", "HTTP " + std::to_string(library_status));
}

}  // namespace devshare::server
