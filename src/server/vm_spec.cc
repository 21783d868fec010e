// ParseVmSpec / ParseResizeSpec: strict VM request parsing.
#include "server/vm_spec.h"

#include <cctype>
#include <functional>

#include "devshare/core/ipv4.h"
#include "server/json_fields.h"

namespace devshare::server {
namespace {

// One OpenSSH public key line: "<type> <base64> [comment]", type ssh-* or ecdsa-*/sk-*.
Status CheckSshKey(const std::string& key) {
  const auto bad = [](const std::string& why) {
    return Status::InvalidArgument("field 'ssh_key': " + why);
  };
  if (key.find_first_of("\r\n") != std::string::npos) return bad("must be one line");
  const size_t sp = key.find(' ');
  if (sp == std::string::npos || sp + 1 >= key.size())
    return bad("expected '<type> <base64> [comment]'");
  const std::string type = key.substr(0, sp);
  if (type.rfind("ssh-", 0) != 0 && type.rfind("ecdsa-", 0) != 0 && type.rfind("sk-", 0) != 0) {
    return bad("unknown key type '" + type + "'");
  }
  const size_t end = key.find(' ', sp + 1);
  const std::string b64 =
      key.substr(sp + 1, end == std::string::npos ? std::string::npos : end - sp - 1);
  for (char c : b64) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) {
      return bad("the key is not base64");
    }
  }
  return Status::Ok();
}

constexpr int64_t kMaxCpuMilli = 100'000'000;
constexpr int64_t kMaxMemoryMib = 1'099'511'627'776;

