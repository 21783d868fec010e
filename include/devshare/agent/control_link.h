// ControlLink: what `devshare agent` needs from the control plane (fleet contract, issue 14):
// register the host's inventory, heartbeat the observed VM states, long-poll the desired state
// and push console bytes. The value types mirror the JSON of those endpoints; the codec
// functions below turn them into request bodies and parse the answers (strictly enough to name
// the bad field, loosely enough to ignore fields added later).
// Thread-safety: implementations must allow the four calls to run concurrently from different
// threads (the agent's heartbeat, watch and console threads); Interrupt() may be called from
// any thread. The value types and codec functions are plain values / pure functions.
#ifndef DEVSHARE_AGENT_CONTROL_LINK_H_
#define DEVSHARE_AGENT_CONTROL_LINK_H_

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace devshare::agent {

// Observed states the agent reports (the server's creating|running|stopped|failed).
inline constexpr const char* kStateCreating = "creating";
inline constexpr const char* kStateRunning = "running";
inline constexpr const char* kStateStopped = "stopped";
inline constexpr const char* kStateFailed = "failed";

// A running VM's usage over the last heartbeat interval, and the sizes in force on its guest
// (heartbeat "usage" object; docs/rightsizing.md). -1 = not known.
struct VmUsage {
  int64_t window_ms = 0;   // the interval the CPU figure covers
  int64_t cpu_milli = -1;  // CPU-time delta / wall-clock delta x 1000 (-1 at the first reading)
  // Used memory: balloon.current - usable (the allocation minus the guest's MemAvailable: its
  // kernel's memory counts, page cache it can drop does not), else available - usable, else
  // available - unused (MemTotal - MemFree), else the QEMU process's rss (an upper bound that
  // does not fall when the guest frees memory; the controller does not size on it).
  int64_t memory_mib = -1;
  std::string memory_source;  // "usable" | "unused" | "rss" | ""
  int64_t gpu_memory_mib = -1;
  double gpu_busy_pct = -1;
  // In force on the guest: balloon.current, balloon.maximum, the CPU cap (vCPUs x quota).
  int64_t applied_memory_mib = -1;
  int64_t applied_max_memory_mib = -1;
  int64_t applied_cpu_cap_milli = -1;
  bool operator==(const VmUsage&) const = default;
};

// One managed VM as the agent sees it (heartbeat body "vms" entry).
struct ObservedVm {
  std::string id;
  std::string state;   // kState*
  std::string detail;  // libvirt's state and reason, or the realization error
  std::string domain;  // libvirt domain name ("" when there is none)
  // Set in the heartbeat's copy only (the agent's state snapshots never carry it, so a usage
  // change is no state change).
  std::optional<VmUsage> usage;
  bool operator==(const ObservedVm&) const = default;
};

// The heartbeat body's "agent" object.
struct AgentInfo {
  std::string hypervisor;     // libvirt URI
  std::string domain_prefix;  // "devshare-" unless several agents share one libvirt
  std::vector<std::string> notes;
};

// 200 answer of POST /v1/hosts/{name}/heartbeat.
struct HeartbeatReply {
  std::string schedule;  // open | cordoned | draining
  int64_t revision = -1;
  std::chrono::milliseconds heartbeat_interval{5000};
  std::chrono::milliseconds timeout{30000};
  std::vector<std::string> unknown_vms;  // reported ids the ledger does not place here
};

// The catalogue image of a desired VM ("image" object; absent/null = none).
struct DesiredImage {
  std::string name;
  std::string kind;  // disk | kernel
  std::string file, kernel, initrd, cmdline;
  bool operator==(const DesiredImage&) const = default;
};

// One VM the server places on this host.
struct DesiredVm {
  std::string id;
  std::string tenant_id;
  std::string name;
  std::string power = "running";  // running | stopped
  int64_t reboot_seq = 0;         // bumped per reboot request
  nlohmann::json allocation;      // server::AllocationToJson
  nlohmann::json spec;            // server::VmSpec::normalized (carries qos)
  std::optional<DesiredImage> image;
  std::string ssh_key;

  // Hash of what Update() applies (allocation and spec): a change means resize / new QoS.
  uint64_t SpecHash() const;
};

// 200 answer of GET /v1/hosts/{name}/desired.
struct DesiredState {
  int64_t revision = -1;
  std::string schedule;
  std::vector<DesiredVm> vms;
};

// Answer of POST /v1/vms/{id}/console?offset=N.
struct ConsolePushReply {
  bool accepted = true;  // false: 409, the server wants bytes from `offset` instead
  int64_t offset = 0;    // accepted: the server's end (next offset); else the expected offset
};

class ControlLink {
 public:
  virtual ~ControlLink() = default;

  // PUT /v1/hosts/{name} with the inventory body. OK on 200/201; otherwise a Status naming the
  // endpoint and HTTP status (Unavailable when the server cannot be reached).
  virtual Status Register(const nlohmann::json& inventory) = 0;
  // POST /v1/hosts/{name}/heartbeat with every managed VM's observed state.
  virtual Result<HeartbeatReply> Heartbeat(const AgentInfo& agent,
                                           const std::vector<ObservedVm>& vms) = 0;
  // The same heartbeat without VM states ("vms" absent): the server takes it as liveness only and
  // changes no VM. Sent while the agent's first reconcile has not observed its guests yet.
  virtual Result<HeartbeatReply> KeepAlive(const AgentInfo& agent) = 0;
  // GET /v1/hosts/{name}/desired?revision=R&wait_ms=W: answers at once when the server's
  // revision differs from `revision` (or it is nullopt), else within `wait` (same revision).
  virtual Result<DesiredState> WatchDesired(std::optional<int64_t> revision,
                                            std::chrono::milliseconds wait) = 0;
  // POST /v1/vms/{id}/console?offset=N with `bytes` from that offset. A 409 {"expected": E} is
  // a value (accepted = false, offset = E), not an error.
  virtual Result<ConsolePushReply> PushConsole(const std::string& vm_id, int64_t offset,
                                               const std::string& bytes) = 0;
  // Aborts calls in flight (shutdown): they return Unavailable soon; later calls fail at once.
  virtual void Interrupt() = 0;
};

// Codec of the agent endpoints (the JSON of /work/fleet-contract.md).
nlohmann::json HeartbeatBody(const AgentInfo& agent, const std::vector<ObservedVm>& vms);
// {"agent": ...} alone: a liveness-only heartbeat.
nlohmann::json KeepAliveBody(const AgentInfo& agent);
// InvalidArgument naming the field for a missing/mistyped revision or interval; unknown fields
// are ignored. Intervals <= 0 keep the defaults.
Result<HeartbeatReply> ParseHeartbeatReply(const nlohmann::json& body);
Result<DesiredState> ParseDesiredState(const nlohmann::json& body);
// 200 {"offset": end} or 409 {"expected": end}.
Result<ConsolePushReply> ParseConsoleReply(int http_status, const nlohmann::json& body);

}  // namespace devshare::agent

#endif  // DEVSHARE_AGENT_CONTROL_LINK_H_
