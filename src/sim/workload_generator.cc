// Synthetic openb-like workload generator (reference/gpu-sharing-benchmark.md §1).
//
// Nodes: the 15 node shapes of the openb GPU cluster, scaled to the requested size by
// largest-remainder apportionment of the trace counts (exact counts at 1,213 nodes), then shuffled.
//
// Pods: drawn from a fixed catalogue of ~90 discrete pod shapes, because the real trace is made
// of a few popular shapes (91 distinct ones, the top one 12.8 % of pods) and fragmentation-aware
// placement reacts to exactly that. The catalogue is built deterministically (independent of the
// seed) from the published statistics:
//   1. Pod classes are (num_gpu, gpu_milli) pairs with their trace counts: CPU-only, the 20
//      fractional gpu_milli values of the histogram, whole single GPU, and 2/4/8 GPUs.
//   2. Shape popularity follows a Zipf-Mandelbrot law w_r = 1/(r+1); rank 1 is pinned to the
//      810-milli class (the trace's top shape), the other ranks go to the class with the largest
//      remaining mass deficit, and each class's shape weights are rescaled to its trace mass.
//   3. Every shape gets a CPU "key" in quantile space (small GPU shares ask for little CPU, whole
//      GPUs for more, multi-GPU pods for the most). Shapes sorted by key cover consecutive
//      probability intervals; a shape's cpu_milli is the piecewise-linear percentile function at
//      the interval midpoint (exact percentile value when the interval holds a published
//      percentile, else rounded to 100 milli), so the CPU marginal matches the published
//      percentiles. Memory does the same with a jittered copy of the CPU order (correlated, not
//      identical), rounded to 512 MiB. Multi-GPU pods take at least 8 CPUs per GPU.
// Shapes that fit no node of the generated cluster are dropped. Per-class pod counts are
// apportioned exactly (so GPU demand tracks the target), shapes within a class are drawn with the
// seeded Random, and all pods are shuffled before times and names are assigned.
// Only integer and IEEE basic arithmetic is used on random values, so the output is the same on
// every platform for a given seed.
#include "devshare/sim/workload_generator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <string>
#include <system_error>
#include <utility>

#include "devshare/core/random.h"

namespace devshare::sim {
namespace {

constexpr int kMinNodes = 1;
constexpr int kMaxNodes = 100000;
constexpr int kMaxPods = 10000000;  // guards memory; 100,000 nodes need ~670k pods

// ---- Cluster -----------------------------------------------------------------------------------

struct NodeShape {
  const char* model;
  int gpus;
  int vcpu;
  int64_t memory_mib;
  int64_t trace_count;  // nodes of this shape in openb_node_list_gpu_node.csv
};

// §1 cluster table: 1,213 nodes, 6,212 GPUs, 107,018 vCPU, 503,828,480 MiB.
constexpr std::array<NodeShape, 15> kNodeShapes = {{
    {"G2", 8, 96, 393216, 549},
    {"T4", 2, 104, 524288, 387},
    {"T4", 4, 96, 393216, 17},
    {"P100", 2, 16, 122880, 107},
    {"P100", 2, 64, 262144, 22},
    {"P100", 1, 8, 61440, 3},
    {"P100", 2, 8, 61440, 2},
    {"V100M16", 4, 32, 131072, 28},
    {"V100M16", 1, 8, 32768, 19},
    {"V100M16", 8, 64, 262144, 7},
    {"V100M16", 8, 82, 344064, 1},
    {"G3", 8, 128, 786432, 39},
    {"V100M32", 8, 96, 786432, 21},
    {"V100M32", 4, 48, 376832, 9},
    {"A10", 1, 128, 1048576, 2},
}};

// Largest-remainder (Hamilton) apportionment of `total` over integer `weights`; ties go to the
// larger weight, then to the earlier index. Returns counts summing to `total` (0 if no weight).
std::vector<int64_t> Apportion(const std::vector<int64_t>& weights, int64_t total) {
  std::vector<int64_t> counts(weights.size(), 0);
  const int64_t sum = std::accumulate(weights.begin(), weights.end(), int64_t{0});
  if (sum <= 0 || total <= 0) return counts;
  std::vector<std::pair<int64_t, size_t>> remainders;  // (remainder, index)
  int64_t assigned = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    counts[i] = total * weights[i] / sum;
    assigned += counts[i];
    remainders.emplace_back(total * weights[i] % sum, i);
  }
  std::sort(remainders.begin(), remainders.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    if (weights[a.second] != weights[b.second]) return weights[a.second] > weights[b.second];
    return a.second < b.second;
  });
  for (size_t k = 0; assigned < total; ++k, ++assigned) ++counts[remainders[k].second];
  return counts;
}

