// Test helper: small ClusterState builders shared by the placement tests.
// Thread-safety: pure functions.
#ifndef DEVSHARE_TESTS_TESTUTIL_CLUSTERS_H_
#define DEVSHARE_TESTS_TESTUTIL_CLUSTERS_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "devshare/core/host_state.h"

namespace devshare::testutil {

// One host "h0" of `gpus` A100s, `cpu_milli` CPU and 1 TiB memory; `used_milli[g]` milli are
// already taken on GPU g (a whole GPU when it is 1000), as one allocation per GPU.
inline ClusterState OneGpuHost(int gpus, int64_t cpu_milli,
                               const std::vector<int64_t>& used_milli = {}) {
  ClusterState c;
  c.hosts.push_back(Host::MakeGpuHost("h0", cpu_milli, 1 << 20, gpus, "A100"));
  c.Reset();
  for (size_t g = 0; g < used_milli.size(); ++g) {
    if (used_milli[g] == 0) continue;
    Allocation a;
    a.request_id = "old" + std::to_string(g);
    a.host_index = 0;
    a.gpus.push_back(DeviceSlice{static_cast<int>(g), "gpu" + std::to_string(g), used_milli[g],
                                 used_milli[g] >= kMilliPerDevice, "", -1});
    EXPECT_TRUE(c.states[0].ApplyUnchecked(a).ok());
  }
  return c;
}

}  // namespace devshare::testutil

#endif  // DEVSHARE_TESTS_TESTUTIL_CLUSTERS_H_
