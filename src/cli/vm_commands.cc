// `devshare vm create|list|show|delete|resize`: VMs through the control plane's REST API
// (docs/api.md#vms), printed as key: value blocks and tables.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/client_common.h"
#include "cli/vm_device_flags.h"

namespace devshare::cli::client {
namespace {

constexpr const char* kVmHelp =
    "usage: devshare vm create --name N --cpu-milli X --memory-mib Y [--gpu-count C]\n"
    "                          [--gpu-milli M] [--gpu-memory SIZE] [--gpu-profile P]\n"
    "                          [--gpu-vgpu vgpu-<N>g] [--gpu-model A100]...\n"
    "                          [--gpu count=C,milli=M,memory=SIZE[,profile=P|vgpu=V]"
    "[,model=A|B]]\n"
    "                          [--cpu-weight W] [--cpu-cap-pct P] [--isolation-floor F]\n"
    "                          [--anti-affinity-group G] [--policy P] [--idempotency-key K]\n"
    "                          [--image NAME] [--ssh-key-file ~/.ssh/id_ed25519.pub]\n"
    "                          [--nic network=NET[,address=IP],min=MBPS,max=MBPS[,vf]]...\n"
    "                          [--volume name=N,size=GIB[,tier=T][,iops=R][,weight=W]"
    "[,limit=L]]...\n"
    "       devshare vm list\n"
    "       devshare vm show ID\n"
    "       devshare vm delete ID [--force]   (--force: system admins, host gone for good)\n"
    "       devshare vm start|stop|reboot ID\n"
    "       devshare vm console ID [--follow] [--from-offset N]\n"
    "       devshare vm resize ID [--cpu-milli X] [--memory-mib Y] [--gpu-milli M]\n"
    "                             [--gpu-memory SIZE [--move]]\n"
    "                             [--volume name=N[,size=GIB][,iops=R][,weight=W][,limit=L]]...\n"
    "                             [--nic index=I,min=MBPS,max=MBPS]...\n"
    "                             [--idempotency-key K]\n"
    "  --gpu-model may repeat (or take a comma list): any of these models is acceptable.\n"
    "  GPU memory SIZE: 12G, 12GiB, 512M or a number of MiB; per GPU (a share's framebuffer;\n"
    "  for whole GPUs the least each must have). --gpu-vgpu: a time-sliced vGPU profile\n"
    "  (vgpu-4g, vgpu-8g, ...: its GPU's compute share follows). --gpu gives the same keys in\n"
    "  one flag (not with the --gpu-* flags).\n"
    "  resize --gpu-memory/--gpu-milli change a GPU share in place; when its GPU lacks room the\n"
    "  answer is 409 gpu_memory_full, and --move lets the share move to another GPU of the\n"
    "  same host that has room.\n"
    "  --isolation-floor: time_slice, mps, hypervisor_sched or hw_partition.\n"
    "  --nic, --volume may repeat: one NIC / volume each. NIC network (a tenant network's name\n"
    "  or id, see 'devshare network --help', or a provider network) defaults to 'default';\n"
    "  address (IPv4, on a tenant network) defaults to the lowest free one; min/max to 0\n"
    "  (none), vf (an SR-IOV function; also vf=true|false) to false. Volume iops\n"
    "  (reservation), weight (default 1) and limit are sent only when one of them is given.\n"
    "  resize --volume: size grows the volume; iops, weight, limit change its QoS (the others\n"
    "  stay). Volumes of a running VM: 'devshare volume --help'.\n";

std::string GpuSummary(const json& vm) {
  const json gpu = vm.value("gpu", json::object());
  const int64_t count = Int(gpu, "count");
  if (count == 0 && !gpu.contains("profile")) return "-";
  std::string s = gpu.contains("profile") ? Str(gpu, "profile")
                  : gpu.contains("vgpu")
                      ? Str(gpu, "vgpu")
                      : std::to_string(count) + "x" + std::to_string(Int(gpu, "milli", 1000)) + "m";
  if (!gpu.contains("vgpu") && Int(gpu, "memory_mib") > 0) {
    s += "/" + std::to_string(Int(gpu, "memory_mib")) + "MiB";
  }
  if (gpu.contains("models") && gpu["models"].is_array() && !gpu["models"].empty()) {
    std::vector<std::string> models;
    for (const json& m : gpu["models"]) models.push_back(m.is_string() ? m.get<std::string>() : "");
    s += "[" + Join(models, "|") + "]";
  }
  return s;
}

std::string DevicesSummary(const json& vm) {
  std::vector<std::string> out;
  if (vm.contains("devices") && vm["devices"].is_array()) {
    for (const json& d : vm["devices"]) {
      std::string s = Str(d, "id");
      const std::string kind = Str(d, "kind", "gpu");
      if (kind == "nic") {
        // nic0:vf3:1000-5000Mbps@storage, nic1:virtio:100Mbps@blue(10.1.0.2/24 02:..:01):
        // the network, and on a tenant network the NIC's address and MAC.
        const json bw = d.value("bandwidth_mbps", json::object());
        s += d.contains("vf") ? ":vf" + std::to_string(Int(d, "vf")) : ":virtio";
        s += ":" + std::to_string(Int(bw, "min"));
        if (Int(bw, "max") > 0) s += "-" + std::to_string(Int(bw, "max"));
        s += "Mbps";
        if (d.contains("network")) s += "@" + Str(d, "network");
        std::vector<std::string> binding;
        for (const char* k : {"address", "mac"}) {
          if (!Str(d, k).empty()) binding.push_back(Str(d, k));
        }
        if (!binding.empty()) s += "(" + Join(binding, " ") + ")";
      } else if (kind == "disk") {
        // nvme0:data:50GiB
        s += ":" + Str(d, "volume") + ":" + std::to_string(Int(d, "size_gib")) + "GiB";
      } else if (d.contains("profile")) {
        s += ":" + Str(d, "profile") + "@" + std::to_string(Int(d, "start_slot"));
      } else if (d.contains("vgpu")) {
        s += ":" + Str(d, "vgpu");  // gpu0:vgpu-8g
      } else if (!d.value("whole", false)) {
        s += ":" + std::to_string(Int(d, "milli")) + "m";  // gpu0:500m:12288MiB
        if (Int(d, "memory_mib") > 0) s += ":" + std::to_string(Int(d, "memory_mib")) + "MiB";
      }
      out.push_back(s);
    }
  }
  return out.empty() ? "-" : Join(out, ",");
}

void PrintVm(const json& vm) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"id", Str(vm, "id")},
      {"name", Str(vm, "name")},
      {"tenant", Str(vm, "tenant_id")},
      {"state",
       Str(vm, "state") +
           (vm.contains("state_detail") ? " (" + Str(vm, "state_detail") + ")" : "") +
           (vm.contains("last_state") ? " (last reported " + Str(vm, "last_state") + ")" : "")},
      {"power", Str(vm, "power", "-")},
      {"host", Str(vm, "host")},
      {"policy", Str(vm, "policy")},
      {"cpu_milli", std::to_string(Int(vm, "cpu_milli"))},
      {"memory_mib", std::to_string(Int(vm, "memory_mib"))},
      {"gpu", GpuSummary(vm)},
      {"devices", DevicesSummary(vm)}};
  if (vm.contains("qos") && vm["qos"].is_object()) {
    std::vector<std::string> q;
    for (const auto& [k, v] : vm["qos"].items()) q.push_back(k + "=" + v.dump());
    kv.emplace_back("qos", q.empty() ? "-" : Join(q, " "));
  }
  for (const char* k : {"isolation_floor", "anti_affinity_group", "image"}) {
    if (vm.contains(k)) kv.emplace_back(k, Str(vm, k));
  }
  for (const char* k : {"required_traits", "forbidden_traits"}) {
    if (vm.contains(k) && vm[k].is_array()) {
      std::vector<std::string> t;
      for (const json& v : vm[k]) t.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      kv.emplace_back(k, Join(t, ", "));
    }
  }
  if (vm.contains("rightsize") && vm["rightsize"].is_object()) {
    kv.emplace_back("rightsize", vm["rightsize"].dump());
  }
  if (vm.contains("rightsizing") && vm["rightsizing"].is_object()) {
    const json& rs = vm["rightsizing"];
    if (rs.contains("usage")) kv.emplace_back("usage", rs["usage"].dump());
    // Why each right-sized resource has its size: the controller's latest recommendation.
    for (const char* k : {"cpu_milli", "memory_mib", "gpu_memory_mib"}) {
      if (!rs.contains(k) || !rs[k].is_object()) continue;
      const json& r = rs[k];
      kv.emplace_back(std::string("why ") + k, Str(r, "reason", "-") + " [" +
                                                   Str(r, "outcome", "-") + ", " +
                                                   TimeOf(r, "time_unix_ms") + "]");
    }
  }
  kv.emplace_back("created", TimeOf(vm, "created_unix_ms"));
  kv.emplace_back("updated", TimeOf(vm, "updated_unix_ms"));
  PrintBlock(kv);
}

