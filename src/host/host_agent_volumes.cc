// HostAgent, volumes: files in pools, NBD exports on the volume server, hot-plug, live moves,
// and the per-VM record of what was realized.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "devshare/core/atomic_file.h"
#include "devshare/host/host_agent.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

struct RecordedVolume {
  std::string name, pool, scheduler, file, export_name, disk_xml;
  int64_t size_bytes = 0;
};

std::map<std::string, RecordedVolume> ReadRecord(const std::string& path) {
  std::map<std::string, RecordedVolume> out;
  std::ifstream in(path);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("volumes") || !j["volumes"].is_array()) return out;
  for (const nlohmann::json& v : j["volumes"]) {
    if (!v.is_object()) continue;
    RecordedVolume r;
    r.name = v.value("name", "");
    r.pool = v.value("pool", "");
    r.scheduler = v.value("scheduler", "");
    r.file = v.value("file", "");
    r.export_name = v.value("export", "");
    r.disk_xml = v.value("disk_xml", "");
    r.size_bytes = v.value("size_bytes", int64_t{0});
    if (!r.name.empty()) out[r.name] = std::move(r);
  }
  return out;
}

// Creates `path` sparse with `size_bytes`, or grows it. *created tells whether it was new.
Status EnsureVolumeFile(const std::string& path, int64_t size_bytes, bool* created) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  *created = false;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    *created = true;
  } else if (errno == EEXIST) {
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) {
    return Status::Unavailable("volume file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  Status s = Status::Ok();
  if (::fstat(fd, &st) != 0) {
    s = Status::Unavailable("volume file " + path + ": fstat: " + std::strerror(errno));
  } else if (st.st_size < size_bytes && ::ftruncate(fd, size_bytes) != 0) {
    s = Status::Unavailable("volume file " + path + ": cannot size it to " +
                            std::to_string(size_bytes) + " bytes: " + std::strerror(errno));
  }
  ::close(fd);
  if (!s.ok() && *created) ::unlink(path.c_str());
  return s;
}

VolumeExport ExportOf(const VolumePlan& v) {
  VolumeExport e;
  e.export_name = v.export_name;
  e.pool = v.pool;
  e.file = v.file;
  e.size_bytes = v.size_bytes;
  e.reservation_iops = v.reservation_iops;
  e.weight = v.weight;
  e.limit_iops = v.limit_iops;
  return e;
}

}  // namespace

std::vector<HostAgent::RealizedVolume> HostAgent::RealizedVolumes() const {
  const RealizationContext ctx = context();
  std::vector<RealizedVolume> out;
  std::error_code ec;
  const fs::path dir = fs::path(ctx.runtime_dir) / "volumes";
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".json") continue;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (!j.is_object()) continue;
    const std::string vm = j.value("vm", "");
    for (const auto& [name, r] : ReadRecord(e.path().string())) {
      out.push_back({vm, r.name, r.pool, r.scheduler, r.file, r.export_name, r.size_bytes});
    }
  }
  std::sort(out.begin(), out.end(), [](const RealizedVolume& a, const RealizedVolume& b) {
    return a.vm_id != b.vm_id ? a.vm_id < b.vm_id : a.name < b.name;
  });
  return out;
}

void HostAgent::SetVolumeServer(VolumeServer* server) {
  std::lock_guard<std::mutex> lock(mu_);
  volumes_ = server;
  context_.nbd_socket = server != nullptr ? server->socket_path() : "";
}

std::string HostAgent::VolumeRecordPath(const RealizationContext& ctx,
                                        const std::string& vm_id) const {
  return (fs::path(ctx.runtime_dir) / "volumes" /
          (DomainNameForVm(ctx.domain_prefix, vm_id) + ".json"))
      .string();
}

Status HostAgent::PrepareVolumes(const std::vector<VolumePlan>& plans,
                                 std::vector<std::string>* made) {
  VolumeServer* server = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    server = volumes_;
  }
  for (const VolumePlan& v : plans) {
    bool created = false;
    DS_RETURN_IF_ERROR(EnsureVolumeFile(v.file, v.size_bytes, &created));
    if (created) made->push_back(v.file);
    if (v.disk.nbd_socket.empty()) continue;
    if (server == nullptr) {
      return Status::FailedPrecondition("volume " + v.name + ": no volume server on this host");
    }
    DS_RETURN_IF_ERROR(server->Put(ExportOf(v)));
  }
  return Status::Ok();
}

Status HostAgent::WriteVolumeRecord(const RealizationContext& ctx, const std::string& vm_id,
                                    const std::vector<VolumePlan>& plans) {
  const std::string path = VolumeRecordPath(ctx, vm_id);
  std::error_code ec;
  if (plans.empty()) {
    fs::remove(path, ec);
    return Status::Ok();
  }
  nlohmann::json list = nlohmann::json::array();
  for (const VolumePlan& v : plans) {
    list.push_back({{"name", v.name},
                    {"pool", v.pool},
                    {"scheduler", v.scheduler},
                    {"file", v.file},
                    {"export", v.export_name},
                    {"size_bytes", v.size_bytes},
                    {"disk_xml", BuildDiskXml(v.disk)}});
  }
  fs::create_directories(fs::path(path).parent_path(), ec);
  return WriteFileAtomically(path, nlohmann::json{{"vm", vm_id}, {"volumes", list}}.dump(2));
}

