// Test helpers of the storage integration tests: a temp dir, config files written atomically,
// libnbd clients (blocking calls and a closed-loop load with N requests in flight), the stats
// file, and deterministic block patterns.
// Thread-safety: an NbdClient belongs to one thread; the free functions are thread-safe.
#ifndef DEVSHARE_STORAGE_STORAGE_IT_UTIL_H_
#define DEVSHARE_STORAGE_STORAGE_IT_UTIL_H_

#include <libnbd.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace devshare::storage::it {

// A fresh directory under /tmp, removed with its contents by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes `config` to `path` atomically (the plugin's watcher never sees half a file).
void WriteConfig(const std::string& path, const nlohmann::json& config);
// The stats file as JSON (null when missing or unreadable), and one volume's entry in it.
nlohmann::json ReadStats(const std::string& path);
nlohmann::json StatsOfVolume(const nlohmann::json& stats, const std::string& export_name);

class NbdClient {
 public:
  NbdClient() = default;
  ~NbdClient();
  NbdClient(const NbdClient&) = delete;
  NbdClient& operator=(const NbdClient&) = delete;

  // Connects to `export_name` on the unix socket; the error text on failure.
  std::string Connect(const std::string& socket, const std::string& export_name);
  nbd_handle* handle() const { return h_; }
  // Blocking I/O: the libnbd error text, empty on success.
  std::string Write(const void* buf, size_t count, uint64_t offset, bool fua);
  std::string Read(void* buf, size_t count, uint64_t offset);
  std::string Flush();

 private:
  nbd_handle* h_ = nullptr;
};

// Closed-loop load: `depth` requests of `bytes` in flight for `duration`, reads or writes at
// pseudo-random aligned offsets below `span_bytes`. Completions are counted per whole second
// since `start`.
struct LoadResult {
  std::vector<int64_t> per_second;
  int64_t errors = 0;
  std::string first_error;
};
LoadResult RunLoad(const std::string& socket, const std::string& export_name, bool write, int depth,
                   uint32_t bytes, uint64_t span_bytes, std::chrono::steady_clock::time_point start,
                   std::chrono::milliseconds duration);

// The content of block `block` at generation `gen`: words derived from both.
void FillBlock(std::vector<uint32_t>& buf, uint64_t block, uint32_t gen);
bool BlockMatches(const std::vector<uint32_t>& buf, uint64_t block, uint32_t gen);

}  // namespace devshare::storage::it

#endif  // DEVSHARE_STORAGE_STORAGE_IT_UTIL_H_
