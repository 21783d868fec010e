// Order statistics and moments over per-seed or per-event samples, shared by the runners and the
// report. Non-finite values (NaN, +-inf) count as missing and are skipped.
// Thread-safety: pure functions.
#ifndef DEVSHARE_SIM_STATS_H_
#define DEVSHARE_SIM_STATS_H_

#include <cstddef>
#include <vector>

namespace devshare::sim {

// Quantile q in [0, 1], linear interpolation between closest ranks (Hyndman & Fan type 7,
// numpy's default). NaN when there is no finite value.
double Quantile(std::vector<double> values, double q);
// Quantile(values, 0.5).
double Median(const std::vector<double>& values);

struct MeanSd {
  double mean = 0;        // NaN when count == 0
  double sd = 0;          // sample standard deviation (n - 1); NaN when count < 2
  std::size_t count = 0;  // number of finite values
};
MeanSd ComputeMeanSd(const std::vector<double>& values);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_STATS_H_