// Takes every --`flag` out of `args` and parses each value into `out` (a JSON array).
Status TakeDeviceFlags(std::vector<std::string>& args, const std::string& flag,
                       Result<json> (*parse)(const std::string&), json& out) {
  for (const std::string& v : TakeRepeated(args, flag)) {
    DS_ASSIGN_OR_RETURN(json item, parse(v));
    out.push_back(std::move(item));
  }
  return Status::Ok();
}

int VmCreate(const std::vector<std::string>& raw) {
  const std::string cmd = "vm create";
  std::vector<std::string> args = raw;
  std::vector<std::string> models;
  for (const std::string& v : TakeRepeated(args, "gpu-model")) {
    Result<std::vector<std::string>> list = ParseList(v, "gpu-model");
    if (!list.ok()) return Usage(cmd, list.status().message());
    models.insert(models.end(), list->begin(), list->end());
  }
  json nics = json::array(), volumes = json::array(), gpu_flag = json::array();
  Status st = TakeDeviceFlags(args, "nic", ParseCreateNicFlag, nics);
  if (st.ok()) st = TakeDeviceFlags(args, "volume", ParseCreateVolumeFlag, volumes);
  if (st.ok()) st = TakeDeviceFlags(args, "gpu", ParseCreateGpuFlag, gpu_flag);
  if (!st.ok()) return Usage(cmd, st.message());
  if (gpu_flag.size() > 1) return Usage(cmd, "--gpu: given twice (one GPU request per VM)");
  Result<Parsed> p =
      ParseArgs(args,
                {"name", "cpu-milli", "memory-mib", "gpu-count", "gpu-milli", "gpu-profile",
                 "gpu-memory", "gpu-vgpu", "cpu-weight", "cpu-cap-pct", "isolation-floor",
                 "anti-affinity-group", "policy", "idempotency-key", "image", "ssh-key-file"},
                {}, 0, "");
  if (!p.ok()) return Usage(cmd, p.status().message());
  const Flags& f = p->flags;
  for (const char* required : {"name", "cpu-milli", "memory-mib"}) {
    if (!f.Has(required)) return Usage(cmd, std::string("--") + required + " is required");
  }
  // Ranges are the server's to check (its messages name the field); here only integers.
  constexpr int64_t kLo = INT64_MIN, kHi = INT64_MAX;
  // Copies integer flags into `dst` under their field names; an absent flag is 0 when `always`,
  // else left out.
  auto put_ints = [&](json& dst, std::initializer_list<std::pair<const char*, const char*>> fields,
                      bool always) -> Status {
    for (const auto& [flag, field] : fields) {
      if (!always && !f.Has(flag)) continue;
      Result<int64_t> v = f.GetInt(flag, 0, kLo, kHi);
      if (!v.ok()) return v.status();
      dst[field] = *v;
    }
    return Status::Ok();
  };
  json body = {{"name", f.Get("name")}};
  st = put_ints(body, {{"cpu-milli", "cpu_milli"}, {"memory-mib", "memory_mib"}}, true);
  if (!st.ok()) return Usage(cmd, st.message());
  const bool gpu_flags = f.Has("gpu-count") || f.Has("gpu-milli") || f.Has("gpu-profile") ||
                         f.Has("gpu-memory") || f.Has("gpu-vgpu") || !models.empty();
  if (!gpu_flag.empty() && gpu_flags) {
    return Usage(cmd, "--gpu: give the GPU either as --gpu k=v,... or with the --gpu-* flags");
  }
  if (!gpu_flag.empty()) body["gpu"] = gpu_flag[0];
  if (gpu_flags) {
    json gpu = json::object();
    st = put_ints(gpu, {{"gpu-count", "count"}, {"gpu-milli", "milli"}}, false);
    if (!st.ok()) return Usage(cmd, st.message());
    if (f.Has("gpu-memory")) {
      Result<int64_t> mib = ParseMemoryMib(f.Get("gpu-memory"), "--gpu-memory");
      if (!mib.ok()) return Usage(cmd, mib.status().message());
      gpu["memory_mib"] = *mib;
    }
    if (f.Has("gpu-profile")) gpu["profile"] = f.Get("gpu-profile");
    if (f.Has("gpu-vgpu")) gpu["vgpu"] = f.Get("gpu-vgpu");
    if (!models.empty()) gpu["models"] = models;
    body["gpu"] = gpu;
  }
  if (f.Has("cpu-weight") || f.Has("cpu-cap-pct")) {
    json qos = json::object();
    st = put_ints(qos, {{"cpu-weight", "cpu_weight"}, {"cpu-cap-pct", "cpu_cap_pct"}}, false);
    if (!st.ok()) return Usage(cmd, st.message());
    body["qos"] = qos;
  }
  for (const auto& [flag, field] : {std::pair{"isolation-floor", "isolation_floor"},
                                    std::pair{"anti-affinity-group", "anti_affinity_group"},
                                    std::pair{"policy", "policy"}, std::pair{"image", "image"}}) {
    if (f.Has(flag)) body[field] = f.Get(flag);
  }
  if (f.Has("ssh-key-file")) {
    std::ifstream in(f.Get("ssh-key-file"));
    std::string key;
    if (!in || !std::getline(in, key)) {
      return Usage(cmd, "--ssh-key-file: cannot read " + f.Get("ssh-key-file"));
    }
    body["ssh_key"] = key;
  }
  if (!nics.empty()) body["nics"] = nics;
  if (!volumes.empty()) body["volumes"] = volumes;
  return Finish(cmd, *p, p->api.CreateVm(body, f.Get("idempotency-key")), PrintVm);
}

