// Child processes for the server integration tests: a `devshare serve` instance on a loopback
// port (started with fork/exec, its URL read from its stdout, always killed and reaped), and a
// one-shot runner for other `devshare` commands that captures their output and exit code.
// Thread-safety: a ServerProcess belongs to the test thread that made it; RunProcess is
// thread-safe but forks, so call it from the main test thread.
#ifndef DEVSHARE_TESTS_INTEGRATION_SERVER_SERVER_PROCESS_H_
#define DEVSHARE_TESTS_INTEGRATION_SERVER_SERVER_PROCESS_H_

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace devshare::it {

// Path of the `devshare` binary under test (compile definition DEVSHARE_BINARY).
std::string DevshareBinary();

// `devshare serve --listen 127.0.0.1:0 --db sqlite:<dir>/d.db --admin-token-file
// <dir>/admin.token`. Start() may be called again after Stop()/Kill() (same DB, same token).
class ServerProcess {
 public:
  explicit ServerProcess(std::string dir);
  ~ServerProcess();  // SIGKILL and reap when still running: no server outlives its test
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Forks and execs the server, then waits (up to 30 s) for its "listening on" line.
  // On failure the child is killed and the result carries its stderr.
  ::testing::AssertionResult Start();
  // SIGTERM, then waits up to `grace` for the exit (SIGKILL after). Success when the server
  // exited by itself with status 0.
  ::testing::AssertionResult Stop(std::chrono::milliseconds grace = std::chrono::seconds(20));
  // SIGKILL and reap (no-op when not running).
  void Kill();
  // True while the child has not exited; when it has, it is reaped and the result says how.
  ::testing::AssertionResult Alive();

  // Flags appended to the serve command line by later Start()s (e.g. --host-timeout 2).
  void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
  bool running() const { return pid_ > 0; }
  const std::string& url() const { return url_; }  // "http://127.0.0.1:PORT"
  const std::string& dir() const { return dir_; }
  std::string db_path() const { return dir_ + "/d.db"; }
  std::string db_url() const { return db_url_.empty() ? "sqlite:" + db_path() : db_url_; }
  // Another store for later Start()s (e.g. a postgresql:// database several servers share).
  void set_db_url(std::string url) { db_url_ = std::move(url); }
  std::string token_file() const { return dir_ + "/admin.token"; }
  // The bootstrap admin token (first line of the token file; created by the first Start()).
  std::string AdminToken() const;
  // Everything the server instances of this object wrote on stderr so far.
  std::string StderrLog() const;

 private:
  void Forget();  // after the child is reaped

  std::string dir_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;  // kept open while the child lives (closing it could SIGPIPE the server)
  std::string url_;
  int starts_ = 0;
  std::vector<std::string> extra_args_;
  std::string db_url_;
};

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or not started
  std::string output;  // stdout followed by stderr (interleaved as written)
};

// Runs `argv` (argv[0] is the program path) to completion, up to `timeout` (then SIGKILL).
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A fresh folder under testing::TempDir(), removed (recursively) by the destructor unless the
// environment sets DEVSHARE_IT_KEEP=1.
class TempFolder {
 public:
  explicit TempFolder(const std::string& tag);
  ~TempFolder();
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace devshare::it

#endif  // DEVSHARE_TESTS_INTEGRATION_SERVER_SERVER_PROCESS_H_
