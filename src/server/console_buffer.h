// ConsoleBuffers: the serial console output of each VM as its host agent pushes it, kept in
// memory (the newest `max_bytes_per_vm` bytes per VM) for `GET /v1/vms/{id}/console`. Offsets
// are byte offsets in the guest's serial log, so an agent resumes where the server's copy ends
// and a reader follows with the offset it was given. Not durable: after a restart the agent
// pushes the log again from the server's (empty) end.
// Thread-safety: thread-safe; Read may block its caller up to wait_ms.
#ifndef DEVSHARE_SERVER_CONSOLE_BUFFER_H_
#define DEVSHARE_SERVER_CONSOLE_BUFFER_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "devshare/core/result.h"

namespace devshare::server {

class ConsoleBuffers {
 public:
  explicit ConsoleBuffers(int64_t max_bytes_per_vm = int64_t{1} << 20);

  // Appends `bytes`, which start at byte `offset` of the VM's log; bytes the server already has
  // (before its end) are skipped. Returns the new end. FailedPrecondition (reason
  // "console_gap", details {"expected": end}) when offset > end: bytes in between are missing.
  Result<int64_t> Append(const std::string& vm_id, int64_t offset, std::string_view bytes);

  struct Chunk {
    int64_t start = 0;  // offset of bytes[0] (>= the requested offset when older bytes are gone)
    int64_t next = 0;   // offset to ask for next
    std::string bytes;
  };
  // Up to `max_bytes` from `offset` (or from the oldest byte kept); when there are none yet,
  // waits up to `wait_ms` (steady clock) for some. An offset beyond the end reads from the end.
  Chunk Read(const std::string& vm_id, int64_t offset, int64_t max_bytes, int64_t wait_ms);
  int64_t End(const std::string& vm_id) const;
  void Drop(const std::string& vm_id);
  // Wakes every reader; later reads do not wait.
  void Shutdown();

 private:
  struct Log {
    int64_t start = 0;  // offset of data[0]
    std::string data;
  };

  const int64_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Log> logs_;  // GUARDED_BY(mu_)
  bool shutdown_ = false;            // GUARDED_BY(mu_)
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_CONSOLE_BUFFER_H_
