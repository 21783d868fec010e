// GPU-allocation upper bound: configuration LP with column generation, or an aggregated LP with
// dual-feasible-function cuts, solved with GLPK; the figure returned is a dual certificate.
#include "devshare/sim/bound.h"

#include <glpk.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

#include "devshare/core/device.h"
#include "devshare/lp/glpk_problem.h"
#include "devshare/lp/knapsack.h"

namespace devshare::sim {
namespace {

using lp::GlpkMutex;
using lp::GlpkProblem;
using lp::PriceKnapsack;

constexpr int kMilli = kMilliPerDevice;
// Reduced costs above this (objective in GPUs) make column generation add a pattern.
constexpr double kPricingTolerance = 1e-9;
// Upper end of the Fekete-Schepers U^(k) family used by the aggregated LP.
constexpr int kMaxFeketeSchepersK = 10;

struct NodeType {
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int gpus = 0;
  std::string model;
  double count = 0;
};

struct Shape {
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int num_gpu = 0;
  int milli = 0;  // per GPU
  std::vector<std::string> models;
  double count = 0;
  bool share() const { return num_gpu == 1 && milli < kMilli; }
};

// One LP column in our own sparse form (0-based rows), mirrored into GLPK (1-based).
struct Column {
  double obj = 0;  // GPUs (milli / 1000)
  std::vector<int> rows;
  std::vector<double> vals;
  double ub = -1;  // upper bound; < 0: none
  int shape = -1;  // x columns: the shape's index; patterns: -1
  void Add(int row, double v) {
    if (row >= 0 && v != 0) {
      rows.push_back(row);
      vals.push_back(v);
    }
  }
};

struct Model {
  std::vector<double> rhs;  // every row is "<= rhs"
  std::vector<Column> cols;
  int AddRow(double b) {
    rhs.push_back(b);
    return static_cast<int>(rhs.size()) - 1;
  }
};

const char* SimplexCodeName(int rc) {
  switch (rc) {
    case 0:
      return "ok";
    case GLP_EBADB:
      return "invalid initial basis";
    case GLP_ESING:
      return "singular basis matrix";
    case GLP_ECOND:
      return "ill-conditioned basis matrix";
    case GLP_EBOUND:
      return "inconsistent bounds";
    case GLP_EFAIL:
      return "solver failure";
    case GLP_EOBJLL:
      return "objective lower limit reached";
    case GLP_EOBJUL:
      return "objective upper limit reached";
    case GLP_EITLIM:
      return "iteration limit";
    case GLP_ETMLIM:
      return "time limit";
    case GLP_ENOPFS:
      return "no primal feasible solution";
    case GLP_ENODFS:
      return "no dual feasible solution";
    default:
      return "unknown code";
  }
}

const char* LpStatusName(int st) {
  switch (st) {
    case GLP_OPT:
      return "optimal";
    case GLP_FEAS:
      return "feasible";
    case GLP_INFEAS:
      return "infeasible";
    case GLP_NOFEAS:
      return "no feasible solution";
    case GLP_UNBND:
      return "unbounded";
    case GLP_UNDEF:
      return "undefined";
    default:
      return "unknown status";
  }
}

// Appends rows [first, model.rhs.size()) to the GLPK problem.
void PushRows(glp_prob* lp, const Model& model, size_t first) {
  const int n = static_cast<int>(model.rhs.size() - first);
  if (n <= 0) return;  // glp_add_rows aborts on 0
  const int base = glp_add_rows(lp, n);
  for (int i = 0; i < n; ++i) glp_set_row_bnds(lp, base + i, GLP_UP, 0.0, model.rhs[first + i]);
}

// Appends columns [first, model.cols.size()) to the GLPK problem (x >= 0).
void PushCols(glp_prob* lp, const Model& model, size_t first) {
  const int n = static_cast<int>(model.cols.size() - first);
  if (n <= 0) return;  // glp_add_cols aborts on 0
  const int base = glp_add_cols(lp, n);
  std::vector<int> ind;
  std::vector<double> val;
  for (int k = 0; k < n; ++k) {
    const Column& c = model.cols[first + k];
    const int j = base + k;
    if (c.ub >= 0) {
      glp_set_col_bnds(lp, j, c.ub > 0 ? GLP_DB : GLP_FX, 0.0, c.ub);
    } else {
      glp_set_col_bnds(lp, j, GLP_LO, 0.0, 0.0);
    }
    glp_set_obj_coef(lp, j, c.obj);
    ind.assign(1, 0);  // GLPK arrays are 1-based
    val.assign(1, 0.0);
    for (size_t e = 0; e < c.rows.size(); ++e) {
      ind.push_back(c.rows[e] + 1);
      val.push_back(c.vals[e]);
    }
    glp_set_mat_col(lp, j, static_cast<int>(c.rows.size()), ind.data(), val.data());
  }
}

// Solves to optimality (warm start; one retry from the standard basis).
Status Solve(glp_prob* lp, std::string* status_name) {
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.presolve = GLP_OFF;  // keep the basis and duals for column generation
  int rc = glp_simplex(lp, &parm);
  if (rc != 0 || glp_get_status(lp) != GLP_OPT) {
    glp_std_basis(lp);
    rc = glp_simplex(lp, &parm);
  }
  if (rc != 0) {
    *status_name = std::string("glp_simplex failed: ") + SimplexCodeName(rc);
    return Status::Internal("bound LP: " + *status_name);
  }
  const int st = glp_get_status(lp);
  *status_name = LpStatusName(st);
  if (st != GLP_OPT) return Status::Internal("bound LP not solved to optimality: " + *status_name);
  return Status::Ok();
}

// f(v / 1000) for the dual-feasible function U^(k) o f_eps (k = 0: no U; eps_milli = 0: no f_eps).
// f_eps (Martello-Toth): 1 above 1 - eps, identity in [eps, 1 - eps], 0 below eps; eps <= 1/2.
// U^(k) (Fekete-Schepers): x if (k + 1) x is an integer, else floor((k + 1) x) / k.
double Dff(int v, int eps_milli, int k) {
  int w = v;  // milli after f_eps; items of 1000 stay 1000
  if (eps_milli > 0) {
    if (v > kMilli - eps_milli) {
      w = kMilli;
    } else if (v < eps_milli) {
      w = 0;
    }
  }
  if (k == 0) return w / static_cast<double>(kMilli);
  const int64_t scaled = int64_t{k + 1} * w;
  if (scaled % kMilli == 0) return w / static_cast<double>(kMilli);
  return static_cast<double>(scaled / kMilli) / k;
}

Status ValidateNodes(const std::vector<NodeRecord>& nodes) {
  for (const NodeRecord& n : nodes) {
    if (n.cpu_milli < 0 || n.memory_mib < 0 || n.gpus < 0) {
      return Status::InvalidArgument("node '" + n.name + "': negative cpu, memory or GPU count");
    }
  }
  return Status::Ok();
}

Status ValidateShape(const VmRequest& r) {
  if (Status s = r.Validate(); !s.ok()) return s;
  if (!r.gpu.profile.empty()) {
    return Status::InvalidArgument("request " + r.id +
                                   ": GPU partition profiles are not modelled by the bound");
  }
  return Status::Ok();
}

int64_t CapacityMilli(const std::vector<NodeRecord>& nodes) {
  int64_t c = 0;
  for (const NodeRecord& n : nodes) c += int64_t{n.gpus} * kMilli;
  return c;
}

using ShapeKey = std::tuple<int64_t, int64_t, int, int, std::vector<std::string>>;

ShapeKey KeyOf(const VmRequest& r) {
  std::vector<std::string> models = r.gpu.models;
  std::sort(models.begin(), models.end());
  models.erase(std::unique(models.begin(), models.end()), models.end());
  return {r.cpu_milli, r.memory_mib, r.gpu.count, r.gpu.milli, std::move(models)};
}

bool Fits(const Shape& s, const NodeType& t) {
  if (s.num_gpu > t.gpus || s.cpu_milli > t.cpu_milli || s.memory_mib > t.memory_mib) {
    return false;
  }
  return s.models.empty() || std::find(s.models.begin(), s.models.end(), t.model) != s.models.end();
}

// Builds and solves the LP; REQUIRES: validated inputs; the GLPK mutex held.
Result<BoundResult> SolveBound(const std::vector<NodeRecord>& nodes,
                               const std::vector<ShapeDemand>& demand,
                               const BoundOptions& options) {
  BoundResult result;
  result.capacity_milli = CapacityMilli(nodes);
  result.solver_status = "optimal";

  // Node types (GPU nodes only: CPU-only nodes cannot hold GPU pods).
  std::map<std::tuple<int64_t, int64_t, int, std::string>, double> type_count;
  for (const NodeRecord& n : nodes) {
    if (n.gpus > 0) type_count[{n.cpu_milli, n.memory_mib, n.gpus, n.model}] += 1;
  }
  std::vector<NodeType> types;
  for (const auto& [k, c] : type_count) {
    types.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k), c});
  }
  // GPU shapes (CPU-only pods cannot raise GPU allocation).
  std::map<ShapeKey, double> shape_count;
  for (const ShapeDemand& d : demand) {
    result.demand_gpu_milli += d.count * static_cast<double>(d.shape.gpu.TotalMilli());
    if (d.shape.gpu.count > 0 && d.count > 0) shape_count[KeyOf(d.shape)] += d.count;
  }
  std::vector<Shape> shapes;
  for (const auto& [k, c] : shape_count) {
    Shape s{std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k), std::get<4>(k), c};
    bool any = false;
    for (const NodeType& t : types) any = any || Fits(s, t);
    if (any) shapes.push_back(std::move(s));
  }
  result.shapes = static_cast<int>(shapes.size());

  // Trivial valid bounds: placeable demand and capacity of types some shape fits.
  double trivial_demand = 0;
  for (const Shape& s : shapes) trivial_demand += s.count * s.num_gpu * s.milli;
  if (shapes.empty()) return result;

  const bool config = options.method == BoundOptions::Method::kConfiguration;
  // place_every_share_pod: each placed share pod earns this many GPUs of objective, more than
  // any trade against whole-GPU pods can win (a share pod displaces at most one node's GPUs
  // through its CPU and memory), so the LP is lexicographic: share pods first, then GPU milli.
  double share_bonus = 0;
  double share_pods = 0;
  if (options.place_every_share_pod) {
    int max_gpus = 0;
    for (const NodeType& t : types) max_gpus = std::max(max_gpus, t.gpus);
    share_bonus = max_gpus + 1.0;
    for (const Shape& s : shapes) share_pods += s.share() ? s.count : 0;
  }
  Model model;
  // (D) demand rows.
  std::vector<int> row_demand(shapes.size());
  for (size_t s = 0; s < shapes.size(); ++s) row_demand[s] = model.AddRow(shapes[s].count);

  struct TypeRows {
    int cpu = -1, mem = -1, gpu = -1, half = -1;
    std::map<int, int> per_k;  // (K) rows by num_gpu
    std::vector<int> values;   // share milli values some shape on this type has
    std::map<int, int> link;   // (L) rows by share milli
    std::vector<std::pair<int, std::vector<double>>> cuts;  // (F) row, f(values[i])
    std::set<std::vector<int>> patterns;
  };
  std::vector<TypeRows> tr(types.size());
  std::vector<std::vector<int>> fits(types.size());  // shapes fitting each type
  double trivial_capacity = 0;
  for (size_t t = 0; t < types.size(); ++t) {
    const NodeType& nt = types[t];
    TypeRows& r = tr[t];
    std::set<int> ks_half, values;
    bool cpu_used = false, mem_used = false;
    for (size_t s = 0; s < shapes.size(); ++s) {
      const Shape& sh = shapes[s];
      if (!Fits(sh, nt)) continue;
      fits[t].push_back(static_cast<int>(s));
      cpu_used = cpu_used || sh.cpu_milli > 0;
      mem_used = mem_used || sh.memory_mib > 0;
      if (sh.num_gpu >= 2) r.per_k[sh.num_gpu] = -1;
      if (sh.num_gpu >= 2 && 2 * sh.num_gpu > nt.gpus) ks_half.insert(sh.num_gpu);
      if (sh.share()) values.insert(sh.milli);
    }
    if (fits[t].empty()) continue;
    result.node_types++;
    trivial_capacity += nt.count * nt.gpus * kMilli;
    // (C), (M): normalised by the node amount, so the right-hand side is N_t.
    if (cpu_used) r.cpu = model.AddRow(nt.count);
    if (mem_used) r.mem = model.AddRow(nt.count);
    for (auto& [k, row] : r.per_k) row = model.AddRow(nt.count * (nt.gpus / k));
    if (ks_half.size() >= 2) r.half = model.AddRow(nt.count);  // one k alone is its (K) row
    r.values.assign(values.begin(), values.end());
    if (config) {
      r.gpu = model.AddRow(nt.count * nt.gpus);
      for (int v : r.values) r.link[v] = model.AddRow(0.0);
    } else {
      // (F) one row per distinct dual-feasible function on this type's share values.
      std::set<std::vector<double>> seen;
      std::vector<int> eps = {0};
      for (int v : r.values) {
        if (v <= kMilli / 2) eps.push_back(v);
      }
      for (int e : eps) {
        for (int k = 0; k <= kMaxFeketeSchepersK; ++k) {
          std::vector<double> f;
          for (int v : r.values) f.push_back(Dff(v, e, k));
          if (!seen.insert(f).second) continue;
          r.cuts.push_back({model.AddRow(nt.count * nt.gpus), std::move(f)});
        }
      }
    }
  }

  // x[s][t] columns.
  for (size_t t = 0; t < types.size(); ++t) {
    const NodeType& nt = types[t];
    const TypeRows& r = tr[t];
    for (int s : fits[t]) {
      const Shape& sh = shapes[s];
      Column c;
      c.shape = s;
      c.obj = static_cast<double>(sh.num_gpu) * sh.milli / kMilli + (sh.share() ? share_bonus : 0);
      // (U) pods of this shape alone on one node: floor(node amount / pod amount) per resource.
      int64_t per_node = sh.share() ? int64_t{nt.gpus} * (kMilli / sh.milli) : nt.gpus / sh.num_gpu;
      if (sh.cpu_milli > 0) per_node = std::min(per_node, nt.cpu_milli / sh.cpu_milli);
      if (sh.memory_mib > 0) per_node = std::min(per_node, nt.memory_mib / sh.memory_mib);
      c.ub = nt.count * static_cast<double>(per_node);
      c.Add(row_demand[s], 1.0);
      if (r.cpu >= 0) c.Add(r.cpu, static_cast<double>(sh.cpu_milli) / nt.cpu_milli);
      if (r.mem >= 0) c.Add(r.mem, static_cast<double>(sh.memory_mib) / nt.memory_mib);
      if (sh.num_gpu >= 2) c.Add(r.per_k.at(sh.num_gpu), 1.0);
      if (r.half >= 0 && sh.num_gpu >= 2 && 2 * sh.num_gpu > nt.gpus) c.Add(r.half, 1.0);
      if (config) {
        if (sh.share()) {
          c.Add(r.link.at(sh.milli), 1.0);
        } else {
          c.Add(r.gpu, sh.num_gpu);
        }
      } else {
        const size_t vi =
            sh.share()
                ? static_cast<size_t>(std::lower_bound(r.values.begin(), r.values.end(), sh.milli) -
                                      r.values.begin())
                : 0;
        for (const auto& [row, f] : r.cuts) c.Add(row, sh.share() ? f[vi] : sh.num_gpu);
      }
      model.cols.push_back(std::move(c));
    }
  }
  const size_t num_x_cols = model.cols.size();

  // Pattern column y[p][t] with multiplicities `counts` over tr[t].values.
  auto add_pattern = [&](size_t t, const std::vector<int>& counts) {
    if (!tr[t].patterns.insert(counts).second) return;
    Column c;
    c.Add(tr[t].gpu, 1.0);
    for (size_t i = 0; i < counts.size(); ++i) {
      c.Add(tr[t].link.at(tr[t].values[i]), -static_cast<double>(counts[i]));
    }
    model.cols.push_back(std::move(c));
  };
  if (config) {
    // Start with the homogeneous patterns (floor(1000 / v) pods of v on one GPU).
    for (size_t t = 0; t < types.size(); ++t) {
      for (size_t i = 0; i < tr[t].values.size(); ++i) {
        std::vector<int> counts(tr[t].values.size(), 0);
        counts[i] = kMilli / tr[t].values[i];
        add_pattern(t, counts);
      }
    }
  }

  GlpkProblem problem;
  glp_prob* lp = problem.get();
  glp_set_obj_dir(lp, GLP_MAX);
  PushRows(lp, model, 0);
  PushCols(lp, model, 0);

  // Clamped row duals (every row is "<=", so pi >= 0 is dual feasible in sign).
  std::vector<double> pi(model.rhs.size());
  std::vector<double> delta(types.size(), 0.0);  // max pattern reduced cost per type
  for (int round = 1;; ++round) {
    std::string status_name;
    if (Status s = Solve(lp, &status_name); !s.ok()) return s;
    result.pricing_rounds = round;
    result.lp_primal_milli = glp_get_obj_val(lp) * kMilli;  // minus the bonus, below
    for (size_t i = 0; i < pi.size(); ++i) {
      pi[i] = std::max(0.0, glp_get_row_dual(lp, static_cast<int>(i) + 1));
    }
    if (!config) break;
    std::vector<std::pair<size_t, std::vector<int>>> entering;
    for (size_t t = 0; t < types.size(); ++t) {
      delta[t] = 0;
      if (tr[t].values.empty()) continue;
      std::vector<double> profit;
      for (int v : tr[t].values) profit.push_back(pi[tr[t].link.at(v)]);
      std::vector<int> counts;
      const double value = PriceKnapsack(tr[t].values, profit, &counts);
      delta[t] = value - pi[tr[t].gpu];
      if (delta[t] > kPricingTolerance && !tr[t].patterns.count(counts)) {
        entering.push_back({t, std::move(counts)});
      }
    }
    if (entering.empty()) break;
    if (round >= options.max_pricing_rounds) {
      result.converged = false;  // the certificate below still covers the missing patterns
      break;
    }
    const size_t before = model.cols.size();
    for (const auto& [t, counts] : entering) add_pattern(t, counts);
    PushCols(lp, model, before);
  }

  // Primal composition: each shape's demand minus what its x columns place.
  std::vector<double> placed(shapes.size(), 0.0);
  for (size_t j = 0; j < num_x_cols; ++j) {
    placed[model.cols[j].shape] += glp_get_col_prim(lp, static_cast<int>(j) + 1);
  }
  double share_placed = 0;
  for (size_t s = 0; s < shapes.size(); ++s) {
    if (shapes[s].share()) share_placed += placed[s];
    const double left = shapes[s].count - placed[s];
    if (left > 1e-6) {
      result.unplaced_milli_by_gpu_milli[shapes[s].milli] +=
          left * shapes[s].num_gpu * shapes[s].milli;
      if (shapes[s].share()) result.share_pods_left_out += left;
    }
  }
  result.lp_primal_milli -= share_bonus * share_placed * kMilli;

  // Dual certificate (weak duality): raise (G) duals by the best pattern reduced cost, then the
  // demand dual of each shape by its worst x reduced cost; every column is then dual feasible,
  // so sum_i rhs_i * pi_i bounds the full LP (all patterns) whatever the solver's tolerances.
  if (config) {
    for (size_t t = 0; t < types.size(); ++t) {
      if (tr[t].gpu >= 0) pi[tr[t].gpu] += std::max(0.0, delta[t]);
    }
  }
  // x columns: either raise the shape's demand dual by its worst reduced cost (cost c_s * r_s)
  // or pay each column's positive reduced cost times its upper bound (U); take the cheaper.
  std::vector<double> worst(shapes.size(), 0.0), by_ub(shapes.size(), 0.0);
  for (size_t j = 0; j < num_x_cols; ++j) {
    const Column& c = model.cols[j];
    double d = c.obj;
    for (size_t e = 0; e < c.rows.size(); ++e) d -= c.vals[e] * pi[c.rows[e]];
    if (d <= 0) continue;
    worst[c.shape] = std::max(worst[c.shape], d);
    by_ub[c.shape] += d * c.ub;
  }
  double dual_obj = 0;
  for (size_t s = 0; s < shapes.size(); ++s) {
    dual_obj += std::min(shapes[s].count * worst[s], by_ub[s]);
  }
  for (size_t i = 0; i < pi.size(); ++i) dual_obj += model.rhs[i] * pi[i];

  // With the bonus, every placement placing all share pods has objective = milli + bonus x
  // share_pods, so dual_obj - bonus x share_pods bounds its milli. If the optimum cannot place
  // them all, no placement does; the figure is then for the most share pods that fit, taken
  // from the primal solution (exact once column generation converged).
  double certified = dual_obj - share_bonus * share_pods;
  if (options.place_every_share_pod && result.share_pods_left_out > 1e-6) {
    certified = result.lp_primal_milli / kMilli;
    result.solver_status = "not every share pod fits; figure for the most that do (primal)";
  }
  result.max_gpu_milli = std::min({certified * kMilli, trivial_demand, trivial_capacity});
  result.lp_rows = glp_get_num_rows(lp);
  result.lp_cols = glp_get_num_cols(lp);
  result.patterns = 0;
  for (const TypeRows& r : tr) result.patterns += static_cast<int>(r.patterns.size());
  if (!result.converged) result.solver_status = "optimal (pricing round limit; dual bound)";
  return result;
}