Result<std::vector<std::string>> StringList(FieldReader& r, const char* name) {
  std::vector<std::string> out;
  DS_ASSIGN_OR_RETURN(const nlohmann::json* list, r.Array(name, false, 64));
  if (list == nullptr) return out;
  for (size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& v = (*list)[i];
    if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
        v.get_ref<const std::string&>().size() > 255) {
      return Status::InvalidArgument("field '" + r.FieldPath(name) + "[" + std::to_string(i) +
                                     "]': expected a non-empty string");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

constexpr int64_t kMaxGpuMemoryMib = int64_t{1} << 30;

Status ParseGpu(const nlohmann::json& j, VmSpec& spec) {
  FieldReader r(j, "gpu");
  GpuRequest& g = spec.request.gpu;
  DS_ASSIGN_OR_RETURN(g.profile, r.String("profile", false, 32));
  DS_ASSIGN_OR_RETURN(g.vgpu, r.String("vgpu", false, 32));
  DS_ASSIGN_OR_RETURN(int64_t count, r.Int("count", false, 0, 64, 1));
  DS_ASSIGN_OR_RETURN(int64_t milli, r.Int("milli", false, 1, kMilliPerDevice, kMilliPerDevice));
  DS_ASSIGN_OR_RETURN(g.memory_mib, r.Int("memory_mib", false, 0, kMaxGpuMemoryMib, 0));
  DS_ASSIGN_OR_RETURN(g.models, StringList(r, "models"));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  if (!g.profile.empty()) {
    if (count != 1 || r.Has("milli") || !g.vgpu.empty()) {
      return Status::InvalidArgument(
          "field 'gpu': a profile request is one partition; "
          "give either {profile} or {count, milli}");
    }
    if (g.memory_mib != 0) {
      return Status::InvalidArgument(
          "field 'gpu.memory_mib': a partition's memory is its profile's (" + g.profile + ")");
    }
  } else if (!g.vgpu.empty()) {
    Result<int64_t> mib = ParseVgpuProfile(g.vgpu);
    if (!mib.ok()) return Status::InvalidArgument("field 'gpu.vgpu': " + mib.status().message());
    if (count != 1 || r.Has("milli")) {
      return Status::InvalidArgument(
          "field 'gpu.vgpu': a vGPU profile is one share of one GPU "
          "(its compute share follows from the GPU); give no count or "
          "milli");
    }
    if (r.Has("memory_mib") && g.memory_mib != *mib) {
      return Status::InvalidArgument("field 'gpu.memory_mib': " + std::to_string(g.memory_mib) +
                                     " is not the " + g.vgpu + " profile's " +
                                     std::to_string(*mib));
    }
    g.memory_mib = *mib;
    milli = 0;
  } else if (count > 1 && milli != kMilliPerDevice) {
    return Status::InvalidArgument(
        "field 'gpu.milli': only a single-GPU request (count 1) may "
        "ask for part of a GPU");
  }
  if (count == 0 && g.memory_mib != 0) {
    return Status::InvalidArgument("field 'gpu.memory_mib': given with gpu count 0");
  }
  g.count = static_cast<int>(count);
  g.milli = count == 0 ? 0 : static_cast<int>(milli);
  nlohmann::json out = {{"count", g.count}};
  if (!g.profile.empty()) {
    out["profile"] = g.profile;
  } else if (!g.vgpu.empty()) {
    out["vgpu"] = g.vgpu;
  } else if (g.count > 0) {
    out["milli"] = g.milli;  // (no GPU: {"count": 0}, as without a gpu field)
  }
  if (g.memory_mib > 0) out["memory_mib"] = g.memory_mib;
  if (!g.models.empty()) out["models"] = g.models;
  spec.normalized["gpu"] = std::move(out);
  return Status::Ok();
}

constexpr int64_t kMaxMbps = 10'000'000;  // 10 Tbit/s
constexpr int64_t kMaxGib = int64_t{1} << 30;
constexpr int64_t kMaxIops = 1'000'000'000;
constexpr size_t kMaxNics = 16;
constexpr size_t kMaxVolumes = 32;

std::string Item(const char* list, size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

// Calls `f` with a reader of each item of the array `list` (null = absent: nothing), whose
// fields are named "<name>[i].x"; an item that is not an object is an error naming it.
Status ForEachObject(const nlohmann::json* list, const char* name,
                     const std::function<Status(FieldReader&)>& f) {
  for (size_t i = 0; list != nullptr && i < list->size(); ++i) {
    const std::string path = Item(name, i);
    if (!(*list)[i].is_object()) {
      return Status::InvalidArgument("field '" + path + "': expected an object");
    }
    FieldReader r((*list)[i], path);
    DS_RETURN_IF_ERROR(f(r));
    DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  }
  return Status::Ok();
}

// {"min": M, "max": X} of a NIC's bandwidth; a bound left out is `absent`. min <= max unless
// max is 0 (uncapped) or either is absent.
Status ParseBandwidth(const nlohmann::json* j, const std::string& path, int64_t* min_mbps,
                      int64_t* max_mbps, int64_t absent = 0) {
  if (j == nullptr) return Status::Ok();
  FieldReader r(*j, path);
  DS_ASSIGN_OR_RETURN(*min_mbps, r.Int("min", false, 0, kMaxMbps, absent));
  DS_ASSIGN_OR_RETURN(*max_mbps, r.Int("max", false, 0, kMaxMbps, absent));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  if (*min_mbps >= 0 && *max_mbps > 0 && *min_mbps > *max_mbps) {
    return Status::InvalidArgument("field '" + r.FieldPath("min") +
                                   "': " + std::to_string(*min_mbps) + " > max " +
                                   std::to_string(*max_mbps) + " (min is a guarantee, max a cap)");
  }
  return Status::Ok();
}

nlohmann::json BandwidthJson(int64_t min_mbps, int64_t max_mbps) {
  return {{"min", min_mbps}, {"max", max_mbps}};
}

Status ParseNics(const nlohmann::json* list, VmSpec& spec) {
  nlohmann::json out = nlohmann::json::array();
  DS_RETURN_IF_ERROR(ForEachObject(list, "nics", [&](FieldReader& r) -> Status {
    NicRequest n;
    DS_ASSIGN_OR_RETURN(n.network, r.String("network", false, 63));
    if (n.network.empty()) n.network = "default";
    DS_RETURN_IF_ERROR(CheckName(n.network, r.FieldPath("network")));
    DS_ASSIGN_OR_RETURN(const nlohmann::json* bw, r.Object("bandwidth_mbps", false));
    DS_RETURN_IF_ERROR(ParseBandwidth(bw, r.FieldPath("bandwidth_mbps"), &n.bandwidth_min_mbps,
                                      &n.bandwidth_max_mbps));
    DS_ASSIGN_OR_RETURN(n.vf, r.Bool("vf", false, false));
    DS_ASSIGN_OR_RETURN(n.address, r.String("address", false, 15));
    if (!n.address.empty()) {
      Result<uint32_t> a = ParseIpv4(n.address);
      if (!a.ok()) {
        return Status::InvalidArgument("field '" + r.FieldPath("address") +
                                       "': " + a.status().message());
      }
    }
    nlohmann::json nic = {
        {"network", n.network},
        {"bandwidth_mbps", BandwidthJson(n.bandwidth_min_mbps, n.bandwidth_max_mbps)},
        {"vf", n.vf}};
    if (!n.address.empty()) nic["address"] = n.address;
    out.push_back(std::move(nic));
    spec.request.nics.push_back(std::move(n));
    return Status::Ok();
  }));
  if (!out.empty()) spec.normalized["nics"] = std::move(out);
  return Status::Ok();
}

nlohmann::json IopsJson(const VolumeRequest& v) {
  return {{"reservation", v.iops_reservation}, {"weight", v.iops_weight}, {"limit", v.iops_limit}};
}

// The required field "tier" of `r`: one of kStorageTiers.
Result<std::string> ReadTier(FieldReader& r) {
  DS_ASSIGN_OR_RETURN(std::string tier, r.String("tier", true, 16));
  if (!IsStorageTier(tier)) {
    return Status::InvalidArgument("field '" + r.FieldPath("tier") + "': unknown tier '" + tier +
                                   "' (known: nvme, ssd, hdd)");
  }
  return tier;
}

// One volume object read through `r` (its unknown fields are the caller's to check).
Result<VolumeRequest> ReadVolume(FieldReader& r) {
  VolumeRequest v;
  DS_ASSIGN_OR_RETURN(v.name, r.String("name", true, 63));
  DS_RETURN_IF_ERROR(CheckName(v.name, r.FieldPath("name")));
  DS_ASSIGN_OR_RETURN(v.size_gib, r.Int("size_gib", true, 1, kMaxGib));
  DS_ASSIGN_OR_RETURN(v.tier, ReadTier(r));
  DS_ASSIGN_OR_RETURN(const nlohmann::json* iops, r.Object("iops", false));
  if (iops != nullptr) {
    FieldReader ir(*iops, r.FieldPath("iops"));
    DS_ASSIGN_OR_RETURN(v.iops_reservation, ir.Int("reservation", false, 0, kMaxIops, 0));
    DS_ASSIGN_OR_RETURN(v.iops_weight, ir.Int("weight", false, 1, 10000, 1));
    DS_ASSIGN_OR_RETURN(v.iops_limit, ir.Int("limit", false, 0, kMaxIops, 0));
    DS_RETURN_IF_ERROR(ir.CheckNoUnknown());
    if (v.iops_limit > 0 && v.iops_reservation > v.iops_limit) {
      return Status::InvalidArgument("field '" + ir.FieldPath("reservation") +
                                     "': " + std::to_string(v.iops_reservation) + " > limit " +
                                     std::to_string(v.iops_limit));
    }
  }
  return v;
}

Status ParseVolumes(const nlohmann::json* list, VmSpec& spec) {
  nlohmann::json out = nlohmann::json::array();
  DS_RETURN_IF_ERROR(ForEachObject(list, "volumes", [&](FieldReader& r) -> Status {
    DS_ASSIGN_OR_RETURN(VolumeRequest v, ReadVolume(r));
    for (const VolumeRequest& other : spec.request.volumes) {
      if (other.name == v.name) {
        return Status::InvalidArgument("field '" + r.FieldPath("name") + "': volume '" + v.name +
                                       "' is named twice");
      }
    }
    out.push_back(VolumeJson(v));
    spec.request.volumes.push_back(std::move(v));
    return Status::Ok();
  }));
  if (!out.empty()) spec.normalized["volumes"] = std::move(out);
  return Status::Ok();
}

Status ParseQos(const nlohmann::json* j, VmSpec& spec) {
  nlohmann::json empty = nlohmann::json::object();
  FieldReader r(j != nullptr ? *j : empty, "qos");
  DS_ASSIGN_OR_RETURN(int64_t weight, r.Int("cpu_weight", false, 1, 10000, 100));
  spec.qos = {{"cpu_weight", weight}};
  DS_ASSIGN_OR_RETURN(int64_t cap, r.Int("cpu_cap_pct", false, 1, 100, 0));
  if (cap > 0) spec.qos["cpu_cap_pct"] = cap;
  for (const char* f : {"disk_read_iops", "disk_write_iops", "disk_read_bytes_sec",
                        "disk_write_bytes_sec", "net_mbps"}) {
    DS_ASSIGN_OR_RETURN(int64_t v, r.Int(f, false, 1, int64_t{1} << 50, 0));
    if (v > 0) spec.qos[f] = v;
  }
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  spec.normalized["qos"] = spec.qos;
  return Status::Ok();
}

}  // namespace

nlohmann::json VolumeJson(const VolumeRequest& v) {
  return {{"name", v.name}, {"size_gib", v.size_gib}, {"tier", v.tier}, {"iops", IopsJson(v)}};
}

Result<VolumeRequest> ParseVolumeSpec(const nlohmann::json& body) {
  FieldReader r(body, "");
  DS_ASSIGN_OR_RETURN(VolumeRequest v, ReadVolume(r));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  return v;
}

Result<std::string> ParseVolumeMigrateSpec(const nlohmann::json& body) {
  FieldReader r(body, "");
  DS_ASSIGN_OR_RETURN(std::string tier, ReadTier(r));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  return tier;
}

Result<VmSpec> ParseVmSpec(const nlohmann::json& body) {
  VmSpec spec;
  FieldReader r(body, "");
  DS_ASSIGN_OR_RETURN(spec.name, r.String("name", true, 63));
  DS_RETURN_IF_ERROR(CheckName(spec.name, "name"));
  VmRequest& req = spec.request;
  DS_ASSIGN_OR_RETURN(req.cpu_milli, r.Int("cpu_milli", true, 1, kMaxCpuMilli));
  DS_ASSIGN_OR_RETURN(req.memory_mib, r.Int("memory_mib", true, 1, kMaxMemoryMib));
  spec.normalized = {
      {"name", spec.name}, {"cpu_milli", req.cpu_milli}, {"memory_mib", req.memory_mib}};
  DS_ASSIGN_OR_RETURN(const nlohmann::json* gpu, r.Object("gpu", false));
  if (gpu != nullptr) {
    DS_RETURN_IF_ERROR(ParseGpu(*gpu, spec));
  } else {
    spec.normalized["gpu"] = {{"count", 0}};
  }
  DS_ASSIGN_OR_RETURN(const nlohmann::json* nics, r.Array("nics", false, kMaxNics));
  DS_RETURN_IF_ERROR(ParseNics(nics, spec));
  DS_ASSIGN_OR_RETURN(const nlohmann::json* volumes, r.Array("volumes", false, kMaxVolumes));
  DS_RETURN_IF_ERROR(ParseVolumes(volumes, spec));
  DS_ASSIGN_OR_RETURN(const nlohmann::json* qos, r.Object("qos", false));
  DS_RETURN_IF_ERROR(ParseQos(qos, spec));
  DS_ASSIGN_OR_RETURN(std::string floor, r.String("isolation_floor", false, 32));
  if (!floor.empty()) {
    Result<IsolationClass> c = ParseIsolationClass(floor);
    if (!c.ok()) {
      return Status::InvalidArgument("field 'isolation_floor': unknown isolation '" + floor +
                                     "' (known: time_slice, mps, hypervisor_sched, hw_partition)");
    }
    req.isolation_floor = *c;
    spec.normalized["isolation_floor"] = floor;
  }
  DS_ASSIGN_OR_RETURN(spec.anti_affinity_group, r.String("anti_affinity_group", false, 63));
  if (!spec.anti_affinity_group.empty()) {
    DS_RETURN_IF_ERROR(CheckName(spec.anti_affinity_group, "anti_affinity_group"));
    spec.normalized["anti_affinity_group"] = spec.anti_affinity_group;
  }
  DS_ASSIGN_OR_RETURN(req.required_traits, StringList(r, "required_traits"));
  DS_ASSIGN_OR_RETURN(req.forbidden_traits, StringList(r, "forbidden_traits"));
  if (!req.required_traits.empty()) spec.normalized["required_traits"] = req.required_traits;
  if (!req.forbidden_traits.empty()) spec.normalized["forbidden_traits"] = req.forbidden_traits;
  DS_ASSIGN_OR_RETURN(spec.policy, r.String("policy", false, 63));
  if (!spec.policy.empty()) spec.normalized["policy"] = spec.policy;
  DS_ASSIGN_OR_RETURN(spec.image, r.String("image", false, 63));
  if (!spec.image.empty()) {
    DS_RETURN_IF_ERROR(CheckName(spec.image, "image"));
    spec.normalized["image"] = spec.image;
  }
  DS_ASSIGN_OR_RETURN(spec.ssh_key, r.String("ssh_key", false, 8192));
  if (!spec.ssh_key.empty()) {
    DS_RETURN_IF_ERROR(CheckSshKey(spec.ssh_key));
    spec.normalized["ssh_key"] = spec.ssh_key;
  }
  DS_ASSIGN_OR_RETURN(const nlohmann::json* rightsize, r.Object("rightsize", false));
  if (rightsize != nullptr) {
    DS_ASSIGN_OR_RETURN(
        spec.rightsize,
        ParseRightSizeSpec(*rightsize, req.cpu_milli, req.memory_mib,
                           {req.gpu.IsShare() && !req.gpu.IsVgpu(), req.gpu.memory_mib}));
    spec.normalized["rightsize"] = RightSizeJson(spec.rightsize);
  }
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  Status valid = req.Validate();
  if (!valid.ok()) return Status::InvalidArgument(valid.message());
  return spec;
}

Result<ResizeSpec> ParseResizeSpec(const nlohmann::json& body) {
  ResizeSpec s;
  FieldReader r(body, "");
  DS_ASSIGN_OR_RETURN(s.cpu_milli, r.Int("cpu_milli", false, 1, kMaxCpuMilli, -1));
  DS_ASSIGN_OR_RETURN(s.memory_mib, r.Int("memory_mib", false, 1, kMaxMemoryMib, -1));
  DS_ASSIGN_OR_RETURN(s.gpu_milli, r.Int("gpu_milli", false, 1, kMilliPerDevice, -1));
  DS_ASSIGN_OR_RETURN(s.gpu_memory_mib, r.Int("gpu_memory_mib", false, 0, kMaxGpuMemoryMib, -1));
  DS_ASSIGN_OR_RETURN(s.move, r.Bool("move", false, false));
  DS_ASSIGN_OR_RETURN(const nlohmann::json* volumes, r.Array("volumes", false, kMaxVolumes));
  DS_RETURN_IF_ERROR(ForEachObject(volumes, "volumes", [&](FieldReader& vr) -> Status {
    ResizeSpec::Volume v;
    DS_ASSIGN_OR_RETURN(v.name, vr.String("name", true, 63));
    DS_ASSIGN_OR_RETURN(v.size_gib, vr.Int("size_gib", false, 1, kMaxGib, -1));
    DS_ASSIGN_OR_RETURN(const nlohmann::json* iops, vr.Object("iops", false));
    if (iops != nullptr) {
      FieldReader ir(*iops, vr.FieldPath("iops"));
      DS_ASSIGN_OR_RETURN(v.iops_reservation, ir.Int("reservation", false, 0, kMaxIops, -1));
      DS_ASSIGN_OR_RETURN(v.iops_weight, ir.Int("weight", false, 1, 10000, -1));
      DS_ASSIGN_OR_RETURN(v.iops_limit, ir.Int("limit", false, 0, kMaxIops, -1));
      DS_RETURN_IF_ERROR(ir.CheckNoUnknown());
      if (v.iops_reservation < 0 && v.iops_weight < 0 && v.iops_limit < 0) {
        return Status::InvalidArgument("field '" + vr.FieldPath("iops") +
                                       "': give reservation, weight, limit or several");
      }
    }
    if (v.size_gib < 0 && iops == nullptr) {
      return Status::InvalidArgument("field '" + vr.path() + "': give size_gib, iops or both");
    }
    s.volumes.push_back(std::move(v));
    return Status::Ok();
  }));
  DS_ASSIGN_OR_RETURN(const nlohmann::json* nics, r.Array("nics", false, kMaxNics));
  DS_RETURN_IF_ERROR(ForEachObject(nics, "nics", [&](FieldReader& nr) -> Status {
    ResizeSpec::Nic n;
    DS_ASSIGN_OR_RETURN(n.index, nr.Int("index", true, 0, kMaxNics - 1));
    DS_ASSIGN_OR_RETURN(const nlohmann::json* bw, nr.Object("bandwidth_mbps", true));
    DS_RETURN_IF_ERROR(ParseBandwidth(bw, nr.FieldPath("bandwidth_mbps"), &n.bandwidth_min_mbps,
                                      &n.bandwidth_max_mbps, /*absent=*/-1));
    if (n.bandwidth_min_mbps < 0 && n.bandwidth_max_mbps < 0) {
      return Status::InvalidArgument("field '" + nr.FieldPath("bandwidth_mbps") +
                                     "': give min, max or both");
    }
    s.nics.push_back(n);
    return Status::Ok();
  }));
  DS_RETURN_IF_ERROR(r.CheckNoUnknown());
  if (s.cpu_milli < 0 && s.memory_mib < 0 && s.gpu_milli < 0 && s.gpu_memory_mib < 0 &&
      s.volumes.empty() && s.nics.empty()) {
    return Status::InvalidArgument(
        "resize needs at least one of cpu_milli, memory_mib, gpu_milli, gpu_memory_mib, volumes, "
        "nics");
  }
  if (s.move && s.gpu_milli < 0 && s.gpu_memory_mib < 0) {
    return Status::InvalidArgument(
        "field 'move': moves a GPU share; give gpu_milli or gpu_memory_mib with it");
  }
  return s;
}

Result<VmSpec> VmSpecFromStored(const std::string& spec_json) {
  DS_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonObject(spec_json));
  return ParseVmSpec(j);
}

}  // namespace devshare::server
