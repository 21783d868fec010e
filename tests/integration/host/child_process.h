// ChildProcess: a long-running child of a test (an agent) with stdout and stderr appended to a
// log file; SIGKILLed and reaped by the destructor, so that none outlives its test.
// Thread-safety: belongs to the test thread that made it.
#ifndef DEVSHARE_TESTS_INTEGRATION_HOST_CHILD_PROCESS_H_
#define DEVSHARE_TESTS_INTEGRATION_HOST_CHILD_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/host/fleet_it_util.h"

namespace devshare::it {

class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::string log)
      : argv_(std::move(argv)), log_(std::move(log)) {}
  ~ChildProcess() { Kill(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Forks and execs argv (argv[0] is the program's path); false when fork fails.
  bool Start() {
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      const int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> args;
      for (std::string& a : argv_) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    return true;
  }
  // SIGKILL and reap (no-op when not running).
  void Kill() { Signal(SIGKILL); }
  // SIGTERM, then SIGKILL after `grace`.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(15)) {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Kill();
  }
  std::string Log() const { return ReadAll(log_); }

 private:
  void Signal(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::vector<std::string> argv_;
  std::string log_;
  pid_t pid_ = -1;
};

}  // namespace devshare::it

#endif  // DEVSHARE_TESTS_INTEGRATION_HOST_CHILD_PROCESS_H_
