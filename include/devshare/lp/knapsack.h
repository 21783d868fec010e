// The unbounded-knapsack pricing step of column generation over one GPU, shared by the
// share-packing prices (placement) and the allocation bound (sim).
// Thread-safety: pure function.
#ifndef DEVSHARE_LP_KNAPSACK_H_
#define DEVSHARE_LP_KNAPSACK_H_

#include <vector>

namespace devshare::lp {

// Best pattern for prices `profit[i]` of share values `values[i]` (milli, 1..1000): an unbounded
// knapsack of capacity 1000 milli. Returns its value; `counts` receives the multiplicity of
// each value. Values with profit <= 0 are never picked.
double PriceKnapsack(const std::vector<int>& values, const std::vector<double>& profit,
                     std::vector<int>* counts);

}  // namespace devshare::lp

#endif  // DEVSHARE_LP_KNAPSACK_H_
