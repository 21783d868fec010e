// Status -> exit code, the only place that decides it.
#include "cli/exit_codes.h"

namespace devshare::cli {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return kExitBadInput;
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss:
      return kExitUnavailable;
    default:
      return kExitFailure;
  }
}

}  // namespace devshare::cli
