// JSON document, table and output folder of `devshare sim`.
#include "devshare/sim/sim_output.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "devshare/core/atomic_file.h"
#include "devshare/core/json_writer.h"
#include "devshare/sim/report.h"
#include "sim/run_grid.h"

namespace devshare::sim {

std::string ExperimentJson(const ExperimentResult& r, const std::vector<std::string>& policies) {
  JsonWriter w;
  w.BeginObject();
  internal::WriteTraceJson(w, r.cluster, r.typical_shapes, r.typical_kept, r.typical_coverage);
  w.Key("pods").Int(r.pods);
  w.Key("tune").Double(r.tune);
  w.Key("hole_bins").BeginArray();  // labels of the free_by_hole_pct_at_100 values
  for (int b = 0; b < kHoleBins; ++b) w.String(HoleBinLabel(b));
  w.EndArray();
  w.Key("refused_bins").BeginArray();  // labels of the refused_by_size_pct_at_100 values
  for (int b = 0; b < kRefusedBins; ++b) w.String(RefusedBinLabel(b));
  w.EndArray();
  w.Key("runs").BeginArray();
  for (const RunResult& run : r.runs) {
    w.BeginObject();
    w.Key("policy").String(run.policy);
    w.Key("seed").Uint(run.seed);
    w.Key("pods_arrived").Int(run.pods_arrived);
    w.Key("pods_placed").Int(run.pods_placed);
    w.Key("pods_failed").Int(run.pods_failed);
    w.Key("alloc_curve").DoubleArray(run.alloc_curve, 3);
    w.Key("frag_curve").DoubleArray(run.frag_curve, 3);
    w.Key("unallocated_gpu_pct_at_100").Double(run.unallocated_gpu_pct_at_100);
    w.Key("frag_gpu_pct_at_100").Double(run.frag_gpu_pct_at_100);
    w.Key("free_by_hole_pct_at_100").DoubleArray(run.free_by_hole_pct_at_100, 3);
    w.Key("refused_by_size_pct_at_100").DoubleArray(run.refused_by_size_pct_at_100, 3);
    w.Key("decision_us_p50").Double(run.decision_us_p50, 2);
    w.Key("decision_us_p99").Double(run.decision_us_p99, 2);
    w.Key("wall_s").Double(run.wall_s, 3);
    w.EndObject();
  }
  w.EndArray();
  w.Key("summary").BeginArray();
  for (const PolicySummary& s : SummarizeRuns(r, policies)) {
    w.BeginObject();
    w.Key("policy").String(s.policy);
    w.Key("seeds").Int(s.seeds);
    w.Key("unallocated_gpu_pct_at_100").BeginObject();
    w.Key("mean").Double(s.unalloc_mean);
    w.Key("median").Double(s.unalloc_median);
    w.Key("sd").Double(s.unalloc_sd);
    w.EndObject();
    w.Key("frag_gpu_pct_at_100").BeginObject();
    w.Key("mean").Double(s.frag_mean);
    w.EndObject();
    w.Key("free_by_hole_pct_at_100").BeginObject();
    w.Key("mean").DoubleArray(s.free_by_hole_pct_mean, 3);
    w.EndObject();
    w.Key("refused_by_size_pct_at_100").BeginObject();
    w.Key("mean").DoubleArray(s.refused_by_size_pct_mean, 3);
    w.EndObject();
    w.Key("decision_us_p50_mean").Double(s.decision_us_p50_mean, 2);
    w.Key("decision_us_p99_mean").Double(s.decision_us_p99_mean, 2);
    w.Key("wall_s_mean").Double(s.wall_s_mean, 3);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str() + "\n";
}

std::string ExperimentTable(const ExperimentResult& r, const std::vector<std::string>& policies) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof(line),
                "cluster: %d nodes, %d GPUs; trace: %d pods; tune %.2f; typical pods: %d of %d "
                "shapes (%.2f %% of pods)\n\n",
                r.cluster.nodes, r.cluster.gpus, r.pods, r.tune, r.typical_kept, r.typical_shapes,
                100.0 * r.typical_coverage);
  out += line;
  std::snprintf(line, sizeof(line), "%-16s %5s %24s %10s %12s %12s %9s\n", "policy", "seeds",
                "unalloc GPU% @100 (mean", "median  sd)", "frag% @100", "p99 us", "run s");
  out += line;
  for (const PolicySummary& s : SummarizeRuns(r, policies)) {
    std::snprintf(line, sizeof(line), "%-16s %5d %24.2f %6.2f %5.2f %12.2f %12.1f %9.2f\n",
                  s.policy.c_str(), s.seeds, s.unalloc_mean, s.unalloc_median, s.unalloc_sd,
                  s.frag_mean, s.decision_us_p99_mean, s.wall_s_mean);
    out += line;
  }
  return out;
}

