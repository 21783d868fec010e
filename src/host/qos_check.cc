// EvaluateQos: CFS proportional share by water-filling (weights = cpu shares; each domain's
// demand bounded by its vCPUs, its pinned CPUs and its bandwidth cap; reference/qos.md §2.3-2.4).
#include "devshare/host/qos_check.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "devshare/host/discovery.h"

namespace devshare::host {
namespace {

bool Overlap(const std::vector<int>& a, const std::vector<int>& b) {
  for (int x : a) {
    if (std::find(b.begin(), b.end(), x) != b.end()) return true;
  }
  return false;
}

double CapPct(const DomainCpuInfo& i) {
  if (i.tune.quota_us <= 0 || i.tune.period_us <= 0) return -1;
  return 100.0 * i.vcpus * static_cast<double>(i.tune.quota_us) /
         static_cast<double>(i.tune.period_us);
}

}  // namespace

std::vector<QosRow> EvaluateQos(const std::vector<QosSample>& start,
                                const std::vector<QosSample>& end, Duration window) {
  std::vector<QosRow> rows;
  if (window.count() <= 0) return rows;
  std::map<std::string, const QosSample*> first;
  for (const QosSample& s : start) first[s.name] = &s;
  for (const QosSample& e : end) {
    auto it = first.find(e.name);
    if (it == first.end()) continue;
    QosRow r;
    r.name = e.name;
    r.info = e.info;
    const double used = static_cast<double>((e.cpu_time - it->second->cpu_time).count());
    r.achieved_pct = std::max(0.0, 100.0 * used / static_cast<double>(window.count()));
    r.cap_pct = CapPct(e.info);
    r.idle = r.achieved_pct < kIdlePct;
    rows.push_back(std::move(r));
  }
  // Competition groups: connected components of "pinned CPU sets overlap".
  std::vector<int> group(rows.size(), -1);
  int groups = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (group[i] >= 0) continue;
    std::vector<size_t> stack = {i};
    group[i] = groups;
    while (!stack.empty()) {
      size_t a = stack.back();
      stack.pop_back();
      for (size_t b = 0; b < rows.size(); ++b) {
        if (group[b] < 0 && Overlap(rows[a].info.pinned, rows[b].info.pinned)) {
          group[b] = groups;
          stack.push_back(b);
        }
      }
    }
    ++groups;
  }
  for (int g = 0; g < groups; ++g) {
    std::set<int> cpus;
    std::vector<size_t> busy;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (group[i] != g) continue;
      rows[i].group = g;
      cpus.insert(rows[i].info.pinned.begin(), rows[i].info.pinned.end());
      if (!rows[i].idle) busy.push_back(i);
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (group[i] == g) rows[i].group_cpus = static_cast<int>(cpus.size());
    }
    // Water-filling of the group's capacity among its busy domains.
    double remaining = 100.0 * static_cast<double>(cpus.size());
    std::vector<size_t> open = busy;
    auto limit = [&](size_t i) {
      const QosRow& r = rows[i];
      double l = 100.0 * std::min<double>(std::max(1, r.info.vcpus),
                                          std::max<size_t>(1, r.info.pinned.size()));
      if (r.cap_pct > 0) l = std::min(l, r.cap_pct);
      return l;
    };
    while (!open.empty() && remaining > 0) {
      double weights = 0;
      for (size_t i : open)
        weights += static_cast<double>(std::max<int64_t>(1, rows[i].info.tune.shares));
      std::vector<size_t> saturated;
      for (size_t i : open) {
        const double fair = remaining *
                            static_cast<double>(std::max<int64_t>(1, rows[i].info.tune.shares)) /
                            weights;
        if (fair >= limit(i)) saturated.push_back(i);
      }
      if (saturated.empty()) {
        for (size_t i : open) {
          rows[i].promised_pct =
              remaining * static_cast<double>(std::max<int64_t>(1, rows[i].info.tune.shares)) /
              weights;
        }
        break;
      }
      for (size_t i : saturated) {
        rows[i].promised_pct = limit(i);
        remaining -= limit(i);
        open.erase(std::find(open.begin(), open.end(), i));
      }
    }
  }
  for (int g = 0; g < groups; ++g) {
    double achieved = 0, promised = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (group[i] != g || rows[i].idle) continue;
      achieved += rows[i].achieved_pct;
      promised += rows[i].promised_pct;
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (group[i] != g || rows[i].idle) continue;
      rows[i].achieved_group_share = achieved > 0 ? rows[i].achieved_pct / achieved : 0;
      rows[i].promised_group_share = promised > 0 ? rows[i].promised_pct / promised : 0;
    }
  }
  std::sort(rows.begin(), rows.end(), [](const QosRow& a, const QosRow& b) {
    return a.group != b.group ? a.group < b.group : a.name < b.name;
  });
  return rows;
}

