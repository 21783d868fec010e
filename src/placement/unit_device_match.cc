// Greedy best-fit assignment of NICs and volumes to a host's NICs and disks.
#include "placement/unit_device_match.h"

#include <tuple>

namespace devshare::placement {
namespace {

// What earlier items of the same request already took from one device.
struct Tentative {
  int device = -1;
  int64_t units = 0;
  int64_t rate = 0;
  int distinct = 0;  // VFs taken
};

Tentative& TentativeFor(std::vector<Tentative>& t, int device) {
  for (Tentative& x : t) {
    if (x.device == device) return x;
  }
  t.push_back({device, 0, 0, 0});
  return t.back();
}

const Tentative* FindTentative(const std::vector<Tentative>& t, int device) {
  for (const Tentative& x : t) {
    if (x.device == device) return &x;
  }
  return nullptr;
}

bool InGroup(const Device& d, const UnitItem& item) {
  if (d.kind != item.kind || d.mode == SharingMode::kExclusive) return false;
  return (item.kind == DeviceKind::kNic ? d.network : d.tier) == item.group;
}

struct Free {
  int64_t units = 0;
  int64_t rate = 0;
};

Free FreeAfter(const HostState& h, int device, const std::vector<Tentative>& t) {
  Free f{h.device_free_units(device), h.device_free_rate(device)};
  if (const Tentative* x = FindTentative(t, device)) {
    f.units -= x->units;
    f.rate -= x->rate;
  }
  return f;
}

// The k-th (0-based) free VF index of `device`, or -1.
int NthFreeUnit(const HostState& h, int device, int k) {
  const DeviceUsage& u = h.device_usage(device);
  if (u.whole) return -1;
  for (size_t i = 0; i < u.units_taken.size(); ++i) {
    if (!u.units_taken[i] && k-- == 0) return static_cast<int>(i);
  }
  return -1;
}

std::string Num(int64_t v) { return std::to_string(v); }

}  // namespace

std::vector<UnitItem> NicItems(const VmRequest& req) {
  std::vector<UnitItem> out;
  out.reserve(req.nics.size());
  for (const NicRequest& n : req.nics) {
    out.push_back({DeviceKind::kNic, n.network, n.vf ? 1 : 0, n.vf, n.bandwidth_min_mbps,
                   n.bandwidth_max_mbps, 0, n.network});
  }
  return out;
}

std::vector<UnitItem> VolumeItems(const VmRequest& req) {
  std::vector<UnitItem> out;
  out.reserve(req.volumes.size());
  for (const VolumeRequest& v : req.volumes) {
    out.push_back({DeviceKind::kDisk, v.tier, v.size_gib, false, v.iops_reservation, v.iops_limit,
                   v.iops_weight, v.name});
  }
  return out;
}

UnitAssignment AssignUnitItems(const std::vector<UnitItem>& items, const HostState& h) {
  UnitAssignment a;
  std::vector<Tentative> taken;
  const Host& host = h.host();
  for (size_t i = 0; i < items.size(); ++i) {
    const UnitItem& item = items[i];
    int best = -1;
    std::tuple<int64_t, int64_t, int64_t> best_key;
    for (int d : h.unit_device_indices()) {
      if (!InGroup(host.devices[d], item)) continue;
      const Free f = FreeAfter(h, d, taken);
      if (f.units < item.units || f.rate < item.rate) continue;
      const int64_t units_left = f.units - item.units;
      const int64_t rate_left = f.rate - item.rate;
      std::tuple<int64_t, int64_t, int64_t> key;
      if (item.kind == DeviceKind::kDisk) {
        key = {units_left, rate_left, 0};
      } else if (item.distinct) {
        key = {rate_left, units_left, 0};
      } else {
        key = {f.units > 0 ? 1 : 0, rate_left, 0};
      }
      if (best < 0 || key < best_key) {
        best = d;
        best_key = key;
      }
    }
    if (best < 0) {
      a.failed_item = static_cast<int>(i);
      return a;
    }
    Tentative& t = TentativeFor(taken, best);
    a.device_of.push_back(best);
    a.unit_of.push_back(item.distinct ? NthFreeUnit(h, best, t.distinct) : -1);
    t.units += item.units;
    t.rate += item.rate;
    if (item.distinct) t.distinct++;
  }
  return a;
}

UnitShortfall FindUnitShortfall(const std::vector<UnitItem>& items, const UnitAssignment& a,
                                const HostState& h) {
  UnitShortfall out;
  if (a.ok()) return out;
  const UnitItem& item = items[a.failed_item];
  std::vector<Tentative> taken;
  for (size_t i = 0; i < a.device_of.size(); ++i) {
    Tentative& t = TentativeFor(taken, a.device_of[i]);
    t.units += items[i].units;
    t.rate += items[i].rate;
  }
  const Host& host = h.host();
  const bool nic = item.kind == DeviceKind::kNic;
  // Candidates of the item's group: the one with the most free units, and among those with
  // enough units the one with the most free rate.
  int most_units = -1, most_rate = -1;
  Free most_units_free, most_rate_free;
  for (int d : h.unit_device_indices()) {
    if (!InGroup(host.devices[d], item)) continue;
    ++out.candidates;
    const Free f = FreeAfter(h, d, taken);
    if (most_units < 0 || f.units > most_units_free.units) {
      most_units = d;
      most_units_free = f;
    }
    if (f.units >= item.units && (most_rate < 0 || f.rate > most_rate_free.rate)) {
      most_rate = d;
      most_rate_free = f;
    }
  }
  if (out.candidates == 0 || most_rate < 0) {
    out.resource = nic ? "nic_vf" : "disk_gib";
    out.requested = nic ? 1 : item.units;
    if (most_units >= 0) {
      out.device = host.devices[most_units].id;
      out.free = most_units_free.units;
      out.capacity = host.devices[most_units].inventory.Capacity();
    }
    return out;
  }
  out.resource = nic ? "nic_bandwidth_mbps" : "disk_iops";
  out.device = host.devices[most_rate].id;
  out.requested = item.rate;
  out.free = most_rate_free.rate;
  out.capacity = host.devices[most_rate].rate_capacity;
  return out;
}

std::string ExplainUnitFailure(const std::vector<UnitItem>& items, const UnitAssignment& a,
                               const HostState& h) {
  if (a.ok()) return "";
  const UnitItem& item = items[a.failed_item];
  const UnitShortfall s = FindUnitShortfall(items, a, h);
  const bool nic = item.kind == DeviceKind::kNic;
  const std::string suffix =
      items.size() > 1 ? " (" + std::string(nic ? "nics[" : "volumes[") + Num(a.failed_item) + "])"
                       : "";
  if (s.candidates == 0) {
    return nic ? "nic: no NIC on network '" + item.group + "'" + suffix
               : "volume: tier " + item.group + " requested " + Num(item.units) + " GiB, no " +
                     item.group + " disk" + suffix;
  }
  if (s.resource == "nic_vf") {
    return "nic: requested 1 VF, free " + Num(s.free) + " of " + Num(s.capacity) + " on " +
           s.device + suffix;
  }
  if (s.resource == "disk_gib") {
    std::string m = "volume: tier " + item.group + " requested " + Num(item.units) + " GiB, free " +
                    Num(s.free) + " GiB";
    if (s.candidates > 1) m += " (largest of " + Num(s.candidates) + " " + item.group + " disks)";
    return m + suffix;
  }
  if (nic) {
    return "nic: requested " + Num(item.rate) + " Mbps guaranteed, free " + Num(s.free) + " of " +
           Num(s.capacity) + " on " + s.device + suffix;
  }
  return "volume: tier " + item.group + " requested " + Num(item.rate) + " IOPS reserved, free " +
         Num(s.free) + " of " + Num(s.capacity) + " on " + s.device + suffix;
}

double UnitFreeFraction(const std::vector<UnitItem>& items, const HostState& h, bool after) {
  if (items.empty()) return -1;
  int64_t units_cap = 0, units_free = 0, rate_cap = 0, rate_free = 0;
  std::vector<int> seen;
  const Host& host = h.host();
  for (const UnitItem& item : items) {
    if (after) {
      units_free -= item.units;
      rate_free -= item.rate;
    }
    for (int d : h.unit_device_indices()) {
      if (!InGroup(host.devices[d], item)) continue;
      bool counted = false;
      for (int x : seen) counted = counted || x == d;
      if (counted) continue;
      seen.push_back(d);
      units_cap += host.devices[d].inventory.Capacity();
      rate_cap += host.devices[d].rate_capacity;
      units_free += h.device_free_units(d);
      rate_free += h.device_free_rate(d);
    }
  }
  double sum = 0;
  int dims = 0;
  if (units_cap > 0) {
    sum += static_cast<double>(units_free) / static_cast<double>(units_cap);
    ++dims;
  }
  if (rate_cap > 0) {
    sum += static_cast<double>(rate_free) / static_cast<double>(rate_cap);
    ++dims;
  }
  return dims == 0 ? -1 : sum / dims;
}

std::vector<DeviceSlice> UnitSlices(const std::vector<UnitItem>& items, const UnitAssignment& a,
                                    const HostState& h) {
  std::vector<DeviceSlice> out;
  for (size_t i = 0; i < items.size() && i < a.device_of.size(); ++i) {
    const UnitItem& item = items[i];
    DeviceSlice s;
    s.kind = item.kind;
    s.device = a.device_of[i];
    s.device_id = h.host().devices[s.device].id;
    s.units = item.units;
    s.unit_index = a.unit_of[i];
    s.rate = item.rate;
    s.rate_limit = item.rate_limit;
    s.weight = item.weight;
    s.name = item.name;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace devshare::placement
