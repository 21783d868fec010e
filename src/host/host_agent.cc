// HostAgent: realization calls with rollback and failure memory.
#include "devshare/host/host_agent.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

namespace devshare::host {

HostAgent::HostAgent(std::unique_ptr<Hypervisor> hypervisor, RealizationContext context)
    : hypervisor_(std::move(hypervisor)), context_(std::move(context)) {
  context_.domain_type = hypervisor_->domain_type();
}

RealizationContext HostAgent::context() const {
  std::lock_guard<std::mutex> lock(mu_);
  return context_;
}

void HostAgent::SetHost(Host host) {
  std::lock_guard<std::mutex> lock(mu_);
  context_.host = std::move(host);
}

std::string HostAgent::ImagePath(const RealizationContext& ctx, const std::string& vm_id) const {
  return (std::filesystem::path(ctx.runtime_dir) / "images" / (DomainNameForVm(vm_id) + ".img"))
      .string();
}

Result<DomainStatus> HostAgent::Realize(const GuestRequest& request) {
  const RealizationContext ctx = context();
  auto fail = [&](const Status& s) -> Status {
    std::lock_guard<std::mutex> lock(mu_);
    failed_[request.vm_id] = s.message();
    return s;
  };
  Result<DomainSpec> spec = PlanDomain(request, ctx);
  if (!spec.ok()) return fail(spec.status());
  // A domain of that name already exists (a retry, or a VM realized before a restart): not a
  // failure of this VM, and its image stays as it is.
  if (hypervisor_->State(spec->name).ok()) {
    return Status::AlreadyExists("libvirt already has a domain named " + spec->name);
  }
  bool wrote_image = false;
  if (ctx.image == GuestImage::kSpin && !spec->disks.empty()) {
    const std::filesystem::path path(spec->disks.front().source_path);
    Result<std::string> img = WriteSpinImage(path.parent_path().string(), path.filename().string());
    if (!img.ok()) return fail(img.status());
    wrote_image = true;
  }
  Status started = hypervisor_->DefineAndStart(BuildDomainXml(*spec));
  if (!started.ok()) {
    if (started.code() == StatusCode::kAlreadyExists) return started;  // defined meanwhile
    if (wrote_image) {
      std::error_code ec;
      std::filesystem::remove(spec->disks.front().source_path, ec);
    }
    return fail(started);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed_.erase(request.vm_id);
  }
  return hypervisor_->State(spec->name);
}

Status HostAgent::Remove(const std::string& vm_id) {
  const RealizationContext ctx = context();
  Status s = hypervisor_->DestroyAndUndefine(DomainNameForVm(vm_id));
  if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  std::error_code ec;
  std::filesystem::remove(ImagePath(ctx, vm_id), ec);
  std::lock_guard<std::mutex> lock(mu_);
  failed_.erase(vm_id);
  return Status::Ok();
}

Result<ResizeOutcome> HostAgent::Update(const GuestRequest& request) {
  const RealizationContext ctx = context();
  DS_ASSIGN_OR_RETURN(DomainSpec spec, PlanDomain(request, ctx));
  DS_ASSIGN_OR_RETURN(DomainStatus st, hypervisor_->State(spec.name));
  const bool running = st.state == DomainState::kRunning;
  ResizeOutcome out;
  DS_RETURN_IF_ERROR(hypervisor_->SetCpuTune(spec.name, spec.cputune));
  out.cpu_live = running;
  DS_ASSIGN_OR_RETURN(bool memory_live, hypervisor_->SetMemory(spec.name, spec.memory_mib));
  out.memory_live = memory_live && running;
  if (!out.memory_live) {
    out.notes.push_back("memory " + std::to_string(spec.memory_mib) +
                        " MiB applies at the next start of " + spec.name);
  }
  Result<DomainCpuInfo> info = hypervisor_->CpuInfo(spec.name);
  if (info.ok() && info->vcpus != spec.vcpus) {
    out.notes.push_back("vCPU count stays " + std::to_string(info->vcpus) + " (wanted " +
                        std::to_string(spec.vcpus) + ") until the VM is recreated");
  }
  return out;
}

Result<DomainStatus> HostAgent::State(const std::string& vm_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = failed_.find(vm_id);
    if (it != failed_.end()) {
      return DomainStatus{DomainNameForVm(vm_id), DomainState::kFailed, it->second};
    }
  }
  return hypervisor_->State(DomainNameForVm(vm_id));
}

Result<ReconcileReport> HostAgent::Reconcile(const std::vector<std::string>& ledger_vm_ids) {
  DS_ASSIGN_OR_RETURN(std::vector<DomainStatus> domains, hypervisor_->ListDomains());
  const std::set<std::string> ledger(ledger_vm_ids.begin(), ledger_vm_ids.end());
  ReconcileReport r;
  std::set<std::string> present;
  for (const DomainStatus& d : domains) {
    std::optional<std::string> vm = VmIdFromDomainName(d.name);
    if (!vm) continue;  // not ours
    present.insert(*vm);
    if (!ledger.count(*vm)) {
      r.orphans.push_back(*vm);
    } else if (d.state != DomainState::kRunning) {
      r.not_running.push_back(d);
    }
  }
  for (const std::string& vm : ledger) {
    if (!present.count(vm)) r.missing.push_back(vm);
  }
  return r;
}

}  // namespace devshare::host
