// Test helper: one nbdkit process serving devshare's plugin on a unix socket (fork/exec, stderr
// to a file, always killed and reaped by its destructor), for the storage integration tests.
// Thread-safety: an NbdkitProcess belongs to the test thread that made it.
#ifndef DEVSHARE_STORAGE_NBDKIT_PROCESS_H_
#define DEVSHARE_STORAGE_NBDKIT_PROCESS_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <string>

namespace devshare::storage::it {

// Paths of nbdkit and the plugin (compile definitions), empty when not built / not found.
std::string NbdkitBinary();
std::string PluginPath();
// Non-empty: why the integration tests must skip (nbdkit or the plugin is missing).
std::string SkipReason();

class NbdkitProcess {
 public:
  // `dir` holds the socket (dir/nbd.sock) and the stderr log (dir/nbdkit.<n>.log).
  NbdkitProcess(std::string dir, std::string config_path);
  ~NbdkitProcess();  // SIGKILL and reap when still running
  NbdkitProcess(const NbdkitProcess&) = delete;
  NbdkitProcess& operator=(const NbdkitProcess&) = delete;

  // Starts nbdkit and waits (up to 15 s) until its socket accepts connections.
  ::testing::AssertionResult Start();
  // Starts nbdkit and waits for it to exit by itself (a refused config); returns its exit code
  // (-1 when killed after `timeout`) and fills `log` with its stderr.
  int RunToExit(std::string* log, std::chrono::seconds timeout = std::chrono::seconds(15));
  void Kill();  // SIGKILL and reap (no-op when not running)
  // SIGTERM, then SIGKILL after 10 s; true when it exited with status 0.
  bool Stop();

  const std::string& socket_path() const { return socket_; }
  std::string Uri(const std::string& export_name) const;
  std::string Log() const;  // everything the instances of this object wrote on stderr

 private:
  pid_t Spawn();

  std::string dir_, config_, socket_, log_path_;
  pid_t pid_ = -1;
};

}  // namespace devshare::storage::it

#endif  // DEVSHARE_STORAGE_NBDKIT_PROCESS_H_
