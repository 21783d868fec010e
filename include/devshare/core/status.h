// Status: the outcome of an operation that can fail; free when OK, a code plus a message otherwise.
// Thread-safety: a Status is an immutable value; distinct objects may be used from any thread.
// Model: leveldb include/leveldb/status.h. Our code throws nothing; it returns Status / Result<T>.
#ifndef DEVSHARE_CORE_STATUS_H_
#define DEVSHARE_CORE_STATUS_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace devshare {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kResourceExhausted,
  kAborted,  // optimistic-concurrency conflict (stale host generation)
  kUnavailable,
  kUnimplemented,
  kInternal,
  kDataLoss,
  kUnauthenticated,   // no credentials, or credentials nobody issued
  kPermissionDenied,  // authenticated, but not allowed to do this
};

// Stable lower-case name of a code, e.g. "invalid_argument".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return Status(StatusCode::kInvalidArgument, std::move(msg));
  }
  static Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status AlreadyExists(std::string msg) {
    return Status(StatusCode::kAlreadyExists, std::move(msg));
  }
  static Status FailedPrecondition(std::string msg) {
    return Status(StatusCode::kFailedPrecondition, std::move(msg));
  }
  static Status ResourceExhausted(std::string msg) {
    return Status(StatusCode::kResourceExhausted, std::move(msg));
  }
  static Status Aborted(std::string msg) { return Status(StatusCode::kAborted, std::move(msg)); }
  static Status Unavailable(std::string msg) {
    return Status(StatusCode::kUnavailable, std::move(msg));
  }
  static Status Unimplemented(std::string msg) {
    return Status(StatusCode::kUnimplemented, std::move(msg));
  }
  static Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }
  static Status DataLoss(std::string msg) { return Status(StatusCode::kDataLoss, std::move(msg)); }
  static Status Unauthenticated(std::string msg) {
    return Status(StatusCode::kUnauthenticated, std::move(msg));
  }
  static Status PermissionDenied(std::string msg) {
    return Status(StatusCode::kPermissionDenied, std::move(msg));
  }

  // An optional refinement for API layers, like a payload: a stable reason naming the case
  // within the code (e.g. "no_room" under kResourceExhausted) and details as JSON object text.
  // Both empty unless set; ToString() ignores them. REQUIRES: !ok() for WithReason.
  Status WithReason(std::string reason, std::string details_json = "") const {
    Status s = *this;
    s.extra_ = std::make_shared<const Extra>(Extra{std::move(reason), std::move(details_json)});
    return s;
  }
  std::string_view reason() const { return extra_ ? std::string_view(extra_->reason) : ""; }
  std::string_view details_json() const {
    return extra_ ? std::string_view(extra_->details_json) : "";
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsAborted() const { return code_ == StatusCode::kAborted; }

  // "OK" or "<code name>: <message>".
  std::string ToString() const;

 private:
  struct Extra {
    std::string reason;
    std::string details_json;
  };
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::shared_ptr<const Extra> extra_;  // null unless WithReason; shared by copies
};

}  // namespace devshare

#define DS_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::devshare::Status ds_status_ = (expr);  \
    if (!ds_status_.ok()) return ds_status_; \
  } while (0)

#endif  // DEVSHARE_CORE_STATUS_H_