// ---- Pod catalogue -----------------------------------------------------------------------------

struct PodClass {
  int num_gpu;
  int gpu_milli;
  int64_t trace_count;  // pods of this class in openb_pod_list_default.csv
  double key_center;    // CPU rank position (quantile space) of the class's most popular shape
  double key_spread;    // the class's other shapes spread over key_center +- key_spread
  int min_shapes = 1;   // multi-GPU classes get a few shapes so they are not all alike
};

// §1 default pod list: 1,088 CPU-only, the num_gpu==1 gpu_milli histogram, 16/15/44 multi-GPU.
// Key centres encode the trace's CPU/GPU correlation: small GPU shares come with few CPUs (the
// top shape is 3152m CPU with 810m GPU), whole GPUs with around the median, CPU-only pods spread
// over the upper half, multi-GPU pods hold the top percent.
constexpr std::array<PodClass, 25> kPodClasses = {{
    {0, 0, 1088, 0.72, 0.27},    {1, 50, 7, 0.17, 0.12},      {1, 110, 24, 0.17, 0.12},
    {1, 140, 1, 0.17, 0.12},     {1, 160, 74, 0.17, 0.12},    {1, 220, 62, 0.17, 0.12},
    {1, 230, 140, 0.17, 0.12},   {1, 270, 4, 0.17, 0.12},     {1, 290, 1, 0.17, 0.12},
    {1, 320, 328, 0.17, 0.12},   {1, 330, 7, 0.17, 0.12},     {1, 350, 6, 0.17, 0.12},
    {1, 370, 47, 0.17, 0.12},    {1, 440, 2, 0.40, 0.20},     {1, 460, 128, 0.40, 0.20},
    {1, 470, 750, 0.40, 0.20},   {1, 480, 19, 0.40, 0.20},    {1, 550, 72, 0.45, 0.25},
    {1, 590, 75, 0.45, 0.25},    {1, 650, 253, 0.45, 0.25},   {1, 810, 1078, 0.10, 0.10},
    {1, 1000, 3911, 0.60, 0.35}, {2, 1000, 16, 2.02, 0.0, 2}, {4, 1000, 15, 2.04, 0.0, 2},
    {8, 1000, 44, 2.08, 0.0, 3},
}};
constexpr size_t kTopShapeClass = 20;  // the 810-milli class owns popularity rank 1
constexpr int kCatalogueShapes = 90;
constexpr uint64_t kCatalogueSeed = 0x6f70656e62ULL;  // fixed: the catalogue ignores options.seed

// Published percentiles (p0 = min, p100 = max) and piecewise-linear interpolation between them.
constexpr std::array<double, 8> kPercentileProbs = {0.0, 0.10, 0.25, 0.50, 0.75, 0.90, 0.99, 1.0};
constexpr std::array<int64_t, 8> kCpuMilliPercentiles = {1000,  3152,  4000,  11300,
                                                         12000, 16400, 32000, 120200};
constexpr std::array<int64_t, 8> kMemoryMibPercentiles = {0,     5600,  15258,  41560,
                                                          49152, 58368, 125952, 737280};

// Value of the catalogue shape covering probability interval [lo, hi): the published percentile
// when the interval contains one (keeps the trace's exact popular values such as 3152), else the
// interpolated value at the midpoint rounded to `granularity`.
int64_t QuantileValue(const std::array<int64_t, 8>& knots, double lo, double hi,
                      int64_t granularity) {
  for (size_t k = 1; k + 1 < kPercentileProbs.size(); ++k) {
    if (lo <= kPercentileProbs[k] && kPercentileProbs[k] < hi) return knots[k];
  }
  const double u = std::clamp((lo + hi) / 2, 0.0, 1.0);
  size_t k = 1;
  while (k + 1 < kPercentileProbs.size() && u > kPercentileProbs[k]) ++k;
  const double t = (u - kPercentileProbs[k - 1]) / (kPercentileProbs[k] - kPercentileProbs[k - 1]);
  const double v =
      static_cast<double>(knots[k - 1]) + t * static_cast<double>(knots[k] - knots[k - 1]);
  const int64_t rounded = (static_cast<int64_t>(v) + granularity / 2) / granularity * granularity;
  return std::clamp(rounded, knots.front(), knots.back());
}

