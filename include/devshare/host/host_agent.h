// HostAgent: what `devshare serve` and `devshare agent` call to realize VMs placed on their host:
// create = plan + guest files (spin image, or for a catalogue image a qcow2 overlay / scratch
// disk, a NoCloud seed and a console log) + define + start (nothing left behind on failure),
// delete = destroy + undefine + remove the files, start / stop / reboot, resize = live
// cputune/memory update, state (defined / running / failed with the error), the serial console,
// and reconcile of libvirt's domains with this agent's prefix against the ledger.
// Thread-safety: thread-safe; calls for different VMs may run concurrently (the caller must not
// run two calls for the same VM at once).
#ifndef DEVSHARE_HOST_HOST_AGENT_H_
#define DEVSHARE_HOST_HOST_AGENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/host/command_runner.h"
#include "devshare/host/hypervisor.h"
#include "devshare/host/realization.h"
#include "devshare/host/volume_server.h"

namespace devshare::host {

struct ResizeOutcome {
  bool cpu_live = false;     // cputune applied to the running guest
  bool memory_live = false;  // memory applied to the running guest (else at next start)
  std::vector<std::string> notes;
};

// One reading of a running guest's usage (HostAgent::Usage, once per heartbeat).
struct GuestUsage {
  DomainStats stats;           // CPU time and balloon statistics (libvirt domain stats)
  int64_t cpu_cap_milli = -1;  // the CPU cap in force: vCPUs x quota / period x 1000; -1 none
  // GPU figures from the per-VM usage file (GpuUsagePath), -1 without one. This is the hook
  // where NVML / DCGM readings go (nvmlDeviceGetMemoryInfo / DCGM_FI_DEV_FB_USED and
  // DCGM_FI_DEV_GPU_UTIL of the VM's devices, written by an exporter); this host has no GPUs,
  // tests write the file.
  int64_t gpu_memory_mib = -1;
  double gpu_busy_pct = -1;
};

struct ReconcileReport {
  std::vector<std::string> missing;       // ledger VMs without a domain
  std::vector<std::string> orphans;       // VM ids of this agent's domains the ledger does not know
  std::vector<DomainStatus> not_running;  // domains of ledger VMs that are not running
  bool clean() const { return missing.empty() && orphans.empty() && not_running.empty(); }
};

// Whether the agent realizes tenant networks on this host (bridges, nft, IFB/HTB, tap
// redirects): kAuto = on unless the hypervisor is libvirt's test driver (no taps, and a demo
// must not touch the host's links).
enum class HostNetworking { kAuto, kOn, kOff };

class HostAgent {
 public:
  // REQUIRES: hypervisor != nullptr. context.domain_type is overwritten with the hypervisor's;
  // context.runtime_dir is made absolute (AbsolutePath: libvirt refuses relative paths).
  HostAgent(std::unique_ptr<Hypervisor> hypervisor, RealizationContext context);

  Hypervisor& hypervisor() { return *hypervisor_; }
  RealizationContext context() const;
  // Choices made while realizing (e.g. which network the virtio NICs use), once each; for logs
  // and the agent's heartbeat.
  std::vector<std::string> notes() const;
  // Host networking mode and the runner of its commands (nullptr = PosixCommandRunner). Call
  // before the first Realize.
  void SetNetworking(HostNetworking mode, std::unique_ptr<CommandRunner> runner = nullptr);
  bool networking() const { return networking_; }
  // Replaces the host model (after registration or a PUT of this host's inventory).
  void SetHost(Host host);

  // Serves volumes on pools with devshare QoS through `server` (its socket becomes the context's
  // nbd_socket). REQUIRES: `server` outlives this agent. Without one such volumes fail to realize.
  void SetVolumeServer(VolumeServer* server);

  // The volumes this agent realized (its records under <runtime_dir>/volumes), sorted by VM
  // and name.
  struct RealizedVolume {
    std::string vm_id, name, pool, scheduler, file, export_name;
    int64_t size_bytes = 0;
  };
  std::vector<RealizedVolume> RealizedVolumes() const;

  // The domain name of `vm_id` under this agent's prefix.
  std::string DomainName(const std::string& vm_id) const;

