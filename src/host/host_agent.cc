// HostAgent: realization calls with rollback and failure memory, guest files, power, console.
#include "devshare/host/host_agent.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "devshare/host/guest_disks.h"

namespace devshare::host {
namespace {

namespace fs = std::filesystem;

void RemoveFile(const std::string& path) {
  std::error_code ec;
  if (!path.empty()) fs::remove(path, ec);
}

}  // namespace

HostAgent::HostAgent(std::unique_ptr<Hypervisor> hypervisor, RealizationContext context)
    : hypervisor_(std::move(hypervisor)), context_(std::move(context)) {
  context_.domain_type = hypervisor_->domain_type();
  context_.runtime_dir = AbsolutePath(context_.runtime_dir);
  SetNetworking(HostNetworking::kAuto);
}

void HostAgent::SetNetworking(HostNetworking mode, std::unique_ptr<CommandRunner> runner) {
  networking_ = mode == HostNetworking::kOn ||
                (mode == HostNetworking::kAuto && context_.domain_type != "test");
  runner_ = runner ? std::move(runner) : std::make_unique<PosixCommandRunner>();
}

RealizationContext HostAgent::context() const {
  std::lock_guard<std::mutex> lock(mu_);
  return context_;
}

std::vector<std::string> HostAgent::notes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return notes_;
}

void HostAgent::AddNote(const std::string& note) {
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(notes_.begin(), notes_.end(), note) == notes_.end()) notes_.push_back(note);
}

void HostAgent::SetHost(Host host) {
  std::lock_guard<std::mutex> lock(mu_);
  context_.host = std::move(host);
}

std::string HostAgent::DomainName(const std::string& vm_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return DomainNameForVm(context_.domain_prefix, vm_id);
}

std::string HostAgent::ConsoleLogPath(const std::string& vm_id) const {
  return GuestFilePaths(context(), vm_id).console_log;
}

RealizationContext HostAgent::ResolvedContext() {
  RealizationContext ctx = context();
  if (!ctx.network.empty()) return ctx;
  ctx.network = std::string(kUserNetwork);
  AddNote(
      "guests without a tenant NIC get user-mode networking (<interface type='user'>: per-VM "
      "NAT, guest 10.0.2.15, not reachable from the host); libvirt's shared 'default' network "
      "is never used, guests of different tenants there could talk to each other");
  return ctx;
}

Result<DomainStatus> HostAgent::Realize(const GuestRequest& request) {
  const bool real_guest = !request.boot.kind.empty();
  const RealizationContext ctx = real_guest ? ResolvedContext() : context();
  auto fail = [&](const Status& s) -> Status {
    std::lock_guard<std::mutex> lock(mu_);
    failed_[request.vm_id] = s.message();
    return s;
  };
  Result<DomainSpec> spec = PlanDomain(request, ctx);
  if (!spec.ok()) return fail(spec.status());
  // A domain of that name already exists (a retry, or a VM realized before a restart): not a
  // failure of this VM, and its files stay as they are.
  if (hypervisor_->State(spec->name).ok()) {
    return Status::AlreadyExists("libvirt already has a domain named " + spec->name);
  }
  const GuestFiles files = GuestFilePaths(ctx, request.vm_id);
  std::vector<std::string> made;  // files this call created, removed again on failure
  auto undo = [&] {
    for (const std::string& f : made) RemoveFile(f);
  };
  if (real_guest) {
    std::error_code ec;
    if (!fs::exists(files.disk, ec)) {
      Status disk = request.boot.kind == "disk"
                        ? CreateOverlay(AbsolutePath(request.boot.file), files.disk)
                        : CreateScratchDisk(files.disk, kScratchDiskBytes);
      if (!disk.ok()) return fail(disk);
      made.push_back(files.disk);
    }
    Result<NoCloudSeed> seed = BuildNoCloudSeed(request);
    Status wrote = seed.ok() ? WriteSeedIso(*seed, files.seed) : seed.status();
    if (!wrote.ok()) {
      undo();
      return fail(wrote);
    }
    made.push_back(files.seed);
    fs::create_directories(fs::path(files.console_log).parent_path(), ec);
    if (ec) {
      undo();
      return fail(Status::Unavailable("cannot create the console folder of " + files.console_log +
                                      ": " + ec.message()));
    }
    if (!fs::exists(files.console_log, ec)) made.push_back(files.console_log);
  } else if (ctx.image == GuestImage::kSpin && !spec->disks.empty()) {
    const fs::path path(spec->disks.front().source_path);
    Result<std::string> img = WriteSpinImage(path.parent_path().string(), path.filename().string());
    if (!img.ok()) return fail(img.status());
    made.push_back(*img);
  }
  Result<std::vector<VolumePlan>> volumes = PlanVolumes(request, ctx);
  if (!volumes.ok()) {
    undo();
    return fail(volumes.status());
  }
  auto unexport = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    if (volumes_ == nullptr) return;
    for (const VolumePlan& v : *volumes) {
      if (!v.disk.nbd_socket.empty()) (void)volumes_->Remove(v.export_name);
    }
  };
  Status prepared = PrepareVolumes(*volumes, &made);
  if (prepared.ok()) prepared = WriteVolumeRecord(ctx, request.vm_id, *volumes);
  if (!prepared.ok()) {
    unexport();
    undo();
    return fail(prepared);
  }
  Status started = SetUpNetwork(ctx, request);
  if (started.ok()) started = hypervisor_->DefineAndStart(BuildDomainXml(*spec));
  // The taps exist now: route what the guest sends through its host NIC's HTB.
  if (started.ok()) {
    started = StartNetwork(ctx, request.vm_id);
    if (!started.ok()) (void)hypervisor_->DestroyAndUndefine(spec->name);
  }
  if (!started.ok()) {
    // Defined meanwhile: the files are now that domain's.
    if (started.code() == StatusCode::kAlreadyExists) return started;
    TearDownNetwork(ctx, request.vm_id);
    unexport();
    undo();
    std::error_code ec;
    fs::remove(VolumeRecordPath(ctx, request.vm_id), ec);
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
  Status s = hypervisor_->DestroyAndUndefine(DomainNameForVm(ctx.domain_prefix, vm_id));
  if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  const GuestFiles files = GuestFilePaths(ctx, vm_id);
  for (const std::string& f : {files.spin_image, files.disk, files.seed, files.console_log}) {
    RemoveFile(f);
  }
  ReleaseVolumes(ctx, vm_id);
  TearDownNetwork(ctx, vm_id);
  std::lock_guard<std::mutex> lock(mu_);
  failed_.erase(vm_id);
  return Status::Ok();
}

