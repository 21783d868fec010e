// VolumeFile: one raw volume file (O_RDWR|O_CLOEXEC, buffered): positional reads and writes that
// reach the kernel before they return (nothing is buffered in user space), fdatasync, and hole
// punching / zeroing with a fallback to writing zeros. Plus the directory fsync of renames.
// Thread-safety: methods may run concurrently (pread/pwrite); Close/move need exclusive access.
#ifndef DEVSHARE_STORAGE_VOLUME_FILE_H_
#define DEVSHARE_STORAGE_VOLUME_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "devshare/core/result.h"

namespace devshare::storage {

// Errors name the path and the system error; ENOSPC/EDQUOT give ResourceExhausted, ENOENT
// NotFound, anything else DataLoss.
class VolumeFile {
 public:
  VolumeFile() = default;
  ~VolumeFile();
  VolumeFile(VolumeFile&& other) noexcept;
  VolumeFile& operator=(VolumeFile&& other) noexcept;
  VolumeFile(const VolumeFile&) = delete;
  VolumeFile& operator=(const VolumeFile&) = delete;

  // Opens an existing file.
  static Result<VolumeFile> Open(const std::string& path);
  // Creates (or truncates when `truncate`, else fails with AlreadyExists) a sparse file of
  // `size_bytes` and fsyncs it and its directory.
  static Result<VolumeFile> Create(const std::string& path, uint64_t size_bytes, bool truncate);

  // Whole-range operations (retried on short transfers and EINTR). A read past the end of the
  // file gives zeros.
  Status ReadAt(void* buf, size_t count, uint64_t offset) const;
  Status WriteAt(const void* buf, size_t count, uint64_t offset) const;
  Status Sync() const;  // fdatasync
  // Deallocates the range (fallocate PUNCH_HOLE|KEEP_SIZE), else writes zeros.
  Status PunchHole(uint64_t count, uint64_t offset) const;
  // Reads as zeros afterwards: ZERO_RANGE, else PUNCH_HOLE when `may_trim`, else writes zeros.
  Status ZeroRange(uint64_t count, uint64_t offset, bool may_trim) const;
  Result<uint64_t> Size() const;
  // Grows the file to `size_bytes` (never shrinks).
  Status GrowTo(uint64_t size_bytes) const;
  void Close();
  // Records that the file was renamed to `new_path` (the fd stays valid).
  void Renamed(std::string new_path) { path_ = std::move(new_path); }

  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  VolumeFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status WriteZeros(uint64_t count, uint64_t offset) const;
  Status Errno(const char* what, int err) const;

  int fd_ = -1;
  std::string path_;
};

// True when `path` names an existing file (lstat).
bool FileExists(const std::string& path);
// fsync of the directory holding `path`, so a rename or unlink in it is durable.
Status SyncParentDir(const std::string& path);
// unlink + SyncParentDir; Ok when the file was already gone.
Status RemoveFileDurably(const std::string& path);
// rename(from, to) + SyncParentDir(to).
Status RenameDurably(const std::string& from, const std::string& to);

}  // namespace devshare::storage

#endif  // DEVSHARE_STORAGE_VOLUME_FILE_H_
