// VolumeServer: nbdkit with devshare's plugin, supervised; its config and stats files.
#include "devshare/host/volume_server.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "devshare/core/atomic_file.h"

extern char** environ;

namespace devshare::host {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool SocketAnswers(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    ::close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// True when /proc/<pid> is a live (not zombie) nbdkit whose command line names `config`.
bool IsOurNbdkit(pid_t pid, const std::string& config) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  const std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z') {
    return false;
  }
  std::string cmdline = ReadAll("/proc/" + std::to_string(pid) + "/cmdline");
  for (char& c : cmdline) {
    if (c == '\0') c = ' ';
  }
  return cmdline.find("nbdkit") != std::string::npos &&
         cmdline.find("config=" + config) != std::string::npos;
}

std::string LogTail(const std::string& path) {
  std::string s = ReadAll(path);
  if (s.size() > 2000) s = s.substr(s.size() - 2000);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "(nothing logged)" : s;
}

}  // namespace

Result<std::string> FindNbdkitPlugin() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> places;
  if (!ec) {
    places.push_back(exe.parent_path().parent_path() / "storage" / "libdevshare_nbdkit.so");
    places.push_back(exe.parent_path() / "libdevshare_nbdkit.so");
  }
  places.push_back("/usr/lib/devshare/libdevshare_nbdkit.so");
  std::string looked;
  for (const fs::path& p : places) {
    if (fs::exists(p, ec)) return fs::absolute(p, ec).lexically_normal().string();
    looked += (looked.empty() ? "" : ", ") + p.string();
  }
  return Status::NotFound("devshare's nbdkit plugin not found (looked at " + looked +
                          "); build target devshare_nbdkit (needs Debian nbdkit-plugin-dev)");
}

VolumeServer::VolumeServer(VolumeServerOptions options) : options_(std::move(options)) {
  const fs::path d(options_.state_dir);
  socket_ = (d / "nbd.sock").string();
  pidfile_ = (d / "nbdkit.pid").string();
  config_ = (d / "volumes.json").string();
  stats_ = (d / "stats.json").string();
  logfile_ = (d / "nbdkit.log").string();
}

