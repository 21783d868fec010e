// Hypervisor: the calls the host agent makes on libvirt (define+start, destroy+undefine, start /
// power off / reset, live cputune/memory updates, list, state, CPU time, usage stats, networks),
// behind an
// interface; OpenHypervisor gives the
// libvirt implementation for any URI (test:///default in-process, qemu:///system real).
// Thread-safety: implementations are thread-safe (libvirt connections are; the object holds no
// other mutable state).
#ifndef DEVSHARE_HOST_HYPERVISOR_H_
#define DEVSHARE_HOST_HYPERVISOR_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/host/discovery.h"
#include "devshare/host/domain_xml.h"

namespace devshare::host {

enum class DomainState { kDefined, kRunning, kFailed };
std::string_view DomainStateName(DomainState s);  // "defined", "running", "failed"

struct DomainStatus {
  std::string name;
  DomainState state = DomainState::kDefined;
  std::string detail;  // libvirt's state and reason, e.g. "shutoff (failed)", "running (booted)"
};

// What qos-check needs of a domain.
struct DomainCpuInfo {
  int vcpus = 0;
  CpuTune tune;             // shares, vcpu period and quota as libvirt reports them
  std::vector<int> pinned;  // union of the vCPUs' affinity; every host CPU when unpinned
};

// A running domain's usage counters, as libvirt's domain stats report them (virDomainGetCPUStats
// and virDomainMemoryStats, i.e. `virsh domstats --cpu-total --balloon`). Memory figures are KiB;
// -1 = not reported (the balloon statistics need a guest balloon driver and a stats period:
// <memballoon><stats period>).
struct DomainStats {
  std::chrono::nanoseconds cpu_time{0};  // cumulative, all threads of the domain
  int64_t balloon_current_kib = -1;      // balloon.current: memory the guest has now
  int64_t balloon_maximum_kib = -1;      // balloon.maximum: <memory>, the live ceiling
  int64_t available_kib = -1;            // guest MemTotal (shrinks as the balloon inflates)
  int64_t unused_kib = -1;               // guest MemFree
  int64_t usable_kib = -1;               // guest MemAvailable (free + reclaimable caches)
  int64_t rss_kib = -1;                  // resident set of the QEMU process on the host
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;

  virtual const std::string& uri() const = 0;
  // The <domain type> guests should use here: "kvm", "qemu" (TCG: no usable /dev/kvm) or "test".
  virtual const std::string& domain_type() const = 0;
  // Choices made when connecting (e.g. why KVM is not used), for logs.
  virtual const std::vector<std::string>& notes() const = 0;
  virtual int host_cpus() const = 0;

  // Defines the persistent domain from `xml` and starts it. AlreadyExists when a domain of that
  // name exists; on a start failure the definition is removed again and the libvirt error is
  // returned (FailedPrecondition for bad XML / config, Unavailable otherwise).
  virtual Status DefineAndStart(const std::string& xml) = 0;
  // Stops (if running) and undefines `name`. NotFound when there is no such domain.
  virtual Status DestroyAndUndefine(const std::string& name) = 0;
  // Starts the defined domain `name`; OK when it already runs. NotFound / FailedPrecondition
  // (libvirt refused) / Unavailable.
  virtual Status Start(const std::string& name) = 0;
  // Powers `name` off (virDomainDestroy) and keeps it defined; OK when it is not running.
  virtual Status Stop(const std::string& name) = 0;
  // Hard reset of the running domain `name` (virDomainReset: the guest boots again at once).
  // FailedPrecondition when it is not running.
  virtual Status Reset(const std::string& name) = 0;
  // Whether the libvirt network `name` is defined and active (false when not defined).
  virtual Result<bool> NetworkActive(const std::string& name) = 0;
  // Live and persistent update of <shares>, <period>, <quota>. NotFound / Unavailable.
  virtual Status SetCpuTune(const std::string& name, const CpuTune& tune) = 0;
  // Sets guest memory. Returns true when applied live, false when only the persistent config
  // changed (takes effect at the next start, e.g. above the live maximum).
  virtual Result<bool> SetMemory(const std::string& name, int64_t memory_mib) = 0;
  // Adds the device (`xml`: one <disk> element) to the domain's persistent definition and, when
  // it runs, to the running guest (hot-plug). Detach removes it likewise (the guest is asked to
  // release it; libvirt waits for it a few seconds). FailedPrecondition when libvirt refuses
  // (e.g. a target in use); Unimplemented when the driver cannot hot-plug (libvirt's test
  // driver): then Redefine the domain instead. NotFound when there is no such domain.
  virtual Status AttachDevice(const std::string& name, const std::string& xml) = 0;
  virtual Status DetachDevice(const std::string& name, const std::string& xml) = 0;
  // Replaces the persistent definition of the existing domain `name` with `xml` (its UUID is
  // kept; takes effect at its next start). NotFound when there is no such domain.
  virtual Status Redefine(const std::string& name, const std::string& xml) = 0;
  // Every domain (ours and others), sorted by name.
  virtual Result<std::vector<DomainStatus>> ListDomains() = 0;
  virtual Result<DomainStatus> State(const std::string& name) = 0;
  // Cumulative CPU time of the domain (all its threads). Unavailable when not running.
  virtual Result<std::chrono::nanoseconds> CpuTime(const std::string& name) = 0;
  virtual Result<DomainCpuInfo> CpuInfo(const std::string& name) = 0;
  // CPU time and balloon statistics of the running domain `name` (one call per heartbeat).
  // Unavailable when it is not running; NotFound when there is no such domain. Figures a driver
  // does not report stay -1.
  virtual Result<DomainStats> Stats(const std::string& name) = 0;
  // The domain's XML as libvirt holds it (inactive definition).
  virtual Result<std::string> DomainXml(const std::string& name) = 0;
};

// Connects to libvirt at `uri` ("test:///default", "qemu:///system", ...). For qemu URIs the
// domain type is "kvm" when ProbeKvm(dev_root) is usable and libvirt's capabilities offer kvm,
// else "qemu" (TCG) with a note saying why. Unavailable with libvirt's message when the
// connection fails (e.g. libvirtd not running).
Result<std::unique_ptr<Hypervisor>> OpenHypervisor(const std::string& uri,
                                                   const std::string& dev_root = "/dev");

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_HYPERVISOR_H_