struct PodShape {
  size_t pod_class;
  int num_gpu;
  int gpu_milli;
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  double weight = 0;  // probability within the whole catalogue
};

// Builds the fixed catalogue (see the file comment). Deterministic, independent of options.
std::vector<PodShape> BuildCatalogue() {
  const size_t num_classes = kPodClasses.size();
  double trace_pods = 0;
  for (const PodClass& c : kPodClasses) trace_pods += static_cast<double>(c.trace_count);

  // 1-2. Zipf-Mandelbrot ranks distributed over the classes.
  std::vector<double> rank_weight(kCatalogueShapes);
  double rank_sum = 0;
  for (int r = 0; r < kCatalogueShapes; ++r) rank_sum += rank_weight[r] = 1.0 / (r + 2);
  for (double& w : rank_weight) w /= rank_sum;
  std::vector<double> assigned(num_classes, 0);
  std::vector<std::vector<int>> ranks_of(num_classes);
  auto missing = [&](size_t c) {
    return std::max(0, kPodClasses[c].min_shapes - static_cast<int>(ranks_of[c].size()));
  };
  for (int r = 0; r < kCatalogueShapes; ++r) {
    size_t best = kTopShapeClass;
    if (r > 0) {
      int total_missing = 0;
      for (size_t c = 0; c < num_classes; ++c) total_missing += missing(c);
      double best_score = -1e300;
      for (size_t c = 0; c < num_classes; ++c) {
        const double mass = static_cast<double>(kPodClasses[c].trace_count) / trace_pods;
        // Once only as many ranks remain as shapes are missing, serve those classes only.
        if (kCatalogueShapes - r <= total_missing && missing(c) == 0) continue;
        const double score = mass - assigned[c];
        if (score > best_score) best_score = score, best = c;
      }
    }
    ranks_of[best].push_back(r);
    assigned[best] += rank_weight[r];
  }

  std::vector<PodShape> shapes;
  std::vector<double> cpu_key;
  for (size_t c = 0; c < num_classes; ++c) {
    const PodClass& pc = kPodClasses[c];
    const double mass = static_cast<double>(pc.trace_count) / trace_pods;
    const int k = static_cast<int>(ranks_of[c].size());
    const int half = std::max(1, k / 2);
    for (int j = 0; j < k; ++j) {
      PodShape s{c, pc.num_gpu, pc.gpu_milli};
      s.weight = rank_weight[ranks_of[c][j]] * mass / assigned[c];
      // Popularity order 0, +1, -1, +2, -2, ... around the class centre.
      const int step = (j + 1) / 2;
      const double offset = (j % 2 == 1 ? step : -step) / static_cast<double>(half);
      if (pc.num_gpu > 1) {
        // Multi-GPU pods: num_gpu times a per-GPU profile taken from the same percentiles
        // (trace: 8-16 CPUs and 32-90 GiB per GPU), at least 8 CPUs per GPU, capped at the
        // published maxima so they fit the 8-GPU nodes.
        const double u = 0.55 + 0.35 * offset;
        const int64_t cpu_per_gpu =
            std::max<int64_t>(8000, QuantileValue(kCpuMilliPercentiles, u, u, 100));
        const int64_t memory_per_gpu = QuantileValue(kMemoryMibPercentiles, u, u, 512);
        s.cpu_milli = std::min(cpu_per_gpu * pc.num_gpu, kCpuMilliPercentiles.back());
        s.memory_mib = std::min(memory_per_gpu * pc.num_gpu, kMemoryMibPercentiles.back());
      }
      shapes.push_back(s);
      cpu_key.push_back(pc.key_center + pc.key_spread * offset + 1e-9 * j);
    }
  }

  // 3. CPU from the key order, memory from a jittered key order.
  const size_t n = shapes.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  auto sort_by = [&](const std::vector<double>& key) {
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return key[a] != key[b] ? key[a] < key[b] : a < b; });
  };
  sort_by(cpu_key);
  std::vector<double> mid(n);
  double cum = 0;
  for (size_t i : order) {
    PodShape& s = shapes[i];
    // Multi-GPU pods (keys above 1) hold the top of the order; their values are set above.
    if (s.num_gpu <= 1) s.cpu_milli = QuantileValue(kCpuMilliPercentiles, cum, cum + s.weight, 100);
    mid[i] = cum + s.weight / 2;
    cum += s.weight;
  }
  Random jitter(kCatalogueSeed);
  std::vector<double> memory_key(n);
  for (size_t i = 0; i < n; ++i) {
    const double noise = (jitter.UniformDouble() - 0.5) * 0.16;
    memory_key[i] = shapes[i].num_gpu > 1 ? 2 + mid[i] : mid[i] + noise;
  }
  sort_by(memory_key);
  cum = 0;
  for (size_t i : order) {
    if (shapes[i].num_gpu <= 1) {
      shapes[i].memory_mib = QuantileValue(kMemoryMibPercentiles, cum, cum + shapes[i].weight, 512);
    }
    cum += shapes[i].weight;
  }
  return shapes;
}