  // Creates the VM's domain and starts it. AlreadyExists (nothing changed) when the VM's domain
  // exists. With request.boot.kind set, first creates GuestFilePaths' disk (an overlay on
  // boot.file, or a kScratchDiskBytes scratch disk; an existing disk of a domain that vanished
  // is kept, with its data) and seed. The plan's errors (unknown device, IOMMU rule, bad image),
  // file errors (missing base, qemu-img or genisoimage failing) and libvirt's define/start
  // failures are returned with nothing left in libvirt and the files this call made removed;
  // State() then answers failed with that error until Remove or a later success.
  Result<DomainStatus> Realize(const GuestRequest& request);
  // Destroys and undefines the VM's domain and removes its spin image, disk, seed and console
  // log. OK when already gone.
  Status Remove(const std::string& vm_id);
  // Starts the VM's defined domain; OK when it runs. NotFound when the VM has no domain.
  Status Start(const std::string& vm_id);
  // Powers the VM off and keeps it defined (State: defined); OK when not running. NotFound.
  Status Stop(const std::string& vm_id);
  // Hard reset of a running VM (virDomainReset); a VM that is not running is started. NotFound.
  Status Reboot(const std::string& vm_id);
  // <runtime_dir>/console/<prefix><id>.log: the serial console of a real guest.
  std::string ConsoleLogPath(const std::string& vm_id) const;
  // The console log from byte `offset`, at most max_bytes (REQUIRES offset >= 0, max_bytes > 0;
  // InvalidArgument otherwise); empty when nothing is new (or offset is past the end). NotFound
  // when the VM has no console log.
  Result<std::string> ReadConsole(const std::string& vm_id, int64_t offset, int64_t max_bytes);
  // Applies the request's QoS and memory to the existing domain, live where libvirt allows.
  // NotFound when the VM has no domain.
  Result<ResizeOutcome> Update(const GuestRequest& request);
  // The running guest's usage (host_agent_usage.cc): Hypervisor::Stats of its domain, the CPU
  // cap in force (CpuInfo) and the GPU figures of GpuUsagePath when that file exists.
  // Unavailable when the guest is not running; NotFound when the VM has no domain; a usage file
  // that does not parse is ignored (its figures stay -1).
  Result<GuestUsage> Usage(const std::string& vm_id);
  // <runtime_dir>/usage/<prefix><id>.json: {"gpu_memory_mib": N, "gpu_busy_pct": P} (either).
  std::string GpuUsagePath(const std::string& vm_id) const;
  // defined / running / failed. NotFound when the VM has no domain and no recorded failure.
  Result<DomainStatus> State(const std::string& vm_id);
  // VM ids of the domains that are this agent's: the name is <prefix><id> and the domain's
  // <devshare:vm id> metadata is that id (so "devshare-a1-vm-1" of an agent with prefix
  // "devshare-a1-" is not "a1-vm-1" of an agent with prefix "devshare-"). Sorted.
  Result<std::vector<std::string>> ListVmIds();
  // Compares this agent's domains (as ListVmIds) with `ledger_vm_ids` (VMs the ledger places on
  // this host). Changes nothing.
  Result<ReconcileReport> Reconcile(const std::vector<std::string>& ledger_vm_ids);

 private:
  // The context a realization uses: context() with network resolved ("" -> "default" when that
  // libvirt network is active, else kUserNetwork, noted once).
  RealizationContext ResolvedContext();
  void AddNote(const std::string& note);
  Result<std::vector<DomainStatus>> OwnDomains(std::vector<std::string>* ids);
  // Volumes (host_agent_volumes.cc). Each VM's realized volumes are recorded in
  // <runtime_dir>/volumes/<domain>.json (file, export, the <disk> attached), so Remove and Update
  // know them after an agent restart.
  std::string VolumeRecordPath(const RealizationContext& ctx, const std::string& vm_id) const;
  // Creates (sparse) or grows each volume's file and exports the NBD ones. Files this call
  // created are appended to `made`.
  Status PrepareVolumes(const std::vector<VolumePlan>& plans, std::vector<std::string>* made);
  Status WriteVolumeRecord(const RealizationContext& ctx, const std::string& vm_id,
                           const std::vector<VolumePlan>& plans);
  // Unexports and deletes the recorded volumes of `vm_id`, and the record.
  void ReleaseVolumes(const RealizationContext& ctx, const std::string& vm_id);
  // Brings the guest's volumes to `plans`: attaches new ones (hot-plug), detaches and deletes
  // removed ones, starts live moves for volumes whose pool changed, applies QoS and size.
  // Redefines the domain from `spec` when the driver cannot hot-plug. Notes what it did.
  Status UpdateVolumes(const RealizationContext& ctx, const GuestRequest& request,
                       const DomainSpec& spec, std::vector<std::string>* notes);

  // Tenant networks and VF settings (host_agent_network.cc). Each VM's ports and the VFs whose
  // PF settings (PlanVfSettings against ctx.sysfs_root) were applied are recorded in
  // <runtime_dir>/network/<domain>.json, so shared bridges / IFBs, HTB class ids and the VFs to
  // reset are known after an agent restart. Setup (before start; also on Update, which adopts
  // running guests) and post-start (tap redirect; after every start) are idempotent; a PF that
  // fails its sysfs check or a failing `ip link set PF vf N` fails setup naming the VM and the
  // PF. Teardown after destroy also resets the recorded VFs' rates. All off unless networking_.
  std::string NetworkRecordPath(const RealizationContext& ctx, const std::string& vm_id) const;
  std::vector<TenantPort> OtherPorts(const RealizationContext& ctx, const std::string& vm_id) const;
  Status SetUpNetwork(const RealizationContext& ctx, const GuestRequest& request);
  Status StartNetwork(const RealizationContext& ctx, const std::string& vm_id);
  void TearDownNetwork(const RealizationContext& ctx, const std::string& vm_id);

  std::unique_ptr<Hypervisor> hypervisor_;
  bool networking_ = false;                // set before use (constructor / SetNetworking)
  std::unique_ptr<CommandRunner> runner_;  // host networking commands
  std::mutex net_mu_;                      // serializes network records and commands
  mutable std::mutex mu_;
  RealizationContext context_;                 // guarded by mu_
  std::map<std::string, std::string> failed_;  // vm id -> last realization error; by mu_
  std::vector<std::string> notes_;             // by mu_
  VolumeServer* volumes_ = nullptr;            // by mu_
};

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_HOST_AGENT_H_
