// Helpers of the storage integration tests.
#include "storage_it_util.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "devshare/core/atomic_file.h"

namespace devshare::storage::it {

TempDir::TempDir() {
  char tmpl[] = "/tmp/devshare_storage_it_XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

void WriteConfig(const std::string& path, const nlohmann::json& config) {
  Status s = WriteFileAtomically(path, config.dump(2));
  ASSERT_TRUE(s.ok()) << s.ToString();
}

nlohmann::json ReadStats(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nullptr;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str(), nullptr, false);
}

nlohmann::json StatsOfVolume(const nlohmann::json& stats, const std::string& export_name) {
  if (!stats.is_object() || !stats.contains("volumes")) return nullptr;
  for (const auto& v : stats["volumes"]) {
    if (v.value("export", "") == export_name) return v;
  }
  return nullptr;
}

NbdClient::~NbdClient() {
  if (h_ != nullptr) {
    nbd_shutdown(h_, 0);
    nbd_close(h_);
  }
}

std::string NbdClient::Connect(const std::string& socket, const std::string& export_name) {
  h_ = nbd_create();
  if (h_ == nullptr) return nbd_get_error();
  if (nbd_set_export_name(h_, export_name.c_str()) == -1 ||
      nbd_connect_unix(h_, socket.c_str()) == -1) {
    std::string e = nbd_get_error() ? nbd_get_error() : "connect failed";
    nbd_close(h_);
    h_ = nullptr;
    return e;
  }
  return "";
}

std::string NbdClient::Write(const void* buf, size_t count, uint64_t offset, bool fua) {
  if (nbd_pwrite(h_, buf, count, offset, fua ? LIBNBD_CMD_FLAG_FUA : 0) == -1) {
    return nbd_get_error();
  }
  return "";
}

std::string NbdClient::Read(void* buf, size_t count, uint64_t offset) {
  if (nbd_pread(h_, buf, count, offset, 0) == -1) return nbd_get_error();
  return "";
}

std::string NbdClient::Flush() {
  if (nbd_flush(h_, 0) == -1) return nbd_get_error();
  return "";
}

LoadResult RunLoad(const std::string& socket, const std::string& export_name, bool write, int depth,
                   uint32_t bytes, uint64_t span_bytes, std::chrono::steady_clock::time_point start,
                   std::chrono::milliseconds duration) {
  LoadResult r;
  NbdClient c;
  std::string e = c.Connect(socket, export_name);
  if (!e.empty()) {
    r.errors = 1;
    r.first_error = e;
    return r;
  }
  nbd_handle* h = c.handle();
  std::vector<std::vector<char>> bufs(static_cast<size_t>(depth), std::vector<char>(bytes, 'w'));
  std::vector<int64_t> cookies(static_cast<size_t>(depth), -1);
  uint64_t x = 88172645463325252ULL ^ std::hash<std::string>()(export_name);
  auto submit = [&](size_t i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t off = (x % (span_bytes / bytes)) * bytes;
    cookies[i] = write ? nbd_aio_pwrite(h, bufs[i].data(), bytes, off, NBD_NULL_COMPLETION, 0)
                       : nbd_aio_pread(h, bufs[i].data(), bytes, off, NBD_NULL_COMPLETION, 0);
    if (cookies[i] == -1) {
      ++r.errors;
      if (r.first_error.empty()) r.first_error = nbd_get_error();
    }
  };
  std::this_thread::sleep_until(start);
  const auto end = start + duration;
  for (size_t i = 0; i < cookies.size(); ++i) submit(i);
  while (std::chrono::steady_clock::now() < end && r.errors == 0) {
    if (nbd_poll(h, 100) == -1) {
      ++r.errors;
      r.first_error = nbd_get_error();
      break;
    }
    for (size_t i = 0; i < cookies.size(); ++i) {
      if (cookies[i] < 0) continue;
      int done = nbd_aio_command_completed(h, cookies[i]);
      if (done == 0) continue;
      auto now = std::chrono::steady_clock::now();
      if (done == -1) {
        ++r.errors;
        if (r.first_error.empty()) r.first_error = nbd_get_error();
      } else if (now < end) {
        auto sec = static_cast<size_t>((now - start) / std::chrono::seconds(1));
        if (r.per_second.size() <= sec) r.per_second.resize(sec + 1, 0);
        ++r.per_second[sec];
      }
      submit(i);
    }
  }
  // Drain what is still in flight before disconnecting.
  while (nbd_aio_in_flight(h) > 0 && nbd_poll(h, 1000) != -1) {
  }
  return r;
}

void FillBlock(std::vector<uint32_t>& buf, uint64_t block, uint32_t gen) {
  for (size_t i = 0; i < buf.size(); ++i) {
    buf[i] = static_cast<uint32_t>(block * 2654435761u) ^ (gen * 40503u) ^ static_cast<uint32_t>(i);
  }
}

bool BlockMatches(const std::vector<uint32_t>& buf, uint64_t block, uint32_t gen) {
  std::vector<uint32_t> want(buf.size());
  FillBlock(want, block, gen);
  return want == buf;
}

}  // namespace devshare::storage::it
