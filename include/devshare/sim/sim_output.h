// Output of `devshare sim`: the JSON document, the readable table, and the --out folder
// (summary.json, per-run curve CSVs, report.html).
// Thread-safety: pure functions of their input (the writer touches only the given folder).
#ifndef DEVSHARE_SIM_SIM_OUTPUT_H_
#define DEVSHARE_SIM_SIM_OUTPUT_H_

#include <string>
#include <vector>

#include "devshare/core/status.h"
#include "devshare/sim/experiment.h"
#include "devshare/sim/peer_results.h"

namespace devshare::sim {

// {"cluster": {...}, "pods": N, "tune": x, "runs": [...], "summary": [...]}.
std::string ExperimentJson(const ExperimentResult& r, const std::vector<std::string>& policies);
// Fixed-width table, one row per policy: mean/median/sd unallocated GPU % at 100 %, frag, p99.
std::string ExperimentTable(const ExperimentResult& r, const std::vector<std::string>& policies);
// Where the free GPU capacity lies at 100 % arrival, per policy (mean over seeds, % of
// capacity): one column per hole bin (FreeMilliByHole), then their sum.
std::string HoleTable(const ExperimentResult& r, const std::vector<std::string>& policies);
// Our mean unallocated GPU % at 100 % next to the peer's for `workload`; `*within` is set to
// whether every policy the peer reports lies within PeerTolerance(policy).
std::string PeerComparisonTable(const ExperimentResult& r, const std::vector<std::string>& policies,
                                const PeerResults& peer, const std::string& workload, bool* within);
// Writes DIR/summary.json, DIR/curves/<policy>_seed<seed>.csv and DIR/report.html.
Status WriteExperimentOutputs(const ExperimentResult& r, const std::vector<std::string>& policies,
                              const std::string& title, const std::string& dir);

}  // namespace devshare::sim

#endif  // DEVSHARE_SIM_SIM_OUTPUT_H_
