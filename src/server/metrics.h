// Request metrics of the REST API (counts per route and status, latency histograms) and their
// Prometheus text exposition together with the control plane's gauges.
// Thread-safety: Observe and Render are thread-safe (one mutex; a handful of map updates).
#ifndef DEVSHARE_SERVER_METRICS_H_
#define DEVSHARE_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "server/control_plane.h"

namespace devshare::server {

class ApiMetrics {
 public:
  // Upper bounds of the latency buckets, seconds (Prometheus `le`).
  static constexpr std::array<double, 12> kBucketsSeconds = {
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5};

  void Observe(const std::string& route, int status, double seconds);
  // Prometheus text format 0.0.4.
  std::string Render(const ControlPlaneStats& stats) const;

 private:
  struct Histogram {
    std::array<int64_t, kBucketsSeconds.size()> buckets{};
    int64_t count = 0;
    double sum_seconds = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (route, status) -> count
  std::map<std::string, Histogram> latency_;                 // route -> histogram
};

}  // namespace devshare::server

#endif  // DEVSHARE_SERVER_METRICS_H_
