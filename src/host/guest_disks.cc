// Guest disks and seeds through qemu-img and genisoimage (posix_spawnp, output captured).
#include "devshare/host/guest_disks.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "devshare/core/atomic_file.h"

extern char** environ;

namespace devshare::host {
namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxOutput = 64 * 1024;

Status MakeParent(const std::string& path) {
  const fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) return Status::Ok();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Unavailable("cannot create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0755);
  return Status::Ok();
}

Status RunTool(const std::vector<std::string>& argv, const std::string& what) {
  Result<CommandResult> r = RunCommand(argv);
  if (!r.ok()) return Status::Unavailable(what + ": " + r.status().message());
  if (r->exit_code != 0) {
    std::string out = r->output;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return Status::Unavailable(what + ": " + argv[0] + " exited with " +
                               std::to_string(r->exit_code) + (out.empty() ? "" : ": " + out));
  }
  return Status::Ok();
}

}  // namespace

Result<CommandResult> RunCommand(const std::vector<std::string>& argv) {
  if (argv.empty()) return Status::InvalidArgument("RunCommand: empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return Status::Unavailable("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  CommandResult out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.output.size() < kMaxOutput) out.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // posix_spawnp reports a missing program as exit 127 of the child on glibc.
  if (out.exit_code == 127 && out.output.empty()) {
    return Status::Unavailable("cannot run " + argv[0] + " (not installed?)");
  }
  return out;
}

Status CreateOverlay(const std::string& base, const std::string& overlay) {
  std::error_code ec;
  if (!fs::is_regular_file(base, ec)) {
    return Status::NotFound("image base " + base + " does not exist on this host");
  }
  DS_RETURN_IF_ERROR(MakeParent(overlay));
  return RunTool({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay},
                 "creating overlay " + overlay + " on " + base);
}

Status CreateScratchDisk(const std::string& path, int64_t size_bytes) {
  DS_RETURN_IF_ERROR(MakeParent(path));
  return RunTool({"qemu-img", "create", "-q", "-f", "qcow2", path, std::to_string(size_bytes)},
                 "creating scratch disk " + path);
}

Status WriteSeedIso(const NoCloudSeed& seed, const std::string& path) {
  DS_RETURN_IF_ERROR(MakeParent(path));
  const std::string dir = path + ".d";
  const std::string tmp = path + ".tmp";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return Status::Unavailable("cannot create " + dir + ": " + ec.message());
  Status s = WriteFileAtomically(dir + "/meta-data", seed.meta_data, 0644);
  if (s.ok()) s = WriteFileAtomically(dir + "/user-data", seed.user_data, 0644);
  std::vector<std::string> argv = {"genisoimage",      "-quiet",          "-output", tmp,
                                   "-volid",           "cidata",          "-joliet", "-rock",
                                   dir + "/user-data", dir + "/meta-data"};
  if (s.ok() && !seed.network_config.empty()) {
    s = WriteFileAtomically(dir + "/network-config", seed.network_config, 0644);
    argv.push_back(dir + "/network-config");
  }
  if (s.ok()) {
    s = RunTool(argv, "writing NoCloud seed " + path + " (Debian package genisoimage)");
  }
  if (s.ok()) {
    fs::rename(tmp, path, ec);
    if (ec) s = Status::Unavailable("cannot rename " + tmp + ": " + ec.message());
  }
  fs::remove_all(dir, ec);
  if (!s.ok()) fs::remove(tmp, ec);
  return s.ok() ? Status::Ok() : Status::Unavailable(s.message());
}

}  // namespace devshare::host
