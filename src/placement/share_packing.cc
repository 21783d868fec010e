// Share-packing LP prices (see the header): column generation with GLPK.
// Thread-safety: see share_packing.h.
#include "devshare/placement/share_packing.h"

#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "devshare/core/device.h"
#include "devshare/lp/glpk_problem.h"
#include "devshare/lp/knapsack.h"

namespace devshare::placement {
namespace {

constexpr int kMilli = kMilliPerDevice;
// A pattern whose price sum exceeds 1 GPU by more than this enters the LP.
constexpr double kPricingTolerance = 1e-9;
// Column generation stops here at the latest (the LP has at most ~100 sizes; it converges in
// a few dozen rounds).
constexpr int kMaxPricingRounds = 500;

void AddPattern(glp_prob* lp, const std::vector<int>& counts) {
  std::vector<int> ind(1, 0);  // GLPK arrays are 1-based
  std::vector<double> val(1, 0.0);
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    ind.push_back(static_cast<int>(i) + 1);
    val.push_back(counts[i]);
  }
  const int j = glp_add_cols(lp, 1);
  glp_set_col_bnds(lp, j, GLP_LO, 0.0, 0.0);
  glp_set_obj_coef(lp, j, 1.0);
  glp_set_mat_col(lp, j, static_cast<int>(ind.size()) - 1, ind.data(), val.data());
}

}  // namespace

Result<SharePackingPrices> SharePackingPrices::Solve(const std::vector<ShareDemand>& demand) {
  std::map<int, double> rate;
  std::map<int, double> cpu_sum;  // rate-weighted
  for (const ShareDemand& d : demand) {
    if (d.milli > 0 && d.milli < kMilli && d.rate > 0) {
      rate[d.milli] += d.rate;
      cpu_sum[d.milli] += d.rate * static_cast<double>(d.cpu_milli);
    }
  }
  SharePackingPrices out;
  if (rate.empty()) return out;
  std::vector<int> sizes;
  std::vector<double> rhs;
  for (const auto& [milli, r] : rate) {
    sizes.push_back(milli);
    rhs.push_back(r);
  }
  const int n = static_cast<int>(sizes.size());
  std::vector<double> y(n, 0.0);
  {
    std::lock_guard<std::mutex> lock(lp::GlpkMutex());
    lp::GlpkProblem problem;
    glp_prob* lp = problem.get();
    glp_set_obj_dir(lp, GLP_MIN);
    glp_add_rows(lp, n);
    for (int i = 0; i < n; ++i) glp_set_row_bnds(lp, i + 1, GLP_LO, rhs[i], 0.0);
    std::set<std::vector<int>> patterns;
    for (int i = 0; i < n; ++i) {  // start: GPUs holding one size only
      std::vector<int> counts(n, 0);
      counts[i] = kMilli / sizes[i];
      patterns.insert(counts);
      AddPattern(lp, counts);
    }
    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    parm.presolve = GLP_OFF;  // keep the basis and duals between rounds
    for (int round = 0;; ++round) {
      const int rc = glp_simplex(lp, &parm);
      if (rc != 0 || glp_get_status(lp) != GLP_OPT) {
        return Status::Internal("share-packing LP: glp_simplex returned " + std::to_string(rc) +
                                ", status " + std::to_string(glp_get_status(lp)));
      }
      for (int i = 0; i < n; ++i) y[i] = std::max(0.0, glp_get_row_dual(lp, i + 1));
      std::vector<int> counts;
      const double value = lp::PriceKnapsack(sizes, y, &counts);
      if (value <= 1.0 + kPricingTolerance || round >= kMaxPricingRounds ||
          !patterns.insert(counts).second) {
        break;
      }
      AddPattern(lp, counts);
    }
  }
  out.price_.assign(kMilli + 1, 0.0);
  for (int i = 0; i < n; ++i) out.price_[sizes[i]] = y[i];
  std::vector<int64_t> cpu(n);
  for (int i = 0; i < n; ++i) cpu[i] = std::llround(cpu_sum[sizes[i]] / rhs[i]);
  out.value_.assign(kMilli + 1, 0.0);
  out.fill_cpu_milli_.assign(kMilli + 1, 0);
  for (int c = 1; c <= kMilli; ++c) {
    double v = out.value_[c - 1];
    int64_t v_cpu = out.fill_cpu_milli_[c - 1];
    for (int i = 0; i < n; ++i) {
      if (sizes[i] > c) continue;
      const double w = out.value_[c - sizes[i]] + y[i];
      const int64_t w_cpu = out.fill_cpu_milli_[c - sizes[i]] + cpu[i];
      // Among equal values the fill asking less CPU.
      if (w > v + 1e-12 || (w > v - 1e-12 && w_cpu < v_cpu)) {
        v = std::max(v, w);
        v_cpu = w_cpu;
      }
    }
    out.value_[c] = v;
    out.fill_cpu_milli_[c] = v_cpu;
  }
  return out;
}

double SharePackingPrices::Price(int milli) const {
  if (price_.empty() || milli < 0 || milli > kMilli) return 0.0;
  return price_[milli];
}

double SharePackingPrices::RoomValue(int free_milli) const {
  if (value_.empty()) return 0.0;
  return value_[std::clamp(free_milli, 0, kMilli)];
}

int64_t SharePackingPrices::FillCpuMilli(int free_milli) const {
  if (fill_cpu_milli_.empty()) return 0;
  return fill_cpu_milli_[std::clamp(free_milli, 0, kMilli)];
}

double SharePackingPrices::HostValue(std::span<const int32_t> free_milli,
                                     int64_t cpu_free_milli) const {
  double v = 0;
  int64_t cpu = std::max<int64_t>(0, cpu_free_milli);
  for (int32_t f : free_milli) {
    if (f <= 0) continue;
    const int64_t need = FillCpuMilli(f);
    if (need <= cpu) {
      v += RoomValue(f);
      cpu -= need;
    } else {
      v += RoomValue(f) * static_cast<double>(cpu) / static_cast<double>(need);
      cpu = 0;
    }
  }
  return v;
}

double SharePackingPrices::Loss(int free_milli, int milli) const {
  if (value_.empty()) return 0.0;
  return RoomValue(free_milli) - RoomValue(free_milli - milli) - Price(milli);
}

}  // namespace devshare::placement