Result<std::unique_ptr<VolumeServer>> VolumeServer::Start(VolumeServerOptions options) {
  if (options.state_dir.empty()) return Status::InvalidArgument("volume server: no state_dir");
  if (options.plugin_path.empty()) return Status::InvalidArgument("volume server: no plugin");
  std::error_code ec;
  options.state_dir = fs::absolute(options.state_dir, ec).lexically_normal().string();
  fs::create_directories(options.state_dir, ec);
  if (ec) {
    return Status::Unavailable("volume server: cannot create " + options.state_dir + ": " +
                               ec.message());
  }
  std::unique_ptr<VolumeServer> s(new VolumeServer(std::move(options)));
  // Keep the exports a previous agent left, so guests that use them are not cut off.
  if (fs::exists(s->config_, ec)) {
    nlohmann::json old = nlohmann::json::parse(ReadAll(s->config_), nullptr, false);
    if (old.is_object() && old.contains("volumes") && old["volumes"].is_array()) {
      for (const nlohmann::json& v : old["volumes"]) {
        if (!v.is_object()) continue;
        VolumeExport e;
        e.export_name = v.value("export", "");
        e.pool = v.value("pool", "");
        e.file = v.value("file", "");
        e.moving_from = v.value("moving_from", "");
        e.size_bytes = v.value("size_bytes", int64_t{0});
        e.reservation_iops = v.value("reservation_iops", int64_t{0});
        e.weight = v.value("weight", int64_t{1});
        e.limit_iops = v.value("limit_iops", int64_t{0});
        bool pool_known = false;
        for (const StoragePool& p : s->options_.pools) pool_known |= p.name == e.pool;
        if (!e.export_name.empty() && pool_known) s->exports_[e.export_name] = e;
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    DS_RETURN_IF_ERROR(s->WriteConfigLocked());
    DS_RETURN_IF_ERROR(s->EnsureRunningLocked());
  }
  s->watchdog_ = std::thread([p = s.get()] { p->Watchdog(); });
  return s;
}

VolumeServer::~VolumeServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

void VolumeServer::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

Status VolumeServer::WriteConfigLocked() {
  nlohmann::json pools = nlohmann::json::array();
  for (const StoragePool& p : options_.pools) {
    if (p.scheduler == "none") continue;
    pools.push_back({{"name", p.name},
                     {"tier", p.tier},
                     {"dir", p.dir},
                     {"capacity_iops", p.iops},
                     {"capacity_mbps", p.mbps},
                     {"scheduler", p.scheduler}});
  }
  nlohmann::json volumes = nlohmann::json::array();
  for (const auto& [name, e] : exports_) {
    nlohmann::json v = {{"export", e.export_name},
                        {"pool", e.pool},
                        {"file", e.file},
                        {"size_bytes", e.size_bytes},
                        {"reservation_iops", e.reservation_iops},
                        {"weight", e.weight},
                        {"limit_iops", e.limit_iops}};
    if (!e.moving_from.empty()) v["moving_from"] = e.moving_from;
    volumes.push_back(std::move(v));
  }
  const nlohmann::json config = {{"stats_file", stats_},
                                 {"stats_interval_ms", options_.stats_interval_ms},
                                 {"migration_mbps", options_.migration_mbps},
                                 {"pools", pools},
                                 {"volumes", volumes}};
  return WriteFileAtomically(config_, config.dump(2) + "\n");
}

bool VolumeServer::AliveLocked() {
  if (pid_ <= 0) return false;
  if (IsOurNbdkit(pid_, config_)) return true;
  Log("nbdkit (pid " + std::to_string(pid_) + ") is gone");
  pid_ = -1;
  return false;
}

Status VolumeServer::SpawnLocked() {
  std::error_code ec;
  fs::remove(socket_, ec);
  fs::remove(pidfile_, ec);
  // nbdkit daemonizes itself (no --foreground): it sets PR_SET_PDEATHSIG(SIGTERM) at start, so
  // a foreground nbdkit would die with the agent; its forked daemon does not (fork clears it)
  // and writes the pid file once it listens.
  std::vector<std::string> args = {
      options_.nbdkit, "--unix", socket_,        "--pidfile",          pidfile_,
      "--threads",     "16",     "--log=stderr", options_.plugin_path, "config=" + config_};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, logfile_.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  // Its own session: a terminal's ^C or the agent's process group dying does not stop it.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t launcher = -1;
  const int rc = posix_spawnp(&launcher, options_.nbdkit.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Status::Unavailable("cannot start " + options_.nbdkit + ": " + std::strerror(rc) +
                               " (Debian package nbdkit)");
  }
  int status = 0;
  ::waitpid(launcher, &status, 0);  // returns once the daemon is forked (or start failed)
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::Unavailable("nbdkit did not start: " + LogTail(logfile_));
  }
  const SteadyClock::time_point deadline = SteadyClock::now() + std::chrono::seconds(10);
  while (SteadyClock::now() < deadline) {
    const pid_t pid = static_cast<pid_t>(std::atol(ReadAll(pidfile_).c_str()));
    if (pid > 0 && SocketAnswers(socket_)) {
      pid_ = pid;
      OpenSocketToQemu();
      Log("nbdkit started (pid " + std::to_string(pid) + ", socket " + socket_ + ")");
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const pid_t pid = static_cast<pid_t>(std::atol(ReadAll(pidfile_).c_str()));
  if (IsOurNbdkit(pid, config_)) ::kill(pid, SIGKILL);
  return Status::Unavailable("nbdkit did not come up on " + socket_ + ": " + LogTail(logfile_));
}

void VolumeServer::OpenSocketToQemu() {
  if (options_.qemu_user.empty()) return;
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwnam_r(options_.qemu_user.c_str(), &pw, buf, sizeof buf, &found) != 0 ||
      found == nullptr) {
    return;
  }
  if (::chown(socket_.c_str(), static_cast<uid_t>(-1), pw.pw_gid) != 0 ||
      ::chmod(socket_.c_str(), 0660) != 0) {
    Log("cannot give socket " + socket_ + " to group of " + options_.qemu_user + ": " +
        std::strerror(errno) + " (guests may fail to connect)");
  }
}

Status VolumeServer::EnsureRunningLocked() {
  if (AliveLocked()) return Status::Ok();
  if (pid_ < 0) {
    // An nbdkit left by a previous agent: adopt it when it serves this config.
    std::string text = ReadAll(pidfile_);
    const pid_t old = static_cast<pid_t>(std::atol(text.c_str()));
    if (IsOurNbdkit(old, config_) && SocketAnswers(socket_)) {
      pid_ = old;
      Log("nbdkit adopted (pid " + std::to_string(old) + ")");
      return Status::Ok();
    }
  }
  return SpawnLocked();
}

void VolumeServer::Watchdog() {
  std::chrono::milliseconds backoff = options_.watchdog_period;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, backoff, [this] { return stopping_; });
    if (stopping_) break;
    if (AliveLocked()) {
      backoff = options_.watchdog_period;
      continue;
    }
    Status s = SpawnLocked();
    if (s.ok()) {
      Log("nbdkit restarted by the watchdog");
      backoff = options_.watchdog_period;
    } else {
      Log("nbdkit restart failed: " + s.message());
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(10));
    }
  }
}