void HostAgent::ReleaseVolumes(const RealizationContext& ctx, const std::string& vm_id) {
  const std::string path = VolumeRecordPath(ctx, vm_id);
  VolumeServer* server = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    server = volumes_;
  }
  std::map<std::string, std::string> moving_from;  // export -> the file a live move copies from
  if (server != nullptr) {
    for (const VolumeExport& e : server->Exports()) moving_from[e.export_name] = e.moving_from;
  }
  for (const auto& [name, v] : ReadRecord(path)) {
    if (server != nullptr && !v.export_name.empty()) (void)server->Remove(v.export_name);
    std::error_code ec;
    fs::remove(v.file, ec);
    fs::remove(v.file + ".part", ec);
    auto from = moving_from.find(v.export_name);
    if (from != moving_from.end() && !from->second.empty()) fs::remove(from->second, ec);
  }
  std::error_code ec;
  fs::remove(path, ec);
}

Status HostAgent::UpdateVolumes(const RealizationContext& ctx, const GuestRequest& request,
                                const DomainSpec& spec, std::vector<std::string>* notes) {
  DS_ASSIGN_OR_RETURN(std::vector<VolumePlan> plans, PlanVolumes(request, ctx));
  const std::map<std::string, RecordedVolume> old =
      ReadRecord(VolumeRecordPath(ctx, request.vm_id));
  VolumeServer* server = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    server = volumes_;
  }
  bool redefine = false;
  std::vector<VolumePlan> realized;  // what the record will say
  for (VolumePlan& v : plans) {
    auto was = old.find(v.name);
    if (was == old.end()) {
      std::vector<std::string> made;
      DS_RETURN_IF_ERROR(PrepareVolumes({v}, &made));
      Status attached = hypervisor_->AttachDevice(spec.name, BuildDiskXml(v.disk));
      if (attached.code() == StatusCode::kUnimplemented) {
        redefine = true;
        notes->push_back("volume " + v.name + " added to the definition (the driver cannot " +
                         "hot-plug): the guest sees it at its next start");
      } else if (!attached.ok()) {
        if (server != nullptr && !v.disk.nbd_socket.empty()) (void)server->Remove(v.export_name);
        for (const std::string& f : made) ::unlink(f.c_str());
        return attached;
      } else {
        notes->push_back("volume " + v.name + " attached as " + v.disk.target_dev);
      }
      realized.push_back(std::move(v));
      continue;
    }
    const RecordedVolume& r = was->second;
    if (r.pool != v.pool) {
      const bool live = !v.disk.nbd_socket.empty() && r.scheduler != "none" && server != nullptr;
      if (!live) {
        notes->push_back("volume " + v.name + ": a move from pool " + r.pool + " to " + v.pool +
                         " needs both pools served by the volume server; it stays in " + r.pool);
        VolumePlan kept = v;
        kept.pool = r.pool;
        kept.file = r.file;
        kept.scheduler = r.scheduler;
        realized.push_back(std::move(kept));
        continue;
      }
      VolumeExport e = ExportOf(v);
      e.moving_from = r.file;
      std::error_code ec;
      fs::create_directories(fs::path(v.file).parent_path(), ec);
      DS_RETURN_IF_ERROR(server->Put(e));
      notes->push_back("volume " + v.name + " moving live from pool " + r.pool + " to " + v.pool);
      realized.push_back(std::move(v));
      continue;
    }
    if (v.size_bytes > r.size_bytes) {
      bool created = false;
      DS_RETURN_IF_ERROR(EnsureVolumeFile(v.file, v.size_bytes, &created));
      notes->push_back("volume " + v.name + " grown to " + std::to_string(v.size_bytes >> 30) +
                       " GiB: the guest sees the new size after its next start");
    }
    if (!v.disk.nbd_socket.empty() && server != nullptr) {
      // QoS (and size) changes: the plugin rereads its config; queued requests stay queued.
      VolumeExport e = ExportOf(v);
      for (const VolumeExport& cur : server->Exports()) {
        if (cur.export_name == e.export_name) e.moving_from = cur.moving_from;
      }
      DS_RETURN_IF_ERROR(server->Put(e));
    }
    realized.push_back(std::move(v));
  }
  for (const auto& [name, r] : old) {
    bool kept = false;
    for (const VolumePlan& v : realized) kept |= v.name == name;
    if (kept) continue;
    Status detached = hypervisor_->DetachDevice(spec.name, r.disk_xml);
    if (detached.code() == StatusCode::kUnimplemented) {
      redefine = true;
    } else if (!detached.ok() && detached.code() != StatusCode::kNotFound) {
      return detached;
    }
    std::error_code ec;
    if (server != nullptr && !r.export_name.empty()) {
      for (const VolumeExport& e : server->Exports()) {
        if (e.export_name == r.export_name && !e.moving_from.empty()) fs::remove(e.moving_from, ec);
      }
      (void)server->Remove(r.export_name);
    }
    fs::remove(r.file, ec);
    fs::remove(r.file + ".part", ec);
    notes->push_back("volume " + name + " detached and deleted");
  }
  if (redefine) DS_RETURN_IF_ERROR(hypervisor_->Redefine(spec.name, BuildDomainXml(spec)));
  return WriteVolumeRecord(ctx, request.vm_id, realized);
}

}  // namespace devshare::host
