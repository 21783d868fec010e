// ServerProcess and RunProcess: fork/exec with pipes, deadlines by poll(2), always reaped.
#include "tests/integration/server/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef DEVSHARE_BINARY
#error "DEVSHARE_BINARY must name the devshare executable"
#endif

namespace devshare::it {
namespace {

using Clock = std::chrono::steady_clock;

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void ExecChild(char* const* argv, int out_fd, int err_fd) {
  // The child dies with the test process, even if the test process is killed.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0) _exit(127);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Close every other descriptor (client sockets of the test, pipes of other children).
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
  {
    for (int fd = 3; fd < 4096; ++fd) close(fd);
  }
  signal(SIGPIPE, SIG_DFL);
  execv(argv[0], argv);
  _exit(127);
}

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (std::string& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// waitpid with a deadline, polling (the only portable way without pidfd).
bool WaitWithDeadline(pid_t pid, int* status, Clock::time_point deadline) {
  for (;;) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // already reaped elsewhere: treat as gone
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string DevshareBinary() { return DEVSHARE_BINARY; }

// --- ServerProcess ---------------------------------------------------------------------------

ServerProcess::ServerProcess(std::string dir) : dir_(std::move(dir)) {}

ServerProcess::~ServerProcess() { Kill(); }

std::string ServerProcess::AdminToken() const {
  std::ifstream in(token_file());
  std::string token;
  std::getline(in, token);
  return token;
}

std::string ServerProcess::StderrLog() const {
  std::string all;
  for (int i = 1; i <= starts_; ++i) {
    all += "--- serve #" + std::to_string(i) + " stderr ---\n";
    all += ReadFile(dir_ + "/serve." + std::to_string(i) + ".log");
  }
  return all;
}

::testing::AssertionResult ServerProcess::Start() {
  if (running()) return ::testing::AssertionFailure() << "server already running";
  ++starts_;
  const std::string log = dir_ + "/serve." + std::to_string(starts_) + ".log";
  int err_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err_fd < 0) return ::testing::AssertionFailure() << "cannot create " << log;
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    close(err_fd);
    return ::testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
  }
  std::vector<std::string> args = {DevshareBinary(), "serve",  "--listen",           "127.0.0.1:0",
                                   "--db",           db_url(), "--admin-token-file", token_file()};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv = Argv(args);
  pid_t pid = fork();
  if (pid < 0) {
    close(err_fd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
  }
  if (pid == 0) ExecChild(argv.data(), pipe_fds[1], err_fd);
  close(pipe_fds[1]);
  close(err_fd);
  pid_ = pid;
  stdout_fd_ = pipe_fds[0];

  // Read stdout until the "listening on http://HOST:PORT" line.
  std::string out;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  const std::string marker = "listening on ";
  for (;;) {
    size_t at = out.find(marker);
    if (at != std::string::npos) {
      size_t end = out.find_first_of(" \n", at + marker.size());
      if (end != std::string::npos) {
        url_ = out.substr(at + marker.size(), end - at - marker.size());
        if (url_.rfind("http://127.0.0.1:", 0) != 0) {
          Kill();
          return ::testing::AssertionFailure()
                 << "server listens on '" << url_ << "', not on loopback";
        }
        return ::testing::AssertionSuccess();
      }
    }
    const int wait_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (wait_ms <= 0) {
      Kill();
      return ::testing::AssertionFailure()
             << "server printed no 'listening on' line in 30 s; stdout: " << out << "\n"
             << StderrLog();
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    int r = poll(&p, 1, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[512];
    ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Kill();
      return ::testing::AssertionFailure()
             << "server exited before listening; stdout: " << out << "\n"
             << StderrLog();
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

void ServerProcess::Forget() {
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
  pid_ = -1;
  url_.clear();
}

static std::string DescribeStatus(int status) {
  std::ostringstream why;
  if (WIFEXITED(status)) {
    why << "exit status " << WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    why << "signal " << WTERMSIG(status);
  }
  return why.str();
}

::testing::AssertionResult ServerProcess::Alive() {
  if (!running()) return ::testing::AssertionFailure() << "server is not running";
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return ::testing::AssertionSuccess();
  Forget();
  return ::testing::AssertionFailure() << "server exited (" << DescribeStatus(status) << ")";
}

::testing::AssertionResult ServerProcess::Stop(std::chrono::milliseconds grace) {
  if (!running()) return ::testing::AssertionFailure() << "server is not running";
  kill(pid_, SIGTERM);
  int status = 0;
  if (!WaitWithDeadline(pid_, &status, Clock::now() + grace)) {
    kill(pid_, SIGKILL);
    WaitWithDeadline(pid_, &status, Clock::now() + std::chrono::seconds(30));
    Forget();
    return ::testing::AssertionFailure()
           << "server did not stop within " << grace.count() << " ms of SIGTERM (killed)\n"
           << StderrLog();
  }
  Forget();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "server stopped badly (" << DescribeStatus(status) << ")\n"
         << StderrLog();
}

void ServerProcess::Kill() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  int status = 0;
  // SIGKILL cannot be caught: the wait ends as soon as the kernel has torn the process down.
  WaitWithDeadline(pid_, &status, Clock::now() + std::chrono::seconds(60));
  Forget();
}

// --- RunProcess ------------------------------------------------------------------------------

ProcessResult RunProcess(const std::vector<std::string>& argv_in,
                         std::chrono::milliseconds timeout) {
  ProcessResult result;
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv = Argv(args);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return result;
  pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return result;
  }
  if (pid == 0) ExecChild(argv.data(), pipe_fds[1], pipe_fds[1]);
  close(pipe_fds[1]);
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const int wait_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (wait_ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    int r = poll(&p, 1, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = read(pipe_fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child closed its output (exited)
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  if (timed_out) kill(pid, SIGKILL);
  if (!WaitWithDeadline(pid, &status, Clock::now() + std::chrono::seconds(30))) {
    kill(pid, SIGKILL);
    WaitWithDeadline(pid, &status, Clock::now() + std::chrono::seconds(30));
  }
  if (!timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (timed_out) result.output += "\n[killed after timeout]";
  return result;
}

// --- TempFolder ------------------------------------------------------------------------------

TempFolder::TempFolder(const std::string& tag) {
  std::string base = ::testing::TempDir();
  if (base.empty() || base.back() != '/') base += '/';
  std::string templ = base + "devshare-it-" + tag + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp(" << templ << "): " << std::strerror(errno);
    return;
  }
  path_ = buf.data();
}

TempFolder::~TempFolder() {
  if (path_.empty()) return;
  const char* keep = std::getenv("DEVSHARE_IT_KEEP");
  if (keep != nullptr && std::string(keep) == "1") {
    std::fprintf(stderr, "keeping %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace devshare::it
