// Status -> HTTP status and JSON error bodies: the only place that decides them.
#include "server/api_types.h"

#include <openssl/rand.h>

namespace devshare::server {

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
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return ErrorResponse(400, "invalid_argument", s.message());
    case StatusCode::kNotFound:
      return ErrorResponse(404, "not_found", s.message());
    case StatusCode::kAlreadyExists:
      return ErrorResponse(409, "already_exists", s.message());
    case StatusCode::kFailedPrecondition:
    case StatusCode::kResourceExhausted:
      return ErrorResponse(409, "conflict", s.message());
    case StatusCode::kAborted:
      return ErrorResponse(409, "concurrent_update", s.message());
    case StatusCode::kUnavailable:
      return ErrorResponse(503, "unavailable", s.message());
    default:
      return ErrorResponse(500, "internal", s.message());
  }
}

}  // namespace devshare::server