Result<BoundResult> Finish(Result<BoundResult> r) {
  if (!r.ok()) return r;
  BoundResult b = std::move(r).value();
  b.max_alloc_pct =
      b.capacity_milli > 0 ? 100.0 * b.max_gpu_milli / static_cast<double>(b.capacity_milli) : 0;
  return b;
}

}  // namespace

Result<BoundResult> ComputeAllocationBoundForDemand(const std::vector<NodeRecord>& nodes,
                                                    const std::vector<ShapeDemand>& demand,
                                                    const BoundOptions& options) {
  if (Status s = ValidateNodes(nodes); !s.ok()) return s;
  for (const ShapeDemand& d : demand) {
    if (Status s = ValidateShape(d.shape); !s.ok()) return s;
    if (!std::isfinite(d.count) || d.count < 0) {
      return Status::InvalidArgument("shape " + d.shape.id + ": count must be finite and >= 0");
    }
  }
  if (options.max_pricing_rounds < 1) {
    return Status::InvalidArgument("max_pricing_rounds must be >= 1");
  }
  std::lock_guard<std::mutex> lock(GlpkMutex());
  glp_term_out(GLP_OFF);
  return Finish(SolveBound(nodes, demand, options));
}

Result<BoundResult> ComputeAllocationBound(const std::vector<NodeRecord>& nodes,
                                           const std::vector<VmRequest>& arrived,
                                           const BoundOptions& options) {
  std::vector<ShapeDemand> demand;
  demand.reserve(arrived.size());
  for (const VmRequest& r : arrived) demand.push_back({r, 1.0});
  return ComputeAllocationBoundForDemand(nodes, demand, options);
}

