// devshare's nbdkit plugin (API v2, thread model PARALLEL): serves the volumes of a
// StorageService, one export per volume, chosen by export name. No C++ exception crosses into
// nbdkit: every callback runs its body through Guard().
//   nbdkit --unix SOCK libdevshare_nbdkit.so config=/abs/config.json
#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#include <cerrno>
#include <memory>
#include <mutex>
#include <string>

#include "devshare/storage/storage_service.h"
#include "devshare/storage/volume_config.h"

namespace {

using devshare::Status;
using devshare::StatusCode;
using devshare::storage::StorageService;
using devshare::storage::Volume;

std::string g_config_path;
std::mutex g_mu;
std::unique_ptr<StorageService> g_service;

struct Handle {
  std::shared_ptr<Volume> volume;
  uint64_t size_bytes = 0;
};

// Runs `body`; a C++ exception becomes an nbdkit error (EIO) and `fail`.
template <typename T, typename F>
T Guard(T fail, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    nbdkit_error("devshare: internal error: %s", e.what());
  } catch (...) {
    nbdkit_error("devshare: internal error");
  }
  nbdkit_set_error(EIO);
  return fail;
}

int ErrnoOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kResourceExhausted:
      return ENOSPC;
    case StatusCode::kInvalidArgument:
      return EINVAL;
    case StatusCode::kNotFound:
      return ENOENT;
    case StatusCode::kUnavailable:
      return ESHUTDOWN;
    default:
      return EIO;
  }
}

int Fail(const Status& s) {
  nbdkit_error("devshare: %s", s.ToString().c_str());
  nbdkit_set_error(ErrnoOf(s));
  return -1;
}

int Config(const char* key, const char* value) {
  return Guard(-1, [&] {
    if (std::string(key) != "config") {
      nbdkit_error("devshare: unknown parameter '%s' (expected config=/abs/config.json)", key);
      return -1;
    }
    g_config_path = value;
    return 0;
  });
}

int ConfigComplete() {
  return Guard(-1, [&] {
    if (g_config_path.empty()) {
      nbdkit_error("devshare: config=/abs/config.json is required");
      return -1;
    }
    devshare::Result<devshare::storage::StorageConfig> c =
        devshare::storage::LoadStorageConfig(g_config_path);
    if (!c.ok()) {
      nbdkit_error("devshare: %s", c.status().message().c_str());
      return -1;
    }
    return 0;
  });
}

// Threads start after nbdkit forked into the background (if it does).
int AfterFork() {
  return Guard(-1, [&] {
    devshare::storage::StorageServiceOptions o;
    o.config_path = g_config_path;
    o.log_error = [](const std::string& m) { nbdkit_error("devshare: %s", m.c_str()); };
    o.log_info = [](const std::string& m) { nbdkit_debug("devshare: %s", m.c_str()); };
    auto s = StorageService::Start(std::move(o));
    if (!s.ok()) {
      nbdkit_error("devshare: %s", s.status().ToString().c_str());
      return -1;
    }
    std::lock_guard<std::mutex> lock(g_mu);
    g_service = std::move(*s);
    return 0;
  });
}

void Cleanup() {
  Guard(0, [&] {
    std::unique_ptr<StorageService> s;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      s = std::move(g_service);
    }
    s.reset();
    return 0;
  });
}

StorageService* Service() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_service.get();
}

int ListExports(int /*readonly*/, int /*is_tls*/, struct nbdkit_exports* exports) {
  return Guard(-1, [&] {
    StorageService* s = Service();
    if (s == nullptr) return 0;
    for (const std::string& name : s->ExportNames()) {
      if (nbdkit_add_export(exports, name.c_str(), nullptr) == -1) return -1;
    }
    return 0;
  });
}

