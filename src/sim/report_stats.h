// Internal helpers of the report writer (src/sim/report.cc), exposed for its unit tests only:
// order statistics over seeds, fixed-precision number formatting, XML escaping, the zoomed plot.
// Thread-safety: pure functions of their input.
#ifndef DEVSHARE_SIM_REPORT_STATS_H_
#define DEVSHARE_SIM_REPORT_STATS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "devshare/sim/report.h"
#include "devshare/sim/stats.h"

namespace devshare::sim::report_internal {

// Non-finite values (NaN, +-inf) count as missing everywhere below: they are skipped.
// Quantile, Median and ComputeMeanSd live in devshare/sim/stats.h.
using ::devshare::sim::ComputeMeanSd;
using ::devshare::sim::MeanSd;
using ::devshare::sim::Median;
using ::devshare::sim::Quantile;

// One x bin of a median-over-seeds curve with its 25-75 % band.
struct BandPoint {
  int bin = 0;
  double q25 = 0;
  double median = 0;
  double q75 = 0;
};
// For every bin index present in any curve (curves may differ in length), the quartiles of the
// finite values at that bin; bins where no curve has a finite value are left out, so a gap in
// `bin` marks missing data. Result is sorted by bin.
std::vector<BandPoint> ComputeBand(const std::vector<std::vector<double>>& curves);

// "%.<precision>f" independent of the C locale, without "-0.00"; "n/a" for non-finite values.
std::string FormatFixed(double value, int precision);

// The 4th plot of the page: RenderAllocationPlot zoomed to arrived demand 75..120 %, the range
// where the policies diverge; the y axis is fitted to the data shown. Standalone <svg> document.
std::string RenderAllocationZoomPlot(const ReportInput& in);

}  // namespace devshare::sim::report_internal

#endif  // DEVSHARE_SIM_REPORT_STATS_H_