namespace {

// One "policy, a column per bin, total" table of per-policy means over seeds.
std::string BinTable(const std::string& title, const std::vector<std::string>& labels, int width,
                     const std::vector<PolicySummary>& summaries,
                     std::vector<double> PolicySummary::*means) {
  std::string out = title;
  char line[256];
  std::snprintf(line, sizeof(line), "%-16s", "policy");
  out += line;
  for (const std::string& label : labels) {
    std::snprintf(line, sizeof(line), " %*s", width, label.c_str());
    out += line;
  }
  out += "     total\n";
  for (const PolicySummary& s : summaries) {
    std::snprintf(line, sizeof(line), "%-16s", s.policy.c_str());
    out += line;
    double total = 0;
    for (double v : s.*means) {
      std::snprintf(line, sizeof(line), " %*.2f", width, v);
      out += line;
      total += v;
    }
    std::snprintf(line, sizeof(line), " %9.2f\n", total);
    out += line;
  }
  return out;
}

}  // namespace

std::string HoleTable(const ExperimentResult& r, const std::vector<std::string>& policies) {
  const std::vector<PolicySummary> summaries = SummarizeRuns(r, policies);
  std::vector<std::string> holes, refused;
  for (int b = 0; b < kHoleBins; ++b) holes.push_back(HoleBinLabel(b));
  for (int b = 0; b < kRefusedBins; ++b) refused.push_back(RefusedBinLabel(b));
  return BinTable(
             "\nfree GPU capacity at 100 % arrival by free milli per GPU (% of capacity, mean "
             "over seeds):\n",
             holes, 9, summaries, &PolicySummary::free_by_hole_pct_mean) +
         BinTable(
             "\nGPU demand refused before 100 % arrival by what the pod asks of each GPU (% of "
             "capacity, mean over seeds):\n",
             refused, 13, summaries, &PolicySummary::refused_by_size_pct_mean);
}

std::string PeerComparisonTable(const ExperimentResult& r, const std::vector<std::string>& policies,
                                const PeerResults& peer, const std::string& workload,
                                bool* within) {
  std::string out = "\ncomparison with the FGD artifact's published runs of " + workload + ":\n";
  char line[256];
  std::snprintf(line, sizeof(line), "%-16s %10s %10s %8s %6s  %s\n", "policy", "ours mean",
                "peer mean", "diff", "band", "verdict");
  out += line;
  bool all = true;
  int compared = 0;
  for (const PolicySummary& s : SummarizeRuns(r, policies)) {
    auto it = peer.find({workload, s.policy});
    if (it == peer.end()) continue;
    ++compared;
    const double diff = s.unalloc_mean - it->second.unalloc_mean;
    const double band = PeerTolerance(s.policy);
    const bool ok = std::fabs(diff) <= band;
    all = all && ok;
    std::snprintf(line, sizeof(line), "%-16s %10.2f %10.2f %+8.2f %6.1f  %s\n", s.policy.c_str(),
                  s.unalloc_mean, it->second.unalloc_mean, diff, band, ok ? "within" : "OUTSIDE");
    out += line;
  }
  if (compared == 0) out += "(the peer file has no rows for this workload and tune)\n";
  if (within != nullptr) *within = all && compared > 0;
  return out;
}

Status WriteExperimentOutputs(const ExperimentResult& r, const std::vector<std::string>& policies,
                              const std::string& title, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir) / "curves", ec);
  if (ec) return Status::Unavailable(dir + ": cannot create folder: " + ec.message());
  DS_RETURN_IF_ERROR(WriteFileAtomically(dir + "/summary.json", ExperimentJson(r, policies)));
  for (const RunResult& run : r.runs) {
    std::string csv = "arrived_pct,alloc_pct,frag_pct\n";
    for (size_t b = 0; b < run.alloc_curve.size(); ++b) {
      csv += std::to_string(b) + "," + FormatDecimal(run.alloc_curve[b], 3) + "," +
             FormatDecimal(run.frag_curve[b], 3) + "\n";
    }
    DS_RETURN_IF_ERROR(WriteFileAtomically(
        dir + "/curves/" + run.policy + "_seed" + std::to_string(run.seed) + ".csv", csv));
  }
  ReportInput in;
  in.title = title;
  in.facts = {{"nodes", std::to_string(r.cluster.nodes)},
              {"GPUs", std::to_string(r.cluster.gpus)},
              {"pods in trace", std::to_string(r.pods)},
              {"tune", FormatDecimal(r.tune, 2)}};
  for (int b = 0; b < kHoleBins; ++b) in.hole_bins.push_back(HoleBinLabel(b));
  for (const std::string& p : policies) {
    PolicyCurves c;
    c.policy = p;
    for (const RunResult& run : r.runs) {
      if (run.policy != p) continue;
      c.alloc_curves.push_back(run.alloc_curve);
      c.frag_curves.push_back(run.frag_curve);
      c.unallocated_at_100.push_back(run.unallocated_gpu_pct_at_100);
      c.frag_at_100.push_back(run.frag_gpu_pct_at_100);
      c.decision_us_p99.push_back(run.decision_us_p99);
      c.free_by_hole.push_back(run.free_by_hole_pct_at_100);
    }
    in.policies.push_back(std::move(c));
  }
  return WriteReportHtml(in, dir + "/report.html");
}

}  // namespace devshare::sim
