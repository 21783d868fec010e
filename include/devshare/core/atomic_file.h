// Writes a whole file atomically: readers see the old contents or the new, never a part, and the
// new contents survive a crash once the call returns Ok.
// Thread-safety: safe to call concurrently for different paths (each call has its own temp file).
#ifndef DEVSHARE_CORE_ATOMIC_FILE_H_
#define DEVSHARE_CORE_ATOMIC_FILE_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "devshare/core/status.h"

namespace devshare {

// Writes `content` to a fresh temp file next to `path` (same folder, so rename stays on one file
// system), sets its mode to `mode`, fsyncs it, renames it over `path` and fsyncs the folder.
// The folder must exist. On failure nothing is left behind (the temp file is removed, `path` is
// untouched) and the Status names `path`, the step and the system error; its code follows errno:
// NotFound (ENOENT, ENOTDIR), FailedPrecondition (EACCES, EPERM, EROFS, EISDIR),
// ResourceExhausted (ENOSPC, EDQUOT), DataLoss (anything else, e.g. EIO); InvalidArgument for an
// empty path.
Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode = 0644);

}  // namespace devshare

#endif  // DEVSHARE_CORE_ATOMIC_FILE_H_
