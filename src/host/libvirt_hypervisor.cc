// OpenHypervisor: the libvirt C API behind the Hypervisor interface. libvirt's default error
// printer is silenced; each failure becomes a Status carrying virGetLastErrorMessage().
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "devshare/host/hypervisor.h"

namespace devshare::host {
namespace {

void QuietErrors(void* /*user_data*/, virErrorPtr /*error*/) {}

void InitLibvirt() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, QuietErrors);
  });
}

std::string LastError() {
  const char* m = virGetLastErrorMessage();
  return m != nullptr ? m : "unknown libvirt error";
}

int LastErrorCode() {
  virErrorPtr e = virGetLastError();
  return e != nullptr ? e->code : VIR_ERR_OK;
}

// Connection-level trouble is Unavailable; everything else libvirt refuses is a precondition.
Status ErrorStatus(const std::string& what) {
  const int code = LastErrorCode();
  const std::string msg = what + ": " + LastError();
  switch (code) {
    case VIR_ERR_NO_DOMAIN:
      return Status::NotFound(msg);
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_RPC:
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_INTERNAL_ERROR:
      return Status::Unavailable(msg);
    default:
      return Status::FailedPrecondition(msg);
  }
}

class Domain {
 public:
  explicit Domain(virDomainPtr d) : d_(d) {}
  Domain(Domain&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;
  ~Domain() {
    if (d_ != nullptr) virDomainFree(d_);
  }
  virDomainPtr get() const { return d_; }

 private:
  virDomainPtr d_;
};

// Frees typed parameters filled by libvirt.
struct TypedParams {
  virTypedParameterPtr p = nullptr;
  int n = 0;
  int max = 0;
  ~TypedParams() {
    if (p != nullptr) virTypedParamsFree(p, n);
  }
};

std::string ShutoffReason(int r) {
  switch (r) {
    case VIR_DOMAIN_SHUTOFF_SHUTDOWN:
      return "shutdown";
    case VIR_DOMAIN_SHUTOFF_DESTROYED:
      return "destroyed";
    case VIR_DOMAIN_SHUTOFF_CRASHED:
      return "crashed";
    case VIR_DOMAIN_SHUTOFF_FAILED:
      return "failed to start";
    case VIR_DOMAIN_SHUTOFF_SAVED:
      return "saved";
    default:
      return "reason " + std::to_string(r);
  }
}

DomainStatus StatusOf(virDomainPtr d) {
  DomainStatus s;
  const char* name = virDomainGetName(d);
  s.name = name != nullptr ? name : "";
  int state = 0, reason = 0;
  if (virDomainGetState(d, &state, &reason, 0) < 0) {
    s.state = DomainState::kFailed;
    s.detail = "state unknown: " + LastError();
    return s;
  }
  switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
      s.state = DomainState::kRunning;
      s.detail = "running";
      break;
    case VIR_DOMAIN_PAUSED:
      s.state = DomainState::kRunning;
      s.detail = "paused (reason " + std::to_string(reason) + ")";
      break;
    case VIR_DOMAIN_SHUTDOWN:
      s.state = DomainState::kRunning;
      s.detail = "shutting down";
      break;
    case VIR_DOMAIN_PMSUSPENDED:
      s.state = DomainState::kRunning;
      s.detail = "suspended by guest power management";
      break;
    case VIR_DOMAIN_CRASHED:
      s.state = DomainState::kFailed;
      s.detail = "crashed";
      break;
    case VIR_DOMAIN_SHUTOFF:
      s.state = reason == VIR_DOMAIN_SHUTOFF_CRASHED || reason == VIR_DOMAIN_SHUTOFF_FAILED
                    ? DomainState::kFailed
                    : DomainState::kDefined;
      s.detail = "shut off (" + ShutoffReason(reason) + ")";
      break;
    default:
      s.state = DomainState::kDefined;
      s.detail = "no state";
  }
  return s;
}

// The <name> of a domain document we wrote.
std::string NameFromXml(const std::string& xml) {
  const size_t b = xml.find("<name>");
  const size_t e = xml.find("</name>");
  if (b == std::string::npos || e == std::string::npos || e < b) return "";
  return xml.substr(b + 6, e - b - 6);
}

