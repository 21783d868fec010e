// HostAgent, tenant networks and VF settings: the per-VM record of its ports and VFs
// (<runtime_dir>/network/<domain>.json), applying PlanTenantNetwork's setup / post-start /
// teardown and PlanVfSettings' PF commands (reset on remove) through the CommandRunner.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "devshare/core/atomic_file.h"
#include "devshare/host/host_agent.h"
#include "devshare/host/vf_settings.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

nlohmann::json PortJson(const TenantPort& p) {
  return {{"domain", p.domain},
          {"nic_index", p.nic_index},
          {"network_id", p.network_id},
          {"segment_id", p.segment_id},
          {"mac", p.mac},
          {"address", p.address},
          {"ip", p.ip},
          {"tap", p.tap},
          {"bridge", p.bridge},
          {"host_nic", p.host_nic},
          {"ifb", p.ifb},
          {"line_rate_mbps", p.line_rate_mbps},
          {"min_mbps", p.min_mbps},
          {"max_mbps", p.max_mbps},
          {"class_minor", p.class_minor}};
}

// What PlanVfSettings gave (the commands are planned again from it: VfResetCommands).
nlohmann::json VfJson(const VfPfSettings& v) {
  return {{"device_id", v.device_id}, {"pf_address", v.pf_address}, {"pf_netdev", v.pf_netdev},
          {"vf_index", v.vf_index},   {"vf_address", v.vf_address}, {"min_mbps", v.min_mbps},
          {"max_mbps", v.max_mbps}};
}

// A VM's record: its tenant ports and the VFs whose PF settings were applied.
struct NetRecord {
  std::vector<TenantPort> ports;
  std::vector<VfPfSettings> vfs;
};

NetRecord ReadRecord(const std::string& path) {
  NetRecord out;
  std::ifstream in(path);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) return out;
  if (j.contains("vfs") && j["vfs"].is_array()) {
    for (const nlohmann::json& v : j["vfs"]) {
      if (!v.is_object()) continue;
      VfPfSettings f;
      f.device_id = v.value("device_id", "");
      f.pf_address = v.value("pf_address", "");
      f.pf_netdev = v.value("pf_netdev", "");
      f.vf_index = v.value("vf_index", -1);
      f.vf_address = v.value("vf_address", "");
      f.min_mbps = v.value("min_mbps", int64_t{0});
      f.max_mbps = v.value("max_mbps", int64_t{0});
      if (!f.pf_netdev.empty() && f.vf_index >= 0) out.vfs.push_back(std::move(f));
    }
  }
  if (!j.contains("ports") || !j["ports"].is_array()) return out;
  for (const nlohmann::json& v : j["ports"]) {
    if (!v.is_object()) continue;
    TenantPort p;
    p.domain = v.value("domain", "");
    p.nic_index = v.value("nic_index", 0);
    p.network_id = v.value("network_id", "");
    p.segment_id = v.value("segment_id", int64_t{0});
    p.mac = v.value("mac", "");
    p.address = v.value("address", "");
    p.ip = v.value("ip", "");
    p.tap = v.value("tap", "");
    p.bridge = v.value("bridge", "");
    p.host_nic = v.value("host_nic", "");
    p.ifb = v.value("ifb", "");
    p.line_rate_mbps = v.value("line_rate_mbps", int64_t{0});
    p.min_mbps = v.value("min_mbps", int64_t{0});
    p.max_mbps = v.value("max_mbps", int64_t{0});
    p.class_minor = v.value("class_minor", 0);
    if (!p.tap.empty()) out.ports.push_back(std::move(p));
  }
  return out;
}

std::vector<TenantPort> ReadPorts(const std::string& path) { return ReadRecord(path).ports; }

bool SameVf(const VfPfSettings& a, const VfPfSettings& b) {
  return a.pf_netdev == b.pf_netdev && a.vf_index == b.vf_index;
}

// "VF 3 of nic0 (PF 0000:3b:00.0, netdev ens1f0np0)": how messages name a VF and its PF.
std::string VfName(const VfPfSettings& v) {
  return "VF " + std::to_string(v.vf_index) + " of " + v.device_id + " (PF " + v.pf_address +
         ", netdev " + v.pf_netdev + ")";
}

// Resets each VF's rates; failures are ignored (the VF may be gone with its PF).
void ResetVfs(CommandRunner& runner, const std::vector<VfPfSettings>& vfs) {
  for (const VfPfSettings& v : vfs) {
    for (const Argv& argv : VfResetCommands(v)) (void)runner.Run(argv);
  }
}

}  // namespace

std::string HostAgent::NetworkRecordPath(const RealizationContext& ctx,
                                         const std::string& vm_id) const {
  return ctx.runtime_dir + "/network/" + DomainNameForVm(ctx.domain_prefix, vm_id) + ".json";
}

std::vector<TenantPort> HostAgent::OtherPorts(const RealizationContext& ctx,
                                              const std::string& vm_id) const {
  std::vector<TenantPort> out;
  const std::string own = NetworkRecordPath(ctx, vm_id);
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(ctx.runtime_dir + "/network", ec)) {
    if (e.path().extension() != ".json" || e.path().string() == own) continue;
    std::vector<TenantPort> ports = ReadPorts(e.path().string());
    out.insert(out.end(), ports.begin(), ports.end());
  }
  return out;
}

