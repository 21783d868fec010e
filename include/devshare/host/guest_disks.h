// The per-guest files of a real guest, made with Debian's tools: a qcow2 overlay on an image's
// base (`qemu-img create -f qcow2 -F qcow2 -b BASE OVERLAY`), a fresh qcow2 scratch disk, and the
// NoCloud seed ISO (`genisoimage -volid cidata`, files user-data and meta-data). Also the small
// process runner they use.
// Thread-safety: thread-safe (each call runs its own child process and touches only its paths).
#ifndef DEVSHARE_HOST_GUEST_DISKS_H_
#define DEVSHARE_HOST_GUEST_DISKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/host/realization.h"

namespace devshare::host {

struct CommandResult {
  int exit_code = 0;   // the exit status; 128 + N when killed by signal N
  std::string output;  // stdout and stderr together (at most 64 KiB kept)
};
// Runs argv[0] (looked up in PATH) with stdin from /dev/null and waits for it. Unavailable when
// it cannot be started (e.g. not installed); a non-zero exit is a value, not an error.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv);

// Creates `overlay` (qcow2) backed by the qcow2 file `base`. NotFound when base does not exist;
// Unavailable (with qemu-img's message) when qemu-img fails or is missing. The folder of
// `overlay` is created (0755).
Status CreateOverlay(const std::string& base, const std::string& overlay);
// Creates an empty qcow2 disk of size_bytes at `path` (folder created 0755). Unavailable on
// failure.
Status CreateScratchDisk(const std::string& path, int64_t size_bytes);
// Writes the ISO 9660 seed (volume id "cidata", Joliet + Rock Ridge) with meta-data,
// user-data and (when set) network-config to `path`, atomically (a temporary name, then rename).
// Unavailable when genisoimage (Debian package genisoimage) is missing or fails.
Status WriteSeedIso(const NoCloudSeed& seed, const std::string& path);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_GUEST_DISKS_H_
