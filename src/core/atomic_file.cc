// WriteFileAtomically: mkstemp next to the target, write, fchmod, fsync, rename, fsync the folder.
#include "devshare/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace devshare {
namespace {

Status ErrnoStatus(const std::string& path, const std::string& step, int err) {
  std::string msg = "write " + path + ": " + step + ": " + std::generic_category().message(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(std::move(msg));
    case EACCES:
    case EPERM:
    case EROFS:
    case EISDIR:
      return Status::FailedPrecondition(std::move(msg));
    case ENOSPC:
    case EDQUOT:
      return Status::ResourceExhausted(std::move(msg));
    default:
      return Status::DataLoss(std::move(msg));
  }
}

// The folder holding `path` ("." for a bare file name).
std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

int WriteAll(int fd, std::string_view content) {
  const char* data = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode) {
  if (path.empty()) return Status::InvalidArgument("write file: empty path");
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return ErrnoStatus(path, "create temp file", errno);
  int err = WriteAll(fd, content);
  std::string step = "write temp file " + tmp;
  if (err == 0 && ::fchmod(fd, mode) != 0) err = errno;
  if (err == 0 && ::fsync(fd) != 0) {
    err = errno;
    step = "fsync temp file " + tmp;
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return ErrnoStatus(path, step, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(path, "rename temp file " + tmp, err);
  }
  // The rename is durable only once the folder's entry is on disk.
  const std::string dir = DirOf(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoStatus(path, "open folder " + dir, errno);
  err = ::fsync(dfd) != 0 ? errno : 0;
  ::close(dfd);
  // Some file systems cannot fsync a folder (EINVAL); the file itself is already synced.
  if (err != 0 && err != EINVAL) return ErrnoStatus(path, "fsync folder " + dir, err);
  return Status::Ok();
}

}  // namespace devshare
