// Process exit codes of the devshare CLI, mapped from Status codes and (client commands) HTTP
// statuses in one place.
// Thread-safety: pure functions.
#ifndef DEVSHARE_CLI_EXIT_CODES_H_
#define DEVSHARE_CLI_EXIT_CODES_H_

#include "devshare/core/status.h"

namespace devshare::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // internal error or a failed check
inline constexpr int kExitBadInput = 2;     // usage errors, malformed or missing input files
inline constexpr int kExitUnavailable = 3;  // cannot write output, I/O trouble; server unreachable
// Client commands (vm, host, tenant) only: what the server answered.
inline constexpr int kExitUnauthorized = 4;  // 401 unauthenticated, 403 forbidden
inline constexpr int kExitConflict = 5;      // 409: unschedulable, no_room, already_exists, ...
inline constexpr int kExitNotFound = 6;      // 404

int ExitCodeFor(const Status& s);

// HTTP status of a server answer -> exit code of a client command: 2xx ok; 400, 413, 422 bad
// input; 401, 403 unauthorized; 404 not found; 409 conflict; anything else (5xx) failure.
constexpr int ExitCodeForHttpStatus(int status) {
  if (status >= 200 && status < 300) return kExitOk;
  switch (status) {
    case 400:
    case 413:
    case 422:
      return kExitBadInput;
    case 401:
    case 403:
      return kExitUnauthorized;
    case 404:
      return kExitNotFound;
    case 409:
      return kExitConflict;
    default:
      return kExitFailure;
  }
}

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_EXIT_CODES_H_
