// Process exit codes of the devshare CLI, mapped from Status codes in one place.
// Thread-safety: pure functions.
#ifndef DEVSHARE_CLI_EXIT_CODES_H_
#define DEVSHARE_CLI_EXIT_CODES_H_

#include "devshare/core/status.h"

namespace devshare::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;      // internal error or a failed check
inline constexpr int kExitBadInput = 2;     // usage errors, malformed or missing input files
inline constexpr int kExitUnavailable = 3;  // cannot write output, I/O trouble

int ExitCodeFor(const Status& s);

}  // namespace devshare::cli

#endif  // DEVSHARE_CLI_EXIT_CODES_H_
