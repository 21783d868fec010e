// Strict reader of the storage plugin config: every field named in errors, unknown fields
// rejected, values range-checked. Format: docs/storage.md.
#include "devshare/storage/volume_config.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace devshare::storage {
namespace {

std::string Num(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

// Reads one JSON object; remembers the keys asked for so Finish() can reject the others.
class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& j, std::string source, std::string path)
      : j_(j), source_(std::move(source)), path_(std::move(path)) {}

  Status Error(const std::string& key, const std::string& why) const {
    std::string field = path_.empty() ? key : (key.empty() ? path_ : path_ + "." + key);
    return Status::InvalidArgument(source_ + ": field '" + field + "': " + why);
  }

  Result<const nlohmann::json*> Get(const char* key, bool required) {
    seen_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end()) {
      if (required) return Error(key, "is required");
      return static_cast<const nlohmann::json*>(nullptr);
    }
    return &*it;
  }

  Result<double> Number(const char* key, bool required, double def, double min, double max) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, required));
    if (v == nullptr) return def;
    if (!v->is_number()) return Error(key, "expected a number");
    double x = v->get<double>();
    if (!std::isfinite(x) || x < min || x > max) {
      return Error(key, Num(x) + " is outside " + Num(min) + ".." + Num(max));
    }
    return x;
  }

  Result<uint64_t> Unsigned(const char* key, bool required, uint64_t def, uint64_t min,
                            uint64_t max) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, required));
    if (v == nullptr) return def;
    if (v->is_number_unsigned() || (v->is_number_integer() && v->get<int64_t>() >= 0)) {
      uint64_t x = v->get<uint64_t>();
      if (x < min || x > max) {
        return Error(key, std::to_string(x) + " is outside " + std::to_string(min) + ".." +
                              std::to_string(max));
      }
      return x;
    }
    if (v->is_number_integer()) {
      return Error(key, std::to_string(v->get<int64_t>()) + " is outside " + std::to_string(min) +
                            ".." + std::to_string(max));
    }
    return Error(key, "expected a non-negative integer");
  }

  Result<std::string> String(const char* key, bool required, const std::string& def) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, required));
    if (v == nullptr) return def;
    if (!v->is_string()) return Error(key, "expected a string");
    std::string s = v->get<std::string>();
    if (required && s.empty()) return Error(key, "must not be empty");
    return s;
  }

  Result<std::string> AbsolutePath(const char* key, bool required) {
    Result<std::string> r = String(key, required, "");
    if (!r.ok()) return r.status();
    std::string s = *r;
    if (s.find('/') != 0 && !s.empty()) return Error(key, "'" + s + "' is not an absolute path");
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  }

  Result<const nlohmann::json*> Array(const char* key, bool required) {
    DS_ASSIGN_OR_RETURN(const nlohmann::json* v, Get(key, required));
    if (v != nullptr && !v->is_array()) return Error(key, "expected an array");
    return v;
  }

  // InvalidArgument naming the first key that was never asked for.
  Status Finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (seen_.count(it.key()) == 0) return Error(it.key(), "unknown field");
    }
    return Status::Ok();
  }

  std::string Sub(const char* key, size_t index) const {
    std::string k = std::string(key) + "[" + std::to_string(index) + "]";
    return path_.empty() ? k : path_ + "." + k;
  }

 private:
  const nlohmann::json& j_;
  std::string source_;
  std::string path_;
  std::set<std::string> seen_;
};

Status NotObject(const std::string& source, const std::string& path) {
  return Status::InvalidArgument(source + ": field '" + path + "': expected an object");
}

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

constexpr double kMaxIops = 1e7;
constexpr double kMaxMbps = 1e6;
constexpr uint64_t kMaxSizeBytes = uint64_t{1} << 50;  // 1 PiB

Result<PoolConfig> ReadPool(const nlohmann::json& j, const std::string& source,
                            const std::string& path) {
  if (!j.is_object()) return NotObject(source, path);
  ObjectReader r(j, source, path);
  PoolConfig p;
  DS_ASSIGN_OR_RETURN(p.name, r.String("name", true, ""));
  if (!ValidName(p.name)) return r.Error("name", "'" + p.name + "' is not a valid name");
  DS_ASSIGN_OR_RETURN(p.tier, r.String("tier", false, ""));
  DS_ASSIGN_OR_RETURN(p.dir, r.AbsolutePath("dir", true));
  DS_ASSIGN_OR_RETURN(p.capacity_iops, r.Number("capacity_iops", true, 0, 1, kMaxIops));
  DS_ASSIGN_OR_RETURN(p.capacity_mbps, r.Number("capacity_mbps", true, 0, 0.001, kMaxMbps));
  DS_ASSIGN_OR_RETURN(std::string sched, r.String("scheduler", false, "mclock"));
  if (sched == "mclock") {
    p.scheduler = PoolScheduler::kMClock;
  } else if (sched == "fifo") {
    p.scheduler = PoolScheduler::kFifo;
  } else if (sched == "none") {
    p.scheduler = PoolScheduler::kNone;
  } else {
    return r.Error("scheduler", "'" + sched + "' is not one of mclock, fifo, none");
  }
  DS_RETURN_IF_ERROR(r.Finish());
  return p;
}