bool Fits(const PodShape& p, const NodeShape& n) {
  return p.num_gpu <= n.gpus && p.cpu_milli <= int64_t{n.vcpu} * 1000 &&
         p.memory_mib <= n.memory_mib;
}

// ---- Pod attributes ----------------------------------------------------------------------------

// §1 qos counts: sharing pods 2,319 BE / 759 LS; the other 5,074 pods 3,888 LS / 1,079 BE /
// 100 Burstable / 7 Guaranteed.
const char* DrawQos(bool sharing, Random& rng) {
  if (sharing) return rng.Uniform(3078) < 2319 ? "BE" : "LS";
  const uint64_t v = rng.Uniform(5074);
  if (v < 3888) return "LS";
  if (v < 3888 + 1079) return "BE";
  if (v < 3888 + 1079 + 100) return "Burstable";
  return "Guaranteed";
}

struct SpecChoice {
  std::vector<std::string> models;
  uint64_t weight;
};

// The constraints the gpuspec variants use most, with relative frequencies.
std::vector<SpecChoice> SpecChoices() {
  return {{{"T4"}, 35}, {{"G2"}, 30}, {{"P100"}, 20}, {{"V100M16", "V100M32"}, 15}};
}
constexpr uint64_t kSpecPerMille = 100;  // ~10 % of GPU pods carry a model constraint

// Lognormal-like job duration (median 3 h, sigma 1.5), as a quantile table so the result is
// platform-independent; the tail runs to 60 days.
constexpr std::array<double, 16> kDurationProbs = {0.0,  0.01, 0.05, 0.10, 0.20, 0.30, 0.40,  0.50,
                                                   0.60, 0.70, 0.80, 0.90, 0.95, 0.99, 0.999, 1.0};
constexpr std::array<int64_t, 16> kDurationS = {60,     330,    916,     1580,   3056,  4918,
                                                7386,   10800,  15793,   23716,  38167, 73838,
                                                127336, 353919, 1113089, 5184000};
constexpr int64_t kSpanS = int64_t{149} * 24 * 3600;

int64_t DrawDurationS(Random& rng) {
  const double u = rng.UniformDouble();
  size_t k = 1;
  while (k + 1 < kDurationProbs.size() && u > kDurationProbs[k]) ++k;
  const double t = (u - kDurationProbs[k - 1]) / (kDurationProbs[k] - kDurationProbs[k - 1]);
  return std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(kDurationS[k - 1]) +
                              t * static_cast<double>(kDurationS[k] - kDurationS[k - 1])));
}

// prefix + index zero-padded to `width` digits, e.g. "gen-node-00042".
std::string IndexedName(const char* prefix, int64_t index, int width) {
  const std::string digits = std::to_string(index);
  std::string name(prefix);
  if (static_cast<int>(digits.size()) < width) name.append(width - digits.size(), '0');
  return name + digits;
}

int NameWidth(int64_t count, int min_width) {
  int width = 1;
  for (int64_t v = std::max<int64_t>(count - 1, 0); v >= 10; v /= 10) ++width;
  return std::max(width, min_width);
}

}  // namespace