class LibvirtHypervisor final : public Hypervisor {
 public:
  LibvirtHypervisor(virConnectPtr conn, std::string uri, std::string type,
                    std::vector<std::string> notes, int cpus)
      : conn_(conn),
        uri_(std::move(uri)),
        type_(std::move(type)),
        notes_(std::move(notes)),
        cpus_(cpus) {}
  ~LibvirtHypervisor() override { virConnectClose(conn_); }

  const std::string& uri() const override { return uri_; }
  const std::string& domain_type() const override { return type_; }
  const std::vector<std::string>& notes() const override { return notes_; }
  int host_cpus() const override { return cpus_; }

  Status DefineAndStart(const std::string& xml) override {
    const std::string name = NameFromXml(xml);
    if (name.empty()) return Status::InvalidArgument("domain XML without a <name>");
    if (virDomainPtr existing = virDomainLookupByName(conn_, name.c_str())) {
      virDomainFree(existing);
      return Status::AlreadyExists("libvirt already has a domain named " + name);
    }
    virDomainPtr raw = virDomainDefineXMLFlags(conn_, xml.c_str(), VIR_DOMAIN_DEFINE_VALIDATE);
    if (raw == nullptr && LastErrorCode() == VIR_ERR_INVALID_ARG) {
      raw = virDomainDefineXML(conn_, xml.c_str());  // a driver without schema validation
    }
    if (raw == nullptr) return ErrorStatus("libvirt refused the definition of " + name);
    Domain d(raw);
    if (virDomainCreate(d.get()) < 0) {
      Status failed = ErrorStatus("libvirt could not start " + name);
      if (failed.code() == StatusCode::kNotFound) {
        failed = Status::FailedPrecondition(failed.message());
      }
      virDomainUndefine(d.get());  // roll back the definition
      return failed;
    }
    return Status::Ok();
  }

