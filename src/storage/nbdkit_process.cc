// NbdkitProcess: fork/exec of `nbdkit --foreground --unix SOCK plugin config=...`.
#include "nbdkit_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace devshare::storage::it {

std::string NbdkitBinary() { return DEVSHARE_NBDKIT; }
std::string PluginPath() { return DEVSHARE_NBDKIT_PLUGIN; }

std::string SkipReason() {
  if (NbdkitBinary().empty() || ::access(NbdkitBinary().c_str(), X_OK) != 0) {
    return "nbdkit is not installed (Debian package nbdkit)";
  }
  if (PluginPath().empty() || ::access(PluginPath().c_str(), R_OK) != 0) {
    return "the devshare nbdkit plugin is not built (needs nbdkit-plugin-dev)";
  }
  return "";
}

NbdkitProcess::NbdkitProcess(std::string dir, std::string config_path)
    : dir_(std::move(dir)),
      config_(std::move(config_path)),
      socket_(dir_ + "/nbd.sock"),
      log_path_(dir_ + "/nbdkit.log") {}

NbdkitProcess::~NbdkitProcess() { Kill(); }

pid_t NbdkitProcess::Spawn() {
  ::unlink(socket_.c_str());
  std::vector<std::string> args = {NbdkitBinary(), "--foreground", "--exit-with-parent", "--unix",
                                   socket_,        PluginPath(),   "config=" + config_};
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 2);
      ::dup2(fd, 1);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

::testing::AssertionResult NbdkitProcess::Start() {
  pid_ = Spawn();
  if (pid_ < 0) return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return ::testing::AssertionFailure() << "nbdkit exited (status " << status << "):\n" << Log();
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (ok) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return ::testing::AssertionFailure() << "nbdkit did not listen within 15 s:\n" << Log();
}

int NbdkitProcess::RunToExit(std::string* log, std::chrono::seconds timeout) {
  pid_ = Spawn();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int code = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  *log = Log();
  return code;
}

void NbdkitProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

bool NbdkitProcess::Stop() {
  if (pid_ <= 0) return false;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return false;
}

std::string NbdkitProcess::Uri(const std::string& export_name) const {
  return "nbd+unix:///" + export_name + "?socket=" + socket_;
}

std::string NbdkitProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace devshare::storage::it
