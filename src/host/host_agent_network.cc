// HostAgent, tenant networks: the per-VM record of its ports (<runtime_dir>/network/<domain>.json)
// and applying PlanTenantNetwork's setup / post-start / teardown through the CommandRunner.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "devshare/core/atomic_file.h"
#include "devshare/host/host_agent.h"

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

std::vector<TenantPort> ReadPorts(const std::string& path) {
  std::vector<TenantPort> out;
  std::ifstream in(path);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object() || !j.contains("ports") || !j["ports"].is_array()) return out;
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
    if (!p.tap.empty()) out.push_back(std::move(p));
  }
  return out;
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
  const std::vector<TenantPort> others = OtherPorts(ctx, request.vm_id);
  DS_ASSIGN_OR_RETURN(
      std::vector<TenantPort> ports,
      PlanTenantPorts(ctx.tenant_net, DomainNameForVm(ctx.domain_prefix, request.vm_id),
                      request.allocation, ctx.host, others));
  const std::string path = NetworkRecordPath(ctx, request.vm_id);
  const std::vector<TenantPort> before = ReadPorts(path);
  if (ports.empty() && before.empty()) return Status::Ok();
  // Ports the VM no longer has (an update dropped a NIC) go first.
  std::vector<TenantPort> gone;
  for (const TenantPort& b : before) {
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
  if (ports.empty()) {
    std::error_code ec;
    fs::remove(path, ec);
    return Status::Ok();
  }
  // Recorded first, so a failed setup is still torn down by Remove.
  nlohmann::json list = nlohmann::json::array();
  for (const TenantPort& p : ports) list.push_back(PortJson(p));
  std::error_code ec;
  fs::create_directories(ctx.runtime_dir + "/network", ec);
  DS_RETURN_IF_ERROR(
      WriteFileAtomically(path, nlohmann::json{{"vm", request.vm_id}, {"ports", list}}.dump(2)));
  DS_ASSIGN_OR_RETURN(NetPlan plan, PlanTenantNetwork(ctx.tenant_net, ports, others));
  Status s = ApplyNetCommands(*runner_, plan.setup);
  if (!s.ok())
    return Status::Unavailable("VM " + request.vm_id + ": network setup: " + s.message());
  AddNote("tenant NICs on per-network bridges with nftables anti-spoofing (table bridge " +
          ctx.tenant_net.nft_table + ") and HTB on an IFB per host NIC");
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
  const std::vector<TenantPort> ports = ReadPorts(path);
  if (!ports.empty()) {
    Result<NetPlan> plan = PlanTenantNetwork(ctx.tenant_net, ports, OtherPorts(ctx, vm_id));
    if (plan.ok()) (void)ApplyNetCommands(*runner_, plan->teardown);  // every step may_fail
  }
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace devshare::host