Status VolumeServer::Put(const VolumeExport& e, std::chrono::milliseconds wait) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = exports_.find(e.export_name);
    if (it != exports_.end() && it->second == e) return Status::Ok();
    exports_[e.export_name] = e;
    DS_RETURN_IF_ERROR(WriteConfigLocked());
  }
  const SteadyClock::time_point deadline = SteadyClock::now() + wait;
  while (true) {
    Result<nlohmann::json> stats = Stats();
    if (stats.ok() && stats->contains("volumes") && (*stats)["volumes"].is_array()) {
      for (const nlohmann::json& v : (*stats)["volumes"]) {
        if (!v.is_object() || v.value("export", "") != e.export_name) continue;
        const bool same_file = v.value("file", "") == e.file;
        const bool moving_there = v.contains("moving") && v["moving"].is_object() &&
                                  v["moving"].value("to_file", "") == e.file;
        if ((same_file || moving_there) && v.value("size_bytes", int64_t{0}) == e.size_bytes &&
            v.value("reservation_iops", e.reservation_iops) == e.reservation_iops) {
          return Status::Ok();
        }
      }
    }
    if (SteadyClock::now() >= deadline) {
      return Status::Unavailable("the volume server did not load export " + e.export_name +
                                 " within " + std::to_string(wait.count()) + " ms (" +
                                 LogTail(logfile_) + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

Status VolumeServer::Remove(const std::string& export_name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (exports_.erase(export_name) == 0) return Status::Ok();
  return WriteConfigLocked();
}

std::vector<VolumeExport> VolumeServer::Exports() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<VolumeExport> out;
  for (const auto& [name, e] : exports_) out.push_back(e);
  return out;
}

Result<nlohmann::json> VolumeServer::Stats() const {
  std::error_code ec;
  if (!fs::exists(stats_, ec)) return Status::Unavailable("no stats yet at " + stats_);
  nlohmann::json j = nlohmann::json::parse(ReadAll(stats_), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Unavailable("stats file " + stats_ + " does not parse");
  }
  return j;
}

pid_t VolumeServer::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

Status VolumeServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (pid_ > 0 && IsOurNbdkit(pid_, config_)) {
    ::kill(pid_, SIGTERM);
    const SteadyClock::time_point deadline = SteadyClock::now() + std::chrono::seconds(3);
    bool gone = false;
    while (!gone && SteadyClock::now() < deadline) {
      gone = !IsOurNbdkit(pid_, config_);  // a zombie counts as gone
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!gone) ::kill(pid_, SIGKILL);
  }
  pid_ = -1;
  std::error_code ec;
  fs::remove(socket_, ec);
  fs::remove(pidfile_, ec);
  return Status::Ok();
}

}  // namespace devshare::host