Result<std::vector<QosRow>> MeasureQos(Hypervisor& hv, const Clock& clock,
                                       const std::function<void(Duration)>& sleep, Duration window,
                                       std::string_view prefix) {
  auto sample = [&]() -> Result<std::vector<QosSample>> {
    DS_ASSIGN_OR_RETURN(std::vector<DomainStatus> domains, hv.ListDomains());
    std::vector<QosSample> out;
    for (const DomainStatus& d : domains) {
      if (d.name.compare(0, prefix.size(), prefix) != 0) continue;
      if (d.state != DomainState::kRunning) continue;
      Result<std::chrono::nanoseconds> t = hv.CpuTime(d.name);
      Result<DomainCpuInfo> info = hv.CpuInfo(d.name);
      if (!t.ok() || !info.ok()) continue;  // stopped in between
      out.push_back({d.name, *info, *t});
    }
    return out;
  };
  DS_ASSIGN_OR_RETURN(std::vector<QosSample> a, sample());
  const TimePoint t0 = clock.Now();
  sleep(window);
  DS_ASSIGN_OR_RETURN(std::vector<QosSample> b, sample());
  const TimePoint t1 = clock.Now();
  return EvaluateQos(a, b, t1 - t0);
}

std::string FormatQosTable(const std::vector<QosRow>& rows) {
  std::vector<std::vector<std::string>> cells = {
      {"DOMAIN", "GROUP", "CPUS", "VCPUS", "SHARES", "CAP%", "PROMISED%", "ACHIEVED%",
       "ACHIEVED/PROMISED", "GROUP_SHARE_PROMISED", "GROUP_SHARE_ACHIEVED"}};
  char buf[64];
  for (const QosRow& r : rows) {
    std::vector<std::string> c;
    c.push_back(r.name);
    c.push_back(std::to_string(r.group));
    c.push_back(FormatCpuList(r.info.pinned));
    c.push_back(std::to_string(r.info.vcpus));
    c.push_back(std::to_string(r.info.tune.shares));
    if (r.cap_pct > 0) {
      std::snprintf(buf, sizeof buf, "%.1f", r.cap_pct);
      c.push_back(buf);
    } else {
      c.push_back("-");
    }
    if (r.idle) {
      c.push_back("(idle)");
    } else {
      std::snprintf(buf, sizeof buf, "%.1f", r.promised_pct);
      c.push_back(buf);
    }
    std::snprintf(buf, sizeof buf, "%.1f", r.achieved_pct);
    c.push_back(buf);
    if (!r.idle && r.promised_pct > 0) {
      std::snprintf(buf, sizeof buf, "%.3f", r.achieved_pct / r.promised_pct);
      c.push_back(buf);
    } else {
      c.push_back("-");
    }
    if (!r.idle) {
      std::snprintf(buf, sizeof buf, "%.3f", r.promised_group_share);
      c.push_back(buf);
      std::snprintf(buf, sizeof buf, "%.3f", r.achieved_group_share);
      c.push_back(buf);
    } else {
      c.push_back("-");
      c.push_back("-");
    }
    cells.push_back(std::move(c));
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : cells) {
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string pad(width[i] - row[i].size(), ' ');
      out += i == 0 ? row[i] + pad : "  " + pad + row[i];
    }
    out += "\n";
  }
  return out;
}

}  // namespace devshare::host
