// Test helper: the sysfs fixture trees under tests/fixtures/sysfs/<name>/{sys,proc,dev}, as
// discovered and as the control plane registers them.
// Thread-safety: pure functions over read-only files.
#ifndef DEVSHARE_SRC_HOST_HOST_TEST_UTIL_H_
#define DEVSHARE_SRC_HOST_HOST_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <string>

#include "devshare/host/discovery.h"
#include "devshare/host/inventory_json.h"
#include "server/host_spec.h"

namespace devshare::host::testutil {

// The folder holding the fixture trees (DEVSHARE_SYSFS_FIXTURES, set by CMake).
inline const std::string kSysfsFixtures = DEVSHARE_SYSFS_FIXTURES;

// DiscoverHost over the fixture tree `name` ("gpu8", "odd", ...).
inline Result<DiscoveredHost> DiscoverFixture(const std::string& name) {
  const std::string root = kSysfsFixtures + "/" + name;
  return DiscoverHost(root + "/sys", root + "/proc", root + "/dev");
}

// DiscoverFixture(name); a test failure and an empty host when discovery fails.
inline DiscoveredHost DiscoverFixtureOrFail(const std::string& name) {
  Result<DiscoveredHost> h = DiscoverFixture(name);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : DiscoveredHost{};
}

// The fixture as a registered host: discovery -> inventory JSON -> host spec -> device attributes.
inline Result<Host> RegisteredFixtureHost(const std::string& name) {
  DS_ASSIGN_OR_RETURN(DiscoveredHost d, DiscoverFixture(name));
  DS_ASSIGN_OR_RETURN(HostInventory inv, BuildInventory(d, {}));
  DS_ASSIGN_OR_RETURN(server::HostSpec spec, server::ParseHostSpec(name, inv.body));
  ApplyDeviceAttributes(inv, spec.host);
  return spec.host;
}

}  // namespace devshare::host::testutil

#endif  // DEVSHARE_SRC_HOST_HOST_TEST_UTIL_H_