  Status DestroyAndUndefine(const std::string& name) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    if (virDomainIsActive(d.get()) == 1 && virDomainDestroy(d.get()) < 0 &&
        virDomainIsActive(d.get()) == 1) {
      return ErrorStatus("libvirt could not stop " + name);
    }
    if (virDomainIsPersistent(d.get()) == 1) {
      const unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                             VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;
      if (virDomainUndefineFlags(d.get(), flags) < 0 && virDomainUndefine(d.get()) < 0) {
        return ErrorStatus("libvirt could not undefine " + name);
      }
    }
    return Status::Ok();
  }

  Status Start(const std::string& name) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    if (virDomainIsActive(d.get()) == 1) return Status::Ok();
    if (virDomainCreate(d.get()) < 0) {
      if (virDomainIsActive(d.get()) == 1) return Status::Ok();  // started meanwhile
      Status failed = ErrorStatus("libvirt could not start " + name);
      if (failed.code() == StatusCode::kNotFound) {
        failed = Status::FailedPrecondition(failed.message());
      }
      return failed;
    }
    return Status::Ok();
  }

  Status Stop(const std::string& name) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    if (virDomainIsActive(d.get()) != 1) return Status::Ok();
    if (virDomainDestroy(d.get()) < 0 && virDomainIsActive(d.get()) == 1) {
      return ErrorStatus("libvirt could not stop " + name);
    }
    return Status::Ok();
  }

  Status Reset(const std::string& name) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    if (virDomainIsActive(d.get()) != 1) {
      return Status::FailedPrecondition("domain " + name + " is not running");
    }
    if (virDomainReset(d.get(), 0) < 0) return ErrorStatus("libvirt could not reset " + name);
    return Status::Ok();
  }

  Result<bool> NetworkActive(const std::string& name) override {
    virNetworkPtr n = virNetworkLookupByName(conn_, name.c_str());
    if (n == nullptr) return false;  // not defined, or no network driver in this libvirt
    const int active = virNetworkIsActive(n);
    virNetworkFree(n);
    if (active < 0) return ErrorStatus("libvirt state of network " + name);
    return active == 1;
  }

  Status SetCpuTune(const std::string& name, const CpuTune& tune) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    int nparams = 0;
    char* sched = virDomainGetSchedulerType(d.get(), &nparams);
    if (sched == nullptr) return ErrorStatus("scheduler type of " + name);
    const std::string type = sched;
    std::free(sched);
    TypedParams p;
    unsigned flags = 0;
    if (type == "posix") {
      virTypedParamsAddULLong(&p.p, &p.n, &p.max, VIR_DOMAIN_SCHEDULER_CPU_SHARES,
                              static_cast<unsigned long long>(tune.shares));
      if (tune.period_us > 0) {
        virTypedParamsAddULLong(&p.p, &p.n, &p.max, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD,
                                static_cast<unsigned long long>(tune.period_us));
      }
      virTypedParamsAddLLong(&p.p, &p.n, &p.max, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA,
                             tune.quota_us > 0 ? tune.quota_us : -1);
      flags = VIR_DOMAIN_AFFECT_CONFIG;
      if (virDomainIsActive(d.get()) == 1) flags |= VIR_DOMAIN_AFFECT_LIVE;
    } else {
      // Drivers with a single proportional weight (the test driver's "fair" scheduler).
      virTypedParamsAddUInt(&p.p, &p.n, &p.max, VIR_DOMAIN_SCHEDULER_WEIGHT,
                            static_cast<unsigned>(std::min<int64_t>(tune.shares, 0xffffffff)));
    }
    if (virDomainSetSchedulerParametersFlags(d.get(), p.p, p.n, flags) < 0) {
      return ErrorStatus("libvirt could not set the CPU tuning of " + name);
    }
    return Status::Ok();
  }

  Result<bool> SetMemory(const std::string& name, int64_t memory_mib) override {
    if (memory_mib <= 0) return Status::InvalidArgument("memory_mib must be > 0");
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    const unsigned long kib = static_cast<unsigned long>(memory_mib) * 1024;
    const unsigned long max_kib = virDomainGetMaxMemory(d.get());
    const bool active = virDomainIsActive(d.get()) == 1;
    if (active && max_kib > 0 && kib <= max_kib) {
      if (virDomainSetMemoryFlags(d.get(), kib,
                                  VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG) == 0) {
        return true;
      }
      // No balloon in the guest, say: fall through to the persistent definition.
    }
    if (kib > max_kib &&
        virDomainSetMemoryFlags(d.get(), kib,
                                static_cast<unsigned>(VIR_DOMAIN_AFFECT_CONFIG) |
                                    static_cast<unsigned>(VIR_DOMAIN_MEM_MAXIMUM)) < 0) {
      return ErrorStatus("libvirt could not raise the maximum memory of " + name);
    }
    if (virDomainSetMemoryFlags(d.get(), kib, VIR_DOMAIN_AFFECT_CONFIG) < 0) {
      return ErrorStatus("libvirt could not set the memory of " + name);
    }
    return false;
  }

  Status AttachDevice(const std::string& name, const std::string& xml) override {
    return ChangeDevice(name, xml, true);
  }
  Status DetachDevice(const std::string& name, const std::string& xml) override {
    return ChangeDevice(name, xml, false);
  }

  Status Redefine(const std::string& name, const std::string& xml) override {
    DS_ASSIGN_OR_RETURN(Domain cur, Lookup(name));
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (virDomainGetUUIDString(cur.get(), uuid) != 0) {
      return ErrorStatus("libvirt could not read the UUID of " + name);
    }
    std::string with_uuid = xml;
    const size_t at = with_uuid.find("</name>");
    if (at != std::string::npos && with_uuid.find("<uuid>") == std::string::npos) {
      with_uuid.insert(at + 7, std::string("\n  <uuid>") + uuid + "</uuid>");
    }
    virDomainPtr d = virDomainDefineXML(conn_, with_uuid.c_str());
    if (d == nullptr) return ErrorStatus("libvirt could not redefine the domain");
    virDomainFree(d);
    return Status::Ok();
  }

  Result<std::vector<DomainStatus>> ListDomains() override {
    virDomainPtr* doms = nullptr;
    const int n = virConnectListAllDomains(conn_, &doms, 0);
    if (n < 0) return ErrorStatus("libvirt could not list domains");
    std::vector<DomainStatus> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(StatusOf(doms[i]));
      virDomainFree(doms[i]);
    }
    std::free(doms);
    std::sort(out.begin(), out.end(),
              [](const DomainStatus& a, const DomainStatus& b) { return a.name < b.name; });
    return out;
  }

  Result<DomainStatus> State(const std::string& name) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    return StatusOf(d.get());
  }

  Result<std::chrono::nanoseconds> CpuTime(const std::string& name) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    if (virDomainIsActive(d.get()) != 1) {
      return Status::Unavailable("domain " + name + " is not running");
    }
    const int n = virDomainGetCPUStats(d.get(), nullptr, 0, -1, 1, 0);
    if (n > 0) {
      std::vector<virTypedParameter> params(static_cast<size_t>(n));
      const int got = virDomainGetCPUStats(d.get(), params.data(), n, -1, 1, 0);
      if (got > 0) {
        unsigned long long ns = 0;
        const int found =
            virTypedParamsGetULLong(params.data(), got, VIR_DOMAIN_CPU_STATS_CPUTIME, &ns);
        virTypedParamsClear(params.data(), got);
        if (found == 1) return std::chrono::nanoseconds(static_cast<int64_t>(ns));
      }
    }
    virDomainInfo info{};
    if (virDomainGetInfo(d.get(), &info) < 0) return ErrorStatus("CPU time of " + name);
    return std::chrono::nanoseconds(static_cast<int64_t>(info.cpuTime));
  }

  Result<DomainStats> Stats(const std::string& name) override {
    DomainStats out;
    DS_ASSIGN_OR_RETURN(out.cpu_time, CpuTime(name));
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    virDomainInfo info{};
    if (virDomainGetInfo(d.get(), &info) == 0) {
      out.balloon_current_kib = static_cast<int64_t>(info.memory);
      out.balloon_maximum_kib = static_cast<int64_t>(info.maxMem);
    }
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    const int n = virDomainMemoryStats(d.get(), stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    for (int i = 0; i < n; ++i) {  // n < 0: the driver has none (the test driver): keep -1
      const auto v = static_cast<int64_t>(stats[i].val);
      switch (stats[i].tag) {
        case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON:
          out.balloon_current_kib = v;
          break;
        case VIR_DOMAIN_MEMORY_STAT_AVAILABLE:
          out.available_kib = v;
          break;
        case VIR_DOMAIN_MEMORY_STAT_UNUSED:
          out.unused_kib = v;
          break;
        case VIR_DOMAIN_MEMORY_STAT_USABLE:
          out.usable_kib = v;
          break;
        case VIR_DOMAIN_MEMORY_STAT_RSS:
          out.rss_kib = v;
          break;
        default:
          break;
      }
    }
    return out;
  }

  Result<DomainCpuInfo> CpuInfo(const std::string& name) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    DomainCpuInfo out;
    virDomainInfo info{};
    if (virDomainGetInfo(d.get(), &info) < 0) return ErrorStatus("info of " + name);
    out.vcpus = info.nrVirtCpu;
    int nparams = 0;
    char* sched = virDomainGetSchedulerType(d.get(), &nparams);
    if (sched != nullptr) {
      const bool posix = std::strcmp(sched, "posix") == 0;
      std::free(sched);
      if (nparams > 0) {
        std::vector<virTypedParameter> params(static_cast<size_t>(nparams));
        int n = nparams;
        if (virDomainGetSchedulerParametersFlags(d.get(), params.data(), &n, 0) == 0) {
          unsigned long long u = 0;
          long long q = 0;
          unsigned w = 0;
          if (posix) {
            if (virTypedParamsGetULLong(params.data(), n, VIR_DOMAIN_SCHEDULER_CPU_SHARES, &u) ==
                1) {
              out.tune.shares = static_cast<int64_t>(u);
            }
            if (virTypedParamsGetULLong(params.data(), n, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, &u) ==
                1) {
              out.tune.period_us = static_cast<int64_t>(u);
            }
            if (virTypedParamsGetLLong(params.data(), n, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, &q) ==
                1) {
              out.tune.quota_us = q > 0 ? q : -1;
            }
          } else if (virTypedParamsGetUInt(params.data(), n, VIR_DOMAIN_SCHEDULER_WEIGHT, &w) ==
                     1) {
            out.tune.shares = w;
          }
          virTypedParamsClear(params.data(), n);
        }
      }
    }
    // Affinity: union over the vCPUs.
    const int cpus = std::max(1, cpus_);
    const int maplen = VIR_CPU_MAPLEN(cpus);
    std::vector<unsigned char> maps(static_cast<size_t>(maplen) * std::max(1, out.vcpus), 0);
    const int got = out.vcpus > 0 ? virDomainGetVcpuPinInfo(d.get(), out.vcpus, maps.data(), maplen,
                                                            VIR_DOMAIN_AFFECT_CURRENT)
                                  : -1;
    for (int c = 0; c < cpus; ++c) {
      bool on = got <= 0;  // unknown -> every CPU
      for (int v = 0; v < got && !on; ++v) on = VIR_CPU_USABLE(maps.data(), maplen, v, c);
      if (on) out.pinned.push_back(c);
    }
    return out;
  }

  Result<std::string> DomainXml(const std::string& name) override {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    char* xml = virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE);
    if (xml == nullptr) return ErrorStatus("XML of " + name);
    std::string out = xml;
    std::free(xml);
    return out;
  }

 private:
  Status ChangeDevice(const std::string& name, const std::string& xml, bool attach) {
    DS_ASSIGN_OR_RETURN(Domain d, Lookup(name));
    unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
    if (virDomainIsActive(d.get()) == 1) flags |= VIR_DOMAIN_AFFECT_LIVE;
    const int rc = attach ? virDomainAttachDeviceFlags(d.get(), xml.c_str(), flags)
                          : virDomainDetachDeviceFlags(d.get(), xml.c_str(), flags);
    if (rc == 0) return Status::Ok();
    if (LastErrorCode() == VIR_ERR_NO_SUPPORT) {
      return Status::Unimplemented(std::string("libvirt driver cannot ") +
                                   (attach ? "attach" : "detach") + " devices: " + LastError());
    }
    return ErrorStatus(std::string("libvirt could not ") +
                       (attach ? "attach a disk to " : "detach a disk from ") + name);
  }

  Result<Domain> Lookup(const std::string& name) {
    virDomainPtr d = virDomainLookupByName(conn_, name.c_str());
    if (d == nullptr) {
      if (LastErrorCode() == VIR_ERR_NO_DOMAIN) {
        return Status::NotFound("libvirt has no domain named " + name);
      }
      return ErrorStatus("libvirt lookup of " + name);
    }
    return Domain(d);
  }

  virConnectPtr conn_;
  const std::string uri_;
  const std::string type_;
  const std::vector<std::string> notes_;
  const int cpus_;
};

}  // namespace

