// Storage pools: the --pool flag, calibration by a short write run, volume file names.
#include "devshare/host/storage_pool.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "devshare/core/request.h"
#include "devshare/host/realization.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kScratchBytes = int64_t{64} << 20;
constexpr size_t kSmallIo = 4096;
constexpr size_t kLargeIo = size_t{1} << 20;

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

Result<int64_t> ParseCount(std::string_view key, std::string_view value, int64_t max) {
  int64_t v = 0;
  if (value.empty()) return Status::InvalidArgument("--pool " + std::string(key) + ": empty");
  for (char c : value) {
    if (c < '0' || c > '9' || v > max / 10) {
      return Status::InvalidArgument("--pool " + std::string(key) + "=" + std::string(value) +
                                     ": expected an integer in 1.." + std::to_string(max));
    }
    v = v * 10 + (c - '0');
  }
  if (v < 1 || v > max) {
    return Status::InvalidArgument("--pool " + std::string(key) + "=" + std::string(value) +
                                   ": expected an integer in 1.." + std::to_string(max));
  }
  return v;
}

struct AlignedBuffer {
  explicit AlignedBuffer(size_t n) : size(n) {
    data = static_cast<char*>(std::aligned_alloc(4096, n));
    if (data != nullptr) std::memset(data, 0x5a, n);
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  char* data = nullptr;
  size_t size = 0;
};

// Opens the scratch file with O_DIRECT when the filesystem allows it.
int OpenScratch(const std::string& path, bool* direct) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_DIRECT, 0600);
  *direct = fd >= 0;
  if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  return fd;
}

}  // namespace

Result<StoragePool> ParsePoolFlag(std::string_view flag) {
  StoragePool p;
  const size_t c1 = flag.find(':');
  const size_t c2 = c1 == std::string_view::npos ? c1 : flag.find(':', c1 + 1);
  if (c2 == std::string_view::npos) {
    return Status::InvalidArgument("--pool " + std::string(flag) +
                                   ": expected NAME:TIER:DIR[,key=value...]");
  }
  p.name = std::string(flag.substr(0, c1));
  p.tier = std::string(flag.substr(c1 + 1, c2 - c1 - 1));
  std::string_view rest = flag.substr(c2 + 1);
  const size_t comma = rest.find(',');
  p.dir = std::string(rest.substr(0, comma));
  if (!ValidName(p.name)) {
    return Status::InvalidArgument("--pool " + std::string(flag) + ": bad pool name '" + p.name +
                                   "' (letters, digits, '_', '-', '.'; at most 63)");
  }
  if (!IsStorageTier(p.tier)) {
    return Status::InvalidArgument("--pool " + p.name + ": unknown tier '" + p.tier +
                                   "' (known: nvme, ssd, hdd)");
  }
  if (p.dir.empty()) return Status::InvalidArgument("--pool " + p.name + ": empty directory");
  p.dir = AbsolutePath(p.dir);
  std::string_view opts = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
  while (!opts.empty()) {
    const size_t next = opts.find(',');
    const std::string_view kv = opts.substr(0, next);
    opts = next == std::string_view::npos ? "" : opts.substr(next + 1);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument("--pool " + p.name + ": '" + std::string(kv) +
                                     "' is not key=value");
    }
    const std::string_view key = kv.substr(0, eq), value = kv.substr(eq + 1);
    if (key == "iops") {
      DS_ASSIGN_OR_RETURN(p.iops, ParseCount(key, value, 100'000'000));
    } else if (key == "mbps") {
      DS_ASSIGN_OR_RETURN(p.mbps, ParseCount(key, value, 10'000'000));
    } else if (key == "capacity_gib") {
      DS_ASSIGN_OR_RETURN(p.capacity_gib, ParseCount(key, value, int64_t{1} << 40));
    } else if (key == "scheduler") {
      p.scheduler = std::string(value);
      if (std::none_of(std::begin(kPoolSchedulers), std::end(kPoolSchedulers),
                       [&](const char* s) { return p.scheduler == s; })) {
        return Status::InvalidArgument("--pool " + p.name + ": unknown scheduler '" + p.scheduler +
                                       "' (known: mclock, fifo, none)");
      }
    } else {
      return Status::InvalidArgument("--pool " + p.name + ": unknown key '" + std::string(key) +
                                     "' (known: iops, mbps, capacity_gib, scheduler)");
    }
  }
  return p;
}

