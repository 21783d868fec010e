// Helpers for the qos tests: virtual time in seconds, a QoS table behind the callback, and a
// queue constructor that fails the test on error.
// Thread-safety: test-only, single-threaded.
#ifndef DEVSHARE_SRC_QOS_QOS_TEST_UTIL_H_
#define DEVSHARE_SRC_QOS_QOS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>

#include "devshare/qos/mclock.h"

namespace devshare::qos::testutil {

inline TimePoint At(double seconds) {
  return TimePoint(Duration(static_cast<int64_t>(std::llround(seconds * 1e9))));
}
inline double Seconds(TimePoint t) {
  return static_cast<double>(t.time_since_epoch().count()) / 1e9;
}

using QosMap = std::map<ClientId, ClientQos>;

// The queue reads `qos` by reference, so tests can change it between calls.
inline std::unique_ptr<MClockQueue> MakeQueue(const QosMap& qos, MClockOptions options) {
  auto q = MClockQueue::Create(
      [&qos](ClientId c) -> std::optional<ClientQos> {
        auto it = qos.find(c);
        if (it == qos.end()) return std::nullopt;
        return it->second;
      },
      options);
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  return q.ok() ? std::move(q).value() : nullptr;
}

}  // namespace devshare::qos::testutil

#endif  // DEVSHARE_SRC_QOS_QOS_TEST_UTIL_H_