void* Open(int /*readonly*/) {
  return Guard<void*>(nullptr, [&]() -> void* {
    const char* name = nbdkit_export_name();
    std::string export_name = name != nullptr ? name : "";
    StorageService* s = Service();
    if (s == nullptr) {
      nbdkit_error("devshare: not ready");
      nbdkit_set_error(ESHUTDOWN);
      return nullptr;
    }
    auto vol = s->OpenExport(export_name);
    if (!vol.ok()) {
      nbdkit_error("devshare: unknown export '%s'", export_name.c_str());
      nbdkit_set_error(ENOENT);
      return nullptr;
    }
    auto* h = new Handle{*vol, (*vol)->size_bytes()};
    return h;
  });
}

void Close(void* handle) {
  Guard(0, [&] {
    delete static_cast<Handle*>(handle);
    return 0;
  });
}

int64_t GetSize(void* handle) {
  return static_cast<int64_t>(static_cast<Handle*>(handle)->size_bytes);
}

int Yes(void*) { return 1; }
int No(void*) { return 0; }
int FuaNative(void*) { return NBDKIT_FUA_NATIVE; }

Volume& Vol(void* handle) { return *static_cast<Handle*>(handle)->volume; }

int Pread(void* handle, void* buf, uint32_t count, uint64_t offset, uint32_t /*flags*/) {
  return Guard(-1, [&] {
    Status s = Vol(handle).Read(buf, count, offset);
    return s.ok() ? 0 : Fail(s);
  });
}

int Pwrite(void* handle, const void* buf, uint32_t count, uint64_t offset, uint32_t flags) {
  return Guard(-1, [&] {
    Status s = Vol(handle).Write(buf, count, offset, (flags & NBDKIT_FLAG_FUA) != 0);
    return s.ok() ? 0 : Fail(s);
  });
}

int Flush(void* handle, uint32_t /*flags*/) {
  return Guard(-1, [&] {
    Status s = Vol(handle).Flush();
    return s.ok() ? 0 : Fail(s);
  });
}

int Trim(void* handle, uint32_t count, uint64_t offset, uint32_t flags) {
  return Guard(-1, [&] {
    Status s = Vol(handle).Trim(count, offset, (flags & NBDKIT_FLAG_FUA) != 0);
    return s.ok() ? 0 : Fail(s);
  });
}

int Zero(void* handle, uint32_t count, uint64_t offset, uint32_t flags) {
  return Guard(-1, [&] {
    if ((flags & NBDKIT_FLAG_FAST_ZERO) != 0) {
      nbdkit_set_error(ENOTSUP);
      return -1;
    }
    Status s = Vol(handle).Zero(count, offset, (flags & NBDKIT_FLAG_MAY_TRIM) != 0,
                                (flags & NBDKIT_FLAG_FUA) != 0);
    return s.ok() ? 0 : Fail(s);
  });
}

struct nbdkit_plugin MakePlugin() {
  struct nbdkit_plugin p {};
  p.name = "devshare";
  p.longname = "devshare volumes with mClock QoS";
  p.version = "0.1.0";
  p.description = "Serves devshare VM volumes from pool directories, paced per pool";
  p.config = Config;
  p.config_complete = ConfigComplete;
  p.config_help = "config=<ABS_PATH>     (required) the devshare storage config (JSON)";
  p.magic_config_key = "config";
  p.after_fork = AfterFork;
  p.cleanup = Cleanup;
  p.list_exports = ListExports;
  p.open = Open;
  p.close = Close;
  p.get_size = GetSize;
  p.can_write = Yes;
  p.can_flush = Yes;
  p.can_trim = Yes;
  p.can_zero = Yes;
  p.can_fua = FuaNative;
  p.can_multi_conn = No;
  p.is_rotational = No;
  p.pread = Pread;
  p.pwrite = Pwrite;
  p.flush = Flush;
  p.trim = Trim;
  p.zero = Zero;
  return p;
}

struct nbdkit_plugin plugin = MakePlugin();

}  // namespace

NBDKIT_REGISTER_PLUGIN(plugin)
