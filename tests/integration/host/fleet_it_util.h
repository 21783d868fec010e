// Helpers of the real-guest fleet tests (kvm_fleet_test, kvm_storage_test): a whole file, and a
// poll with a deadline.
// Thread-safety: pure helpers (WaitFor sleeps its caller).
#ifndef DEVSHARE_TESTS_INTEGRATION_HOST_FLEET_IT_UTIL_H_
#define DEVSHARE_TESTS_INTEGRATION_HOST_FLEET_IT_UTIL_H_

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace devshare::it {

// The file's content; "" when it cannot be read.
inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `ok` every 200 ms until it holds or `limit` passes; returns whether it held.
template <typename Pred>
bool WaitFor(Pred ok, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (ok()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace devshare::it

#endif  // DEVSHARE_TESTS_INTEGRATION_HOST_FLEET_IT_UTIL_H_