int VmList(const std::vector<std::string>& args) {
  Result<Parsed> p = ParseArgs(args, {}, {}, 0, "");
  if (!p.ok()) return Usage("vm list", p.status().message());
  return Finish("vm list", *p, p->api.ListVms(), [](const json& doc) {
    std::vector<std::vector<std::string>> rows;
    for (const json& vm : doc.value("vms", json::array())) {
      rows.push_back({Str(vm, "id"), Str(vm, "name"), Str(vm, "host"), Str(vm, "state"),
                      std::to_string(Int(vm, "cpu_milli")), std::to_string(Int(vm, "memory_mib")),
                      GpuSummary(vm), DevicesSummary(vm)});
    }
    PrintTable({"ID", "NAME", "HOST", "STATE", "CPU(m)", "MEM(MiB)", "GPU", "DEVICES"},
               {false, false, false, false, true, true, false, false}, rows);
  });
}

int VmShowOrDelete(const std::string& verb, const std::vector<std::string>& args) {
  const std::string cmd = "vm " + verb;
  Result<Parsed> p = ParseArgs(
      args, {}, verb == "delete" ? std::set<std::string>{"force"} : std::set<std::string>{}, 1,
      "the VM id");
  if (!p.ok()) return Usage(cmd, p.status().message());
  const std::string& id = p->positionals[0];
  if (verb == "show") return Finish(cmd, *p, p->api.GetVm(id), PrintVm);
  return Finish(cmd, *p, p->api.DeleteVm(id, p->flags.Has("force")), [](const json& doc) {
    if (doc.value("deleted", false)) {
      std::printf("deleted %s\n", Str(doc, "id").c_str());
    } else {
      std::printf("deleting %s (its host's agent removes the guest, then it is gone)\n",
                  Str(doc, "id").c_str());
    }
  });
}

