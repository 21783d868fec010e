// FGD fragmentation measure (ATC'23, pkg/utils/frag.go semantics; reference §2b).
#include "devshare/placement/fragmentation.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace devshare::placement {
namespace {

std::string JoinModels(const std::vector<std::string>& models) {
  std::string s;
  for (size_t i = 0; i < models.size(); ++i) s += (i ? "|" : "") + models[i];
  return s;
}

bool Accepts(const TaskShape& m, const std::string& model) {
  return m.models.empty() || std::find(m.models.begin(), m.models.end(), model) != m.models.end();
}

}  // namespace

TaskShape TaskShape::Of(const VmRequest& r) {
  TaskShape s;
  s.cpu_milli = r.cpu_milli;
  s.num_gpu = r.gpu.count;
  s.gpu_milli = r.gpu.count > 0 ? r.gpu.milli : 0;
  s.models = r.gpu.models;
  return s;
}

std::string TaskShape::ToString() const {
  std::string s = "(" + std::to_string(cpu_milli) + "m, ";
  s += num_gpu == 0 ? "0 GPU" : std::to_string(num_gpu) + "x" + std::to_string(gpu_milli) + "m";
  if (!models.empty()) s += ", " + JoinModels(models);
  return s + ")";
}

TypicalPods::TypicalPods(std::vector<WeightedShape> shapes) : shapes_(std::move(shapes)) {
  distinct_shapes_ = static_cast<int>(shapes_.size());
}

TypicalPods TypicalPods::FromPods(std::span<const VmRequest> pods, double coverage) {
  using Key = std::tuple<int64_t, int, int, std::string>;
  std::map<Key, int64_t> counts;
  for (const VmRequest& r : pods) {
    TaskShape s = TaskShape::Of(r);
    ++counts[{s.cpu_milli, s.gpu_milli, s.num_gpu, JoinModels(s.models)}];
  }
  std::vector<std::pair<Key, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    const auto& [ca, ga, na, sa] = a.first;
    const auto& [cb, gb, nb, sb] = b.first;
    if (ca != cb) return ca > cb;
    if (ga != gb) return ga > gb;
    if (na != nb) return na > nb;
    return sa > sb;
  });
  const double total = static_cast<double>(pods.size());
  std::vector<WeightedShape> kept;
  int64_t cum = 0;
  for (const auto& [key, count] : sorted) {
    if (total > 0 && static_cast<double>(cum) >= coverage * total) break;
    WeightedShape w;
    const auto& [cpu, milli, num, spec] = key;
    w.shape.cpu_milli = cpu;
    w.shape.gpu_milli = milli;
    w.shape.num_gpu = num;
    if (!spec.empty()) {
      size_t start = 0;
      while (true) {
        size_t bar = spec.find('|', start);
        w.shape.models.push_back(spec.substr(start, bar - start));
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
    }
    w.count = count;
    cum += count;
    kept.push_back(std::move(w));
  }
  for (WeightedShape& w : kept) w.p = static_cast<double>(w.count) / static_cast<double>(cum);
  TypicalPods t(std::move(kept));
  t.distinct_shapes_ = static_cast<int>(sorted.size());
  t.kept_coverage_ = total > 0 ? static_cast<double>(cum) / total : 1.0;
  return t;
}

double TypicalPods::ShapeFragMilli(int64_t cpu_free_milli, std::span<const int32_t> gpu_free,
                                   const std::string& model, const TaskShape& m) {
  int64_t total = 0;
  for (int32_t f : gpu_free) total += f;
  if (m.num_gpu == 0 || !Accepts(m, model)) return static_cast<double>(total);
  int fitting = 0;
  int64_t too_small = 0;
  for (int32_t f : gpu_free) {
    if (f >= m.gpu_milli) {
      ++fitting;
    } else {
      too_small += f;
    }
  }
  if (fitting >= m.num_gpu && cpu_free_milli >= m.cpu_milli) return static_cast<double>(too_small);
  return static_cast<double>(total);
}

const TypicalPods::ModelView& TypicalPods::ViewFor(const std::string& model) const {
  auto it = views_.find(model);
  if (it != views_.end()) return it->second;
  ModelView v;
  for (const WeightedShape& w : shapes_) {
    if (w.shape.num_gpu == 0 || !Accepts(w.shape, model)) {
      v.blind_p += w.p;
    } else {
      v.gpu_shapes.push_back(&w);
    }
  }
  return views_.emplace(model, std::move(v)).first->second;
}

double TypicalPods::NodeFragMilli(int64_t cpu_free_milli, std::span<const int32_t> gpu_free,
                                  const std::string& model) const {
  int64_t total = 0;
  for (int32_t f : gpu_free) total += f;
  if (total == 0) return 0;
  const ModelView& v = ViewFor(model);
  double frag = v.blind_p * static_cast<double>(total);
  for (const WeightedShape* w : v.gpu_shapes) {
    const TaskShape& m = w->shape;
    if (cpu_free_milli < m.cpu_milli) {
      frag += w->p * static_cast<double>(total);
      continue;
    }
    int fitting = 0;
    int64_t too_small = 0;
    for (int32_t f : gpu_free) {
      if (f >= m.gpu_milli) {
        ++fitting;
      } else {
        too_small += f;
      }
    }
    frag += w->p * static_cast<double>(fitting >= m.num_gpu ? too_small : total);
  }
  return frag;
}

}  // namespace devshare::placement