Result<BoundResult> ComputeExpectedAllocationBound(const std::vector<NodeRecord>& nodes,
                                                   const std::vector<VmRequest>& trace_pods,
                                                   const BoundOptions& options) {
  int64_t total = 0;
  for (const VmRequest& r : trace_pods) {
    if (Status s = ValidateShape(r); !s.ok()) return s;
    total += r.gpu.TotalMilli();
  }
  if (total <= 0) return Status::InvalidArgument("the trace has no GPU demand");
  const double scale = static_cast<double>(CapacityMilli(nodes)) / static_cast<double>(total);
  std::vector<ShapeDemand> demand;
  demand.reserve(trace_pods.size());
  for (const VmRequest& r : trace_pods) demand.push_back({r, scale});
  return ComputeAllocationBoundForDemand(nodes, demand, options);
}

std::vector<VmRequest> ArrivedAt100(const std::vector<VmRequest>& sequence,
                                    int64_t capacity_milli) {
  std::vector<VmRequest> out;
  int64_t arrived = 0;
  for (const VmRequest& r : sequence) {
    if (arrived + r.gpu.TotalMilli() > capacity_milli) break;
    arrived += r.gpu.TotalMilli();
    out.push_back(r);
  }
  return out;
}

}  // namespace devshare::sim