Status HostAgent::SetUpNetwork(const RealizationContext& ctx, const GuestRequest& request) {
  if (!networking_) return Status::Ok();
  std::lock_guard<std::mutex> lock(net_mu_);
  // The VFs' PFs are checked first: a PF that is gone or changed fails the VM before any
  // command runs.
  Result<std::vector<VfPfSettings>> vfs =
      PlanVfSettings(request.allocation.nics, ctx.host, ctx.sysfs_root);
  if (!vfs.ok()) {
    return Status(vfs.status().code(),
                  "VM " + request.vm_id + ": VF settings: " + vfs.status().message());
  }
  const std::vector<TenantPort> others = OtherPorts(ctx, request.vm_id);
  DS_ASSIGN_OR_RETURN(
      std::vector<TenantPort> ports,
      PlanTenantPorts(ctx.tenant_net, DomainNameForVm(ctx.domain_prefix, request.vm_id),
                      request.allocation, ctx.host, others));
  const std::string path = NetworkRecordPath(ctx, request.vm_id);
  const NetRecord before = ReadRecord(path);
  if (ports.empty() && vfs->empty() && before.ports.empty() && before.vfs.empty()) {
    return Status::Ok();
  }
  // Ports and VFs the VM no longer has (an update dropped a NIC) go first.
  std::vector<TenantPort> gone;
  for (const TenantPort& b : before.ports) {
    bool kept = false;
    for (const TenantPort& p : ports) kept = kept || p.tap == b.tap;
    if (!kept) gone.push_back(b);
  }
  if (!gone.empty()) {
    std::vector<TenantPort> rest = others;
    rest.insert(rest.end(), ports.begin(), ports.end());
    DS_ASSIGN_OR_RETURN(NetPlan down, PlanTenantNetwork(ctx.tenant_net, gone, rest));
    DS_RETURN_IF_ERROR(ApplyNetCommands(*runner_, down.teardown));
  }
  std::vector<VfPfSettings> gone_vfs;
  for (const VfPfSettings& b : before.vfs) {
    bool kept = false;
    for (const VfPfSettings& v : *vfs) kept = kept || SameVf(v, b);
    if (!kept) gone_vfs.push_back(b);
  }
  ResetVfs(*runner_, gone_vfs);
  if (ports.empty() && vfs->empty()) {
    std::error_code ec;
    fs::remove(path, ec);
    return Status::Ok();
  }
  // Recorded first, so a failed setup is still torn down (and the VFs reset) by Remove.
  nlohmann::json port_list = nlohmann::json::array();
  for (const TenantPort& p : ports) port_list.push_back(PortJson(p));
  nlohmann::json vf_list = nlohmann::json::array();
  for (const VfPfSettings& v : *vfs) vf_list.push_back(VfJson(v));
  std::error_code ec;
  fs::create_directories(ctx.runtime_dir + "/network", ec);
  DS_RETURN_IF_ERROR(WriteFileAtomically(
      path, nlohmann::json{{"vm", request.vm_id}, {"ports", port_list}, {"vfs", vf_list}}.dump(2)));
  if (!ports.empty()) {
    DS_ASSIGN_OR_RETURN(NetPlan plan, PlanTenantNetwork(ctx.tenant_net, ports, others));
    Status s = ApplyNetCommands(*runner_, plan.setup);
    if (!s.ok()) {
      return Status::Unavailable("VM " + request.vm_id + ": network setup: " + s.message());
    }
    AddNote("tenant NICs on per-network bridges with nftables anti-spoofing (table bridge " +
            ctx.tenant_net.nft_table + ") and HTB on an IFB per host NIC");
  }
  for (const VfPfSettings& v : *vfs) {
    for (const Argv& argv : v.commands) {
      Status s = runner_->Run(argv);
      if (!s.ok()) {
        return Status::Unavailable("VM " + request.vm_id + ": " + VfName(v) + ": " + s.message());
      }
    }
  }
  if (!vfs->empty()) {
    AddNote(
        "VF NICs: transmit rate floor / cap and spoof checking set on their PF (ip link set PF "
        "vf N), rates reset when the VM is removed");
  }
  return Status::Ok();
}

Status HostAgent::StartNetwork(const RealizationContext& ctx, const std::string& vm_id) {
  if (!networking_) return Status::Ok();
  std::lock_guard<std::mutex> lock(net_mu_);
  const std::vector<TenantPort> ports = ReadPorts(NetworkRecordPath(ctx, vm_id));
  if (ports.empty()) return Status::Ok();
  DS_ASSIGN_OR_RETURN(NetPlan plan,
                      PlanTenantNetwork(ctx.tenant_net, ports, OtherPorts(ctx, vm_id)));
  Status s = ApplyNetCommands(*runner_, plan.post_start);
  if (!s.ok()) return Status::Unavailable("VM " + vm_id + ": tap redirect: " + s.message());
  return Status::Ok();
}

void HostAgent::TearDownNetwork(const RealizationContext& ctx, const std::string& vm_id) {
  if (!networking_) return;
  std::lock_guard<std::mutex> lock(net_mu_);
  const std::string path = NetworkRecordPath(ctx, vm_id);
  const NetRecord record = ReadRecord(path);
  if (!record.ports.empty()) {
    Result<NetPlan> plan = PlanTenantNetwork(ctx.tenant_net, record.ports, OtherPorts(ctx, vm_id));
    if (plan.ok()) (void)ApplyNetCommands(*runner_, plan->teardown);  // every step may_fail
  }
  // The next VM on these VFs starts at line rate.
  ResetVfs(*runner_, record.vfs);
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace devshare::host
