// VolumeFile: pread/pwrite/fdatasync/fallocate on one volume file.
#include "devshare/storage/volume_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace devshare::storage {
namespace {

Status ErrnoStatus(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return Status::ResourceExhausted(msg);
  if (err == ENOENT || err == ENOTDIR) return Status::NotFound(msg);
  if (err == EEXIST) return Status::AlreadyExists(msg);
  return Status::DataLoss(msg);
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

constexpr size_t kZeroChunk = 1 << 20;

}  // namespace

VolumeFile::~VolumeFile() { Close(); }

VolumeFile::VolumeFile(VolumeFile&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

VolumeFile& VolumeFile::operator=(VolumeFile&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

void VolumeFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status VolumeFile::Errno(const char* what, int err) const {
  return ErrnoStatus(path_ + ": " + what, err);
}

Result<VolumeFile> VolumeFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path + ": open", errno);
  return VolumeFile(fd, path);
}

Result<VolumeFile> VolumeFile::Create(const std::string& path, uint64_t size_bytes, bool truncate) {
  int flags = O_RDWR | O_CLOEXEC | O_CREAT | (truncate ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return ErrnoStatus(path + ": create", errno);
  VolumeFile f(fd, path);
  if (::ftruncate(fd, static_cast<off_t>(size_bytes)) != 0) return f.Errno("ftruncate", errno);
  if (::fsync(fd) != 0) return f.Errno("fsync", errno);
  DS_RETURN_IF_ERROR(SyncParentDir(path));
  return f;
}

Status VolumeFile::ReadAt(void* buf, size_t count, uint64_t offset) const {
  auto* p = static_cast<char*>(buf);
  while (count > 0) {
    ssize_t n = ::pread(fd_, p, count, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("pread", errno);
    }
    if (n == 0) {  // past the end: reads as zeros
      std::memset(p, 0, count);
      return Status::Ok();
    }
    p += n;
    count -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status VolumeFile::WriteAt(const void* buf, size_t count, uint64_t offset) const {
  const auto* p = static_cast<const char*>(buf);
  while (count > 0) {
    ssize_t n = ::pwrite(fd_, p, count, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("pwrite", errno);
    }
    p += n;
    count -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status VolumeFile::Sync() const {
  if (::fdatasync(fd_) != 0) return Errno("fdatasync", errno);
  return Status::Ok();
}

Status VolumeFile::WriteZeros(uint64_t count, uint64_t offset) const {
  std::vector<char> zeros(static_cast<size_t>(std::min<uint64_t>(count, kZeroChunk)), 0);
  while (count > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(count, zeros.size()));
    DS_RETURN_IF_ERROR(WriteAt(zeros.data(), n, offset));
    count -= n;
    offset += n;
  }
  return Status::Ok();
}

Status VolumeFile::PunchHole(uint64_t count, uint64_t offset) const {
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(count)) == 0) {
    return Status::Ok();
  }
  if (errno != EOPNOTSUPP && errno != ENOSYS) return Errno("fallocate(PUNCH_HOLE)", errno);
  return WriteZeros(count, offset);
}

Status VolumeFile::ZeroRange(uint64_t count, uint64_t offset, bool may_trim) const {
  if (::fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(count)) == 0) {
    return Status::Ok();
  }
  if (errno != EOPNOTSUPP && errno != ENOSYS) return Errno("fallocate(ZERO_RANGE)", errno);
  if (may_trim) return PunchHole(count, offset);
  return WriteZeros(count, offset);
}

Result<uint64_t> VolumeFile::Size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return Errno("fstat", errno);
  return static_cast<uint64_t>(st.st_size);
}

Status VolumeFile::GrowTo(uint64_t size_bytes) const {
  DS_ASSIGN_OR_RETURN(uint64_t size, Size());
  if (size >= size_bytes) return Status::Ok();
  if (::ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0) return Errno("ftruncate", errno);
  if (::fsync(fd_) != 0) return Errno("fsync", errno);
  return Status::Ok();
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Status SyncParentDir(const std::string& path) {
  std::string dir = ParentDir(path);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(dir + ": open", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(dir + ": fsync", err);
  return Status::Ok();
}

Status RemoveFileDurably(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus(path + ": unlink", errno);
  }
  return SyncParentDir(path);
}

Status RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus("rename " + from + " -> " + to, errno);
  }
  return SyncParentDir(to);
}

}  // namespace devshare::storage