Result<VolumeConfig> ReadVolume(const nlohmann::json& j, const std::string& source,
                                const std::string& path) {
  if (!j.is_object()) return NotObject(source, path);
  ObjectReader r(j, source, path);
  VolumeConfig v;
  DS_ASSIGN_OR_RETURN(v.export_name, r.String("export", true, ""));
  if (!ValidName(v.export_name)) {
    return r.Error("export", "'" + v.export_name + "' is not a valid export name");
  }
  DS_ASSIGN_OR_RETURN(v.pool, r.String("pool", true, ""));
  DS_ASSIGN_OR_RETURN(v.file, r.AbsolutePath("file", true));
  DS_ASSIGN_OR_RETURN(v.size_bytes, r.Unsigned("size_bytes", true, 0, 512, kMaxSizeBytes));
  if (v.size_bytes % 512 != 0) {
    return r.Error("size_bytes", std::to_string(v.size_bytes) + " is not a multiple of 512");
  }
  DS_ASSIGN_OR_RETURN(v.reservation_iops, r.Number("reservation_iops", false, 0, 0, kMaxIops));
  DS_ASSIGN_OR_RETURN(v.weight, r.Number("weight", false, 1, 0.001, 1000));
  DS_ASSIGN_OR_RETURN(v.limit_iops, r.Number("limit_iops", false, 0, 0, kMaxIops));
  if (v.limit_iops > 0 && v.limit_iops < v.reservation_iops) {
    return r.Error("limit_iops",
                   Num(v.limit_iops) + " is below reservation_iops " + Num(v.reservation_iops));
  }
  DS_ASSIGN_OR_RETURN(v.moving_from, r.AbsolutePath("moving_from", false));
  if (v.moving_from == v.file) return r.Error("moving_from", "is the same file as 'file'");
  DS_RETURN_IF_ERROR(r.Finish());
  return v;
}

}  // namespace

std::string_view PoolSchedulerName(PoolScheduler s) {
  switch (s) {
    case PoolScheduler::kMClock:
      return "mclock";
    case PoolScheduler::kFifo:
      return "fifo";
    case PoolScheduler::kNone:
      break;
  }
  return "none";
}

const PoolConfig* StorageConfig::FindPool(std::string_view name) const {
  for (const PoolConfig& p : pools) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const VolumeConfig* StorageConfig::FindVolume(std::string_view export_name) const {
  for (const VolumeConfig& v : volumes) {
    if (v.export_name == export_name) return &v;
  }
  return nullptr;
}

Result<StorageConfig> ParseStorageConfig(std::string_view text, const std::string& source_name) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(source_name + ": not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument(source_name + ": expected a JSON object");
  ObjectReader r(j, source_name, "");
  StorageConfig c;
  DS_ASSIGN_OR_RETURN(c.stats_file, r.AbsolutePath("stats_file", true));
  DS_ASSIGN_OR_RETURN(uint64_t interval, r.Unsigned("stats_interval_ms", false, 1000, 10, 3600000));
  c.stats_interval_ms = std::chrono::milliseconds(interval);
  DS_ASSIGN_OR_RETURN(c.migration_mbps, r.Number("migration_mbps", false, 64, 0.01, kMaxMbps));

  DS_ASSIGN_OR_RETURN(const nlohmann::json* pools, r.Array("pools", true));
  if (pools->empty()) return r.Error("pools", "must not be empty");
  for (size_t i = 0; i < pools->size(); ++i) {
    std::string path = r.Sub("pools", i);
    DS_ASSIGN_OR_RETURN(PoolConfig p, ReadPool((*pools)[i], source_name, path));
    if (c.FindPool(p.name) != nullptr) {
      return Status::InvalidArgument(source_name + ": field '" + path + ".name': duplicate pool '" +
                                     p.name + "'");
    }
    c.pools.push_back(std::move(p));
  }

  DS_ASSIGN_OR_RETURN(const nlohmann::json* volumes, r.Array("volumes", false));
  std::map<std::string, double> reserved;  // pool -> sum of reservations
  std::set<std::string> files;
  for (size_t i = 0; volumes != nullptr && i < volumes->size(); ++i) {
    std::string path = r.Sub("volumes", i);
    auto field = [&](const std::string& key, const std::string& why) {
      return Status::InvalidArgument(source_name + ": field '" + path + "." + key + "': " + why);
    };
    DS_ASSIGN_OR_RETURN(VolumeConfig v, ReadVolume((*volumes)[i], source_name, path));
    if (c.FindVolume(v.export_name) != nullptr) {
      return field("export", "duplicate export '" + v.export_name + "'");
    }
    const PoolConfig* pool = c.FindPool(v.pool);
    if (pool == nullptr) return field("pool", "unknown pool '" + v.pool + "'");
    if (DirOf(v.file) != pool->dir) {
      return field("file", "'" + v.file + "' is not in the dir of pool '" + pool->name + "' (" +
                               pool->dir + ")");
    }
    if (!files.insert(v.file).second) return field("file", "'" + v.file + "' is used twice");
    if (!v.moving_from.empty() && !files.insert(v.moving_from).second) {
      return field("moving_from", "'" + v.moving_from + "' is used twice");
    }
    if (pool->scheduler == PoolScheduler::kMClock) {
      double& sum = reserved[pool->name];
      sum += v.reservation_iops;
      if (sum > pool->capacity_iops) {
        return field("reservation_iops", "reservations of pool '" + pool->name + "' sum to " +
                                             Num(sum) + ", above its capacity_iops " +
                                             Num(pool->capacity_iops));
      }
    }
    c.volumes.push_back(std::move(v));
  }
  DS_RETURN_IF_ERROR(r.Finish());
  return c;
}

Result<StorageConfig> LoadStorageConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::NotFound(path + ": read failed");
  return ParseStorageConfig(ss.str(), path);
}

}  // namespace devshare::storage