Result<PoolCalibration> CalibratePool(const std::string& dir, std::chrono::milliseconds phase) {
  const std::string path = (fs::path(dir) / ".devshare-calibration").string();
  PoolCalibration out;
  const Clock::time_point t0 = Clock::now();
  int fd = OpenScratch(path, &out.direct);
  if (fd < 0) {
    return Status::Unavailable("pool directory " + dir + ": cannot write a file (" +
                               std::strerror(errno) + ")");
  }
  auto fail = [&](const std::string& what) -> Status {
    const std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    return Status::Unavailable("pool directory " + dir + ": " + what + " (" + why + ")");
  };
  if (::ftruncate(fd, kScratchBytes) != 0) return fail("cannot size the calibration file");
  // Lay the file out first so the random phase measures overwrites, not allocation.
  {
    AlignedBuffer buf(kLargeIo);
    if (buf.data == nullptr) return fail("out of memory");
    for (int64_t off = 0; off < kScratchBytes; off += static_cast<int64_t>(kLargeIo)) {
      if (::pwrite(fd, buf.data, kLargeIo, off) != static_cast<ssize_t>(kLargeIo)) {
        return fail("cannot write the calibration file");
      }
    }
    if (::fdatasync(fd) != 0) return fail("fdatasync failed");
  }
  // Phase 1: 4 KiB random writes, 4 threads.
  std::atomic<int64_t> ios{0};
  std::atomic<bool> error{false};
  {
    const Clock::time_point end = Clock::now() + phase;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        AlignedBuffer buf(kSmallIo);
        std::mt19937_64 rng(0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(t));
        const int64_t blocks = kScratchBytes / static_cast<int64_t>(kSmallIo);
        int64_t n = 0;
        while (Clock::now() < end && buf.data != nullptr) {
          for (int i = 0; i < 16; ++i) {
            const int64_t off = static_cast<int64_t>(rng() % static_cast<uint64_t>(blocks)) *
                                static_cast<int64_t>(kSmallIo);
            if (::pwrite(fd, buf.data, kSmallIo, off) != static_cast<ssize_t>(kSmallIo)) {
              error = true;
              return;
            }
            ++n;
          }
          if (!out.direct && ::fdatasync(fd) != 0) error = true;
        }
        ios += n;
      });
    }
    for (std::thread& th : threads) th.join();
  }
  if (error) return fail("random writes failed");
  out.iops = std::max<int64_t>(1, ios.load() * 1000 / std::max<int64_t>(1, phase.count()));
  // Phase 2: 1 MiB sequential writes.
  {
    AlignedBuffer buf(kLargeIo);
    int64_t bytes = 0, off = 0;
    const Clock::time_point start = Clock::now();
    const Clock::time_point end = start + phase;
    while (Clock::now() < end) {
      if (::pwrite(fd, buf.data, kLargeIo, off) != static_cast<ssize_t>(kLargeIo)) {
        return fail("sequential writes failed");
      }
      bytes += static_cast<int64_t>(kLargeIo);
      off = (off + static_cast<int64_t>(kLargeIo)) % kScratchBytes;
      if (!out.direct && off == 0 && ::fdatasync(fd) != 0) return fail("fdatasync failed");
    }
    if (::fdatasync(fd) != 0) return fail("fdatasync failed");
    const int64_t us =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    out.mbps = std::max<int64_t>(1, bytes / std::max<int64_t>(1, us));  // bytes/us == MB/s
  }
  ::close(fd);
  ::unlink(path.c_str());
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  return out;
}

Status PreparePool(StoragePool& pool, std::chrono::milliseconds calibration_phase) {
  std::error_code ec;
  fs::create_directories(pool.dir, ec);
  if (ec) {
    return Status::Unavailable("pool " + pool.name + ": cannot create " + pool.dir + " (" +
                               ec.message() + ")");
  }
  std::vector<std::string> how;
  if (pool.capacity_gib == 0) {
    struct statvfs st {};
    if (::statvfs(pool.dir.c_str(), &st) != 0) {
      return Status::Unavailable("pool " + pool.name + ": statvfs " + pool.dir + ": " +
                                 std::strerror(errno));
    }
    pool.capacity_gib =
        static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize) / kGiB;
    if (pool.capacity_gib < 1) {
      return Status::FailedPrecondition("pool " + pool.name + ": " + pool.dir +
                                        " has less than 1 GiB free");
    }
    how.push_back("capacity_gib from free space");
  }
  if (pool.iops == 0 || pool.mbps == 0) {
    DS_ASSIGN_OR_RETURN(PoolCalibration c, CalibratePool(pool.dir, calibration_phase));
    if (pool.iops == 0) pool.iops = c.iops;
    if (pool.mbps == 0) pool.mbps = c.mbps;
    how.push_back("calibrated " + std::to_string(c.iops) + " IOPS (4 KiB random writes" +
                  (c.direct ? ", O_DIRECT" : ", buffered + fdatasync") + "), " +
                  std::to_string(c.mbps) + " MB/s (1 MiB sequential) in " +
                  std::to_string(c.took.count()) + " ms");
  }
  if (how.empty()) how.push_back("declared");
  pool.origin.clear();
  for (size_t i = 0; i < how.size(); ++i) pool.origin += (i ? "; " : "") + how[i];
  return Status::Ok();
}

std::string VolumeExportName(std::string_view domain_name, std::string_view volume_name) {
  return std::string(domain_name) + "-" + std::string(volume_name);
}

std::string VolumeFilePath(std::string_view pool_dir, std::string_view domain_name,
                           std::string_view volume_name) {
  return (fs::path(pool_dir) / (VolumeExportName(domain_name, volume_name) + ".raw")).string();
}

}  // namespace devshare::host