Status HostAgent::Start(const std::string& vm_id) {
  Status s = hypervisor_->Start(DomainName(vm_id));
  if (s.ok()) s = StartNetwork(context(), vm_id);  // new taps on every start
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    failed_.erase(vm_id);
  }
  return s;
}

Status HostAgent::Stop(const std::string& vm_id) { return hypervisor_->Stop(DomainName(vm_id)); }

Status HostAgent::Reboot(const std::string& vm_id) {
  const std::string name = DomainName(vm_id);
  DS_ASSIGN_OR_RETURN(DomainStatus st, hypervisor_->State(name));
  if (st.state != DomainState::kRunning) return Start(vm_id);
  return hypervisor_->Reset(name);
}

Result<std::string> HostAgent::ReadConsole(const std::string& vm_id, int64_t offset,
                                           int64_t max_bytes) {
  if (offset < 0 || max_bytes <= 0) {
    return Status::InvalidArgument("ReadConsole: offset must be >= 0 and max_bytes > 0");
  }
  const std::string path = ConsoleLogPath(vm_id);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("VM " + vm_id + " has no console log (" + path + ")");
  in.seekg(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(in.tellg());
  if (offset >= size) return std::string();
  const int64_t n = std::min(max_bytes, size - offset);
  std::string out(static_cast<size_t>(n), '\0');
  in.seekg(offset);
  in.read(out.data(), n);
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
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
  DS_RETURN_IF_ERROR(UpdateVolumes(ctx, request, spec, &out.notes));
  // Also how a restarted agent adopts running guests: their network is set up again (idempotent).
  DS_RETURN_IF_ERROR(SetUpNetwork(ctx, request));
  if (running) DS_RETURN_IF_ERROR(StartNetwork(ctx, request.vm_id));
  Result<DomainCpuInfo> info = hypervisor_->CpuInfo(spec.name);
  if (info.ok() && info->vcpus != spec.vcpus) {
    out.notes.push_back("vCPU count stays " + std::to_string(info->vcpus) + " (wanted " +
                        std::to_string(spec.vcpus) + ") until the VM is recreated");
  }
  return out;
}

Result<DomainStatus> HostAgent::State(const std::string& vm_id) {
  const std::string name = DomainName(vm_id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = failed_.find(vm_id);
    if (it != failed_.end()) return DomainStatus{name, DomainState::kFailed, it->second};
  }
  return hypervisor_->State(name);
}

Result<std::vector<DomainStatus>> HostAgent::OwnDomains(std::vector<std::string>* ids) {
  const std::string prefix = context().domain_prefix;
  DS_ASSIGN_OR_RETURN(std::vector<DomainStatus> domains, hypervisor_->ListDomains());
  std::vector<DomainStatus> own;
  for (DomainStatus& d : domains) {
    std::optional<std::string> vm = VmIdFromDomainName(prefix, d.name);
    if (!vm) continue;
    Result<std::string> xml = hypervisor_->DomainXml(d.name);
    if (!xml.ok()) continue;                 // vanished meanwhile
    if (MetadataVmId(*xml) != vm) continue;  // another agent's (longer prefix) or not devshare's
    ids->push_back(*vm);
    own.push_back(std::move(d));
  }
  return own;
}

Result<std::vector<std::string>> HostAgent::ListVmIds() {
  std::vector<std::string> ids;
  DS_RETURN_IF_ERROR(OwnDomains(&ids).status());
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<ReconcileReport> HostAgent::Reconcile(const std::vector<std::string>& ledger_vm_ids) {
  std::vector<std::string> ids;
  DS_ASSIGN_OR_RETURN(std::vector<DomainStatus> domains, OwnDomains(&ids));
  const std::set<std::string> ledger(ledger_vm_ids.begin(), ledger_vm_ids.end());
  ReconcileReport r;
  std::set<std::string> present;
  for (size_t i = 0; i < domains.size(); ++i) {
    const std::string& vm = ids[i];
    present.insert(vm);
    if (!ledger.count(vm)) {
      r.orphans.push_back(vm);
    } else if (domains[i].state != DomainState::kRunning) {
      r.not_running.push_back(domains[i]);
    }
  }
  for (const std::string& vm : ledger) {
    if (!present.count(vm)) r.missing.push_back(vm);
  }
  return r;
}

}  // namespace devshare::host
