// Test helper: small VmRequest and typical-pod builders shared by the placement tests.
// Thread-safety: pure functions.
#ifndef DEVSHARE_TESTS_TESTUTIL_REQUESTS_H_
#define DEVSHARE_TESTS_TESTUTIL_REQUESTS_H_

#include <cstdint>
#include <string>
#include <utility>

#include "devshare/core/request.h"
#include "devshare/placement/fragmentation.h"

namespace devshare::testutil {

// A request of `cpu_milli`, 1 GiB memory and `count` GPUs of `milli` each (none by default).
inline VmRequest Request(int64_t cpu_milli, int count = 0, int milli = 0, std::string id = "req") {
  VmRequest r;
  r.id = std::move(id);
  r.cpu_milli = cpu_milli;
  r.memory_mib = 1024;
  r.gpu.count = count;
  r.gpu.milli = count > 0 ? milli : 0;
  return r;
}

// A typical-pod entry: `num` GPUs of `milli` each and `cpu_milli`, with probability p.
inline placement::WeightedShape Weighted(int64_t cpu_milli, int milli, int num, double p) {
  placement::WeightedShape w;
  w.shape.cpu_milli = cpu_milli;
  w.shape.gpu_milli = milli;
  w.shape.num_gpu = num;
  w.p = p;
  return w;
}

}  // namespace devshare::testutil

#endif  // DEVSHARE_TESTS_TESTUTIL_REQUESTS_H_
