// Api client, setup calls and the offline invariant checker of the server integration tests.
#include "tests/integration/server/test_util.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "devshare/core/ipv4.h"
#include "devshare/store/audit_chain.h"
#include "devshare/store/store.h"

namespace devshare::it {

// --- Api -------------------------------------------------------------------------------------

std::string Reply::Describe() const {
  std::ostringstream s;
  s << request << " -> ";
  if (status == 0) {
    s << "no answer (" << error << ")";
  } else {
    s << status << " " << (raw.size() > 600 ? raw.substr(0, 600) + "..." : raw);
  }
  return s.str();
}

Api::Api(const std::string& url, std::string token)
    : client_(std::make_unique<httplib::Client>(url)), token_(std::move(token)) {
  client_->set_keep_alive(true);
  client_->set_connection_timeout(5, 0);
  client_->set_read_timeout(60, 0);
  client_->set_write_timeout(60, 0);
}

Api::~Api() = default;

Reply Api::Send(const std::string& method, const std::string& path, const std::string* body,
                const Headers& extra) {
  httplib::Headers headers;
  if (!authorization_.empty()) {
    headers.emplace("Authorization", authorization_);
  } else if (!token_.empty()) {
    headers.emplace("Authorization", "Bearer " + token_);
  }
  for (const auto& [k, v] : extra) headers.emplace(k, v);
  const char* type = "application/json";
  httplib::Result res{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    res = client_->Get(path, headers);
  } else if (method == "DELETE") {
    res = client_->Delete(path, headers);
  } else if (method == "POST") {
    res = client_->Post(path, headers, *body, type);
  } else if (method == "PUT") {
    res = client_->Put(path, headers, *body, type);
  } else if (method == "PATCH") {
    res = client_->Patch(path, headers, *body, type);
  }
  Reply r;
  r.request = method + " " + path;
  if (!res) {
    r.error = httplib::to_string(res.error());
    r.body = nlohmann::json(nlohmann::json::value_t::discarded);
    return r;
  }
  r.status = res->status;
  r.raw = res->body;
  r.body = nlohmann::json::parse(r.raw, nullptr, /*allow_exceptions=*/false);
  return r;
}

Reply Api::Get(const std::string& path) { return Send("GET", path, nullptr, {}); }
Reply Api::Delete(const std::string& path) { return Send("DELETE", path, nullptr, {}); }
Reply Api::Post(const std::string& path, const std::string& body, const Headers& extra) {
  return Send("POST", path, &body, extra);
}
Reply Api::Put(const std::string& path, const std::string& body, const Headers& extra) {
  return Send("PUT", path, &body, extra);
}
Reply Api::Patch(const std::string& path, const std::string& body) {
  return Send("PATCH", path, &body, {});
}

// --- setup -----------------------------------------------------------------------------------

int PutHost(Api& admin, const std::string& name, const nlohmann::json& inventory) {
  Reply r = admin.Put("/v1/hosts/" + name, inventory);
  EXPECT_TRUE(r.status == 201 || r.status == 200) << r.Describe();
  return r.status;
}

std::string CreateTenant(Api& admin, const std::string& name) {
  Reply r = admin.Post("/v1/tenants", nlohmann::json{{"name", name}});
  EXPECT_EQ(r.status, 201) << r.Describe();
  if (r.status != 201 || !r.is_json()) return "";
  return r.body.value("id", std::string());
}

std::string CreateToken(Api& admin, const std::string& tenant_id, const std::string& role) {
  Reply r = admin.Post("/v1/tenants/" + tenant_id + "/tokens", nlohmann::json{{"role", role}});
  EXPECT_EQ(r.status, 201) << r.Describe();
  if (r.status != 201 || !r.is_json()) return "";
  return r.body.value("token", std::string());
}

int64_t AuditHeadSeq(Api& admin) {
  int64_t after = 0;
  for (;;) {
    Reply r = admin.Get("/v1/audit?after=" + std::to_string(after) + "&limit=10000");
    if (r.status != 200 || !r.is_json()) {
      ADD_FAILURE() << "reading the audit log: " << r.Describe();
      return -1;
    }
    const int64_t next = r.body.value("next_after", int64_t{-1});
    if (r.body["records"].empty() || next <= after) return std::max(after, next);
    after = next;
  }
}

nlohmann::json TightHost(double cpu_ratio, int64_t cpu_reserved_milli,
                         int64_t memory_reserved_mib) {
  return {{"cpu_milli", 16000},
          {"memory_mib", 65536},
          {"cpu_allocation_ratio", cpu_ratio},
          {"cpu_reserved_milli", cpu_reserved_milli},
          {"memory_reserved_mib", memory_reserved_mib},
          {"gpus",
           {{{"id", "g0"}, {"sharing", "fractional"}},
            {{"id", "g1"}, {"sharing", "fractional"}},
            {{"id", "g2"}, {"sharing", "exclusive"}}}}};
}

// --- invariant checker -----------------------------------------------------------------------

std::string StoreCheck::Summary() const {
  std::string s;
  for (size_t i = 0; i < violations.size() && i < 50; ++i) s += "  " + violations[i] + "\n";
  if (violations.size() > 50) s += "  ... " + std::to_string(violations.size() - 50) + " more\n";
  return s;
}

namespace {

int64_t Capacity(int64_t total, int64_t reserved, double ratio) {
  // The same formula as Inventory::Capacity (Placement's): (total - reserved) * ratio.
  return static_cast<int64_t>(static_cast<double>(total - reserved) * ratio);
}

// Canonical view of an allocation for comparisons: cpu, memory, sorted devices.
nlohmann::json CanonicalAllocation(const nlohmann::json& a) {
  nlohmann::json devices = a.value("devices", nlohmann::json::array());
  std::vector<std::string> sorted;
  for (const auto& d : devices) sorted.push_back(d.dump());
  std::sort(sorted.begin(), sorted.end());
  nlohmann::json out = {{"cpu_milli", a.value("cpu_milli", int64_t{-1})},
                        {"memory_mib", a.value("memory_mib", int64_t{-1})},
                        {"devices", nlohmann::json::array()}};
  for (const std::string& d : sorted) out["devices"].push_back(nlohmann::json::parse(d));
  return out;
}

struct HostFacts {
  int64_t cpu_cap = 0, mem_cap = 0;
  std::map<std::string, std::string> gpu_sharing;  // gpu id -> sharing mode
  std::map<std::string, int64_t> gpu_memory_mib;   // gpu id -> framebuffer (0 = unknown)
  struct Unit {
    std::string kind;   // "nic" | "disk"
    int64_t units = 0;  // VFs or GiB
    int64_t rate = 0;   // line rate Mbps or IOPS
    std::string group;  // network or tier
  };
  std::map<std::string, Unit> units;  // NIC / disk id -> capacity
};

}  // namespace

StoreCheck CheckStore(const std::string& db_path) {
  StoreCheck out;
  auto bad = [&](std::string v) { out.violations.push_back(std::move(v)); };
  Result<std::unique_ptr<store::Store>> st = store::OpenStore("sqlite:" + db_path);
  if (!st.ok()) {
    bad("cannot open the store: " + st.status().ToString());
    return out;
  }
  Result<store::StoreSnapshot> snap = (*st)->Load();
  if (!snap.ok()) {
    bad("Load failed: " + snap.status().ToString());
    return out;
  }

  std::set<std::string> tenants;
  for (const auto& t : snap->tenants) tenants.insert(t.id);

  std::map<std::string, HostFacts> hosts;
  for (const auto& h : snap->hosts) {
    out.host_generations[h.name] = h.generation;
    nlohmann::json inv = nlohmann::json::parse(h.inventory_json, nullptr, false);
    if (!inv.is_object()) {
      bad("host " + h.name + ": inventory_json is not a JSON object");
      continue;
    }
    HostFacts f;
    f.cpu_cap =
        Capacity(inv.value("cpu_milli", int64_t{0}), inv.value("cpu_reserved_milli", int64_t{0}),
                 inv.value("cpu_allocation_ratio", 1.0));
    f.mem_cap =
        Capacity(inv.value("memory_mib", int64_t{0}), inv.value("memory_reserved_mib", int64_t{0}),
                 inv.value("memory_allocation_ratio", 1.0));
    for (const auto& g : inv.value("gpus", nlohmann::json::array())) {
      f.gpu_sharing[g.value("id", std::string())] = g.value("sharing", std::string("fractional"));
      f.gpu_memory_mib[g.value("id", std::string())] = g.value("memory_mib", int64_t{0});
    }
    for (const auto& n : inv.value("nics", nlohmann::json::array())) {
      f.units[n.value("id", std::string())] = {"nic", n.value("vfs", int64_t{0}),
                                               n.value("line_rate_mbps", int64_t{0}),
                                               n.value("network", std::string())};
    }
    for (const auto& d : inv.value("disks", nlohmann::json::array())) {
      f.units[d.value("id", std::string())] = {"disk", d.value("capacity_gib", int64_t{0}),
                                               d.value("iops", int64_t{0}),
                                               d.value("tier", std::string())};
    }
    hosts[h.name] = std::move(f);
  }

  struct GpuUse {
    int64_t milli = 0;
    int64_t memory_mib = 0;
    int holders = 0;
    int whole_holders = 0;
  };
  std::map<std::string, int64_t> cpu_used, mem_used;
  std::map<std::pair<std::string, std::string>, GpuUse> gpu_used;  // (host, gpu) -> use
  struct UnitUse {
    int64_t units = 0, rate = 0;
    std::set<int64_t> vfs;
  };
  std::map<std::pair<std::string, std::string>, UnitUse> unit_used;  // (host, device) -> use

  // I6: tenant networks: segment ids distinct; CIDRs of one tenant disjoint; each bound NIC on
  // a network of its VM's tenant, inside its CIDR, no address twice in a network, no MAC twice.
  std::map<std::string, store::NetworkRecord> networks;
  std::map<int64_t, std::string> segments;
  for (const store::NetworkRecord& n : snap->networks) {
    networks[n.id] = n;
    if (!segments.emplace(n.segment_id, n.id).second) {
      bad("network " + n.id + ": segment " + std::to_string(n.segment_id) + " also held by " +
          segments[n.segment_id]);
    }
    for (const store::NetworkRecord& o : snap->networks) {
      Result<Ipv4Cidr> a = ParseCidr(n.cidr), b = ParseCidr(o.cidr);
      if (!a.ok() || !b.ok()) {
        bad("network " + n.id + ": CIDR " + n.cidr + " or " + o.cidr + " does not parse");
      } else if (o.id < n.id && o.tenant_id == n.tenant_id && a->Overlaps(*b)) {
        bad("networks " + o.id + " and " + n.id + " of tenant " + n.tenant_id + " overlap");
      }
    }
  }
  std::map<std::pair<std::string, std::string>, std::string> addresses;  // (net, ip) -> vm
  std::map<std::string, std::string> macs;                               // mac -> vm
  // The physical network a NIC of `tenant` asking for `network` is placed on.
  auto physical = [&](const std::string& tenant, const std::string& network) {
    for (const auto& [id, n] : networks) {
      if (n.tenant_id == tenant && (n.id == network || n.name == network)) {
        return n.physical_network;
      }
    }
    return network;
  };

  for (const auto& v : snap->vms) {
    const std::string who = "vm " + v.id + " (" + v.name + ")";
    StoredVm sv{v.id, v.tenant_id, v.name, v.host, nlohmann::json()};
    sv.allocation = nlohmann::json::parse(v.allocation_json, nullptr, false);
    const nlohmann::json spec = nlohmann::json::parse(v.spec_json, nullptr, false);
    if (tenants.count(v.tenant_id) == 0)
      bad(who + ": orphan, tenant " + v.tenant_id + " is absent");
    auto hit = hosts.find(v.host);
    if (hit == hosts.end()) {
      bad(who + ": orphan, host " + v.host + " is absent");
      out.vms[v.id] = std::move(sv);
      continue;
    }
    if (!sv.allocation.is_object() || !spec.is_object()) {
      bad(who + ": allocation_json or spec_json is not a JSON object");
      out.vms[v.id] = std::move(sv);
      continue;
    }
    const nlohmann::json& a = sv.allocation;
    const int64_t cpu = a.value("cpu_milli", int64_t{-1});
    const int64_t mem = a.value("memory_mib", int64_t{-1});
    if (cpu != spec.value("cpu_milli", int64_t{-2}) ||
        mem != spec.value("memory_mib", int64_t{-2})) {
      bad(who + ": allocation " + a.dump() + " does not match spec " + spec.dump());
    }
    cpu_used[v.host] += cpu;
    mem_used[v.host] += mem;
    const nlohmann::json gspec = spec.value("gpu", nlohmann::json::object());
    const int64_t want_count = gspec.value("count", int64_t{0});
    // A partition or vGPU profile is a share whose milli follows from the GPU.
    const bool fixed_profile = gspec.contains("profile") || gspec.contains("vgpu");
    const int64_t want_milli = fixed_profile ? -1 : gspec.value("milli", int64_t{1000});
    const int64_t want_memory = gspec.value("memory_mib", int64_t{0});
    nlohmann::json devices = nlohmann::json::array();
    nlohmann::json nic_slices = nlohmann::json::array(), disk_slices = nlohmann::json::array();
    for (const auto& d : a.value("devices", nlohmann::json::array())) {
      const std::string kind = d.value("kind", std::string("gpu"));
      (kind == "nic" ? nic_slices : kind == "disk" ? disk_slices : devices).push_back(d);
    }
    // I4: NICs and disks: one slice per requested NIC / volume, on an existing device of the
    // requested network / tier; VFs distinct.
    const nlohmann::json nspec = spec.value("nics", nlohmann::json::array());
    const nlohmann::json vspec = spec.value("volumes", nlohmann::json::array());
    if (nic_slices.size() != nspec.size() || disk_slices.size() != vspec.size()) {
      bad(who + ": " + std::to_string(nic_slices.size()) + " NIC and " +
          std::to_string(disk_slices.size()) + " disk slices for a request of " +
          std::to_string(nspec.size()) + " NICs and " + std::to_string(vspec.size()) + " volumes");
    }
    // The use of the device a slice names, when it exists on the VM's host with the group
    // (network / tier) the request asked for; null after reporting the violation.
    auto use_of = [&](const nlohmann::json& d, const std::string& kind,
                      const std::string& group) -> UnitUse* {
      const std::string id = d.value("id", std::string());
      auto u = hit->second.units.find(id);
      if (u == hit->second.units.end() || u->second.kind != kind) {
        bad(who + ": " + kind + " " + id + " does not exist on host " + v.host);
        return nullptr;
      }
      if (u->second.group != group) bad(who + ": " + kind + " " + id + " is not of " + group);
      return &unit_used[{v.host, id}];
    };
    for (size_t i = 0; i < nic_slices.size() && i < nspec.size(); ++i) {
      const auto& d = nic_slices[i];
      const std::string asked = nspec[i].value("network", std::string());
      if (d.contains("network_id")) {
        const std::string net_id = d.value("network_id", std::string());
        auto n = networks.find(net_id);
        Result<Ipv4Interface> a = ParseIpv4Interface(d.value("address", std::string()));
        const std::string ip = a.ok() ? FormatIpv4(a->address) : d.value("address", std::string());
        if (n == networks.end() || n->second.tenant_id != v.tenant_id) {
          bad(who + ": a NIC is on network " + net_id + ", not one of its tenant's");
        } else if (!a.ok() || !ParseCidr(n->second.cidr)->Contains(a->address)) {
          bad(who + ": NIC address " + ip + " is outside " + n->second.cidr);
        } else if (d.value("segment", int64_t{-1}) != n->second.segment_id) {
          bad(who + ": NIC segment " + d["segment"].dump() + " is not the network's");
        }
        if (!addresses.emplace(std::make_pair(net_id, ip), v.id).second) {
          bad("network " + net_id + ": address " + ip + " given to " + addresses[{net_id, ip}] +
              " and " + v.id);
        }
        const std::string mac = d.value("mac", std::string());
        if (mac.empty() || !macs.emplace(mac, v.id).second) {
          bad("MAC '" + mac + "' given to " + macs[mac] + " and " + v.id);
        }
      }
      UnitUse* use = use_of(d, "nic", physical(v.tenant_id, asked));
      if (use == nullptr) continue;
      const bool vf = nspec[i].value("vf", false);
      if (vf != d.contains("vf")) bad(who + ": a NIC's VF use differs from the request");
      if (vf && !use->vfs.insert(d["vf"].get<int64_t>()).second) {
        bad("NIC " + v.host + "/" + d.value("id", std::string()) + ": VF " + d["vf"].dump() +
            " given twice");
      }
      use->units += vf ? 1 : 0;
      use->rate += d["bandwidth_mbps"].value("min", int64_t{0});
    }
    for (size_t i = 0; i < disk_slices.size() && i < vspec.size(); ++i) {
      const auto& d = disk_slices[i];
      UnitUse* use = use_of(d, "disk", vspec[i].value("tier", std::string()));
      if (use == nullptr) continue;
      if (d.value("size_gib", int64_t{-1}) != vspec[i].value("size_gib", int64_t{-2})) {
        bad(who + ": volume " + d.dump() + " does not match the request " + vspec[i].dump());
      }
      use->units += d.value("size_gib", int64_t{0});
      use->rate += d["iops"].value("reservation", int64_t{0});
    }
    if (static_cast<int64_t>(devices.size()) != want_count) {
      bad(who + ": " + std::to_string(devices.size()) + " GPU slices for a request of " +
          std::to_string(want_count) + " GPUs");
    }
    std::set<std::string> seen;
    for (const auto& d : devices) {
      const std::string id = d.value("id", std::string());
      const int64_t milli = d.value("milli", int64_t{0});
      const bool whole = d.value("whole", false);
      if (!seen.insert(id).second) bad(who + ": holds GPU " + id + " twice");
      auto g = hit->second.gpu_sharing.find(id);
      if (g == hit->second.gpu_sharing.end()) {
        bad(who + ": GPU " + id + " does not exist on host " + v.host);
        continue;
      }
      if (milli < 1 || milli > 1000)
        bad(who + ": GPU " + id + " slice of " + std::to_string(milli));
      const int64_t memory = d.value("memory_mib", int64_t{0});
      if (whole != (want_milli >= 1000)) {
        bad(who + ": GPU " + id + " whole=" + (whole ? "true" : "false") + " for a request of " +
            std::to_string(want_milli) + " milli");
      }
      if (whole && milli != 1000)
        bad(who + ": whole GPU " + id + " with milli " + std::to_string(milli));
      if (!whole && !fixed_profile && milli != want_milli) {
        bad(who + ": GPU share of " + std::to_string(milli) + " for a request of " +
            std::to_string(want_milli));
      }
      if (!whole && !gspec.contains("profile") && memory != want_memory) {
        bad(who + ": GPU share of " + std::to_string(memory) + " MiB GPU memory for a request of " +
            std::to_string(want_memory));
      }
      if (!whole && g->second == "exclusive") {
        bad(who + ": a share of " + std::to_string(milli) + " milli on exclusive GPU " + v.host +
            "/" + id);
      }
      GpuUse& u = gpu_used[{v.host, id}];
      u.milli += milli;
      u.memory_mib += memory;
      u.holders += 1;
      u.whole_holders += whole ? 1 : 0;
    }
    out.vms[v.id] = std::move(sv);
  }
  for (const auto& [name, f] : hosts) {
    if (cpu_used[name] > f.cpu_cap) {
      bad("host " + name + ": cpu_milli used " + std::to_string(cpu_used[name]) + " > capacity " +
          std::to_string(f.cpu_cap));
    }
    if (mem_used[name] > f.mem_cap) {
      bad("host " + name + ": memory_mib used " + std::to_string(mem_used[name]) + " > capacity " +
          std::to_string(f.mem_cap));
    }
  }
  for (const auto& [key, u] : gpu_used) {
    const std::string g = key.first + "/" + key.second;
    if (u.milli > 1000)
      bad("GPU " + g + ": " + std::to_string(u.milli) + " milli allocated > 1000");
    // GPU memory: the slices' sum within the GPU's framebuffer (when known).
    const int64_t cap = hosts[key.first].gpu_memory_mib[key.second];
    if (cap > 0 && u.memory_mib > cap) {
      bad("GPU " + g + ": " + std::to_string(u.memory_mib) + " MiB GPU memory allocated > " +
          std::to_string(cap));
    }
    if (u.whole_holders > 0 && u.holders != 1) {
      bad("GPU " + g + ": held whole by " + std::to_string(u.whole_holders) + " VM(s) and " +
          std::to_string(u.holders) + " holder(s) in all");
    }
  }

  for (const auto& [key, use] : unit_used) {
    const HostFacts::Unit& cap = hosts[key.first].units[key.second];
    const std::string d = key.first + "/" + key.second;
    if (use.units > cap.units) {
      bad(cap.kind + " " + d + ": " + std::to_string(use.units) +
          (cap.kind == "nic" ? " VFs" : " GiB") + " allocated > " + std::to_string(cap.units));
    }
    if (use.rate > cap.rate) {
      bad(cap.kind + " " + d + ": " + std::to_string(use.rate) +
          (cap.kind == "nic" ? " Mbps" : " IOPS") + " guaranteed > " + std::to_string(cap.rate));
    }
  }

  // I5: the audit chain, then the replay.
  Result<std::vector<store::AuditRecord>> records = (*st)->ReadAudit(0, 0);
  Result<store::AuditHead> head = (*st)->ReadAuditHead();
  if (!records.ok() || !head.ok()) {
    bad("cannot read the audit log: " +
        (!records.ok() ? records.status().ToString() : head.status().ToString()));
    return out;
  }
  out.audit_records = static_cast<int64_t>(records->size());
  Status chain = store::VerifyAuditChain(*records, *head);
  if (!chain.ok()) bad("audit chain: " + chain.ToString());
  std::map<std::string, std::pair<std::string, nlohmann::json>> replay;  // id -> (host, alloc)
  for (const store::AuditRecord& r : *records) {
    out.audit_counts[r.operation + " " + r.outcome]++;
    if (r.outcome != "ok") continue;
    const nlohmann::json detail = nlohmann::json::parse(r.detail_json, nullptr, false);
    // Fleet records: a heartbeat frees VMs whose two-phase delete finished; a drain with
    // replace moves VMs to other hosts with new allocations.
    if (r.operation == "vm.report" && detail.is_object()) {
      for (const auto& id : detail.value("freed", nlohmann::json::array())) {
        if (replay.erase(id.get<std::string>()) == 0) {
          bad("audit record " + std::to_string(r.seq) + " frees " + id.dump() +
              ", which the replay does not hold");
        }
      }
      continue;
    }
    if (r.operation == "host.drain" && detail.is_object()) {
      for (const auto& m : detail.value("moves", nlohmann::json::array())) {
        auto it = replay.find(m.value("vm", std::string()));
        if (it == replay.end()) {
          bad("audit record " + std::to_string(r.seq) + " moves " + m.dump() +
              ", which the replay does not hold");
          continue;
        }
        it->second = {m.value("to", std::string()), m.value("allocation", nlohmann::json())};
      }
      continue;
    }
    // Volume changes replace the allocation as a resize does.
    const bool replaces = r.operation == "vm.resize" || r.operation == "volume.attach" ||
                          r.operation == "volume.detach" || r.operation == "volume.migrate";
    if (r.operation != "vm.create" && r.operation != "vm.delete" && !replaces) continue;
    const std::string rec = "audit record " + std::to_string(r.seq) + " (" + r.operation + ")";
    if (r.object.rfind("vm/", 0) != 0) {
      bad(rec + ": object '" + r.object + "' is not vm/<id>");
      continue;
    }
    const std::string id = r.object.substr(3);
    if (r.operation == "vm.create") {
      if (replay.count(id) != 0) bad(rec + ": creates " + id + " twice");
      if (!detail.is_object() || !detail.contains("allocation")) {
        bad(rec + ": no allocation in detail");
        continue;
      }
      replay[id] = {detail.value("host", std::string()), detail["allocation"]};
    } else if (r.operation == "vm.delete") {
      if (detail.is_object() && detail.value("phase", std::string()) == "deleting") continue;
      if (replay.erase(id) == 0) bad(rec + ": deletes " + id + ", which the replay does not hold");
    } else {
      auto it = replay.find(id);
      if (it == replay.end() || !detail.is_object() || !detail.contains("allocation")) {
        bad(rec + ": changes " + id + ", which the replay does not hold (or no allocation)");
        continue;
      }
      it->second.second = detail["allocation"];
    }
  }
  for (const auto& [id, vm] : out.vms) {
    auto it = replay.find(id);
    if (it == replay.end()) {
      bad("vm " + id + " is in the VM table but the audit replay does not create it");
      continue;
    }
    if (it->second.first != vm.host) {
      bad("vm " + id + ": host " + vm.host + " in the table, " + it->second.first +
          " in the audit replay");
    }
    if (CanonicalAllocation(it->second.second) != CanonicalAllocation(vm.allocation)) {
      bad("vm " + id + ": allocation " + vm.allocation.dump() + " in the table, " +
          it->second.second.dump() + " in the audit replay");
    }
  }
  for (const auto& [id, vm] : replay) {
    if (out.vms.count(id) == 0) bad("the audit replay holds vm " + id + ", the VM table does not");
  }
  return out;
}

}  // namespace devshare::it
