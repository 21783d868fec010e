// Status -> HTTP status and JSON error bodies: the only place that decides them.
#include "server/api_types.h"

namespace devshare::server {

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
