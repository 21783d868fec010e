// The bodies of POST /v1/vms, /v1/vms/{id}/resize and /v1/vms/{id}/volumes[/{name}/migrate]:
// parsing into a core VmRequest plus the parts placement does not use (QoS, anti-affinity group,
// policy), and the normalised JSON stored.
// Thread-safety: pure functions.
#ifndef DEVSHARE_SERVER_VM_SPEC_H_
#define DEVSHARE_SERVER_VM_SPEC_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "devshare/core/request.h"
#include "devshare/core/result.h"
#include "server/rightsize_spec.h"

namespace devshare::server {

struct VmSpec {
  std::string name;
  VmRequest request;   // id and tenant are set by the ledger
  nlohmann::json qos;  // normalised: cpu_weight, cpu_cap_pct, disk/net limits
  std::string anti_affinity_group;
  std::string policy;   // empty = the server's default
  std::string image;    // a name of the image catalogue; empty = none (the host's default guest)
  std::string ssh_key;  // one OpenSSH public key line for the guest's metadata; may be empty
  RightSizeSpec rightsize;  // the right-sizing controller's settings (off unless given)
  nlohmann::json normalized;
};

// Fields: name, cpu_milli, memory_mib (required); gpu {count, milli, memory_mib} | {profile} |
// {vgpu: "vgpu-<N>g"} (+ models); gpu.memory_mib is per GPU (a share's framebuffer; for whole
// GPUs the least each must have; not with a profile);
// nics [{network (default "default"), bandwidth_mbps {min, max}, vf, address}]; volumes [{name,
// size_gib, tier nvme|ssd|hdd, iops {reservation, weight 1..10000, limit}}];
// qos {cpu_weight 1..10000 (default 100), cpu_cap_pct 1..100, disk_read_iops, disk_write_iops,
// disk_read_bytes_sec, disk_write_bytes_sec, net_mbps}; isolation_floor; anti_affinity_group;
// required_traits, forbidden_traits; policy; image (a catalogue name: the caller checks it
// exists); ssh_key ("ssh-<type> <base64> [comment]", one line); rightsize (rightsize_spec.h).
// InvalidArgument naming the field otherwise.
Result<VmSpec> ParseVmSpec(const nlohmann::json& body);

// One volume object as in a VM spec's `volumes` (the body of POST /v1/vms/{id}/volumes):
// name, size_gib, tier, iops {reservation, weight, limit}. InvalidArgument naming the field
// (without a "volumes[i]." prefix) otherwise.
Result<VolumeRequest> ParseVolumeSpec(const nlohmann::json& body);
// The body of POST /v1/vms/{id}/volumes/{name}/migrate: {"tier": "nvme|ssd|hdd"} -> the tier.
Result<std::string> ParseVolumeMigrateSpec(const nlohmann::json& body);
// The normalised JSON of one volume, as in VmSpec::normalized["volumes"].
nlohmann::json VolumeJson(const VolumeRequest& v);

// Resize body: any of cpu_milli, memory_mib, gpu_milli and gpu_memory_mib (for a VM holding one
// free-size GPU share; `move: true` lets the share move to another GPU of the same host when its
// own lacks room),
// volumes [{name, size_gib (grow), iops {reservation, weight, limit}}] (size, iops or both; any
// of the iops terms), nics [{index, bandwidth_mbps {min, max}}] (either or both).
struct ResizeSpec {
  struct Volume {
    std::string name;
    int64_t size_gib = -1;  // -1 = unchanged (as the iops terms)
    int64_t iops_reservation = -1;
    int64_t iops_weight = -1;
    int64_t iops_limit = -1;
  };
  struct Nic {
    int64_t index = 0;
    int64_t bandwidth_min_mbps = -1;  // -1 = unchanged
    int64_t bandwidth_max_mbps = -1;
  };
  int64_t cpu_milli = -1;  // -1 = unchanged
  int64_t memory_mib = -1;
  int64_t gpu_milli = -1;
  int64_t gpu_memory_mib = -1;  // the share's GPU memory (0 = not constrained)
  bool move = false;            // the share may move to another GPU of the host
  std::vector<Volume> volumes;
  std::vector<Nic> nics;
};
Result<ResizeSpec> ParseResizeSpec(const nlohmann::json& body);

// JSON of a spec as stored and returned (also used to rebuild the VmRequest at load).
Result<VmSpec> VmSpecFromStored(const std::string& spec_json);

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_VM_SPEC_H_
