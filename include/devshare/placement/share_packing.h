// Prices of shared-GPU requests from the bin-packing LP over one GPU (Gilmore-Gomory).
//
// Requests that share a GPU (per-GPU milli < 1000) arrive in a known mix: size s with rate d_s.
// Packing them into as few GPUs as possible is the LP  min sum_p x_p  s.t.  sum_p a_sp x_p >= d_s
// over patterns p (multisets of sizes summing to <= 1000 milli). Its dual gives each size a
// price y_s in GPUs with sum_{s in p} y_s <= 1 for every pattern, equality on the patterns an
// optimal packing uses. The value of free room f is the best price sum that fits in it,
// V(f) (an unbounded knapsack, V(1000) = 1 at the optimum). Placing s where f is free loses
//     V(f) - V(f - s) - y_s  >= 0
// GPUs of potential: 0 when s completes part of an optimal pattern (a 470 next to a 470 when the
// mix is mostly 470s), > 0 when it spoils room a likelier pattern needed (a 320 next to a 470
// leaves 210 that nothing common fills). The devshare policy adds the host form of this loss
// (HostValue before minus after, minus y_s) to its score.
// The LP is solved with GLPK through devshare::lp (lp/glpk_problem.h, lp/knapsack.h).
// Thread-safety: SharePackingPrices is an immutable value after Solve(); Solve() may run on any
// thread (it takes lp::GlpkMutex()).
#ifndef DEVSHARE_PLACEMENT_SHARE_PACKING_H_
#define DEVSHARE_PLACEMENT_SHARE_PACKING_H_

#include <cstdint>
#include <span>
#include <vector>

#include "devshare/core/result.h"
#include "devshare/core/status.h"

namespace devshare::placement {

// One size of shared request and how often it arrives (any unit; only ratios matter).
struct ShareDemand {
  int milli = 0;  // per-GPU milli, 1..999
  double rate = 0;
  int64_t cpu_milli = 0;  // CPU each request of this size asks (mean over the merged entries)
};

class SharePackingPrices {
 public:
  // No prices: every loss is 0.
  SharePackingPrices() = default;

  // Solves the LP for `demand` (sizes outside 1..999 or with rate <= 0 are ignored; equal sizes
  // are merged). Empty demand gives no prices. Errors: the LP solver failed.
  static Result<SharePackingPrices> Solve(const std::vector<ShareDemand>& demand);

  bool empty() const { return value_.empty(); }
  // y_s in GPUs (0 for a size not in the demand).
  double Price(int milli) const;
  // V(f) in GPUs, f clamped to 0..1000.
  double RoomValue(int free_milli) const;
  // V(free) - V(free - milli) - y_milli in GPUs (>= 0 up to rounding); 0 without prices.
  // REQUIRES: 0 < milli <= free_milli <= 1000.
  double Loss(int free_milli, int milli) const;
  // CPU the best fill of `free_milli` (the one RoomValue counts) asks, in milli.
  int64_t FillCpuMilli(int free_milli) const;
  // Packing potential of a host in GPUs: each GPU counts RoomValue of its free milli (1 for a
  // free GPU), scaled down when the host's free CPU cannot take the requests that would fill it
  // (GPUs take CPU in order of index). A room on a host without CPU is worth nothing: no
  // request can use it.
  double HostValue(std::span<const int32_t> free_milli, int64_t cpu_free_milli) const;

 private:
  std::vector<double> price_;            // [milli 0..1000]
  std::vector<double> value_;            // [free milli 0..1000]
  std::vector<int64_t> fill_cpu_milli_;  // [free milli 0..1000]
};

}  // namespace devshare::placement

#endif  // DEVSHARE_PLACEMENT_SHARE_PACKING_H_
