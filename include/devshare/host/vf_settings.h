// What a VM's SR-IOV VF NICs need set on their PF that libvirt does not set: the VF's transmit
// rate floor and cap (libvirt ignores <bandwidth> on hostdev interfaces) and spoof checking.
// Planned as `ip` argv lists after checking the PF in sysfs; nothing is executed here.
// Thread-safety: pure functions, apart from reading sysfs below the given root.
#ifndef DEVSHARE_HOST_VF_SETTINGS_H_
#define DEVSHARE_HOST_VF_SETTINGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/allocation.h"
#include "devshare/core/host.h"
#include "devshare/core/result.h"
#include "devshare/host/command_runner.h"

namespace devshare::host {

// The settings of one VF NIC, on its PF.
struct VfPfSettings {
  std::string device_id;   // the PF's inventory device ("nic0")
  std::string pf_address;  // "0000:3b:00.0"
  std::string pf_netdev;   // "ens1f0np0": the PF's interface now (sysfs net/), as `ip` names it
  int vf_index = -1;       // DeviceSlice::unit_index
  std::string vf_address;  // the PF's virtfn<N> link now
  int64_t min_mbps = 0;    // DeviceSlice::rate (0 = no floor)
  int64_t max_mbps = 0;    // DeviceSlice::rate_limit (0 = no cap: the line rate)
  // Run in order, before or after the guest starts (the PF keeps a VF's settings while the VF
  // is bound to vfio-pci):
  //   ip link set <pf> vf <N> max_tx_rate <max> min_tx_rate <min>   (always: a reused VF must
  //       lose the previous VM's rates; one command, because the kernel checks min <= max on
  //       the pair and two commands could fail half way depending on the old values)
  //   ip link set <pf> vf <N> spoofchk on   (VFs on a tenant network: the guest sends only from
  //       the MAC libvirt set on the VF)
  // MAC and VLAN are not here: libvirt sets them on the VF from the domain XML (<mac>, <vlan>)
  // when the guest starts and restores them when it stops.
  std::vector<Argv> commands;
};

// The PF settings for the VF NICs among `nics` (slices with unit_index >= 0; virtio slices are
// skipped), in slice order. Each PF is checked against `sysfs_root`: its entry
// bus/pci/devices/<pf address> exists, it has a netdev, sriov_numvfs > the VF index, the
// virtfn<N> link exists and, when the PF device lists its VFs (kAttrVfAddresses), points at the
// address the inventory gave that VF (else the VFs were re-created since discovery).
// Slices whose PF has no pci_address attribute (test hosts: the VM got no hostdev) are skipped.
// NotFound for a slice naming a device the host lacks; InvalidArgument for a negative rate or a
// floor above a non-zero cap; FailedPrecondition naming the PF (device id, PCI address, netdev)
// for each failed sysfs check.
Result<std::vector<VfPfSettings>> PlanVfSettings(const std::vector<DeviceSlice>& nics,
                                                 const Host& host,
                                                 const std::string& sysfs_root = "/sys");

// What undoes the rates of `settings` when the VM goes (so the next VM on the VF starts at line
// rate): ip link set <pf> vf <N> max_tx_rate 0 min_tx_rate 0. Spoof checking stays on.
std::vector<Argv> VfResetCommands(const VfPfSettings& settings);

}  // namespace devshare::host

#endif  // DEVSHARE_HOST_VF_SETTINGS_H_
