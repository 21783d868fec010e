// HostAgent::Usage: a running guest's usage for the heartbeat (libvirt domain stats, the CPU cap
// in force, the GPU figures of the per-VM usage file).
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "devshare/host/host_agent.h"

namespace devshare::host {

std::string HostAgent::GpuUsagePath(const std::string& vm_id) const {
  const RealizationContext ctx = context();
  return ctx.runtime_dir + "/usage/" + DomainName(vm_id) + ".json";
}

Result<GuestUsage> HostAgent::Usage(const std::string& vm_id) {
  const std::string name = DomainName(vm_id);
  GuestUsage out;
  DS_ASSIGN_OR_RETURN(out.stats, hypervisor_->Stats(name));
  Result<DomainCpuInfo> cpu = hypervisor_->CpuInfo(name);
  if (cpu.ok() && cpu->tune.quota_us > 0) {
    const int64_t period = cpu->tune.period_us > 0 ? cpu->tune.period_us : 100000;
    out.cpu_cap_milli = cpu->vcpus * cpu->tune.quota_us * 1000 / period;
  }
  std::ifstream in(GpuUsagePath(vm_id));
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    const nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_object()) {
      auto mem = j.find("gpu_memory_mib");
      if (mem != j.end() && mem->is_number() && mem->get<double>() >= 0) {
        out.gpu_memory_mib = static_cast<int64_t>(mem->get<double>());
      }
      auto busy = j.find("gpu_busy_pct");
      if (busy != j.end() && busy->is_number() && busy->get<double>() >= 0 &&
          busy->get<double>() <= 100) {
        out.gpu_busy_pct = busy->get<double>();
      }
    }
  }
  return out;
}

}  // namespace devshare::host
