// Test helper of the real-KVM tests (kvm_qos_test, kvm_guest_test): qemu:///system opened for a
// test, with the reason to skip when libvirtd cannot be had, the hypervisor's notes printed, and
// the leftover domains of killed runs of the same test family (dead pids) removed.
// Thread-safety: call from the test's SetUp only.
#ifndef DEVSHARE_TESTS_INTEGRATION_HOST_KVM_TEST_UTIL_H_
#define DEVSHARE_TESTS_INTEGRATION_HOST_KVM_TEST_UTIL_H_

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "devshare/host/hypervisor.h"

namespace devshare::host::kvmtest {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A `<family><pid>-...` domain whose test process is gone.
inline bool IsLeftover(const std::string& name, const std::string& family) {
  if (name.rfind(family, 0) != 0) return false;
  const long pid = std::strtol(name.c_str() + family.size(), nullptr, 10);
  return pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
}

// qemu:///system, or null with *skip_reason set (libvirtd cannot be had, with what
// tools/libvirt_up.sh said into `libvirt_state_dir`/status). Removes leftovers of `family`.
inline std::unique_ptr<Hypervisor> OpenForTest(const std::string& dev_root,
                                               const std::string& family,
                                               const std::string& libvirt_state_dir,
                                               std::string* skip_reason) {
  Result<std::unique_ptr<Hypervisor>> hv = OpenHypervisor("qemu:///system", dev_root);
  if (!hv.ok()) {
    const std::string status = ReadFile(libvirt_state_dir + "/status");
    *skip_reason = "libvirtd cannot be had: " + hv.status().message() +
                   (status.empty() ? "" : "; tools/libvirt_up.sh said: " + status);
    return nullptr;
  }
  for (const std::string& n : (*hv)->notes()) std::printf("hypervisor: %s\n", n.c_str());
  if (Result<std::vector<DomainStatus>> all = (*hv)->ListDomains(); all.ok()) {
    for (const DomainStatus& d : *all) {
      if (IsLeftover(d.name, family)) (void)(*hv)->DestroyAndUndefine(d.name);
    }
  }
  return std::move(*hv);
}

}  // namespace devshare::host::kvmtest

#endif  // DEVSHARE_TESTS_INTEGRATION_HOST_KVM_TEST_UTIL_H_