int VmResize(const std::vector<std::string>& raw) {
  const std::string cmd = "vm resize";
  std::vector<std::string> args = raw;
  json volumes = json::array(), nics = json::array();
  Status st = TakeDeviceFlags(args, "volume", ParseResizeVolumeFlag, volumes);
  if (st.ok()) st = TakeDeviceFlags(args, "nic", ParseResizeNicFlag, nics);
  if (!st.ok()) return Usage(cmd, st.message());
  Result<Parsed> p =
      ParseArgs(args, {"cpu-milli", "memory-mib", "gpu-milli", "gpu-memory", "idempotency-key"},
                {"move"}, 1, "the VM id");
  if (!p.ok()) return Usage(cmd, p.status().message());
  json body = json::object();
  for (const auto& [flag, field] :
       {std::pair{"cpu-milli", "cpu_milli"}, std::pair{"memory-mib", "memory_mib"},
        std::pair{"gpu-milli", "gpu_milli"}}) {
    if (!p->flags.Has(flag)) continue;
    Result<int64_t> v = p->flags.GetInt(flag, 0, INT64_MIN, INT64_MAX);
    if (!v.ok()) return Usage(cmd, v.status().message());
    body[field] = *v;
  }
  if (p->flags.Has("gpu-memory")) {
    Result<int64_t> mib = ParseMemoryMib(p->flags.Get("gpu-memory"), "--gpu-memory");
    if (!mib.ok()) return Usage(cmd, mib.status().message());
    body["gpu_memory_mib"] = *mib;
  }
  if (!volumes.empty()) body["volumes"] = volumes;
  if (!nics.empty()) body["nics"] = nics;
  if (body.empty()) {
    return Usage(cmd,
                 "give at least one of --cpu-milli, --memory-mib, --gpu-milli, --gpu-memory, "
                 "--volume, --nic");
  }
  if (p->flags.Has("move")) {
    if (!body.contains("gpu_milli") && !body.contains("gpu_memory_mib")) {
      return Usage(cmd, "--move moves a GPU share: give --gpu-memory or --gpu-milli with it");
    }
    body["move"] = true;
  }
  return Finish(cmd, *p, p->api.ResizeVm(p->positionals[0], body, p->flags.Get("idempotency-key")),
                PrintVm);
}

}  // namespace

int RunVm(const std::vector<std::string>& args) {
  auto show_or_delete = [](const std::string& verb) {
    return [verb](const std::vector<std::string>& rest) { return VmShowOrDelete(verb, rest); };
  };
  return Dispatch(
      "vm", kVmHelp,
      {{"create", VmCreate},
       {"list", VmList},
       {"show", show_or_delete("show")},
       {"delete", show_or_delete("delete")},
       {"resize", VmResize},
       {"start", [](const std::vector<std::string>& a) { return VmPower("start", a); }},
       {"stop", [](const std::vector<std::string>& a) { return VmPower("stop", a); }},
       {"reboot", [](const std::vector<std::string>& a) { return VmPower("reboot", a); }},
       {"console", VmConsole}},
      args);
}

}  // namespace devshare::cli::client