std::string_view DomainStateName(DomainState s) {
  switch (s) {
    case DomainState::kDefined:
      return "defined";
    case DomainState::kRunning:
      return "running";
    case DomainState::kFailed:
      return "failed";
  }
  return "defined";
}

Result<std::unique_ptr<Hypervisor>> OpenHypervisor(const std::string& uri,
                                                   const std::string& dev_root) {
  InitLibvirt();
  virConnectPtr conn = virConnectOpen(uri.c_str());
  if (conn == nullptr) {
    return Status::Unavailable("cannot connect to libvirt at " + uri + ": " + LastError());
  }
  std::vector<std::string> notes;
  std::string type = "kvm";
  if (uri.rfind("test:", 0) == 0 || uri.rfind("test+", 0) == 0) {
    type = "test";
    notes.push_back("libvirt test driver: domains live in this process; nothing is enforced");
  } else {
    char* caps = virConnectGetCapabilities(conn);
    const bool caps_kvm = caps != nullptr && std::strstr(caps, "<domain type='kvm'") != nullptr;
    std::free(caps);
    const bool local = uri.rfind("qemu:///", 0) == 0;
    KvmInfo kvm;
    if (local) kvm = ProbeKvm(dev_root);
    if (caps_kvm && (!local || kvm.usable)) {
      type = "kvm";
      notes.push_back("KVM hardware virtualisation" + (local ? " (" + kvm.detail + ")" : ""));
    } else {
      type = "qemu";
      std::string why = !caps_kvm ? "libvirt offers no kvm domain type" : kvm.detail;
      notes.push_back("no usable KVM (" + why +
                      "): guests run under QEMU's TCG software emulation (domain type 'qemu')");
    }
  }
  int cpus = virNodeGetCPUMap(conn, nullptr, nullptr, 0);
  if (cpus <= 0) {
    virNodeInfo info{};
    cpus = virNodeGetInfo(conn, &info) == 0 ? static_cast<int>(info.cpus) : 1;
  }
  return std::unique_ptr<Hypervisor>(
      new LibvirtHypervisor(conn, uri, std::move(type), std::move(notes), cpus));
}

}  // namespace devshare::host
