// Self-contained HTML report with SVG plots of a simulator experiment (no scripts, no network):
// GPU allocation % vs arrived demand, fragmentation vs arrived (median over seeds with a
// 25-75 % band), a bar chart of unallocated GPU % at 100 % arrival (mean +- sd), and a table.
// Thread-safety: pure functions of their input.
#ifndef DEVSHARE_SIM_REPORT_H_
#define DEVSHARE_SIM_REPORT_H_

#include <string>
#include <vector>

#include "devshare/core/status.h"

namespace devshare::sim {

// All seeds of one policy. Each curve has one value per integer arrived-% bin (index = bin).
struct PolicyCurves {
  std::string policy;
  std::vector<std::vector<double>> alloc_curves;  // [seed][bin] GPU allocation % of capacity
  std::vector<std::vector<double>> frag_curves;   // [seed][bin] fragmentation % of capacity
  std::vector<double> unallocated_at_100;         // [seed] 100 - alloc_curve[100]
  std::vector<double> frag_at_100;                // [seed]
  std::vector<double> decision_us_p99;            // [seed]
  // Optional: [seed][hole bin] free GPU capacity at 100 % arrival (% of capacity) by how much
  // each GPU has free; bins named by ReportInput::hole_bins.
  std::vector<std::vector<double>> free_by_hole;
};

struct ReportInput {
  std::string title;     // e.g. "openb_pod_list_default, tune 1.3, seeds 42-51"
  std::string subtitle;  // command line or other provenance
  std::vector<PolicyCurves> policies;
  // Optional extra rows of key/value facts shown above the plots (cluster size, pods, ...).
  std::vector<std::pair<std::string, std::string>> facts;
  // Labels of the PolicyCurves::free_by_hole bins; empty: no such table.
  std::vector<std::string> hole_bins;
};

// One SVG document (<svg ...>...</svg>) per plot, standalone.
std::string RenderAllocationPlot(const ReportInput& in);
std::string RenderFragmentationPlot(const ReportInput& in);
std::string RenderUnallocatedBarChart(const ReportInput& in);
// The whole page: title, facts, the four plots inline (allocation, allocation zoomed to
// 75..120 % arrived, fragmentation, unallocated bars), the summary table and, with hole_bins,
// the table of where the free capacity lies.
std::string RenderReportHtml(const ReportInput& in);
// Writes RenderReportHtml(in) to path atomically, mode 0644 (WriteFileAtomically: temp file,
// fsync, rename, fsync of the folder); a failure names the path.
Status WriteReportHtml(const ReportInput& in, const std::string& path);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_REPORT_H_