Result<GeneratedWorkload> GenerateWorkload(const GeneratorOptions& options) {
  if (options.nodes < kMinNodes || options.nodes > kMaxNodes) {
    return Status::InvalidArgument("nodes must be in " + std::to_string(kMinNodes) + ".." +
                                   std::to_string(kMaxNodes) + ", got " +
                                   std::to_string(options.nodes));
  }
  if (options.pods < 0 || options.pods > kMaxPods) {
    return Status::InvalidArgument("pods must be in 0.." + std::to_string(kMaxPods) +
                                   " (0 = derive from the cluster), got " +
                                   std::to_string(options.pods));
  }
  Random rng(options.seed);
  GeneratedWorkload w;

  // Cluster.
  std::vector<int64_t> shape_weights;
  for (const NodeShape& s : kNodeShapes) shape_weights.push_back(s.trace_count);
  const std::vector<int64_t> node_counts = Apportion(shape_weights, options.nodes);
  std::vector<size_t> node_shape_of;
  node_shape_of.reserve(options.nodes);
  int64_t cluster_gpus = 0;
  for (size_t s = 0; s < kNodeShapes.size(); ++s) {
    node_shape_of.insert(node_shape_of.end(), node_counts[s], s);
    cluster_gpus += node_counts[s] * kNodeShapes[s].gpus;
  }
  rng.Shuffle(node_shape_of);
  const int node_width = NameWidth(options.nodes, 5);
  w.nodes.reserve(node_shape_of.size());
  for (size_t i = 0; i < node_shape_of.size(); ++i) {
    const NodeShape& s = kNodeShapes[node_shape_of[i]];
    NodeRecord n;
    n.name = IndexedName("gen-node-", static_cast<int64_t>(i), node_width);
    n.cpu_milli = int64_t{s.vcpu} * 1000;
    n.memory_mib = s.memory_mib;
    n.gpus = s.gpus;
    n.model = s.model;
    w.nodes.push_back(std::move(n));
  }

  // Catalogue restricted to shapes that fit a node of this cluster, plus the feasible model
  // constraints of each shape.
  const std::vector<SpecChoice> specs = SpecChoices();
  std::vector<PodShape> catalogue;
  std::vector<std::vector<size_t>> feasible_specs;
  for (const PodShape& p : BuildCatalogue()) {
    bool fits = false;
    std::vector<size_t> ok_specs;
    for (size_t s = 0; s < kNodeShapes.size(); ++s) {
      if (node_counts[s] > 0 && Fits(p, kNodeShapes[s])) fits = true;
    }
    if (!fits) continue;
    for (size_t c = 0; c < specs.size() && p.num_gpu > 0; ++c) {
      for (size_t s = 0; s < kNodeShapes.size(); ++s) {
        const auto& models = specs[c].models;
        if (node_counts[s] > 0 && Fits(p, kNodeShapes[s]) &&
            std::find(models.begin(), models.end(), kNodeShapes[s].model) != models.end()) {
          ok_specs.push_back(c);
          break;
        }
      }
    }
    catalogue.push_back(p);
    feasible_specs.push_back(std::move(ok_specs));
  }

  // Per-class pod counts (exact apportionment of the trace's class mix).
  std::vector<int64_t> class_weights(kPodClasses.size(), 0);
  std::vector<std::vector<size_t>> shapes_of(kPodClasses.size());
  for (size_t i = 0; i < catalogue.size(); ++i) shapes_of[catalogue[i].pod_class].push_back(i);
  double gpu_milli_per_trace_pod = 0, trace_pods = 0;
  for (size_t c = 0; c < kPodClasses.size(); ++c) {
    if (shapes_of[c].empty()) continue;
    class_weights[c] = kPodClasses[c].trace_count;
    trace_pods += static_cast<double>(kPodClasses[c].trace_count);
    gpu_milli_per_trace_pod += static_cast<double>(kPodClasses[c].trace_count) *
                               kPodClasses[c].num_gpu * kPodClasses[c].gpu_milli;
  }
  gpu_milli_per_trace_pod /= trace_pods;
  // Class counts fix the total GPU request exactly (a class is a (num_gpu, gpu_milli) pair).
  auto request_gpu_milli = [&](const std::vector<int64_t>& counts) {
    int64_t total = 0;
    for (size_t c = 0; c < counts.size(); ++c) {
      total += counts[c] * kPodClasses[c].num_gpu * kPodClasses[c].gpu_milli;
    }
    return total;
  };
  int64_t num_pods = options.pods;
  if (num_pods == 0) {
    // Total GPU request ~98 % of capacity, as in the openb default trace (6,086.8 of 6,212):
    // estimate the count, then take the nearby count whose request is closest to the target
    // without exceeding the capacity (matters for small clusters).
    const double target_milli = 0.98 * static_cast<double>(cluster_gpus) * 1000.0;
    const int64_t estimate = static_cast<int64_t>(target_milli / gpu_milli_per_trace_pod + 0.5);
    double best_error = -1;
    for (int64_t n = std::max<int64_t>(1, estimate - 5); n <= estimate + 5; ++n) {
      const int64_t request = request_gpu_milli(Apportion(class_weights, n));
      if (request > cluster_gpus * 1000 && n > 1) continue;
      const double error = std::abs(static_cast<double>(request) - target_milli);
      if (best_error < 0 || error < best_error) best_error = error, num_pods = n;
    }
  }
  const std::vector<int64_t> class_counts = Apportion(class_weights, num_pods);

  // Shapes within a class drawn by weight, then the whole list shuffled.
  std::vector<uint32_t> pod_shape;
  pod_shape.reserve(num_pods);
  for (size_t c = 0; c < kPodClasses.size(); ++c) {
    if (class_counts[c] == 0) continue;
    std::vector<double> cumulative;
    double total = 0;
    for (size_t i : shapes_of[c]) cumulative.push_back(total += catalogue[i].weight);
    for (int64_t k = 0; k < class_counts[c]; ++k) {
      const double u = rng.UniformDouble() * total;
      size_t j = static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                                     cumulative.begin());
      j = std::min(j, cumulative.size() - 1);
      pod_shape.push_back(static_cast<uint32_t>(shapes_of[c][j]));
    }
  }
  rng.Shuffle(pod_shape);

  // Arrival times: a Poisson process conditioned on the count = sorted uniform times.
  std::vector<int64_t> creation_s;
  if (options.with_times) {
    creation_s.resize(pod_shape.size());
    for (int64_t& t : creation_s) t = static_cast<int64_t>(rng.Uniform(kSpanS));
    std::sort(creation_s.begin(), creation_s.end());
  }

  const int pod_width = NameWidth(num_pods, 6);
  w.pods.reserve(pod_shape.size());
  for (size_t i = 0; i < pod_shape.size(); ++i) {
    const PodShape& s = catalogue[pod_shape[i]];
    PodRecord p;
    p.name = IndexedName("gen-pod-", static_cast<int64_t>(i), pod_width);
    p.cpu_milli = s.cpu_milli;
    p.memory_mib = s.memory_mib;
    p.num_gpu = s.num_gpu;
    p.gpu_milli = s.gpu_milli;
    p.qos = DrawQos(s.num_gpu == 1 && s.gpu_milli < 1000, rng);
    p.phase = "Running";
    if (s.num_gpu > 0 && rng.Uniform(1000) < kSpecPerMille) {
      const std::vector<size_t>& ok = feasible_specs[pod_shape[i]];
      uint64_t total = 0;
      for (size_t c : ok) total += specs[c].weight;
      if (total > 0) {
        uint64_t v = rng.Uniform(total);
        for (size_t c : ok) {
          if (v < specs[c].weight) {
            p.gpu_spec = specs[c].models;
            break;
          }
          v -= specs[c].weight;
        }
      }
    }
    if (options.with_times) {
      p.creation_time_s = creation_s[i];
      p.scheduled_time_s = creation_s[i];
      p.deletion_time_s = creation_s[i] + DrawDurationS(rng);
    }
    w.pods.push_back(std::move(p));
  }
  return w;
}

Status WriteWorkload(const GeneratedWorkload& w, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Unavailable("cannot create directory '" + dir + "': " + ec.message());
  const std::filesystem::path base(dir);
  DS_RETURN_IF_ERROR(WriteNodeCsv((base / "openb_node_list_gpu_node.csv").string(), w.nodes));
  return WritePodCsv((base / "openb_pod_list_default.csv").string(), w.pods);
}

}  // namespace devshare::sim
