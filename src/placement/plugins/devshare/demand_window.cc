// The devshare policy's demand window (see the header).
// Thread-safety: see demand_window.h.
#include "placement/plugins/devshare/demand_window.h"

#include <cmath>
#include <utility>

namespace devshare::placement::devshare_policy {

ClassCounts CountClasses(const std::vector<VmRequest>& requests) {
  ClassCounts out;
  out.requests = requests.size();
  for (const VmRequest& r : requests) {
    if (!r.gpu.Any()) continue;
    Demand d;
    d.shape = TaskShape::Of(r);
    d.memory_mib = r.memory_mib;
    size_t i = 0;
    while (i < out.classes.size() && !out.classes[i].SameClass(d)) ++i;
    if (i == out.classes.size()) {
      out.classes.push_back(std::move(d));
      out.counts.push_back(0);
    }
    ++out.counts[i];
  }
  return out;
}

DemandClasses PricedClasses(ClassCounts counted, const TypicalPods& m) {
  DemandClasses out;
  std::vector<Demand>& classes = counted.classes;
  const std::vector<int64_t>& counts = counted.counts;
  for (size_t i = 0; i < classes.size(); ++i) {
    classes[i].rate = static_cast<double>(counts[i]) / static_cast<double>(counted.requests);
    if (counts[i] < kMinCapRequests) continue;
    bool in_m = false;
    for (const WeightedShape& w : m.shapes()) in_m = in_m || w.shape == classes[i].shape;
    if (!in_m) out.caps.push_back(i);
  }
  out.classes = std::move(classes);
  return out;
}

double TotalVariation(const TypicalPods& a, const TypicalPods& b) {
  double d = 0;
  for (const WeightedShape& x : a.shapes()) {
    double q = 0;
    for (const WeightedShape& y : b.shapes()) q += x.shape == y.shape ? y.p : 0;
    d += std::abs(x.p - q);
  }
  for (const WeightedShape& y : b.shapes()) {
    bool in_a = false;
    for (const WeightedShape& x : a.shapes()) in_a = in_a || x.shape == y.shape;
    if (!in_a) d += y.p;
  }
  return d / 2;
}

DemandWindow::DemandWindow(const std::vector<VmRequest>* history)
    : history_classes_(history != nullptr && !history->empty()
                           ? std::optional<ClassCounts>(CountClasses(*history))
                           : std::nullopt) {}

bool DemandWindow::Add(const VmRequest& req) {
  if (window_.size() < kWindowRequests) {
    window_.push_back(req);
  } else {
    window_[window_next_] = req;
    window_next_ = (window_next_ + 1) % kWindowRequests;
  }
  if (++seen_since_learn_ < kRelearnEvery) return false;
  seen_since_learn_ = 0;
  return true;
}

std::optional<TypicalPods> DemandWindow::Relearn(const TypicalPods& current) const {
  TypicalPods learned = TypicalPods::FromPods(window_, kTypicalCoverage);
  if (TotalVariation(learned, current) > kRelearnDistance) return learned;
  return std::nullopt;
}

ClassCounts DemandWindow::Classes() const {
  return history_classes_ && window_.size() < kWindowRequests ? *history_classes_
                                                              : CountClasses(window_);
}

}  // namespace devshare::placement::devshare_policy
